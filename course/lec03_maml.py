"""Lecture 03's models: MAML, first-order MAML and a set-encoder hypernetwork on MAML's sinusoids; MAML and a
class-row hypernetwork on few-shot digits.

    python -m course.lec03_maml --list                          # every checkpoint and its config
    python -m course.lec03_maml                                 # retrain all of them (about 40 min on one core)
    python -m course.lec03_maml 03_sinusoid_maml_k10.pt         # retrain one (2-5 min on one core)

Sinusoids (Finn, Abbeel & Levine 2017, §5.1): target 1-40-40-1 ReLU, K support and K query points per
task, meta-batch 25, one inner step of α = 0.01 in meta-training, Adam as the meta-optimizer with the
learning rate of the authors' code (``meta_lr`` 1e-3, cbfinn/maml ``main.py``). The paper trains MAML at
K = 10 only; we train each method at K = 5 and at K = 10, three seeds each, for 15,000 meta-iterations
(the authors' code runs 70,000). Methods:

  maml      second-order MAML (meta-gradient through the inner step)
  fomaml    first-order MAML (inner gradients treated as constants)
  hypernet  set encoder over (x, y) pairs -> z -> full hypernetwork -> all 1,761 target weights, trained on
            the same task stream to minimise the query MSE of the generated target

Digits (5-way, K-shot; lecture 02's episodes): meta-training on the 40 dihedral classes of digits 0-4, test
on the unseen digits 5-9, three seeds each. Both methods produce the same classifier, a linear layer 64 -> 5 on
the pixels:

  maml      MAML learns its initialization; 5 inner SGD steps (α = 0.4) in meta-training
  hypernet  each class's mean image -> a linear generator -> that class's row of the layer (weights, bias)

(An MLP target with a meta-learned hidden layer fell below nearest class mean on pixels for both methods:
five training digits are too few classes to learn features that transfer to the other five.)

Every checkpoint's config names its method, K and seed (:func:`name_of` turns a config into its file
name); :func:`load_or_train` loads the shipped file when the config matches and trains it otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from hypernet_lib import (
    HyperNetwork,
    SetHyperNetwork,
    describe,
    functional_forward,
    hyperfan_init_,
    load_digits,
    sample_sinusoids,
    seed_everything,
)
from hypernet_lib.apps.fewshot import ClassEncoder
from hypernet_lib.apps.maml import MAML, query_losses
from hypernet_lib.checkpoints import load_or_train as _load_or_train
from hypernet_lib.data import Episodes, EpisodeSampler, dihedral_classes
from hypernet_lib.hypernets import ClassHeadGenerator, SetEncoder
from hypernet_lib.train import optimizer_step

from . import retrain_many

RECIPE = "course.lec03_maml"
SINE_METHODS, SINE_KS, SEEDS = ("maml", "fomaml", "hypernet"), (5, 10), (0, 1, 2)
SINE: dict[str, Any] = {
    "task": "sinusoid",
    "meta_batch": 25,
    "inner_lr": 0.01,
    "inner_steps": 1,
    "meta_lr": 1e-3,
    "n_steps": 15_000,
    "z_dim": 64,
    "encoder_hidden": (64, 64),
    "hyper_hidden": (64,),
    "val_tasks": 200,  # fresh sines (seed 10,000 + K), never the lecture's test sines
    "log_every": 500,
}
DIGITS: dict[str, Any] = {
    "task": "digits",
    "n_way": 5,
    "n_query": 10,
    "meta_batch": 25,
    "inner_lr": 0.4,
    "inner_steps": 5,
    "meta_lr": 1e-3,
    "n_steps": 2000,
    "train_classes": (0, 1, 2, 3, 4),
    "test_classes": (5, 6, 7, 8, 9),
}


def sine_config(method: str, k: int, seed: int = 0) -> dict[str, Any]:
    """The config of one sinusoid model: ``method`` in ``SINE_METHODS``, trained at K = ``k`` with ``seed``."""
    if method not in SINE_METHODS:
        raise ValueError(f"method: expected one of {SINE_METHODS}, got {method!r}")
    return {**SINE, "method": method, "k": k, "seed": seed}


def digits_config(method: str, k: int, seed: int = 0) -> dict[str, Any]:
    """The config of one few-shot digit model: ``method`` in ``("maml", "hypernet")``, K-shot, ``seed``."""
    if method not in ("maml", "hypernet"):
        raise ValueError(f"method: expected 'maml' or 'hypernet', got {method!r}")
    return {**DIGITS, "method": method, "k": k, "seed": seed}


def name_of(config: Mapping[str, Any]) -> str:
    """``03_sinusoid_maml_k10.pt`` (seed 0) or ``03_sinusoid_maml_k10_seed1.pt``; likewise ``03_digits_*``."""
    seed = f"_seed{config['seed']}" if config["seed"] else ""
    return f"03_{config['task']}_{config['method']}_k{config['k']}{seed}.pt"


CONFIGS = [sine_config(m, k, s) for m in SINE_METHODS for k in SINE_KS for s in SEEDS] + [
    digits_config(m, k, s) for m in ("maml", "hypernet") for k in (1, 5) for s in SEEDS
]
NAMES = [name_of(c) for c in CONFIGS]


# -- sinusoids ---------------------------------------------------------------------------------------------


def sine_target() -> nn.Module:
    """MAML's regressor: 1 -> 40 -> 40 -> 1 with ReLU (1,761 parameters)."""
    return nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1))


