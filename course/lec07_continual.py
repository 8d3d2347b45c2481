"""Lecture 07's results: accuracy matrices of every continual learner, on two task sequences and five seeds.

python -m course.lec07_continual             # retrain checkpoints/07_split.pt and 07_permuted.pt
python -m course.lec07_continual permuted    # only one of them (split: ~1 CPU-minute, permuted: ~12)

Two scenarios, both task-incremental (the learner is told which task an input comes from):

* ``split``: split digits, 5 tasks of 2 classes ((0, 1), (2, 3), ...), 100 full-batch Adam steps per task;
* ``permuted``: permuted digits, 10 tasks of all 10 classes, each task the digits under its own fixed
  pixel permutation (task 0: none), 300 steps per task.

Every class is split into training (50%), validation (20%) and test (30%) examples, a different split (and
permutations) per seed. Methods, all trained with Adam at the same learning rate and step count:

* ``hnet_beta<β>``: a task-conditioned chunked hypernetwork with the output regularizer, for every β of the
  scenario's grid, and ``hnet_beta0`` without it;
* ``finetune_w<w>``: one multi-head network (one head per task) of hidden width ``w``, trained task after task;
  ``w`` is the target's width or the width that gives it as many trainable numbers as the hypernetwork;
* ``ewc_w<w>_lambda<λ>``: the same with EWC, for every λ of the grid;
* ``joint_w<w>``, ``joint_hnet``: the multi-head networks and the hypernetwork trained on all tasks at once
  (as many steps in total as the whole sequence): the upper bound.

β and λ are chosen on the validation splits (:func:`best_by_validation`); the lecture reports the test splits.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from hypernet_lib import ChunkedHyperNet, default_device, describe, load_digits, seed_everything
from hypernet_lib.apps.continual import (
    HyperNetLearner,
    SequentialLearner,
    TaskData,
    accuracy_matrices,
    average_accuracy,
    final_accuracies,
    fit_joint,
    permuted_tasks,
    split_by_classes,
)
from hypernet_lib.checkpoints import load_or_train as _load_or_train
from hypernet_lib.checkpoints import save_checkpoint

RECIPE = "course.lec07_continual"
NAMES = ("07_split.pt", "07_permuted.pt")  # one checkpoint per scenario, in the order of SCENARIOS
CONFIG: dict[str, Any] = {
    "seeds": (0, 1, 2, 3, 4),
    "lr": 3e-3,
    "split": {
        "groups": ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9)),
        "test_fraction": 0.3,
        "val_fraction": 0.2,
        "hidden": 32,  # the target: 64 → 32 → 32 → 2 (generated) or → T·2 heads (multi-head baselines)
        "n_steps": 100,  # full-batch Adam steps per task
        "hnet": {"z_dim": 8, "chunk_size": 256, "chunk_dim": 8, "hidden": 32},
        "betas": (0.005, 0.05, 0.5, 5.0),
        "lambdas": (10.0, 100.0, 1000.0, 10000.0),
        "widths": (32, 64),  # the target's width, and the one with the hypernetwork's trainable size
    },
    "permuted": {
        "n_tasks": 10,
        "test_fraction": 0.3,
        "val_fraction": 0.2,
        "hidden": 32,
        "n_steps": 300,
        "hnet": {"z_dim": 16, "chunk_size": 256, "chunk_dim": 8, "hidden": 64},
        "betas": (0.05, 0.5, 2.0),
        "lambdas": (1.0, 10.0, 100.0, 1000.0),
        "widths": (32, 75),
    },
}
SCENARIOS = ("split", "permuted")
FILES = dict(zip(SCENARIOS, NAMES))


def target(n_out: int, hidden: int) -> nn.Module:
    """The network every learner uses: 64 → hidden → hidden → ``n_out``, ReLU."""
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


def make_tasks(scenario: str, seed: int, config: Mapping[str, Any] = CONFIG) -> list[TaskData]:
    """The scenario's tasks for ``seed`` (its own train/validation/test split and, for ``permuted``, permutations)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario: expected one of {SCENARIOS}, got {scenario!r}")
    c = config[scenario]
    digits = load_digits(default_device())
    g = torch.Generator().manual_seed(seed)
    if scenario == "split":
        return split_by_classes(digits.flat, digits.labels, c["groups"], c["test_fraction"], g, c["val_fraction"])
    return permuted_tasks(digits.flat, digits.labels, c["n_tasks"], c["test_fraction"], c["val_fraction"], g)


