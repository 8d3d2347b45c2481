"""Specification of continual learning: the output regularizer, EWC, the learners and the metrics."""

import math

import pytest
import torch
from torch import nn

from hypernet_lib import HyperNetwork, describe
from hypernet_lib.apps.continual import (
    EWCQuadratic,
    HyperNetLearner,
    SequentialLearner,
    TaskData,
    accuracy_matrices,
    accuracy_matrix,
    average_accuracy,
    ewc_penalty,
    final_accuracies,
    fisher_diagonal,
    fit_joint,
    forgetting,
    output_regularizer,
    permuted_tasks,
    snapshot,
    split_by_classes,
)


@pytest.fixture
def small():
    torch.manual_seed(0)
    target = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    hnet = HyperNetwork(describe(target), z_dim=3, hidden=(8,))
    return target, hnet


def toy_tasks(n_tasks=3, n=40, d=4, seed=0):
    """Linearly separable two-class tasks, each along its own direction (half train, a quarter val and test)."""
    g = torch.Generator().manual_seed(seed)
    tasks = []
    for t in range(n_tasks):
        direction = torch.randn(d, generator=g)
        x = torch.randn(n, d, generator=g)
        y = (x @ direction > 0).long()
        h, q = n // 2, 3 * n // 4
        tasks.append(TaskData(x[:h], y[:h], x[q:], y[q:], (2 * t, 2 * t + 1), x[h:q], y[h:q]))
    return tasks


# --- split_by_classes ---------------------------------------------------------------------------


def test_split_by_classes_relabels_within_each_task_and_keeps_every_example_once():
    x = torch.arange(60, dtype=torch.float32)[:, None].repeat(1, 2)
    y = torch.arange(60) % 6
    tasks = split_by_classes(
        x, y, [(0, 1), (2, 3), (4, 5)], test_fraction=0.3, generator=torch.Generator().manual_seed(0)
    )
    assert len(tasks) == 3
    seen = torch.cat([torch.cat([t.x_train[:, 0], t.x_test[:, 0]]) for t in tasks])
    assert sorted(seen.long().tolist()) == list(range(60))
    for t, group in zip(tasks, [(0, 1), (2, 3), (4, 5)]):
        assert t.classes == group
        for xs, ys in [(t.x_train, t.y_train), (t.x_test, t.y_test)]:
            original = xs[:, 0].long() % 6
            assert torch.equal(torch.tensor(group)[ys], original)  # label k means class group[k]
        assert len(t.y_test) == 2 * 3  # 30% of each class's 10 examples


def test_split_by_classes_holds_out_a_validation_split_per_class_that_no_other_split_shares():
    x = torch.arange(100, dtype=torch.float32)[:, None]
    y = torch.arange(100) % 2
    (task,) = split_by_classes(x, y, [(0, 1)], 0.3, torch.Generator().manual_seed(0), val_fraction=0.2)
    parts = [set(task.split(name)[0][:, 0].long().tolist()) for name in ("train", "val", "test")]
    assert [len(p) for p in parts] == [50, 20, 30]
    assert set.union(*parts) == set(range(100)) and sum(map(len, parts)) == 100
    assert task.split("val")[1].tolist().count(0) == 10  # each class gives its own 20%
    (no_val,) = split_by_classes(x, y, [(0, 1)], 0.3, torch.Generator().manual_seed(0))
    assert no_val.x_val is None
    with pytest.raises(ValueError, match="no 'val' split"):
        no_val.split("val")


