"""Meta-train lecture 03's few-shot digit models (5-way, K-shot) and save small checkpoints.

    python tools/train_03_digits.py --all                    # every model the lecture loads
    python tools/train_03_digits.py --method maml --k 1      # one model

Episodes come from lecture 02's sampler (:mod:`hypernet_lib.fewshot`): meta-training on digit
classes 0-4 (each rotated and mirrored into 8 classes: 40 training classes), testing on the
unseen classes 5-9, labels permuted in every episode. Both methods produce the same classifier,
a linear layer 64 -> 5 on the 8x8 pixels (softmax regression):

  maml      MAML learns its initialization; 5 inner SGD steps (alpha = 0.4) in meta-training
  hypernet  the class encoder of lecture 02 (here: the mean image of each class's shots) feeds a
            linear generator that writes each class's row of the layer (weights and bias)

(We tried an MLP target with a learned hidden layer first: with only five training digits both
methods learned features that do not transfer to 5-9 and fell below the nearest-class-mean
baseline on pixels. The linear target keeps the comparison about adaptation, not features.)

Checkpoints: ``checkpoints/03_digits_{method}_k{K}.pt``, plain dicts (``weights_only=True``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hypernet_lib import functional_forward, load_digits, seed_everything
from hypernet_lib.apps.fewshot import ClassEncoder
from hypernet_lib.apps.maml import MAML, query_losses
from hypernet_lib.data import EpisodeSampler
from hypernet_lib.hypernets import ClassHeadGenerator

ROOT = Path(__file__).resolve().parents[1]
N_WAY, N_QUERY, META_BATCH, META_LR = 5, 10, 25, 1e-3
INNER_LR, TRAIN_STEPS = 0.4, 5
TRAIN_CLASSES, TEST_CLASSES = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]
DEFAULT_ITERS = {"maml": 2000, "hypernet": 2000}


def digit_target() -> nn.Module:
    return nn.Linear(64, N_WAY)


class DigitHyperNet(nn.Module):
    """Support set → class means (lecture 02's ClassEncoder) → one generated row of ``target`` per class."""

    def __init__(self):
        super().__init__()
        self.target = digit_target()
        # Class embedding = the mean image of the class's shots; a linear generator maps it to the
        # class's row (nearest-class-mean is close to the special case row = 2 * mean).
        self.encoder = ClassEncoder(nn.Identity())
        self.head = ClassHeadGenerator(64, 64, "weight", "bias", hidden=())

    def forward(self, x_support: torch.Tensor, y_support: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.head(self.encoder(x_support, y_support, N_WAY))


def build(method: str) -> nn.Module:
    if method == "maml":
        return MAML(digit_target(), inner_lr=INNER_LR, inner_steps=TRAIN_STEPS, loss_fn=F.cross_entropy)
    if method == "hypernet":
        return DigitHyperNet()
    raise ValueError(f"method: expected 'maml' or 'hypernet', got {method!r}")


def dihedral_classes(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eight new classes per class: the 4 rotations of the image and of its mirror image.

    ``images: [n, 1, 8, 8]``, ``labels: [n]`` → ``[8n, 64]``, ``[8n]`` with label ``8 * class + t``.
    Five training digits alone are too few classes to meta-learn from (both methods overfit to
    them); rotated and mirrored digits are new classes, as in MAML's Omniglot setup.
    """
    views = []
    for flip in (False, True):
        base = images.flip(-1) if flip else images
        views += [torch.rot90(base, r, dims=(-2, -1)) for r in range(4)]
    x = torch.cat([v.flatten(1) for v in views])
    y = torch.cat([labels * 8 + t for t in range(8)])
    return x, y


def samplers(device: torch.device | str | None = None) -> tuple[EpisodeSampler, EpisodeSampler]:
    """Meta-training episodes from the 40 dihedral classes of digits 0-4; test episodes from digits 5-9."""
    digits = load_digits(device)
    train_mask = torch.isin(digits.labels, torch.tensor(TRAIN_CLASSES, device=digits.labels.device))
    x_aug, y_aug = dihedral_classes(digits.images[train_mask], digits.labels[train_mask])
    return EpisodeSampler(x_aug, y_aug), EpisodeSampler(digits.flat, digits.labels, classes=TEST_CLASSES)


def logits(method: str, model: nn.Module, ep, steps: int = 10) -> torch.Tensor:
    """Query logits ``[B, N*Q, N]`` after adapting to each episode's support set."""
    if method == "maml":
        params = model.adapt(ep.x_support, ep.y_support, n_steps=steps)
        return functional_forward(model.target, params, ep.x_query)
    return functional_forward(model.target, model(ep.x_support, ep.y_support), ep.x_query)


def train(method: str, k: int, iters: int, seed: int = 0, log_every: int = 250) -> dict:
    gen = seed_everything(seed)
    train_eps, test_eps = samplers()
    val = test_eps.sample(200, N_WAY, k, N_QUERY, generator=torch.Generator().manual_seed(20_000 + k))
    model = build(method)
    opt = torch.optim.Adam(model.parameters(), lr=META_LR)
    log: list[list[float]] = []
    start = time.perf_counter()
    for it in range(iters):
        ep = train_eps.sample(META_BATCH, N_WAY, k, N_QUERY, generator=gen)
        if method == "maml":
            loss = model.meta_loss(ep.x_support, ep.y_support, ep.x_query, ep.y_query)
        else:
            params = model(ep.x_support, ep.y_support)
            loss = query_losses(model.target, params, ep.x_query, ep.y_query, F.cross_entropy).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it % log_every == 0 or it == iters - 1:
            with torch.no_grad():
                acc = float((logits(method, model, val).argmax(-1) == val.y_query).float().mean())
            log.append([it, float(loss.detach()), acc])
            print(
                f"{method} K={k} it {it:5d}  train {float(loss.detach()):.3f}  val acc {acc:.3f}  "
                f"{time.perf_counter() - start:6.1f}s",
                flush=True,
            )
    seconds = time.perf_counter() - start
    config = {
        "method": method,
        "k": k,
        "iters": iters,
        "meta_batch": META_BATCH,
        "n_way": N_WAY,
        "n_query": N_QUERY,
        "inner_lr": INNER_LR,
        "train_steps": TRAIN_STEPS,
        "meta_lr": META_LR,
        "seed": seed,
    }
    return {"state": model.state_dict(), "config": config, "log": torch.tensor(log), "seconds": seconds}


def checkpoint_path(method: str, k: int) -> Path:
    return ROOT / "checkpoints" / f"03_digits_{method}_k{k}.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", choices=["maml", "hypernet"])
    parser.add_argument("--k", type=int, choices=[1, 5], default=1)
    parser.add_argument("--iters", type=int, default=None)
    parser.add_argument("--all", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.all and args.method is None:
        parser.error("give --method (and --k) or --all")
    torch.set_num_threads(1)  # tiny networks: one thread is faster
    jobs = [(m, k) for m in ("maml", "hypernet") for k in (1, 5)] if args.all else [(args.method, args.k)]
    for method, k in jobs:
        ckpt = train(method, k, args.iters or DEFAULT_ITERS[method], seed=args.seed)
        path = checkpoint_path(method, k)
        path.parent.mkdir(exist_ok=True)
        torch.save(ckpt, path)
        print(f"saved {path.relative_to(ROOT)} ({path.stat().st_size / 1e3:.0f} kB, {ckpt['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
