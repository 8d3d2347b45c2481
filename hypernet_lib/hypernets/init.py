"""Hyperfan initialization for the full hypernetwork (lecture 01), after Chang, Flokas & Lipson (ICLR 2020).

Why: PyTorch initializes the hypernetwork's head for the *hypernetwork's* fan-in, so the
generated weights get a variance unrelated to the *target's* fan-in, and the target's
activations explode or vanish layer by layer.

Derivation. The head computes one generated number as ``θ_i = Σ_k H_ik e_k + c_i`` over the
``d_e`` trunk features ``e``. With ``H`` zero-mean, independent of ``e``, and ``c_i = 0``:

    Var(θ_i) = d_e · Var(H_i·) · E[e²]

(``E[e²]``, not ``Var(e)``: ReLU features have a non-zero mean and that mean multiplies ``H`` too).
We want each generated weight to have the variance a well-initialized target weight has:

    hyperfan-in:   Var(θ_i) = gain² / fan_in    (forward activations keep their scale)
    hyperfan-out:  Var(θ_i) = gain² / fan_out   (backward gradients keep their scale)

so the head row of that weight gets ``Var(H_i·) = gain² / (fan · d_e · E[e²])``. We draw it from a
normal distribution. Generated biases start at exactly zero (zero rows and zero offset), as
target biases usually do; they still receive gradients and move during training.

This is a simplified hyperfan-in. Chang et al. also treat the case where the hypernetwork generates
weights *and* biases by splitting the target variance between them (the weight rows get half of it and
the bias rows a non-zero share); starting every bias at zero keeps the whole variance in the weights.

``E[e²]`` depends on what ``z`` looks like, so it is measured: pass a sample of embeddings
(``z_sample``); without one we assume ``z ~ N(0, I)``. The trunk itself is He-initialized
(``Var = 2 / fan_in``, zero bias) so ``E[e²]`` stays near ``E[z²]`` however deep it is.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from .base import TrunkHyperNet, check_z_sample, default_z_sample


@torch.no_grad()
def hyperfan_init_(
    hnet: nn.Module,
    mode: Literal["in", "out"] = "in",
    gain: float = 2**0.5,
    z_sample: torch.Tensor | None = None,
) -> float:
    """Initialize a :class:`~hypernet_lib.HyperNetwork` in place; returns the measured ``E[e²]``.

    Args:
        hnet: a hypernetwork with ``trunk``, ``head``, ``spec``, ``z_dim`` (``HyperNetwork``).
        mode: ``"in"`` for hyperfan-in, ``"out"`` for hyperfan-out.
        gain: target nonlinearity gain; ``2**0.5`` for ReLU, ``1`` for linear/tanh-ish targets.
        z_sample: ``[n, d_z]`` embeddings like those the hypernetwork will see.
    """
    if not isinstance(hnet, TrunkHyperNet) or not hasattr(hnet, "head"):
        raise TypeError(f"hnet: expected a HyperNetwork (a trunk and one linear head), got {type(hnet).__name__}")
    if mode not in ("in", "out"):
        raise ValueError(f"mode: expected 'in' or 'out', got {mode!r}")
    hnet._he_trunk_()
    head: nn.Linear = hnet.head
    z_sample = default_z_sample(hnet.z_dim) if z_sample is None else check_z_sample(z_sample, hnet.z_dim)
    z_sample = z_sample.to(head.weight)
    e_second_moment = float(hnet.trunk(z_sample).pow(2).mean())
    if e_second_moment <= 0:
        raise ValueError("hyperfan_init_: the trunk's features are all zero for z_sample; cannot scale the head")
    d_e = head.in_features
    nn.init.zeros_(head.bias)
    start = 0
    for p in hnet.spec.params:
        rows = head.weight[start : start + p.numel]
        if p.is_bias:
            rows.zero_()
        else:
            fan = p.fan_in if mode == "in" else p.fan_out
            rows.normal_(0.0, (gain**2 / (fan * d_e * e_second_moment)) ** 0.5)
        start += p.numel
    return e_second_moment
