"""Low-rank hypernetworks: generate two thin factors per weight matrix instead of the matrix.

A full hypernetwork's head spends ``d_e`` numbers on every one of the target's ``out × in``
weights. Here the head generates, for each weight matrix, factors ``U: [out, r]`` and
``V: [in, r]`` and the weight is their product

    W(z) = U(z) V(z)ᵀ            (rank ≤ r)
    W(z) = W₀ + U(z) V(z)ᵀ       (with a base: LoRA-style, Hu et al. 2021)

so the head costs ``d_e · r · (out + in)`` numbers per matrix instead of ``d_e · out · in``.
A conv kernel ``[out, in, kh, kw]`` is the matrix ``[out, in·kh·kw]`` reshaped (its rank is
that matrix's rank). One-dimensional parameters (biases, norm scales) are small and are
generated directly, as the full hypernetwork does.

With a base from a pretrained module (``base=dict(model.named_parameters())``,
``train_base=False``) and ``describe(model, include=[...])`` the generated part is exactly a
low-rank adapter: ``U`` starts at zero so the adapted model starts as the pretrained one, and
every parameter left out of ``include`` stays the module's own (see
:func:`hypernet_lib.functional_forward`).

Initialization follows :mod:`hypernet_lib.init`, redone for a product (derived in
:func:`lowrank_hyperfan_init_`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .._checks import require_float, require_positive_int
from ..target import ParamInfo, Params, TargetSpec
from .base import (
    InitName,
    TrunkHyperNet,
    check_embedding,
    check_size,
    check_spec,
    check_z_sample,
    default_z_sample,
    widths_of,
)


def is_matrix(p: ParamInfo) -> bool:
    """Parameters with two or more dimensions are factorized; 1-D ones are generated directly."""
    if not isinstance(p, ParamInfo):
        raise TypeError(f"p: expected a ParamInfo (an entry of describe(module).params), got {type(p).__name__}")
    return len(p.shape) >= 2


def matrix_shape(p: ParamInfo) -> tuple[int, int]:
    """The matrix a parameter is factorized as: ``[out, in·kh·kw…]`` (PyTorch's own fan-in layout)."""
    if not is_matrix(p):
        raise ValueError(f"{p.name}: a {len(p.shape)}-D parameter has no matrix form; expected 2 or more dims")
    return p.shape[0], math.prod(p.shape[1:])


def effective_rank(p: ParamInfo, rank: int) -> int:
    """``min(rank, out, in)``: a factor wider than the matrix would add parameters and no expressivity."""
    rows, cols = matrix_shape(p)
    return min(rank, rows, cols)


def head_outputs(spec: TargetSpec, rank: int) -> int:
    """How many numbers the head generates: ``Σ r_eff·(out + in)`` over matrices + ``Σ numel`` over the rest."""
    rank = require_positive_int("rank", rank)
    total = 0
    for p in spec.params:
        if is_matrix(p):
            rows, cols = matrix_shape(p)
            total += effective_rank(p, rank) * (rows + cols)
        else:
            total += p.numel
    return total


def lowrank_parameter_count(
    spec: TargetSpec,
    z_dim: int,
    rank: int,
    hidden: Sequence[int] = (64, 64),
    base: bool = False,
    train_base: bool = True,
) -> int:
    """Exact number of trainable numbers of ``LowRankHyperNet(spec, z_dim, rank, hidden, ...)``.

    ``trunk + (d_e + 1) · F (+ P with a trained base)`` with the trunk ``Σ (w_in + 1) · w_out`` over
    ``z_dim → hidden…``, ``d_e`` its output width and ``F = head_outputs(spec, rank)``. ``base`` and
    ``train_base`` mean what they mean for the constructor (same defaults): a frozen base
    (``train_base=False``) is not trainable and not counted.
    """
    check_spec(spec)
    if not isinstance(base, bool) or not isinstance(train_base, bool):
        raise TypeError(f"base, train_base: expected two bools, got {base!r}, {train_base!r}")
    widths = [require_positive_int("z_dim", z_dim), *widths_of("hidden", hidden)]
    trunk = sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))
    head = (widths[-1] + 1) * head_outputs(spec, rank)
    return trunk + head + (spec.num_params if base and train_base else 0)


def _base_key(name: str) -> str:
    # nn.ParameterDict keys may not contain "."; ":" keeps the target's name readable.
    return name.replace(".", ":")


