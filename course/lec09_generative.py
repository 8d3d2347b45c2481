"""Lecture 09's models: two autoencoders of the bundled digits that differ only in their decoder.

One decoder is a hypernetwork that writes all weights of an implicit neural representation (INR), drawn
on a 32x32 grid and averaged over 4x4 blocks, which is how the digits themselves were made from 32x32
bitmaps; the other is a plain MLP that outputs the 64 pixels, with the same parameter count. Same
encoder, code size, data split, batches and schedule; several seeds of each, so that the lecture can
compare a live evaluation with the spread between trainings.

    python -m course.lec09_generative      # retrain checkpoints/09_generative.pt (about 20 min on one CPU core)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from hypernet_lib import load_digits, seed_everything
from hypernet_lib.apps.inr import HyperINRAutoencoder, PixelAutoencoder, fit_autoencoder, per_image_mse
from hypernet_lib.checkpoints import load_or_train as _load_or_train

from . import retrain_main

RECIPE, NAME = "course.lec09_generative", "09_generative.pt"
CONFIG: dict[str, Any] = {
    "z_dim": 8,
    "encoder_hidden": 64,
    "hnet_hidden": (32,),
    "inr_hidden": (16, 16),
    "n_frequencies": 2,  # π and 2π: below the 8x8 grid's Nyquist frequency (lecture 09, section 1)
    "supersample": 4,  # the digits' forward model: 4x4 blocks of a 32x32 bitmap
    "sigmoid_output": True,  # chosen on a validation split of the training digits, for both decoders
    "decoder_hidden": 213,  # the plain decoder's width that matches the hypernetwork's parameter count
    "n_train": 1500,  # the other 297 digits are held out
    "split_seed": 0,
    "n_steps": 5000,
    "batch_size": 64,
    "lr": 1e-3,
    "code_weight": 1e-4,
    "seeds": (0, 1, 2),  # seed 0's weights are shipped; the others give the spread between trainings
    "live_steps": 150,  # the short run the lecture trains live, also run here once per seed
}


def split(config: Mapping[str, Any] = CONFIG) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed train / held-out split of the 1,797 digits (indices)."""
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(config["split_seed"]))
    return perm[: config["n_train"]], perm[config["n_train"] :]


def build(config: Mapping[str, Any] = CONFIG) -> tuple[HyperINRAutoencoder, PixelAutoencoder]:
    """The two autoencoders, untrained: hypernetwork + INR decoder, and the plain pixel decoder."""
    hyper = HyperINRAutoencoder(
        z_dim=config["z_dim"],
        encoder_hidden=config["encoder_hidden"],
        hnet_hidden=tuple(config["hnet_hidden"]),
        inr_hidden=tuple(config["inr_hidden"]),
        n_frequencies=config["n_frequencies"],
        supersample=config["supersample"],
        sigmoid_output=config["sigmoid_output"],
    )
    pixel = PixelAutoencoder(
        z_dim=config["z_dim"],
        encoder_hidden=config["encoder_hidden"],
        decoder_hidden=config["decoder_hidden"],
        sigmoid_output=config["sigmoid_output"],
    )
    return hyper, pixel


