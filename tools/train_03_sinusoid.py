"""Meta-train lecture 03's sinusoid models and save small checkpoints under checkpoints/.

    python tools/train_03_sinusoid.py --method maml --k 5          # one model
    python tools/train_03_sinusoid.py --all                          # every model the lecture loads

MAML's setup (Finn et al. 2017, section 5.1): target 1-40-40-1 ReLU MLP, K support and K query
points per task, meta-batch 25 tasks, one inner step with alpha = 0.01 during meta-training, Adam
with learning rate 1e-3. The paper meta-trains for 70,000 iterations; on a shared 2-core CPU we
run fewer (``--iters``, default below) and the lecture says so next to the numbers.

Methods:
  maml      second-order MAML (meta-gradient through the inner step)
  fomaml    first-order MAML (inner gradients treated as constants)
  hypernet  set encoder over (x, y) pairs -> z -> hypernetwork -> all 1,761 target weights,
            trained on the same task stream to minimise the query MSE of the generated target

Each checkpoint is a plain dict of tensors and numbers (loads with ``weights_only=True``):
``state`` (state_dict), ``config`` (everything needed to rebuild the model), ``log``
(validation MSE during training) and ``seconds`` (wall time of training).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hypernet_lib import (
    HyperNetwork,
    SetHyperNetwork,
    describe,
    functional_forward,
    hyperfan_init_,
    sample_sinusoids,
    seed_everything,
)
from hypernet_lib.apps.maml import MAML, query_losses
from hypernet_lib.hypernets import SetEncoder

ROOT = Path(__file__).resolve().parents[1]
META_BATCH = 25
INNER_LR = 0.01
META_LR = 1e-3
DEFAULT_ITERS = {"maml": 15_000, "fomaml": 15_000, "hypernet": 15_000}
Z_DIM, ENC_HIDDEN, HYPER_HIDDEN = 64, 64, 64


def sine_target() -> nn.Module:
    """MAML's regressor: 1 -> 40 -> 40 -> 1 with ReLU."""
    return nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1))


def build(method: str, config: dict | None = None) -> nn.Module:
    """The untrained model for ``method`` (the lecture rebuilds checkpoints with this too)."""
    config = config or {}
    target = sine_target()
    if method in ("maml", "fomaml"):
        return MAML(target, inner_lr=INNER_LR, inner_steps=1, first_order=method == "fomaml")
    if method == "hypernet":
        z_dim = config.get("z_dim", Z_DIM)
        enc = SetEncoder(2, z_dim, (ENC_HIDDEN, ENC_HIDDEN))
        return SetHyperNetwork(enc, HyperNetwork(describe(target), z_dim, hidden=(HYPER_HIDDEN,)))
    raise ValueError(f"method: expected 'maml', 'fomaml' or 'hypernet', got {method!r}")


def validation_mse(method: str, model: nn.Module, tasks, target: nn.Module) -> float:
    """Query MSE on fixed validation tasks: MAML after 10 steps, the hypernetwork after none."""
    with torch.no_grad():
        if method == "hypernet":
            params = model(tasks.x_support, tasks.y_support)
        else:
            params = model.adapt(tasks.x_support, tasks.y_support, n_steps=10)
        return float(query_losses(target, params, tasks.x_query, tasks.y_query).mean())


def train(method: str, k: int, iters: int, seed: int = 0, log_every: int = 500) -> dict:
    gen = seed_everything(seed)
    model = build(method)
    target = model.target if method != "hypernet" else sine_target()
    if method == "hypernet":
        # Hyperfan-in for the embeddings the encoder actually produces (not N(0, I)).
        with torch.no_grad():
            probe = sample_sinusoids(1000, k, 1, generator=gen)
            hyperfan_init_(model.hypernet, z_sample=model.embed(probe.x_support, probe.y_support))
    val = sample_sinusoids(200, k, 100, generator=torch.Generator().manual_seed(10_000 + k))
    opt = torch.optim.Adam(model.parameters(), lr=META_LR)
    log: list[list[float]] = []
    start = time.perf_counter()
    for it in range(iters):
        b = sample_sinusoids(META_BATCH, k, k, generator=gen)
        if method == "hypernet":
            params = model(b.x_support, b.y_support)
            loss = F.mse_loss(functional_forward(target, params, b.x_query), b.y_query)
        else:
            loss = model.meta_loss(b.x_support, b.y_support, b.x_query, b.y_query)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it % log_every == 0 or it == iters - 1:
            mse = validation_mse(method, model, val, target)
            log.append([it, float(loss.detach()), mse])
            print(
                f"{method} K={k} it {it:6d}  train {float(loss.detach()):.3f}  val {mse:.3f}  "
                f"{time.perf_counter() - start:7.1f}s",
                flush=True,
            )
    seconds = time.perf_counter() - start
    config = {
        "method": method,
        "k": k,
        "iters": iters,
        "meta_batch": META_BATCH,
        "inner_lr": INNER_LR,
        "meta_lr": META_LR,
        "seed": seed,
        "z_dim": Z_DIM,
    }
    return {"state": model.state_dict(), "config": config, "log": torch.tensor(log), "seconds": seconds}


def checkpoint_path(method: str, k: int) -> Path:
    return ROOT / "checkpoints" / f"03_sinusoid_{method}_k{k}.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", choices=["maml", "fomaml", "hypernet"])
    parser.add_argument("--k", type=int, choices=[5, 10], default=5)
    parser.add_argument("--iters", type=int, default=None)
    parser.add_argument("--all", action="store_true", help="train every model the lecture loads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # Tiny networks: a second thread costs more in synchronisation than it saves.
    torch.set_num_threads(1)
    jobs = [(m, k) for m in ("maml", "hypernet", "fomaml") for k in (5, 10)] if args.all else [(args.method, args.k)]
    if not args.all and args.method is None:
        parser.error("give --method (and --k) or --all")
    for method, k in jobs:
        ckpt = train(method, k, args.iters or DEFAULT_ITERS[method], seed=args.seed)
        path = checkpoint_path(method, k)
        path.parent.mkdir(exist_ok=True)
        torch.save(ckpt, path)
        print(f"saved {path.relative_to(ROOT)} ({path.stat().st_size / 1e3:.0f} kB, {ckpt['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
