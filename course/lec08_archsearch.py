"""Lecture 08's SMASH results: accuracies of 24 unseen architectures, with generated weights and trained from scratch.

python -m course.lec08_archsearch        # retrain checkpoints/08_smash.pt (about 2 CPU-minutes)

Search space: MLPs on the 8x8 digits with 1 to 3 hidden layers of width 4, 8, 16 or 32 (84 architectures).
24 of them (a fixed random choice) are held out: the hypernetwork never sees them. For each seed,

* the 24 held-out architectures are trained from scratch (the ground truth SMASH is judged by);
* one SMASH hypernetwork per trunk width in ``study_hidden`` is trained on random draws of the other 60,
  and scores the held-out ones with generated weights after each number of steps in ``study_steps``.

The lecture's own setting (``hnet_hidden`` wide, ``hnet_steps`` steps) is one cell of that study, so its
accuracies are stored once, as ``acc_hnet``. The data split (1000 train / 797 validation digits) and the
held-out set are the same for every seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import torch

from hypernet_lib import HyperNetwork, default_device, hyperfan_init_, load_digits, seed_everything
from hypernet_lib.apps.archsearch import ArchSpace, arch_accuracy, fit_from_scratch, fit_smash, smash_accuracy
from hypernet_lib.checkpoints import load_or_train as _load_or_train

from . import retrain_main

RECIPE, NAME = "course.lec08_archsearch", "08_smash.pt"
CONFIG: dict[str, Any] = {
    "widths": (4, 8, 16, 32),
    "max_depth": 3,
    "n_train": 1000,
    "n_held_out": 24,
    "hnet_hidden": 64,  # the lecture's SMASH hypernetwork: one hidden layer of 64 units
    "hnet_steps": 800,
    "archs_per_step": 8,
    "batch_size": 128,
    "hnet_lr": 2e-3,
    "scratch_steps": 400,
    "scratch_lr": 5e-3,
    "seeds": (0, 1, 2, 3, 4),
    "study_hidden": (4, 16, 64),  # hypernetwork capacity ...
    "study_steps": (200, 400, 800, 1600, 3200),  # ... and training length, for the study of §4
}


class Setup(NamedTuple):
    """The search space, the held-out (ranked) and seen (trained-on) architectures, and the data split."""

    space: ArchSpace
    held_out: list[tuple[int, ...]]
    seen: list[tuple[int, ...]]
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor


def setup(config: Mapping[str, Any] = CONFIG) -> Setup:
    """Data split, search space, held-out and training architectures (fixed: one generator seeded with 0)."""
    digits = load_digits(default_device())
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(digits.labels), generator=g).to(digits.labels.device)
    x, y = digits.flat[perm], digits.labels[perm]
    n = config["n_train"]
    space = ArchSpace(64, 10, config["widths"], config["max_depth"])
    archs = space.all()
    order = torch.randperm(len(archs), generator=g).tolist()
    held_out = [archs[i] for i in order[: config["n_held_out"]]]
    seen = [archs[i] for i in order[config["n_held_out"] :]]
    return Setup(space, held_out, seen, x[:n], y[:n], x[n:], y[n:])


def build(space: ArchSpace, seen: list[tuple[int, ...]], hidden: int, seed: int) -> HyperNetwork:
    """The SMASH hypernetwork: encoding (6 numbers) → all 4,522 supernet numbers, hyperfan-in over ``seen``."""
    torch.manual_seed(seed)
    hnet = HyperNetwork(space.spec(), z_dim=space.encoding_dim, hidden=(hidden,)).to(default_device())
    hyperfan_init_(hnet, z_sample=space.encode(seen).to(default_device()))
    return hnet


def train_smash(
    s: Setup,
    hidden: int,
    seed: int,
    config: Mapping[str, Any] = CONFIG,
    score_at: tuple[int, ...] = (),
    progress: bool | None = False,
) -> tuple[HyperNetwork, dict[int, torch.Tensor]]:
    """Train one SMASH hypernetwork for ``max(score_at)`` steps (or ``hnet_steps``); score the held-out set
    after each step count in ``score_at``. Returns the hypernetwork and ``{steps: [n_held_out] accuracies}``.
    ``progress=None`` shows the course's progress report (a bar live, one line when executed for commit)."""
    hnet = build(s.space, s.seen, hidden, seed)
    scores: dict[int, torch.Tensor] = {}

    def score(step: int) -> None:
        if step in score_at:
            scores[step] = smash_accuracy(hnet, s.space, s.held_out, s.x_val, s.y_val).cpu()

    n_steps = max(score_at) if score_at else config["hnet_steps"]
    g = torch.Generator().manual_seed(seed)
    fit_smash(
        hnet, s.space, s.seen, s.x_train, s.y_train, n_steps, config["archs_per_step"], config["batch_size"],
        config["hnet_lr"], g, progress=progress, callback=score,
    )  # fmt: skip
    return hnet, scores


