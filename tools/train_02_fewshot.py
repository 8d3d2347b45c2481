"""Meta-train lecture 02's few-shot digit models and save one small checkpoint.

    nice -n 10 python tools/train_02_fewshot.py                 # checkpoints/02_fewshot.pt (about 20 min, 1 core)
    nice -n 10 python tools/train_02_fewshot.py --split swap    # the same recipe, digits 5-9 train, 0-4 test
    nice -n 10 python tools/train_02_fewshot.py --plane         # the 2-D model: checkpoints/02_fewshot_plane.pt (1 min)

Meta-training classes (disjoint from the test digits):
  * 2,000 classes of random pen strokes rendered like scikit-learn's digits (:mod:`hypernet_lib.strokes`),
    20 examples each;
  * the five training digits (0-4 by default) under the 8 symmetries of the square: 40 classes.

Three models, 5-way, trained the same way (Adam 1e-3, 16 episodes a step, 1-shot and 5-shot alternating,
10 queries per class, a fixed number of steps chosen before looking at test accuracy):
  hyper_head    NCMHyperNet: generates the head rows; the residual block is shared (meta-learned)
  hyper_hidden  NCMHyperNet(generate_hidden=True): also generates the block's first layer per task
  proto         ResidualProtoNet: the same block, prototypes and squared distances, nothing generated
All three start exactly at nearest class mean on the pixels. The script prints the accuracy on the
lecture's 600 test episodes (same seed as the notebook) every ``--eval-every`` steps.

``--plane`` instead trains the lecture's 2-D model: NCMHyperNet(2 inputs, 3-way, 32 hidden units, 8 extra
features) on fresh Gaussian-cluster tasks every step (``cluster_episodes`` with spreads 0.1-1.5), 2,000 steps
of 64 tasks, Adam 3e-3.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from hypernet_lib import load_digits, seed_everything
from hypernet_lib.apps.fewshot import NCMHyperNet, ResidualProtoNet, evaluate, prototype_logits
from hypernet_lib.data import EpisodeSampler, cluster_episodes, stroke_classes

ROOT = Path(__file__).resolve().parents[1]
N_WAY, N_QUERY, META_BATCH, LR = 5, 10, 16, 1e-3
N_STROKE_CLASSES, STROKES_PER_CLASS, STROKE_SEED = 2000, 20, 7
TEST_SEED, TEST_EPISODES, TEST_QUERY = 1234, 600, 15
PLANE_SPREAD, PLANE_STEPS, PLANE_TASKS, PLANE_LR = (0.1, 1.5), 2000, 64, 3e-3
SPLITS = {"main": ([0, 1, 2, 3, 4], [5, 6, 7, 8, 9]), "swap": ([5, 6, 7, 8, 9], [0, 1, 2, 3, 4])}


def dihedral_classes(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each of the 8 symmetries of the square makes a new class: ``label * 8 + symmetry``."""
    out = []
    for flip in (False, True):
        for k in range(4):
            out.append(torch.rot90(images.flip(-1) if flip else images, k, dims=(-2, -1)))
    return torch.cat(out), torch.cat([labels * 8 + s for s in range(8)])


def build_models() -> dict[str, torch.nn.Module]:
    return {
        "hyper_head": NCMHyperNet(64, N_WAY, hidden=128, generate_hidden=False),
        "hyper_hidden": NCMHyperNet(64, N_WAY, hidden=128, generate_hidden=True),
        "proto": ResidualProtoNet(64, N_WAY, hidden=128),
    }


def plane_model() -> NCMHyperNet:
    return NCMHyperNet(2, 3, hidden=32, generator_width=64, extra=8)