def _build_sine(config: Mapping[str, Any]) -> nn.Module:
    target = sine_target()
    if config["method"] in ("maml", "fomaml"):
        return MAML(
            target,
            inner_lr=config["inner_lr"],
            inner_steps=config["inner_steps"],
            first_order=config["method"] == "fomaml",
        )
    encoder = SetEncoder(2, config["z_dim"], tuple(config["encoder_hidden"]))
    return SetHyperNetwork(
        encoder, HyperNetwork(describe(target), config["z_dim"], hidden=tuple(config["hyper_hidden"]))
    )


def init_hypernet_(model: SetHyperNetwork, k: int, generator: torch.Generator) -> None:
    """Hyperfan-in for the embeddings the set encoder actually produces on K-point sines, not for ``N(0, I)``."""
    with torch.no_grad():
        probe = sample_sinusoids(1000, k, 1, generator=generator)
        hyperfan_init_(model.hypernet, z_sample=model.embed(probe.x_support, probe.y_support))


def sine_loss(model: nn.Module, target: nn.Module, batch: Any) -> torch.Tensor:
    """The meta-training loss of one meta-batch of sines: MAML's query MSE after its inner step(s), or the
    query MSE of the target network the hypernetwork generates (``target`` runs it)."""
    if isinstance(model, MAML):
        return model.meta_loss(batch.x_support, batch.y_support, batch.x_query, batch.y_query)
    return F.mse_loss(functional_forward(target, model(batch.x_support, batch.y_support), batch.x_query), batch.y_query)


def sine_val_mse(model: nn.Module, target: nn.Module, tasks: Any) -> float:
    """Mean query MSE on ``tasks``: MAML after 10 steps, the hypernetwork after none."""
    with torch.no_grad():
        if isinstance(model, MAML):
            params = model.adapt(tasks.x_support, tasks.y_support, n_steps=10)
        else:
            params = model(tasks.x_support, tasks.y_support)
        return float(query_losses(target, params, tasks.x_query, tasks.y_query).mean())


def _train_sine(config: Mapping[str, Any]) -> dict[str, Any]:
    gen = seed_everything(config["seed"])
    k, hyper = config["k"], config["method"] == "hypernet"
    model = _build_sine(config)
    # The hypernetwork runs the target only functionally: a separate copy (its own weights are never used).
    target = sine_target() if hyper else model.target
    if hyper:
        init_hypernet_(model, k, gen)
    val = sample_sinusoids(config["val_tasks"], k, 100, generator=torch.Generator().manual_seed(10_000 + k))
    opt = torch.optim.Adam(model.parameters(), lr=config["meta_lr"])
    log: list[list[float]] = []
    start = time.perf_counter()
    for it in range(config["n_steps"]):
        loss = sine_loss(model, target, sample_sinusoids(config["meta_batch"], k, k, generator=gen))
        optimizer_step(opt, loss)
        if it % config["log_every"] == 0 or it == config["n_steps"] - 1:
            mse = sine_val_mse(model, target, val)
            log.append([it, float(loss.detach()), mse])
            print(f"{name_of(config)} it {it:6d}  train {float(loss.detach()):.3f}  val {mse:.3f}", flush=True)
    return {"state": model.state_dict(), "log": torch.tensor(log), "seconds": time.perf_counter() - start}


# -- few-shot digits ---------------------------------------------------------------------------------------


