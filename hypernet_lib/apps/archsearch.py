"""Architecture search with one hypernetwork (SMASH, Brock, Lim, Ritchie & Weston, ICLR 2018).

The search space: MLPs ``d_in → w_1 → … → w_D → n_out`` with ReLU, depth ``1 <= D <= L`` and
each width ``w_l`` taken from a list of choices. Every such MLP is a sub-network of one
*supernet* with ``L`` hidden layers of the largest width ``W``: an architecture switches off the
units beyond ``w_l`` (a unit mask) and skips the layers beyond ``D`` (an identity gate), so its
weights are slices of the supernet's tensors.

SMASH trains one hypernetwork ``h_φ(a)`` that maps an *encoding* of the architecture ``a`` to
the supernet's weights, on randomly drawn architectures; afterwards the validation accuracy of
``h_φ(a)`` ranks architectures that were never trained, in milliseconds each. The ranking is
only useful if it agrees with the ranking of the same architectures trained from scratch:
:func:`spearman` measures that agreement.

Everything runs a whole batch of architectures at once (``[A, …]`` tensors and batched matmuls),
both the hypernetwork's training and the from-scratch baseline.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import (
    require_dims,
    require_float,
    require_instance,
    require_labels,
    require_number,
    require_positive_int,
    require_tensor,
)
from ..target import TargetSpec, describe
from ..train import optimizer_step, progress_bar


class ArchSpace:
    """MLP architectures of depth ``1..max_depth`` with hidden widths from ``widths``.

    Args:
        d_in, n_out: input size and number of classes (64 and 10 for the digits).
        widths: allowed hidden widths, e.g. ``(2, 4, 8, 16, 32)``; the supernet uses the largest.
        max_depth: ``L``, the most hidden layers.

    An architecture is a tuple of hidden widths, e.g. ``(16, 4)``: two hidden layers.
    """

    def __init__(self, d_in: int, n_out: int, widths: Sequence[int], max_depth: int):
        self.d_in = require_positive_int("d_in", d_in)
        self.n_out = require_positive_int("n_out", n_out)
        self.widths = tuple(sorted({require_positive_int("widths", w) for w in widths}))
        if not self.widths:
            raise ValueError("widths: expected at least one allowed hidden width, got none")
        self.max_depth = require_positive_int("max_depth", max_depth)
        self.max_width = self.widths[-1]

    def all(self) -> list[tuple[int, ...]]:
        """Every architecture in the space, shallow first: ``Σ_D |widths|^D`` of them."""
        return [a for d in range(1, self.max_depth + 1) for a in itertools.product(self.widths, repeat=d)]

    def check(self, arch: Sequence[int]) -> tuple[int, ...]:
        """``arch`` as a tuple, or a ValueError naming what this space allows (depths, widths)."""
        if isinstance(arch, (str, bytes)) or not isinstance(arch, Sequence):
            raise ValueError(
                f"arch: expected a tuple of hidden widths such as {(self.widths[-1],) * min(2, self.max_depth)}, "
                f"got {arch!r}"
            )
        arch = tuple(arch)
        if not 1 <= len(arch) <= self.max_depth or any(
            isinstance(w, bool) or not isinstance(w, int) or w not in self.widths for w in arch
        ):
            raise ValueError(
                f"arch: expected 1 to {self.max_depth} hidden widths, each one of {list(self.widths)}, got {arch!r}"
            )
        return arch

    @property
    def encoding_dim(self) -> int:
        """Size of :meth:`encode`'s vectors: two numbers per layer slot."""
        return 2 * self.max_depth

    def encode(self, archs: Sequence[Sequence[int]]) -> torch.Tensor:
        """``[A, 2L]``: per layer slot, (is the layer present, log2(width) / log2(W_max)); zeros when absent.

        The log scale makes 2 → 4 as far apart as 16 → 32, matching how accuracy reacts to width.
        """
        rows = []
        top = math.log2(self.max_width) if self.max_width > 1 else 1.0
        for arch in archs:
            arch = self.check(arch)
            row = []
            for slot in range(self.max_depth):
                row += [1.0, math.log2(arch[slot]) / top] if slot < len(arch) else [0.0, 0.0]
            rows.append(row)
        if not rows:
            raise ValueError("archs: expected at least one architecture, got none")
        return torch.tensor(rows, dtype=torch.float32)

    def masks(self, archs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """``unit_mask: [A, L, W]`` (1 for the units an architecture keeps) and ``layer_gate: [A, L]`` (1 if present)."""
        unit = torch.zeros(len(archs), self.max_depth, self.max_width)
        gate = torch.zeros(len(archs), self.max_depth)
        for i, arch in enumerate(archs):
            for slot, w in enumerate(self.check(arch)):
                unit[i, slot, :w] = 1.0
                gate[i, slot] = 1.0
        return unit, gate

    def supernet(self) -> nn.Sequential:
        """The largest network: its parameter names and shapes are what the hypernetwork generates."""
        dims = [self.d_in] + [self.max_width] * self.max_depth
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(self.max_width, self.n_out))

    def spec(self) -> TargetSpec:
        return describe(self.supernet())

    def num_params(self, arch: Sequence[int]) -> int:
        """Parameters the architecture would have as a stand-alone MLP."""
        dims = [self.d_in, *self.check(arch), self.n_out]
        return sum(a * b + b for a, b in zip(dims[:-1], dims[1:]))


