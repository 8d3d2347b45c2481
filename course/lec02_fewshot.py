"""Lecture 02's few-shot models: NCM-start hypernetworks and prototypical networks on digits and on 2-D tasks.

    python -m course.lec02_fewshot --list                  # the checkpoints and their configs
    python -m course.lec02_fewshot                         # retrain all (about 25 min on one core)
    python -m course.lec02_fewshot 02_fewshot.pt           # one of them (digits: about 6 min; plane: about 2)

Digits (5-way, test digits 5-9 never seen). Meta-training classes:
  * 2,000 classes of random pen strokes rendered like scikit-learn's digits (:mod:`hypernet_lib.data.strokes`),
    20 examples each;
  * the five training digits 0-4 under the 8 symmetries of the square (:func:`hypernet_lib.data.dihedral_classes`):
    40 classes.
Three models, trained the same way (Adam 1e-3, 16 episodes a step, 1-shot and 5-shot alternating, 10 queries
per class, 4,000 steps fixed in advance; no test episode is looked at during training):
  hyper_head    NCMHyperNet: generates the head rows; the residual block is shared (meta-learned)
  hyper_hidden  NCMHyperNet(generate_hidden=True): also generates the block's first layer per task
  proto         ResidualProtoNet: the same block, prototypes and squared distances, nothing generated
All three start exactly at nearest class mean on the pixels. Each seed (0, 1, 2) is one checkpoint holding
all three models; within a seed they see the same stream of training episodes.

Plane (3-way Gaussian clusters with per-class spreads 0.1-1.5, ``cluster_episodes``): ``hyper`` =
NCMHyperNet(2 inputs, 32 hidden units, 8 extra features) and ``proto`` = ResidualProtoNet of the same size,
each trained on fresh tasks every step (2,000 steps of 64 tasks, Adam 3e-3), three seeds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hypernet_lib import load_digits, seed_everything
from hypernet_lib.apps.fewshot import NCMHyperNet, ResidualProtoNet
from hypernet_lib.checkpoints import load_or_train as _load_or_train
from hypernet_lib.data import EpisodeSampler, cluster_episodes, dihedral_classes, stroke_classes
from hypernet_lib.train import optimizer_step

from . import retrain_many

RECIPE = "course.lec02_fewshot"
SEEDS = (0, 1, 2)
DIGITS: dict[str, Any] = {
    "task": "digits",
    "n_way": 5,
    "n_query": 10,
    "meta_batch": 16,
    "shots": (1, 5),  # alternating, step by step
    "lr": 1e-3,
    "n_steps": 4000,
    "hidden": 128,
    "train_digits": (0, 1, 2, 3, 4),
    "n_stroke_classes": 2000,
    "strokes_per_class": 20,
    "stroke_seed": 7,
    "models": ("hyper_head", "hyper_hidden", "proto"),
}
PLANE: dict[str, Any] = {
    "task": "plane",
    "n_way": 3,
    "n_query": 10,
    "meta_batch": 64,
    "shots": (1, 5),
    "spread": (0.1, 1.5),
    "lr": 3e-3,
    "n_steps": 2000,
    "hidden": 32,
    "generator_width": 64,
    "extra": 8,
    "models": ("hyper", "proto"),
}


def digits_config(seed: int = 0) -> dict[str, Any]:
    """The config of one digits checkpoint (its three models trained with ``seed``)."""
    return {**DIGITS, "seed": seed}


def plane_config(seed: int = 0) -> dict[str, Any]:
    """The config of one 2-D checkpoint (hypernetwork and prototypical network trained with ``seed``)."""
    return {**PLANE, "seed": seed}


def name_of(config: Mapping[str, Any]) -> str:
    """``02_fewshot.pt`` / ``02_fewshot_plane.pt`` for seed 0, ``02_fewshot_seed1.pt`` / ``02_fewshot_plane_seed1.pt``."""
    stem = "02_fewshot" if config["task"] == "digits" else "02_fewshot_plane"
    seed = f"_seed{config['seed']}" if config["seed"] else ""
    return f"{stem}{seed}.pt"


CONFIGS = [digits_config(s) for s in SEEDS] + [plane_config(s) for s in SEEDS]
NAMES = [name_of(c) for c in CONFIGS]


def build(config: Mapping[str, Any]) -> dict[str, nn.Module]:
    """The untrained models of ``config``, by name; every one starts as nearest class mean."""
    n, h = config["n_way"], config["hidden"]
    if config["task"] == "digits":
        makers = {
            "hyper_head": lambda: NCMHyperNet(64, n, hidden=h),
            "hyper_hidden": lambda: NCMHyperNet(64, n, hidden=h, generate_hidden=True),
            "proto": lambda: ResidualProtoNet(64, n, hidden=h),
        }
    else:
        makers = {
            "hyper": lambda: NCMHyperNet(
                2, n, hidden=h, generator_width=config["generator_width"], extra=config["extra"]
            ),
            "proto": lambda: ResidualProtoNet(2, n, hidden=h, extra=config["extra"]),
        }
    return {name: makers[name]() for name in config["models"]}


def digit_training_sampler(config: Mapping[str, Any] = DIGITS) -> EpisodeSampler:
    """Episodes from the 2,000 stroke classes and the 40 dihedral classes of the training digits (flattened)."""
    digits = load_digits()
    is_train = torch.isin(digits.labels, torch.tensor(config["train_digits"]))
    n_strokes = config["n_stroke_classes"]
    sx, sy = stroke_classes(
        n_strokes, config["strokes_per_class"], torch.Generator().manual_seed(config["stroke_seed"])
    )
    dx, dy = dihedral_classes(digits.images[is_train], digits.labels[is_train])
    return EpisodeSampler(torch.cat([sx, dx]).flatten(1), torch.cat([sy, dy + n_strokes]))


def train(config: Mapping[str, Any]) -> dict[str, Any]:
    """Train every model of ``config`` on the CPU; the payload maps each model's name to its state dict."""
    sampler = digit_training_sampler(config) if config["task"] == "digits" else None
    payload: dict[str, Any] = {}
    for name in config["models"]:
        gen = seed_everything(config["seed"])  # the same episode stream for every model of this seed
        model = build({**config, "models": (name,)})[name]
        opt = torch.optim.Adam(model.parameters(), config["lr"])
        start, recent = time.perf_counter(), []
        for step in range(1, config["n_steps"] + 1):
            shots = config["shots"][step % len(config["shots"])]
            if sampler is not None:
                ep = sampler.sample(config["meta_batch"], config["n_way"], shots, config["n_query"], generator=gen)
            else:
                n, q = config["n_way"], config["n_query"]
                ep = cluster_episodes(config["meta_batch"], n, shots, q, gen, spread=tuple(config["spread"]))
            logits = model.logits(ep.x_support, ep.y_support, ep.x_query)
            loss = F.cross_entropy(logits.flatten(0, 1), ep.y_query.flatten())
            optimizer_step(opt, loss)
            recent.append(float(loss.detach()))
            if step % 500 == 0:
                print(f"{name_of(config)} {name:12s} step {step:5d}: training loss {sum(recent) / len(recent):.3f}")
                recent = []
        print(f"{name_of(config)} {name}: {time.perf_counter() - start:.0f} s", flush=True)
        payload[name] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return payload


def load_or_train(config: Mapping[str, Any], device: torch.device | str | None = None) -> dict[str, nn.Module]:
    """The trained models of ``config`` by name, in eval mode on ``device``.

    Loads ``checkpoints/<name_of(config)>`` when its stored config matches; trains it (minutes) otherwise.
    """
    estimate = "about 6 minutes on one CPU core" if config["task"] == "digits" else "about 2 minutes"
    payload = _load_or_train(
        name_of(config), config, train, recipe=RECIPE, keys=tuple(config["models"]), estimate=estimate
    )
    models = build(config)
    for name, model in models.items():
        model.load_state_dict(payload[name])
        model.to(device).eval()
    return models


if __name__ == "__main__":
    retrain_many(dict(zip(NAMES, CONFIGS)), train, RECIPE, __doc__)
