"""scikit-learn's bundled 8x8 handwritten digits as tensors, and the new classes made from them.

``load_digits`` (lecture 02 onwards) returns the 1,797 images shipped inside scikit-learn (no download).
They are not point samples of a pen stroke: each pixel counts the "on" pixels of a 4x4 block of a 32x32
binary bitmap (0-16, UCI optdigits), which ``load_digits`` scales to [0, 1].

``dihedral_classes`` (lectures 02 and 03) turns every class into eight: the four rotations of the image
and of its mirror image. Rotated classes as extra meta-training classes follow Santoro et al. (2016), as
MAML's Omniglot setup does; the mirrored four are this course's extension.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .._checks import require_dims, require_float, require_tensor


class Digits(NamedTuple):
    """The 8x8 digits as tensors: ``images: [n, 1, 8, 8]`` in [0, 1], ``labels: [n]`` (int64, 0-9)."""

    images: torch.Tensor
    labels: torch.Tensor

    @property
    def flat(self) -> torch.Tensor:
        """``[n, 64]``: the images as vectors, for MLP targets."""
        return self.images.flatten(1)


def load_digits(device: torch.device | str | None = None) -> Digits:
    """scikit-learn's bundled digits (no download): pixel values 0-16 scaled to [0, 1]."""
    from sklearn.datasets import load_digits as _sk_load_digits

    if device is not None:
        if not isinstance(device, (str, torch.device)):
            raise TypeError(f"device: expected None, a name such as 'cpu' or 'cuda', or a torch.device, got {device!r}")
        try:
            device = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(f"device: {exc}") from None
    data = _sk_load_digits()
    images = torch.as_tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.as_tensor(data.target, dtype=torch.int64)
    return Digits(images.to(device), labels.to(device))


def dihedral_classes(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eight classes per class: ``images: [n, 1, h, w]``, ``labels: [n]`` → ``[8n, 1, h, w]``, ``[8n]``.

    View ``t`` (``t = 4 * flip + r``: mirrored or not, then rotated by ``r`` quarter turns) of class ``c``
    gets label ``8 * c + t``, so views of one class never share a label.
    """
    require_float("images", images)
    require_dims("images", images, (4,), "[n, 1, h, w] images")
    require_tensor("labels", labels)
    if labels.dtype != torch.int64 or labels.shape != images.shape[:1]:
        raise ValueError(
            f"labels: expected int64 class ids of shape [{images.shape[0]}], got {labels.dtype} {list(labels.shape)}"
        )
    views = []
    for flip in (False, True):
        base = images.flip(-1) if flip else images
        views += [torch.rot90(base, r, dims=(-2, -1)) for r in range(4)]
    return torch.cat(views), torch.cat([labels * 8 + t for t in range(8)])
