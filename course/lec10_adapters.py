"""Lecture 10's models: a tiny transformer pretrained on a base mix, description → adapter hypernetworks
(several seeds), and the one multi-task LoRA they are compared with.

    python -m course.lec10_adapters        # retrain checkpoints/10_adapters.pt (about 25 min on one CPU core)

The base model is pretrained once. Then, for every seed, a text-to-LoRA hypernetwork and a multi-task LoRA
(one adapter for all training tasks, no description) are trained with the same batches, steps and schedule,
and each is scored on the same fixed examples of every training and held-out task, together with the
retrieval baseline (the adapter generated for the nearest training description) and the probes of section 8.
Seed 0's weights are shipped; the other seeds' scores are stored, so the lecture can compare its live
evaluation with the spread between trainings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from hypernet_lib import LowRankHyperNet, describe, seed_everything
from hypernet_lib.apps.adapters import (
    BagOfWords,
    SequenceTask,
    TinyTransformer,
    adapted_logits,
    all_tasks,
    evaluate_adapters,
    fit_base_model,
    fit_multitask_lora,
    fit_text_to_lora,
    nearest_description,
    per_task_lora,
    sample_batch,
    train_heldout_split,
)
from hypernet_lib.checkpoints import load_or_train as _load_or_train

from . import retrain_main

RECIPE, NAME = "course.lec10_adapters", "10_adapters.pt"
CONFIG: dict[str, Any] = {
    "d_model": 32,
    "n_heads": 2,
    "n_layers": 2,
    "d_mlp": 64,
    "pretrain_steps": 2000,
    "pretrain_batch": 128,
    "pretrain_lr": 3e-3,
    "p_no_instruction": 0.3,
    "base_seed": 0,
    "kinds": ("q", "k", "v", "o", "fc1", "fc2"),
    "rank": 4,
    # the smallest trunk and run we tried that solves every training family in whole sequences (width 64
    # for 1,500 steps left one family near chance on its own training tasks)
    "hnet_hidden": (128,),
    "hnet_steps": 6000,
    "tasks_per_step": 16,
    "n_per_task": 16,
    "lr": 1e-3,  # the hypernetwork's and the multi-task LoRA's (same batches, steps and schedule)
    "seeds": (0, 1, 2, 3, 4),
    "eval_examples": 200,
    "eval_seed": 123,
}
PROBES: tuple[tuple[str, str, int], ...] = (
    ("shift the digits right by 2 then add 3", "shift right 2", 3),  # a held-out task in known words
    ("flip the digits then add 3", "reverse", 3),  # "flip" is not in the vocabulary
    ("shift the digits left by 4", "shift left 4", 0),  # no task shifts by 4
)


def training_descriptions() -> list[str]:
    """Both phrasings of every training task: the embedder's vocabulary and the retrieval library."""
    train, _ = train_heldout_split()
    return [t.describe(v) for t in train for v in (0, 1)]


def build_base(config: Mapping[str, Any] = CONFIG) -> TinyTransformer:
    """The tiny transformer, untrained."""
    return TinyTransformer(config["d_model"], config["n_heads"], config["n_layers"], config["d_mlp"])


def make_hnet(model: TinyTransformer, embedder: BagOfWords, config: Mapping[str, Any] = CONFIG) -> LowRankHyperNet:
    """Lecture 05's low-rank hypernetwork around the frozen base weights: ``W = W₀ + U(z) V(z)ᵀ``.

    Build it after pretraining: its frozen base is a copy of the model's weights at this moment.
    """
    spec = describe(model, include=model.adapter_targets(config["kinds"]))
    return LowRankHyperNet(
        spec,
        z_dim=embedder.dim,
        rank=config["rank"],
        hidden=tuple(config["hnet_hidden"]),
        base=dict(model.named_parameters()),
        train_base=False,
        z_sample=embedder.embed(training_descriptions()),
    )


def build(config: Mapping[str, Any] = CONFIG) -> tuple[TinyTransformer, BagOfWords, LowRankHyperNet, LowRankHyperNet]:
    """The base model, the embedder (vocabulary of the training descriptions), the hypernetwork and the
    multi-task LoRA (one adapter, ``per_task_lora(..., n_tasks=1)``), untrained."""
    model = build_base(config)
    embedder = BagOfWords(training_descriptions())
    names = model.adapter_targets(config["kinds"])
    return model, embedder, make_hnet(model, embedder, config), per_task_lora(model, names, 1, config["rank"])


def probe_outcome(
    model: TinyTransformer, hnet: LowRankHyperNet, embedder: BagOfWords, text: str, config: Mapping[str, Any] = CONFIG
) -> tuple[float, str, float]:
    """Run the adapter generated for ``text`` on the evaluation inputs: (digit accuracy on the task ``text``
    asks for, the name of the task among all 90 whose answers it matches best, that task's digit match)."""
    order, add = next((o, a) for t, o, a in PROBES if t == text)
    x, _ = sample_batch(
        [SequenceTask("copy", 0)], config["eval_examples"], torch.Generator().manual_seed(config["eval_seed"])
    )
    x = x.to(model.unembed.weight.device)
    with torch.no_grad():
        got = adapted_logits(model, hnet(embedder.embed(text).to(x.device)), x).argmax(-1)[0]
    if order == "shift left 4":  # not a task of the family: the answer by hand
        want = (x[0].roll(-4, dims=-1) + add) % 10
    else:
        want = SequenceTask(order, add).apply(x[0])
    match = {t.name: float((got == t.apply(x[0])).float().mean()) for t in all_tasks()}
    best = max(match, key=match.get)
    return float((got == want).float().mean()), best, match[best]


