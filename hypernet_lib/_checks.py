"""Input validation shared by the public functions.

Every check raises with a message that names what was expected and what arrived,
so a student who passes the wrong thing learns what to pass instead.
"""

from __future__ import annotations

from typing import Any

import torch


def require_tensor(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    return value


def require_float(name: str, value: Any) -> torch.Tensor:
    """A floating-point tensor: integer inputs would silently truncate gradients."""
    value = require_tensor(name, value)
    if not value.is_floating_point():
        raise TypeError(
            f"{name}: expected a floating-point tensor (e.g. torch.float32), got dtype {value.dtype}; "
            f"convert it with .float()"
        )
    return value


def require_dims(name: str, value: torch.Tensor, dims: tuple[int, ...], meaning: str) -> None:
    if value.dim() not in dims:
        allowed = " or ".join(str(d) for d in dims)
        raise ValueError(
            f"{name}: expected {allowed} dimensions ({meaning}), got {value.dim()} with shape {list(value.shape)}"
        )


def require_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return value
