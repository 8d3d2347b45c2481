"""The hypernetwork families (lectures 01, 03, 04, 05, 06), all with one call shape.

``Family(spec, z_dim, *, knobs, hidden=(...), init=..., gain=..., z_sample=None)``, called as
``hnet(z)``: ``[B, d_z] → {name: [B, *shape]}`` and ``[d_z] → {name: [*shape]}``.

================  =======  ===============================================================
family            lecture  what it generates
================  =======  ===============================================================
HyperNetwork      01       every number from one linear head on an MLP trunk
ChunkedHyperNet   04       chunks of ``S`` numbers from one shared generator + chunk embeddings
LowRankHyperNet   05       factors ``U, V`` per matrix, ``W = (W₀ +) U Vᵀ``
FlowHyperNetwork  06       an invertible map of noise with an exact density (``z_dim = P``)
WeightNormFlow…   06       the same flow over one weight-norm scale per unit (Krueger et al.)
================  =======  ===============================================================

:class:`SetHyperNetwork` (lecture 03) puts a set encoder in front of any family.
"""

from .base import HyperNetBase, InitName, check_embedding, count_parameters, mlp
from .chunked import ChunkedHyperNet, chunked_hyperfan_init_, chunked_parameter_count, num_chunks
from .flow import AffineCoupling, FlowHyperNetwork, WeightNormFlowHyperNetwork
from .full import HyperNetwork
from .init import hyperfan_init_
from .lowrank import LowRankHyperNet, lowrank_hyperfan_init_, lowrank_parameter_count
from .sets import ClassHeadGenerator, SetEncoder, SetHyperNetwork

FAMILIES = (HyperNetwork, ChunkedHyperNet, LowRankHyperNet, FlowHyperNetwork, WeightNormFlowHyperNetwork)

__all__ = [
    "FAMILIES",
    "AffineCoupling",
    "ChunkedHyperNet",
    "ClassHeadGenerator",
    "FlowHyperNetwork",
    "HyperNetBase",
    "HyperNetwork",
    "InitName",
    "LowRankHyperNet",
    "SetEncoder",
    "SetHyperNetwork",
    "WeightNormFlowHyperNetwork",
    "check_embedding",
    "chunked_hyperfan_init_",
    "chunked_parameter_count",
    "count_parameters",
    "hyperfan_init_",
    "lowrank_hyperfan_init_",
    "lowrank_parameter_count",
    "mlp",
    "num_chunks",
]
