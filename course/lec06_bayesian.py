"""Lecture 06's models: Bayesian hypernetworks (mean-field, flow, weight-norm flow), a deep ensemble and MC dropout.

    python -m course.lec06_bayesian                     # both experiments (roughly 20-30 CPU-minutes)
    python -m course.lec06_bayesian --only regression   # checkpoints/06_regression.pt only
    python -m course.lec06_bayesian --only digits       # checkpoints/06_digits.pt only

Two experiments, every method with the same target, the same number of steps, the same learning rate and
cosine schedule, and the same seeds (which also fix each seed's initial target weights):

  regression  60 noisy points of sin(x) in two clusters, [-4.5, -3] and [3, 4.5]; a 1-32-32-1 ReLU target.
  digits      scikit-learn's digits 0-7 (900 training images); a 64-32-8 ReLU target; minibatches of 100.

The Bayesian hypernetworks learn their Gaussian prior's per-tensor scales on the ELBO (empirical Bayes).
The baselines' knobs (the ensemble's weight decay, MC dropout's rate and weight decay) are chosen first,
on a validation split of the training data (seed 0, the same number of steps), by validation NLL; the
choice and every candidate's score are stored in the checkpoint. The notebook loads the weights and
evaluates them live (:func:`sample_outputs`).
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from hypernet_lib import FlowHyperNetwork, default_device, describe, load_digits, mlp
from hypernet_lib.apps.bayes import (
    DeepEnsemble,
    GaussianPrior,
    dropout_weight_samples,
    fit_baseline,
    fit_bayes_hypernet,
    forward_samples,
)
from hypernet_lib.apps.uncertainty import classification_predictive, nll, regression_nll
from hypernet_lib.checkpoints import load_or_train as _load_or_train
from hypernet_lib.checkpoints import save_checkpoint
from hypernet_lib.hypernets.flow import WeightNormFlowHyperNetwork

RECIPE = "course.lec06_bayesian"
NAMES = ("06_regression.pt", "06_digits.pt")

# One entry per method. "kind" picks the builder; "grid" lists the candidates chosen on validation data.
_HYPERNETS: dict[str, dict[str, Any]] = {
    "mean-field": {"kind": "flow", "n_couplings": 0, "hidden": []},
    "flow": {"kind": "flow", "n_couplings": 2, "hidden": [4]},
    "weight-norm flow": {"kind": "weight-norm", "n_couplings": 2, "hidden": [64]},
}
REGRESSION: dict[str, Any] = {
    "clusters": [[-4.5, -3.0], [3.0, 4.5]],
    "points_per_cluster": 30,
    "noise_std": 0.1,
    "data_seed": 0,
    "widths": [1, 32, 32, 1],
    "n_steps": 8000,
    "lr": 2e-2,
    "n_samples": 8,  # weight samples per step for the hypernetworks
    "batch_size": None,  # full batch: 60 points
    "seeds": [0, 1, 2],
    "validation_points": 12,  # held out of the 60 to choose the baselines' knobs
    "methods": {
        **_HYPERNETS,
        "mean-field, fixed prior": {"kind": "flow", "n_couplings": 0, "hidden": [], "learn_prior": False},
        "deep ensemble": {"kind": "ensemble", "n_members": 5, "grid": {"weight_decay": [0.0, 1e-4, 1e-3, 1e-2]}},
        "MC dropout": {"kind": "dropout", "grid": {"p": [0.05, 0.1, 0.2], "weight_decay": [1e-4, 1e-3, 1e-2]}},
    },
}
DIGITS: dict[str, Any] = {
    "classes": 8,  # train on 0-7; 8 and 9 are the held-out classes
    "split_seed": 0,
    "n_train": 900,
    "n_validation": 200,  # the last 200 of the 900, to choose the baselines' knobs
    "ood_noise_std": 0.5,
    "ood_noise_seed": 1,
    "widths": [64, 32, 8],
    "n_steps": 4000,
    "lr": 2e-2,
    "n_samples": 4,
    "batch_size": 100,
    "seeds": [0, 1, 2, 3, 4],
    "methods": {
        **_HYPERNETS,
        "deep ensemble": {
            "kind": "ensemble",
            "n_members": 5,
            "grid": {"weight_decay": [0.0, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1]},
        },
        "MC dropout": {
            "kind": "dropout",
            "grid": {"p": [0.05, 0.1, 0.3, 0.5], "weight_decay": [1e-3, 1e-2, 3e-2, 1e-1]},
        },
    },
}
CONFIGS = {"06_regression.pt": REGRESSION, "06_digits.pt": DIGITS}


# -- data ------------------------------------------------------------------------------------


def regression_data(config: Mapping[str, Any] = REGRESSION) -> tuple[torch.Tensor, torch.Tensor]:
    """``x: [60, 1]`` uniform in the two clusters, ``y = sin(x) + noise``: ``([N, 1], [N, 1])``."""
    g = torch.Generator().manual_seed(config["data_seed"])
    n = config["points_per_cluster"]
    x = torch.cat([lo + (hi - lo) * torch.rand(n, generator=g) for lo, hi in config["clusters"]])[:, None]
    return x, torch.sin(x) + config["noise_std"] * torch.randn(x.shape, generator=g)


def digits_data(config: Mapping[str, Any] = DIGITS) -> dict[str, torch.Tensor]:
    """The split: ``train``/``test`` images ``[n, 64]`` of digits 0-7 with labels, and two OOD sets.

    ``held-out 8/9``: every 8 and 9; ``noised``: the test images plus Gaussian pixel noise, clipped to [0, 1].
    ``perm`` is the fixed permutation of the 0-7 images (its first ``n_train`` train).
    """
    digits = load_digits()
    seen = digits.labels < config["classes"]
    x, y = digits.flat[seen], digits.labels[seen]
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(config["split_seed"]))
    train, test = perm[: config["n_train"]], perm[config["n_train"] :]
    noise = torch.randn(x[test].shape, generator=torch.Generator().manual_seed(config["ood_noise_seed"]))
    return {
        "perm": perm,
        "x_train": x[train],
        "y_train": y[train],
        "x_test": x[test],
        "y_test": y[test],
        "held-out 8/9": digits.flat[~seen],
        "noised": (x[test] + config["ood_noise_std"] * noise).clamp(0, 1),
    }


# -- models ----------------------------------------------------------------------------------


@dataclass
class Trained:
    """One trained model of one method and seed: ``kind`` says how to draw from it (:func:`sample_outputs`)."""

    kind: str
    target: nn.Module
    model: nn.Module  # the hypernetwork, the ensemble or the dropout network
    prior: GaussianPrior | None = None


def build(method: str, config: Mapping[str, Any], seed: int, knobs: Mapping[str, float] | None = None) -> Trained:
    """The untrained model of ``method`` for ``seed`` (``knobs``: a baseline's chosen grid values).

    ``torch.manual_seed(seed)`` first, so every method of a seed starts from the same target weights:
    the hypernetworks' mean network starts there, and so does the first ensemble member's architecture.
    """
    spec = dict(config["methods"][method])
    knobs = dict(knobs or {})
    torch.manual_seed(seed)
    target = mlp(tuple(config["widths"]), dropout=0.0)
    kind = spec["kind"]
    if kind in ("flow", "weight-norm"):
        family = FlowHyperNetwork if kind == "flow" else WeightNormFlowHyperNetwork
        hnet = family(
            describe(target),
            n_couplings=spec["n_couplings"],
            hidden=tuple(spec["hidden"]),
            init_from=target,
            generator=torch.Generator().manual_seed(seed),
        )
        prior = GaussianPrior(hnet.prior_spec, learn=spec.get("learn_prior", True))
        return Trained(kind, target, hnet, prior)
    if kind == "ensemble":
        return Trained(kind, target, DeepEnsemble(target, n_members=spec["n_members"]))
    if kind == "dropout":
        return Trained(kind, target, mlp(tuple(config["widths"]), dropout=knobs.get("p", 0.1)))
    raise ValueError(f"method {method!r}: unknown kind {kind!r}")


def sample_outputs(
    trained: Trained, x: torch.Tensor, n_samples: int = 100, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``x: [N, d_in] → [S, N, d_out]``: the outputs of ``S`` sampled networks (the ensemble: its members)."""
    with torch.no_grad():
        if trained.kind in ("flow", "weight-norm"):
            params, _ = trained.model.sample(n_samples, generator=generator)
            return forward_samples(trained.target, params, x)
        if trained.kind == "ensemble":
            return trained.model(x)
        return forward_samples(trained.model, dropout_weight_samples(trained.model, n_samples, generator), x)


# A coupling's coordinate split is a buffer drawn by build() from the seed (torch.randperm: integers, the same
# on every machine), so it is not stored; a fingerprint of it is, and loading checks that build() made the same.
_SPLITS = (".idx_a", ".idx_b", ".unperm")


def _split_fingerprint(state: Mapping[str, torch.Tensor]) -> torch.Tensor:
    parts = [v.long() * (1 + torch.arange(v.numel())) for k, v in sorted(state.items()) if k.endswith(_SPLITS)]
    return torch.stack([p.sum() for p in parts]) if parts else torch.zeros(0, dtype=torch.int64)


def _state(trained: Trained) -> dict[str, Any]:
    state = trained.model.state_dict()
    out = {
        "model": {k: v.detach().cpu().clone() for k, v in state.items() if not k.endswith(_SPLITS)},
        "splits": _split_fingerprint(state),
    }
    if trained.prior is not None:
        out["prior"] = {k: v.detach().cpu().clone() for k, v in trained.prior.state_dict().items()}
    return out


def _fit(trained: Trained, config: Mapping[str, Any], x, y, likelihood, knobs, seed) -> dict[str, torch.Tensor]:
    """Train one model in place; return its logged curves (the ELBO's terms, or the NLL)."""
    device = x.device
    trained.model.to(device)
    trained.target.to(device)
    g = torch.Generator().manual_seed(seed)
    common = {
        "lr": config["lr"],
        "batch_size": config["batch_size"],
        "cosine": True,
        "generator": g,
        "progress": False,
        "noise_std": config.get("noise_std"),
    }
    if trained.kind in ("flow", "weight-norm"):
        trained.prior.to(device)
        n_samples = config["n_samples"]
        curves = fit_bayes_hypernet(
            trained.model, trained.target, x, y, likelihood, config["n_steps"], n_samples, prior=trained.prior, **common
        )
        return {k: torch.tensor(v) for k, v in curves.items()}
    if trained.kind != "ensemble":
        trained.model.to(device)
    loss = fit_baseline(
        trained.model, x, y, likelihood, config["n_steps"], weight_decay=knobs["weight_decay"], **common
    )
    return {"nll": torch.tensor(loss)}


def _grid(grid: Mapping[str, list[float]]) -> list[dict[str, float]]:
    points = [{}]
    for name, values in grid.items():
        points = [{**p, name: v} for p in points for v in values]
    return points


def _validation_nll(trained: Trained, x: torch.Tensor, y: torch.Tensor, likelihood: str, noise_std) -> float:
    out = sample_outputs(trained, x, 100, torch.Generator().manual_seed(0))
    if likelihood == "gaussian":
        return float(regression_nll(out, noise_std, y).mean())
    return nll(classification_predictive(out), y)


def _train_all(config: Mapping[str, Any], x, y, x_val, y_val, x_fit, y_fit, likelihood: str) -> dict[str, Any]:
    """Choose each baseline's knobs on (x_fit → x_val), then train every method on (x, y) for every seed."""
    selection, results = {}, {}
    noise_std = config.get("noise_std")
    for method, spec in config["methods"].items():
        knobs = {}
        if "grid" in spec:
            scores = []
            for candidate in _grid(spec["grid"]):
                model = build(method, config, config["seeds"][0], candidate)
                _fit(model, config, x_fit, y_fit, likelihood, candidate, config["seeds"][0])
                scores.append(
                    {**candidate, "validation_nll": _validation_nll(model, x_val, y_val, likelihood, noise_std)}
                )
                print(f"  {method} {candidate}: validation NLL {scores[-1]['validation_nll']:.4f}", flush=True)
            knobs = {k: v for k, v in min(scores, key=lambda s: s["validation_nll"]).items() if k != "validation_nll"}
            selection[method] = {"chosen": knobs, "candidates": scores}
        runs = []
        for seed in config["seeds"]:
            start = time.perf_counter()
            model = build(method, config, seed, knobs)
            curves = _fit(model, config, x, y, likelihood, knobs, seed)
            runs.append({**_state(model), "curves": curves, "seconds": time.perf_counter() - start})
            print(f"  {method} seed {seed}: {runs[-1]['seconds']:.0f} s", flush=True)
        results[method] = {"knobs": knobs, "seeds": runs}
    return {"methods": results, "selection": selection}


def train_regression(config: Mapping[str, Any] = REGRESSION) -> dict[str, Any]:
    """Every method on the 60 regression points (knobs chosen on 12 held-out points first)."""
    torch.set_num_threads(1)  # tiny models: more threads only add synchronisation
    device = default_device()
    x, y = regression_data(config)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(config["data_seed"]))
    val, fit_part = order[: config["validation_points"]], order[config["validation_points"] :]
    x, y = x.to(device), y.to(device)
    payload = _train_all(config, x, y, x[val], y[val], x[fit_part], y[fit_part], "gaussian")
    return {"x": x.cpu(), "y": y.cpu(), **payload}