def score(model, hnet, multitask, embedder, config: Mapping[str, Any] = CONFIG) -> dict[str, torch.Tensor]:
    """Every number the lecture reports for one seed, on the fixed evaluation examples."""
    train, held = train_heldout_split()
    library = training_descriptions()
    n, seed = config["eval_examples"], config["eval_seed"]
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for split_name, tasks in (("train", train), ("held", held)):
            text = [t.describe() for t in tasks]
            device = model.unembed.weight.device
            gen = hnet(embedder.embed(text).to(device))
            out[f"t2l_{split_name}"] = torch.stack(evaluate_adapters(model, gen, tasks, n, seed))
            para = hnet(embedder.embed([t.describe(1) for t in tasks]).to(device))
            out[f"para_{split_name}"] = torch.stack(evaluate_adapters(model, para, tasks, n, seed))
            one = {k: v.expand(len(tasks), *v.shape[1:]) for k, v in multitask(torch.ones(1, 1, device=device)).items()}
            out[f"multitask_{split_name}"] = torch.stack(evaluate_adapters(model, one, tasks, n, seed))
            nearest = [library[i] for i in nearest_description(embedder, text, library).tolist()]
            found = hnet(embedder.embed(nearest).to(device))
            out[f"retrieval_{split_name}"] = torch.stack(evaluate_adapters(model, found, tasks, n, seed))
    out["probe_accuracy"] = torch.tensor([probe_outcome(model, hnet, embedder, t, config)[0] for t, _, _ in PROBES])
    return out  # each "<method>_<split>": [2, tasks] (digit accuracy, whole-sequence accuracy)


def train(config: Mapping[str, Any] = CONFIG) -> dict[str, Any]:
    """Pretrain the base once; then train and score one hypernetwork and one multi-task LoRA per seed."""
    seed_everything(config["base_seed"])
    model, embedder, _, _ = build(config)
    base_losses = fit_base_model(
        model,
        config["pretrain_steps"],
        batch_size=config["pretrain_batch"],
        lr=config["pretrain_lr"],
        p_no_instruction=config["p_no_instruction"],
        generator=torch.Generator().manual_seed(1),
    )
    model.requires_grad_(False).eval()
    train_tasks, _ = train_heldout_split()
    names = model.adapter_targets(config["kinds"])
    payload: dict[str, Any] = {"base": model.state_dict(), "base_losses": torch.tensor(base_losses)}
    curves: dict[str, list[torch.Tensor]] = {"hnet": [], "multitask": []}
    scores: dict[str, list[torch.Tensor]] = {}
    for seed in config["seeds"]:
        seed_everything(seed)
        hnet = make_hnet(model, embedder, config)
        multitask = per_task_lora(model, names, 1, config["rank"])
        # the same batches, steps and schedule for both, each from a generator with the same seed
        budget = {"n_steps": config["hnet_steps"], **{k: config[k] for k in ("tasks_per_step", "n_per_task", "lr")}}
        batches = [torch.Generator().manual_seed(1000 + seed) for _ in range(2)]
        t2l = fit_text_to_lora(hnet, model, embedder, train_tasks, generator=batches[0], **budget)
        curves["hnet"].append(torch.tensor(t2l))
        curves["multitask"].append(
            torch.tensor(fit_multitask_lora(multitask, model, train_tasks, generator=batches[1], **budget))
        )
        hnet.eval()
        for k, v in score(model, hnet, multitask, embedder, config).items():
            scores.setdefault(k, []).append(v)
        if seed == config["seeds"][0]:
            payload["hnet"] = {k: v.detach().clone() for k, v in hnet.state_dict().items()}
            payload["multitask"] = {k: v.detach().clone() for k, v in multitask.state_dict().items()}
        held = scores["t2l_held"][-1]
        print(f"seed {seed}: held-out digit {held[0].mean():.3f}, sequence {held[1].mean():.3f}", flush=True)
    payload["losses"] = {k: torch.stack(v) for k, v in curves.items()}  # [seeds, logged every 10 steps]
    payload["scores"] = {k: torch.stack(v) for k, v in scores.items()}  # [seeds, 2, tasks] or [seeds, probes]
    payload["vocabulary"] = list(embedder.vocabulary)
    return payload


def load_or_train(config: Mapping[str, Any] = CONFIG) -> dict[str, Any]:
    """Seed 0's trained models and the stored payload: ``{"model", "embedder", "hnet", "multitask", "payload"}``.

    The base model is frozen and in eval mode; the hypernetwork and the multi-task LoRA are in eval mode.
    """
    payload = _load_or_train(
        NAME, config, train, recipe=RECIPE, keys=("base", "hnet", "multitask", "scores"), estimate="about 25 minutes"
    )
    model, embedder, hnet, multitask = build(config)
    if list(embedder.vocabulary) != payload["vocabulary"]:
        raise RuntimeError("the task descriptions changed since the checkpoint was made; run python -m " + RECIPE)
    model.load_state_dict(payload["base"])
    model.requires_grad_(False).eval()
    hnet.load_state_dict(payload["hnet"])  # its frozen base is loaded too: the pretrained weights
    multitask.load_state_dict(payload["multitask"])
    return {
        "model": model,
        "embedder": embedder,
        "hnet": hnet.eval(),
        "multitask": multitask.eval(),
        "payload": payload,
    }


if __name__ == "__main__":
    retrain_main(NAME, CONFIG, train, RECIPE, __doc__)
