"""Specification of hypernet_lib.target: describe any module, run it with generated parameters."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from hypernet_lib import describe, functional_forward


def test_describe_lists_every_parameter_in_order_with_shapes(mlp):
    spec = describe(mlp)
    assert spec.names == ("0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias")
    assert spec.shapes["2.weight"] == (8, 8)
    assert spec.num_params == sum(p.numel() for p in mlp.parameters())


def test_linear_fans_are_in_and_out_features(mlp):
    spec = describe(mlp)
    assert (spec["0.weight"].fan_in, spec["0.weight"].fan_out) == (3, 8)
    assert spec["0.bias"].is_bias and spec["0.bias"].fan_in == 3


def test_conv_fans_include_the_receptive_field(cnn):
    info = describe(cnn)["2.weight"]
    assert info.shape == (6, 4, 3, 3)
    assert (info.fan_in, info.fan_out) == (4 * 9, 6 * 9)


def test_include_restricts_what_is_generated(cnn):
    spec = describe(cnn, include=["2.weight"])
    assert spec.names == ("2.weight",) and spec.num_params == 6 * 4 * 9


def test_split_and_flatten_are_inverse(mlp):
    spec = describe(mlp)
    flat = torch.randn(5, spec.num_params)
    params = spec.split(flat)
    assert params["4.weight"].shape == (5, 2, 8)
    torch.testing.assert_close(spec.flatten(params), flat)


def _random_params(module, n_tasks):
    return {n: torch.randn(n_tasks, *p.shape) for n, p in module.named_parameters()}


def test_batched_forward_equals_a_loop_over_tasks_mlp(mlp):
    params, x = _random_params(mlp, 4), torch.randn(4, 10, 3)
    out = functional_forward(mlp, params, x)
    assert out.shape == (4, 10, 2)
    for b in range(4):
        one = functional_forward(mlp, {k: v[b] for k, v in params.items()}, x[b])
        torch.testing.assert_close(out[b], one)


def test_batched_forward_equals_a_loop_over_tasks_cnn(cnn):
    params, x = _random_params(cnn, 3), torch.randn(3, 5, 1, 8, 8)
    out = functional_forward(cnn, params, x)
    assert out.shape == (3, 5, 3)
    for b in range(3):
        manual = x[b]
        manual = torch.relu(nn.functional.conv2d(manual, params["0.weight"][b], params["0.bias"][b], padding=1))
        manual = torch.relu(nn.functional.conv2d(manual, params["2.weight"][b], params["2.bias"][b], padding=1))
        manual = manual.mean(dim=(2, 3)) @ params["6.weight"][b].T + params["6.bias"][b]
        torch.testing.assert_close(out[b], manual, rtol=1e-4, atol=1e-5)


def test_parameters_left_out_are_the_modules_own_and_shared(cnn):
    x = torch.randn(2, 4, 1, 8, 8)
    kernel = cnn[2].weight.detach().expand(2, -1, -1, -1, -1).clone()
    torch.testing.assert_close(functional_forward(cnn, {"2.weight": kernel}, x), cnn(x.flatten(0, 1)).view(2, 4, 3))


def test_gradients_reach_the_generated_parameters(mlp):
    params = {k: v.requires_grad_() for k, v in _random_params(mlp, 2).items()}
    functional_forward(mlp, params, torch.randn(2, 6, 3)).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params.values())


@settings(max_examples=20, deadline=None)
@given(
    widths=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    n_tasks=st.integers(1, 3),
    n_points=st.integers(1, 4),
)
def test_any_mlp_shape_runs_batched(widths, n_tasks, n_points):
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.Tanh()]
    model = nn.Sequential(*layers)
    spec = describe(model)
    params = spec.split(torch.randn(n_tasks, spec.num_params))
    out = functional_forward(model, params, torch.randn(n_tasks, n_points, widths[0]))
    assert out.shape == (n_tasks, n_points, widths[-1])


# --- bad input --------------------------------------------------------------------------


def test_describe_rejects_a_non_module():
    with pytest.raises(TypeError, match="expected a torch.nn.Module, got list"):
        describe([nn.Linear(2, 2)])


def test_describe_rejects_unknown_names(mlp):
    with pytest.raises(ValueError, match=r"\['nope'\] are not parameters"):
        describe(mlp, include=["nope"])


def test_forward_rejects_wrong_shapes(mlp):
    params = _random_params(mlp, 2)
    params["2.weight"] = torch.randn(2, 8, 7)
    with pytest.raises(ValueError, match=r"params\['2.weight'\]: expected shape \[8, 8\].*got \[2, 8, 7\]"):
        functional_forward(mlp, params, torch.randn(2, 5, 3))


def test_forward_rejects_mismatched_batch_sizes(mlp):
    params = _random_params(mlp, 2)
    params["4.bias"] = torch.randn(3, 2)
    with pytest.raises(ValueError, match=r"batch shape \[3\] differs"):
        functional_forward(mlp, params, torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match=r"x: expected shape \[B=2, N, ...\].*got \[4, 5, 3\]"):
        functional_forward(mlp, _random_params(mlp, 2), torch.randn(4, 5, 3))


def test_forward_rejects_integer_tensors(mlp):
    with pytest.raises(TypeError, match="expected a floating-point tensor.*torch.int64"):
        functional_forward(mlp, _random_params(mlp, 2), torch.ones(2, 5, 3, dtype=torch.long))
    params = _random_params(mlp, 2)
    params["0.bias"] = params["0.bias"].long()
    with pytest.raises(TypeError, match=r"params\['0.bias'\]"):
        functional_forward(mlp, params, torch.randn(2, 5, 3))


def test_forward_rejects_unknown_keys_and_non_dicts(mlp):
    with pytest.raises(ValueError, match=r"\['head.weight'\] are not parameters"):
        functional_forward(mlp, {"head.weight": torch.randn(2, 2)}, torch.randn(5, 3))
    with pytest.raises(TypeError, match="expected a dict"):
        functional_forward(mlp, [torch.randn(2)], torch.randn(5, 3))


def test_split_rejects_the_wrong_length(mlp):
    with pytest.raises(ValueError, match=rf"expected last dimension {describe(mlp).num_params}"):
        describe(mlp).split(torch.randn(2, 7))
