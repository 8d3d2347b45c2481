"""Bayesian hypernetworks: noise in, weight samples out, trained on the evidence lower bound.

A hypernetwork fed with noise ``ε ~ N(0, I)`` outputs a *distribution* over the target's
weights ``θ = h_φ(ε)``. To make that distribution an approximate posterior we maximise the
evidence lower bound (ELBO),

    ELBO(φ) = E_q[log p(D | θ)] − KL(q_φ ‖ p) ,   KL = E_q[log q_φ(θ) − log p(θ)] ,

which needs ``log q_φ(θ)``, the log-density of the generated weights. For a generic
hypernetwork that density is intractable. Following Krueger et al. (2017, "Bayesian
Hypernetworks") we make ``h_φ`` *invertible*, a normalizing flow, so the density is exact by
the change of variables formula:

    θ = h_φ(ε) = μ + σ ⊙ f_K ∘ … ∘ f_1(ε)
    log q_φ(θ) = log N(ε; 0, I) − Σ_k log|det ∂f_k/∂u| − Σ_i log σ_i .

Each ``f_k`` is an affine coupling layer (Dinh, Sohl-Dickstein & Bengio 2017, RealNVP): it
leaves half of the coordinates alone and scales and shifts the other half by amounts computed
from the first half, so its Jacobian is triangular and its log-determinant is the sum of the
log-scales. With ``K = 0`` couplings the flow is the mean-field Gaussian of Bayes by Backprop
(Blundell et al. 2015); the couplings add correlations between weights on top of it.

The price of exactness: a flow preserves dimension, so the noise has as many numbers as the
target (``d_ε = P``). That is why we use a small target; Krueger et al. apply the flow to the
weight-norm scales of a large one instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import torch
from torch import nn

from ._checks import require_dims, require_float, require_positive_int, require_tensor
from .target import TargetSpec, describe, functional_forward
from .train import fit

Likelihood = Literal["categorical", "gaussian"]
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class AffineCoupling(nn.Module):
    """One invertible coupling layer on ``u: [S, D]``.

    The coordinates ``idx_a`` pass through unchanged and condition a small MLP that outputs a
    log-scale ``s`` and a shift ``t`` for the coordinates ``idx_b``:

        v_a = u_a ,   v_b = u_b ⊙ exp(s(u_a)) + t(u_a) ,   log|det ∂v/∂u| = Σ s(u_a) .

    ``s`` is squashed into ``(−max_log_scale, max_log_scale)`` with a tanh so one step can
    never blow a weight up by more than ``e^max_log_scale``. The output layer starts at zero,
    so a fresh coupling is the identity.
    """

    def __init__(self, idx_a: torch.Tensor, idx_b: torch.Tensor, hidden: int = 64, max_log_scale: float = 2.0):
        super().__init__()
        require_tensor("idx_a", idx_a)
        require_tensor("idx_b", idx_b)
        if idx_a.dtype != torch.int64 or idx_b.dtype != torch.int64 or idx_a.dim() != 1 or idx_b.dim() != 1:
            raise TypeError(
                f"idx_a, idx_b: expected 1-D int64 index tensors, got {idx_a.dtype} {list(idx_a.shape)} "
                f"and {idx_b.dtype} {list(idx_b.shape)}"
            )
        dim = idx_a.numel() + idx_b.numel()
        if (
            idx_a.numel() == 0
            or idx_b.numel() == 0
            or not torch.equal(torch.sort(torch.cat([idx_a, idx_b])).values, torch.arange(dim))
        ):
            raise ValueError(f"idx_a, idx_b: expected two non-empty halves that partition range({dim})")
        self.dim = dim
        self.max_log_scale = float(max_log_scale)
        self.register_buffer("idx_a", idx_a.clone())
        self.register_buffer("idx_b", idx_b.clone())
        # Undo the concatenation [u_a, v_b] back into the original coordinate order.
        self.register_buffer("unperm", torch.argsort(torch.cat([idx_a, idx_b])))
        hidden = require_positive_int("hidden", hidden)
        self.net = nn.Sequential(nn.Linear(idx_a.numel(), hidden), nn.Tanh(), nn.Linear(hidden, 2 * idx_b.numel()))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def _scale_shift(self, u_a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw_s, t = self.net(u_a).chunk(2, dim=-1)
        return self.max_log_scale * torch.tanh(raw_s / self.max_log_scale), t

    def forward(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``u: [S, D] → (v: [S, D], log|det ∂v/∂u|: [S])``."""
        _check_flat("u", u, self.dim)
        u_a, u_b = u[..., self.idx_a], u[..., self.idx_b]
        s, t = self._scale_shift(u_a)
        v = torch.cat([u_a, u_b * torch.exp(s) + t], dim=-1)[..., self.unperm]
        return v, s.sum(-1)

    def inverse(self, v: torch.Tensor) -> torch.Tensor:
        """``v: [S, D] → u: [S, D]`` with ``forward(u)[0] == v``."""
        _check_flat("v", v, self.dim)
        v_a, v_b = v[..., self.idx_a], v[..., self.idx_b]
        s, t = self._scale_shift(v_a)
        return torch.cat([v_a, (v_b - t) * torch.exp(-s)], dim=-1)[..., self.unperm]


