"""Specification of the low-rank hypernetwork: W(z) = U(z) V(z)ᵀ (+ W₀), same call as the full one."""

import pytest
import torch
from torch import nn

from hypernet_lib import HyperNetwork, LowRankHyperNet, count_parameters, describe, functional_forward
from hypernet_lib.hypernets import lowrank_hyperfan_init_, lowrank_parameter_count
from hypernet_lib.hypernets.lowrank import head_outputs


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_generated_matrices_have_rank_at_most_r(cnn, rank):
    hnet = LowRankHyperNet(describe(cnn), z_dim=4, rank=rank, base=None).double()
    params = hnet(torch.randn(6, 4, dtype=torch.float64))
    for name in ("0.weight", "2.weight", "6.weight"):
        w = params[name].flatten(2)  # conv kernels: the [out, in·kh·kw] matrix
        ranks = torch.linalg.matrix_rank(w)
        assert ranks.max() <= rank and ranks.min() == min(rank, *w.shape[1:]), name


def test_weight_is_the_product_of_the_factors_plus_the_base(cnn):
    hnet = LowRankHyperNet(describe(cnn), z_dim=3, rank=2, base=True)
    with torch.no_grad():  # move U away from its zero start so the product is not trivially zero
        hnet.head.weight.normal_()
    z = torch.randn(4, 3)
    u, v = hnet.factors(z)["2.weight"]
    assert u.shape == (4, 6, 2) and v.shape == (4, 4 * 9, 2)
    expected = (u @ v.transpose(1, 2)).view(4, 6, 4, 3, 3) + hnet.base_of("2.weight")
    torch.testing.assert_close(hnet(z)["2.weight"], expected)


def test_rank_is_capped_by_the_matrix(mlp):
    hnet = LowRankHyperNet(describe(mlp), z_dim=2, rank=100)
    assert hnet.ranks == {"0.weight": 3, "2.weight": 8, "4.weight": 2}


@pytest.mark.parametrize("rank", [1, 4, 50])
@pytest.mark.parametrize("hidden", [(), (16,), (8, 32)])
@pytest.mark.parametrize("base", [None, True, "frozen"])
def test_parameter_count_formula_is_exact(cnn, rank, hidden, base):
    spec = describe(cnn)
    hnet = LowRankHyperNet(
        spec, z_dim=5, rank=rank, hidden=hidden, base=None if base is None else True, train_base=base != "frozen"
    )
    formula = lowrank_parameter_count(
        spec, z_dim=5, rank=rank, hidden=hidden, base=base is not None, train_base=base != "frozen"
    )
    assert formula == count_parameters(hnet) == sum(p.numel() for p in hnet.parameters() if p.requires_grad)


def test_head_outputs_by_hand(mlp):
    # 0.weight [8, 3], 2.weight [8, 8], 4.weight [2, 8] at r = 2 (capped to 2 for [2, 8]); biases 8 + 8 + 2.
    assert head_outputs(describe(mlp), 2) == 2 * (8 + 3) + 2 * (8 + 8) + 2 * (2 + 8) + 18


def test_low_rank_is_smaller_than_full_for_small_rank():
    target = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    spec = describe(target)
    full = count_parameters(HyperNetwork(spec, z_dim=8, hidden=(32,)))
    low = count_parameters(LowRankHyperNet(spec, z_dim=8, rank=2, hidden=(32,)))
    assert low < full / 5


# --- initialization --------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["in", "out"])
@pytest.mark.parametrize("rank", [1, 4])
def test_generated_weight_variance_matches_the_targets_fan_on_average_over_inits(mode, rank):
    """E[W²] = gain² / fan in expectation over the head's random draw.

    One draw misses by 10-20%: ReLU features share a mean direction μ, so every task sees the
    same few numbers a_i·μ and a matrix with tens of rows does not average them out. Eight draws do.
    """
    target = nn.Sequential(nn.Linear(256, 128), nn.ReLU(), nn.Conv2d(16, 32, 3))
    spec = describe(target)
    ratios = {"0.weight": [], "2.weight": []}
    for seed in range(8):
        torch.manual_seed(seed)
        params = LowRankHyperNet(spec, z_dim=8, rank=rank, hidden=(64, 64), init=f"hyperfan_{mode}")(
            torch.randn(128, 8)
        )
        for name, found in ratios.items():
            info = spec[name]
            wanted = 2.0 / (info.fan_in if mode == "in" else info.fan_out)
            found.append(float(params[name].detach().pow(2).mean()) / wanted)
        assert float(params["2.bias"].detach().abs().max()) == 0
    for name, found in ratios.items():
        assert sum(found) / len(found) == pytest.approx(1.0, rel=0.15), (name, found)