class LowRankHyperNet(TrunkHyperNet):
    """Low-rank hypernetwork: MLP trunk ``d_z → hidden… (ReLU)``, one linear head → factors.

    Args:
        rank: ``r``; each matrix uses ``min(r, out, in)`` (see :attr:`ranks`).
        hidden: widths of the trunk's ReLU layers; ``()`` makes the head read ``z`` directly.
        base: ``None`` for ``W = U Vᵀ``; ``True`` for a learned ``W₀`` drawn at the target's fan scale;
            a mapping ``{name: Tensor}`` (e.g. ``dict(model.named_parameters())``) to start ``W₀`` from
            those values (an adapter around pretrained weights). Biases get a base too.
        train_base: whether ``W₀`` is trained (``False``: frozen, as in LoRA, and not counted).
        init, gain, z_sample: as for every family (:class:`~hypernet_lib.hypernets.HyperNetBase`).

    Also ``spec``, ``z_dim`` and the call ``hnet(z)`` as for every family.
    """

    def __init__(
        self,
        spec: TargetSpec,
        z_dim: int,
        *,
        rank: int,
        base: bool | Mapping[str, torch.Tensor] | None = None,
        train_base: bool = True,
        hidden: Sequence[int] = (64, 64),
        init: InitName = "hyperfan_in",
        gain: float = 2**0.5,
        z_sample: torch.Tensor | None = None,
    ):
        super().__init__(spec, z_dim, init, gain)
        if not isinstance(train_base, bool):
            raise TypeError(f"train_base: expected a bool, got {type(train_base).__name__}")
        self.rank = require_positive_int("rank", rank)
        self.ranks: dict[str, int] = {p.name: effective_rank(p, rank) for p in spec.params if is_matrix(p)}
        n_out = head_outputs(spec, rank)
        d_e = (self.z_dim, *widths_of("hidden", hidden))[-1]
        check_size(
            "LowRankHyperNet",
            (d_e + 1) * n_out + spec.num_params,
            f"the head has (d_e + 1) × {n_out:,} numbers (rank {rank}, d_e = hidden[-1] = {d_e})",
            "a smaller rank or hidden[-1]",
        )
        self._make_trunk(hidden)
        self.head = nn.Linear(d_e, head_outputs(spec, rank))
        # Where each parameter's numbers sit in the head's output: (start, stop) of U, V or the vector.
        self._slices: dict[str, tuple[tuple[int, int], ...]] = {}
        start = 0
        for p in spec.params:
            if is_matrix(p):
                rows, cols = matrix_shape(p)
                r = self.ranks[p.name]
                u, v = (start, start + rows * r), (start + rows * r, start + (rows + cols) * r)
                self._slices[p.name] = (u, v)
                start = v[1]
            else:
                self._slices[p.name] = ((start, start + p.numel),)
                start += p.numel
        self.base = self._make_base(base, train_base, init, self.gain)
        if init != "default":
            lowrank_hyperfan_init_(self, mode=self.mode, gain=self.gain, z_sample=z_sample)

    def _make_base(self, base, train_base: bool, init: str, gain: float) -> nn.ParameterDict | None:
        if base is None or base is False:
            return None
        values: dict[str, torch.Tensor] = {}
        if base is True:
            fan_of = (lambda p: p.fan_out) if init == "hyperfan_out" else (lambda p: p.fan_in)
            for p in self.spec.params:
                # A learned base starts where a well-initialized target would: He-scaled weights, zero biases.
                std = gain / math.sqrt(fan_of(p)) if is_matrix(p) else 0.0
                values[p.name] = torch.randn(p.shape) * std
        elif isinstance(base, Mapping):
            for p in self.spec.params:
                if p.name not in base:
                    raise ValueError(f"base: expected a tensor for every generated parameter, missing {p.name!r}")
                t = require_float(f"base[{p.name!r}]", base[p.name])
                if tuple(t.shape) != p.shape:
                    raise ValueError(f"base[{p.name!r}]: expected shape {list(p.shape)}, got {list(t.shape)}")
                values[p.name] = t.detach().clone()
        else:
            raise TypeError(
                f"base: expected None, True, or a dict {{name: Tensor}} of starting values, got {type(base).__name__}"
            )
        return nn.ParameterDict({_base_key(n): nn.Parameter(v, requires_grad=train_base) for n, v in values.items()})

    def base_of(self, name: str) -> torch.Tensor | None:
        """``W₀`` of parameter ``name`` (``[*shape]``), or ``None`` without a base."""
        if name not in self.spec.shapes:
            raise KeyError(f"{name!r} is not a generated parameter; the target has {list(self.spec.names)}")
        return None if self.base is None else self.base[_base_key(name)]

    def factors(self, z: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The generated factors of every matrix: ``z: [B, d_z] → {name: (U [B, out, r], V [B, in, r])}``.

        ``name``'s weight is ``(U @ Vᵀ).reshape(shape)`` (plus its base). 1-D parameters are not listed.
        """
        check_embedding(z, self.z_dim, self.head.weight)
        return self._factors(self.head(self.features(z)))

    def _factors(self, flat: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        lead = flat.shape[:-1]
        out = {}
        for p in self.spec.params:
            if is_matrix(p):
                rows, cols = matrix_shape(p)
                r = self.ranks[p.name]
                (u0, u1), (v0, v1) = self._slices[p.name]
                out[p.name] = (flat[..., u0:u1].reshape(*lead, rows, r), flat[..., v0:v1].reshape(*lead, cols, r))
        return out

    def generate(self, z: torch.Tensor) -> Params:
        flat = self.head(self.features(z))
        lead = flat.shape[:-1]
        factors = self._factors(flat)
        params = {}
        for p in self.spec.params:
            if is_matrix(p):
                u, v = factors[p.name]
                w = (u @ v.transpose(-1, -2)).reshape(*lead, *p.shape)
            else:
                ((a, b),) = self._slices[p.name]
                w = flat[..., a:b].reshape(*lead, *p.shape)
            if self.base is not None:
                w = w + self.base[_base_key(p.name)]
            params[p.name] = w
        return params


@torch.no_grad()
def lowrank_hyperfan_init_(
    hnet: LowRankHyperNet,
    mode: str = "in",
    gain: float = 2**0.5,
    z_sample: torch.Tensor | None = None,
) -> float:
    """Hyperfan for ``W = U Vᵀ``; initializes ``hnet`` in place and returns the measured ``E[|e|⁴]``.

    Derivation (the full case is in :mod:`hypernet_lib.init`). Head rows are independent,
    zero-mean, with variances ``σ_U²`` (rows that make ``U``) and ``σ_V²`` (rows that make ``V``);
    the head offset is zero. Given the trunk features ``e``, ``U_ik = a_ik·e`` and ``V_jk = b_jk·e``
    are independent with variances ``σ_U² |e|²`` and ``σ_V² |e|²``, so

        Var(W_ij | e) = Σ_k Var(U_ik) Var(V_jk) = r σ_U² σ_V² |e|⁴,
        E[W_ij²] = r σ_U² σ_V² E[|e|⁴].

    The *fourth* moment of the features appears (the full case has ``E[|e|²]``), and the rank
    divides the variance. Without a base we split the target variance ``gain² / fan`` evenly,
    ``σ_U² = σ_V² = gain / sqrt(fan · r · E[|e|⁴])``.

    With a base ``W₀`` the weight must start at ``W₀`` (a pretrained adapter must not change the
    model before training), so the ``U`` rows start at zero, as LoRA's ``B`` does; ``V`` rows get
    ``E[V_jk²] = 1 / fan_in`` so ``Vᵀx`` keeps the input's scale once ``U`` moves. (``U`` still
    gets gradients: ``∂L/∂U = ∂L/∂W · V ≠ 0``.) Generated 1-D parameters start at zero (plus base).
    """
    if not isinstance(hnet, LowRankHyperNet):
        raise TypeError(f"hnet: expected a LowRankHyperNet, got {type(hnet).__name__}")
    if mode not in ("in", "out"):
        raise ValueError(f"mode: expected 'in' or 'out', got {mode!r}")
    hnet._he_trunk_()
    head = hnet.head
    z_sample = default_z_sample(hnet.z_dim) if z_sample is None else check_z_sample(z_sample, hnet.z_dim)
    e = hnet.trunk(z_sample.to(head.weight))
    sq_norm = e.pow(2).sum(dim=-1)
    fourth, second = float(sq_norm.pow(2).mean()), float(sq_norm.mean())
    if fourth <= 0:
        raise ValueError("lowrank_hyperfan_init_: the trunk's features are all zero for z_sample; cannot scale")
    nn.init.zeros_(head.bias)
    for p in hnet.spec.params:
        if not is_matrix(p):
            ((a, b),) = hnet._slices[p.name]
            head.weight[a:b].zero_()
            continue
        (u0, u1), (v0, v1) = hnet._slices[p.name]
        r = hnet.ranks[p.name]
        if hnet.base is None:
            fan = p.fan_in if mode == "in" else p.fan_out
            std = (gain / math.sqrt(fan * r * fourth)) ** 0.5
            head.weight[u0:u1].normal_(0.0, std)
            head.weight[v0:v1].normal_(0.0, std)
        else:
            head.weight[u0:u1].zero_()
            head.weight[v0:v1].normal_(0.0, (1.0 / (p.fan_in * second)) ** 0.5)
    return fourth
