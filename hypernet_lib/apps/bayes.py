"""Bayesian hypernetworks trained on the evidence lower bound, and the baselines they must beat (lecture 06).

A hypernetwork fed with noise ``ε ~ N(0, I)`` outputs a *distribution* over the target's
weights ``θ = h_φ(ε)``. To make that distribution an approximate posterior we maximise the
evidence lower bound (ELBO),

    ELBO(φ) = E_q[log p(D | θ)] − KL(q_φ ‖ p) ,   KL = E_q[log q_φ(θ) − log p(θ)] ,

which needs ``log q_φ(θ)``, the log-density of the generated weights. For a generic
hypernetwork that density is intractable. Following Krueger et al. (2017, "Bayesian
Hypernetworks") we make ``h_φ`` *invertible*, a normalizing flow, so the density is exact by
the change of variables formula (:mod:`hypernet_lib.hypernets.flow`):

    θ = h_φ(ε) = μ + σ ⊙ f_K ∘ … ∘ f_1(ε)
    log q_φ(θ) = log N(ε; 0, I) − Σ_k log|det ∂f_k/∂u| − Σ_i log σ_i .

With ``K = 0`` couplings the flow is the mean-field Gaussian of Bayes by Backprop (Blundell et al.
2015), whose KL against the Gaussian prior is closed-form (:func:`gaussian_kl`, used automatically);
with couplings the KL is the Monte Carlo average of ``log q − log p`` over the weight samples.
:class:`~hypernet_lib.hypernets.flow.WeightNormFlowHyperNetwork` is Krueger et al.'s scalable variant:
the flow runs over one weight-norm scale per unit only. Both expose ``latent`` / ``weights_from`` /
``prior_spec``, and the prior is over ``prior_spec`` (``θ`` itself, or the scales).

This module holds the prior, the likelihoods, the ELBO and its training loop, and the baselines:

* Deep ensemble (Lakshminarayanan, Pritzel & Blundell 2017): ``M`` copies of the target, each
  initialised independently and trained on its own shuffling of the data. The members are
  stacked into ``[M, *shape]`` tensors and trained *batched*: one vectorised forward
  (:func:`hypernet_lib.functional_forward`) and one optimizer for all of them.
* MC dropout (Gal & Ghahramani 2016): train the target with dropout, keep dropout *on* at test
  time, and treat each dropout mask as a weight sample (:func:`dropout_weight_samples` makes
  that literal: a mask on a layer's inputs is a mask on the next weight matrix's columns).

The targets are built with :func:`hypernet_lib.mlp` and ``dropout=p`` (``p = 0`` for the methods without
dropout), so all of them have the same parameter names and share one :class:`~hypernet_lib.TargetSpec`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Literal

import torch
from torch import nn

from .._checks import require_dims, require_float, require_positive_int, require_tensor
from ..hypernets.flow import FlowHyperNetwork, WeightNormFlowHyperNetwork
from ..target import TargetSpec, describe, functional_forward
from ..train import cosine_schedule, fit, minibatch_indices, optimizer_step

Likelihood = Literal["categorical", "gaussian"]
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def prior_std(spec: TargetSpec, gain: float = 1.0, bias_std: float = 1.0) -> torch.Tensor:
    """Per-number prior scale ``[P]`` for ``p(θ) = N(0, diag(std²))``.

    Weights get ``gain / sqrt(fan_in)`` (each unit's pre-activation then has prior variance
    ``gain²`` times its input's, whatever the layer width, as with He/LeCun initialization);
    biases and other 1-D parameters get ``bias_std``.
    """
    if not isinstance(spec, TargetSpec):
        raise TypeError(f"spec: expected a TargetSpec (from describe(module)), got {type(spec).__name__}")
    gain = _number("gain", gain, low=0.0, low_inclusive=False)
    bias_std = _number("bias_std", bias_std, low=0.0, low_inclusive=False)
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


def gaussian_kl(mu: torch.Tensor, sigma: torch.Tensor, prior_std: torch.Tensor) -> torch.Tensor:
    """Closed-form ``KL(N(μ, diag σ²) ‖ N(0, diag s²))``, summed: ``μ, σ, s: [D] → []``.

    ``Σ_i [log(s_i/σ_i) + (σ_i² + μ_i²) / (2 s_i²) − 1/2]``: the KL of a mean-field Gaussian (a flow with
    no couplings) against the Gaussian prior, with no Monte Carlo noise.
    """
    for name, t in (("mu", mu), ("sigma", sigma), ("prior_std", prior_std)):
        require_float(name, t)
        require_dims(name, t, (1,), "[D]")
    if not (mu.shape == sigma.shape == prior_std.shape):
        raise ValueError(
            f"mu, sigma, prior_std: expected equal shapes [D], got {list(mu.shape)}, {list(sigma.shape)}, "
            f"{list(prior_std.shape)}"
        )
    ratio = (sigma / prior_std).pow(2)
    return 0.5 * (ratio + (mu / prior_std).pow(2) - 1 - torch.log(ratio)).sum()


def negative_elbo(
    log_lik: torch.Tensor, kl: torch.Tensor, n_batch: int, n_data: int, kl_weight: float = 1.0
) -> torch.Tensor:
    """``−ELBO / N`` from ``S`` weight samples: ``log_lik: [S]``, ``kl: []`` (closed form) or ``[S]``.

    ``log_lik`` is summed over a minibatch of ``n_batch`` of the ``n_data`` points, so it is rescaled to
    the whole data set. ``kl`` is either the closed-form KL (a scalar, :func:`gaussian_kl`) or, per
    sample, ``log q(u_s) − log p(u_s)``, whose mean is an unbiased Monte Carlo estimate of it. Dividing by
    ``N`` makes the number comparable to an ordinary mean loss. ``kl_weight < 1`` down-weights the KL:
    its optimum over all ``q`` is ``∝ p(D|θ)^(1/kl_weight) p(θ)``, a *tempered-likelihood* posterior (not
    Wenzel et al.'s cold posterior, which tempers the prior too); the lecture keeps ``1``.
    """
    require_float("log_lik", log_lik)
    require_dims("log_lik", log_lik, (1,), "[S]")
    require_float("kl", kl)
    if kl.dim() not in (0, 1) or (kl.dim() == 1 and kl.shape != log_lik.shape):
        raise ValueError(
            f"kl: expected a scalar (closed form) or one value per sample {list(log_lik.shape)}, got {list(kl.shape)}"
        )
    n_batch = require_positive_int("n_batch", n_batch)
    n_data = require_positive_int("n_data", n_data)
    kl_weight = _number("kl_weight", kl_weight, low=0.0)
    return -log_lik.mean() / n_batch + kl_weight * kl.mean() / n_data


BayesHyperNet = FlowHyperNetwork | WeightNormFlowHyperNetwork
KLMode = Literal["auto", "closed-form", "sampled"]


def _check_kl_mode(hnet: BayesHyperNet, mode: object) -> None:
    if mode not in ("auto", "closed-form", "sampled"):
        raise ValueError(f"kl: expected 'auto', 'closed-form' or 'sampled', got {mode!r}")
    if mode == "closed-form" and len(hnet.couplings):
        raise ValueError(f"kl: 'closed-form' needs a mean-field q (n_couplings=0), this one has {len(hnet.couplings)}")


def _kl(hnet: BayesHyperNet, prior: GaussianPrior, u: torch.Tensor, log_q: torch.Tensor, mode: KLMode) -> torch.Tensor:
    """The KL term: closed-form for a mean-field q unless ``mode="sampled"``, else ``log q(u_s) − log p(u_s)``."""
    if mode == "sampled" or len(hnet.couplings):
        return log_q - prior.log_prob(u)
    return gaussian_kl(*hnet.base_gaussian(), prior.std)


def _check_bayes_inputs(hnet: object, prior: object, x: torch.Tensor, y: torch.Tensor) -> GaussianPrior:
    if not isinstance(hnet, (FlowHyperNetwork, WeightNormFlowHyperNetwork)):
        raise TypeError(f"hnet: expected a FlowHyperNetwork or WeightNormFlowHyperNetwork, got {type(hnet).__name__}")
    _check_xy(x, y)
    if prior is None:
        return GaussianPrior(hnet.prior_spec).to(hnet.base_gaussian()[0])
    if not isinstance(prior, GaussianPrior):
        raise TypeError(f"prior: expected a GaussianPrior or None, got {type(prior).__name__}")
    if prior.spec.num_params != hnet.prior_spec.num_params:
        raise ValueError(
            f"prior: expected a prior over the {hnet.prior_spec.num_params} numbers q is a density over "
            f"(GaussianPrior(hnet.prior_spec)), got one over {prior.spec.num_params}"
        )
    return prior


@torch.no_grad()
def elbo_terms(
    hnet: BayesHyperNet,
    target: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    likelihood: Likelihood,
    prior: GaussianPrior | None = None,
    noise_std: float | None = None,
    n_samples: int = 1000,
    kl: KLMode = "auto",
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    """The two terms of ``−ELBO / N`` on the whole data set: ``(data term, KL term)``, nats per point.

    Data term ``E_q[−log p(D|θ)] / N`` from ``n_samples`` weight samples; KL term ``KL(q ‖ p) / N``, in
    closed form for a mean-field ``q`` (``kl="auto"``) and from the same samples otherwise. Their sum is
    ``−ELBO / N`` (lecture 06 reads the two terms separately).
    """
    prior = _check_bayes_inputs(hnet, prior, x, y)
    n_samples = require_positive_int("n_samples", n_samples)
    _check_kl_mode(hnet, kl)
    eps = torch.randn(n_samples, hnet.z_dim, generator=generator).to(hnet.base_gaussian()[0])
    u, log_q = hnet.latent(eps)
    outputs = forward_samples(target, hnet.spec.split(hnet.weights_from(u)), x)
    data = -log_likelihood(outputs, y, likelihood, noise_std).mean() / x.shape[0]
    return float(data), float(_kl(hnet, prior, u, log_q, kl).mean()) / x.shape[0]


def fit_bayes_hypernet(
    hnet: BayesHyperNet,
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
    kl: KLMode = "auto",
    cosine: bool = False,
    generator: torch.Generator | None = None,
    progress: bool | None = None,
) -> dict[str, list[float]]:
    """Maximise the ELBO with Adam; return its terms at steps 0, 10, 20, … and the last step.

    ``x: [N, ...]``, ``y``: as :func:`log_likelihood` expects. ``prior``: a :class:`GaussianPrior` over
    ``hnet.prior_spec`` (default: fixed, :func:`prior_std`); if its scales require grad they are trained
    too (empirical Bayes). Each step draws ``n_samples`` networks. ``kl``: ``"auto"`` uses the closed-form
    KL when ``q`` is mean-field (no couplings) and the Monte Carlo estimate otherwise. ``cosine``: decay
    the learning rate to zero on a cosine over ``n_steps`` (the Monte Carlo gradient never vanishes, so a
    constant rate keeps jittering around the optimum; decaying it lets the last steps average that noise out).

    Returns ``{"neg_elbo": [...], "data": [...], "kl": [...]}``: ``−ELBO / N`` and its two terms (the
    minibatch's data term per point, the unweighted ``KL / N``), all logged at the same steps.
    """
    prior = _check_bayes_inputs(hnet, prior, x, y)
    n_samples = require_positive_int("n_samples", n_samples)
    lr, batch_size = _check_training(lr, batch_size, noise_std, likelihood)
    kl_weight = _number("kl_weight", kl_weight, low=0.0)
    _check_kl_mode(hnet, kl)
    n_steps = require_positive_int("n_steps", n_steps)
    n_data = x.shape[0]
    trained = [*hnet.parameters(), *(p for p in prior.parameters() if p.requires_grad)]
    opt = torch.optim.Adam(trained, lr=lr)
    schedule = cosine_schedule(opt, n_steps, cosine)
    terms: dict[str, list[float]] = {"data": [], "kl": []}
    reference = hnet.base_gaussian()[0]

    def step(i: int) -> torch.Tensor:
        idx = minibatch_indices(n_data, batch_size, generator).to(x.device)
        eps = torch.randn(n_samples, hnet.z_dim, generator=generator).to(reference)
        u, log_q = hnet.latent(eps)
        outputs = forward_samples(target, hnet.spec.split(hnet.weights_from(u)), x[idx])
        log_lik = log_likelihood(outputs, y[idx], likelihood, noise_std)
        kl_value = _kl(hnet, prior, u, log_q, kl)
        loss = negative_elbo(log_lik, kl_value, idx.numel(), n_data, kl_weight)
        optimizer_step(opt, loss, schedule)
        if i % 10 == 0 or i == n_steps - 1:
            terms["data"].append(float(-log_lik.detach().mean()) / idx.numel())
            terms["kl"].append(float(kl_value.detach().mean()) / n_data)
        return loss.detach()

    losses = fit(step, n_steps, desc="Bayesian hypernetwork", log_every=10, progress=progress)
    return {"neg_elbo": losses, **terms}


def _reset(module: nn.Module) -> nn.Module:
    for sub in module.modules():
        if hasattr(sub, "reset_parameters") and sub is not module:
            sub.reset_parameters()
    return module


class DeepEnsemble(nn.Module):
    """``n_members`` independently initialised copies of ``target``, stored stacked.

    ``members()`` gives ``{name: [M, *shape]}``; calling the ensemble on ``x: [N, ...]``
    returns every member's output ``[M, N, ...]`` in one vectorised call. Initial weights come
    from the module's own ``reset_parameters`` under torch's global RNG (seed it first).
    """

    def __init__(self, target: nn.Module, n_members: int = 5):
        super().__init__()
        if not isinstance(target, nn.Module):
            raise TypeError(f"target: expected a torch.nn.Module, got {type(target).__name__}")
        self.n_members = require_positive_int("n_members", n_members)
        self.spec = describe(target)
        # Keep the target out of the registered submodules: its own parameters are not trained.
        self._target = (target,)
        copies = [dict(_reset(copy.deepcopy(target)).named_parameters()) for _ in range(self.n_members)]
        self.stacked = nn.ParameterList(
            [nn.Parameter(torch.stack([c[name].detach() for c in copies])) for name in self.spec.names]
        )

    @property
    def target(self) -> nn.Module:
        return self._target[0]

    def members(self) -> dict[str, torch.Tensor]:
        """``{name: [M, *shape]}``, every member's parameters."""
        return dict(zip(self.spec.names, self.stacked))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x: [N, ...] → [M, N, ...]``."""
        return forward_samples(self.target, self.members(), x)


def dropout_weight_samples(
    model: nn.Sequential, n_samples: int, generator: torch.Generator | None = None
) -> dict[str, torch.Tensor]:
    """MC dropout as a distribution over weights: ``{name: [S, *shape]}``, one dropout mask per sample.

    Dropping hidden unit ``j`` with probability ``p`` (and scaling the survivors by ``1/(1-p)``)
    is the same as multiplying column ``j`` of the *next* ``Linear``'s weight by ``m_j/(1-p)``,
    ``m_j ~ Bernoulli(1-p)``. So each mask is a weight sample, and the ``S`` sampled networks run
    batched through :func:`forward_samples` like the other methods' samples, each one a coherent
    function of ``x`` (a per-input mask would give every input a different network).
    ``model``: an ``nn.Sequential`` in which every ``Dropout`` is followed by a ``Linear`` (see :func:`mlp`).
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model: expected an nn.Sequential such as mlp(..., dropout=p), got {type(model).__name__}")
    n_samples = require_positive_int("n_samples", n_samples)
    layers = list(model)
    params = {n: p.detach().expand(n_samples, *p.shape) for n, p in model.named_parameters()}
    n_dropout = 0
    for i, layer in enumerate(layers):
        if not isinstance(layer, nn.Dropout) or layer.p == 0:
            continue
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if not isinstance(nxt, nn.Linear):
            raise ValueError(f"model[{i}]: expected the Dropout to be followed by a Linear, got {type(nxt).__name__}")
        keep = 1.0 - layer.p
        w = nxt.weight.detach()
        mask = torch.bernoulli(torch.full((n_samples, 1, w.shape[1]), keep), generator=generator).to(w)
        params[f"{i + 1}.weight"] = w * mask / keep
        n_dropout += 1
    if n_dropout == 0:
        raise ValueError("model: expected at least one nn.Dropout with p > 0; without it every sample is the same")
    return params


def fit_baseline(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    likelihood: Likelihood,
    n_steps: int,
    lr: float = 3e-3,
    batch_size: int | None = None,
    weight_decay: float = 0.0,
    noise_std: float | None = None,
    cosine: bool = False,
    generator: torch.Generator | None = None,
    progress: bool | None = None,
) -> list[float]:
    """Train one of lecture 06's baselines with AdamW; return the NLL per point every 10th step.

    ``model`` is either

    - a :class:`DeepEnsemble`: all members train at once. The loss is the *sum* of the members' mean
      losses, so each member's gradient is exactly the one it would get if trained alone, and with
      ``batch_size`` each member draws its own minibatch; the loss returned is the mean member's;
    - any other module, trained as an ordinary dropout network (MC dropout); it is left in eval mode.

    ``cosine``: decay the learning rate to zero over ``n_steps`` (as :func:`fit_bayes_hypernet`).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a DeepEnsemble or a torch.nn.Module with dropout, got {type(model).__name__}")
    _check_xy(x, y)
    lr, batch_size = _check_training(lr, batch_size, noise_std, likelihood)
    weight_decay = _number("weight_decay", weight_decay, low=0.0)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = cosine_schedule(opt, n_steps, cosine)
    n_data = x.shape[0]
    ensemble = isinstance(model, DeepEnsemble)

    def step(_: int) -> torch.Tensor:
        if ensemble:
            n = model.n_members
            idx = torch.stack([minibatch_indices(n_data, batch_size, generator) for _ in range(n)]).to(x.device)
            outputs = functional_forward(model.target, model.members(), x[idx])  # [M, B, ...]
            loss = -log_likelihood(outputs, y[idx], likelihood, noise_std).sum() / idx.shape[1]
            return optimizer_step(opt, loss, schedule) / n
        idx = minibatch_indices(n_data, batch_size, generator).to(x.device)
        loss = -log_likelihood(model(x[idx])[None], y[idx], likelihood, noise_std)[0] / idx.numel()
        return optimizer_step(opt, loss, schedule)

    model.train()
    losses = fit(step, n_steps, desc="deep ensemble" if ensemble else "MC dropout", log_every=10, progress=progress)
    model.eval()
    return losses


def _check_xy(x: torch.Tensor, y: torch.Tensor) -> None:
    require_float("x", x)
    require_tensor("y", y)
    if x.dim() == 0 or y.dim() == 0 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x, y: expected the same number of points, got shapes {list(x.shape)} and {list(y.shape)}")
    if x.shape[0] == 0:
        raise ValueError("x, y: expected at least one training point, got none")
    if not bool(torch.isfinite(x).all()) or (y.is_floating_point() and not bool(torch.isfinite(y).all())):
        raise ValueError("x, y: contain NaN or inf; every training point must be finite")


def _number(name: str, value: object, low: float, low_inclusive: bool = True) -> float:
    """A finite real number ``>= low`` (``> low`` unless ``low_inclusive``); NaN, inf and bools refused."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or (value == low and not low_inclusive):
        bound = f">= {low:g}" if low_inclusive else f"> {low:g}"
        raise ValueError(f"{name}: expected a finite number {bound}, got {value!r}")
    return float(value)


def _check_training(lr: object, batch_size: object, noise_std: object, likelihood: str) -> tuple[float, int | None]:
    lr = _number("lr", lr, low=0.0, low_inclusive=False)
    if batch_size is not None:
        batch_size = require_positive_int("batch_size", batch_size)
    if likelihood == "gaussian":
        _number("noise_std", noise_std, low=0.0, low_inclusive=False)
    return lr, batch_size
