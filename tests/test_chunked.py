"""Specification of the chunked hypernetwork: chunk embeddings + one shared generator, same call as the full one."""

import math

import pytest
import torch
from targets import WIDTHS, relu_mlp
from torch import nn

from hypernet_lib import ChunkedHyperNet, count_parameters, describe, functional_forward
from hypernet_lib.hypernets import chunked_hyperfan_init_, chunked_parameter_count, num_chunks

LAYOUTS = ["global", "layer"]


def test_number_of_chunks_global_and_per_layer(mlp):
    # 24 + 8 + 64 + 8 + 16 + 2 = 122 numbers
    spec = describe(mlp)
    assert num_chunks(spec, 10, "global") == 13
    assert num_chunks(spec, 10, "layer") == 3 + 1 + 7 + 1 + 2 + 1
    assert ChunkedHyperNet(spec, z_dim=2, chunk_size=10, layout="layer").chunk_embeddings.shape == (15, 8)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("chunk_size", [1, 7, 64, 200])
def test_output_is_the_per_chunk_generator_calls_concatenated_without_padding(mlp, layout, chunk_size):
    spec = describe(mlp)
    hnet = ChunkedHyperNet(spec, z_dim=3, chunk_size=chunk_size, chunk_dim=2, hidden=(5,), layout=layout)
    z = torch.randn(4, 3)
    calls = [hnet.chunk(z, k) for k in range(hnet.n_chunks)]  # K separate generator calls, each [4, S]
    if layout == "global":
        flat = torch.cat(calls, dim=-1)[:, : spec.num_params]
    else:  # each tensor starts on a fresh chunk and drops its own padding
        pieces, k = [], 0
        for p in spec.params:
            n = math.ceil(p.numel / chunk_size)
            pieces.append(torch.cat(calls[k : k + n], dim=-1)[:, : p.numel])
            k += n
        flat = torch.cat(pieces, dim=-1)
    torch.testing.assert_close(spec.flatten(hnet(z)), flat)


def test_chunk_is_the_generator_on_z_and_the_chunk_embedding_times_the_scale(mlp):
    hnet = ChunkedHyperNet(describe(mlp), z_dim=3, chunk_size=8, chunk_dim=2)
    z = torch.randn(3)
    expected = hnet.generator(torch.cat([z, hnet.chunk_embeddings[4]])) * hnet.scale[4]
    torch.testing.assert_close(hnet.chunk(z, 4), expected)


def test_per_layer_chunks_never_mix_tensors_and_global_ones_may(mlp):
    spec = describe(mlp)
    for layout, mixes in (("layer", False), ("global", True)):
        ids = ChunkedHyperNet(spec, z_dim=2, chunk_size=10, layout=layout).chunk_map()
        owners = {}
        for name, t in ids.items():
            for k in t.unique().tolist():
                owners.setdefault(k, set()).add(name)
        assert any(len(v) > 1 for v in owners.values()) == mixes, layout


def test_per_layer_chunks_of_a_row_are_whole_rows(mlp):
    ids = ChunkedHyperNet(describe(mlp), z_dim=2, chunk_size=8, layout="layer").chunk_map()["2.weight"]  # [8, 8]
    assert all(len(row.unique()) == 1 for row in ids) and len(ids.unique()) == 8


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("chunk_size", [1, 5, 33, 500])
@pytest.mark.parametrize("hidden", [(), (16,), (8, 12)])
def test_parameter_count_formula_is_exact(cnn, layout, chunk_size, hidden):
    spec = describe(cnn)
    hnet = ChunkedHyperNet(spec, z_dim=3, chunk_size=chunk_size, chunk_dim=4, hidden=hidden, layout=layout)
    formula = chunked_parameter_count(spec, z_dim=3, chunk_size=chunk_size, chunk_dim=4, hidden=hidden, layout=layout)
    assert formula == count_parameters(hnet) == sum(p.numel() for p in hnet.parameters())


def test_parameter_count_by_hand(mlp):
    # 122 numbers, S = 10 → 13 chunks of d_c = 4; generator (2 + 4) → 16 → 10
    assert chunked_parameter_count(describe(mlp), 2, 10, 4, (16,)) == 13 * 4 + 7 * 16 + 17 * 10


def test_compressive_regime_a_hypernetwork_smaller_than_its_target():
    target = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
    spec = describe(target)
    hnet = ChunkedHyperNet(spec, z_dim=8, chunk_size=256, chunk_dim=8, hidden=(32,))
    assert count_parameters(hnet) < spec.num_params / 2


def test_gradcheck_through_chunks_target_and_loss(mlp):
    target = mlp.double()
    spec = describe(target, include=["2.weight", "2.bias", "4.weight"])
    hnet = ChunkedHyperNet(spec, z_dim=2, chunk_size=12, chunk_dim=2, hidden=(3,), layout="layer").double()
    z, x, y = torch.randn(2, 2).double(), torch.randn(2, 4, 3).double(), torch.randn(2, 4, 2).double()
    names = [n for n, _ in hnet.named_parameters()]

    def loss(*phi):
        params = torch.func.functional_call(hnet, dict(zip(names, phi)), (z,), strict=False)
        return (functional_forward(target, params, x) - y).pow(2).mean()

    phi = tuple(p.detach().clone().requires_grad_() for p in hnet.parameters())
    assert torch.autograd.gradcheck(loss, phi, eps=1e-6, atol=1e-5)


