"""Train lecture 06's models to convergence; save one small checkpoint the notebook evaluates live.

    python tools/train_06_bayesian.py                   # everything (about 10 CPU-minutes)
    python tools/train_06_bayesian.py --only regression # retrain one part, keep the other

Two experiments, with exactly the notebook's data, targets and recipes (only longer, with the
learning rate decayed to zero on a cosine):

  regression  60 noisy points of sin(x) in two clusters; per seed, the Bayesian hypernetwork
              (mean-field flow, learned prior) on a 1-32-32-1 ReLU MLP, ``--reg-steps`` steps of 8
              samples. The notebook trains seed 0 live for 500 steps and compares.
  digits      digits 0-7, 900 training images; per seed, the Bayesian hypernetwork (4 samples per
              step), a 5-member deep ensemble and MC dropout (p = 0.3), all on the 64-32-8 MLP with
              minibatches of 100 and the same number of steps ``--digits-steps``.

Checkpoint: ``checkpoints/06_bayesian.pt``, a plain dict of tensors (``weights_only=True``),
about 0.4 MB. It stores the training data too, so the notebook can check it rebuilt the same data.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from hypernet_lib import FlowHyperNetwork, default_device, describe, load_digits, mlp
from hypernet_lib.apps.bayes import DeepEnsemble, GaussianPrior, fit_bayes_hypernet, fit_ensemble, fit_mc_dropout

ROOT = Path(__file__).resolve().parents[1]
NOISE = 0.1
REG_WIDTHS, DIGIT_WIDTHS = (1, 32, 32, 1), (64, 32, 8)
LR, BATCH, DROPOUT, WEIGHT_DECAY = 2e-2, 100, 0.3, 1e-2


def regression_data() -> tuple[torch.Tensor, torch.Tensor]:
    """The notebook's 60 points: ``x: [60, 1]`` in [−4.5, −3] ∪ [3, 4.5], ``y = sin(x) + 0.1·noise``."""
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.rand(30, generator=g) * 1.5 - 4.5, torch.rand(30, generator=g) * 1.5 + 3])[:, None]
    return x, torch.sin(x) + NOISE * torch.randn(x.shape, generator=g)


def digits_split() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Digits 0-7 shuffled by a fixed permutation; the first 900 train. Returns ``(x, y, perm)``."""
    digits = load_digits()
    seen = digits.labels < 8
    x, y = digits.flat[seen], digits.labels[seen]
    return x, y, torch.randperm(len(y), generator=torch.Generator().manual_seed(0))


def cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def train_regression_seed(seed: int, steps: int, x: torch.Tensor, y: torch.Tensor) -> dict:
    torch.manual_seed(seed)
    target = mlp(REG_WIDTHS, "relu", dropout=0.0).to(x.device)
    bhn = FlowHyperNetwork(describe(target), n_couplings=0, init_from=target).to(x.device)
    prior = GaussianPrior(describe(target), learn=True).to(x.device)
    start = time.time()
    losses = fit_bayes_hypernet(
        bhn,
        target,
        x,
        y,
        "gaussian",
        steps,
        n_samples=8,
        lr=LR,
        noise_std=NOISE,
        prior=prior,
        cosine=True,
        generator=torch.Generator().manual_seed(seed),
        progress=False,
    )
    curve = torch.tensor(losses[: steps // 10])  # −ELBO/N at steps 0, 10, 20, … (fit logs every 10th step)
    print(f"regression seed {seed}: final -ELBO/N {curve[-50:].mean():.3f} ({time.time() - start:.0f} s)")
    return {"bhn": cpu_state(bhn), "prior": cpu_state(prior), "curve": curve}


def train_digits_seed(seed: int, steps: int, x: torch.Tensor, y: torch.Tensor) -> dict:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    target = mlp(DIGIT_WIDTHS, dropout=0.0).to(x.device)
    hnet = FlowHyperNetwork(describe(target), n_couplings=0, init_from=target).to(x.device)
    prior = GaussianPrior(describe(target), learn=True).to(x.device)
    common = dict(lr=LR, batch_size=BATCH, cosine=True, generator=g, progress=False)
    start = time.time()
    bhn_loss = fit_bayes_hypernet(hnet, target, x, y, "categorical", steps, n_samples=4, prior=prior, **common)
    ens = DeepEnsemble(target, n_members=5).to(x.device)
    fit_ensemble(ens, x, y, "categorical", steps, **common)
    drop = mlp(DIGIT_WIDTHS, dropout=DROPOUT).to(x.device)
    fit_mc_dropout(drop, x, y, "categorical", steps, weight_decay=WEIGHT_DECAY, **common)
    print(f"digits seed {seed}: BHN final -ELBO/N {sum(bhn_loss[-20:]) / 20:.3f} ({time.time() - start:.0f} s)")
    return {"bhn": cpu_state(hnet), "prior": cpu_state(prior), "ensemble": cpu_state(ens), "dropout": cpu_state(drop)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5, help="digits seeds")
    ap.add_argument("--reg-seeds", type=int, default=3, help="regression seeds")
    ap.add_argument("--digits-steps", type=int, default=4000)
    ap.add_argument("--reg-steps", type=int, default=8000)
    ap.add_argument("--only", choices=("regression", "digits"), help="retrain one part, keep the other from --out")
    ap.add_argument("--out", type=Path, default=ROOT / "checkpoints" / "06_bayesian.pt")
    args = ap.parse_args()
    if args.reg_steps % 10:
        ap.error("--reg-steps: expected a multiple of 10 (the loss curve is stored every 10 steps)")
    torch.set_num_threads(1)  # small models; leave the other cores to everyone else
    device = default_device()
    ckpt = torch.load(args.out, weights_only=True) if args.only else {}
    if args.only != "digits":
        x, y = regression_data()
        seeds = [train_regression_seed(s, args.reg_steps, x.to(device), y.to(device)) for s in range(args.reg_seeds)]
        ckpt["regression"] = {"x": x, "y": y, "steps": args.reg_steps, "seeds": seeds}
    if args.only != "regression":
        x, y, perm = digits_split()
        x_tr, y_tr = x[perm[:900]].to(device), y[perm[:900]].to(device)
        seeds = [train_digits_seed(s, args.digits_steps, x_tr, y_tr) for s in range(args.seeds)]
        ckpt["digits"] = {"perm": perm, "steps": args.digits_steps, "seeds": seeds}
    args.out.parent.mkdir(exist_ok=True)
    torch.save(ckpt, args.out)
    print(f"saved {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
