"""Specification of hyperfan initialization: generated weights at the target's scale."""

import pytest
import torch
from targets import WIDTHS, relu_mlp

from hypernet_lib import HyperNetwork, describe, hyperfan_init_


def generated_weight_variances(init: str) -> dict[str, float]:
    torch.manual_seed(0)
    target = relu_mlp()
    hnet = HyperNetwork(describe(target), z_dim=8, hidden=(64, 64), init=init)
    params = hnet(torch.randn(64, 8))
    return {n: float(params[n].detach().var()) for n in ("0.weight", "2.weight", "4.weight")}


@pytest.mark.parametrize("mode", ["in", "out"])
def test_generated_weight_variance_matches_the_targets_fan(mode):
    target = relu_mlp()
    variances = generated_weight_variances(f"hyperfan_{mode}")
    for name, var in variances.items():
        info = describe(target)[name]
        wanted = 2.0 / (info.fan_in if mode == "in" else info.fan_out)
        assert var == pytest.approx(wanted, rel=0.10), name


def test_generated_biases_start_at_zero():
    hnet = HyperNetwork(describe(relu_mlp()), z_dim=8)
    assert hnet(torch.randn(4, 8))["2.bias"].abs().max() == 0


def test_hyperfan_uses_the_measured_feature_moment():
    torch.manual_seed(0)
    hnet = HyperNetwork(describe(relu_mlp()), z_dim=2, hidden=(32,), init="default")
    z = torch.rand(512, 2) * 5  # amplitudes/phases-like embeddings: far from N(0, 1)
    moment = hyperfan_init_(hnet, z_sample=z)
    assert moment == pytest.approx(float(hnet.trunk(z).detach().pow(2).mean()))
    var = float(hnet(z[:64])["0.weight"].detach().var())
    assert var == pytest.approx(2.0 / WIDTHS[0], rel=0.10)


def test_init_rejects_bad_mode_and_sample():
    hnet = HyperNetwork(describe(relu_mlp()), z_dim=2, hidden=(8,))
    with pytest.raises(ValueError, match="mode: expected 'in' or 'out', got 'sideways'"):
        hyperfan_init_(hnet, mode="sideways")
    with pytest.raises(ValueError, match=r"z_sample: expected shape \[n, 2\], got \[10, 3\]"):
        hyperfan_init_(hnet, z_sample=torch.randn(10, 3))