def train_plane() -> None:
    """The 2-D model of section 6, evaluated on the notebook's 600 test tasks per shot count."""
    gen = seed_everything(0)
    model = plane_model()
    opt = torch.optim.Adam(model.parameters(), PLANE_LR)
    tests = {k: cluster_episodes(600, 3, k, 20, torch.Generator().manual_seed(5), spread=PLANE_SPREAD) for k in (1, 5)}
    for step in range(1, PLANE_STEPS + 1):
        ep = cluster_episodes(PLANE_TASKS, 3, (1, 5)[step % 2], 10, gen, spread=PLANE_SPREAD)
        loss = F.cross_entropy(model.logits(ep.x_support, ep.y_support, ep.x_query).flatten(0, 1), ep.y_query.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 500 == 0:
            with torch.no_grad():
                accs = [
                    evaluate(lambda e: model.logits(e.x_support, e.y_support, e.x_query), tests[k]).mean for k in (1, 5)
                ]
            print(f"  plane step {step}: 1-shot {accs[0]:.3f}, 5-shot {accs[1]:.3f}", flush=True)
    out = ROOT / "checkpoints" / "02_fewshot_plane.pt"
    torch.save({"steps": PLANE_STEPS, "spread": list(PLANE_SPREAD), "plane": model.state_dict()}, out)
    print(f"saved {out} ({out.stat().st_size / 1e6:.3f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--split", choices=sorted(SPLITS), default="main")
    parser.add_argument("--models", nargs="+", default=["hyper_head", "hyper_hidden", "proto"])
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--plane", action="store_true", help="train only the 2-D model of section 6")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.plane:
        train_plane()
        return
    train_digits, test_digits = SPLITS[args.split]

    digits = load_digits()
    is_train = torch.isin(digits.labels, torch.tensor(train_digits))
    t0 = time.perf_counter()
    sx, sy = stroke_classes(N_STROKE_CLASSES, STROKES_PER_CLASS, torch.Generator().manual_seed(STROKE_SEED))
    dx, dy = dihedral_classes(digits.images[is_train], digits.labels[is_train])
    meta_train = EpisodeSampler(torch.cat([sx, dx]).flatten(1), torch.cat([sy, dy + N_STROKE_CLASSES]))
    print(f"meta-train: {meta_train} ({time.perf_counter() - t0:.0f} s to render)", flush=True)
    meta_test = EpisodeSampler(digits.flat, digits.labels, classes=test_digits)
    test_gen = torch.Generator().manual_seed(TEST_SEED)
    tests = {k: meta_test.sample(TEST_EPISODES, N_WAY, k, TEST_QUERY, generator=test_gen) for k in (1, 5)}

    def report(name: str, logits_fn, step: int) -> dict[int, float]:
        accs = {k: evaluate(lambda ep: logits_fn(ep.x_support, ep.y_support, ep.x_query), tests[k]) for k in (1, 5)}
        print(
            f"  {name:13s} step {step:5d}: "
            + "  ".join(f"{k}-shot {a.mean:.3f} ± {a.ci:.3f}" for k, a in accs.items()),
            flush=True,
        )
        return {k: a.mean for k, a in accs.items()}

    report("ncm", lambda xs, ys, xq: prototype_logits(xs, ys, xq, N_WAY), 0)
    models = build_models()
    state: dict[str, object] = {"split": args.split, "steps": args.steps, "test_digits": test_digits}
    for name in args.models:
        gen = seed_everything(0)
        model = models[name]
        opt = torch.optim.Adam(model.parameters(), LR)
        t0 = time.perf_counter()
        for step in range(1, args.steps + 1):
            ep = meta_train.sample(META_BATCH, N_WAY, (1, 5)[step % 2], N_QUERY, generator=gen)
            loss = F.cross_entropy(
                model.logits(ep.x_support, ep.y_support, ep.x_query).flatten(0, 1), ep.y_query.flatten()
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % args.eval_every == 0 or step == args.steps:
                with torch.no_grad():
                    report(name, model.logits, step)
        print(f"  {name}: {time.perf_counter() - t0:.0f} s", flush=True)
        state[name] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    out = args.out or ROOT / "checkpoints" / (
        "02_fewshot.pt" if args.split == "main" else f"02_fewshot_{args.split}.pt"
    )
    torch.save(state, out)
    print(f"saved {out} ({out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
