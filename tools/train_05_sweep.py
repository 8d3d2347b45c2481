"""Train lecture 05's sweep: full, chunked and low-rank hypernetworks at several sizes, three seeds each.

    python tools/train_05_sweep.py --family full        # then --family lowrank, --family chunked
    python tools/train_05_sweep.py --family lowrank --steps 2000   # longer training

The task is lecture 01's: MAML's sine regression (amplitude in [0.1, 5], phase in [0, π],
x in [-5, 5]), the hypernetwork reads the task's (amplitude, phase), normalised, and writes every
weight of a 1-40-40-1 ReLU network; loss: mean squared error on 50 points per task, 32 tasks per
step, Adam (learning rate 3e-3, cosine decay), 800 steps. Each family is swept over its own size knob:

  full      HyperNetwork, trunk 2 → 32 → d (ReLU), head d → P           d ∈ {4, 16}
  lowrank   LowRankHyperNet, trunk 2 → 32 → 16, factors of rank r       r ∈ {1, 4, 16}
  chunked   ChunkedHyperNet, chunk embeddings of 8, generator 10 → 32 → S   S ∈ {25, 250}

The three seeds of one configuration train together as one batched model (``torch.func.vmap``
over stacked parameters; Adam is element-wise, so this is exactly three independent runs).
The notebook rebuilds each model with ``build``, loads its weights and measures its test error
live. Checkpoints: ``checkpoints/05_sweep_<family>.pt``, a plain dict (``weights_only=True``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from hypernet_lib import (
    ChunkedHyperNet,
    HyperNetwork,
    LowRankHyperNet,
    default_device,
    describe,
    functional_forward,
    sample_sinusoids,
)
from hypernet_lib.data import AMPLITUDE_RANGE, PHASE_RANGE

ROOT = Path(__file__).resolve().parents[1]
KNOBS = {"full": (4, 16), "lowrank": (1, 4, 16), "chunked": (25, 250)}
SEEDS = (0, 1, 2)
TASKS, POINTS, LR = 32, 50, 3e-3
# lecture 01's normalisation of (amplitude, phase): the uniform distributions' mean and std
Z_MEAN = torch.tensor([sum(AMPLITUDE_RANGE) / 2, sum(PHASE_RANGE) / 2])
Z_STD = torch.tensor([AMPLITUDE_RANGE[1] - AMPLITUDE_RANGE[0], PHASE_RANGE[1] - PHASE_RANGE[0]]) / 12**0.5


def sine_target() -> nn.Module:
    return nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1))


def embed(amplitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """``amplitude, phase: [B]`` → ``z: [B, 2]``, zero mean and unit variance over the task distribution."""
    raw = torch.stack([amplitude, phase], dim=-1)
    return (raw - Z_MEAN.to(raw)) / Z_STD.to(raw)


def build(family: str, knob: int, seed: int) -> nn.Module:
    """The hypernetwork of one sweep point, initialized from ``seed``."""
    spec = describe(sine_target())
    torch.manual_seed(seed)
    if family == "full":
        return HyperNetwork(spec, z_dim=2, hidden=(32, knob))
    if family == "lowrank":
        return LowRankHyperNet(spec, z_dim=2, rank=knob, hidden=(32, 16))
    if family == "chunked":
        return ChunkedHyperNet(spec, z_dim=2, chunk_size=knob, chunk_dim=8, hidden=(32,))
    raise ValueError(f"family: expected one of {list(KNOBS)}, got {family!r}")


def train_seeds(family: str, knob: int, steps: int, device: torch.device) -> tuple[list[dict], list[float]]:
    """Train the three seeds of one configuration together; return their state dicts and final losses."""
    target = sine_target().to(device)
    models = [build(family, knob, s).to(device) for s in SEEDS]
    # Parameters and seed-dependent buffers (the chunked init's scale) are stacked; index buffers are shared.
    params, _ = stack_module_state(models)
    buffers = {
        k: torch.stack([dict(m.named_buffers())[k] for m in models]) for k in ("scale",) if hasattr(models[0], k)
    }
    template = models[0]

    def loss_one(p, b, z, x, y):
        generated = functional_call(template, {**p, **b}, (z,), strict=False)
        return (functional_forward(target, generated, x) - y).pow(2).mean()

    batched_loss = vmap(loss_one)
    opt = torch.optim.Adam(params.values(), lr=LR)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(1000 + knob)
    n = len(SEEDS)
    for _ in range(steps):
        t = sample_sinusoids(n * TASKS, POINTS, 1, generator=gen, device=device)
        z = embed(t.amplitude, t.phase).view(n, TASKS, 2)
        losses = batched_loss(
            params, buffers, z, t.x_support.view(n, TASKS, POINTS, 1), t.y_support.view(n, TASKS, POINTS, 1)
        )
        opt.zero_grad()
        losses.sum().backward()
        opt.step()
        schedule.step()
    states = []
    for i, model in enumerate(models):
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        state.update({k: params[k][i].detach().cpu() for k in state if k in params})
        state.update({k: buffers[k][i].detach().cpu() for k in state if k in buffers})
        states.append(state)
    return states, [float(v) for v in losses.detach()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--family", choices=list(KNOBS), required=True)
    ap.add_argument("--out", type=Path, default=None, help="default: checkpoints/05_sweep_<family>.pt")
    args = ap.parse_args()
    args.out = args.out or ROOT / "checkpoints" / f"05_sweep_{args.family}.pt"
    device = default_device()
    ckpt: dict = {"steps": args.steps, "seeds": list(SEEDS), "models": {}}
    for family in (args.family,):
        knobs = KNOBS[family]
        ckpt["models"][family] = {}
        for knob in knobs:
            start = time.time()
            states, losses = train_seeds(family, knob, args.steps, device)
            ckpt["models"][family][knob] = states
            print(
                f"{family:8s} {knob:4d}  final train mse {[round(v, 4) for v in losses]}  ({time.time() - start:.0f} s)",
                flush=True,
            )
    args.out.parent.mkdir(exist_ok=True)
    torch.save(ckpt, args.out)
    print(f"saved {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
