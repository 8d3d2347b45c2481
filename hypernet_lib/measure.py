"""Measuring honestly: wall time, peak memory, confidence intervals and rank correlation.

Used from lecture 02 (confidence intervals over episodes) and lecture 03 (time and memory) on;
``spearman`` is lecture 08's yardstick for a ranking of architectures.

Timings on a shared machine are noisy; the median of many repeats resists the outliers that
other processes cause, and timing two methods *interleaved* (A, B, A, B, …) exposes both to the
same load, so their ratio is more trustworthy than either number. On a GPU the clock is read
only after ``torch.cuda.synchronize()``, otherwise it would time the kernel launches only.

Peak memory: on CUDA the allocator keeps a high-water mark (``max_memory_allocated``). On the
CPU there is no such counter, so we replay the allocation events the PyTorch profiler records
(``profile_memory=True``) and take the largest running total: the peak of tensor memory the call
allocated on top of what was already allocated before it.
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

import torch

from ._checks import require_dims, require_float, require_positive_int


def _sync(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def median_times(
    fns: Mapping[str, Callable[[], object]],
    repeats: int = 21,
    warmup: int = 2,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Median wall seconds per call of each function, measured interleaved.

    Args:
        fns: ``{label: fn}``; each ``fn()`` is called ``warmup + repeats`` times.
        repeats: timed calls per function (the median of these is returned).
        warmup: untimed calls first (lazy initialisation, caches).
        device: the device the functions run on; CUDA work is synchronised before each clock read.
    """
    if not isinstance(fns, Mapping) or not fns:
        raise TypeError(f"fns: expected a non-empty dict {{label: callable}}, got {type(fns).__name__}")
    for label, fn in fns.items():
        if not callable(fn):
            raise TypeError(f"fns[{label!r}]: expected a callable, got {type(fn).__name__}")
    repeats = require_positive_int("repeats", repeats)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup: expected a non-negative integer, got {warmup!r}")
    dev = torch.device(device) if device is not None else None
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {label: [] for label in fns}
    for _ in range(repeats):
        for label, fn in fns.items():  # interleaved: every method sees the same background load
            _sync(dev)
            start = time.perf_counter()
            fn()
            _sync(dev)
            samples[label].append(time.perf_counter() - start)
    return {label: statistics.median(s) for label, s in samples.items()}


