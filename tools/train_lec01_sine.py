"""Train lecture 01's sine hypernetwork: z = encoded (amplitude, phase) → the weights of a 1-40-40-1 ReLU net.

    PYTHONPATH=$PWD python tools/train_lec01_sine.py     # a few minutes on a 2-core CPU

Tasks follow MAML's sinusoid setup (``hypernet_lib.sample_sinusoids``: amplitude in [0.1, 5],
phase in [0, π], x in [-5, 5]). The hypernetwork reads the task's (amplitude, phase) itself,
rescaled to u, v in [0, 1] and encoded as z = (u, v, 1 - u, 1 - v), whose norm barely varies
between tasks (``embed``; lecture 01, section 4, shows why), and is trained on the mean squared
error of the generated network on the task's points. Writes ``checkpoints/lec01_sine.pt``
(``state_dict`` plus settings; load with ``torch.load(..., weights_only=True)``).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from hypernet_lib import (
    HyperNetwork,
    default_device,
    describe,
    functional_forward,
    sample_sinusoids,
    seed_everything,
)
from hypernet_lib.data import AMPLITUDE_RANGE, PHASE_RANGE

OUT = Path(__file__).resolve().parents[1] / "checkpoints" / "lec01_sine.pt"
STEPS = 6000
TASKS_PER_STEP = 32
POINTS_PER_TASK = 50
LR = 1e-3


def build() -> tuple[nn.Module, HyperNetwork]:
    """The target and the hypernetwork, exactly as lecture 01 builds them (PyTorch's default init, see §4)."""
    target = nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1))
    hnet = HyperNetwork(describe(target), z_dim=4, hidden=(64, 64), init="default")
    return target, hnet


def embed(amplitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """``amplitude, phase: [B]`` → ``z = (u, v, 1 - u, 1 - v): [B, 4]``, u and v the two rescaled to [0, 1]."""
    u = (amplitude - AMPLITUDE_RANGE[0]) / (AMPLITUDE_RANGE[1] - AMPLITUDE_RANGE[0])
    v = (phase - PHASE_RANGE[0]) / (PHASE_RANGE[1] - PHASE_RANGE[0])
    uv = torch.stack([u, v], dim=-1)
    return torch.cat([uv, 1 - uv], dim=-1)


def main() -> None:
    gen = seed_everything(0)
    device = default_device()
    target, hnet = build()
    target, hnet = target.to(device), hnet.to(device)
    opt = torch.optim.Adam(hnet.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, STEPS)
    start = time.perf_counter()
    for step in range(STEPS):
        tasks = sample_sinusoids(TASKS_PER_STEP, POINTS_PER_TASK, 1, generator=gen, device=device)
        pred = functional_forward(target, hnet(embed(tasks.amplitude, tasks.phase)), tasks.x_support)
        loss = (pred - tasks.y_support).pow(2).mean()
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
