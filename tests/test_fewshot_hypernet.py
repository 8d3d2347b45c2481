"""Specification of the per-class few-shot hypernetwork that starts as nearest class mean."""

import pytest
import torch

from hypernet_lib.apps.fewshot import NCMHyperNet, ResidualProtoNet, prototype_logits


def episode(b=3, n=5, k=2, q=4, d=6, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    xs = torch.randn(b, n * k, d, generator=g, dtype=dtype)
    ys = torch.arange(n).repeat_interleave(k).expand(b, -1).clone()
    xq = torch.randn(b, q, d, generator=g, dtype=dtype)
    return xs, ys, xq


def trained_like(model, seed=1):
    """Move every zero-initialised layer away from zero, as meta-training would (float64: exact comparisons)."""
    model = model.double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model


@pytest.mark.parametrize("generate_hidden", [False, True])
def test_generated_shapes(generate_hidden):
    xs, ys, xq = episode(b=3, n=5, k=2, q=4, d=6)
    model = NCMHyperNet(6, n_way=5, hidden=8, generate_hidden=generate_hidden)
    params = model(xs, ys)
    expected = {"head.weight": (3, 5, 6), "head.bias": (3, 5)}
    if generate_hidden:
        expected |= {"block.inp.weight": (3, 8, 6), "block.inp.bias": (3, 8)}
    assert {k: tuple(v.shape) for k, v in params.items()} == expected
    assert model.logits(xs, ys, xq).shape == (3, 4, 5)


@pytest.mark.parametrize("generate_hidden", [False, True])
def test_untrained_model_is_nearest_class_mean(generate_hidden):
    xs, ys, xq = episode(d=6)
    model = NCMHyperNet(6, n_way=5, hidden=8, generate_hidden=generate_hidden)
    with torch.no_grad():
        model.log_scale.fill_(0.7)  # a temperature changes the scale, not the ranking
    logits = model.logits(xs, ys, xq)
    ncm = prototype_logits(xs, ys, xq, 5)  # -|x - p|²
    # x·p - |p|²/2 = -|x - p|²/2 + |x|²/2, all times the scale
    shift = 0.5 * xq.pow(2).sum(-1, keepdim=True)
    torch.testing.assert_close(logits, torch.tensor(0.7).exp() * (0.5 * ncm + shift))
    assert torch.equal(logits.argmax(-1), ncm.argmax(-1))


@pytest.mark.parametrize("generate_hidden", [False, True])
def test_relabelling_the_support_permutes_rows_and_scores(generate_hidden):
    xs, ys, xq = episode(d=6, dtype=torch.float64)
    model = trained_like(NCMHyperNet(6, n_way=5, hidden=8, generate_hidden=generate_hidden))
    perm = torch.tensor([2, 0, 4, 1, 3])  # label j becomes perm[j]
    a, b = model(xs, ys), model(xs, perm[ys])
    torch.testing.assert_close(b["head.weight"][:, perm], a["head.weight"])
    torch.testing.assert_close(b["head.bias"][:, perm], a["head.bias"])
    if generate_hidden:  # the hidden layer is shared by all classes: unchanged
        torch.testing.assert_close(b["block.inp.weight"], a["block.inp.weight"])
    torch.testing.assert_close(model.logits(xs, perm[ys], xq)[..., perm], model.logits(xs, ys, xq))


def test_order_of_the_support_examples_does_not_matter():
    xs, ys, xq = episode(d=6, dtype=torch.float64)
    model = trained_like(NCMHyperNet(6, n_way=5, hidden=8, generate_hidden=True))
    shuffle = torch.randperm(xs.shape[1], generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(model.logits(xs[:, shuffle], ys[:, shuffle], xq), model.logits(xs, ys, xq))


def test_batched_equals_one_task_at_a_time():
    xs, ys, xq = episode(b=4, d=6, dtype=torch.float64)
    model = trained_like(NCMHyperNet(6, n_way=5, hidden=8, generate_hidden=True))
    together = model.logits(xs, ys, xq)
    alone = torch.cat([model.logits(xs[i : i + 1], ys[i : i + 1], xq[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone)


def test_gradients_reach_every_parameter():
    xs, ys, xq = episode(d=6, dtype=torch.float64)
    model = trained_like(NCMHyperNet(6, n_way=5, hidden=8, generate_hidden=True))
    model.logits(xs, ys, xq).logsumexp(-1).sum().backward()
    # the placeholder head of the target is replaced by the generated one: it gets no gradient
    missing = [n for n, p in model.named_parameters() if p.grad is None and not n.startswith("target.head")]
    assert missing == []


def test_hidden_params_needs_generate_hidden():
    xs, ys, _ = episode(d=6)
    with pytest.raises(ValueError, match="generate_hidden=False"):
        NCMHyperNet(6, n_way=5).hidden_params(xs, ys)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda m, xs, ys, xq: m(xs[..., :4], ys), ValueError, r"expected shape \[B, M, d=6\]"),
        (lambda m, xs, ys, xq: m(xs[0], ys), ValueError, "3 dimensions"),
        (lambda m, xs, ys, xq: m(xs, ys.float()), ValueError, "integer labels"),
        (lambda m, xs, ys, xq: m(xs, ys[:, :3]), ValueError, "integer labels of shape"),
        (lambda m, xs, ys, xq: m(xs.long(), ys), TypeError, "floating"),
        (lambda m, xs, ys, xq: m(xs, ys.clamp(max=3)), ValueError, "class 4 has no example"),
        (lambda m, xs, ys, xq: m(xs, ys + 1), ValueError, "values in 0..4"),
        (lambda m, xs, ys, xq: m.logits(xs, ys, xq[:2]), ValueError, "expected 3 tasks"),
        (lambda m, xs, ys, xq: m.logits(xs, ys, xq[..., :5]), ValueError, "d=6"),
        (lambda m, xs, ys, xq: m(xs * float("nan"), ys), ValueError, "x_support: expected finite numbers"),
        (lambda m, xs, ys, xq: m.logits(xs, ys, xq * float("inf")), ValueError, "x_query: expected finite numbers"),
    ],
)
def test_bad_input_is_named(call, error, message):
    xs, ys, xq = episode(d=6)
    with pytest.raises(error, match=message):
        call(NCMHyperNet(6, n_way=5, hidden=8), xs, ys, xq)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"in_features": 0}, "in_features"), ({"n_way": 1.5}, "n_way"), ({"generate_hidden": 1}, "generate_hidden")],
)
def test_bad_construction_is_named(kwargs, message):
    args = {"in_features": 6, "n_way": 5} | kwargs
    with pytest.raises((ValueError, TypeError), match=message):
        NCMHyperNet(**args)


