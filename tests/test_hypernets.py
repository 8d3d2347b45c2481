"""Specification of the full hypernetwork: z → every parameter of the target."""

import pytest
import torch
from torch import nn

from hypernet_lib import HyperNetwork, count_parameters, describe


def test_parameter_count_is_trunk_plus_head(mlp):
    spec = describe(mlp)
    hnet = HyperNetwork(spec, z_dim=4, hidden=(16, 32))
    trunk = (4 * 16 + 16) + (16 * 32 + 32)
    head = 32 * spec.num_params + spec.num_params
    assert count_parameters(hnet) == trunk + head


def test_no_hidden_layers_makes_a_linear_hypernetwork(mlp):
    hnet = HyperNetwork(describe(mlp), z_dim=3, hidden=())
    assert count_parameters(hnet) == 4 * describe(mlp).num_params


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