def test_init_returns_the_measured_fourth_moment_of_the_features():
    torch.manual_seed(0)
    hnet = LowRankHyperNet(describe(nn.Linear(64, 32)), z_dim=2, rank=2, hidden=(16,), init="default")
    z = torch.rand(512, 2) * 5  # far from N(0, I): the init must measure, not assume
    moment = lowrank_hyperfan_init_(hnet, z_sample=z)
    assert moment == pytest.approx(float(hnet.trunk(z).detach().pow(2).sum(-1).pow(2).mean()), rel=1e-5)
    # within the spread of one draw (see above) ...
    assert float(hnet(z)["weight"].detach().pow(2).mean()) == pytest.approx(2.0 / 64, rel=0.4)
    # ... while assuming z ~ N(0, I) makes these embeddings' weights far too large
    lowrank_hyperfan_init_(hnet)
    assert float(hnet(z)["weight"].detach().pow(2).mean()) > 10 * 2.0 / 64


# --- adapters: a base from a pretrained module, only some parameters generated -------------


def test_adapter_starts_at_the_pretrained_weights_and_trains_only_itself(cnn):
    spec = describe(cnn, include=["2.weight", "6.weight"])
    before = {n: p.detach().clone() for n, p in cnn.named_parameters()}
    hnet = LowRankHyperNet(spec, z_dim=3, rank=2, base=dict(cnn.named_parameters()), train_base=False)
    assert count_parameters(hnet) == lowrank_parameter_count(spec, 3, 2, base=True, train_base=False)
    z, x = torch.randn(2, 3), torch.randn(2, 5, 1, 8, 8)
    torch.testing.assert_close(hnet(z)["2.weight"], before["2.weight"].expand(2, -1, -1, -1, -1))
    torch.testing.assert_close(functional_forward(cnn, hnet(z), x), cnn(x.flatten(0, 1)).view(2, 5, 3))

    opt = torch.optim.SGD(hnet.parameters(), lr=0.1)
    functional_forward(cnn, hnet(z), x).square().mean().backward()
    opt.step()
    assert hnet.base_of("2.weight").grad is None  # frozen W₀
    assert not torch.equal(hnet(z)["2.weight"], before["2.weight"].expand(2, -1, -1, -1, -1))  # the adapter moved
    assert all(torch.equal(p, before[n]) for n, p in cnn.named_parameters())  # the module's own are untouched


# --- bad input --------------------------------------------------------------------------


def test_rejects_wrong_z(mlp):
    hnet = LowRankHyperNet(describe(mlp), z_dim=4, rank=2)
    with pytest.raises(ValueError, match=r"z: expected last dimension d_z=4, got shape \[5, 3\]"):
        hnet(torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"z: expected 1 or 2 dimensions"):
        hnet.factors(torch.randn(2, 5, 4))
    with pytest.raises(TypeError, match="z: expected a floating-point tensor"):
        hnet(torch.ones(3, 4, dtype=torch.int64))


def _without_last_bias(m: nn.Module) -> dict:
    return {n: p for n, p in m.named_parameters() if n != "4.bias"}


def _narrow_middle_weight(m: nn.Module) -> dict:
    return dict(m.named_parameters()) | {"2.weight": torch.zeros(8, 3)}


@pytest.mark.parametrize(
    "knobs, error, message",
    [
        ({"rank": 0}, ValueError, "rank: expected a positive integer, got 0"),
        ({"base": "pretrained"}, TypeError, "base: expected None, True, or a dict"),
        (
            {"base": _without_last_bias},
            ValueError,
            "base: expected a tensor for every generated parameter, missing '4.bias'",
        ),
        ({"base": _narrow_middle_weight}, ValueError, r"base\['2.weight'\]: expected shape \[8, 8\], got \[8, 3\]"),
        ({"z_sample": torch.randn(10, 3)}, ValueError, r"z_sample: expected shape \[n, 2\], got \[10, 3\]"),
    ],
    ids=["rank-zero", "base-string", "base-missing-tensor", "base-wrong-shape", "z-sample-shape"],
)
def test_bad_low_rank_arguments_name_the_argument(mlp, knobs, error, message):
    """A ``base`` entry given as a function is called on the target (its parameters, edited).
    (A module instead of a spec, and bad init or gain, are in the family contract: test_families.py.)"""
    knobs = {k: v(mlp) if callable(v) else v for k, v in ({"rank": 2} | knobs).items()}
    with pytest.raises(error, match=message):
        LowRankHyperNet(describe(mlp), z_dim=2, **knobs)


def test_base_of_names_a_parameter_it_does_not_generate(mlp):
    with pytest.raises(KeyError, match="not a generated parameter"):
        LowRankHyperNet(describe(mlp), z_dim=2, rank=2).base_of("9.weight")