def test_every_parameter_gets_a_gradient(cnn):
    hnet = ChunkedHyperNet(describe(cnn), z_dim=2, chunk_size=16)
    functional_forward(cnn, hnet(torch.randn(3, 2)), torch.randn(3, 4, 1, 8, 8)).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in hnet.parameters())


# --- initialization (compare tests/test_init.py) -------------------------------------------


@pytest.mark.parametrize("mode", ["in", "out"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_generated_weight_variance_matches_the_targets_fan(mode, layout):
    # Every tensor spans many chunks (the smallest, [10, 256], spans 40): the scale holds on average over chunks.
    torch.manual_seed(0)
    spec = describe(relu_mlp())
    hnet = ChunkedHyperNet(spec, z_dim=8, chunk_size=64, hidden=(64,), layout=layout, init=f"hyperfan_{mode}")
    params = hnet(torch.randn(16, 8))
    for name in ("0.weight", "2.weight", "4.weight"):
        info = spec[name]
        wanted = 2.0 / (info.fan_in if mode == "in" else info.fan_out)
        assert float(params[name].detach().var()) == pytest.approx(wanted, rel=0.15), name


def test_every_chunk_starts_exactly_at_its_tensors_scale_on_the_init_sample(mlp):
    # Per-layer chunks of 8: one tensor per chunk, so each chunk has one wanted scale.
    spec = describe(mlp)
    z = torch.randn(64, 2)  # 64 rows: the init measures each chunk on exactly these
    hnet = ChunkedHyperNet(spec, z_dim=2, chunk_size=8, hidden=(16,), layout="layer", z_sample=z)
    ids = hnet.chunk_map()
    with torch.no_grad():
        params = hnet(z)
    for p in spec.params:
        wanted = 1.0 / p.fan_in if p.is_bias else 2.0 / p.fan_in
        for k in ids[p.name].unique():
            found = float(params[p.name][:, ids[p.name] == k].pow(2).mean())
            assert found == pytest.approx(wanted, rel=1e-4), (p.name, int(k))


def test_generated_biases_start_at_pytorchs_bias_scale():
    # 256 biases are only 16 chunks: one init is within ~10%, four average to within a few percent.
    found = []
    for seed in range(4):
        torch.manual_seed(seed)
        hnet = ChunkedHyperNet(describe(relu_mlp()), z_dim=8, chunk_size=16, layout="layer")
        found.append(float(hnet(torch.randn(64, 8))["2.bias"].detach().var()) * 256)
    assert sum(found) / len(found) == pytest.approx(1.0, rel=0.1), found


def test_init_uses_the_measured_feature_moment():
    torch.manual_seed(0)
    hnet = ChunkedHyperNet(describe(relu_mlp()), z_dim=1, chunk_size=500, hidden=(64,), init="default")
    z = torch.ones(64, 1)  # a static hypernetwork's constant input, far from N(0, 1)
    moment = chunked_hyperfan_init_(hnet, z_sample=z)
    assert moment > 0
    assert float(hnet(z[0])["0.weight"].detach().var()) == pytest.approx(2.0 / WIDTHS[0], rel=0.15)


# --- bad input --------------------------------------------------------------------------


def test_rejects_wrong_z(mlp):
    hnet = ChunkedHyperNet(describe(mlp), z_dim=4, chunk_size=8)
    with pytest.raises(ValueError, match=r"z: expected last dimension d_z=4, got shape \[5, 3\]"):
        hnet(torch.randn(5, 3))
    with pytest.raises(ValueError, match=r"z: expected 1 or 2 dimensions"):
        hnet(torch.randn(2, 5, 4))
    with pytest.raises(TypeError, match="z: expected a floating-point tensor"):
        hnet(torch.ones(3, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"k: expected a chunk index in \[0, 16\), got 16"):
        hnet.chunk(torch.randn(4), 16)


@pytest.mark.parametrize(
    "knobs, message",
    [
        ({"chunk_size": 0}, "chunk_size: expected a positive integer, got 0"),
        ({"chunk_dim": -1}, "chunk_dim: expected a positive integer"),
        ({"layout": "rows"}, "layout: expected 'global' or 'layer', got 'rows'"),
        ({"z_sample": torch.randn(10, 3)}, r"z_sample: expected shape \[n, 2\], got \[10, 3\]"),
    ],
    ids=["chunk-size-zero", "chunk-dim-negative", "layout-name", "z-sample-shape"],
)
def test_bad_chunking_arguments_name_the_argument(mlp, knobs, message):
    """(A module instead of a spec, and bad init or gain, are in the family contract: test_families.py.)"""
    with pytest.raises(ValueError, match=message):
        ChunkedHyperNet(describe(mlp), z_dim=2, **({"chunk_size": 4} | knobs))