def train_scratch(
    s: Setup, seed: int, config: Mapping[str, Any] = CONFIG, progress: bool | None = False
) -> torch.Tensor:
    """``[n_held_out]`` validation accuracies of the held-out architectures, each trained from scratch."""
    g = torch.Generator().manual_seed(seed)
    params = fit_from_scratch(
        s.space, s.held_out, s.x_train, s.y_train, config["scratch_steps"], config["scratch_lr"],
        config["batch_size"], g, progress=progress,
    )  # fmt: skip
    return arch_accuracy(params, s.space, s.held_out, s.x_val, s.y_val).cpu()


def train(config: Mapping[str, Any] = CONFIG) -> dict[str, Any]:
    """From-scratch ground truth and the capacity-and-steps study, on every seed."""
    seed_everything(0)
    torch.set_num_threads(1)  # tiny networks: one thread is as fast and does not fight other processes
    s = setup(config)
    steps, hidden = tuple(config["study_steps"]), tuple(config["study_hidden"])
    if config["hnet_steps"] not in steps or config["hnet_hidden"] not in hidden:
        raise ValueError("config: the lecture's setting (hnet_hidden, hnet_steps) must be a cell of the study")
    study = torch.zeros(len(hidden), len(steps), len(config["seeds"]), len(s.held_out))
    scratch = []
    for k, seed in enumerate(config["seeds"]):
        scratch.append(train_scratch(s, seed, config))
        print(f"seed {seed}: from scratch {[round(v, 2) for v in scratch[-1].tolist()]}", flush=True)
        for i, h in enumerate(hidden):
            _, scores = train_smash(s, h, seed, config, score_at=steps)
            for j, n in enumerate(steps):
                study[i, j, k] = scores[n]
            print(f"seed {seed}: SMASH hidden {h:3d}, median accuracy by steps {study[i, :, k].median(-1).values}")
    main = study[hidden.index(config["hnet_hidden"]), steps.index(config["hnet_steps"])]
    counts = [sum(p.numel() for p in build(s.space, s.seen, h, 0).parameters()) for h in hidden]
    return {
        "held_out": [list(a) for a in s.held_out],
        "acc_hnet": main.clone(),  # [seeds, n_held_out]: the lecture's setting
        "acc_scratch": torch.stack(scratch),  # [seeds, n_held_out]
        "study_acc": study,  # [len(study_hidden), len(study_steps), seeds, n_held_out]
        "study_params": torch.tensor(counts),
    }


def load_or_train(config: Mapping[str, Any] = CONFIG) -> dict[str, Any]:
    """The stored results (from ``checkpoints/08_smash.pt`` when it matches ``config``, else trained now)."""
    keys = ("held_out", "acc_hnet", "acc_scratch", "study_acc")
    return _load_or_train(NAME, config, train, recipe=RECIPE, keys=keys, estimate="about 2 CPU-minutes")


if __name__ == "__main__":
    retrain_main(NAME, CONFIG, train, RECIPE, __doc__)
