"""From a support set to target weights in one forward pass: a set encoder feeding a hypernetwork.

A task is given by a handful of examples ``(x_k, y_k)``. A *set encoder* (Deep Sets, Zaheer et
al. 2017) embeds each pair with a shared MLP ``φ``, averages over the set, and maps the average
with ``ρ`` to the task embedding ``z``:

    z = ρ( mean_k φ([x_k, y_k]) )

The mean makes ``z`` independent of the order of the examples and defined for any set size K.
:class:`SetHyperNetwork` then runs a hypernetwork ``z → {name: [B, *shape]}``: "learning" a new
task is this single forward pass, with no gradient step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._checks import require_float, require_positive_int
from ..target import Params
from .base import HyperNetBase, mlp, widths_of


class SetEncoder(nn.Module):
    """Deep Sets encoder ``[B, K, d_in] → [B, d_z]``: ``ρ(mean_k φ(s_k))``.

    Args:
        in_dim: size of one set element (for regression pairs ``(x, y)``: ``d_x + d_y``).
        z_dim: size of the set embedding.
        hidden: widths of ``φ``'s ReLU layers; ``ρ`` has one hidden ReLU layer of the last width.

    Call: ``elements: [B, K, d_in]`` → ``z: [B, d_z]``. ``pairs(x, y)`` builds the elements
    ``[B, K, d_x + d_y]`` from ``x: [B, K, d_x]`` and ``y: [B, K, d_y]``.
    """

    def __init__(self, in_dim: int, z_dim: int, hidden: Sequence[int] = (64, 64)):
        super().__init__()
        self.in_dim = require_positive_int("in_dim", in_dim)
        self.z_dim = require_positive_int("z_dim", z_dim)
        widths = [self.in_dim, *widths_of("hidden", hidden)]
        if len(widths) < 2:
            raise ValueError("hidden: expected at least one width for φ, got none")
        self.phi = mlp(widths, final_activation=True)
        self.rho = mlp([widths[-1], widths[-1], self.z_dim])

    def forward(self, elements: torch.Tensor) -> torch.Tensor:
        require_float("elements", elements)
        if elements.dim() != 3 or elements.shape[-1] != self.in_dim:
            raise ValueError(
                f"elements: expected shape [B, K, {self.in_dim}] (tasks, set size, element size), "
                f"got {list(elements.shape)}"
            )
        if elements.shape[1] == 0:
            raise ValueError("elements: expected at least one element per set (K >= 1), got K = 0")
        return self.rho(self.phi(elements).mean(dim=1))

    @staticmethod
    def pairs(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x: [B, K, d_x]``, ``y: [B, K, d_y]`` → ``[B, K, d_x + d_y]``."""
        require_float("x", x)
        require_float("y", y)
        if x.dim() != 3 or y.dim() != 3 or x.shape[:2] != y.shape[:2]:
            raise ValueError(
                f"x, y: expected shapes [B, K, d_x] and [B, K, d_y] with the same B, K, "
                f"got {list(x.shape)} and {list(y.shape)}"
            )
        return torch.cat([x, y], dim=-1)


class SetHyperNetwork(nn.Module):
    """Support set in, target parameters out: ``(x_s, y_s) → z → {name: [B, *shape]}``.

    Args:
        encoder: a :class:`SetEncoder` over ``(x, y)`` pairs.
        hypernet: any hypernetwork family (:mod:`hypernet_lib.hypernets`) whose ``z_dim`` equals the encoder's.

    Call: ``x_support: [B, K, d_x]``, ``y_support: [B, K, d_y]`` → ``{name: [B, *shape]}``, ready for
    :func:`hypernet_lib.functional_forward` (or as per-task starting points for MAML's inner loop).
    """

    def __init__(self, encoder: SetEncoder, hypernet: HyperNetBase):
        super().__init__()
        if not isinstance(encoder, SetEncoder):
            raise TypeError(f"encoder: expected a SetEncoder, got {type(encoder).__name__}")
        if not isinstance(hypernet, HyperNetBase):
            raise TypeError(
                f"hypernet: expected a hypernetwork family (HyperNetwork, ChunkedHyperNet, ...), got {type(hypernet).__name__}"
            )
        if encoder.z_dim != hypernet.z_dim:
            raise ValueError(f"hypernet: expected z_dim {encoder.z_dim} (the encoder's), got {hypernet.z_dim}")
        self.encoder = encoder
        self.hypernet = hypernet

    def embed(self, x_support: torch.Tensor, y_support: torch.Tensor) -> torch.Tensor:
        """The task embedding ``z: [B, d_z]``."""
        return self.encoder(SetEncoder.pairs(x_support, y_support))

    def forward(self, x_support: torch.Tensor, y_support: torch.Tensor) -> Params:
        return self.hypernet(self.embed(x_support, y_support))


class ClassHeadGenerator(nn.Module):
    """Per-class embeddings → one row of a linear output layer per class (weight row and bias).

    For N-way classification the output layer ``[N, d_h]`` has one row per class. Generating row
    ``j`` from class ``j``'s embedding alone (a shared MLP applied to every class) makes the
    classifier follow the support set's labels: swap two classes' examples and their rows swap.

    Args:
        z_dim: size of a class embedding (e.g. from :class:`hypernet_lib.apps.fewshot.ClassEncoder`).
        in_features: ``d_h``, the input size of the generated layer.
        weight_name, bias_name: the target's parameter names to fill (``describe(target)`` names).
        hidden: widths of the generator's ReLU layers.

    Call: ``class_embeddings: [B, N, z_dim]`` → ``{weight_name: [B, N, d_h], bias_name: [B, N]}``.
    """

    def __init__(
        self,
        z_dim: int,
        in_features: int,
        weight_name: str,
        bias_name: str,
        hidden: Sequence[int] = (64,),
    ):
        super().__init__()
        self.z_dim = require_positive_int("z_dim", z_dim)
        self.in_features = require_positive_int("in_features", in_features)
        if not (isinstance(weight_name, str) and isinstance(bias_name, str)) or weight_name == bias_name:
            raise ValueError(
                f"weight_name, bias_name: expected two different names, got {weight_name!r}, {bias_name!r}"
            )
        self.weight_name, self.bias_name = weight_name, bias_name
        widths = [self.z_dim, *widths_of("hidden", hidden), self.in_features + 1]
        self.net = mlp(widths)

    def forward(self, class_embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
        require_float("class_embeddings", class_embeddings)
        if class_embeddings.dim() != 3 or class_embeddings.shape[-1] != self.z_dim:
            raise ValueError(
                f"class_embeddings: expected shape [B, N, {self.z_dim}], got {list(class_embeddings.shape)}"
            )
        rows = self.net(class_embeddings)  # [B, N, d_h + 1]
        return {self.weight_name: rows[..., :-1], self.bias_name: rows[..., -1]}