def methods(scenario: str, config: Mapping[str, Any] = CONFIG) -> list[str]:
    """Every method the recipe runs in ``scenario``, by name (see the module docstring)."""
    c = config[scenario]
    names = [f"hnet_beta{b:g}" for b in c["betas"]] + ["hnet_beta0"]
    names += [f"finetune_w{w}" for w in c["widths"]]
    names += [f"ewc_w{w}_lambda{lam:g}" for w in c["widths"] for lam in c["lambdas"]]
    return names + [f"joint_w{w}" for w in c["widths"]] + ["joint_hnet"]


def learner(method: str, scenario: str, seed: int, n_tasks: int, config: Mapping[str, Any] = CONFIG) -> nn.Module:
    """The untrained learner of ``method`` for ``seed``: a HyperNetLearner or a SequentialLearner."""
    c, n_classes = config[scenario], _n_classes(scenario, config)
    torch.manual_seed(seed)  # every method of a seed draws its initial weights from the same stream
    device = default_device()
    if method.startswith("hnet") or method == "joint_hnet":
        net = target(n_classes, c["hidden"]).to(device)
        h = c["hnet"]
        hnet = ChunkedHyperNet(
            describe(net), h["z_dim"], chunk_size=h["chunk_size"], chunk_dim=h["chunk_dim"], hidden=(h["hidden"],)
        ).to(device)
        beta = float(method.removeprefix("hnet_beta")) if method.startswith("hnet_beta") else 0.0
        g = torch.Generator().manual_seed(seed)
        return HyperNetLearner(net, hnet, n_tasks, beta, c["n_steps"], config["lr"], g)
    width, strength = _width_and_strength(method)
    model = target(n_classes * n_tasks, width).to(device)
    return SequentialLearner(model, n_tasks, n_classes, strength, c["n_steps"], config["lr"])


def _n_classes(scenario: str, config: Mapping[str, Any]) -> int:
    return len(config["split"]["groups"][0]) if scenario == "split" else 10


def _width_and_strength(method: str) -> tuple[int, float]:
    """``finetune_w32`` → (32, 0); ``ewc_w64_lambda100`` → (64, 100); ``joint_w32`` → (32, 0)."""
    kind, rest = method.split("_w", 1)
    if kind not in ("finetune", "ewc", "joint"):
        raise ValueError(f"method: expected a name from methods(scenario), got {method!r}")
    width, _, lam = rest.partition("_lambda")
    return int(width), float(lam) if lam else 0.0


def run(
    method: str,
    scenario: str,
    seed: int,
    config: Mapping[str, Any] = CONFIG,
    on_task_done: Callable[[nn.Module, int], None] | None = None,
) -> dict[str, Any]:
    """One method on one seed: ``{"val": …, "test": …, "init_norm": float, "learner": the trained learner}``.

    For a continual learner ``val`` and ``test`` are ``[T, T]`` accuracy matrices of the sequence; for
    ``joint_*`` they are ``[T]``, the accuracy on each task after training on all of them at once.
    ``on_task_done(learner, i)`` is called after task ``i`` of a sequence (lecture 07 records weights with it).
    """
    tasks = make_tasks(scenario, seed, config)
    model = learner(method, scenario, seed, len(tasks), config)
    start = init_norm(model)
    if method.startswith("joint"):
        fit_joint(model, tasks, len(tasks) * config[scenario]["n_steps"], config["lr"], progress=False)
        out = {split: final_accuracies(model, tasks, split) for split in ("val", "test")}
    else:
        done = None if on_task_done is None else (lambda i: on_task_done(model, i))
        out = accuracy_matrices(model, tasks, ("val", "test"), done)
    return {**out, "init_norm": start, "learner": model}


