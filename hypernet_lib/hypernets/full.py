"""The full hypernetwork (lecture 01): ``z: [B, d_z] → {name: Tensor[B, *shape]}`` for a described target.

An MLP trunk turns the embedding ``z`` into features ``e``, and one linear head maps ``e`` to every
number of the target at once, split into the target's shapes. The head is where the parameters go:
``d_e × P`` for a target with ``P`` numbers, which is why lectures 04 and 05 chunk it or factorize it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..target import Params, TargetSpec
from .base import InitName, TrunkHyperNet, check_size, widths_of
from .init import hyperfan_init_


class HyperNetwork(TrunkHyperNet):
    """Full hypernetwork: MLP trunk ``d_z → hidden… (ReLU)`` then one linear head ``→ P``.

    Args:
        hidden: widths of the trunk's ReLU layers; ``()`` makes the head read ``z`` directly.
        init: ``"hyperfan_in"`` (default), ``"hyperfan_out"`` or ``"default"`` (PyTorch's own);
            see :mod:`hypernet_lib.hypernets.init`.
        gain: the target's nonlinearity gain (``2 ** 0.5`` for ReLU targets).
        z_sample: ``[n, d_z]`` embeddings like those the hypernetwork will see (for the init;
            default ``N(0, I)``).

    Also ``spec``, ``z_dim`` and the call ``hnet(z)`` as for every family.
    """

    def __init__(
        self,
        spec: TargetSpec,
        z_dim: int,
        *,
        hidden: Sequence[int] = (64, 64),
        init: InitName = "hyperfan_in",
        gain: float = 2**0.5,
        z_sample: torch.Tensor | None = None,
    ):
        super().__init__(spec, z_dim, init, gain)
        d_e = (self.z_dim, *widths_of("hidden", hidden))[-1]
        check_size(
            "HyperNetwork",
            (d_e + 1) * spec.num_params,
            f"the head has (d_e + 1) × P = ({d_e} + 1) × {spec.num_params:,} numbers (d_e = hidden[-1])",
            "a smaller hidden[-1], or ChunkedHyperNet / LowRankHyperNet, whose heads do not grow with d_e × P",
        )
        self._make_trunk(hidden)
        self.head = nn.Linear(d_e, spec.num_params)
        if init != "default":
            hyperfan_init_(self, mode=self.mode, gain=self.gain, z_sample=z_sample)

    def generate(self, z: torch.Tensor) -> Params:
        return self.spec.split(self.head(self.features(z)))
