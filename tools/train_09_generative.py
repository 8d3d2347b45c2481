"""Train lecture 09's two autoencoders on the bundled digits and save them to checkpoints/.

    PYTHONPATH=. python tools/train_09_generative.py            # a few minutes on a laptop CPU

Both models share the same encoder architecture, code size, data split, batches and
schedule; they differ only in the decoder: a hypernetwork generating an INR's weights,
or a plain MLP with a matched parameter count. The notebook loads the result with
``torch.load(..., weights_only=True)`` and retrains a short run live.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from hypernet_lib import count_parameters, load_digits, seed_everything
from hypernet_lib.apps.inr import HyperINRAutoencoder, PixelAutoencoder, fit_autoencoder, per_image_mse

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "checkpoints" / "09_generative.pt"
N_TRAIN = 1500  # the rest (297 digits) is held out
CONFIG = {"z_dim": 8, "hnet_hidden": (32,), "inr_hidden": (16, 16), "n_frequencies": 2, "decoder_hidden": 213}


def split(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed train / held-out split of the 1,797 digits (indices)."""
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(seed))
    return perm[:N_TRAIN], perm[N_TRAIN:]


def build(config: dict = CONFIG) -> tuple[HyperINRAutoencoder, PixelAutoencoder]:
    hyper = HyperINRAutoencoder(
        z_dim=config["z_dim"],
        hnet_hidden=config["hnet_hidden"],
        inr_hidden=config["inr_hidden"],
        n_frequencies=config["n_frequencies"],
    )
    pixel = PixelAutoencoder(z_dim=config["z_dim"], decoder_hidden=config["decoder_hidden"])
    return hyper, pixel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=CHECKPOINT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    seed_everything(0)
    images = load_digits().images
    train_idx, test_idx = split()
    hyper, pixel = build()
    print("decoder parameters: hypernetwork", count_parameters(hyper.hnet), "| MLP", count_parameters(pixel.decoder))
    curves = {}
    for name, model in (("hyper", hyper), ("pixel", pixel)):
        start = time.perf_counter()
        losses = fit_autoencoder(model, images[train_idx], args.steps, generator=torch.Generator().manual_seed(1))
        curves[name] = torch.tensor(losses)
        mse = per_image_mse(model, images[test_idx]).mean()
        print(f"{name}: {time.perf_counter() - start:.0f} s, final train loss {losses[-1]:.4f}, held-out MSE {mse:.4f}")
    state = {
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in CONFIG.items()},
        "steps": args.steps,
        "hyper": hyper.state_dict(),
        "pixel": pixel.state_dict(),
        "losses": curves,  # logged every 10 steps
        "train_idx": train_idx,
        "test_idx": test_idx,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, args.out)
    print(f"saved {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