def train_digits(config: Mapping[str, Any] = DIGITS) -> dict[str, Any]:
    """Every method on the 900 training digits (knobs chosen on the last 200 of them first)."""
    torch.set_num_threads(1)
    device = default_device()
    data = digits_data(config)
    x, y = data["x_train"].to(device), data["y_train"].to(device)
    cut = config["n_train"] - config["n_validation"]
    payload = _train_all(config, x, y, x[cut:], y[cut:], x[:cut], y[:cut], "categorical")
    return {"perm": data["perm"], **payload}


TRAIN = {"06_regression.pt": train_regression, "06_digits.pt": train_digits}


def load(name: str, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The checkpoint ``name`` (trained now if missing or made with another config), its models rebuilt.

    Returns the payload with, per method, ``"models"``: one :class:`Trained` per seed, on the default device.
    """
    config = CONFIGS[name] if config is None else config
    payload = _load_or_train(
        name, config, TRAIN[name], recipe=RECIPE, keys=("methods", "selection"), estimate="10-20 CPU-minutes"
    )
    device = default_device()
    for method, entry in payload["methods"].items():
        entry["models"] = []
        for seed, run in zip(config["seeds"], entry["seeds"]):
            trained = build(method, config, seed, entry["knobs"])
            missing, unexpected = trained.model.load_state_dict(run["model"], strict=False)
            fresh = _split_fingerprint(trained.model.state_dict())
            if unexpected or any(not k.endswith(_SPLITS) for k in missing) or not torch.equal(fresh, run["splits"]):
                raise RuntimeError(
                    f"{name}: {method} seed {seed} does not match the model build() makes "
                    f"(missing {missing}, unexpected {unexpected}); make it again with: python -m {RECIPE}"
                )
            if trained.prior is not None:
                trained.prior.load_state_dict(run["prior"])
                trained.prior.to(device)
            trained.model.to(device).eval()
            trained.target.to(device)
            entry["models"].append(trained)
    return payload


def main() -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {RECIPE}", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--only", choices=("regression", "digits"), help="make one of the two checkpoints")
    args = parser.parse_args()
    for name in NAMES:
        if args.only and args.only not in name:
            continue
        config = copy.deepcopy(CONFIGS[name])
        print(f"{RECIPE}: training {name}", flush=True)
        start = time.perf_counter()
        path = save_checkpoint(name, TRAIN[name](config), recipe=RECIPE, config=config)
        print(
            f"saved {path} ({path.stat().st_size / 1e3:.0f} kB) after {time.perf_counter() - start:.0f} s", flush=True
        )


if __name__ == "__main__":
    main()
