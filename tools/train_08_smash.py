"""Lecture 08's multi-seed SMASH results: validation accuracies of unseen architectures, two ways.

    PYTHONPATH=$PWD python tools/train_08_smash.py      # ~4 minutes on a 2-core CPU

Search space: MLPs on the 8x8 digits with 1 to 3 hidden layers of width 4, 8, 16 or 32
(84 architectures). 24 of them (a fixed random choice) are held out: the hypernetwork never
sees them. For each seed, (a) one SMASH hypernetwork is trained on random draws of the other 60
and scores every architecture with generated weights, (b) the 24 held-out architectures are
trained from scratch. Data split (1000 train / 797 validation) and held-out set are the same for all seeds.

Writes ``checkpoints/08_smash.pt``: ``{"config", "held_out", "acc_hnet": [seeds, 24], "acc_scratch": [seeds, 24]}``
(load with ``torch.load(..., weights_only=True)``). Lecture 08 reruns seed 0 live and checks it against this file.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from hypernet_lib import HyperNetwork, default_device, hyperfan_init_, load_digits
from hypernet_lib.apps.archsearch import ArchSpace, arch_accuracy, fit_from_scratch, fit_smash, smash_accuracy

OUT = Path(__file__).resolve().parents[1] / "checkpoints" / "08_smash.pt"
CONFIG = {
    "widths": (4, 8, 16, 32),
    "max_depth": 3,
    "n_train": 1000,
    "n_held_out": 24,
    "hnet_hidden": 64,
    "hnet_steps": 800,
    "archs_per_step": 8,
    "batch_size": 128,
    "hnet_lr": 2e-3,
    "scratch_steps": 400,
    "scratch_lr": 5e-3,
    "seeds": (0, 1, 2, 3, 4),
}


def setup(config: dict, device: torch.device):
    """Data split, search space, held-out and training architectures (fixed: generator seeded with 0)."""
    digits = load_digits(device)
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(digits.labels), generator=g).to(device)
    x, y = digits.flat[perm], digits.labels[perm]
    n = config["n_train"]
    space = ArchSpace(64, 10, config["widths"], config["max_depth"])
    archs = space.all()
    order = torch.randperm(len(archs), generator=g).tolist()
    held_out = [archs[i] for i in order[: config["n_held_out"]]]
    seen = [archs[i] for i in order[config["n_held_out"] :]]
    return space, held_out, seen, (x[:n], y[:n], x[n:], y[n:])


def run_seed(seed: int, config: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``(acc_hnet, acc_scratch)``, each ``[n_held_out]``, for one seed (the same code as lecture 08)."""
    space, held_out, seen, (x_tr, y_tr, x_va, y_va) = setup(config, device)
    torch.manual_seed(seed)
    hnet = HyperNetwork(space.spec(), z_dim=space.encoding_dim, hidden=(config["hnet_hidden"],)).to(device)
    hyperfan_init_(hnet, z_sample=space.encode(seen).to(device))
    g = torch.Generator().manual_seed(seed)
    fit_smash(
        hnet, space, seen, x_tr, y_tr, config["hnet_steps"], config["archs_per_step"], config["batch_size"],
        config["hnet_lr"], g,
    )  # fmt: skip
    acc_hnet = smash_accuracy(hnet, space, held_out, x_va, y_va)
    params = fit_from_scratch(
        space, held_out, x_tr, y_tr, config["scratch_steps"], config["scratch_lr"], config["batch_size"], g
    )
    return acc_hnet.cpu(), arch_accuracy(params, space, held_out, x_va, y_va).cpu()


def main() -> None:
    torch.set_num_threads(1)  # tiny networks: one thread is as fast and does not fight other processes
    device = default_device()
    _, held_out, _, _ = setup(CONFIG, device)
    hnet_rows, scratch_rows = [], []
    start = time.perf_counter()
    for seed in CONFIG["seeds"]:
        a_h, a_s = run_seed(seed, CONFIG, device)
        hnet_rows.append(a_h)
        scratch_rows.append(a_s)
        print(
            f"seed {seed}: hnet {[round(v, 2) for v in a_h.tolist()]}\n        scratch {[round(v, 2) for v in a_s.tolist()]}"
        )
    OUT.parent.mkdir(exist_ok=True)
    torch.save(
        {
            "config": CONFIG,
            "held_out": tuple(held_out),
            "acc_hnet": torch.stack(hnet_rows),
            "acc_scratch": torch.stack(scratch_rows),
        },
        OUT,
    )
    print(f"wrote {OUT} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
