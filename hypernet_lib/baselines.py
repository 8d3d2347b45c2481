"""The baselines a Bayesian hypernetwork must beat, on the same target network.

* Deep ensemble (Lakshminarayanan, Pritzel & Blundell 2017): ``M`` copies of the target, each
  initialised independently and trained on its own shuffling of the data. The members are
  stacked into ``[M, *shape]`` tensors and trained *batched*: one vectorised forward
  (:func:`hypernet_lib.functional_forward`) and one optimizer for all of them.
* MC dropout (Gal & Ghahramani 2016): train the target with dropout, keep dropout *on* at test
  time, and treat each dropout mask as a weight sample (:func:`dropout_weight_samples` makes
  that literal: a mask on a layer's inputs is a mask on the next weight matrix's columns).

``mlp`` builds the target so that it has the same parameter names with and without dropout:
the three methods then share one :class:`~hypernet_lib.TargetSpec`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from ._checks import require_float, require_positive_int, require_tensor
from .bayes import Likelihood, cosine_schedule, forward_samples, log_likelihood, minibatch_indices
from .target import describe, functional_forward
from .train import fit

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "silu": nn.SiLU}


def mlp(widths: Sequence[int], activation: str = "relu", dropout: float = 0.0) -> nn.Sequential:
    """``Linear → act → Dropout(p)`` per hidden layer, then a final ``Linear``.

    ``widths = (d_in, h_1, …, d_out)``. The ``Dropout`` layers are always there (identity at
    ``p = 0``) so the parameter names, e.g. ``"0.weight"``, ``"3.weight"``, never depend on ``p``.
    """
    widths = [require_positive_int("widths", w) for w in widths]
    if len(widths) < 2:
        raise ValueError(f"widths: expected at least (d_in, d_out), got {widths}")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation: expected one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
    layers: list[nn.Module] = []
    for w_in, w_out in zip(widths[:-2], widths[1:-1]):
        layers += [nn.Linear(w_in, w_out), _ACTIVATIONS[activation](), nn.Dropout(dropout)]
    layers.append(nn.Linear(widths[-2], widths[-1]))
    return nn.Sequential(*layers)


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


def fit_ensemble(
    ensemble: DeepEnsemble,
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
    progress: bool = True,
) -> list[float]:
    """Train all members at once with Adam; return the mean member loss (NLL per point) every 10th step.

    ``cosine``: decay the learning rate to zero over ``n_steps`` (as :func:`~hypernet_lib.bayes.fit_bayes_hypernet`).
    The loss is the *sum* of the members' mean losses, so each member's gradient is exactly the
    one it would get if trained alone. With ``batch_size`` each member draws its own minibatch.
    """
    if not isinstance(ensemble, DeepEnsemble):
        raise TypeError(f"ensemble: expected a DeepEnsemble, got {type(ensemble).__name__}")
    _check_xy(x, y)
    opt = torch.optim.AdamW(ensemble.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = cosine_schedule(opt, n_steps, cosine)
    n_data, n_members = x.shape[0], ensemble.n_members

    def step(_: int) -> torch.Tensor:
        idx = torch.stack([minibatch_indices(n_data, batch_size, generator) for _ in range(n_members)]).to(x.device)
        outputs = functional_forward(ensemble.target, ensemble.members(), x[idx])  # [M, B, ...]
        loss = -log_likelihood(outputs, y[idx], likelihood, noise_std).sum() / idx.shape[1]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        return loss.detach() / n_members

    return fit(step, n_steps, desc="deep ensemble", log_every=10, progress=progress)


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


def fit_mc_dropout(
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
    progress: bool = True,
) -> list[float]:
    """Ordinary dropout training (AdamW with ``weight_decay``); return the NLL per point every 10th step.

    ``cosine``: decay the learning rate to zero over ``n_steps`` (as :func:`~hypernet_lib.bayes.fit_bayes_hypernet`).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    _check_xy(x, y)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = cosine_schedule(opt, n_steps, cosine)
    n_data = x.shape[0]
    model.train()

    def step(_: int) -> torch.Tensor:
        idx = minibatch_indices(n_data, batch_size, generator).to(x.device)
        outputs = model(x[idx])[None]
        loss = -log_likelihood(outputs, y[idx], likelihood, noise_std)[0] / idx.numel()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        return loss.detach()

    losses = fit(step, n_steps, desc="MC dropout", log_every=10, progress=progress)
    model.eval()
    return losses


def _check_xy(x: torch.Tensor, y: torch.Tensor) -> None:
    require_float("x", x)
    require_tensor("y", y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x, y: expected the same number of points, got {x.shape[0]} and {y.shape[0]}")
