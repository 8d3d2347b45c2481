"""Specification of the full hypernetwork: z → every parameter of the target."""

import pytest
import torch
from torch import nn

from hypernet_lib import HyperNetwork, count_parameters, describe, functional_forward


def test_batched_z_gives_batched_parameters_in_the_targets_shapes(mlp):
    hnet = HyperNetwork(describe(mlp), z_dim=4, hidden=(16,))
    params = hnet(torch.randn(5, 4))
    assert {k: tuple(v.shape) for k, v in params.items()} == {n: (5, *p.shape) for n, p in mlp.named_parameters()}


def test_unbatched_z_gives_unbatched_parameters(mlp):
    hnet = HyperNetwork(describe(mlp), z_dim=4)
    z = torch.randn(4)
    params = hnet(z)
    assert params["2.weight"].shape == (8, 8)
    batched = hnet(z[None])
    torch.testing.assert_close(params["2.weight"], batched["2.weight"][0])


def test_parameter_count_is_trunk_plus_head(mlp):
    spec = describe(mlp)
    hnet = HyperNetwork(spec, z_dim=4, hidden=(16, 32))
    trunk = (4 * 16 + 16) + (16 * 32 + 32)
    head = 32 * spec.num_params + spec.num_params
    assert count_parameters(hnet) == trunk + head


def test_no_hidden_layers_makes_a_linear_hypernetwork(mlp):
    hnet = HyperNetwork(describe(mlp), z_dim=3, hidden=())
    assert count_parameters(hnet) == 4 * describe(mlp).num_params


def test_gradcheck_through_hypernet_generated_weights_target_and_loss(mlp):
    """∂L/∂φ through θ = h_φ(z), checked against finite differences in float64."""
    target = mlp.double()
    hnet = HyperNetwork(describe(target), z_dim=2, hidden=(3,)).double()
    z, x, y = torch.randn(2, 2).double(), torch.randn(2, 4, 3).double(), torch.randn(2, 4, 2).double()
    names = [n for n, _ in hnet.named_parameters()]

    def loss(*phi):
        params = torch.func.functional_call(hnet, dict(zip(names, phi)), (z,))
        return (functional_forward(target, params, x) - y).pow(2).mean()

    phi = tuple(p.detach().clone().requires_grad_() for p in hnet.parameters())
    assert torch.autograd.gradcheck(loss, phi, eps=1e-6, atol=1e-5)


def test_follows_the_device_and_dtype_of_the_module(mlp):
    hnet = HyperNetwork(describe(mlp), z_dim=2).double()
    assert hnet(torch.randn(3, 2, dtype=torch.float64))["0.weight"].dtype == torch.float64


# --- bad input --------------------------------------------------------------------------


def test_rejects_wrong_z_dimension(mlp):
    hnet = HyperNetwork(describe(mlp), z_dim=4)
    with pytest.raises(ValueError, match=r"z: expected last dimension d_z=4, got shape \[5, 3\]"):
        hnet(torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"z: expected 1 or 2 dimensions.*\[2, 5, 4\]"):
        hnet(torch.randn(2, 5, 4))


def test_rejects_integer_z(mlp):
    with pytest.raises(TypeError, match="z: expected a floating-point tensor"):
        HyperNetwork(describe(mlp), z_dim=2)(torch.ones(3, 2, dtype=torch.int32))


def test_rejects_bad_construction_arguments(mlp):
    with pytest.raises(TypeError, match="expected a TargetSpec"):
        HyperNetwork(mlp, z_dim=2)
    with pytest.raises(ValueError, match="z_dim: expected a positive integer, got 0"):
        HyperNetwork(describe(mlp), z_dim=0)
    with pytest.raises(ValueError, match="init: expected"):
        HyperNetwork(describe(mlp), z_dim=2, init="xavier")
    with pytest.raises(ValueError, match="hidden: expected a positive integer"):
        HyperNetwork(describe(nn.Linear(2, 2)), z_dim=2, hidden=(4, -1))
