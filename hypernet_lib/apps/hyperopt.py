"""Hyperparameter optimization through a best-response hypernetwork.

Lorraine & Duvenaud (2018, "Stochastic hyperparameter optimization through hypernetworks") and
MacKay et al. (ICLR 2019, "Self-tuning networks"): for a hyperparameter ``λ`` (here the
weight-decay strength), the *best response* ``w*(λ) = argmin_w L_train(w, λ)`` is a function of
``λ``. A hypernetwork ``w = h_φ(λ)`` trained on ``E_λ[L_train(h_φ(λ), λ)]`` over a range of ``λ``
learns that whole function in one run. Then the validation loss ``L_val(h_φ(λ))`` is a
differentiable function of ``λ``, and ``λ`` is tuned by gradient descent instead of by training
one network per grid value.

The hyperparameter is handled on a log scale, ``s = log10 λ``: weight decay matters by orders of magnitude.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

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
)
from ..hypernets import HyperNetBase, HyperNetwork
from ..hypernets.base import check_spec
from ..target import TargetSpec, describe, functional_forward
from ..train import optimizer_step, progress_bar


def _check_data(x: torch.Tensor, y: torch.Tensor) -> None:
    require_float("x", x)
    require_dims("x", x, (2,), "[N, d_in]")
    require_labels("y", y, x.shape[0])


def _check_log_lam(log_lam: torch.Tensor) -> torch.Tensor:
    require_float("log_lam", log_lam)
    require_dims("log_lam", log_lam, (1,), "[K], one log10 weight decay per model")
    if len(log_lam) == 0 or not torch.isfinite(log_lam).all():
        raise ValueError(f"log_lam: expected at least one finite log10 weight decay, got {log_lam.tolist()}")
    return log_lam


def weight_decay(spec: TargetSpec, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """``Σ ‖W‖²`` over the weights (biases are not decayed, as is usual): ``{name: [K, *shape]}`` → ``[K]``."""
    batch = check_spec(spec).check(params)
    if batch == ():
        raise ValueError("params: expected batched tensors {name: [K, *shape]}")
    return sum(params[p.name].pow(2).flatten(1).sum(1) for p in spec.params if not p.is_bias)


def penalized_loss(
    target: nn.Module, params: dict[str, torch.Tensor], log_lam: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """``L_train(w_k, λ_k) = CE(f(x; w_k), y) + λ_k Σ‖W_k‖²`` for ``K`` weight sets at once → ``[K]``.

    Args:
        params: ``{name: [K, *shape]}``; log_lam: ``[K]`` (``λ = 10 ** log_lam``); x: ``[N, d]``; y: ``[N]``.
    """
    _check_log_lam(log_lam)
    _check_data(x, y)
    spec = describe(target, include=list(params))
    ce = validation_loss(target, params, x, y)
    return ce + torch.pow(10.0, log_lam) * weight_decay(spec, params)


def validation_loss(
    target: nn.Module, params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Mean cross-entropy of each of ``K`` weight sets ``{name: [K, *shape]}`` on ``x: [N, d]``, ``y: [N]`` → ``[K]``."""
    _check_data(x, y)
    k = next(iter(params.values())).shape[0]
    logits = functional_forward(target, params, x.expand(k, *x.shape))  # [K, N, C]
    return F.cross_entropy(logits.transpose(1, 2), y.expand(k, -1), reduction="none").mean(1)


