"""Chunked hypernetworks: one small generator called once per chunk of the target's numbers.

The full hypernetwork's head has a row for every one of the target's ``P`` numbers. Chunking
(Ha, Dai & Le 2017; von Oswald et al. 2020) cuts the ``P`` numbers into ``K`` chunks of
``S`` numbers, gives chunk ``k`` a learned embedding ``c_k ∈ R^{d_c}``, and generates every chunk
with the *same* generator

    chunk_k(z) = g([z, c_k]) ⊙ s_k        g: R^{d_z + d_c} → R^S   (an MLP)

The chunks are concatenated and the padding that rounds ``P`` up to ``K·S`` is dropped. Cost:
``K·d_c`` embedding numbers plus one generator whose head has only ``S`` rows, so the
hypernetwork can be smaller than its target (the *compressive regime*).

Two layouts:
    ``"global"``: the target's numbers flattened in order, cut into ``ceil(P / S)`` chunks; a chunk
        may straddle two tensors; padding only at the very end.
    ``"layer"`` (shape-aware): each tensor chunked on its own (``ceil(numel / S)`` chunks, padded
        separately), so no chunk mixes layers; with ``S`` a multiple of a row (or a conv filter),
        each chunk is whole rows (output filters). (Ha et al.'s Eq. 2 cuts a kernel along its
        *input* channels instead; lecture 04 builds both.)

``s_k`` is a fixed (not trained) per-position scale set by the initialization; see
:func:`chunked_hyperfan_init_` (the course's own scheme) for why chunking needs it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from .._checks import require_positive_int
from ..target import Params, TargetSpec
from .base import (
    HyperNetBase,
    InitName,
    check_embedding,
    check_size,
    check_spec,
    check_z_sample,
    default_z_sample,
    mlp,
    widths_of,
)

Layout = Literal["global", "layer"]


def num_chunks(spec: TargetSpec, chunk_size: int, layout: Layout = "global") -> int:
    """``K``: ``ceil(P / S)`` for the global layout, ``Σ ceil(numel / S)`` over tensors for the per-layer one."""
    check_spec(spec)
    chunk_size = require_positive_int("chunk_size", chunk_size)
    if layout == "global":
        return math.ceil(spec.num_params / chunk_size)
    if layout == "layer":
        return sum(math.ceil(p.numel / chunk_size) for p in spec.params)
    raise ValueError(f"layout: expected 'global' or 'layer', got {layout!r}")


def chunked_parameter_count(
    spec: TargetSpec,
    z_dim: int,
    chunk_size: int,
    chunk_dim: int = 8,
    hidden: Sequence[int] = (64,),
    layout: Layout = "global",
) -> int:
    """Exact number of trainable numbers of ``ChunkedHyperNet`` with these arguments.

    ``K · d_c`` (chunk embeddings) ``+ Σ (w_in + 1) · w_out`` over the generator's widths
    ``d_z + d_c → hidden… → S``. With one hidden layer of width ``h`` this is
    ``K d_c + (d_z + d_c + 1) h + (h + 1) S`` and, as ``K ≈ P / S``, it is smallest near
    ``S* = sqrt(P d_c / (h + 1))``.
    """
    k = num_chunks(spec, chunk_size, layout)
    chunk_dim = require_positive_int("chunk_dim", chunk_dim)
    widths = [require_positive_int("z_dim", z_dim) + chunk_dim, *widths_of("hidden", hidden)]
    widths.append(chunk_size)
    return k * chunk_dim + sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))


class ChunkedHyperNet(HyperNetBase):
    """Chunk embeddings ``c: [K, d_c]`` and one shared generator ``[z, c_k] → R^S``.

    Args:
        z_dim: for a static hypernetwork (one set of weights) pass a constant ``z``.
        chunk_size: ``S``, numbers per generator call.
        chunk_dim: ``d_c``, size of each learned chunk embedding.
        hidden: widths of the generator's ReLU layers; ``()`` makes it linear in ``[z, c_k]``.
        layout: ``"global"`` or ``"layer"`` (shape-aware), see the module docstring.
        init, gain, z_sample: as for every family (:class:`~hypernet_lib.hypernets.HyperNetBase`);
            ``init="default"`` also leaves the scale ``s`` at 1.

    Also ``spec``, ``z_dim`` and the call ``hnet(z)`` as for every family.
    """

    def __init__(
        self,
        spec: TargetSpec,
        z_dim: int,
        *,
        chunk_size: int,
        chunk_dim: int = 8,
        layout: Layout = "global",
        hidden: Sequence[int] = (64,),
        init: InitName = "hyperfan_in",
        gain: float = 2**0.5,
        z_sample: torch.Tensor | None = None,
    ):
        super().__init__(spec, z_dim, init, gain)
        self.n_chunks = num_chunks(spec, chunk_size, layout)  # validates chunk_size and layout
        self.layout, self.chunk_size = layout, chunk_size
        self.chunk_dim = require_positive_int("chunk_dim", chunk_dim)
        check_size(
            "ChunkedHyperNet",
            chunked_parameter_count(spec, z_dim, chunk_size, chunk_dim, widths_of("hidden", hidden), layout)
            + 2 * self.n_chunks * chunk_size,
            f"{self.n_chunks:,} chunks of S = {chunk_size:,} numbers (embeddings K × d_c, scale buffer K × S)",
            "a larger chunk_size (fewer chunks) or a smaller chunk_dim",
        )
        self.generator = mlp((self.z_dim + self.chunk_dim, *widths_of("hidden", hidden), chunk_size))
        self.chunk_embeddings = nn.Parameter(torch.randn(self.n_chunks, self.chunk_dim))
        # position[i]: where the target's i-th number (spec order) sits in the flattened [K·S] chunks.
        positions, start = [], 0
        for p in spec.params:
            positions.append(torch.arange(start, start + p.numel))
            # per-layer: the next tensor starts on a fresh chunk, the rest of this one is padding
            start += p.numel if layout == "global" else math.ceil(p.numel / chunk_size) * chunk_size
        self.register_buffer("position", torch.cat(positions), persistent=False)
        # s: the fixed output scale, [K, S], zero on padding; set by the init.
        self.register_buffer("scale", torch.zeros(self.n_chunks, chunk_size))
        self.scale.view(-1)[self.position] = 1.0
        if init != "default":
            chunked_hyperfan_init_(self, mode=self.mode, gain=self.gain, z_sample=z_sample)

    def chunk_map(self) -> dict[str, torch.Tensor]:
        """Which chunk made each number: ``{name: LongTensor[*shape]}`` (for drawing chunk boundaries)."""
        ids = torch.div(self.position, self.chunk_size, rounding_mode="floor").cpu()
        return self.spec.split(ids)

    def chunk(self, z: torch.Tensor, k: int) -> torch.Tensor:
        """One generator call: ``z: [B, d_z] → chunk_k: [B, S]`` (``g([z, c_k]) ⊙ s_k``, padding included)."""
        check_embedding(z, self.z_dim, self.chunk_embeddings)
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < self.n_chunks:
            raise ValueError(f"k: expected a chunk index in [0, {self.n_chunks}), got {k!r}")
        c = self.chunk_embeddings[k].expand(*z.shape[:-1], self.chunk_dim)
        return self.generator(torch.cat([z, c], dim=-1)) * self.scale[k]

    def chunks(self, z: torch.Tensor) -> torch.Tensor:
        """Every chunk at once: ``z: [B, d_z] → [B, K, S]`` (``[d_z] → [K, S]``), padding included."""
        check_embedding(z, self.z_dim, self.chunk_embeddings)
        return self._chunks(z)

    def _chunks(self, z: torch.Tensor) -> torch.Tensor:
        first: nn.Linear = self.generator[0]
        # first([z, c_k]) = W_z z + W_c c_k + b: compute the two halves apart and broadcast, so the
        # [B, K, d_z + d_c] concatenation is never built.
        w_z, w_c = first.weight[:, : self.z_dim], first.weight[:, self.z_dim :]
        per_task = (z @ w_z.T).unsqueeze(-2)  # [B, 1, w]
        per_chunk = nn.functional.linear(self.chunk_embeddings, w_c, first.bias)  # [K, w]
        out = self.generator[1:](per_task + per_chunk)
        return out * self.scale

    def generate(self, z: torch.Tensor) -> Params:
        # z was checked by forward; checking it again here would also break torch.func.vmap over generate
        chunks = self._chunks(z)
        flat = chunks.flatten(-2)[..., self.position]  # concatenate, drop the padding
        return self.spec.split(flat)


@torch.no_grad()
def chunked_hyperfan_init_(
    hnet: ChunkedHyperNet,
    mode: str = "in",
    gain: float = 2**0.5,
    z_sample: torch.Tensor | None = None,
) -> float:
    """Hyperfan for a chunked hypernetwork; initializes ``hnet`` in place, returns the measured ``E[h²]``.

    This is the course's own scheme (lecture 04): a chunk-aware, data-dependent variant of hyperfan-in.
    It keeps hyperfan's aim (every generated number at its own tensor's ``gain² / fan`` scale) but,
    instead of Chang, Flokas & Lipson's (2020) closed-form variances, it measures the generator's
    outputs on a sample and rescales them, which makes it closer to LSUV (Mishkin & Matas 2016: rescale
    each layer to unit output variance on a batch) than to Chang et al.

    Derivation. Let ``h = h(z, c_k) ∈ R^{d_h}`` be the generator's last hidden features and
    ``H`` its head. Position ``j`` of chunk ``k`` is ``H_j·h(z, c_k)``, so with zero-mean head rows

        Var(chunk_kj) = d_h · Var(H_j) · E[h²]

    The full case (:mod:`hypernet_lib.init`) sets row ``i``'s variance from the fan of the one
    target number that row makes. Here row ``j`` makes position ``j`` of *every* chunk, and those
    belong to different tensors with different fans (in the global layout even one chunk spans
    two tensors): no choice of ``Var(H_j)`` fits them all. So the head is set for unit-variance
    outputs, ``Var(H_j) = 1 / (d_h E[h²])``, and a fixed per-position scale puts each number at its
    own tensor's scale:

        s = gain / sqrt(fan)        (fan_in for "in", fan_out for "out")  →  Var = gain² / fan

    One refinement. For a *fixed* head row the second moment is ``H_jᵀ M H_j`` with ``M = E[h hᵀ]``,
    and ``M`` has a large mean part ``μ μᵀ`` (ReLU features are non-negative), so a row's output
    scale depends on how its random draw happens to align with ``μ``. The full head has a row per
    target number and these alignments average out; a chunk generator has only ``S`` rows, and
    they do not (about ``sqrt(2 / S)`` spread). So each normal row is rescaled to ``H_jᵀ M H_j = 1``
    on the measured sample, which makes every position unit-scale, not only the average.

    A second refinement, per chunk. Chunk ``k``'s second moment is ``E_z[|H h(z, c_k)|²] / S``,
    which depends on its own random embedding ``c_k``: unit on average over chunks, but a tensor
    made of one or two chunks (a small layer, or large chunks) would land 20-50% off. So each
    chunk's scale is divided by the measured root-mean-square of its (non-padding) outputs, ``s_k ← s / rms_k``: every
    chunk starts exactly at its tensor's scale (on the sample), however few chunks a tensor has.

    Biases cannot start at zero as in the full case (the head rows are shared, and ``s = 0`` would
    freeze them); they get ``s = 1 / sqrt(fan_in)``, PyTorch's own bias scale for a ``Linear``.
    ``E[h²]`` and ``M`` are measured over ``z_sample`` (default ``N(0, I)``) paired with random chunk
    embeddings, the per-chunk moments over (up to) 64 of its rows; the generator's hidden layers
    are He-initialized and chunk embeddings are ``N(0, I)``. The scales are fixed at init; as the
    embeddings and the generator train, the generated weights move away from them like any others.
    """
    if not isinstance(hnet, ChunkedHyperNet):
        raise TypeError(f"hnet: expected a ChunkedHyperNet, got {type(hnet).__name__}")
    if mode not in ("in", "out"):
        raise ValueError(f"mode: expected 'in' or 'out', got {mode!r}")
    gen = torch.Generator().manual_seed(0)
    z_sample = default_z_sample(hnet.z_dim, gen) if z_sample is None else check_z_sample(z_sample, hnet.z_dim)
    linears = [m for m in hnet.generator if isinstance(m, nn.Linear)]
    for layer in linears[:-1]:
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        nn.init.zeros_(layer.bias)
    head = linears[-1]
    # 8192 random (z, chunk) pairs: all n × K pairs would be too many for big targets, and a
    # small z_sample (a static hypernetwork's one z) must still meet many chunks.
    z_sample = z_sample.to(head.weight)
    i = torch.randint(0, z_sample.shape[0], (8192,), generator=gen).to(z_sample.device)
    k = torch.randint(0, hnet.n_chunks, (8192,), generator=gen).to(z_sample.device)
    x = torch.cat([z_sample[i], hnet.chunk_embeddings[k]], dim=-1)
    h = hnet.generator[:-1](x)
    second = float(h.pow(2).mean())
    if second <= 0:
        raise ValueError("chunked_hyperfan_init_: the generator's features are all zero for z_sample; cannot scale")
    # Normal rows, each rescaled so that its output has exactly unit second moment over the sample.
    moment = h.T @ h / h.shape[0]  # M = E[h hᵀ], [d_h, d_h]
    head.weight.normal_(0.0, 1.0)
    head.weight.div_((head.weight @ moment * head.weight).sum(-1, keepdim=True).sqrt())
    nn.init.zeros_(head.bias)
    scales = []
    for p in hnet.spec.params:
        if p.is_bias:
            s = 1.0 / math.sqrt(p.fan_in)
        else:
            s = gain / math.sqrt(p.fan_in if mode == "in" else p.fan_out)
        scales.append(torch.full((p.numel,), s))
    hnet.scale.zero_()
    hnet.scale.view(-1)[hnet.position] = torch.cat(scales).to(hnet.scale)
    # Per-chunk correction: each chunk's raw output rescaled to unit rms over (up to) 64 z's,
    # a block of chunks at a time so that [n, chunks, S] stays small for large targets.
    zs = z_sample[torch.randperm(z_sample.shape[0], generator=gen)[:64].to(z_sample.device)]
    block = max(1, 2**22 // (zs.shape[0] * max(hnet.chunk_size, head.in_features)))
    for start in range(0, hnet.n_chunks, block):
        emb = hnet.chunk_embeddings[start : start + block]
        x = torch.cat([zs[:, None].expand(-1, len(emb), -1), emb[None].expand(len(zs), -1, -1)], dim=-1)
        real = (hnet.scale[start : start + block] != 0).to(x)  # [chunks, S]: 0 on padding
        square = (hnet.generator(x).pow(2) * real).sum(dim=(0, 2)) / (len(zs) * real.sum(-1))
        hnet.scale[start : start + block] /= square.sqrt().clamp_min(1e-12)[:, None]  # rms over real numbers
    return second
