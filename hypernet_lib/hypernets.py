"""Hypernetworks: ``z: [B, d_z] → {name: Tensor[B, *shape]}`` for a described target.

Every family in the course shares this call. ``HyperNetwork`` is the plain ("full")
one: an MLP trunk turns the embedding ``z`` into features ``e``, and one linear head
maps ``e`` to every number of the target at once, split into the target's shapes.
The head is where the parameters go: ``d_e × P`` for a target with ``P`` numbers,
which is why later lectures chunk it or factorize it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from ._checks import require_dims, require_float, require_positive_int
from .init import hyperfan_init_
from .target import TargetSpec

InitName = Literal["hyperfan_in", "hyperfan_out", "default"]


class HyperNetwork(nn.Module):
    """Full hypernetwork: MLP trunk ``d_z → hidden… (ReLU)`` then one linear head ``→ P``.

    Args:
        spec: what to generate (from :func:`hypernet_lib.describe`).
        z_dim: size of the embedding ``z``.
        hidden: widths of the trunk's ReLU layers; ``()`` makes the head read ``z`` directly.
        init: ``"hyperfan_in"`` (default), ``"hyperfan_out"`` or ``"default"`` (PyTorch's own);
            see :mod:`hypernet_lib.init`.
        gain: the target's nonlinearity gain (``2 ** 0.5`` for ReLU targets).

    Call: ``z: [B, d_z] → {name: [B, *shape]}``; ``z: [d_z] → {name: [*shape]}``.
    """

    def __init__(
        self,
        spec: TargetSpec,
        z_dim: int,
        hidden: Sequence[int] = (64, 64),
        init: InitName = "hyperfan_in",
        gain: float = 2**0.5,
    ):
        super().__init__()
        if not isinstance(spec, TargetSpec):
            raise TypeError(f"spec: expected a TargetSpec (from describe(module)), got {type(spec).__name__}")
        self.spec = spec
        self.z_dim = require_positive_int("z_dim", z_dim)
        widths = [self.z_dim, *(require_positive_int("hidden", h) for h in hidden)]
        layers: list[nn.Module] = []
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(w_in, w_out), nn.ReLU()]
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1], spec.num_params)
        if init not in ("hyperfan_in", "hyperfan_out", "default"):
            raise ValueError(f"init: expected 'hyperfan_in', 'hyperfan_out' or 'default', got {init!r}")
        if init != "default":
            hyperfan_init_(self, mode="in" if init == "hyperfan_in" else "out", gain=gain)

    @property
    def feature_dim(self) -> int:
        return self.head.in_features

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """The trunk's output ``e``: ``[B, d_z] → [B, d_e]``."""
        return self.trunk(z)

    def forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        check_embedding(z, self.z_dim)
        return self.spec.split(self.head(self.features(z)))


def check_embedding(z: torch.Tensor, z_dim: int) -> None:
    """Reject anything but a float ``[d_z]`` or ``[B, d_z]`` tensor."""
    require_float("z", z)
    require_dims("z", z, (1, 2), "[d_z] or [B, d_z]")
    if z.shape[-1] != z_dim:
        raise ValueError(f"z: expected last dimension d_z={z_dim}, got shape {list(z.shape)}")


def count_parameters(module: nn.Module) -> int:
    """Number of trainable numbers in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
