"""Flow hypernetworks: noise in, weight samples out, with an exact density (Krueger et al. 2017; lecture 06).

A hypernetwork fed with noise ``ε ~ N(0, I)`` outputs a *distribution* over the target's weights
``θ = h_φ(ε)``. Variational inference needs ``log q_φ(θ)``, the log-density of the generated weights,
which a generic hypernetwork does not have. Following Krueger et al. (2017, "Bayesian Hypernetworks")
``h_φ`` is *invertible*, a normalizing flow, so the density is exact by the change of variables formula:

    θ = h_φ(ε) = μ + σ ⊙ f_K ∘ … ∘ f_1(ε)
    log q_φ(θ) = log N(ε; 0, I) − Σ_k log|det ∂f_k/∂u| − Σ_i log σ_i .

Each ``f_k`` is an affine coupling layer (Dinh, Sohl-Dickstein & Bengio 2017, RealNVP): it leaves half
of the coordinates alone and scales and shifts the other half by amounts computed from the first half,
so its Jacobian is triangular and its log-determinant is the sum of the log-scales. With ``K = 0``
couplings the flow is the mean-field Gaussian of Bayes by Backprop (Blundell et al. 2015); the
couplings add correlations between weights on top of it.

The price of exactness: a flow preserves dimension, so the noise has as many numbers as the target
(``d_ε = z_dim = P``), and each coupling's conditioner maps ``P/2`` numbers to ``P``: its size grows with
``P`` times its width. Krueger et al. (2017, section "efficient parametrization") therefore apply the flow
to the *weight-norm scales* of the target only: :class:`WeightNormFlowHyperNetwork` writes every weight
row as ``w_j = g_j · v_j / ‖v_j‖`` (Salimans & Kingma 2016) and puts the flow on the scales ``g``, one per
unit (``d_ε`` = number of units), while the directions ``v`` and the biases are point estimates.

Both classes expose the same three pieces to the ELBO (:mod:`hypernet_lib.apps.bayes`):
``latent(ε) → (u, log q(u))``, the random numbers the density is over (``θ`` itself, or the scales ``g``),
``weights_from(u) → θ`` (flat target weights) and ``prior_spec``, the shapes of ``u`` (for the prior).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .._checks import require_dims, require_float, require_positive_int, require_tensor
from ..target import ParamInfo, Params, TargetSpec
from .base import HyperNetBase, check_size, check_spec, mlp, widths_of

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

    def __init__(
        self, idx_a: torch.Tensor, idx_b: torch.Tensor, hidden: Sequence[int] = (64,), max_log_scale: float = 2.0
    ):
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
        self.net = mlp((idx_a.numel(), *widths_of("hidden", hidden), 2 * idx_b.numel()), activation="tanh")
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


class FlowHyperNetwork(HyperNetBase):
    """Bayesian hypernetwork with an exact density: ``ε: [S, P] → {name: [S, *shape]}``.

    ``θ = μ + σ ⊙ f_K ∘ … ∘ f_1(ε)`` with affine couplings ``f_k`` (see the module docstring).
    Couplings come in pairs that swap the two halves, so every weight gets transformed.

    Args:
        spec: the target's parameters (from :func:`hypernet_lib.describe`); ``P = spec.num_params``.
        z_dim: the noise size ``d_ε``; a flow keeps the dimension, so it must be ``P`` (``None``: ``P``).
        n_couplings: number of coupling layers ``K`` (0 gives a mean-field Gaussian).
        hidden: widths of each coupling's conditioner MLP (tanh).
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
        z_dim: int | None = None,
        *,
        n_couplings: int = 2,
        hidden: Sequence[int] = (64,),
        init_from: nn.Module | None = None,
        init_std: float = 1e-2,
        generator: torch.Generator | None = None,
    ):
        dim = check_spec(spec).num_params
        if z_dim is not None and z_dim != dim:
            raise ValueError(f"z_dim: a flow keeps the dimension, so d_ε must be P = {dim} (or None), got {z_dim!r}")
        super().__init__(spec, dim, init="default")
        if isinstance(n_couplings, bool) or not isinstance(n_couplings, int) or n_couplings < 0:
            raise ValueError(f"n_couplings: expected an integer >= 0, got {n_couplings!r}")
        if isinstance(init_std, bool) or not isinstance(init_std, (int, float)) or not 0 < init_std < math.inf:
            raise ValueError(f"init_std: expected a positive finite number, got {init_std!r}")
        hidden = widths_of("hidden", hidden)
        half = dim // 2 + 1
        per_coupling = (
            (half + 1) * hidden[0]
            + sum((a + 1) * b for a, b in zip(hidden[:-1], hidden[1:]))
            + (hidden[-1] + 1) * 2 * half
            if hidden
            else 0
        )
        check_size(
            "FlowHyperNetwork",
            2 * dim + n_couplings * per_coupling,
            f"μ and σ have P = {dim:,} numbers each and every coupling's MLP reads and writes half of them",
            "fewer couplings, or a flow over a smaller set of numbers (Krueger et al. use the weight-norm scales)",
        )
        if n_couplings and dim < 2:
            raise ValueError(f"n_couplings: a coupling needs at least 2 numbers to split, the target has {dim}")
        own = _parameters_of(init_from, spec)
        mu = torch.zeros(dim) if own is None else spec.flatten({n: own[n].float() for n in spec.names})
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
    def sigma(self) -> torch.Tensor:
        """``σ: [P]``, the per-weight scale of the base Gaussian."""
        return nn.functional.softplus(self.rho)

    def transform(self, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``ε: [S, P] → (θ: [S, P], log q(θ): [S])``, the flat weights and their exact log-density."""
        _check_flat("eps", eps, self.z_dim)
        log_q = -0.5 * eps.pow(2).sum(-1) - self.z_dim * _HALF_LOG_2PI
        u = eps
        for coupling in self.couplings:
            u, log_det = coupling(u)
            log_q = log_q - log_det
        sigma = self.sigma
        return self.mu + sigma * u, log_q - torch.log(sigma).sum()

    def generate(self, eps: torch.Tensor) -> Params:
        return self.spec.split(self.transform(eps)[0])

    # -- what the ELBO needs (shared with WeightNormFlowHyperNetwork) -------------------------

    @property
    def prior_spec(self) -> TargetSpec:
        """The shapes of the random numbers ``u`` that ``q`` is a density over: here all of ``θ``."""
        return self.spec

    def latent(self, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``ε: [S, z_dim] → (u: [S, D], log q(u): [S])``; here ``u = θ`` (same as :meth:`transform`)."""
        return self.transform(eps)

    def weights_from(self, u: torch.Tensor) -> torch.Tensor:
        """``u: [S, D] → θ: [S, P]``, the target's flat weights; here the identity."""
        _check_flat("u", u, self.z_dim)
        return u

    def base_gaussian(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(μ, σ)``, each ``[D]``: with ``n_couplings=0`` the whole of ``q`` is ``N(μ, diag σ²)``."""
        return self.mu, self.sigma

    def log_prob(self, theta: torch.Tensor) -> torch.Tensor:
        """Exact ``log q(θ)`` for flat weights ``θ: [S, P]`` (runs the flow backwards)."""
        _check_flat("theta", theta, self.z_dim)
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
        eps = torch.randn(n_samples, self.z_dim, generator=generator).to(self.mu)
        theta, log_q = self.transform(eps)
        return self.spec.split(theta), log_q


class WeightNormFlowHyperNetwork(HyperNetBase):
    """Krueger et al.'s scalable Bayesian hypernetwork: a flow over the weight-norm scales only.

    Every weight tensor of the target (2-D or more; its first dimension indexes the units) is written
    row by row as ``w_j = g_j · v_j / ‖v_j‖``. The scales ``g`` (one per unit, ``U`` in all) are random,
    ``g = μ + σ ⊙ f_K ∘ … ∘ f_1(ε)`` with the same affine couplings as :class:`FlowHyperNetwork`, so
    ``log q(g)`` is exact. The directions ``v`` and every 1-D tensor (the biases) are point estimates:
    trained on the same objective but carrying no uncertainty and paying no KL. The noise has ``d_ε = U``
    numbers instead of ``P``.

    Args:
        spec: the target's parameters (from :func:`hypernet_lib.describe`).
        z_dim: ``d_ε``; must be ``U``, the number of units (``None``: ``U``).
        n_couplings, hidden, init_std, generator: as for :class:`FlowHyperNetwork`, on the scales.
        init_from: a module shaped like the target: ``v`` and the biases start at its parameters and
            ``μ`` at its row norms, so the mean network starts as that module. Otherwise ``v`` is drawn
            from ``N(0, 1/fan_in)`` (with ``generator``), ``μ = 1`` and the biases are zero.

    Call: ``ε: [S, U] → {name: [S, *shape]}``. :meth:`latent` gives ``(g, log q(g))``, :meth:`weights_from`
    the flat weights; ``prior_spec`` describes ``g`` (one 1-D tensor per weight tensor, named like it).
    """

    def __init__(
        self,
        spec: TargetSpec,
        z_dim: int | None = None,
        *,
        n_couplings: int = 2,
        hidden: Sequence[int] = (64,),
        init_from: nn.Module | None = None,
        init_std: float = 1e-2,
        generator: torch.Generator | None = None,
    ):
        spec = check_spec(spec)
        scaled = [p for p in spec.params if len(p.shape) >= 2 and not p.is_bias]
        if not scaled:
            raise ValueError("spec: expected at least one weight tensor (2-D or more) to put scales on, got none")
        units = sum(p.shape[0] for p in scaled)
        if z_dim is not None and z_dim != units:
            raise ValueError(
                f"z_dim: the noise drives one scale per unit, so d_ε must be U = {units} (or None), got {z_dim!r}"
            )
        super().__init__(spec, units, init="default")
        # fan_in 1 gives each scale the prior N(0, 1): a row of N(0, 1/fan_in) weights has norm ≈ 1.
        self._prior_spec = TargetSpec(ParamInfo(p.name, (p.shape[0],), 1, 1, False) for p in scaled)
        self.scaled = tuple(p.name for p in scaled)
        own = _parameters_of(init_from, spec)
        directions, fixed, norms = [], [], []
        for p in spec.params:
            if p.name in self.scaled:
                v = own[p.name].float() if own else torch.randn(p.shape, generator=generator)
                if not own:
                    v /= math.sqrt(p.fan_in)
                directions.append(nn.Parameter(v))
                norms.append(v.flatten(1).norm(dim=1))
            else:
                fixed.append(nn.Parameter(own[p.name].float() if own else torch.zeros(p.shape)))
        self.directions = nn.ParameterList(directions)
        self.fixed = nn.ParameterList(fixed)
        self.scales = FlowHyperNetwork(
            self._prior_spec, n_couplings=n_couplings, hidden=hidden, init_std=init_std, generator=generator
        )
        with torch.no_grad():
            self.scales.mu.copy_(torch.cat(norms) if own else torch.ones(units))

    @property
    def prior_spec(self) -> TargetSpec:
        """The shapes of the random scales ``g``: one ``[units]`` tensor per weight tensor, named like it."""
        return self._prior_spec

    def latent(self, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``ε: [S, U] → (g: [S, U], log q(g): [S])``, the scales and their exact log-density."""
        return self.scales.transform(eps)

    def weights_from(self, g: torch.Tensor) -> torch.Tensor:
        """``g: [S, U] → θ: [S, P]``: each weight row is ``g_j v_j / ‖v_j‖``; biases are the point estimates."""
        _check_flat("g", g, self.z_dim)
        scales = self._prior_spec.split(g)
        directions, fixed = iter(self.directions), iter(self.fixed)
        parts = []
        for p in self.spec.params:
            if p.name in self.scaled:
                v = next(directions)
                unit = v / v.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (v.dim() - 1))
                w = scales[p.name].view(*g.shape[:-1], -1, *[1] * (v.dim() - 1)) * unit
            else:
                w = next(fixed).expand(*g.shape[:-1], *p.shape)
            parts.append(w.reshape(*g.shape[:-1], p.numel))
        return torch.cat(parts, dim=-1)

    def base_gaussian(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(μ, σ)`` of the scales, each ``[U]``: with ``n_couplings=0``, ``q(g) = N(μ, diag σ²)``."""
        return self.scales.mu, self.scales.sigma

    @property
    def couplings(self) -> nn.ModuleList:
        return self.scales.couplings

    def transform(self, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``ε: [S, U] → (θ: [S, P], log q(g): [S])``: flat weights, and the density of the scales that made them."""
        g, log_q = self.latent(eps)
        return self.weights_from(g), log_q

    def generate(self, eps: torch.Tensor) -> Params:
        return self.spec.split(self.transform(eps)[0])

    def sample(
        self, n_samples: int, generator: torch.Generator | None = None
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Draw ``n_samples`` networks: ``({name: [S, *shape]}, log q(g): [S])`` (``ε`` drawn on the CPU)."""
        n_samples = require_positive_int("n_samples", n_samples)
        eps = torch.randn(n_samples, self.z_dim, generator=generator).to(self.scales.mu)
        theta, log_q = self.transform(eps)
        return self.spec.split(theta), log_q


def _parameters_of(init_from: nn.Module | None, spec: TargetSpec) -> dict[str, torch.Tensor] | None:
    """``init_from``'s parameters as detached CPU copies (``None`` for ``None``), checked against ``spec``."""
    if init_from is None:
        return None
    if not isinstance(init_from, nn.Module):
        raise TypeError(f"init_from: expected an nn.Module shaped like the target, got {type(init_from).__name__}")
    own = {n: p.detach().cpu().clone() for n, p in init_from.named_parameters()}
    missing = [n for n in spec.names if n not in own]
    if missing:
        raise ValueError(f"init_from: has no parameters {missing}; expected a module shaped like the target")
    return own


def _check_flat(name: str, t: torch.Tensor, dim: int) -> None:
    require_float(name, t)
    require_dims(name, t, (1, 2), f"[{dim}] or [S, {dim}]")
    if t.shape[-1] != dim:
        raise ValueError(f"{name}: expected last dimension {dim} (the target's parameter count), got {list(t.shape)}")
