"""Reproducibility and device choice: one call at the top of every notebook (lecture 00 onwards)."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return a torch generator seeded the same way.

    Notebooks call this once, first, so every run draws the same tasks and initial weights.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    return torch.Generator().manual_seed(seed)


def default_device() -> torch.device:
    """CUDA when a GPU is present, otherwise CPU. Everything in the library follows its inputs' device."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def environment_report() -> dict[str, str]:
    """What a student's session runs on: versions, device, threads (lecture 00 prints it)."""
    device = default_device()
    report = {
        "torch": torch.__version__.split("+")[0],
        "device": str(device),
        "cpu threads": str(torch.get_num_threads()),
    }
    if device.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(0)
    return report


def platform_fingerprint() -> dict[str, str]:
    """Where a result was computed: torch version, the CPU kernels torch dispatches to, the device.

    Float results differ in their last bits between these (AVX2 vs AVX-512 vs ARM kernels, thread counts,
    GPUs), and training amplifies the difference; checkpoints store this so that two machines that disagree
    can be told apart. Only where bit-exact agreement is the point is it compared.
    """
    return {
        "torch": torch.__version__.split("+")[0],
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "device": default_device().type,
    }