def test_without_validation_the_split_is_the_one_drawn_before_validation_existed():
    """val_fraction=0 draws exactly the old train/test split, so older results stay reproducible."""
    x, y = torch.randn(40, 3), torch.arange(40) % 2
    (task,) = split_by_classes(x, y, [(0, 1)], 0.25, torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    idx0 = torch.nonzero(y == 0).flatten()[torch.randperm(20, generator=g)]
    assert torch.equal(task.x_test[:5], x[idx0[:5]]) and torch.equal(task.x_train[:15], x[idx0[5:]])


def test_permuted_tasks_share_the_split_and_differ_only_by_a_fixed_pixel_permutation():
    torch.manual_seed(0)
    x, y = torch.randn(60, 6), torch.arange(60) % 3
    tasks = permuted_tasks(x, y, 3, 0.3, 0.2, torch.Generator().manual_seed(0))
    assert len(tasks) == 3 and all(t.classes == (0, 1, 2) for t in tasks)
    assert torch.equal(tasks[0].y_train, tasks[2].y_train)
    for t in tasks[1:]:
        for name in ("train", "val", "test"):
            a, b = tasks[0].split(name)[0], t.split(name)[0]
            perm = [int((a == b[:, [k]]).all(0).nonzero()[0]) for k in range(6)]  # where each pixel went
            assert torch.equal(a[:, perm], b) and sorted(perm) == list(range(6))
    assert not torch.equal(tasks[1].x_test, tasks[2].x_test)
    with pytest.raises(ValueError, match="labels 0..C-1"):
        permuted_tasks(x, y + 1, 2)


def test_split_by_classes_rejects_bad_input():
    x, y = torch.randn(10, 2), torch.arange(10) % 2
    with pytest.raises(ValueError, match="test_fraction"):
        split_by_classes(x, y, [(0, 1)], test_fraction=1.5)
    with pytest.raises(ValueError, match="groups"):
        split_by_classes(x, y, [(0,)])
    with pytest.raises(ValueError, match="class 7"):
        split_by_classes(x, y, [(0, 7)])
    with pytest.raises(TypeError, match="floating-point"):
        split_by_classes(torch.zeros(10, 2, dtype=torch.long), y, [(0, 1)])


# --- output regularizer -----------------------------------------------------------------------


def test_regularizer_is_exactly_zero_while_the_hypernetwork_is_unchanged(small):
    _, hnet = small
    e = torch.randn(3, 3)
    reg = output_regularizer(hnet, e, snapshot(hnet, e))
    assert reg.item() == 0.0


def test_regularizer_is_the_mean_over_tasks_of_the_squared_distance(small):
    _, hnet = small
    e = torch.randn(2, 3)
    targets = snapshot(hnet, e)
    with torch.no_grad():
        hnet.head.bias.add_(0.1)  # every generated number moves by exactly 0.1
    expected = 0.1**2 * hnet.spec.num_params  # per task; the mean over 2 tasks is the same
    torch.testing.assert_close(output_regularizer(hnet, e, targets).item(), expected, rtol=1e-4, atol=0)


def test_regularizer_gradient_reaches_the_hypernetwork_not_the_old_embeddings(small):
    _, hnet = small
    e = torch.randn(2, 3, requires_grad=True)
    targets = snapshot(hnet, e)
    with torch.no_grad():
        hnet.head.weight.mul_(1.5)
    output_regularizer(hnet, e, targets).backward()
    assert hnet.head.weight.grad.abs().sum() > 0
    assert e.grad is None


def test_regularizer_with_no_earlier_tasks_is_zero(small):
    _, hnet = small
    assert output_regularizer(hnet, torch.zeros(0, 3), {}).item() == 0.0


def test_snapshot_is_a_detached_copy(small):
    _, hnet = small
    e = torch.randn(2, 3)
    snap = snapshot(hnet, e)
    assert all(not v.requires_grad for v in snap.values())
    with torch.no_grad():
        hnet.head.bias.add_(1.0)
    assert output_regularizer(hnet, e, snap) > 0  # the snapshot did not move with the hypernetwork


def test_regularizer_rejects_bad_input(small):
    _, hnet = small
    e = torch.randn(2, 3)
    snap = snapshot(hnet, e)
    with pytest.raises(ValueError, match=r"\[T', d_z\]"):
        output_regularizer(hnet, e[0], snap)
    with pytest.raises(ValueError, match="keys"):
        output_regularizer(hnet, e, {"0.weight": snap["0.weight"]})
    with pytest.raises(ValueError, match="shape"):
        output_regularizer(hnet, e, {k: v[:1] for k, v in snap.items()})
    with pytest.raises(TypeError, match="dict"):
        output_regularizer(hnet, e, [1, 2])


# --- EWC ---------------------------------------------------------------------------------------


def test_fisher_matches_the_definition_on_a_logistic_regression():
    """For a linear softmax model the per-example Fisher has a closed form: Σ_c p_c (onehot_c − p)² x²."""
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    x = torch.randn(5, 3)
    fisher = fisher_diagonal(model, x)
    p = torch.softmax(model(x), -1)  # [n, C]
    expected_w = torch.zeros(2, 3)
    for c in range(2):
        dlogit = torch.nn.functional.one_hot(torch.tensor(c), 2).float() - p  # [n, C]: ∂ log p_c / ∂ logits
        expected_w += (p[:, c, None, None] * (dlogit[:, :, None] * x[:, None, :]).pow(2)).mean(0)
    torch.testing.assert_close(fisher["weight"], expected_w.detach())
    assert all((f >= 0).all() for f in fisher.values())


def test_fisher_of_a_head_ignores_the_other_heads():
    torch.manual_seed(0)
    model = nn.Linear(3, 4)
    fisher = fisher_diagonal(model, torch.randn(6, 3), logits_fn=lambda out: out[..., :2])
    assert fisher["weight"][2:].abs().sum() == 0 and fisher["weight"][:2].abs().sum() > 0


def test_ewc_penalty_is_zero_at_the_anchor_and_its_gradient_is_2F_delta():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    anchor = {n: p.detach().clone() for n, p in model.named_parameters()}
    fisher = {n: torch.rand_like(p) for n, p in model.named_parameters()}
    assert ewc_penalty(model, [(anchor, fisher)]).item() == 0.0
    with torch.no_grad():
        model.weight.add_(0.3)
    ewc_penalty(model, [(anchor, fisher)]).backward()
    torch.testing.assert_close(model.weight.grad, 2 * fisher["weight"] * 0.3)
    torch.testing.assert_close(model.bias.grad, torch.zeros(2))


def test_folded_ewc_quadratic_equals_the_sum_of_every_tasks_spring():
    """Σ_j F_j (θ − θ*_j)² is one quadratic A (θ − m)² + c: same value and gradient, constant storage."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    anchors = []
    for _ in range(4):
        anchor = {n: p.detach() + 0.2 * torch.randn_like(p) for n, p in model.named_parameters()}
        fisher = {n: torch.rand_like(p) * (torch.rand_like(p) > 0.3) for n, p in model.named_parameters()}
        anchors.append((anchor, fisher))
    folded = EWCQuadratic.fold(anchors[:1])
    for anchor, fisher in anchors[1:]:
        folded = folded.add(anchor, fisher)
    assert folded.n_tasks == 4
    exact = ewc_penalty(model, anchors)
    torch.testing.assert_close(folded.penalty(model), exact, rtol=1e-5, atol=1e-6)
    g_exact = torch.autograd.grad(exact, list(model.parameters()))
    g_folded = torch.autograd.grad(folded.penalty(model), list(model.parameters()))
    for a, b in zip(g_exact, g_folded):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_ewc_penalty_rejects_mismatched_anchors():
    model = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="not a parameter"):
        ewc_penalty(model, [({"w": torch.zeros(1)}, {"w": torch.zeros(1)})])
    bad = {"weight": torch.zeros(5)}
    with pytest.raises(ValueError, match="shape"):
        ewc_penalty(model, [(bad, bad)])


# --- learners and metrics ------------------------------------------------------------------------


def test_hypernet_learner_with_regularizer_keeps_old_tasks_weights(small):
    target, hnet = small
    tasks = toy_tasks(2)
    learner = HyperNetLearner(target, hnet, n_tasks=2, beta=1.0, n_steps=25, lr=2e-2)
    learner.fit_task(0, tasks[0].x_train, tasks[0].y_train)
    before = {k: v.detach().clone() for k, v in learner.weights(0).items()}
    learner.fit_task(1, tasks[1].x_train, tasks[1].y_train)
    drift = sum((learner.weights(0)[k] - before[k]).pow(2).sum() for k in before)
    torch.manual_seed(0)
    target2 = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    free = HyperNetLearner(
        target2, HyperNetwork(describe(target2), 3, hidden=(8,)), n_tasks=2, beta=0.0, n_steps=25, lr=2e-2
    )
    free.fit_task(0, tasks[0].x_train, tasks[0].y_train)
    before_free = {k: v.detach().clone() for k, v in free.weights(0).items()}
    free.fit_task(1, tasks[1].x_train, tasks[1].y_train)
    drift_free = sum((free.weights(0)[k] - before_free[k]).pow(2).sum() for k in before_free)
    assert drift < 0.1 * drift_free


def test_hypernet_learner_does_not_touch_earlier_embeddings(small):
    target, hnet = small
    tasks = toy_tasks(2)
    learner = HyperNetLearner(target, hnet, n_tasks=2, n_steps=5)
    learner.fit_task(0, tasks[0].x_train, tasks[0].y_train)
    e0 = learner.embeddings[0].detach().clone()
    learner.fit_task(1, tasks[1].x_train, tasks[1].y_train)
    assert torch.equal(learner.embeddings[0].detach(), e0)


def test_sequential_learner_reads_its_own_head_and_folds_one_spring_per_task():
    torch.manual_seed(0)
    model = nn.Linear(4, 6)
    learner = SequentialLearner(model, n_tasks=3, n_classes=2, ewc_strength=10.0, n_steps=3)
    x = torch.randn(5, 4)
    torch.testing.assert_close(learner.logits(1, x), model(x)[:, 2:4])
    for t, task in enumerate(toy_tasks(2)):
        learner.fit_task(t, task.x_train, task.y_train)
    assert learner.quadratic.n_tasks == 2
    assert set(learner.quadratic.stiffness) == {"weight", "bias"}  # the network's size, not the tasks'
    assert SequentialLearner(nn.Linear(4, 6), 3, 2, ewc_strength=0.0).quadratic is None


def test_accuracy_matrix_is_lower_triangular_and_the_learners_learn():
    torch.manual_seed(0)
    tasks = toy_tasks(3)
    target = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    learner = HyperNetLearner(target, HyperNetwork(describe(target), 3, hidden=(8,)), 3, beta=0.5, n_steps=30, lr=3e-2)
    R = accuracy_matrix(learner, tasks)
    assert R.shape == (3, 3)
    assert torch.isnan(R[0, 1:]).all() and torch.isnan(R[1, 2])
    assert (torch.diagonal(R) >= 0.8).all()  # separable toy tasks: each is learned


def test_one_run_scores_validation_and_test_and_the_test_matrix_is_accuracy_matrix():
    tasks = toy_tasks(2)

    def fresh():
        torch.manual_seed(0)
        return SequentialLearner(nn.Linear(4, 4), 2, 2, n_steps=20, lr=5e-2)

    both = accuracy_matrices(fresh(), tasks, ("val", "test"))
    assert set(both) == {"val", "test"} and both["val"].shape == (2, 2)
    torch.testing.assert_close(both["test"], accuracy_matrix(fresh(), tasks), rtol=0, atol=0, equal_nan=True)
    with pytest.raises(ValueError, match="split names"):
        accuracy_matrices(fresh(), tasks, "val")


def test_joint_training_sees_every_task_and_reaches_the_upper_bound():
    torch.manual_seed(0)
    tasks = toy_tasks(3)
    target = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    learner = HyperNetLearner(target, HyperNetwork(describe(target), 3, hidden=(8,)), 3, n_steps=1, lr=3e-2)
    losses = fit_joint(learner, tasks, n_steps=80, lr=3e-2, progress=False)
    assert losses[-1] < 0.5 * losses[0]
    assert (final_accuracies(learner, tasks, "train") == 1.0).all()  # every task fitted at once
    assert not torch.equal(learner.embeddings[0], learner.embeddings[1])  # every embedding was trained


def test_metrics_on_a_hand_made_matrix():
    nan = math.nan
    R = torch.tensor([[1.0, nan, nan], [0.8, 0.9, nan], [0.6, 0.9, 0.7]])
    assert average_accuracy(R) == pytest.approx((0.6 + 0.9 + 0.7) / 3)
    # task 0 lost 1.0 - 0.6; task 1 lost 0.9 - 0.9
    assert forgetting(R) == pytest.approx((0.4 + 0.0) / 2)
    assert forgetting(torch.tensor([[0.5]])) == 0.0


def test_metrics_reject_bad_matrices():
    with pytest.raises(ValueError, match="square"):
        forgetting(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="NaN"):
        average_accuracy(torch.tensor([[1.0, math.nan], [math.nan, 1.0]]))


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda t, h: HyperNetLearner(t, h, 2, beta=NAN), "beta: expected a finite number, got nan"),
        (lambda t, h: HyperNetLearner(t, h, 2, beta=INF), "beta: expected a finite number"),
        (lambda t, h: HyperNetLearner(t, h, 2, beta=-1), "beta: expected a number >= 0"),
        (lambda t, h: HyperNetLearner(t, h, 2, lr=INF), "lr: expected a finite number, got inf"),
        (lambda t, h: HyperNetLearner(t, h, 2, lr=0.0), "lr: expected a number above 0"),
        (lambda t, h: HyperNetLearner(t, h, 2, n_steps=0), "n_steps: expected a positive integer"),
        (lambda t, h: HyperNetLearner(t, h, 0), "n_tasks: expected a positive integer"),
        (lambda t, h: SequentialLearner(nn.Linear(4, 4), 2, 2, ewc_strength=NAN), "ewc_strength: expected a finite"),
        (
            lambda t, h: SequentialLearner(nn.Linear(4, 4), 2, 2, ewc_strength=-0.1),
            "ewc_strength: expected a number >=",
        ),
        (lambda t, h: SequentialLearner(nn.Linear(4, 4), 2, 2, lr=NAN), "lr: expected a finite number, got nan"),
        (lambda t, h: SequentialLearner(nn.Linear(4, 4), 2, 0), "n_classes: expected a positive integer"),
        (
            lambda t, h: fit_joint(SequentialLearner(nn.Linear(4, 4), 2, 2), toy_tasks(2), 5, INF),
            "lr: expected a finite",
        ),
        (lambda t, h: fit_joint(SequentialLearner(nn.Linear(4, 4), 2, 2), [], 5, 0.1), "tasks: expected at least one"),
        (lambda t, h: split_by_classes(torch.randn(10, 2), torch.arange(10) % 2, [(0, 1)], NAN), "test_fraction"),
        (
            lambda t, h: split_by_classes(torch.randn(10, 2), torch.arange(10) % 2, [(0, 1)], 0.5, None, 0.5),
            "val_fraction",
        ),
        (lambda t, h: permuted_tasks(torch.randn(10, 2), torch.arange(10) % 2, 0), "n_tasks: expected a positive"),
        (lambda t, h: accuracy_matrix(SequentialLearner(nn.Linear(4, 4), 2, 2), []), "tasks: expected at least one"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_hyperparameters_and_empty_inputs_are_refused_by_name(small, make, says):
    """NaN, inf, zero or negative hyperparameters never silently switch a regularizer or training off."""
    target, hnet = small
    with pytest.raises(ValueError, match=says):
        make(target, hnet)


def test_learners_reject_bad_input(small):
    target, hnet = small
    learner = HyperNetLearner(target, hnet, n_tasks=2, n_steps=1)
    with pytest.raises(ValueError, match="task index"):
        learner.logits(2, torch.randn(3, 4))
    with pytest.raises(ValueError, match="int64 labels"):
        learner.fit_task(0, torch.randn(3, 4), torch.zeros(2, dtype=torch.long))
    with pytest.raises(TypeError, match="z_dim"):
        HyperNetLearner(target, nn.Linear(2, 2), n_tasks=2)
    seq = SequentialLearner(nn.Linear(4, 3), n_tasks=2, n_classes=2)
    with pytest.raises(ValueError, match="output logits"):
        seq.logits(0, torch.randn(3, 4))