def peak_memory_bytes(fn: Callable[[], object], device: torch.device | str = "cpu") -> int:
    """Peak tensor memory (bytes) allocated while ``fn()`` runs, above what was allocated before.

    CUDA: the caching allocator's high-water mark. CPU: the running total of the allocation and
    free events recorded by the PyTorch profiler, maximised over time.
    """
    if not callable(fn):
        raise TypeError(f"fn: expected a callable, got {type(fn).__name__}")
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        before = torch.cuda.memory_allocated(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        fn()
        torch.cuda.synchronize(dev)
        return max(0, torch.cuda.max_memory_allocated(dev) - before)
    if dev.type != "cpu":
        raise ValueError(f"device: expected 'cpu' or a CUDA device, got {dev}")
    # The autograd profiler without kineto starts in milliseconds and reports every allocation.
    prof = torch.autograd.profiler.profile(profile_memory=True, use_kineto=False)
    with _quiet_stderr_fd():
        prof.__enter__()
    try:
        fn()
    finally:
        with _quiet_stderr_fd():
            prof.__exit__(None, None, None)
    events = sorted(prof.function_events, key=lambda e: e.time_range.start)
    running = peak = 0
    for event in events:
        # self_cpu_memory_usage: bytes allocated minus freed by this op itself (children excluded),
        # so summing over all events counts every allocation exactly once.
        running += event.self_cpu_memory_usage
        peak = max(peak, running)
    return peak


@contextlib.contextmanager
def _quiet_stderr_fd() -> Iterator[None]:
    """Mute file descriptor 2: starting and stopping the profiler writes "USDT: ... profiler_start/stop" there
    (from C++, so neither ``sys.stderr`` nor ``KINETO_LOG_LEVEL`` holds it back), which a notebook would show."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def mean_ci(values: Sequence[float] | torch.Tensor, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of its normal-approximation confidence interval.

    For ``n`` values with sample std ``s``: ``mean ± z · s / sqrt(n)`` (z = 1.96 for 95%),
    the interval few-shot papers report over test episodes.
    """
    try:
        v = torch.as_tensor(values, dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"values: expected a list or tensor of numbers, got {type(values).__name__}") from None
    if v.numel() < 2:
        raise ValueError(f"values: expected at least 2 numbers for a confidence interval, got {v.numel()}")
    if not bool(torch.isfinite(v).all()):
        raise ValueError(
            f"values: contain NaN or inf ({int((~torch.isfinite(v)).sum())} of {v.numel()}); drop or fix them first"
        )
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: expected a number in (0, 1), got {confidence}")
    z = math.sqrt(2) * float(torch.erfinv(torch.tensor(confidence, dtype=torch.float64)))
    return float(v.mean()), z * float(v.std(unbiased=True)) / math.sqrt(v.numel())


def ranks(values: torch.Tensor) -> torch.Tensor:
    """``[n]`` ranks 1..n of ``values: [n]``, ties given their average rank (as Spearman's ρ needs)."""
    require_float("values", values)
    require_dims("values", values, (1,), "[n]")
    order = torch.argsort(values, stable=True)
    r = torch.empty_like(values, dtype=torch.float64)
    r[order] = torch.arange(1, len(values) + 1, dtype=torch.float64, device=values.device)
    for v in torch.unique(values):
        tied = values == v
        if tied.sum() > 1:
            r[tied] = r[tied].mean()
    return r


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation ρ of ``a: [n]`` and ``b: [n]``: Pearson's correlation of their ranks."""
    require_float("a", a)
    require_float("b", b)
    for name, t in (("a", a), ("b", b)):
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name}: contains NaN or inf; a rank correlation needs finite scores")
    if a.shape != b.shape or a.dim() != 1 or len(a) < 2:
        raise ValueError(f"a, b: expected two vectors of the same length >= 2, got {list(a.shape)} and {list(b.shape)}")
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = ra.norm() * rb.norm()
    if denom == 0:
        raise ValueError("a, b: Spearman's ρ is undefined when one of them is constant")
    return float((ra * rb).sum() / denom)


def machine_peaks(device: torch.device | str = "cpu", size: int = 1024, repeats: int = 7) -> dict[str, float]:
    """This machine's measured ceilings: ``{"flops": matmul FLOP/s, "bandwidth": copy bytes/s}`` (float32).

    The matmul ceiling is a ``size × size`` matrix product (``2·size³`` FLOPs), the bandwidth a copy of a
    64 MB tensor (read + write). Both are medians of ``repeats`` interleaved calls, so they reflect the
    machine as it is now, load included: compare a kernel against them in the same run.
    """
    size = require_positive_int("size", size)
    dev = torch.device(device)
    a, b = torch.randn(size, size, device=dev), torch.randn(size, size, device=dev)
    big = torch.empty(16 * 2**20, device=dev)
    out = torch.empty_like(big)
    t = median_times({"matmul": lambda: a @ b, "copy": lambda: out.copy_(big)}, repeats=repeats, device=dev)
    return {"flops": 2 * size**3 / t["matmul"], "bandwidth": 2 * big.numel() * 4 / t["copy"]}


def roofline_fraction(flops: float, bytes_moved: float, seconds: float, peaks: Mapping[str, float]) -> float:
    """How close a kernel runs to the roofline: achieved FLOP/s ÷ ``min(peak FLOP/s, bandwidth × intensity)``.

    ``intensity = flops / bytes_moved`` (FLOPs per byte of memory traffic). 1.0 is as fast as this machine's
    measured ceilings allow; a memory-bound kernel (low intensity) is judged against the bandwidth roof.
    """
    for name, v in (("flops", flops), ("bytes_moved", bytes_moved), ("seconds", seconds)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"{name}: expected a positive finite number, got {v!r}")
    attainable = min(peaks["flops"], peaks["bandwidth"] * flops / bytes_moved)
    return (flops / seconds) / attainable
