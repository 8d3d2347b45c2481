"""hypernet_lib: the small library behind *Hypernetworks, hands-on*.

Describe a target ``nn.Module`` (:func:`describe`), generate its parameters with a
hypernetwork (``z: [B, d_z] → {name: [B, *shape]}``), and run it on a batch of tasks
(:func:`functional_forward`).
"""

from .env import default_device, environment_report, seed_everything
from .hypernets import HyperNetwork, count_parameters
from .init import hyperfan_init_
from .target import ParamInfo, TargetSpec, describe, functional_forward
from .tasks import Digits, SinusoidTasks, load_digits, sample_sinusoids, sinusoid
from .train import fit, mean_ci

__all__ = [
    "Digits",
    "HyperNetwork",
    "ParamInfo",
    "SinusoidTasks",
    "TargetSpec",
    "count_parameters",
    "default_device",
    "describe",
    "environment_report",
    "fit",
    "functional_forward",
    "hyperfan_init_",
    "load_digits",
    "mean_ci",
    "sample_sinusoids",
    "seed_everything",
    "sinusoid",
]
__version__ = "0.1.0"
