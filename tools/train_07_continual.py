"""Lecture 07's multi-seed results: accuracy matrices on split digits for every method and seed.

    PYTHONPATH=$PWD python tools/train_07_continual.py      # about 2 minutes on a 2-core CPU

Split digits: 5 tasks of 2 classes ((0, 1), (2, 3), ...), 70/30 train/test per class, a different
split and initialization per seed. Methods, all on the same 64-32-32 ReLU target:

* ``hnet``: task-conditioned chunked hypernetwork with the output regularizer (von Oswald et al. 2020);
* ``hnet_beta0``: the same without the regularizer (ablation);
* ``finetune``: one network with one 2-way head per task, trained task after task;
* ``ewc_<λ>``: the same with the EWC penalty, for each ``λ`` in ``EWC_GRID`` (the lecture uses the best).

Writes ``checkpoints/07_continual.pt``: ``{"config": {...}, "R": {method: [seeds, T, T]},
"init_norm": {method: [seeds]}}``, load with ``torch.load(..., weights_only=True)``. ``init_norm`` is
the norm of all the learner's numbers *before* training, parameters and buffers (such as the chunked
hypernetwork's fixed output scales), in float64: lecture 07 rebuilds
seed 0's learners, checks that they start exactly where this file's did (so a change of the library's
initialization since the file was made is caught and named), then reruns seed 0 and compares.
Rerun this script whenever the library's initialization or training changes.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

from hypernet_lib import ChunkedHyperNet, default_device, describe, load_digits
from hypernet_lib.apps.continual import HyperNetLearner, SequentialLearner, accuracy_matrix, split_by_classes

OUT = Path(__file__).resolve().parents[1] / "checkpoints" / "07_continual.pt"
CONFIG = {
    "groups": ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9)),
    "test_fraction": 0.3,
    "hidden": 32,  # target: 64 → 32 → 32 → 2 (hypernetwork) or → 5·2 heads (baselines)
    "steps": 100,  # full-batch Adam steps per task
    "lr": 3e-3,
    "beta": 0.05,  # output regularizer strength
    "z_dim": 8,  # task embedding size
    "chunk_size": 256,
    "chunk_dim": 8,
    "hnet_hidden": 32,
    "ewc_grid": (10.0, 100.0, 1000.0, 10000.0),
    "seeds": (0, 1, 2, 3, 4),
}


def target(n_out: int, hidden: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, n_out)
    )


def init_norm(learner: nn.Module) -> float:
    """Norm of all the learner's floating-point state (parameters and buffers), in float64.

    Taken before training, a fingerprint of the initialization. Buffers count: the chunked
    hypernetwork's output scales are a buffer, and a change of them alone changes every generated weight.
    """
    state = [v.detach().double().flatten() for v in learner.state_dict().values() if v.is_floating_point()]
    return float(torch.cat(state).norm())


def run(method: str, seed: int, config: dict, device: torch.device) -> tuple[torch.Tensor, float]:
    """``method``'s ``[T, T]`` accuracy matrix on seed ``seed`` and its :func:`init_norm` (the same code as lecture 07)."""
    digits = load_digits(device)
    tasks = split_by_classes(
        digits.flat, digits.labels, config["groups"], config["test_fraction"], torch.Generator().manual_seed(seed)
    )
    n_tasks, h = len(tasks), config["hidden"]
    torch.manual_seed(seed)  # the same initial weights for every method of this seed
    if method.startswith("hnet"):
        net = target(2, h).to(device)
        hnet = ChunkedHyperNet(
            describe(net),
            config["z_dim"],
            chunk_size=config["chunk_size"],
            chunk_dim=config["chunk_dim"],
            hidden=(config["hnet_hidden"],),
        ).to(device)
        beta = 0.0 if method == "hnet_beta0" else config["beta"]
        learner = HyperNetLearner(
            net, hnet, n_tasks, beta, config["steps"], config["lr"], torch.Generator().manual_seed(seed)
        )
    else:
        strength = 0.0 if method == "finetune" else float(method.split("_")[1])
        learner = SequentialLearner(
            target(2 * n_tasks, h).to(device), n_tasks, 2, strength, config["steps"], config["lr"]
        )
    start_norm = init_norm(learner)
    return accuracy_matrix(learner, tasks), start_norm


def main() -> None:
    torch.set_num_threads(1)  # tiny networks: one thread is as fast and does not fight other processes
    device = default_device()
    methods = ["hnet", "hnet_beta0", "finetune", *[f"ewc_{lam:g}" for lam in CONFIG["ewc_grid"]]]
    results: dict[str, list[torch.Tensor]] = {m: [] for m in methods}
    norms: dict[str, list[float]] = {m: [] for m in methods}
    start = time.perf_counter()
    for seed in CONFIG["seeds"]:
        for m in methods:
            R, norm = run(m, seed, CONFIG, device)
            results[m].append(R)
            norms[m].append(norm)
            print(f"seed {seed} {m:12s} final accuracies {[round(v, 3) for v in R[-1].tolist()]}", flush=True)
    R_all = {m: torch.stack(v) for m, v in results.items()}
    OUT.parent.mkdir(exist_ok=True)
    init = {m: torch.tensor(v, dtype=torch.float64) for m, v in norms.items()}
    torch.save({"config": CONFIG, "R": R_all, "init_norm": init}, OUT)
    print(f"wrote {OUT} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
