"""Lecture 01's sine hypernetwork: z = encoded (amplitude, phase) → every weight of a 1-40-40-1 ReLU network.

python -m course.lec01_first_principles     # retrain checkpoints/01_sine.pt (see ESTIMATE)

The tasks are MAML's sinusoids (``hypernet_lib.sample_sinusoids``: y = A sin(x − φ), amplitude A in [0.1, 5],
phase φ in [0, π], x in [-5, 5]). The hypernetwork is told the task: A and φ, rescaled to u, v in [0, 1],
are encoded as z = (cos πu/2, cos πv/2, sin πu/2, sin πv/2), whose L2 norm is √2 for every task (``embed``;
lecture 01, section 4b, shows why the L2 norm is the one that matters). It is trained on the mean squared
error of the generated network on each task's points (``fit_sine``, which the lecture also runs live).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from hypernet_lib import HyperNetwork, default_device, describe, fit, functional_forward, mlp, sample_sinusoids
from hypernet_lib._checks import require_float, require_positive_int
from hypernet_lib.checkpoints import load_or_train as _load_or_train
from hypernet_lib.data import AMPLITUDE_RANGE, PHASE_RANGE
from hypernet_lib.train import cosine_schedule, optimizer_step

from . import retrain_main

RECIPE, NAME = "course.lec01_first_principles", "01_sine.pt"
ESTIMATE = "one to three minutes on 2 CPU cores"
CONFIG: dict[str, Any] = {
    "target_hidden": (40, 40),  # MAML's sine network: 1-40-40-1, ReLU
    "hidden": (64, 64),  # the hypernetwork's trunk
    "init": "default",  # PyTorch's own init (lecture 01, section 4c)
    "encoding": "cos|sin",  # see embed
    "n_steps": 6000,
    "tasks_per_step": 32,
    "points_per_task": 50,
    "lr": 1e-3,
    "cosine": True,  # the learning rate decays to 0 on a cosine over n_steps
    "seed": 0,
}
Z_DIM = 4


def build_target(config: Mapping[str, Any] = CONFIG) -> nn.Module:
    """The target ``1 → hidden… → 1`` with ReLUs (its own weights are never used: the hypernetwork writes them)."""
    return mlp((1, *config["target_hidden"], 1))


def build(config: Mapping[str, Any] = CONFIG) -> tuple[nn.Module, HyperNetwork]:
    """The target and the untrained hypernetwork ``z: [B, 4] → {name: [B, *shape]}``, exactly as trained."""
    if config["encoding"] != "cos|sin":
        raise ValueError(f"config['encoding']: expected 'cos|sin' (the one embed computes), got {config['encoding']!r}")
    target = build_target(config)
    hnet = HyperNetwork(describe(target), z_dim=Z_DIM, hidden=tuple(config["hidden"]), init=config["init"])
    return target, hnet


def rescale(amplitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """``amplitude, phase: [B]`` → ``(u, v): [B, 2]``, each rescaled from its task range to [0, 1]."""
    require_float("amplitude", amplitude)
    require_float("phase", phase)
    if amplitude.shape != phase.shape or amplitude.dim() != 1:
        raise ValueError(
            f"amplitude, phase: expected two 1-d tensors of the same length [B], "
            f"got {list(amplitude.shape)} and {list(phase.shape)}"
        )
    if not bool(torch.isfinite(amplitude).all() & torch.isfinite(phase).all()):
        raise ValueError("amplitude, phase: contain NaN or inf; every task needs a finite amplitude and phase")
    u = (amplitude - AMPLITUDE_RANGE[0]) / (AMPLITUDE_RANGE[1] - AMPLITUDE_RANGE[0])
    v = (phase - PHASE_RANGE[0]) / (PHASE_RANGE[1] - PHASE_RANGE[0])
    return torch.stack([u, v], dim=-1)


def embed(amplitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """``amplitude, phase: [B]`` → ``z = (cos πu/2, cos πv/2, sin πu/2, sin πv/2): [B, 4]``, with ``|z|₂ = √2``.

    The cos/sin encoding of Gonzalez Ortiz et al. (ICLR 2024), the default of their ``hyperlight`` library.
    Values outside the task ranges are encoded too (the norm stays √2): the hypernetwork was not trained there.
    """
    angle = (math.pi / 2) * rescale(amplitude, phase)
    return torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1)


def fit_sine(
    hnet: nn.Module,
    target: nn.Module,
    n_steps: int,
    *,
    lr: float,
    tasks_per_step: int,
    points_per_task: int,
    seed: int,
    encode: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = embed,
    cosine: bool = False,
    desc: str = "sine hypernetwork",
    progress: bool | None = None,
) -> list[float]:
    """Adam on the mean squared error of the generated networks on fresh sine tasks every step (lecture 01).

    Each step draws ``tasks_per_step`` tasks of ``points_per_task`` points (from a generator seeded with
    ``seed``), encodes each task's ``(amplitude, phase)`` with ``encode`` (``[B], [B] → [B, d_z]``), and
    runs the target with the generated weights. Trains ``hnet`` in place on its own device; returns the
    loss of every step.
    """
    if not isinstance(hnet, nn.Module) or next(iter(hnet.parameters()), None) is None:
        raise TypeError(f"hnet: expected a hypernetwork (an nn.Module with parameters), got {type(hnet).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int (it seeds the tasks drawn each step), got {type(seed).__name__}")
    if isinstance(lr, bool) or not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr: expected a positive finite learning rate such as 1e-3, got {lr!r}")
    tasks_per_step = require_positive_int("tasks_per_step", tasks_per_step)
    points_per_task = require_positive_int("points_per_task", points_per_task)
    if not callable(encode):
        raise TypeError(f"encode: expected a function (amplitude, phase) -> z, got {type(encode).__name__}")
    device = next(hnet.parameters()).device
    opt = torch.optim.Adam(hnet.parameters(), lr=lr)
    schedule = cosine_schedule(opt, n_steps, cosine)
    tasks = torch.Generator().manual_seed(seed)

    def step(_: int) -> torch.Tensor:
        t = sample_sinusoids(tasks_per_step, points_per_task, 1, generator=tasks, device=device)
        pred = functional_forward(target, hnet(encode(t.amplitude, t.phase)), t.x_support)
        loss = (pred - t.y_support).pow(2).mean()
        return optimizer_step(opt, loss, schedule)

    return fit(step, n_steps, desc=desc, progress=progress)


def train(config: Mapping[str, Any] = CONFIG) -> dict[str, Any]:
    """Train the hypernetwork of ``build(config)`` with ``fit_sine``; the payload is its weights and losses."""
    torch.manual_seed(config["seed"])  # the hypernetwork's initial weights
    target, hnet = build(config)
    hnet = hnet.to(default_device())
    losses = fit_sine(
        hnet,
        target,
        config["n_steps"],
        lr=config["lr"],
        tasks_per_step=config["tasks_per_step"],
        points_per_task=config["points_per_task"],
        seed=config["seed"],
        cosine=config["cosine"],
        desc="lecture 01 sine hypernetwork",
    )
    return {
        "state": {k: v.detach().cpu() for k, v in hnet.state_dict().items()},
        "losses": torch.tensor(losses),
    }


def load_or_train(config: Mapping[str, Any] = CONFIG) -> tuple[nn.Module, HyperNetwork]:
    """The target and the trained hypernetwork (from ``checkpoints/01_sine.pt`` when it matches ``config``)."""
    payload = _load_or_train(NAME, config, train, recipe=RECIPE, keys=("state", "losses"), estimate=ESTIMATE)
    target, hnet = build(config)
    hnet.load_state_dict(payload["state"])
    return target, hnet.eval()


if __name__ == "__main__":
    retrain_main(NAME, CONFIG, train, RECIPE, __doc__)
