"""Lecture 03's targets, measured in one run: hypernetwork vs 10 MAML steps on MAML's sinusoids.

Loads the K = 5 and K = 10 checkpoints (seed 0) of lecture 03's recipe ``course/lec03_maml.py``, draws 600
test sines per K (100 query points each), and prints for each K:

- the query MSE of MAML after 10 steps (alpha = 0.01) and of the hypernetwork, with 95% CIs,
  and their ratio (target: hypernetwork <= 1.1x MAML-10);
- the adaptation time (support set -> adapted weights) of both, interleaved, median of repeats,
  for one task (MAML via the plain-autograd ``finetune``, its fastest single-task path) and per
  task for 100 tasks at once (MAML via the vmapped ``inner_loop``), and their ratios (target:
  hypernetwork >= 20x faster);
- one meta-training step on 25 tasks: time and peak memory of second-order MAML, first-order
  MAML and the hypernetwork.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course import lec03_maml as setup
from hypernet_lib import default_device, functional_forward, mean_ci, median_times, peak_memory_bytes, sample_sinusoids
from hypernet_lib.apps.maml import finetune, inner_loop, maml_loss, query_losses


def load(method: str, k: int, device: torch.device) -> torch.nn.Module:
    return setup.load_or_train(setup.sine_config(method, k), device)[0]


def main() -> None:
    device = default_device()
    torch.set_num_threads(1)  # tiny networks: one thread beats two that must synchronise
    print(f"device: {device}")
    target = setup.sine_target().to(device)
    for k in (5, 10):
        compare(k, target, device)
    training_step(target, device)


def compare(k: int, target: torch.nn.Module, device: torch.device) -> None:
    """Query MSE and adaptation time of MAML-10 and the hypernetwork, both trained at K = ``k``."""
    maml, hyper = load("maml", k, device), load("hypernet", k, device)
    theta = {n: p.detach() for n, p in maml.init_params().items()}
    tasks = sample_sinusoids(600, k, 100, generator=torch.Generator().manual_seed(2017 + k), device=device)
    with torch.no_grad():
        m_mse = mean_ci(
            query_losses(
                target, maml.adapt(tasks.x_support, tasks.y_support, n_steps=10), tasks.x_query, tasks.y_query
            ).cpu()
        )
        h_mse = mean_ci(
            query_losses(target, hyper(tasks.x_support, tasks.y_support), tasks.x_query, tasks.y_query).cpu()
        )
    one = sample_sinusoids(1, k, 1, generator=torch.Generator().manual_seed(5), device=device)
    many = sample_sinusoids(100, k, 1, generator=torch.Generator().manual_seed(6), device=device)
    with torch.no_grad():
        single = median_times(
            {
                "maml": lambda: finetune(target, theta, one.x_support[0], one.y_support[0], 0.01, 10),
                "hyper": lambda: hyper(one.x_support, one.y_support),
            },
            repeats=31,
            device=device,
        )
        batched = median_times(
            {
                "maml": lambda: inner_loop(target, theta, many.x_support, many.y_support, 0.01, 10),
                "hyper": lambda: hyper(many.x_support, many.y_support),
            },
            repeats=9,
            device=device,
        )
    print(f"\nK = {k}: query MSE on 600 sines (mean ± 95% CI)")
    print(f"  MAML, 10 steps   {m_mse[0]:.3f} ± {m_mse[1]:.3f}")
    print(f"  hypernetwork     {h_mse[0]:.3f} ± {h_mse[1]:.3f}")
    print(f"  MSE ratio hypernetwork / MAML-10: {h_mse[0] / m_mse[0]:.2f}  (target <= 1.1)")
    print(f"K = {k}: adaptation time, MAML 10 steps vs hypernetwork (median, interleaved)")
    print(
        f"  one task:              {single['maml'] * 1e3:8.3f} ms vs {single['hyper'] * 1e3:7.3f} ms"
        f"  -> {single['maml'] / single['hyper']:6.1f}x  (target >= 20x)"
    )
    print(
        f"  per task, 100 at once: {batched['maml'] * 10:8.3f} ms vs {batched['hyper'] * 10:7.3f} ms"
        f"  -> {batched['maml'] / batched['hyper']:6.1f}x"
    )


def training_step(target: torch.nn.Module, device: torch.device) -> None:
    """Time and peak memory of one meta-training step on 25 tasks with K = 5."""
    batch = sample_sinusoids(25, 5, 5, generator=torch.Generator().manual_seed(7), device=device)
    fresh = setup.sine_target().to(device)
    theta = dict(fresh.named_parameters())
    hyper = load("hypernet", 5, device)

    def maml_step(first_order: bool) -> None:
        maml_loss(
            fresh,
            theta,
            batch.x_support,
            batch.y_support,
            batch.x_query,
            batch.y_query,
            0.01,
            1,
            first_order=first_order,
        ).backward()

    def hyper_step() -> None:
        params = hyper(batch.x_support, batch.y_support)
        F.mse_loss(functional_forward(target, params, batch.x_query), batch.y_query).backward()

    steps = {
        "second-order MAML": lambda: maml_step(False),
        "first-order MAML": lambda: maml_step(True),
        "hypernetwork": hyper_step,
    }
    times = median_times(steps, repeats=11, device=device)
    print("\nmeta-training step, 25 tasks, K = 5 (forward + backward): time, peak memory")
    for name, fn in steps.items():
        print(f"  {name:18s} {times[name] * 1e3:7.2f} ms {peak_memory_bytes(fn, device) / 1e3:8.0f} kB")


if __name__ == "__main__":
    main()
