"""Specification of hypernet_lib.maml: MAML's meta-gradient, exactly, on problems small enough to check."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hypernet_lib import describe, functional_forward
from hypernet_lib.apps.maml import MAML, finetune, inner_loop, maml_loss, query_losses


def _tasks(n_tasks=3, k=4, q=5, d=3, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x_s, x_q = (
        torch.randn(n_tasks, k, d, generator=gen, dtype=dtype),
        torch.randn(n_tasks, q, d, generator=gen, dtype=dtype),
    )
    y_s, y_q = (
        torch.randn(n_tasks, k, 1, generator=gen, dtype=dtype),
        torch.randn(n_tasks, q, 1, generator=gen, dtype=dtype),
    )
    return x_s, y_s, x_q, y_q


def _tiny_mlp():
    torch.manual_seed(0)
    # tanh, so the support loss has a non-trivial Hessian in every parameter.
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()


def _meta_grad(module, x_s, y_s, x_q, y_q, lr, steps, first_order):
    params = dict(module.named_parameters())
    loss = maml_loss(module, params, x_s, y_s, x_q, y_q, lr, steps, first_order=first_order)
    return torch.autograd.grad(loss, list(params.values()))


# --- the meta-gradient, checked against closed forms and explicit unrolled computations -------------


def test_one_step_meta_gradient_of_a_linear_model_matches_the_closed_form():
    # Linear regression: L(θ) = |Xθ - y|² / n, so ∇L = 2 Xᵀ(Xθ - y) / n and H = 2 XᵀX / n exactly.
    lin = nn.Linear(3, 1).double()
    x_s, y_s, x_q, y_q = _tasks()
    lr = 0.1
    theta = torch.cat([lin.weight.detach().flatten(), lin.bias.detach()])  # [4]

    def aug(x):  # a column of ones carries the bias
        return torch.cat([x, torch.ones(*x.shape[:-1], 1, dtype=x.dtype)], -1)

    expected_so, expected_fo = [], []
    for b in range(3):
        xs, xq = aug(x_s[b]), aug(x_q[b])
        g_s = 2 * xs.T @ (xs @ theta - y_s[b, :, 0]) / xs.shape[0]
        h_s = 2 * xs.T @ xs / xs.shape[0]
        adapted = theta - lr * g_s
        g_q = 2 * xq.T @ (xq @ adapted - y_q[b, :, 0]) / xq.shape[0]
        expected_so.append((torch.eye(4, dtype=theta.dtype) - lr * h_s) @ g_q)
        expected_fo.append(g_q)
    so = torch.cat([g.flatten() for g in _meta_grad(lin, x_s, y_s, x_q, y_q, lr, 1, first_order=False)])
    fo = torch.cat([g.flatten() for g in _meta_grad(lin, x_s, y_s, x_q, y_q, lr, 1, first_order=True)])
    torch.testing.assert_close(so, torch.stack(expected_so).mean(0))
    torch.testing.assert_close(fo, torch.stack(expected_fo).mean(0))


def test_multi_step_second_order_meta_gradient_equals_an_explicitly_unrolled_loop():
    mlp = _tiny_mlp()
    x_s, y_s, x_q, y_q = _tasks()
    lr, steps = 0.3, 3
    ours = _meta_grad(mlp, x_s, y_s, x_q, y_q, lr, steps, first_order=False)

    names, theta = zip(*mlp.named_parameters())
    total = 0.0
    for b in range(x_s.shape[0]):  # a plain Python loop over tasks, autograd with create_graph
        p = list(theta)
        for _ in range(steps):
            out = torch.func.functional_call(mlp, dict(zip(names, p)), (x_s[b],))
            g = torch.autograd.grad(F.mse_loss(out, y_s[b]), p, create_graph=True)
            p = [pi - lr * gi for pi, gi in zip(p, g)]
        total = total + F.mse_loss(torch.func.functional_call(mlp, dict(zip(names, p)), (x_q[b],)), y_q[b])
    explicit = torch.autograd.grad(total / x_s.shape[0], theta)
    for a, e in zip(ours, explicit):
        torch.testing.assert_close(a, e)


def test_first_order_differs_from_second_order_by_exactly_the_hessian_term():
    # One step: ∇_θ L_q(θ') = (I - α H_s(θ)) g_q  with  g_q = ∇L_q(θ');  first-order keeps only g_q.
    mlp = _tiny_mlp()
    x_s, y_s, x_q, y_q = _tasks()
    lr = 0.3
    so = _meta_grad(mlp, x_s, y_s, x_q, y_q, lr, 1, first_order=False)
    fo = _meta_grad(mlp, x_s, y_s, x_q, y_q, lr, 1, first_order=True)

    names, theta = zip(*mlp.named_parameters())
    theta = tuple(t.detach() for t in theta)
    hessian_term = [torch.zeros_like(t) for t in theta]
    for b in range(x_s.shape[0]):

        def loss_at(*p, x, y):
            return F.mse_loss(torch.func.functional_call(mlp, dict(zip(names, p)), (x,)), y)

        g_s = torch.autograd.grad(loss_at(*[t.requires_grad_() for t in theta], x=x_s[b], y=y_s[b]), theta)
        adapted = tuple((t - lr * g).detach().requires_grad_() for t, g in zip(theta, g_s))
        g_q = torch.autograd.grad(loss_at(*adapted, x=x_q[b], y=y_q[b]), adapted)
        _, hvp = torch.autograd.functional.hvp(lambda *p, b=b: loss_at(*p, x=x_s[b], y=y_s[b]), theta, g_q)
        for acc, h in zip(hessian_term, hvp):
            acc += -lr * h / x_s.shape[0]
    for s, f, h in zip(so, fo, hessian_term):
        assert h.abs().max() > 1e-4  # the term is really there on this problem
        torch.testing.assert_close(s - f, h)


def test_zero_learning_rate_leaves_the_weights_unchanged():
    mlp = _tiny_mlp()
    x_s, y_s, x_q, y_q = _tasks()
    params = dict(mlp.named_parameters())
    path = inner_loop(mlp, params, x_s, y_s, lr=0.0, n_steps=4, trajectory=True)
    for step in path:
        for name, t in params.items():
            torch.testing.assert_close(step[name], t.detach().expand_as(step[name]), rtol=0, atol=0)
    # ...and the meta-gradient is then just the query-loss gradient at θ, for both variants.
    plain = torch.autograd.grad(query_losses(mlp, path[0], x_q, y_q).mean(), list(params.values()))
    for first_order in (False, True):
        for a, e in zip(_meta_grad(mlp, x_s, y_s, x_q, y_q, 0.0, 4, first_order), plain):
            torch.testing.assert_close(a, e)


# --- the inner loop: batching, trajectories, per-task starting points ---------------------------------


def test_inner_step_is_plain_gradient_descent_on_the_support_loss():
    mlp = _tiny_mlp()
    x_s, y_s, _, _ = _tasks()
    params = dict(mlp.named_parameters())
    adapted = inner_loop(mlp, params, x_s, y_s, lr=0.5, n_steps=1)
    for b in range(3):
        grads = torch.autograd.grad(F.mse_loss(mlp(x_s[b]), y_s[b]), list(params.values()))
        for (name, t), g in zip(params.items(), grads):
            torch.testing.assert_close(adapted[name][b], t - 0.5 * g)


def test_per_task_starting_points_equal_a_loop_over_tasks():
    mlp = _tiny_mlp()
    x_s, y_s, _, _ = _tasks()
    gen = torch.Generator().manual_seed(1)
    starts = {n: torch.randn(3, *p.shape, generator=gen, dtype=p.dtype) for n, p in mlp.named_parameters()}
    batched = inner_loop(mlp, starts, x_s, y_s, lr=0.2, n_steps=2)
    for b in range(3):
        one = inner_loop(mlp, {n: t[b] for n, t in starts.items()}, x_s[b : b + 1], y_s[b : b + 1], lr=0.2, n_steps=2)
        for n in starts:
            torch.testing.assert_close(batched[n][b], one[n][0])


def test_trajectory_lists_every_iterate_and_ends_at_the_plain_result():
    mlp = _tiny_mlp()
    x_s, y_s, _, _ = _tasks()
    params = dict(mlp.named_parameters())
    path = inner_loop(mlp, params, x_s, y_s, lr=0.2, n_steps=3, trajectory=True)
    final = inner_loop(mlp, params, x_s, y_s, lr=0.2, n_steps=3)
    assert len(path) == 4
    assert path[0]["0.weight"].shape == (3, 4, 3)
    for n in params:
        torch.testing.assert_close(path[-1][n], final[n])
    # the support loss goes down along the way on this easy problem
    losses = [float(query_losses(mlp, p, x_s, y_s).mean().detach()) for p in path]
    assert losses == sorted(losses, reverse=True)


def test_adapting_under_no_grad_still_moves_the_weights_but_records_nothing():
    mlp = _tiny_mlp()
    x_s, y_s, _, _ = _tasks()
    with torch.no_grad():
        adapted = inner_loop(mlp, dict(mlp.named_parameters()), x_s, y_s, lr=0.2, n_steps=2)
    assert all(t.grad_fn is None and not t.requires_grad for t in adapted.values())
    assert not torch.allclose(adapted["0.weight"][0], mlp[0].weight)


def test_a_subset_of_parameters_is_adapted_and_the_rest_stay_shared():
    mlp = _tiny_mlp()
    x_s, y_s, _, _ = _tasks()
    head = {"2.weight": mlp[2].weight, "2.bias": mlp[2].bias}
    adapted = inner_loop(mlp, head, x_s, y_s, lr=0.2, n_steps=1)
    assert set(adapted) == {"2.weight", "2.bias"}
    feats = torch.tanh(mlp[0](x_s))  # [B, K, 4]: the shared first layer
    g_w = torch.autograd.grad(F.mse_loss(mlp[2](feats[0]), y_s[0]), mlp[2].weight)[0]
    torch.testing.assert_close(adapted["2.weight"][0], mlp[2].weight - 0.2 * g_w)


# --- the MAML module ----------------------------------------------------------------------------------


def test_maml_module_meta_trains_its_target_and_reduces_the_query_loss():
    torch.manual_seed(0)
    maml = MAML(nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1)).double(), inner_lr=0.1, inner_steps=2)
    x_s, y_s, x_q, y_q = _tasks(n_tasks=4)
    opt = torch.optim.Adam(maml.parameters(), lr=1e-2)
    first = float(maml.meta_loss(x_s, y_s, x_q, y_q))
    for _ in range(30):
        loss = maml.meta_loss(x_s, y_s, x_q, y_q)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert all(p.grad is not None for p in maml.target.parameters())
    assert float(maml.meta_loss(x_s, y_s, x_q, y_q)) < 0.8 * first
    adapted = maml.adapt(x_s, y_s)
    assert functional_forward(maml.target, adapted, x_q).shape == (4, 5, 1)
    assert set(adapted) == set(describe(maml.target).names)


def test_maml_adapts_a_classifier_with_cross_entropy():
    torch.manual_seed(0)
    maml = MAML(nn.Linear(4, 3), inner_lr=0.5, inner_steps=3, loss_fn=F.cross_entropy)
    x = torch.randn(2, 6, 4)
    y = torch.randint(0, 3, (2, 6))
    path = maml.adapt(x, y, trajectory=True)
    before = query_losses(maml.target, path[0], x, y, F.cross_entropy)
    after = query_losses(maml.target, path[-1], x, y, F.cross_entropy)
    assert (after < before).all()


def test_hypernetwork_weights_can_start_the_inner_loop():
    # The combination of lecture 03: per-task weights from a hypernetwork, then a few MAML steps.
    torch.manual_seed(0)
    maml = MAML(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double(), inner_lr=0.2, inner_steps=2)
    x_s, y_s, x_q, y_q = _tasks()
    generated = {n: torch.randn(3, *p.shape, dtype=p.dtype, requires_grad=True) for n, p in maml.init_params().items()}
    loss = maml.meta_loss(x_s, y_s, x_q, y_q, init=generated)
    loss.backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in generated.values())


# --- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"lr": -0.1}, ValueError, "non-negative number"),
        ({"lr": True}, ValueError, "non-negative number"),
        ({"lr": float("nan")}, ValueError, "non-negative number"),
        ({"lr": float("inf")}, ValueError, "finite non-negative number"),
        ({"n_steps": 1.5}, ValueError, "non-negative integer"),
        ({"n_steps": -1}, ValueError, "non-negative integer"),
        ({"loss_fn": "mse"}, TypeError, "callable"),
        ({"x_support": torch.zeros(3, 4, 3, dtype=torch.int64)}, TypeError, "floating-point"),
        ({"x_support": torch.zeros(4, 3)}, ValueError, "y_support"),
        ({"y_support": torch.zeros(3, 5, 1, dtype=torch.float64)}, ValueError, r"y_support: expected shape \[B=3, K=4"),
        ({"x_support": torch.zeros(3)}, ValueError, r"\[B, K, \.\.\.\]"),
        ({"y_support": torch.zeros(3, 4, dtype=torch.float64)}, ValueError, r"y_support: expected shape \[3, 4, 1\]"),
        ({"y_support": torch.zeros(3, 4, dtype=torch.float64)}, ValueError, r"got \[3, 4\]; add \.unsqueeze\(-1\)"),
        (
            {"y_support": torch.zeros(3, 4, 2, dtype=torch.float64)},
            ValueError,
            r"expected shape \[3, 4, 1\].*got \[3, 4, 2\]",
        ),
        (
            {"x_support": torch.full((3, 4, 3), float("nan"), dtype=torch.float64)},
            ValueError,
            "x_support: expected finite",
        ),
        (
            {"y_support": torch.full((3, 4, 1), float("inf"), dtype=torch.float64)},
            ValueError,
            "y_support: expected finite",
        ),
        ({"x_support": torch.zeros(3, 0, 3), "y_support": torch.zeros(3, 0, 1)}, ValueError, r"B, K >= 1"),
        ({"x_support": torch.zeros(0, 4, 3), "y_support": torch.zeros(0, 4, 1)}, ValueError, r"B, K >= 1"),
    ],
)
def test_inner_loop_rejects_bad_input_and_says_what_it_expected(kwargs, error, match):
    mlp = _tiny_mlp()
    x_s, y_s, _, _ = _tasks()
    args = {"module": mlp, "params": dict(mlp.named_parameters()), "x_support": x_s, "y_support": y_s}
    args.update({"lr": 0.1, "n_steps": 1})
    args.update(kwargs)
    with pytest.raises(error, match=match):
        inner_loop(**args)


def test_bad_parameter_dicts_and_modules_are_rejected():
    mlp = _tiny_mlp()
    x_s, y_s, x_q, y_q = _tasks()
    with pytest.raises(ValueError, match="not parameters of the module"):
        inner_loop(mlp, {"9.weight": torch.zeros(1)}, x_s, y_s, 0.1, 1)
    with pytest.raises(ValueError, match=r"expected shape \[4, 3\]"):
        inner_loop(mlp, {"0.weight": torch.zeros(3, 4, dtype=torch.float64)}, x_s, y_s, 0.1, 1)
    per_task = {n: torch.zeros(2, *p.shape, dtype=p.dtype) for n, p in mlp.named_parameters()}
    with pytest.raises(ValueError, match="batch size 2 but the support set has 3 tasks"):
        inner_loop(mlp, per_task, x_s, y_s, 0.1, 1)
    with pytest.raises(TypeError, match="expected a dict"):
        inner_loop(mlp, [mlp[0].weight], x_s, y_s, 0.1, 1)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        inner_loop(lambda x: x, {}, x_s, y_s, 0.1, 1)
    with pytest.raises(ValueError, match="expected 3 tasks like the support set"):
        maml_loss(mlp, dict(mlp.named_parameters()), x_s, y_s, x_q[:2], y_q[:2], 0.1, 1)
    with pytest.raises(ValueError, match="inner step size"):
        MAML(mlp, inner_lr=-1.0)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        MAML("not a module")


def test_finetune_one_task_follows_the_same_iterates_as_the_inner_loop():
    mlp = _tiny_mlp()
    x_s, y_s, _, _ = _tasks()
    params = dict(mlp.named_parameters())
    batched = inner_loop(mlp, params, x_s[:1], y_s[:1], lr=0.2, n_steps=3)
    with torch.no_grad():  # finetune needs no outer autograd
        one = finetune(mlp, params, x_s[0], y_s[0], lr=0.2, n_steps=3)
    for n in params:
        torch.testing.assert_close(one[n], batched[n][0])
        assert not one[n].requires_grad
    with pytest.raises(ValueError, match="no task dimension"):
        finetune(mlp, {n: t.detach()[None] for n, t in params.items()}, x_s[0], y_s[0], 0.1, 1)
    with pytest.raises(ValueError, match="same K"):
        finetune(mlp, params, x_s[0], y_s[0, :2], 0.1, 1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, p, d: finetune(m, p, d[0][0], d[1][0, :, 0], 0.1, 1), r"y: expected shape \[4, 1\].*unsqueeze"),
        (lambda m, p, d: finetune(m, p, d[0][0], d[1][0], float("inf"), 1), "lr: expected a finite"),
        (lambda m, p, d: finetune(m, p, d[0][0] * float("nan"), d[1][0], 0.1, 1), "x: expected finite"),
        (lambda m, p, d: maml_loss(m, p, *d[:3], d[3][..., 0], 0.1, 1), r"y_query: expected shape \[3, 5, 1\]"),
        (lambda m, p, d: maml_loss(m, p, *d[:3], d[3] * float("nan"), 0.1, 1), "y_query: expected finite"),
        (
            lambda m, p, d: query_losses(m, {n: t.expand(3, *t.shape) for n, t in p.items()}, d[2], d[3][..., 0]),
            r"y: expected shape \[3, 5, 1\]",
        ),
        (lambda m, p, d: MAML(m, inner_lr=float("inf")), "lr: expected a finite"),
        (lambda m, p, d: MAML(m).adapt(d[0], d[1][..., 0]), r"y_support: .*add \.unsqueeze\(-1\)"),
    ],
    ids=[
        "finetune-y-[K]",
        "finetune-lr-inf",
        "finetune-x-nan",
        "maml_loss-y_query-[B,Q]",
        "maml_loss-y_query-nan",
        "query_losses-y-[B,N]",
        "MAML-inner_lr-inf",
        "MAML.adapt-y_support-[B,K]",
    ],
)
def test_every_entry_point_refuses_broadcast_targets_and_non_finite_numbers(call, message):
    mlp = _tiny_mlp()
    params = {n: t.detach() for n, t in mlp.named_parameters()}
    with pytest.raises(ValueError, match=message):
        call(mlp, params, _tasks())


def test_class_ids_for_cross_entropy_keep_the_shape_of_the_labels():
    # Integer targets [B, K] against logits [B, K, N] are what F.cross_entropy wants: no shape error.
    torch.manual_seed(0)
    adapted = inner_loop(
        nn.Linear(4, 3),
        dict(nn.Linear(4, 3).named_parameters()),
        torch.randn(2, 6, 4),
        torch.randint(0, 3, (2, 6)),
        0.5,
        1,
        F.cross_entropy,
    )
    assert adapted["weight"].shape == (2, 3, 4)


def test_first_order_memory_stays_flat_with_inner_steps_while_second_order_grows():
    # Second-order MAML keeps every inner step's graph; first-order keeps none (and no iterates unless asked).
    from hypernet_lib import peak_memory_bytes

    mlp = _tiny_mlp().float()
    x_s, y_s, x_q, y_q = (t.float() for t in _tasks(n_tasks=8, k=16, q=16))
    params = dict(mlp.named_parameters())

    def peak(steps, first_order):
        return peak_memory_bytes(
            lambda: maml_loss(mlp, params, x_s, y_s, x_q, y_q, 0.1, steps, first_order=first_order).backward()
        )

    assert peak(12, first_order=True) < 1.1 * peak(4, first_order=True)
    assert peak(12, first_order=False) > 2 * peak(4, first_order=False)
