"""Continual learning: a task-conditioned hypernetwork with an output regularizer, and its baselines.

Tasks arrive one after another; after training on task ``t`` the learner never sees task
``t``'s data again, yet must still solve it. Three learners share one protocol
(``fit_task(t, x, y)`` then ``logits(t, x)``) so :func:`accuracy_matrix` treats them alike:

* :class:`HyperNetLearner`: von Oswald, Henning, Sacramento & Grewe (ICLR 2020). One learned
  embedding ``e_t`` per task; a hypernetwork generates *all* of the target's weights
  ``θ_t = h_φ(e_t)``. Before learning task ``t`` we store ``θ*_j = h_φ(e_j)`` for every earlier
  ``j``; while learning ``t`` the :func:`output_regularizer` keeps ``h_φ(e_j)`` close to
  ``θ*_j``. Only a few numbers per task are stored (the embedding), not a network per task.
* :class:`SequentialLearner` with ``ewc_strength=0``: plain fine-tuning of one shared network
  (with one small output head per task, the usual task-incremental baseline).
* the same with ``ewc_strength > 0``: Elastic Weight Consolidation (Kirkpatrick et al., PNAS 2017),
  a quadratic penalty ``Σ_j Σ_i F_j,i (θ_i - θ*_j,i)²`` weighted by the diagonal Fisher information.

Tasks come from :func:`split_by_classes` (split digits, lecture 07 §1) or :func:`permuted_tasks` (the
same digits under a different fixed pixel permutation per task, §7), each with a validation split for
choosing hyperparameters (``β``, ``λ``) and a test split for reporting. :func:`fit_joint` trains any
learner on all tasks at once: the upper bound a continual learner is measured against.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from .._checks import (
    require_dims,
    require_float,
    require_number,
    require_positive_int,
    require_sequence,
    require_tensor,
)
from ..target import functional_forward
from ..train import optimizer_step, progress_bar

# --- data --------------------------------------------------------------------------------


class TaskData(NamedTuple):
    """One task of a split dataset. ``x_*: [n, d]`` float, ``y_*: [n]`` int64 labels ``0..C-1`` within the task.

    ``classes[k]`` is the original class of label ``k``. ``x_val, y_val`` (``None`` when no validation split
    was asked for) are held out of training, for choosing hyperparameters without touching the test split.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple[int, ...]
    x_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` of the split ``"train"``, ``"val"`` or ``"test"``."""
        if name not in ("train", "val", "test"):
            raise ValueError(f"split: expected 'train', 'val' or 'test', got {name!r}")
        x, y = getattr(self, f"x_{name}"), getattr(self, f"y_{name}")
        if x is None:
            raise ValueError(f"split: this task has no {name!r} split; make the tasks with val_fraction > 0")
        return x, y


def _check_fractions(test_fraction: float, val_fraction: float) -> None:
    if not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction: expected a number in (0, 1), got {test_fraction!r}")
    if not isinstance(val_fraction, (int, float)) or not 0 <= val_fraction < 1 or test_fraction + val_fraction >= 1:
        raise ValueError(
            f"val_fraction: expected a number in [0, 1) with test_fraction + val_fraction < 1, got {val_fraction!r} "
            f"(test_fraction {test_fraction!r})"
        )


def _split_indices(
    idx: torch.Tensor, test_fraction: float, val_fraction: float, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One class's example indices shuffled and cut into (train, val, test): test first, then validation."""
    idx = idx[torch.randperm(len(idx), generator=generator).to(idx.device)]
    n_test = max(1, round(test_fraction * len(idx)))
    n_val = round(val_fraction * len(idx)) if val_fraction > 0 else 0
    if val_fraction > 0:
        n_val = max(1, n_val)
    if len(idx) - n_test - n_val < 1:
        raise ValueError(f"a class with {len(idx)} examples cannot give a test, validation and training example")
    return idx[n_test + n_val :], idx[n_test : n_test + n_val], idx[:n_test]


def split_by_classes(
    x: torch.Tensor,
    y: torch.Tensor,
    groups: Sequence[Sequence[int]],
    test_fraction: float = 0.3,
    generator: torch.Generator | None = None,
    val_fraction: float = 0.0,
) -> list[TaskData]:
    """Split a labelled dataset into tasks, one per group of original classes (split digits, lecture 07).

    Within task ``t`` the label of class ``groups[t][k]`` becomes ``k`` (task-incremental:
    the learner is told which task an input belongs to and answers within that task).
    Each class is split into train, validation and test separately, so every split keeps its proportion.

    Args:
        x: ``[n, d]`` inputs; y: ``[n]`` integer labels.
        groups: e.g. ``[(0, 1), (2, 3), ...]`` for split digits.
        test_fraction: share of each class held out for testing, in ``(0, 1)``.
        val_fraction: share of each class held out for validation (0: no validation split).
    """
    require_float("x", x)
    require_dims("x", x, (2,), "[n, d]")
    require_tensor("y", y)
    if y.dtype not in (torch.int64, torch.int32) or y.shape != x.shape[:1]:
        raise ValueError(f"y: expected integer labels of shape [{x.shape[0]}], got {y.dtype} {list(y.shape)}")
    _check_fractions(test_fraction, val_fraction)
    if not groups or any(len(g) < 2 for g in groups):
        raise ValueError(f"groups: expected a list of class groups with at least 2 classes each, got {groups!r}")
    tasks = []
    for group in groups:
        parts: dict[str, list[torch.Tensor]] = {"train": [], "val": [], "test": []}
        labels: dict[str, list[torch.Tensor]] = {"train": [], "val": [], "test": []}
        for k, cls in enumerate(group):
            idx = torch.nonzero(y == cls).flatten()
            if len(idx) < 2:
                raise ValueError(f"groups: class {cls} has {len(idx)} examples; need at least 2 to split")
            for name, part in zip(
                ("train", "val", "test"), _split_indices(idx, test_fraction, val_fraction, generator)
            ):
                parts[name].append(part)
                labels[name].append(torch.full((len(part),), k, dtype=torch.int64, device=y.device))
        cut = {name: torch.cat(parts[name]) for name in parts}
        lab = {name: torch.cat(labels[name]) for name in labels}
        val = (x[cut["val"]], lab["val"]) if val_fraction > 0 else (None, None)
        tasks.append(TaskData(x[cut["train"]], lab["train"], x[cut["test"]], lab["test"], tuple(group), *val))
    return tasks


def permuted_tasks(
    x: torch.Tensor,
    y: torch.Tensor,
    n_tasks: int,
    test_fraction: float = 0.3,
    val_fraction: float = 0.0,
    generator: torch.Generator | None = None,
) -> list[TaskData]:
    """``n_tasks`` tasks on the same examples, each with its own fixed permutation of the input features.

    Permuted MNIST (Goodfellow et al. 2013; von Oswald et al. 2020 §3) on any dataset: task 0 is the
    data as it is, task ``t > 0`` shuffles the ``d`` features by a random permutation drawn from
    ``generator``. Every task keeps all classes (labels unchanged) and the same train/validation/test split
    (stratified by class), so the tasks differ only in where each pixel is. Lecture 07 §7.

    Args:
        x: ``[n, d]`` inputs; y: ``[n]`` integer labels ``0..C-1``.
    Returns ``n_tasks`` :class:`TaskData` with ``classes = (0, …, C-1)``.
    """
    require_float("x", x)
    require_dims("x", x, (2,), "[n, d]")
    require_tensor("y", y)
    if y.dtype not in (torch.int64, torch.int32) or y.shape != x.shape[:1]:
        raise ValueError(f"y: expected integer labels of shape [{x.shape[0]}], got {y.dtype} {list(y.shape)}")
    n_tasks = require_positive_int("n_tasks", n_tasks)
    classes = tuple(int(c) for c in torch.unique(y).tolist())
    if classes != tuple(range(len(classes))) or len(classes) < 2:
        raise ValueError(f"y: expected labels 0..C-1 with C >= 2, got the classes {list(classes)}")
    (base,) = split_by_classes(x, y.long(), [classes], test_fraction, generator, val_fraction)
    perms = [torch.arange(x.shape[1])] + [torch.randperm(x.shape[1], generator=generator) for _ in range(n_tasks - 1)]
    out = []
    for p in perms:
        p = p.to(x.device)
        val = (base.x_val[:, p], base.y_val) if base.x_val is not None else (None, None)
        out.append(TaskData(base.x_train[:, p], base.y_train, base.x_test[:, p], base.y_test, classes, *val))
    return out


# --- the output regularizer (von Oswald et al. 2020, eq. 2 without the look-ahead) ---------


HyperNet = Callable[[torch.Tensor], dict[str, torch.Tensor]]


@torch.no_grad()
def snapshot(hnet: HyperNet, embeddings: torch.Tensor) -> dict[str, torch.Tensor]:
    """What ``hnet`` generates now for each earlier task: ``embeddings: [T', d_z]`` → ``{name: [T', *shape]}``.

    Detached copies: they are the fixed targets the regularizer pulls towards.
    """
    require_float("embeddings", embeddings)
    require_dims("embeddings", embeddings, (2,), "[T', d_z], one row per earlier task")
    return {k: v.detach().clone() for k, v in hnet(embeddings.detach()).items()}


def output_regularizer(hnet: HyperNet, embeddings: torch.Tensor, targets: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """``(1/T') Σ_j ‖h(e_j) − θ*_j‖²`` over the ``T'`` earlier tasks.

    Von Oswald et al. 2020, eq. 2, with its look-ahead ``ΔΘ_h`` set to zero: the paper evaluates the
    hypernetwork at ``Θ_h + ΔΘ_h``, where ``ΔΘ_h`` is the step the task loss alone would take.

    Args:
        hnet: the hypernetwork being trained, ``z: [B, d_z] → {name: [B, *shape]}``.
        embeddings: ``[T', d_z]`` the earlier tasks' embeddings (held fixed: only ``hnet`` is pulled back).
        targets: ``{name: [T', *shape]}`` from :func:`snapshot`, taken before the current task.

    Returns a scalar: exactly zero while ``hnet`` still generates ``targets``; its gradient
    reaches ``hnet``'s parameters only. With ``T' = 0`` it is a zero that still has a graph-free value.
    """
    require_float("embeddings", embeddings)
    require_dims("embeddings", embeddings, (2,), "[T', d_z], one row per earlier task")
    if not isinstance(targets, Mapping):
        raise TypeError(f"targets: expected a dict {{name: Tensor}} from snapshot(), got {type(targets).__name__}")
    n_prev = embeddings.shape[0]
    if n_prev == 0:
        return embeddings.new_zeros(())
    current = hnet(embeddings.detach())
    if set(current) != set(targets):
        raise ValueError(f"targets: expected the keys {sorted(current)}, got {sorted(targets)}")
    total = embeddings.new_zeros(())
    for name, theta in current.items():
        ref = require_float(f"targets[{name!r}]", targets[name])
        if ref.shape != theta.shape:
            raise ValueError(f"targets[{name!r}]: expected shape {list(theta.shape)}, got {list(ref.shape)}")
        total = total + (theta - ref).pow(2).sum()
    return total / n_prev


# --- EWC ------------------------------------------------------------------------------------


def fisher_diagonal(
    model: nn.Module, x: torch.Tensor, logits_fn: Callable[[torch.Tensor], torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """Diagonal Fisher information of ``model``'s predictive distribution, averaged over inputs.

    ``F_i = E_x Σ_c p(c|x) (∂ log p(c|x) / ∂θ_i)²``: the expectation over the model's *own*
    predictions (the true Fisher EWC is derived from), computed exactly over the classes from
    per-example gradients (``torch.func.vmap(grad)``), so no labels are needed.

    Args:
        model: maps ``x: [n, d]`` to logits; ``logits_fn`` picks the task's columns (multi-head models).
        x: ``[n, d]`` inputs of the task just learned.
    Returns ``{name: [*shape]}`` for every trainable parameter, all entries ``>= 0``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    require_float("x", x)
    if x.dim() < 2:
        raise ValueError(f"x: expected a batch of inputs [n, ...], got shape {list(x.shape)}")
    pick = logits_fn if logits_fn is not None else (lambda out: out)
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}

    def log_probs(p: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(pick(functional_call(model, p, (xi[None],)))[0], dim=-1)

    with torch.no_grad():
        probs = F.softmax(pick(model(x)), dim=-1)  # [n, C]
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    for c in range(probs.shape[1]):
        grads = vmap(grad(lambda p, xi, c=c: log_probs(p, xi)[c]), in_dims=(None, 0))(params, x)
        for n, g in grads.items():
            weight = probs[:, c].reshape(-1, *([1] * (g.dim() - 1)))
            fisher[n] += (weight * g.pow(2)).mean(0)
    return fisher


def ewc_penalty(
    model: nn.Module, anchors: Sequence[tuple[Mapping[str, torch.Tensor], Mapping[str, torch.Tensor]]]
) -> torch.Tensor:
    """``Σ_j Σ_i F_j,i (θ_i − θ*_j,i)²`` over the stored ``(θ*_j, F_j)`` pairs (one per earlier task).

    Zero at an anchor whose Fisher is the only one stored; its gradient is ``2 F (θ − θ*)``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    named = dict(model.named_parameters())
    total = next(iter(named.values())).new_zeros(())
    for j, (anchor, fisher) in enumerate(anchors):
        for name, f in fisher.items():
            if name not in named or name not in anchor:
                raise ValueError(f"anchors[{j}]: {name!r} is not a parameter of the model, or has no anchor value")
            if f.shape != named[name].shape or anchor[name].shape != named[name].shape:
                raise ValueError(
                    f"anchors[{j}][{name!r}]: expected shape {list(named[name].shape)}, "
                    f"got anchor {list(anchor[name].shape)} and Fisher {list(f.shape)}"
                )
            total = total + (f * (named[name] - anchor[name]).pow(2)).sum()
    return total


class EWCQuadratic(NamedTuple):
    """All of EWC's per-task springs folded into one: ``Σ_j F_j (θ − θ*_j)² = A (θ − m)² + c`` elementwise.

    ``A = Σ_j F_j`` (total stiffness), ``m = Σ_j F_j θ*_j / A`` (the stiffness-weighted anchor; 0 where
    ``A = 0``) and the constant ``c`` (a number). A sum of quadratics is a quadratic, so EWC needs the
    network plus two tensors of its size, however many tasks it has seen: the same penalty, value and
    gradient, as keeping every ``(θ*_j, F_j)`` (lecture 07 §8).
    """

    stiffness: dict[str, torch.Tensor]
    center: dict[str, torch.Tensor]
    constant: float
    n_tasks: int

    @staticmethod
    def fold(anchors: Sequence[tuple[Mapping[str, torch.Tensor], Mapping[str, torch.Tensor]]]) -> EWCQuadratic:
        """Fold ``[(θ*_j, F_j), …]`` into one quadratic (in float64, then back to each tensor's dtype)."""
        if not anchors:
            raise ValueError("anchors: expected at least one (anchor, Fisher) pair, got none")
        a: dict[str, torch.Tensor] = {}
        b: dict[str, torch.Tensor] = {}
        c = 0.0
        for anchor, fisher in anchors:
            for name, f in fisher.items():
                f64, t64 = f.double(), anchor[name].double()
                a[name] = a.get(name, 0) + f64
                b[name] = b.get(name, 0) + f64 * t64
                c += float((f64 * t64 * t64).sum())
        center = {n: torch.where(a[n] > 0, b[n] / a[n].clamp_min(1e-300), torch.zeros_like(a[n])) for n in a}
        c -= sum(float((a[n] * center[n] * center[n]).sum()) for n in a)
        dtype = {n: anchors[0][1][n].dtype for n in a}
        return EWCQuadratic({n: a[n].to(dtype[n]) for n in a}, {n: center[n].to(dtype[n]) for n in a}, c, len(anchors))

    def add(self, anchor: Mapping[str, torch.Tensor], fisher: Mapping[str, torch.Tensor]) -> EWCQuadratic:
        """This quadratic plus one more task's spring ``F (θ − θ*)²`` (the folded form is itself a spring)."""
        both = EWCQuadratic.fold([(self.center, self.stiffness), (anchor, fisher)])
        return both._replace(constant=both.constant + self.constant, n_tasks=self.n_tasks + 1)

    def penalty(self, model: nn.Module) -> torch.Tensor:
        """``Σ_i A_i (θ_i − m_i)² + c``: equal to :func:`ewc_penalty` over the folded anchors."""
        named = dict(model.named_parameters())
        total = next(iter(named.values())).new_zeros(())
        for name, a in self.stiffness.items():
            total = total + (a * (named[name] - self.center[name]).pow(2)).sum()
        return total + self.constant


# --- learners ---------------------------------------------------------------------------------


class ContinualLearner(Protocol):
    """What :func:`accuracy_matrix` needs: learn task ``t`` from its data, then answer for any task."""

    def fit_task(self, t: int, x: torch.Tensor, y: torch.Tensor) -> list[float]: ...

    def logits(self, t: int, x: torch.Tensor) -> torch.Tensor: ...


def _check_learner(learner: object) -> None:
    if not (callable(getattr(learner, "fit_task", None)) and callable(getattr(learner, "logits", None))):
        raise TypeError(
            "learner: expected a continual learner with fit_task(t, x, y) and logits(t, x) "
            f"(HyperNetLearner, SequentialLearner), got {type(learner).__name__}"
        )


def _check_task_batch(t: int, n_tasks: int, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
    if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < n_tasks:
        raise ValueError(f"t: expected a task index in [0, {n_tasks}), got {t!r}")
    require_float("x", x)
    if x.dim() < 2:
        raise ValueError(f"x: expected a batch of inputs [n, ...], got shape {list(x.shape)}")
    if y is not None:
        require_tensor("y", y)
        if y.dtype != torch.int64 or y.shape != x.shape[:1]:
            raise ValueError(f"y: expected int64 labels of shape [{x.shape[0]}], got {y.dtype} {list(y.shape)}")


class HyperNetLearner(nn.Module):
    """Task-conditioned hypernetwork with the output regularizer (von Oswald et al. 2020).

    Args:
        target: the network whose weights are generated (its own parameters are never used).
        hnet: any hypernetwork for ``describe(target)``: ``z: [B, d_z] → {name: [B, *shape]}``.
        n_tasks: how many task embeddings to hold.
        beta: strength of the output regularizer (the paper's ``β_output``), a finite number ``>= 0``.
        n_steps, lr: Adam steps and learning rate per task (full-batch: the tasks are small).

    While learning task ``t`` only ``φ`` and ``e_t`` are trained; earlier embeddings stay as they were.
    """

    def __init__(
        self,
        target: nn.Module,
        hnet: nn.Module,
        n_tasks: int,
        beta: float = 0.05,
        n_steps: int = 300,
        lr: float = 1e-3,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if not isinstance(target, nn.Module) or not isinstance(hnet, nn.Module):
            raise TypeError("target and hnet: expected nn.Module instances")
        z_dim = getattr(hnet, "z_dim", None)
        if not isinstance(z_dim, int):
            raise TypeError(f"hnet: expected a hypernetwork with an int attribute z_dim, got {type(hnet).__name__}")
        self.target, self.hnet = target, hnet
        self.beta = require_number("beta", beta, minimum=0)
        self.n_tasks = require_positive_int("n_tasks", n_tasks)
        self.n_steps = require_positive_int("n_steps", n_steps)
        self.lr = require_number("lr", lr, positive=True)
        # Small random embeddings: distinct per task from the start (the paper draws them from N(0, 1)).
        self.embeddings = nn.ParameterList(
            nn.Parameter(torch.randn(z_dim, generator=generator).to(next(hnet.parameters()))) for _ in range(n_tasks)
        )

    def embedding_matrix(self, upto: int) -> torch.Tensor:
        """``[upto, d_z]``: the embeddings of tasks ``0..upto-1``."""
        if upto == 0:
            return next(self.hnet.parameters()).new_zeros(0, self.hnet.z_dim)
        return torch.stack(list(self.embeddings[:upto]))

    def weights(self, t: int) -> dict[str, torch.Tensor]:
        """The target's weights for task ``t``: ``{name: [*shape]}``."""
        return {k: v[0] for k, v in self.hnet(self.embeddings[t][None]).items()}

    def logits(self, t: int, x: torch.Tensor) -> torch.Tensor:
        _check_task_batch(t, self.n_tasks, x)
        return functional_forward(self.target, self.weights(t), x)

    def fit_task(self, t: int, x: torch.Tensor, y: torch.Tensor) -> list[float]:
        _check_task_batch(t, self.n_tasks, x, y)
        previous = self.embedding_matrix(t).detach()
        targets = snapshot(self.hnet, previous) if t > 0 else {}
        opt = torch.optim.Adam([*self.hnet.parameters(), self.embeddings[t]], lr=self.lr)
        losses = []
        for _ in range(self.n_steps):
            loss = F.cross_entropy(self.logits(t, x), y)
            if t > 0 and self.beta > 0:
                loss = loss + self.beta * output_regularizer(self.hnet, previous, targets)
            losses.append(optimizer_step(opt, loss))
        return [float(v) for v in torch.stack(losses)]


class SequentialLearner(nn.Module):
    """One shared network trained task after task; ``ewc_strength > 0`` adds the EWC penalty.

    Args:
        model: maps ``x: [n, d]`` to ``[n, n_tasks * n_classes]`` logits: one head of ``n_classes``
            per task (task ``t`` reads columns ``t*C .. (t+1)*C - 1``), the usual task-incremental baseline.
        ewc_strength: ``λ`` in ``L_t + (λ/2) Σ_j Σ_i F_j,i (θ_i − θ*_j,i)²``, a finite number ``>= 0``;
            0 is plain fine-tuning.
        n_steps, lr: Adam steps and learning rate per task (full-batch).

    After each task it adds that task's spring (its anchor ``θ*_t`` and Fisher ``F_t``) to one
    :class:`EWCQuadratic`, ``quadratic``: what it stores and computes does not grow with the tasks.
    """

    def __init__(
        self,
        model: nn.Module,
        n_tasks: int,
        n_classes: int,
        ewc_strength: float = 0.0,
        n_steps: int = 300,
        lr: float = 1e-3,
    ):
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
        self.model = model
        self.n_tasks = require_positive_int("n_tasks", n_tasks)
        self.n_classes = require_positive_int("n_classes", n_classes)
        self.ewc_strength = require_number("ewc_strength", ewc_strength, minimum=0)
        self.n_steps = require_positive_int("n_steps", n_steps)
        self.lr = require_number("lr", lr, positive=True)
        self.quadratic: EWCQuadratic | None = None

    def _head(self, t: int) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda out: out[..., t * self.n_classes : (t + 1) * self.n_classes]

    def logits(self, t: int, x: torch.Tensor) -> torch.Tensor:
        _check_task_batch(t, self.n_tasks, x)
        out = self.model(x)
        if out.shape[-1] != self.n_tasks * self.n_classes:
            raise ValueError(
                f"model: expected {self.n_tasks * self.n_classes} output logits (n_tasks * n_classes), got {out.shape[-1]}"
            )
        return self._head(t)(out)

    def fit_task(self, t: int, x: torch.Tensor, y: torch.Tensor) -> list[float]:
        _check_task_batch(t, self.n_tasks, x, y)
        opt = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        losses = []
        for _ in range(self.n_steps):
            loss = F.cross_entropy(self.logits(t, x), y)
            if self.ewc_strength > 0 and self.quadratic is not None:
                loss = loss + 0.5 * self.ewc_strength * self.quadratic.penalty(self.model)
            losses.append(optimizer_step(opt, loss))
        if self.ewc_strength > 0:
            anchor = {n: p.detach().clone() for n, p in self.model.named_parameters()}
            fisher = fisher_diagonal(self.model, x, self._head(t))
            q = self.quadratic
            self.quadratic = EWCQuadratic.fold([(anchor, fisher)]) if q is None else q.add(anchor, fisher)
        return [float(v) for v in torch.stack(losses)]


def fit_joint(
    learner: ContinualLearner,
    tasks: Sequence[TaskData],
    n_steps: int,
    lr: float,
    progress: bool | None = None,
) -> list[float]:
    """Train ``learner`` on every task at once: the joint (multi-task) upper bound of lecture 07.

    Each full-batch Adam step minimises the mean over tasks of their cross-entropies, through the same
    ``logits(t, x)`` the continual protocol uses, on all of the learner's trainable parameters (for a
    :class:`HyperNetLearner`: ``φ`` and every embedding). No task is ever absent, so nothing is forgotten:
    what it reaches is what the network could do with all the data. Returns the losses.
    """
    if not isinstance(learner, nn.Module):
        raise TypeError(f"learner: expected a HyperNetLearner or SequentialLearner, got {type(learner).__name__}")
    if not tasks:
        raise ValueError("tasks: expected at least one task, got none")
    n_steps = require_positive_int("n_steps", n_steps)
    params = [p for p in learner.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=require_number("lr", lr, positive=True))
    for t, task in enumerate(tasks):
        _check_task_batch(t, len(tasks), task.x_train, task.y_train)
    losses = []
    for _ in progress_bar(range(n_steps), "joint training", progress=progress):
        loss = sum(F.cross_entropy(learner.logits(t, task.x_train), task.y_train) for t, task in enumerate(tasks))
        loss = loss / len(tasks)
        losses.append(optimizer_step(opt, loss))
    return [float(v) for v in torch.stack(losses)]


# --- evaluation -------------------------------------------------------------------------------


@torch.no_grad()
def task_accuracy(learner: ContinualLearner, t: int, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of ``x: [n, d]`` whose arg-max logit for task ``t`` equals ``y: [n]``."""
    _check_learner(learner)
    return float((learner.logits(t, x).argmax(-1) == y).float().mean())


def accuracy_matrices(
    learner: ContinualLearner,
    tasks: Sequence[TaskData],
    splits: Sequence[str] = ("test",),
    progress: Callable[[int], None] | None = None,
) -> dict[str, torch.Tensor]:
    """Train on ``tasks`` in order; ``R[split][i, j]`` = accuracy on task ``j``'s ``split`` after training task ``i``.

    Each matrix is ``[T, T]`` with ``NaN`` above the diagonal (tasks not yet seen are not scored).
    ``splits`` names the held-out splits to score (``"val"``, ``"test"``), all from the one training run.
    ``progress(i)`` is called after each task (for a progress bar, or to record what the learner holds).
    """
    _check_learner(learner)
    tasks = require_sequence("tasks", tasks, "TaskData")
    if not tasks:
        raise ValueError("tasks: expected at least one task, got none")
    if isinstance(splits, str) or not splits:
        raise ValueError(f"splits: expected a list of split names such as ['val', 'test'], got {splits!r}")
    for name in splits:
        tasks[0].split(name)  # refuses an unknown or missing split before any training
    n = len(tasks)
    R = {name: torch.full((n, n), float("nan")) for name in splits}
    for i, task in enumerate(tasks):
        learner.fit_task(i, task.x_train, task.y_train)
        for j in range(i + 1):
            for name in splits:
                R[name][i, j] = task_accuracy(learner, j, *tasks[j].split(name))
        if progress is not None:
            progress(i)
    return R


def accuracy_matrix(
    learner: ContinualLearner, tasks: Sequence[TaskData], progress: Callable[[int], None] | None = None
) -> torch.Tensor:
    """The test-split matrix of :func:`accuracy_matrices`: ``R[i, j]`` after training task ``i``, on task ``j``."""
    return accuracy_matrices(learner, tasks, ("test",), progress)["test"]


@torch.no_grad()
def final_accuracies(learner: ContinualLearner, tasks: Sequence[TaskData], split: str = "test") -> torch.Tensor:
    """``[T]``: accuracy on each task's ``split`` as the learner is now (after :func:`fit_joint`, say)."""
    _check_learner(learner)
    tasks = require_sequence("tasks", tasks, "TaskData")
    return torch.tensor([task_accuracy(learner, t, *task.split(split)) for t, task in enumerate(tasks)])


def _check_matrix(R: torch.Tensor) -> torch.Tensor:
    require_float("R", R)
    if R.dim() != 2 or R.shape[0] != R.shape[1] or R.shape[0] < 1:
        raise ValueError(f"R: expected a square accuracy matrix [T, T], got shape {list(R.shape)}")
    seen = torch.tril(torch.ones(R.shape, dtype=torch.bool, device=R.device))
    if torch.isnan(R[seen]).any():
        raise ValueError("R: the lower triangle (task j tested after training task i >= j) must not contain NaN")
    return R


def average_accuracy(R: torch.Tensor) -> float:
    """Mean test accuracy over all tasks after training the last one: ``mean_j R[T-1, j]``."""
    return float(_check_matrix(R)[-1].mean())


def forgetting(R: torch.Tensor) -> float:
    """Average forgetting (Chaudhry et al. 2018): ``mean_{j<T-1} (max_{j<=i<T-1} R[i, j] − R[T-1, j])``.

    How much of its best accuracy each earlier task has lost by the end; 0 for a single task.
    """
    R = _check_matrix(R)
    n = R.shape[0]
    if n == 1:
        return 0.0
    drops = [float(R[j : n - 1, j].max() - R[n - 1, j]) for j in range(n - 1)]
    return sum(drops) / len(drops)
