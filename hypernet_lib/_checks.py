"""Input validation shared by the public functions.

Every check raises with a message that names what was expected and what arrived,
so a student who passes the wrong thing learns what to pass instead.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch


def require_tensor(name: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(value).__name__}")
    return value


def require_instance(name: str, value: Any, cls: type | tuple[type, ...], what: str) -> Any:
    """``value`` if it is a ``cls``; otherwise a TypeError that says ``what`` was expected."""
    if not isinstance(value, cls):
        raise TypeError(f"{name}: expected {what}, got {type(value).__name__}")
    return value


def require_sequence(name: str, value: Any, what: str) -> list:
    """A list, tuple or other iterable (not a single str), as a list."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") or isinstance(value, torch.Tensor):
        raise TypeError(f"{name}: expected a list of {what}, got {type(value).__name__}")
    return list(value)


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


def require_number(name: str, value: Any, *, minimum: float | None = None, positive: bool = False) -> float:
    """A finite real number (NaN and inf refused), at least ``minimum``, or above zero when ``positive``.

    Hyperparameters such as a learning rate or a penalty weight go through here: a NaN penalty weight
    would otherwise switch its penalty off without a word (``nan > 0`` is False).
    """
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        raise TypeError(f"{name}: expected a Python number, got a tensor {value!r}; pass {name}.item()")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{name}: expected a number above 0, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected a number >= {minimum:g}, got {value!r}")
    return float(value)


def require_labels(name: str, value: Any, n: int) -> torch.Tensor:
    """Class labels for ``n`` inputs: an int64 tensor of shape ``[n]``."""
    value = require_tensor(name, value)
    if value.dtype != torch.int64 or tuple(value.shape) != (n,):
        raise ValueError(f"{name}: expected int64 labels of shape [{n}], got {value.dtype} {list(value.shape)}")
    return value