class DigitHyperNet(nn.Module):
    """Support set → class means (lecture 02's :class:`ClassEncoder` on raw pixels) → one row per class.

    ``target`` is the linear classifier ``64 → 5``; its own parameters are placeholders. A linear generator
    maps each class mean to that class's row and bias (nearest class mean is close to the special case
    row = 2 · mean). Call: ``x_support: [B, N*K, 64]``, ``y_support: [B, N*K]`` → ``{"weight": [B, 5, 64],
    "bias": [B, 5]}``.
    """

    def __init__(self, n_way: int = 5):
        super().__init__()
        self.n_way = n_way
        self.target = nn.Linear(64, n_way)
        self.encoder = ClassEncoder(nn.Identity())
        self.head = ClassHeadGenerator(64, 64, "weight", "bias", hidden=())

    def forward(self, x_support: torch.Tensor, y_support: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.head(self.encoder(x_support, y_support, self.n_way))


def digit_samplers(
    config: Mapping[str, Any] = DIGITS, device: torch.device | str | None = None
) -> tuple[EpisodeSampler, EpisodeSampler]:
    """Meta-training episodes from the 40 dihedral classes of the training digits; test episodes from the rest."""
    digits = load_digits(device)
    train_mask = torch.isin(digits.labels, torch.tensor(config["train_classes"], device=digits.labels.device))
    x_aug, y_aug = dihedral_classes(digits.images[train_mask], digits.labels[train_mask])
    return (
        EpisodeSampler(x_aug.flatten(1), y_aug),
        EpisodeSampler(digits.flat, digits.labels, classes=list(config["test_classes"])),
    )


def _build_digits(config: Mapping[str, Any]) -> nn.Module:
    if config["method"] == "maml":
        return MAML(
            nn.Linear(64, config["n_way"]),
            inner_lr=config["inner_lr"],
            inner_steps=config["inner_steps"],
            loss_fn=F.cross_entropy,
        )
    return DigitHyperNet(config["n_way"])


def digit_logits(model: nn.Module, episodes: Episodes, n_steps: int = 10) -> torch.Tensor:
    """Query scores ``[B, N*Q, N]`` after adapting to each episode's support set (MAML: ``n_steps`` steps)."""
    if isinstance(model, MAML):
        params = model.adapt(episodes.x_support, episodes.y_support, n_steps=n_steps)
        return functional_forward(model.target, params, episodes.x_query)
    return functional_forward(model.target, model(episodes.x_support, episodes.y_support), episodes.x_query)


def _train_digits(config: Mapping[str, Any]) -> dict[str, Any]:
    gen = seed_everything(config["seed"])
    train_eps, _ = digit_samplers(config)
    model = _build_digits(config)
    opt = torch.optim.Adam(model.parameters(), lr=config["meta_lr"])
    start = time.perf_counter()
    for it in range(config["n_steps"]):
        ep = train_eps.sample(config["meta_batch"], config["n_way"], config["k"], config["n_query"], generator=gen)
        if config["method"] == "maml":
            loss = model.meta_loss(ep.x_support, ep.y_support, ep.x_query, ep.y_query)
        else:
            loss = query_losses(
                model.target, model(ep.x_support, ep.y_support), ep.x_query, ep.y_query, F.cross_entropy
            )
            loss = loss.mean()
        optimizer_step(opt, loss)
        if it % 250 == 0 or it == config["n_steps"] - 1:
            print(f"{name_of(config)} it {it:5d}  train {float(loss.detach()):.3f}", flush=True)
    return {"state": model.state_dict(), "seconds": time.perf_counter() - start}


# -- the recipe interface ----------------------------------------------------------------------------------


def build(config: Mapping[str, Any]) -> nn.Module:
    """The untrained model of ``config`` (a :class:`MAML`, a :class:`SetHyperNetwork` or a :class:`DigitHyperNet`)."""
    return _build_sine(config) if config["task"] == "sinusoid" else _build_digits(config)


def train(config: Mapping[str, Any]) -> dict[str, Any]:
    """Meta-train the model of ``config`` on the CPU; the payload holds its ``state`` (and the sinusoid ``log``:
    rows ``[iteration, meta-batch loss, validation MSE]``) and the wall ``seconds`` it took."""
    return _train_sine(config) if config["task"] == "sinusoid" else _train_digits(config)


def load_or_train(config: Mapping[str, Any], device: torch.device | str | None = None) -> tuple[nn.Module, dict]:
    """The trained model of ``config`` in eval mode on ``device``, and its checkpoint payload.

    Loads ``checkpoints/<name_of(config)>`` when its stored config matches; trains it (minutes) otherwise.
    """
    estimate = "2-5 minutes on one CPU core" if config["task"] == "sinusoid" else "about a minute"
    payload = _load_or_train(name_of(config), config, train, recipe=RECIPE, keys=("state",), estimate=estimate)
    model = build(config)
    model.load_state_dict(payload["state"])
    return model.to(device).eval(), payload


if __name__ == "__main__":
    retrain_many(dict(zip(NAMES, CONFIGS)), train, RECIPE, __doc__)
