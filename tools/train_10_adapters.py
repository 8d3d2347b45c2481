"""Pretrain lecture 10's tiny transformer on the base mix, then train the text-to-LoRA hypernetwork.

    PYTHONPATH=. python tools/train_10_adapters.py          # ~5-15 min on a laptop CPU

Writes ``checkpoints/10_adapters.pt``: the base model, the hypernetwork and both loss curves.
The notebook loads it with ``torch.load(..., weights_only=True)``, trains a short run of each
phase live, and trains the per-task LoRA baseline itself.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from hypernet_lib import LowRankHyperNet, count_parameters, describe, seed_everything
from hypernet_lib.apps.adapters import (
    BagOfWords,
    TinyTransformer,
    evaluate_adapters,
    fit_base_model,
    fit_text_to_lora,
    train_heldout_split,
)

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "checkpoints" / "10_adapters.pt"
CONFIG = {
    "d_model": 32,
    "n_heads": 2,
    "n_layers": 2,
    "d_mlp": 64,
    "kinds": ["q", "k", "v", "o", "fc1", "fc2"],
    "rank": 4,
    "hnet_hidden": [64],
}


def build(config: dict = CONFIG) -> tuple[TinyTransformer, BagOfWords, LowRankHyperNet]:
    """The base model, the description embedder (vocabulary of the training descriptions) and the hypernetwork."""
    model = TinyTransformer(config["d_model"], config["n_heads"], config["n_layers"], config["d_mlp"])
    train, _ = train_heldout_split()
    embedder = BagOfWords([t.describe(v) for t in train for v in (0, 1)])
    hnet = make_hnet(model, embedder, config)
    return model, embedder, hnet


def make_hnet(model: TinyTransformer, embedder: BagOfWords, config: dict = CONFIG) -> LowRankHyperNet:
    """Lecture 05's low-rank hypernetwork around the (frozen) base weights: W = W₀ + U(z) V(z)ᵀ."""
    spec = describe(model, include=model.adapter_targets(config["kinds"]))
    train, _ = train_heldout_split()
    z_sample = embedder.embed([t.describe(v) for t in train for v in (0, 1)])
    return LowRankHyperNet(
        spec,
        z_dim=embedder.dim,
        rank=config["rank"],
        hidden=config["hnet_hidden"],
        base=dict(model.named_parameters()),
        train_base=False,
        z_sample=z_sample,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrain-steps", type=int, default=2000)
    parser.add_argument("--hnet-steps", type=int, default=1500)
    parser.add_argument("--out", type=Path, default=CHECKPOINT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    seed_everything(0)
    model, embedder, _ = build()
    start = time.perf_counter()
    base_losses = fit_base_model(model, args.pretrain_steps, generator=torch.Generator().manual_seed(1))
    model.requires_grad_(False)
    print(f"pretraining: {time.perf_counter() - start:.0f} s, final loss {base_losses[-1]:.3f}")
    hnet = make_hnet(model, embedder)  # built after pretraining: its frozen base is the pretrained weights
    print("hypernetwork parameters:", count_parameters(hnet), "| vocabulary:", embedder.dim)
    train, held = train_heldout_split()
    start = time.perf_counter()
    hnet_losses = fit_text_to_lora(
        hnet, model, embedder, train, args.hnet_steps, generator=torch.Generator().manual_seed(2)
    )
    with torch.no_grad():
        digit, seq = evaluate_adapters(model, hnet(embedder.embed([t.describe() for t in held])), held)
    print(
        f"text-to-LoRA: {time.perf_counter() - start:.0f} s; held-out digit acc {digit.mean():.3f}, seq acc {seq.mean():.3f}"
    )
    state = {
        "config": CONFIG,
        "pretrain_steps": args.pretrain_steps,
        "hnet_steps": args.hnet_steps,
        "vocabulary": list(embedder.vocabulary),
        "base": model.state_dict(),
        "hnet": hnet.state_dict(),
        "base_losses": torch.tensor(base_losses),
        "hnet_losses": torch.tensor(hnet_losses),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, args.out)
    print(f"saved {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