class FlowHyperNetwork(nn.Module):
    """Bayesian hypernetwork with an exact density: ``ε: [S, P] → {name: [S, *shape]}``.

    ``θ = μ + σ ⊙ f_K ∘ … ∘ f_1(ε)`` with affine couplings ``f_k`` (see the module docstring).
    Couplings come in pairs that swap the two halves, so every weight gets transformed.

    Args:
        spec: the target's parameters (from :func:`hypernet_lib.describe`); ``P = spec.num_params``.
        n_couplings: number of coupling layers ``K`` (0 gives a mean-field Gaussian).
        hidden: width of each coupling's conditioner MLP.
        init_from: a module shaped like the target; its current parameters become ``μ`` (so the
            mean network starts from the target's usual initialization). Zeros when ``None``.
        init_std: initial ``σ`` of every weight; small, so training starts near a point estimate.
        generator: draws the random coordinate split of each coupling pair.

    Call: ``ε: [S, P] → {name: [S, *shape]}`` (``ε: [P]`` gives unbatched parameters).
    :meth:`sample` draws ``ε`` and also returns ``log q(θ)``.
    """

    def __init__(
        self,
        spec: TargetSpec,
        n_couplings: int = 2,
        hidden: int = 64,
        init_from: nn.Module | None = None,
        init_std: float = 1e-2,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if not isinstance(spec, TargetSpec):
            raise TypeError(f"spec: expected a TargetSpec (from describe(module)), got {type(spec).__name__}")
        if isinstance(n_couplings, bool) or not isinstance(n_couplings, int) or n_couplings < 0:
            raise ValueError(f"n_couplings: expected an integer >= 0, got {n_couplings!r}")
        if not init_std > 0:
            raise ValueError(f"init_std: expected a positive number, got {init_std!r}")
        self.spec = spec
        dim = spec.num_params
        if n_couplings and dim < 2:
            raise ValueError(f"n_couplings: a coupling needs at least 2 numbers to split, the target has {dim}")
        mu = torch.zeros(dim)
        if init_from is not None:
            own = dict(init_from.named_parameters())
            mu = spec.flatten({n: own[n].detach().float() for n in spec.names}).cpu()
        self.mu = nn.Parameter(mu)
        # σ = softplus(ρ) keeps σ > 0 with well-behaved gradients near zero.
        self.rho = nn.Parameter(torch.full((dim,), math.log(math.expm1(init_std))))
        couplings = []
        for k in range(n_couplings):
            if k % 2 == 0:
                perm = torch.randperm(dim, generator=generator)
                idx_a, idx_b = perm[: dim // 2], perm[dim // 2 :]
            else:  # the partner swaps the halves: what was conditioned on is now transformed
                idx_a, idx_b = idx_b, idx_a
            couplings.append(AffineCoupling(idx_a, idx_b, hidden))
        self.couplings = nn.ModuleList(couplings)

    @property
    def noise_dim(self) -> int:
        """``d_ε = P``: a flow keeps the dimension."""
        return self.spec.num_params

    @property
    def sigma(self) -> torch.Tensor:
        """``σ: [P]``, the per-weight scale of the base Gaussian."""
        return nn.functional.softplus(self.rho)

    def transform(self, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``ε: [S, P] → (θ: [S, P], log q(θ): [S])``, the flat weights and their exact log-density."""
        _check_flat("eps", eps, self.noise_dim)
        log_q = -0.5 * eps.pow(2).sum(-1) - self.noise_dim * _HALF_LOG_2PI
        u = eps
        for coupling in self.couplings:
            u, log_det = coupling(u)
            log_q = log_q - log_det
        sigma = self.sigma
        return self.mu + sigma * u, log_q - torch.log(sigma).sum()

    def forward(self, eps: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.spec.split(self.transform(eps)[0])

    def log_prob(self, theta: torch.Tensor) -> torch.Tensor:
        """Exact ``log q(θ)`` for flat weights ``θ: [S, P]`` (runs the flow backwards)."""
        _check_flat("theta", theta, self.noise_dim)
        sigma = self.sigma
        u = (theta - self.mu) / sigma
        for coupling in reversed(self.couplings):
            u = coupling.inverse(u)
        # Re-run forward from the recovered ε so the log-determinants are those of θ = h(ε).
        return self.transform(u)[1]

    def sample(
        self, n_samples: int, generator: torch.Generator | None = None
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Draw ``n_samples`` networks: ``({name: [S, *shape]}, log q(θ): [S])``.

        ``ε`` is drawn on the CPU with ``generator`` (identical samples on any device) and moved
        to the hypernetwork's device.
        """
        n_samples = require_positive_int("n_samples", n_samples)
        eps = torch.randn(n_samples, self.noise_dim, generator=generator).to(self.mu)
        theta, log_q = self.transform(eps)
        return self.spec.split(theta), log_q


def prior_std(spec: TargetSpec, gain: float = 1.0, bias_std: float = 1.0) -> torch.Tensor:
    """Per-number prior scale ``[P]`` for ``p(θ) = N(0, diag(std²))``.

    Weights get ``gain / sqrt(fan_in)`` (each unit's pre-activation then has prior variance
    ``gain²`` times its input's, whatever the layer width, as with He/LeCun initialization);
    biases and other 1-D parameters get ``bias_std``.
    """
    if not isinstance(spec, TargetSpec):
        raise TypeError(f"spec: expected a TargetSpec (from describe(module)), got {type(spec).__name__}")
    if not gain > 0 or not bias_std > 0:
        raise ValueError(f"gain, bias_std: expected positive numbers, got {gain!r}, {bias_std!r}")
    parts = [torch.full((p.numel,), bias_std if p.is_bias else gain / math.sqrt(p.fan_in)) for p in spec.params]
    return torch.cat(parts)


class GaussianPrior(nn.Module):
    """``p(θ) = N(0, diag(std²))`` with one scale per generated tensor, optionally learned.

    Starts from :func:`prior_std`. With ``learn=True`` the per-tensor log-scales are trained on
    the same ELBO as the hypernetwork: empirical Bayes (type-II maximum likelihood), which picks
    how large each layer's weights should be a priori instead of guessing a ``gain``.
    """

    def __init__(self, spec: TargetSpec, gain: float = 1.0, bias_std: float = 1.0, learn: bool = False):
        super().__init__()
        init = prior_std(spec, gain, bias_std)
        self.spec = spec
        self.register_buffer("sizes", torch.tensor([p.numel for p in spec.params]), persistent=False)
        firsts = torch.cumsum(torch.tensor([0] + [p.numel for p in spec.params[:-1]]), 0)
        self.log_scale = nn.Parameter(torch.log(init[firsts]), requires_grad=learn)

    @property
    def std(self) -> torch.Tensor:
        """``[P]``, each tensor's scale repeated over its numbers."""
        return torch.repeat_interleave(self.log_scale.exp(), self.sizes)

    def log_prob(self, theta: torch.Tensor) -> torch.Tensor:
        """``θ: [S, P] → log p(θ): [S]``."""
        return gaussian_log_prob(theta, self.std)


def gaussian_log_prob(theta: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """``log N(θ; 0, diag(std²))`` summed over the last dim: ``θ: [S, P], std: [P] → [S]``."""
    require_float("theta", theta)
    require_float("std", std)
    if std.dim() != 1 or theta.shape[-1] != std.shape[0]:
        raise ValueError(f"theta, std: expected shapes [S, P] and [P], got {list(theta.shape)} and {list(std.shape)}")
    z = theta / std
    return -0.5 * z.pow(2).sum(-1) - torch.log(std).sum() - std.shape[0] * _HALF_LOG_2PI


def forward_samples(target: nn.Module, params: Mapping[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Run ``S`` weight samples on the same inputs at once: ``params[·]: [S, *shape], x: [N, ...] → [S, N, ...]``.

    One vectorised call through :func:`hypernet_lib.functional_forward` (``x`` is broadcast, not copied).
    The target runs in eval mode (restored afterwards): all the randomness is in the weight samples,
    so a ``Dropout`` layer must not add its own.
    """
    require_float("x", x)
    batch = describe(target, include=list(params)).check(params)
    if len(batch) != 1:
        raise ValueError("params: expected a batch of samples {name: [S, *shape]}, got unbatched parameters")
    was_training = target.training
    target.eval()
    try:
        return functional_forward(target, params, x.expand(batch[0], *x.shape))
    finally:
        target.train(was_training)


def log_likelihood(
    outputs: torch.Tensor, y: torch.Tensor, likelihood: Likelihood, noise_std: float | None = None
) -> torch.Tensor:
    """``log p(y | x, θ_s)`` summed over the data, for each sample: ``outputs: [S, N, K] → [S]``.

    ``"categorical"``: ``outputs`` are logits ``[S, N, C]``, ``y`` int64 class indices ``[N]``.
    ``"gaussian"``: ``outputs`` are means ``[S, N, 1]``, ``y: [N, 1]``, fixed observation noise ``noise_std``.
    ``y`` may also carry the sample dimension (``[S, N]`` / ``[S, N, 1]``): each sample its own data,
    as when ensemble members draw their own minibatches.
    """
    require_float("outputs", outputs)
    require_dims("outputs", outputs, (3,), "[S, N, K]")
    require_tensor("y", y)
    if likelihood == "categorical":
        if y.dtype != torch.int64 or y.shape not in (outputs.shape[1:2], outputs.shape[:2]):
            raise ValueError(
                f"y: expected int64 class indices of shape {list(outputs.shape[1:2])} or {list(outputs.shape[:2])}, "
                f"got {y.dtype} {list(y.shape)}"
            )
        log_p = torch.log_softmax(outputs, dim=-1)
        return log_p.gather(-1, y.expand(outputs.shape[:2]).unsqueeze(-1)).squeeze(-1).sum(-1)
    if likelihood == "gaussian":
        if noise_std is None or not noise_std > 0:
            raise ValueError(f"noise_std: the gaussian likelihood needs a positive noise_std, got {noise_std!r}")
        require_float("y", y)
        if y.shape not in (outputs.shape[1:], outputs.shape):
            raise ValueError(
                f"y: expected shape {list(outputs.shape[1:])} or {list(outputs.shape)} to match outputs, "
                f"got {list(y.shape)}"
            )
        z = (y - outputs) / noise_std
        per_point = -0.5 * z.pow(2) - math.log(noise_std) - _HALF_LOG_2PI
        return per_point.flatten(1).sum(-1)
    raise ValueError(f"likelihood: expected 'categorical' or 'gaussian', got {likelihood!r}")


def negative_elbo(
    log_lik: torch.Tensor,
    log_q: torch.Tensor,
    log_prior: torch.Tensor,
    n_batch: int,
    n_data: int,
    kl_weight: float = 1.0,
) -> torch.Tensor:
    """Monte Carlo ``−ELBO / N`` from ``S`` weight samples (all ``[S]``).

    ``log_lik`` is summed over a minibatch of ``n_batch`` of the ``n_data`` points, so it is
    rescaled to the whole data set; the KL estimate ``mean_s(log q − log p)`` uses the same
    samples. Dividing by ``N`` makes the number comparable to an ordinary mean loss.
    ``kl_weight < 1`` gives a tempered (cold) posterior; the lecture keeps ``1``.
    """
    for name, t in (("log_lik", log_lik), ("log_q", log_q), ("log_prior", log_prior)):
        require_float(name, t)
        require_dims(name, t, (1,), "[S]")
    if not (log_lik.shape == log_q.shape == log_prior.shape):
        raise ValueError(
            f"log_lik, log_q, log_prior: expected equal shapes [S], got "
            f"{list(log_lik.shape)}, {list(log_q.shape)}, {list(log_prior.shape)}"
        )
    n_batch = require_positive_int("n_batch", n_batch)
    n_data = require_positive_int("n_data", n_data)
    kl = (log_q - log_prior).mean()
    return -log_lik.mean() / n_batch + kl_weight * kl / n_data


def minibatch_indices(n_data: int, batch_size: int | None, generator: torch.Generator | None) -> torch.Tensor:
    """``[batch_size]`` random indices into the data (all of them, in order, when ``batch_size`` is None)."""
    if batch_size is None or batch_size >= n_data:
        return torch.arange(n_data)
    return torch.randperm(n_data, generator=generator)[:batch_size]


def cosine_schedule(opt: torch.optim.Optimizer, n_steps: int, cosine: bool) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning rate decayed to zero on a cosine over ``n_steps`` when ``cosine``, else constant."""
    if not isinstance(cosine, bool):
        raise TypeError(f"cosine: expected a bool, got {type(cosine).__name__}")
    n_steps = require_positive_int("n_steps", n_steps)
    if cosine:
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, n_steps)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


def fit_bayes_hypernet(
    hnet: FlowHyperNetwork,
    target: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    likelihood: Likelihood,
    n_steps: int,
    n_samples: int = 8,
    lr: float = 3e-3,
    batch_size: int | None = None,
    noise_std: float | None = None,
    prior: GaussianPrior | None = None,
    kl_weight: float = 1.0,
    cosine: bool = False,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> list[float]:
    """Maximise the ELBO with Adam; return ``−ELBO / N`` at steps 0, 10, 20, … and the last step.

    ``x: [N, ...]``, ``y``: as :func:`log_likelihood` expects. ``prior``: a :class:`GaussianPrior`
    (default: fixed, :func:`prior_std` of the spec); if its scales require grad they are trained too.
    Each step draws ``n_samples`` networks. ``cosine``: decay the learning rate to zero on a cosine
    over ``n_steps`` (the Monte Carlo gradient never vanishes, so a constant rate keeps jittering
    around the optimum; decaying it lets the last steps average that noise out).
    """
    if not isinstance(hnet, FlowHyperNetwork):
        raise TypeError(f"hnet: expected a FlowHyperNetwork, got {type(hnet).__name__}")
    require_float("x", x)
    require_tensor("y", y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x, y: expected the same number of points, got {x.shape[0]} and {y.shape[0]}")
    n_samples = require_positive_int("n_samples", n_samples)
    if prior is None:
        prior = GaussianPrior(hnet.spec).to(hnet.mu)
    if not isinstance(prior, GaussianPrior):
        raise TypeError(f"prior: expected a GaussianPrior or None, got {type(prior).__name__}")
    n_data = x.shape[0]
    trained = [*hnet.parameters(), *(p for p in prior.parameters() if p.requires_grad)]
    opt = torch.optim.Adam(trained, lr=lr)
    schedule = cosine_schedule(opt, n_steps, cosine)

    def step(_: int) -> torch.Tensor:
        idx = minibatch_indices(n_data, batch_size, generator).to(x.device)
        eps = torch.randn(n_samples, hnet.noise_dim, generator=generator).to(hnet.mu)
        theta, log_q = hnet.transform(eps)
        outputs = forward_samples(target, hnet.spec.split(theta), x[idx])
        log_lik = log_likelihood(outputs, y[idx], likelihood, noise_std)
        loss = negative_elbo(log_lik, log_q, prior.log_prob(theta), idx.numel(), n_data, kl_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        return loss.detach()

    return fit(step, n_steps, desc="Bayesian hypernetwork", log_every=10, progress=progress)


def _check_flat(name: str, t: torch.Tensor, dim: int) -> None:
    require_float(name, t)
    require_dims(name, t, (1, 2), f"[{dim}] or [S, {dim}]")
    if t.shape[-1] != dim:
        raise ValueError(f"{name}: expected last dimension {dim} (the target's parameter count), got {list(t.shape)}")