def _check_data(x: torch.Tensor, y: torch.Tensor) -> None:
    require_float("x", x)
    require_dims("x", x, (2,), "[N, d_in]")
    require_labels("y", y, x.shape[0])


def _check_batch_size(batch_size: int | None, allow_none: bool) -> int | None:
    if batch_size is None and allow_none:
        return None
    return require_positive_int("batch_size", batch_size)


def supernet_forward(
    params: dict[str, torch.Tensor], unit_mask: torch.Tensor, layer_gate: torch.Tensor, x: torch.Tensor
) -> torch.Tensor:
    """Run ``A`` architectures of the supernet at once.

    Args:
        params: ``{name: [A, *shape]}`` supernet weights (``ArchSpace.supernet()``'s names), one set per architecture.
        unit_mask: ``[A, L, W]``, layer_gate: ``[A, L]`` from :meth:`ArchSpace.masks`.
        x: ``[N, d_in]`` (the same inputs for every architecture) or ``[A, N, d_in]``.
    Returns logits ``[A, N, n_out]``.

    Layer ``l`` computes ``a = relu(W_l h + b_l) ⊙ m_l`` and passes on ``g_l a + (1 − g_l) h``:
    an absent layer (``g_l = 0``) is the identity, so depth is a mask too. The first layer is always present.
    """
    require_float("unit_mask", unit_mask)
    require_float("layer_gate", layer_gate)
    require_dims("unit_mask", unit_mask, (3,), "[A, L, W]")
    n_arch, n_layers, _ = unit_mask.shape
    if layer_gate.shape != (n_arch, n_layers):
        raise ValueError(f"layer_gate: expected shape [{n_arch}, {n_layers}], got {list(layer_gate.shape)}")
    require_float("x", x)
    require_dims("x", x, (2, 3), "[N, d_in] or [A, N, d_in]")
    names = [f"{2 * i}.weight" for i in range(n_layers + 1)]
    missing = [n for n in names + [n.replace("weight", "bias") for n in names] if n not in params]
    if missing:
        raise ValueError(f"params: expected the supernet's tensors {names} and biases, missing {missing}")
    if params[names[0]].dim() != 3 or params[names[0]].shape[0] != n_arch:
        raise ValueError(
            f"params: expected batched tensors [A={n_arch}, out, in], got {list(params[names[0]].shape)} for {names[0]}"
        )
    h = x if x.dim() == 3 else x.expand(n_arch, *x.shape)
    for i in range(n_layers):
        w, b = params[f"{2 * i}.weight"], params[f"{2 * i}.bias"]
        a = torch.relu(torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))) * unit_mask[:, i, None, :]
        g = layer_gate[:, i, None, None]
        # The first layer changes the width (d_in → W), so it cannot be skipped.
        h = a if i == 0 else g * a + (1 - g) * h
    w, b = params[names[-1]], params[names[-1].replace("weight", "bias")]
    return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))


def init_from_scratch(
    space: ArchSpace, archs: Sequence[Sequence[int]], generator: torch.Generator | None = None
) -> dict[str, torch.Tensor]:
    """He-initialized stand-alone weights for each architecture: ``{name: [A, *shape]}`` (leaf tensors).

    The fan-in is the architecture's own width (not the supernet's ``W``), as a stand-alone MLP would have.
    """
    require_instance("space", space, ArchSpace, "an ArchSpace")
    if not archs:
        raise ValueError("archs: expected at least one architecture, got none")
    archs = [space.check(a) for a in archs]
    spec = space.spec()
    out = {}
    fan_ins = torch.tensor([[space.d_in, *[a[min(s, len(a) - 1)] for s in range(space.max_depth)]] for a in archs])
    for info in spec.params:
        layer = int(info.name.split(".")[0]) // 2
        if info.is_bias:
            out[info.name] = torch.zeros(len(archs), *info.shape)
        else:
            std = (2.0 / fan_ins[:, layer].float()).sqrt().view(-1, 1, 1)
            out[info.name] = torch.randn(len(archs), *info.shape, generator=generator) * std
    return out


