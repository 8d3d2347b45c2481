"""Train lecture 00's demo: a tiny hypernetwork, frequency ω → the weights of a 1-32-32-1 net drawing sin(ωx).

    PYTHONPATH=$PWD python tools/train_lec00_demo.py     # a minute or two on a 2-core CPU

Writes ``checkpoints/lec00_frequency.pt`` (the hypernetwork's ``state_dict`` plus the training
settings, loadable with ``torch.load(..., weights_only=True)``). Lecture 00 builds the same
architecture and loads it.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from torch import nn

from hypernet_lib import HyperNetwork, default_device, describe, functional_forward, seed_everything

OUT = Path(__file__).resolve().parents[1] / "checkpoints" / "lec00_frequency.pt"
OMEGA_RANGE = (0.5, 2.0)  # the slider's range
X_RANGE = (-math.pi, math.pi)
STEPS = 1500
TASKS_PER_STEP = 16
POINTS_PER_TASK = 64
LR = 3e-3


def build() -> tuple[nn.Module, HyperNetwork]:
    """The target and the hypernetwork, exactly as lecture 00 builds them."""
    target = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
    hnet = HyperNetwork(describe(target), z_dim=1, hidden=(32, 32), gain=1.0)
    return target, hnet


def embed(omega: torch.Tensor) -> torch.Tensor:
    """ω in OMEGA_RANGE → z in [-1, 1]: ``[B] → [B, 1]``."""
    lo, hi = OMEGA_RANGE
    return (2 * (omega - lo) / (hi - lo) - 1).unsqueeze(-1)


def main() -> None:
    gen = seed_everything(0)
    device = default_device()
    target, hnet = build()
    target, hnet = target.to(device), hnet.to(device)
    opt = torch.optim.Adam(hnet.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, STEPS)
    start = time.perf_counter()
    for step in range(STEPS):
        omega = OMEGA_RANGE[0] + (OMEGA_RANGE[1] - OMEGA_RANGE[0]) * torch.rand(TASKS_PER_STEP, generator=gen)
        x = X_RANGE[0] + (X_RANGE[1] - X_RANGE[0]) * torch.rand(TASKS_PER_STEP, POINTS_PER_TASK, 1, generator=gen)
        y = torch.sin(omega.view(-1, 1, 1) * x)
        omega, x, y = omega.to(device), x.to(device), y.to(device)
        loss = (functional_forward(target, hnet(embed(omega)), x) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == STEPS - 1:
            print(f"step {step:5d}  mse {loss.item():.5f}  ({time.perf_counter() - start:.0f} s)", flush=True)
    state = {k: v.detach().cpu() for k, v in hnet.state_dict().items()}
    OUT.parent.mkdir(exist_ok=True)
    torch.save({"state_dict": state, "steps": STEPS, "lr": LR, "final_mse": float(loss)}, OUT)
    print(f"saved {OUT} ({OUT.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
