"""Training loops and evaluation statistics shared by the lectures."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm

from ._checks import require_positive_int


def fit(
    step: Callable[[int], torch.Tensor | float],
    n_steps: int,
    desc: str = "training",
    log_every: int = 1,
    progress: bool = True,
) -> list[float]:
    """Call ``step(i)`` for ``i in range(n_steps)`` with a progress bar; return the losses.

    ``step`` does one optimisation step (zero_grad, backward, optimizer step) and returns the
    loss. Losses are read back (``float``) only every ``log_every`` steps, since each read
    synchronises a GPU.
    """
    if not callable(step):
        raise TypeError(f"step: expected a callable step(i) -> loss, got {type(step).__name__}")
    n_steps = require_positive_int("n_steps", n_steps)
    log_every = require_positive_int("log_every", log_every)
    losses: list[float] = []
    bar = tqdm(range(n_steps), desc=desc, disable=not progress, mininterval=0.5, leave=False)
    for i in bar:
        loss = step(i)
        if i % log_every == 0 or i == n_steps - 1:
            losses.append(float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss))
            bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    bar.close()
    return losses


def mean_ci(values: Sequence[float] | torch.Tensor, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of its normal-approximation confidence interval.

    For ``n`` values with sample std ``s``: ``mean ± z · s / sqrt(n)`` (z = 1.96 for 95%),
    the interval few-shot papers report over test episodes.
    """
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    if v.numel() < 2:
        raise ValueError(f"values: expected at least 2 numbers for a confidence interval, got {v.numel()}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: expected a number in (0, 1), got {confidence}")
    z = math.sqrt(2) * float(torch.erfinv(torch.tensor(confidence, dtype=torch.float64)))
    return float(v.mean()), z * float(v.std(unbiased=True)) / math.sqrt(v.numel())
