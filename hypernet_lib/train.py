"""The one training loop of the course (lecture 01 onwards), its progress report, schedule and minibatches.

Every training in the course goes through :func:`fit` (or, for loops that are not one optimisation step at
a time, :func:`progress_bar`), so progress is reported one way everywhere:

- a student running a notebook sees a live progress bar;
- a notebook executed for commit, in CI or for the website (``HYPERNET_PROGRESS=summary``) prints one
  line per training instead, so a reader on GitHub never sees a bar frozen at "67%";
- ``progress=False`` (or ``HYPERNET_PROGRESS=off``) prints nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Literal, TypeVar

import torch
from tqdm.auto import tqdm

from ._checks import require_instance, require_positive_int

T = TypeVar("T")
ProgressMode = Literal["bar", "summary", "off"]
PROGRESS_ENV = "HYPERNET_PROGRESS"


def progress_mode(progress: bool | None = None) -> ProgressMode:
    """How a training reports progress: ``False`` → ``"off"``; otherwise ``$HYPERNET_PROGRESS`` (default ``"bar"``)."""
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress: expected True, False or None, got {progress!r}")
    if progress is False:
        return "off"
    mode = os.environ.get(PROGRESS_ENV, "bar").strip().lower() or "bar"
    if mode not in ("bar", "summary", "off"):
        raise ValueError(f"{PROGRESS_ENV}: expected 'bar', 'summary' or 'off', got {mode!r}")
    return mode  # type: ignore[return-value]


def progress_bar(items: Iterable[T], desc: str, total: int | None = None, progress: bool | None = None) -> Iterator[T]:
    """Iterate over ``items`` with the course's progress report (see the module docstring)."""
    if isinstance(items, torch.Tensor) or not hasattr(items, "__iter__"):
        raise TypeError(f"items: expected an iterable such as range(n) or a list, got {type(items).__name__}")
    if not isinstance(desc, str):
        raise TypeError(f"desc: expected a str (what the bar is counting), got {type(desc).__name__}")
    mode = progress_mode(progress)
    if mode == "bar":
        yield from tqdm(items, desc=desc, total=total, mininterval=0.5, leave=False)
        return
    start, count = time.perf_counter(), 0
    for item in items:
        count += 1
        yield item
    if mode == "summary":
        print(f"{desc}: {count} done in {time.perf_counter() - start:.1f} s", flush=True)


def fit(
    step: Callable[[int], torch.Tensor | float],
    n_steps: int,
    desc: str = "training",
    log_every: int = 1,
    progress: bool | None = None,
) -> list[float]:
    """Call ``step(i)`` for ``i in range(n_steps)``, reporting progress; return the losses read.

    ``step`` does one optimisation step (zero_grad, backward, optimizer step) and returns the loss.
    Losses are read back (``float``) only every ``log_every`` steps and at the last one, since each read
    synchronises a GPU. A step that returns something other than a number fails at once, naming the step.
    """
    if not callable(step):
        raise TypeError(f"step: expected a callable step(i) -> loss, got {type(step).__name__}")
    n_steps = require_positive_int("n_steps", n_steps)
    log_every = require_positive_int("log_every", log_every)
    mode = progress_mode(progress)
    losses: list[float] = []
    start = time.perf_counter()
    bar = tqdm(range(n_steps), desc=desc, disable=mode != "bar", mininterval=0.5, leave=False)
    for i in bar:
        loss = step(i)
        if i % log_every == 0 or i == n_steps - 1:
            losses.append(_loss_value(loss, i))
            bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
    bar.close()
    if mode == "summary":
        print(
            f"{desc}: {n_steps} steps, loss {losses[0]:.4g} -> {losses[-1]:.4g} ({time.perf_counter() - start:.1f} s)",
            flush=True,
        )
    return losses


def optimizer_step(
    opt: torch.optim.Optimizer, loss: torch.Tensor, schedule: torch.optim.lr_scheduler.LRScheduler | None = None
) -> torch.Tensor:
    """One gradient step on ``loss``: clear the gradients, backpropagate, step ``opt`` (then ``schedule``).

    Returns ``loss`` detached, the value a :func:`fit` step returns. The body of almost every training
    step in the course, written once.
    """
    require_instance("opt", opt, torch.optim.Optimizer, "a torch.optim.Optimizer")
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError(f"loss: expected a 1-element tensor (the loss to minimise), got {_describe(loss)}")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if schedule is not None:
        schedule.step()
    return loss.detach()


def _describe(value: object) -> str:
    return f"a tensor of shape {list(value.shape)}" if isinstance(value, torch.Tensor) else repr(value)


def _loss_value(loss: object, i: int) -> float:
    if isinstance(loss, torch.Tensor) and loss.numel() == 1:
        return float(loss.detach())
    if isinstance(loss, (int, float)) and not isinstance(loss, bool):
        return float(loss)
    got = _describe(loss)
    raise TypeError(f"step: expected step({i}) to return the loss (a number or a 1-element tensor), got {got}")


def minibatch_indices(n_data: int, batch_size: int | None, generator: torch.Generator | None) -> torch.Tensor:
    """``[batch_size]`` random indices into the data (all of them, in order, when ``batch_size`` is None)."""
    n_data = require_positive_int("n_data", n_data)
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size: expected None or a positive integer, got {batch_size!r}")
    if batch_size is None or batch_size >= n_data:
        return torch.arange(n_data)
    return torch.randperm(n_data, generator=generator)[:batch_size]


def cosine_schedule(opt: torch.optim.Optimizer, n_steps: int, cosine: bool) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning rate decayed to zero on a cosine over ``n_steps`` when ``cosine``, else constant."""
    if not isinstance(cosine, bool):
        raise TypeError(f"cosine: expected a bool, got {type(cosine).__name__}")
    n_steps = require_positive_int("n_steps", n_steps)
    if cosine:
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, n_steps)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