def test_extra_features_start_at_zero_and_widen_the_head():
    xs, ys, xq = episode(d=2, q=7)
    model = NCMHyperNet(2, n_way=5, hidden=8, extra=3)
    params = model(xs, ys)
    assert params["head.weight"].shape == (3, 5, 5)  # d + extra = 2 + 3 entries per row
    assert torch.equal(model.features(xq)[..., 2:], torch.zeros(3, 7, 3))  # untrained: the extra features are 0
    ncm = prototype_logits(xs, ys, xq, 5)
    assert torch.equal(model.logits(xs, ys, xq).argmax(-1), ncm.argmax(-1))  # still nearest class mean
    with pytest.raises(ValueError, match="extra"):
        NCMHyperNet(2, n_way=5, extra=-1)


def test_the_prototypical_network_starts_as_nearest_class_mean_at_any_width_and_names_bad_input():
    xs, ys, xq = episode(d=2, q=7)
    proto = ResidualProtoNet(2, n_way=5, hidden=8, extra=3)
    assert torch.equal(proto.logits(xs, ys, xq).argmax(-1), prototype_logits(xs, ys, xq, 5).argmax(-1))
    with pytest.raises(ValueError, match="extra: expected a non-negative integer"):
        ResidualProtoNet(2, n_way=5, extra=-1)
    with pytest.raises(ValueError, match="x_support: expected finite numbers"):
        proto.logits(xs * float("nan"), ys, xq)
    with pytest.raises(ValueError, match=r"x_query: expected shape \[B, M, d=2\]"):
        proto.logits(xs, ys, xq[..., :1])
