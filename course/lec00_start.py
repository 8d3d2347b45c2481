"""Lecture 00's demo: a tiny hypernetwork, frequency ω → the weights of a 1-32-32-1 tanh net drawing sin(ωx).

python -m course.lec00_start        # retrain checkpoints/00_frequency.pt (a minute or two on 2 CPU cores)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hypernet_lib import HyperNetwork, default_device, describe, fit, functional_forward, seed_everything
from hypernet_lib.checkpoints import load_or_train as _load_or_train
from hypernet_lib.train import optimizer_step

from . import retrain_main

RECIPE, NAME = "course.lec00_start", "00_frequency.pt"
CONFIG: dict[str, Any] = {
    "omega_range": (0.5, 2.0),  # the slider's range
    "x_range": (-math.pi, math.pi),
    "hidden": (32, 32),
    "n_steps": 1500,
    "tasks_per_step": 16,
    "points_per_task": 64,
    "lr": 3e-3,
    "seed": 0,
}


def build(config: Mapping[str, Any] = CONFIG) -> tuple[nn.Module, HyperNetwork]:
    """The target (a 1-32-32-1 tanh network) and the hypernetwork that writes all of its weights from ``z``."""
    target = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
    hnet = HyperNetwork(describe(target), z_dim=1, hidden=tuple(config["hidden"]), gain=1.0)
    return target, hnet


def embed(omega: torch.Tensor, config: Mapping[str, Any] = CONFIG) -> torch.Tensor:
    """ω → z in [-1, 1], the scale the hypernetwork was trained on: ``[B] → [B, 1]``."""
    lo, hi = config["omega_range"]
    return (2 * (omega - lo) / (hi - lo) - 1).unsqueeze(-1)


def train(config: Mapping[str, Any] = CONFIG) -> dict[str, Any]:
    """Fit the hypernetwork on random frequencies (mean squared error on random points, cosine schedule)."""
    gen = seed_everything(config["seed"])
    device = default_device()
    target, hnet = (m.to(device) for m in build(config))
    opt = torch.optim.Adam(hnet.parameters(), lr=config["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config["n_steps"])
    (w_lo, w_hi), (x_lo, x_hi) = config["omega_range"], config["x_range"]
    n, k = config["tasks_per_step"], config["points_per_task"]

    def step(_: int) -> torch.Tensor:
        omega = w_lo + (w_hi - w_lo) * torch.rand(n, generator=gen)
        x = x_lo + (x_hi - x_lo) * torch.rand(n, k, 1, generator=gen)
        omega, x = omega.to(device), x.to(device)
        loss = (
            (functional_forward(target, hnet(embed(omega, config)), x) - torch.sin(omega.view(-1, 1, 1) * x))
            .pow(2)
            .mean()
        )
        return optimizer_step(opt, loss, sched)

    losses = fit(step, config["n_steps"], desc="lecture 00 demo", log_every=50)
    return {"state": {k: v.detach().cpu() for k, v in hnet.state_dict().items()}, "final_mse": losses[-1]}


def load_or_train(config: Mapping[str, Any] = CONFIG) -> tuple[nn.Module, HyperNetwork]:
    """The target and the trained hypernetwork (from ``checkpoints/00_frequency.pt`` when it matches ``config``)."""
    payload = _load_or_train(NAME, config, train, recipe=RECIPE, keys=("state",), estimate="about a minute")
    target, hnet = build(config)
    hnet.load_state_dict(payload["state"])
    return target, hnet.eval()


if __name__ == "__main__":
    retrain_main(NAME, CONFIG, train, RECIPE, __doc__)
