"""Few-shot episodes: N-way K-shot tasks drawn from a labelled dataset, batched over tasks (lecture 02).

An *episode* (a task) picks ``N`` classes, gives ``K`` labelled *support* examples of each and
``Q`` *query* examples of each to classify. Episode labels are ``0 … N-1`` in the order the
classes were drawn, so the same dataset class gets different labels in different episodes:
a learner cannot memorise "class 7 is label 2", it must read the support set.

Layout (class-major, the same for every episode):

    x_support: [B, N*K, *feat]   y_support: [B, N*K]  with y_support[b, j*K + k] = j
    x_query:   [B, N*Q, *feat]   y_query:   [B, N*Q]  with y_query[b, j*Q + q]   = j

The few-shot learners that pool per class (:mod:`hypernet_lib.apps.fewshot`) read the labels,
not the layout, so they also work on shuffled or relabelled support sets.

:func:`cluster_episodes` is a 2-D family whose classifiers can be drawn.

Meta-training and meta-test classes must be disjoint for the test to measure learning *new*
classes: build one :class:`EpisodeSampler` per split with its own ``classes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from .._checks import require_dims, require_positive_int, require_tensor


class Episodes(NamedTuple):
    """A batch of ``B`` episodes, ``N``-way ``K``-shot with ``Q`` queries per class.

    ``x_support: [B, N*K, *feat]``, ``y_support: [B, N*K]`` (int64, class-major),
    ``x_query: [B, N*Q, *feat]``, ``y_query: [B, N*Q]``, ``classes: [B, N]``: the dataset class
    behind episode label ``j`` is ``classes[b, j]``.
    """

    x_support: torch.Tensor
    y_support: torch.Tensor
    x_query: torch.Tensor
    y_query: torch.Tensor
    classes: torch.Tensor

    @property
    def n_tasks(self) -> int:
        return self.classes.shape[0]

    @property
    def n_way(self) -> int:
        return self.classes.shape[1]

    @property
    def k_shot(self) -> int:
        return self.y_support.shape[1] // self.n_way

    def tasks(self, index: slice | torch.Tensor) -> Episodes:
        """A sub-batch of episodes, e.g. ``episodes.tasks(slice(0, 100))``."""
        return Episodes(*(t[index] for t in self))

    def to(self, device: torch.device | str) -> Episodes:
        return Episodes(*(t.to(device) for t in self))


class EpisodeSampler:
    """Draws batches of N-way K-shot episodes from ``x: [n, *feat]`` with labels ``y: [n]``.

    Args:
        x: the examples, any trailing shape (``[n, 64]`` vectors or ``[n, 1, 8, 8]`` images).
        y: integer labels ``[n]``.
        classes: the dataset classes this sampler may draw from (a class split); default: all
            classes present in ``y``.

    Sampling is vectorised (random keys + ``argsort``, no Python loop over tasks), happens on
    the CPU with the given ``generator`` so results are identical on any device, and the
    examples are then gathered on ``x``'s device.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, classes: Sequence[int] | torch.Tensor | None = None):
        require_tensor("x", x)
        require_tensor("y", y)
        if y.dtype in (torch.bool,) or y.is_floating_point() or y.is_complex():
            raise TypeError(f"y: expected integer class labels (e.g. torch.int64), got dtype {y.dtype}")
        require_dims("y", y, (1,), "[n] class labels")
        if x.dim() < 1 or x.shape[0] != y.shape[0]:
            raise ValueError(f"x: expected shape [n={y.shape[0]}, ...] to match y, got {list(x.shape)}")
        self.x = x
        labels = y.detach().cpu().long()
        present = torch.unique(labels)
        if classes is None:
            chosen = present
        else:
            chosen = torch.as_tensor(classes, dtype=torch.int64).flatten().cpu()
            if chosen.numel() == 0:
                raise ValueError("classes: expected at least one class, got none")
            if torch.unique(chosen).numel() != chosen.numel():
                raise ValueError(f"classes: expected distinct classes, got {chosen.tolist()}")
            missing = [c for c in chosen.tolist() if c not in set(present.tolist())]
            if missing:
                raise ValueError(f"classes: {missing} have no examples in y; y has classes {present.tolist()}")
        self.classes: torch.Tensor = chosen  # [C]
        members = [torch.nonzero(labels == c).flatten() for c in chosen.tolist()]
        self.counts: torch.Tensor = torch.tensor([len(m) for m in members])  # [C]
        # Padded index table [C, max_count]: row c lists the dataset rows of class c, then -1.
        self._table = torch.full((len(members), int(self.counts.max())), -1, dtype=torch.int64)
        for c, m in enumerate(members):
            self._table[c, : len(m)] = m

    @property
    def n_classes(self) -> int:
        return self.classes.numel()

    def __repr__(self) -> str:
        return (
            f"EpisodeSampler({self.n_classes} classes, {int(self.counts.sum())} examples, "
            f"{int(self.counts.min())}-{int(self.counts.max())} per class, feat {list(self.x.shape[1:])})"
        )

    def sample(
        self,
        n_tasks: int,
        n_way: int,
        k_shot: int,
        n_query: int,
        generator: torch.Generator | None = None,
    ) -> Episodes:
        """Draw ``n_tasks`` episodes (see :class:`Episodes` for shapes).

        Within an episode the ``N`` classes are distinct and the ``K + Q`` examples of a class
        are distinct, so no query example is also a support example.
        """
        n_tasks = require_positive_int("n_tasks", n_tasks)
        n_way = require_positive_int("n_way", n_way)
        k_shot = require_positive_int("k_shot", k_shot)
        n_query = require_positive_int("n_query", n_query)
        if n_way > self.n_classes:
            raise ValueError(
                f"n_way: expected at most the {self.n_classes} classes this sampler has "
                f"({self.classes.tolist()}), got n_way={n_way}"
            )
        per_class = k_shot + n_query
        fewest = int(self.counts.min())
        if per_class > fewest:
            c = int(self.classes[int(self.counts.argmin())])
            raise ValueError(
                f"k_shot + n_query: expected at most {fewest} (class {c} has only {fewest} examples), "
                f"got k_shot={k_shot} + n_query={n_query} = {per_class}"
            )
        # N distinct classes per task: the first N of a random permutation of the C classes.
        picked = torch.rand(n_tasks, self.n_classes, generator=generator).argsort(dim=1)[:, :n_way]  # [B, N]
        # K + Q distinct examples per class: random keys, padding pushed to the end (keys > 1).
        rows = self._table[picked]  # [B, N, max_count]
        keys = torch.rand(rows.shape, generator=generator)
        keys[rows < 0] = 2.0
        pos = keys.argsort(dim=-1)[..., :per_class]  # [B, N, K+Q]
        idx = rows.gather(-1, pos)
        labels = torch.arange(n_way).view(1, n_way, 1)
        y_s = labels.expand(n_tasks, n_way, k_shot).reshape(n_tasks, -1)
        y_q = labels.expand(n_tasks, n_way, n_query).reshape(n_tasks, -1)
        idx_s = idx[..., :k_shot].reshape(n_tasks, -1).to(self.x.device)
        idx_q = idx[..., k_shot:].reshape(n_tasks, -1).to(self.x.device)
        device = self.x.device
        return Episodes(self.x[idx_s], y_s.to(device), self.x[idx_q], y_q.to(device), self.classes[picked].to(device))


