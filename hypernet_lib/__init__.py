"""hypernet_lib: the small library behind *Hypernetworks, hands-on*.

A hypernetwork generates the weights of another network, the *target*::

    z ──► h_φ ──► θ = {name: tensor} ──► f(x; θ)
   task    the       generated weights      the target, an ordinary nn.Module
 embedding hypernetwork                     run with θ instead of its own weights

Describe a target ``nn.Module`` (:func:`describe`), generate its parameters with a hypernetwork
family (``z: [B, d_z] → {name: [B, *shape]}``), and run it on a batch of tasks
(:func:`functional_forward`). The package is built in floors; nothing imports a floor above it:

- core (this package's modules): ``target`` (describe, batched run), ``train`` (one training loop),
  ``measure`` (time, memory, intervals, ranks), ``env`` (seeds, device), ``checkpoints`` (shipped
  models), ``viz`` (weight and slider panels), ``_checks`` (input checks);
- :mod:`hypernet_lib.hypernets`: the families, one call shape on one base class;
- :mod:`hypernet_lib.data`: tasks and data sets made by code;
- :mod:`hypernet_lib.apps`: one module per lecture topic; apps never import each other.
"""

from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .data import Digits, SinusoidTasks, load_digits, sample_sinusoids, sinusoid
from .env import default_device, environment_report, seed_everything
from .hypernets import (
    ChunkedHyperNet,
    FlowHyperNetwork,
    HyperNetBase,
    HyperNetwork,
    LowRankHyperNet,
    SetHyperNetwork,
    count_parameters,
    hyperfan_init_,
    mlp,
)
from .measure import mean_ci, median_times, peak_memory_bytes, spearman
from .target import ParamInfo, Params, TargetSpec, describe, functional_forward
from .train import fit

__all__ = [
    "CheckpointError",
    "ChunkedHyperNet",
    "Digits",
    "FlowHyperNetwork",
    "HyperNetBase",
    "HyperNetwork",
    "LowRankHyperNet",
    "ParamInfo",
    "Params",
    "SetHyperNetwork",
    "SinusoidTasks",
    "TargetSpec",
    "count_parameters",
    "default_device",
    "describe",
    "environment_report",
    "fit",
    "functional_forward",
    "hyperfan_init_",
    "load_checkpoint",
    "load_digits",
    "mean_ci",
    "median_times",
    "mlp",
    "peak_memory_bytes",
    "sample_sinusoids",
    "save_checkpoint",
    "seed_everything",
    "sinusoid",
    "spearman",
]
__version__ = "0.2.0"