def best_by_validation(R_val: Mapping[str, torch.Tensor], candidates: Sequence[str]) -> str:
    """The candidate with the best mean (over seeds) final average accuracy on the *validation* splits.

    ``R_val[m]``: ``[seeds, T, T]``. This is how β and λ are chosen: the test splits are never looked at.
    """
    if not candidates:
        raise ValueError("candidates: expected at least one method name, got none")
    return max(candidates, key=lambda m: sum(average_accuracy(r) for r in R_val[m]) / len(R_val[m]))


def scenario_config(scenario: str, config: Mapping[str, Any] = CONFIG) -> dict[str, Any]:
    """The part of ``config`` one scenario's checkpoint is made with (its settings, the seeds, the rate)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario: expected one of {SCENARIOS}, got {scenario!r}")
    return {"seeds": config["seeds"], "lr": config["lr"], scenario: config[scenario]}


def train(config: Mapping[str, Any]) -> dict[str, Any]:
    """Every method of the scenarios in ``config`` on every seed: the stored accuracy matrices and fingerprints."""
    seed_everything(0)
    torch.set_num_threads(1)  # tiny networks: one thread is as fast and does not fight other processes
    payload: dict[str, Any] = {}
    for scenario in [s for s in SCENARIOS if s in config]:
        rows: dict[str, dict[str, list]] = {
            m: {"val": [], "test": [], "init_norm": []} for m in methods(scenario, config)
        }
        for seed in config["seeds"]:
            for m in methods(scenario, config):
                result = run(m, scenario, seed, config)
                for k in rows[m]:
                    rows[m][k].append(result[k])
                last = result["test"] if m.startswith("joint") else result["test"][-1]
                print(f"{scenario} seed {seed} {m:24s} final test accuracy {float(last.mean()):.3f}", flush=True)
        joint = [m for m in rows if m.startswith("joint")]
        payload[scenario] = {
            "R_val": {m: torch.stack(r["val"]) for m, r in rows.items() if m not in joint},  # [seeds, T, T]
            "R_test": {m: torch.stack(r["test"]) for m, r in rows.items() if m not in joint},
            "joint_val": {m: torch.stack(rows[m]["val"]) for m in joint},  # [seeds, T]
            "joint_test": {m: torch.stack(rows[m]["test"]) for m in joint},
            "init_norm": {m: torch.tensor(r["init_norm"], dtype=torch.float64) for m, r in rows.items()},
        }
    return payload


def load_or_train(scenario: str, config: Mapping[str, Any] = CONFIG) -> dict[str, Any]:
    """One scenario's stored results: ``{"R_val", "R_test", "joint_val", "joint_test", "init_norm"}``.

    From ``checkpoints/07_<scenario>.pt`` when it was made with this config, otherwise trained now.
    """
    estimate = {"split": "about a CPU-minute", "permuted": "about 12 CPU-minutes"}[scenario]
    part = scenario_config(scenario, config)
    return _load_or_train(FILES[scenario], part, train, recipe=RECIPE, keys=(scenario,), estimate=estimate)[scenario]


def main() -> None:
    parser = argparse.ArgumentParser(
        prog=f"python -m {RECIPE}", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=f"any of {SCENARIOS} (default: both)")
    chosen = parser.parse_args().scenarios or list(SCENARIOS)
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; expected any of {SCENARIOS}")
    for scenario in chosen:
        part = scenario_config(scenario)
        print(f"{RECIPE}: training {FILES[scenario]} with {part}", flush=True)
        path = save_checkpoint(FILES[scenario], train(part), recipe=RECIPE, config=part)
        print(f"saved {path} ({path.stat().st_size / 1e3:.0f} kB)", flush=True)


if __name__ == "__main__":
    main()
