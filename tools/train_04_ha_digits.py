"""Train lecture 04's digits CNNs (plain vs generated second kernel) over seeds; save a small checkpoint.

    python tools/train_04_ha_digits.py                # 5 seeds, 1500 steps each (about 3 CPU-minutes)
    python tools/train_04_ha_digits.py --seeds 3 --steps 500

Ha, Dai & Le (2016) trained a small MNIST CNN whose second convolution kernel was generated
from layer embeddings by a static hypernetwork. This is that experiment in miniature on the
bundled 8x8 digits:

  plain      conv 1→16 (3x3) · ReLU · maxpool · conv 16→32 (3x3) · ReLU · maxpool · linear 128→10
  generated  the same CNN, but its second kernel [32, 16, 3, 3] is made by a ChunkedHyperNet with
             the per-layer layout and one chunk per output filter (16·3·3 = 144 numbers), a
             4-number embedding per chunk and a linear generator (as Ha et al.'s); its input z is
             one constant number (a static hypernetwork: the chunk embeddings carry everything)

The notebook builds the same models (same code), loads these weights and measures their test
accuracy live. Checkpoint: ``checkpoints/04_ha_digits.pt``, a plain dict (``weights_only=True``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hypernet_lib import ChunkedHyperNet, default_device, describe, fit, functional_forward, load_digits

ROOT = Path(__file__).resolve().parents[1]
C1, C2, CHUNK_DIM = 16, 32, 4
LR, BATCH = 3e-3, 128


def digits_split(device=None):
    """The lecture's fixed split of the 1,797 digits: 1,437 for training, 360 for testing."""
    d = load_digits()
    perm = torch.randperm(len(d.labels), generator=torch.Generator().manual_seed(0))
    tr, te = perm[:1437], perm[1437:]
    return tuple(t.to(device) for t in (d.images[tr], d.labels[tr], d.images[te], d.labels[te]))


def digits_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, C1, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(C1, C2, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(C2 * 2 * 2, 10),
    )


class GeneratedKernelCNN(nn.Module):
    """``digits_cnn()`` whose second kernel (``"3.weight"``) comes from a static chunked hypernetwork."""

    def __init__(self):
        super().__init__()
        self.cnn = digits_cnn()
        self.cnn[3].weight.requires_grad_(False)  # never used: the generated kernel replaces it
        spec = describe(self.cnn, include=["3.weight"])
        self.register_buffer("z", torch.ones(1))
        self.hnet = ChunkedHyperNet(
            spec, z_dim=1, chunk_size=C1 * 9, chunk_dim=CHUNK_DIM, hidden=(), layout="layer", z_sample=self.z[None]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional_forward(self.cnn, self.hnet(self.z), x)


def train(model: nn.Module, data, steps: int, seed: int, progress: bool = False) -> list[float]:
    """Adam on minibatches of 128 training images, learning rate decayed to zero on a cosine; returns the losses."""

    x_train, y_train = data[0], data[1]
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    batches = torch.Generator().manual_seed(seed)

    def step(_):
        idx = torch.randint(0, len(y_train), (BATCH,), generator=batches).to(y_train.device)
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        return loss.detach()

    return fit(step, steps, desc="training", log_every=50, progress=progress)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model(x).argmax(-1) == y).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--out", type=Path, default=ROOT / "checkpoints" / "04_ha_digits.pt")
    args = ap.parse_args()
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    device = default_device()
    data = digits_split(device)
    ckpt = {"steps": args.steps, "plain": [], "generated": []}
    for seed in range(args.seeds):
        for kind, make in (("plain", digits_cnn), ("generated", GeneratedKernelCNN)):
            torch.manual_seed(seed)
            model = make().to(device)
            start = time.time()
            train(model, data, args.steps, seed)
            acc = accuracy(model, data[2], data[3])
            print(f"seed {seed} {kind:9s} test accuracy {100 * acc:.2f}%  ({time.time() - start:.0f} s)")
            ckpt[kind].append({k: v.detach().cpu() for k, v in model.state_dict().items()})
    args.out.parent.mkdir(exist_ok=True)
    torch.save(ckpt, args.out)
    print(f"saved {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