def cluster_episodes(
    n_tasks: int,
    n_way: int,
    k_shot: int,
    n_query: int,
    generator: torch.Generator | None = None,
    box: float = 2.0,
    spread: tuple[float, float] = (0.2, 1.0),
) -> Episodes:
    """A 2-D few-shot task family whose classifiers can be drawn: N Gaussian clusters in the plane.

    Each task places ``n_way`` class centres uniformly in ``[-box, box]²`` and gives class ``j`` its own
    spread ``σ_j`` (uniform in ``spread``); examples are ``centre_j + σ_j · ε`` with ``ε ~ N(0, I₂)``.
    Different spreads make nearest class mean suboptimal: the best boundary sits farther from a wide
    class than from a narrow one. Layout as :class:`Episodes` (class-major), with ``feat = [2]``;
    ``classes: [B, N]`` holds ``0 … N-1`` (a new class every task).
    """
    n_tasks = require_positive_int("n_tasks", n_tasks)
    n_way = require_positive_int("n_way", n_way)
    k_shot = require_positive_int("k_shot", k_shot)
    n_query = require_positive_int("n_query", n_query)
    if not (isinstance(box, (int, float)) and box > 0):
        raise ValueError(f"box: expected a positive number, got {box!r}")
    if not (isinstance(spread, tuple) and len(spread) == 2 and 0 < spread[0] <= spread[1]):
        raise ValueError(f"spread: expected (low, high) with 0 < low <= high, got {spread!r}")
    centres = (2 * torch.rand(n_tasks, n_way, 1, 2, generator=generator) - 1) * box  # [B, N, 1, 2]
    sigma = spread[0] + (spread[1] - spread[0]) * torch.rand(n_tasks, n_way, 1, 1, generator=generator)
    noise = torch.randn(n_tasks, n_way, k_shot + n_query, 2, generator=generator)
    x = centres + sigma * noise  # [B, N, K+Q, 2]
    labels = torch.arange(n_way).view(1, n_way, 1)
    y_s = labels.expand(n_tasks, n_way, k_shot).reshape(n_tasks, -1)
    y_q = labels.expand(n_tasks, n_way, n_query).reshape(n_tasks, -1)
    classes = torch.arange(n_way).expand(n_tasks, n_way).clone()
    return Episodes(
        x[:, :, :k_shot].reshape(n_tasks, -1, 2), y_s, x[:, :, k_shot:].reshape(n_tasks, -1, 2), y_q, classes
    )
