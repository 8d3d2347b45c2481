"""Digit-like classes drawn by code: pen strokes rendered the way scikit-learn's 8x8 digits were made.

scikit-learn's digits are 32x32 binary bitmaps of handwriting, cut into 4x4 blocks and counted
(0-16 "on" pixels per block), which ``load_digits`` scales to ``[0, 1]``. :func:`stroke_classes`
makes new classes the same way: a class is a random *template* of 2-3 connected cubic Bézier
strokes, scaled like a digit (full height, 35-80% of the width, centred); an example of the class
jitters the template's control points, rotates, scales and shifts it a little, draws it with a
random pen width on a 32x32 grid and counts 4x4 blocks. Thousands of such classes give a
few-shot learner many classes to meta-train on whose within-class variation (a pen moved a little)
resembles handwriting, without touching the digits held out for testing.
"""

from __future__ import annotations

import torch

from .._checks import require_positive_int

__all__ = ["stroke_classes"]

_POINTS_PER_STROKE = 24
_MAX_STROKES = 3


def _bezier(ctrl: torch.Tensor, n: int = _POINTS_PER_STROKE) -> torch.Tensor:
    """Points along cubic Bézier curves: ``ctrl: [..., 4, 2]`` → ``[..., n, 2]``."""
    t = torch.linspace(0, 1, n)
    basis = torch.stack([(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3], dim=-1)  # [n, 4]
    return torch.einsum("nk,...kd->...nd", basis, ctrl)


def _templates(n_classes: int, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Control points ``[C, S, 4, 2]`` (row, column in [0, 1]) and the number of strokes used ``[C]``."""
    ctrl = torch.rand(n_classes, _MAX_STROKES, 4, 2, generator=generator)
    n_strokes = torch.randint(2, _MAX_STROKES + 1, (n_classes,), generator=generator)
    # Pens mostly keep drawing: a stroke starts where the previous one ended with probability 0.6.
    chained = torch.rand(n_classes, _MAX_STROKES, generator=generator) < 0.6
    for s in range(1, _MAX_STROKES):
        ctrl[:, s, 0] = torch.where(chained[:, s, None], ctrl[:, s - 1, 3], ctrl[:, s, 0])
    # Scale each template's bounding box like a digit's: rows 0.1-0.9, a width of 0.35-0.8, centred.
    used = (torch.arange(_MAX_STROKES) < n_strokes[:, None])[:, :, None, None]  # [C, S, 1, 1]
    pts = _bezier(ctrl)  # [C, S, P, 2]
    lo = torch.where(used, pts, torch.full_like(pts, 9.0)).amin(dim=(1, 2))  # [C, 2]
    hi = torch.where(used, pts, torch.full_like(pts, -9.0)).amax(dim=(1, 2))
    width = 0.35 + 0.45 * torch.rand(n_classes, generator=generator)
    box_lo = torch.stack([torch.full_like(width, 0.1), 0.5 - width / 2], dim=-1)
    box_hi = torch.stack([torch.full_like(width, 0.9), 0.5 + width / 2], dim=-1)
    scale = (box_hi - box_lo) / (hi - lo).clamp_min(0.05)
    ctrl = (ctrl - lo[:, None, None]) * scale[:, None, None] + box_lo[:, None, None]
    return ctrl, n_strokes


def stroke_classes(
    n_classes: int,
    n_per_class: int,
    generator: torch.Generator | None = None,
    chunk: int = 512,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_classes`` random stroke classes with ``n_per_class`` examples each.

    Returns ``images: [n_classes * n_per_class, 1, 8, 8]`` in ``[0, 1]`` (like :func:`hypernet_lib.load_digits`)
    and ``labels: [n_classes * n_per_class]`` (``0 … n_classes-1``, class-major). Deterministic given
    ``generator``; rendering runs in chunks of ``chunk`` images to bound memory.
    """
    n_classes = require_positive_int("n_classes", n_classes)
    n_per_class = require_positive_int("n_per_class", n_per_class)
    chunk = require_positive_int("chunk", chunk)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    ctrl, n_strokes = _templates(n_classes, generator)
    c, n, s = n_classes, n_per_class, _MAX_STROKES
    # One example: the pen's control points jitter, then a small rotation, scaling and shift of the whole.
    ex = ctrl[:, None].expand(c, n, s, 4, 2) + 0.035 * torch.randn(c, n, s, 4, 2, generator=generator)
    angle = 0.15 * torch.randn(c, n, generator=generator)
    zoom = 1 + 0.08 * torch.randn(c, n, 2, generator=generator)
    shift = 0.04 * torch.randn(c, n, 2, generator=generator)
    cos, sin = angle.cos(), angle.sin()
    rot = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)  # [C, n, 2, 2], transposed
    ex = ((ex - 0.5) * zoom[:, :, None, None]) @ rot[:, :, None] + 0.5 + shift[:, :, None, None]
    pts = _bezier(ex)  # [C, n, S, P, 2]
    used = (torch.arange(s) < n_strokes[:, None])[:, None, :, None, None]
    pts = torch.where(used, pts, torch.full_like(pts, 10.0)).flatten(2, 3).flatten(0, 1)  # unused: far away
    radius = (0.06 + 0.035 * torch.rand(c * n, generator=generator))[:, None]  # pen half-width
    axis = (torch.arange(32) + 0.5) / 32
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), dim=-1).reshape(1, 1024, 2)
    images = []
    for i in range(0, c * n, chunk):
        p = pts[i : i + chunk]
        dist = torch.cdist(grid.expand(len(p), -1, -1), p).amin(dim=-1)  # [b, 1024]: to the nearest pen point
        ink = (dist < radius[i : i + chunk]).float().view(-1, 1, 32, 32)
        images.append(torch.nn.functional.avg_pool2d(ink, 4))  # count 4x4 blocks, scaled to [0, 1]
    labels = torch.arange(c).repeat_interleave(n)
    return torch.cat(images), labels
