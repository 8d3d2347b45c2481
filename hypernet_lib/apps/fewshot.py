"""Few-shot learners that read a support set (lecture 02; lecture 03 reuses the first two).

- :func:`class_means`, :func:`prototype_logits`: nearest class mean, the baseline every learner must beat;
- :class:`ClassEncoder`: per-class embeddings of a support set (a shared embedding, averaged per class);
- :func:`episode_accuracy`, :func:`evaluate`: accuracy per episode and its 95% confidence interval;
- :class:`NCMHyperNet`: a per-class hypernetwork that starts as nearest class mean (below), and
  :class:`ResidualProtoNet`, the prototypical network with the same block, trained the same way.

Episodes come from :mod:`hypernet_lib.data.episodes` (layout ``x_support: [B, N*K, *feat]``,
``y_support: [B, N*K]``).

A per-class few-shot hypernetwork that starts as nearest class mean and can only learn from there.

The target network is small and fixed in shape, ``x → features → N class scores``::

    features(x) = x + W_out · relu(W_in · x + b_in) + b_out      (a residual block, [d] → [d])
    scores(x)   = W_head · features(x) + b_head                   ([d] → [N])

The hypernetwork reads an N-way support set and *generates* the head, one row per class, from that
class's prototype ``p_j`` (the mean of its support features)::

    W_head[j] = p_j + g(c_j)          b_head[j] = -|p_j|² / 2 + h(c_j)

where ``c_j = [p_j, p_j - mean_i p_i, s_j]`` describes class ``j``: its prototype, how it differs from the
task's other classes, and the spread ``s_j`` (per-feature standard deviation) of its support examples
(zero for one shot). ``g, h`` are one shared MLP whose last layer starts at zero. Because ``x·p - |p|²/2 = -|x - p|²/2 + |x|²/2``
and ``|x|²/2`` is the same for every class, the scores of the untrained model rank the classes exactly as
nearest class mean does; with the residual block's ``W_out`` also starting at zero, that is nearest class
mean on the raw input (tested). Meta-training moves away from that start only where it lowers the loss on
the training tasks.

With ``generate_hidden=True`` the hypernetwork also generates the residual block's first layer
``W_in, b_in`` for each task: a task embedding ``t = ρ(mean_j φ(m_j))`` (``m_j``: class ``j``'s mean *input*)
adds a task-specific correction to shared weights, through a linear map that starts at zero. ``t`` is a
mean over classes, so it does not depend on which class got which label: right for a layer every class
shares. The head rows still come from each class alone, so relabelling the support set permutes the rows
(and the scores' columns) and leaves the hidden layer unchanged.

Shapes: ``x_support: [B, N*K, d]``, ``y_support: [B, N*K]`` (labels ``0…N-1``, any order),
``x_query: [B, Q, d]``; generated parameters ``{name: [B, *shape]}`` named as in ``model.target``
(``block.inp.weight: [H, d]``, ``block.inp.bias: [H]``, ``head.weight: [N, d + extra]``, ``head.bias: [N]``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from .._checks import require_dims, require_float, require_positive_int, require_tensor
from ..data.episodes import Episodes
from ..measure import mean_ci
from ..target import functional_forward


def _require_finite(name: str, t: torch.Tensor) -> None:
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: expected finite numbers, got NaN or inf in a tensor of shape {list(t.shape)}")


def class_means(features: torch.Tensor, labels: torch.Tensor, n_way: int) -> torch.Tensor:
    """Mean feature of each class: ``features: [B, M, d]``, ``labels: [B, M]`` in ``0…N-1`` → ``[B, N, d]``.

    Row ``j`` is the mean over the examples labelled ``j``; relabelling the examples permutes the
    rows the same way. Every class must have at least one example in every task.
    """
    require_float("features", features)
    require_dims("features", features, (3,), "[B, M, d]")
    require_tensor("labels", labels)
    n_way = require_positive_int("n_way", n_way)
    if labels.is_floating_point() or labels.shape != features.shape[:2]:
        raise ValueError(
            f"labels: expected integer labels of shape {list(features.shape[:2])} (features' [B, M]), "
            f"got {list(labels.shape)} {labels.dtype}"
        )
    _require_finite("features", features)
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= n_way):
        raise ValueError(f"labels: expected values in 0..{n_way - 1}, got {int(labels.min())}..{int(labels.max())}")
    one_hot = nn.functional.one_hot(labels.long(), n_way).to(features.dtype)  # [B, M, N]
    counts = one_hot.sum(dim=1)  # [B, N]
    if bool((counts == 0).any()):
        b, j = (int(i) for i in torch.nonzero(counts == 0)[0])
        raise ValueError(f"labels: class {j} has no example in task {b}; every class needs at least one")
    return one_hot.transpose(1, 2) @ features / counts.unsqueeze(-1)


def prototype_logits(
    support_features: torch.Tensor, y_support: torch.Tensor, query_features: torch.Tensor, n_way: int
) -> torch.Tensor:
    """Nearest-class-mean scores: minus the squared distance of each query to each class mean.

    ``support_features: [B, M, d]``, ``y_support: [B, M]``, ``query_features: [B, Q, d]`` → ``[B, Q, N]``.
    On raw pixels this is the nearest-class-mean baseline; on learned features, a prototypical
    network (Snell, Swersky & Zemel 2017).
    """
    protos = class_means(support_features, y_support, n_way)  # [B, N, d]
    require_float("query_features", query_features)
    require_dims("query_features", query_features, (3,), "[B, Q, d]")
    _require_finite("query_features", query_features)
    if query_features.shape[0] != protos.shape[0] or query_features.shape[2] != protos.shape[2]:
        raise ValueError(
            f"query_features: expected shape [B={protos.shape[0]}, Q, d={protos.shape[2]}], "
            f"got {list(query_features.shape)}"
        )
    return -torch.cdist(query_features, protos).pow(2)


class ClassEncoder(nn.Module):
    """Set encoder for support sets: one embedding per class, ``ρ(mean_k φ(x_{j,k}))``.

    ``φ`` (``embed``) maps one example ``[*feat] → [d]`` and is shared by every example and
    class; the mean over a class's ``K`` shots makes the embedding independent of their order
    and number (Deep Sets, Zaheer et al. 2017); ``ρ`` (``post``, optional) maps ``[d] → [d']``.
    Relabelling the support set permutes the output rows the same way.

    Call: ``x_support: [B, M, *feat]``, ``y_support: [B, M]``, ``n_way`` → ``[B, N, d']``.
    ``embed_examples(x: [B, M, *feat]) → [B, M, d]`` applies ``φ`` alone (e.g. to queries).
    """

    def __init__(self, embed: nn.Module, post: nn.Module | None = None):
        super().__init__()
        if not isinstance(embed, nn.Module):
            raise TypeError(f"embed: expected an nn.Module mapping [n, *feat] -> [n, d], got {type(embed).__name__}")
        if post is not None and not isinstance(post, nn.Module):
            raise TypeError(f"post: expected an nn.Module or None, got {type(post).__name__}")
        self.embed = embed
        self.post = post

    def embed_examples(self, x: torch.Tensor) -> torch.Tensor:
        """``φ`` on every example: ``[B, M, *feat] → [B, M, d]``."""
        require_float("x", x)
        if x.dim() < 3:
            raise ValueError(f"x: expected at least 3 dimensions [B, M, *feat], got shape {list(x.shape)}")
        out = self.embed(x.flatten(0, 1))
        if out.dim() != 2:
            raise ValueError(f"embed: expected it to return [n, d] vectors, got shape {list(out.shape)}")
        return out.unflatten(0, x.shape[:2])

    def forward(self, x_support: torch.Tensor, y_support: torch.Tensor, n_way: int) -> torch.Tensor:
        pooled = class_means(self.embed_examples(x_support), y_support, n_way)  # [B, N, d]
        return pooled if self.post is None else self.post(pooled)


class Score(NamedTuple):
    """Accuracy over episodes: ``mean`` and 95% CI half-width ``ci``, ``per_episode: [B]``."""

    mean: float
    ci: float
    per_episode: torch.Tensor


def episode_accuracy(logits: torch.Tensor, y_query: torch.Tensor) -> torch.Tensor:
    """Fraction of queries classified right in each episode: ``[B, Q, N]``, ``[B, Q]`` → ``[B]``."""
    require_float("logits", logits)
    require_dims("logits", logits, (3,), "[B, Q, N] class scores")
    require_tensor("y_query", y_query)
    if y_query.shape != logits.shape[:2] or y_query.is_floating_point():
        raise ValueError(
            f"y_query: expected integer labels of shape {list(logits.shape[:2])} (logits' [B, Q]), "
            f"got {list(y_query.shape)} {y_query.dtype}"
        )
    if y_query.numel() and (int(y_query.min()) < 0 or int(y_query.max()) >= logits.shape[-1]):
        raise ValueError(
            f"y_query: expected labels in 0..{logits.shape[-1] - 1} (one per logit column), "
            f"got {int(y_query.min())}..{int(y_query.max())}"
        )
    if bool(torch.isnan(logits).any()):
        raise ValueError(f"logits: expected numbers, got NaN in a tensor of shape {list(logits.shape)}")
    return (logits.argmax(dim=-1) == y_query).float().mean(dim=1)


@torch.no_grad()
def evaluate(
    predict: Callable[[Episodes], torch.Tensor],
    episodes: Episodes,
    batch_size: int = 100,
    confidence: float = 0.95,
) -> Score:
    """Accuracy of ``predict`` over ``episodes`` with its confidence interval (:func:`~hypernet_lib.mean_ci`).

    ``predict(episodes) → logits [b, N*Q, N]`` is called on sub-batches of ``batch_size``
    episodes (bounding memory), under ``torch.no_grad()``; a method that adapts by gradient
    descent (fine-tuning) wraps its inner loop in ``torch.enable_grad()``. Passing the same
    ``episodes`` to every method compares them on identical tasks.
    """
    if not callable(predict):
        raise TypeError(f"predict: expected a callable episodes -> logits [B, N*Q, N], got {type(predict).__name__}")
    if not isinstance(episodes, Episodes):
        raise TypeError(f"episodes: expected an Episodes batch (EpisodeSampler.sample), got {type(episodes).__name__}")
    batch_size = require_positive_int("batch_size", batch_size)
    if episodes.n_tasks < 2:
        raise ValueError(f"episodes: expected at least 2 episodes for a confidence interval, got {episodes.n_tasks}")
    accs = []
    for start in range(0, episodes.n_tasks, batch_size):
        chunk = episodes.tasks(slice(start, start + batch_size))
        logits = predict(chunk)
        if not isinstance(logits, torch.Tensor) or logits.shape != (*chunk.y_query.shape, chunk.n_way):
            got = list(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
            raise ValueError(f"predict: expected logits of shape {[*chunk.y_query.shape, chunk.n_way]}, got {got}")
        accs.append(episode_accuracy(logits.float(), chunk.y_query).cpu())
    per_episode = torch.cat(accs)
    mean, ci = mean_ci(per_episode, confidence)
    return Score(mean, ci, per_episode)


class ResidualBlock(nn.Module):
    """``[x, 0] + out(relu(inp(x)))``: ``[..., d] → [..., d + extra]``.

    ``out`` starts at zero, so the block starts as the identity (padded with ``extra`` zero features,
    which training can turn into new features, e.g. a curved function of a 2-D input).
    """

    def __init__(self, d: int, hidden: int, extra: int = 0):
        super().__init__()
        d, hidden = require_positive_int("d", d), require_positive_int("hidden", hidden)
        if isinstance(extra, bool) or not isinstance(extra, int) or extra < 0:
            raise ValueError(f"extra: expected an integer >= 0, got {extra!r}")
        self.extra = extra
        self.inp = nn.Linear(d, hidden)
        self.out = nn.Linear(hidden, d + extra)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = nn.functional.pad(x, (0, self.extra)) if self.extra else x
        return skip + self.out(torch.relu(self.inp(x)))


class ResidualTarget(nn.Module):
    """The target classifier: a residual block ``[d] → [d + extra]`` then a linear head ``[d + extra] → [n_way]``.

    Call: ``x: [n, d]`` → scores ``[n, n_way]``. Run it with generated parameters through
    :func:`hypernet_lib.functional_forward`; its own ``head`` parameters are placeholders.
    """

    def __init__(self, d: int, hidden: int, n_way: int, extra: int = 0):
        super().__init__()
        self.block = ResidualBlock(d, hidden, extra)
        self.head = nn.Linear(d + extra, require_positive_int("n_way", n_way))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(x))


class NCMHyperNet(nn.Module):
    """Support set → per-class head rows (and optionally the hidden layer) of a :class:`ResidualTarget`.

    Args:
        in_features: ``d``, the size of one (flattened) example.
        n_way: ``N``, classes per task (the head has ``N`` rows).
        hidden: ``H``, width of the residual block.
        generate_hidden: also generate the block's first layer ``W_in: [H, d]``, ``b_in: [H]`` per task.
        generator_width: hidden width of the row generator ``(g, h)`` and of the task encoder ``φ``.
        z_dim: size of the task embedding ``t`` (only with ``generate_hidden``).
        extra: learned features the block adds to the ``d`` inputs (they start at zero); the head
            and the prototypes then have ``d + extra`` entries.

    Call: ``model(x_support, y_support)`` → ``{name: [B, *shape]}`` (``head.*`` always, ``block.inp.*``
    with ``generate_hidden``). ``model.logits(x_support, y_support, x_query)`` → ``[B, Q, N]``.
    At initialisation ``logits`` ranks classes exactly as nearest class mean on the raw input.
    """

    def __init__(
        self,
        in_features: int,
        n_way: int,
        hidden: int = 128,
        generate_hidden: bool = False,
        generator_width: int = 128,
        z_dim: int = 16,
        extra: int = 0,
    ):
        super().__init__()
        self.in_features = require_positive_int("in_features", in_features)
        if isinstance(extra, bool) or not isinstance(extra, int) or extra < 0:
            raise ValueError(f"extra: expected a non-negative integer, got {extra!r}")
        self.extra = extra
        d_out = self.in_features + extra
        self.n_way = require_positive_int("n_way", n_way)
        self.hidden = require_positive_int("hidden", hidden)
        if not isinstance(generate_hidden, bool):
            raise TypeError(f"generate_hidden: expected True or False, got {generate_hidden!r}")
        self.generate_hidden = generate_hidden
        width = require_positive_int("generator_width", generator_width)
        self.target = ResidualTarget(self.in_features, self.hidden, self.n_way, extra)
        # g and h in one MLP: [3 d_out] -> [d_out + 1] corrections to the row p and the bias -|p|²/2, from zero.
        self.rows = nn.Sequential(nn.Linear(3 * d_out, width), nn.ReLU(), nn.Linear(width, d_out + 1))
        nn.init.zeros_(self.rows[-1].weight)
        nn.init.zeros_(self.rows[-1].bias)
        # Scores are scaled by exp(log_scale): a learned softmax temperature that leaves the ranking alone.
        self.log_scale = nn.Parameter(torch.zeros(()))
        if generate_hidden:
            self.z_dim = require_positive_int("z_dim", z_dim)
            self.task_encoder = nn.Sequential(
                nn.Linear(self.in_features, width), nn.ReLU(), nn.Linear(width, self.z_dim)
            )
            n_hidden_params = self.hidden * self.in_features + self.hidden
            self.hidden_delta = nn.Linear(self.z_dim, n_hidden_params)
            nn.init.zeros_(self.hidden_delta.weight)  # start at the shared hidden layer
            nn.init.zeros_(self.hidden_delta.bias)

    def _check(self, x: torch.Tensor, y: torch.Tensor | None, name: str) -> None:
        require_float(name, x)
        require_dims(name, x, (3,), f"[B, M, d={self.in_features}]")
        if x.shape[-1] != self.in_features:
            raise ValueError(f"{name}: expected shape [B, M, d={self.in_features}], got {list(x.shape)}")
        _require_finite(name, x)
        if y is not None:
            require_tensor("y_support", y)
            if y.is_floating_point() or y.shape != x.shape[:2]:
                raise ValueError(
                    f"y_support: expected integer labels of shape {list(x.shape[:2])} (x_support's [B, M]), "
                    f"got {list(y.shape)} {y.dtype}"
                )

    def hidden_params(self, x_support: torch.Tensor, y_support: torch.Tensor) -> dict[str, torch.Tensor]:
        """The generated first layer of the block: ``{'block.inp.weight': [B, H, d], 'block.inp.bias': [B, H]}``."""
        if not self.generate_hidden:
            raise ValueError(
                "hidden_params: this model was built with generate_hidden=False; its hidden layer is shared"
            )
        self._check(x_support, y_support, "x_support")
        means = class_means(x_support, y_support, self.n_way)  # [B, N, d]
        t = self.task_encoder(means).mean(dim=1)  # [B, T]: a mean over classes, blind to the labels
        delta = self.hidden_delta(t)  # [B, H*d + H]
        inp = self.target.block.inp
        n_w = self.hidden * self.in_features
        return {
            "block.inp.weight": inp.weight + delta[:, :n_w].view(-1, self.hidden, self.in_features),
            "block.inp.bias": inp.bias + delta[:, n_w:],
        }

    def features(self, x: torch.Tensor, hidden: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The block's output ``[B, M, d]`` for ``x: [B, M, d]``, with a task's generated hidden layer if given."""
        if hidden is None:
            return self.target.block(x)
        return functional_forward(self.target.block, {k.removeprefix("block."): v for k, v in hidden.items()}, x)

    def forward(self, x_support: torch.Tensor, y_support: torch.Tensor) -> dict[str, torch.Tensor]:
        self._check(x_support, y_support, "x_support")
        hidden = self.hidden_params(x_support, y_support) if self.generate_hidden else None
        feats = self.features(x_support, hidden)  # [B, M, d]
        protos = class_means(feats, y_support, self.n_way)  # [B, N, d]
        spread = (class_means(feats.pow(2), y_support, self.n_way) - protos.pow(2)).clamp_min(0).add(1e-6).sqrt()
        context = torch.cat([protos, protos - protos.mean(dim=1, keepdim=True), spread], dim=-1)  # [B, N, 3d]
        corr = self.rows(context)  # [B, N, d + 1]
        scale = self.log_scale.exp()
        params = {
            "head.weight": scale * (protos + corr[..., :-1]),
            "head.bias": scale * (-0.5 * protos.pow(2).sum(-1) + corr[..., -1]),
        }
        return {**(hidden or {}), **params}

    def logits(self, x_support: torch.Tensor, y_support: torch.Tensor, x_query: torch.Tensor) -> torch.Tensor:
        """Scores ``[B, Q, N]`` of the generated classifier on ``x_query: [B, Q, d]``."""
        params = self(x_support, y_support)
        self._check(x_query, None, "x_query")
        if x_query.shape[0] != x_support.shape[0]:
            raise ValueError(
                f"x_query: expected {x_support.shape[0]} tasks like x_support, got shape {list(x_query.shape)}"
            )
        return functional_forward(self.target, params, x_query)


class ResidualProtoNet(nn.Module):
    """Prototypical network (Snell et al. 2017) on the same residual block as :class:`NCMHyperNet`.

    Scores are ``-exp(log_scale) · |f(x) - p_j|²`` with ``f`` the block and ``p_j`` the mean of
    class ``j``'s support features. The block starts as the identity, so the untrained network is
    nearest class mean on the raw input, like the hypernetwork: the two differ only in what is generated.

    ``extra`` learned features (starting at zero) widen the block as in :class:`NCMHyperNet`, so the two can
    be compared at the same size (lecture 02's 2-D tasks).

    Call: ``logits(x_support: [B, M, d], y_support: [B, M], x_query: [B, Q, d])`` → ``[B, Q, N]``.
    """

    def __init__(self, in_features: int, n_way: int, hidden: int = 128, extra: int = 0):
        super().__init__()
        self.in_features = require_positive_int("in_features", in_features)
        self.n_way = require_positive_int("n_way", n_way)
        if isinstance(extra, bool) or not isinstance(extra, int) or extra < 0:
            raise ValueError(f"extra: expected a non-negative integer, got {extra!r}")
        self.block = ResidualBlock(self.in_features, require_positive_int("hidden", hidden), extra)
        self.log_scale = nn.Parameter(torch.zeros(()))

    def logits(self, x_support: torch.Tensor, y_support: torch.Tensor, x_query: torch.Tensor) -> torch.Tensor:
        for name, x in (("x_support", x_support), ("x_query", x_query)):
            require_float(name, x)
            if x.dim() != 3 or x.shape[-1] != self.in_features:
                raise ValueError(f"{name}: expected shape [B, M, d={self.in_features}], got {list(x.shape)}")
            _require_finite(name, x)
        return self.log_scale.exp() * prototype_logits(
            self.block(x_support), y_support, self.block(x_query), self.n_way
        )