def digit_classifier(images: torch.Tensor, labels: torch.Tensor):
    """A judge of "is this a digit?": multinomial logistic regression on 8x8 images (scikit-learn).

    ``images: [N, 1, 8, 8]`` in [0, 1], ``labels: [N]``. Returns ``probs(images) → [N, 10]`` class
    probabilities as a tensor. Linear, so it has no capacity to invent confidence for shapes far from
    the digits it was fitted on beyond what a linear score gives.
    """
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=2000, C=1.0)
    clf.fit(images.flatten(1).cpu().double().numpy(), labels.cpu().numpy())

    def probs(x: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(clf.predict_proba(x.detach().flatten(1).cpu().double().numpy()), dtype=torch.float32)

    return probs


def _measure(hyper: HyperINRAutoencoder, images: torch.Tensor, labels: torch.Tensor, config: Mapping[str, Any]):
    """What the lecture measures on one trained hypernetwork autoencoder (so every seed is measured alike)."""
    train_idx, test_idx = split(config)
    probs = digit_classifier(images[train_idx], labels[train_idx])
    with torch.no_grad():
        z_train = hyper.encode(images[train_idx])
        prior = torch.distributions.MultivariateNormal(
            z_train.mean(0), covariance_matrix=torch.cov(z_train.T) + 1e-5 * torch.eye(z_train.shape[1])
        )
        torch.manual_seed(1)
        samples = hyper.decode(prior.sample((500,)))
        a, b = pairs(labels[test_idx])
        za, zb = hyper.encode(images[test_idx][a]), hyper.encode(images[test_idx][b])
        code_mid = hyper.decode(0.5 * (za + zb))
        pixel_mid = 0.5 * (images[test_idx][a] + images[test_idx][b])
    return {
        "sample_confidence": probs(samples).max(1).values,
        "code_mid_confidence": probs(code_mid).max(1).values,
        "pixel_mid_confidence": probs(pixel_mid).max(1).values,
    }


def pairs(labels: torch.Tensor, n: int = 200, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random pairs of held-out digits with different labels: indices ``(a [n], b [n])``."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.randint(len(labels), (4 * n,), generator=gen)
    b = torch.randint(len(labels), (4 * n,), generator=gen)
    keep = (labels[a] != labels[b]).nonzero()[:n, 0]
    return a[keep], b[keep]


def train(config: Mapping[str, Any] = CONFIG) -> dict[str, Any]:
    """Train both autoencoders for every seed; keep seed 0's weights and every seed's measurements."""
    digits = load_digits()
    images, labels = digits.images, digits.labels
    train_idx, test_idx = split(config)
    kept: dict[str, Any] = {}
    curves: dict[str, list[torch.Tensor]] = {"hyper": [], "pixel": []}
    heldout: dict[str, list[torch.Tensor]] = {"hyper": [], "pixel": []}
    measured: dict[str, list[torch.Tensor]] = {}
    live_final = []
    for seed in config["seeds"]:
        seed_everything(seed)
        models = dict(zip(("hyper", "pixel"), build(config)))
        for name, model in models.items():
            losses = fit_autoencoder(
                model,
                images[train_idx],
                config["n_steps"],
                batch_size=config["batch_size"],
                lr=config["lr"],
                code_weight=config["code_weight"],
                generator=torch.Generator().manual_seed(1000 + seed),
            )
            model.eval()
            curves[name].append(torch.tensor(losses))
            heldout[name].append(per_image_mse(model, images[test_idx]))
            if seed == config["seeds"][0]:
                kept[name] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            print(f"seed {seed} {name}: held-out MSE {heldout[name][-1].mean():.4f}", flush=True)
        for k, v in _measure(models["hyper"], images, labels, config).items():
            measured.setdefault(k, []).append(v)
        seed_everything(seed)
        live, _ = build(config)
        short = fit_autoencoder(
            live, images[train_idx], config["live_steps"], generator=torch.Generator().manual_seed(seed)
        )
        live_final.append(torch.tensor([short[0], short[-1]]))
    return {
        "hyper": kept["hyper"],
        "pixel": kept["pixel"],
        "losses": {k: torch.stack(v) for k, v in curves.items()},  # [seeds, logged every 10 steps]
        "heldout_mse": {k: torch.stack(v) for k, v in heldout.items()},  # [seeds, 297 held-out digits]
        "measured": {k: torch.stack(v) for k, v in measured.items()},  # [seeds, ...]
        "live_first_last": torch.stack(live_final),  # [seeds, 2]: first and last loss of the short run
        "train_idx": train_idx,
        "test_idx": test_idx,
    }


def load_or_train(config: Mapping[str, Any] = CONFIG) -> tuple[HyperINRAutoencoder, PixelAutoencoder, dict[str, Any]]:
    """Seed 0's two trained autoencoders (eval mode) and the stored payload (curves and per-seed numbers)."""
    payload = _load_or_train(
        NAME, config, train, recipe=RECIPE, keys=("hyper", "pixel", "heldout_mse"), estimate="about 20 minutes"
    )
    hyper, pixel = build(config)
    hyper.load_state_dict(payload["hyper"])
    pixel.load_state_dict(payload["pixel"])
    return hyper.eval(), pixel.eval(), payload


if __name__ == "__main__":
    retrain_main(NAME, CONFIG, train, RECIPE, __doc__)