def fit_from_scratch(
    space: ArchSpace,
    archs: Sequence[Sequence[int]],
    x: torch.Tensor,
    y: torch.Tensor,
    n_steps: int = 300,
    lr: float = 1e-2,
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
    progress: bool | None = None,
) -> dict[str, torch.Tensor]:
    """Train every architecture in ``archs`` on its own (batched, independent weights and Adam states).

    Args:
        x: ``[N, d_in]`` training inputs, y: ``[N]`` labels. ``batch_size=None`` is full-batch.
        progress: show a progress bar over the steps.
    Returns the trained weights ``{name: [A, *shape]}``.

    Adam is elementwise, and each architecture's loss depends only on its own slice, so training
    them stacked is exactly training them one by one (the summed loss gives each its own gradient).
    """
    _check_data(x, y)
    n_steps = require_positive_int("n_steps", n_steps)
    lr = require_number("lr", lr, positive=True)
    batch_size = _check_batch_size(batch_size, allow_none=True)
    device = x.device
    params = {k: v.to(device).requires_grad_() for k, v in init_from_scratch(space, archs, generator).items()}
    unit, gate = (m.to(device) for m in space.masks(archs))
    opt = torch.optim.Adam(params.values(), lr=lr)
    for _ in progress_bar(range(n_steps), "from scratch", progress=progress):
        if batch_size is None:
            xb, yb = x, y
        else:
            idx = torch.randint(len(x), (batch_size,), generator=generator).to(device)
            xb, yb = x[idx], y[idx]
        logits = supernet_forward(params, unit, gate, xb)
        loss = F.cross_entropy(logits.flatten(0, 1), yb.repeat(len(archs)), reduction="sum") / len(xb)
        optimizer_step(opt, loss)
    return {k: v.detach() for k, v in params.items()}


@torch.no_grad()
def arch_accuracy(
    params: dict[str, torch.Tensor], space: ArchSpace, archs: Sequence[Sequence[int]], x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """``[A]`` accuracy of each architecture (with its weights in ``params``) on ``x: [N, d_in]``, ``y: [N]``."""
    _check_data(x, y)
    if not archs:
        raise ValueError("archs: expected at least one architecture, got none")
    unit, gate = (m.to(x.device) for m in space.masks(archs))
    return (supernet_forward(params, unit, gate, x).argmax(-1) == y).float().mean(-1)


def fit_smash(
    hnet: nn.Module,
    space: ArchSpace,
    archs: Sequence[Sequence[int]],
    x: torch.Tensor,
    y: torch.Tensor,
    n_steps: int = 1000,
    archs_per_step: int = 8,
    batch_size: int = 128,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    progress: bool | None = None,
    callback: Callable[[int], None] | None = None,
) -> list[float]:
    """SMASH training: each step draws ``archs_per_step`` architectures from ``archs`` and a minibatch,
    generates their weights ``h_φ(encode(a))`` and takes one Adam step on ``φ``. Returns the losses.

    Args:
        hnet: ``z: [A, 2L] → {name: [A, *shape]}`` for ``space.spec()``.
        archs: the architectures the hypernetwork may see (keep the ones you will rank out of it).
        progress: show a progress bar over the steps.
        callback: called as ``callback(step)`` after step ``1..n_steps`` (e.g. to score the
            hypernetwork part-way, as lecture 08's capacity-and-steps study does); it draws no random numbers.
    """
    _check_data(x, y)
    if not archs:
        raise ValueError("archs: expected at least one training architecture, got none")
    archs_per_step = require_positive_int("archs_per_step", archs_per_step)
    batch_size = _check_batch_size(batch_size, allow_none=False)
    lr = require_number("lr", lr, positive=True)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback: expected a callable callback(step) or None, got {type(callback).__name__}")
    device = x.device
    codes = space.encode(archs).to(device)
    unit_all, gate_all = (m.to(device) for m in space.masks(archs))
    opt = torch.optim.Adam(hnet.parameters(), lr=lr)
    losses = []
    n_steps = require_positive_int("n_steps", n_steps)
    for _ in progress_bar(range(n_steps), "SMASH", progress=progress):
        pick = torch.randint(len(archs), (archs_per_step,), generator=generator).to(device)
        idx = torch.randint(len(x), (batch_size,), generator=generator).to(device)
        params = hnet(codes[pick])
        logits = supernet_forward(params, unit_all[pick], gate_all[pick], x[idx])
        loss = F.cross_entropy(logits.flatten(0, 1), y[idx].repeat(archs_per_step))
        losses.append(optimizer_step(opt, loss))
        if callback is not None:
            callback(len(losses))
    return [float(v) for v in torch.stack(losses)]


@torch.no_grad()
def smash_accuracy(
    hnet: nn.Module, space: ArchSpace, archs: Sequence[Sequence[int]], x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """``[A]`` validation accuracy of each architecture with the weights the hypernetwork generates for it."""
    require_instance("hnet", hnet, nn.Module, "the hypernetwork (an nn.Module)")
    require_instance("space", space, ArchSpace, "an ArchSpace")
    require_tensor("x", x)
    return arch_accuracy(hnet(space.encode(archs).to(x.device)), space, archs, x, y)