class BestResponseNet(nn.Module):
    """``log10 λ: [K] → {name: [K, *shape]}``: the target's weights as a function of its weight decay.

    Args:
        target: the network whose weights are generated (for instance ``nn.Linear(64, 10)``).
        log_range: ``(low, high)`` of ``log10 λ`` the hypernetwork is trained over; inside, ``log10 λ`` is
            mapped linearly to ``u ∈ [-1, 1]`` so the hypernetwork sees a well-scaled input.
        hidden: widths of the default hypernetwork's trunk.
        gain: the target's nonlinearity gain for hyperfan init (1 for a linear classifier).
        hnet: any hypernetwork family with ``z_dim=1`` for ``describe(target)`` to use instead of the
            default (a :class:`~hypernet_lib.HyperNetwork` initialised for ``u`` uniform in ``[-1, 1]``).
    """

    def __init__(
        self,
        target: nn.Module,
        log_range: tuple[float, float] = (-5.0, 0.0),
        hidden: Sequence[int] = (64,),
        gain: float = 1.0,
        hnet: HyperNetBase | None = None,
    ):
        super().__init__()
        if not isinstance(log_range, Sequence) or len(log_range) != 2:
            raise ValueError(f"log_range: expected (low, high), got {log_range!r}")
        low, high = (require_number("log_range", v) for v in log_range)
        if not low < high:
            raise ValueError(f"log_range: expected (low, high) with low < high, got {log_range!r}")
        self.log_range = (low, high)
        spec = describe(target)
        if hnet is None:
            # hyperfan-in over the inputs the hypernetwork will actually see: u uniform in [-1, 1].
            hnet = HyperNetwork(spec, 1, hidden=hidden, gain=gain, z_sample=torch.linspace(-1, 1, 256)[:, None])
        elif not isinstance(hnet, HyperNetBase) or hnet.z_dim != 1 or hnet.spec.names != spec.names:
            raise ValueError(
                f"hnet: expected a hypernetwork family with z_dim=1 generating {list(spec.names)}, got {type(hnet).__name__}"
            )
        self.hnet = hnet

    def code(self, log_lam: torch.Tensor) -> torch.Tensor:
        """``[K] → [K, 1]``: ``log10 λ`` rescaled so the training range becomes ``[-1, 1]``."""
        _check_log_lam(log_lam)
        low, high = self.log_range
        return ((2 * log_lam - (low + high)) / (high - low))[:, None]

    def forward(self, log_lam: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.hnet(self.code(log_lam))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``[n]`` values of ``log10 λ`` drawn uniformly over the training range."""
        low, high = self.log_range
        u = torch.rand(require_positive_int("n", n), generator=generator)
        return (low + (high - low) * u).to(next(self.parameters()))


def fit_best_response(
    br: BestResponseNet,
    target: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    n_steps: int = 1000,
    samples_per_step: int = 16,
    lr: float = 3e-3,
    generator: torch.Generator | None = None,
    progress: bool | None = None,
) -> list[float]:
    """Fit ``φ`` on ``E_{log λ ~ U(range)} L_train(h_φ(λ), λ)`` (Lorraine & Duvenaud 2018, global version).

    Each step draws ``samples_per_step`` values of ``λ`` and trains on all of them at once. Returns the losses.
    ``progress`` shows a progress bar over the steps.
    """
    _check_data(x, y)
    require_instance("br", br, BestResponseNet, "a BestResponseNet")
    samples_per_step = require_positive_int("samples_per_step", samples_per_step)
    opt = torch.optim.Adam(br.parameters(), lr=require_number("lr", lr, positive=True))
    losses = []
    n_steps = require_positive_int("n_steps", n_steps)
    for _ in progress_bar(range(n_steps), "best response", progress=progress):
        log_lam = br.sample(samples_per_step, generator)
        loss = penalized_loss(target, br(log_lam), log_lam, x, y).mean()
        losses.append(optimizer_step(opt, loss))
    return [float(v) for v in torch.stack(losses)]


class TuningStep(NamedTuple):
    log_lam: float
    val_loss: float


def tune_hyperparameter(
    br: BestResponseNet,
    target: nn.Module,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    log_lam_init: float,
    n_steps: int = 100,
    lr: float = 0.1,
) -> list[TuningStep]:
    """Gradient descent on ``log10 λ`` of ``L_val(h_φ(λ))`` with ``φ`` frozen; returns the trajectory.

    The gradient ``dL_val/d log λ = (∂L_val/∂w) (∂h_φ/∂ log λ)`` flows through the hypernetwork:
    this is the hypergradient a grid search never has. ``log λ`` is kept inside the trained range
    (outside it the hypernetwork has never been taught the best response).
    """
    require_instance("br", br, BestResponseNet, "a BestResponseNet")
    low, high = br.log_range
    log_lam_init = require_number("log_lam_init", log_lam_init)
    lr = require_number("lr", lr, positive=True)
    if not low <= log_lam_init <= high:
        raise ValueError(f"log_lam_init: expected a value in the trained range [{low}, {high}], got {log_lam_init}")
    _check_data(x_val, y_val)
    s = torch.tensor([float(log_lam_init)], device=x_val.device, requires_grad=True)
    opt = torch.optim.Adam([s], lr=lr)
    for p in br.parameters():
        p.requires_grad_(False)
    trajectory = []
    try:
        for _ in range(require_positive_int("n_steps", n_steps)):
            loss = validation_loss(target, br(s), x_val, y_val)[0]
            trajectory.append(TuningStep(float(s.detach()), float(loss.detach())))
            optimizer_step(opt, loss)
            with torch.no_grad():
                s.clamp_(low, high)
        with torch.no_grad():
            trajectory.append(TuningStep(float(s), float(validation_loss(target, br(s), x_val, y_val)[0])))
    finally:
        for p in br.parameters():
            p.requires_grad_(True)
    return trajectory


def fit_weight_decayed(
    target: nn.Module,
    log_lam: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    n_steps: int = 300,
    lr: float = 0.05,
    generator: torch.Generator | None = None,
    progress: bool | None = None,
) -> dict[str, torch.Tensor]:
    """Train one fresh network per value in ``log_lam: [K]`` on ``L_train(w, λ)``; returns ``{name: [K, *shape]}``.

    What a grid search does for each grid value. The ``K`` networks are independent (Adam is
    elementwise); pass one value at a time to time them one by one, as a plain grid search runs.
    Initial weights: PyTorch's default ``Linear`` init (uniform ``±1/sqrt(fan_in)``), drawn from ``generator``.
    ``progress`` shows a progress bar over the steps.
    """
    _check_log_lam(log_lam)
    _check_data(x, y)
    spec = describe(target)
    k = len(log_lam)
    params = {}
    for p in spec.params:
        bound = 1.0 / p.fan_in**0.5
        w = (torch.rand(k, *p.shape, generator=generator) * 2 - 1) * bound
        params[p.name] = w.to(x).requires_grad_()
    opt = torch.optim.Adam(params.values(), lr=require_number("lr", lr, positive=True))
    n_steps = require_positive_int("n_steps", n_steps)
    for _ in progress_bar(range(n_steps), "one network", progress=progress):
        loss = penalized_loss(target, params, log_lam, x, y).sum()
        optimizer_step(opt, loss)
    return {n: v.detach() for n, v in params.items()}
