"""Specification of hypernet_lib.setenc: a support set in, one task embedding / target weights out."""

import pytest
import torch
from torch import nn

from hypernet_lib import HyperNetwork, SetHyperNetwork, describe, functional_forward
from hypernet_lib.hypernets import ClassHeadGenerator, SetEncoder


@pytest.fixture
def encoder() -> SetEncoder:
    torch.manual_seed(0)
    return SetEncoder(in_dim=3, z_dim=5, hidden=(16, 16))


def test_encoder_maps_a_batch_of_sets_to_one_embedding_each(encoder):
    assert encoder(torch.randn(4, 7, 3)).shape == (4, 5)


def test_embedding_does_not_depend_on_the_order_of_the_examples(encoder):
    s = torch.randn(2, 6, 3)
    perm = torch.randperm(6)
    torch.testing.assert_close(encoder(s), encoder(s[:, perm]))


def test_any_set_size_works_and_duplicating_a_set_changes_nothing(encoder):
    s = torch.randn(2, 3, 3)
    torch.testing.assert_close(encoder(s), encoder(torch.cat([s, s], dim=1)))  # mean pooling
    assert encoder(torch.randn(2, 1, 3)).shape == (2, 5)


def test_batched_encoding_equals_a_loop_over_sets(encoder):
    s = torch.randn(3, 4, 3)
    z = encoder(s)
    for b in range(3):
        torch.testing.assert_close(z[b : b + 1], encoder(s[b : b + 1]))


def test_pairs_concatenates_inputs_and_targets():
    x, y = torch.randn(2, 5, 1), torch.randn(2, 5, 1)
    p = SetEncoder.pairs(x, y)
    assert p.shape == (2, 5, 2)
    torch.testing.assert_close(p[..., 1:], y)


def test_set_hypernetwork_generates_every_target_parameter_per_task():
    torch.manual_seed(0)
    target = nn.Sequential(nn.Linear(1, 8), nn.ReLU(), nn.Linear(8, 1))
    spec = describe(target)
    model = SetHyperNetwork(SetEncoder(2, 4), HyperNetwork(spec, 4, hidden=(8,)))
    x_s, y_s = torch.randn(3, 5, 1), torch.randn(3, 5, 1)
    params = model(x_s, y_s)
    assert {n: tuple(t.shape) for n, t in params.items()} == {n: (3, *s) for n, s in spec.shapes.items()}
    out = functional_forward(target, params, torch.randn(3, 9, 1))
    out.pow(2).mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_bad_input_is_rejected_with_what_was_expected(encoder):
    with pytest.raises(ValueError, match=r"expected shape \[B, K, 3\]"):
        encoder(torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"expected shape \[B, K, 3\]"):
        encoder(torch.randn(4, 2, 2))
    with pytest.raises(ValueError, match="at least one element"):
        encoder(torch.randn(4, 0, 3))
    with pytest.raises(TypeError, match="floating-point"):
        encoder(torch.zeros(4, 2, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="same B, K"):
        SetEncoder.pairs(torch.randn(2, 5, 1), torch.randn(2, 4, 1))
    with pytest.raises(ValueError, match="positive integer"):
        SetEncoder(0, 4)
    spec = describe(nn.Linear(1, 1))
    with pytest.raises(ValueError, match="z_dim 5"):
        SetHyperNetwork(encoder, HyperNetwork(spec, 4))
    with pytest.raises(TypeError, match="SetEncoder"):
        SetHyperNetwork(nn.Linear(2, 4), HyperNetwork(spec, 4))


def test_class_head_generator_writes_one_row_per_class_and_follows_the_labels():
    torch.manual_seed(0)
    gen = ClassHeadGenerator(z_dim=6, in_features=4, weight_name="2.weight", bias_name="2.bias", hidden=(8,))
    e = torch.randn(3, 5, 6)  # 3 tasks, 5 classes
    rows = gen(e)
    assert rows["2.weight"].shape == (3, 5, 4) and rows["2.bias"].shape == (3, 5)
    perm = torch.tensor([2, 0, 4, 1, 3])
    swapped = gen(e[:, perm])  # relabel the classes: the rows are relabelled the same way
    torch.testing.assert_close(swapped["2.weight"], rows["2.weight"][:, perm])
    torch.testing.assert_close(swapped["2.bias"], rows["2.bias"][:, perm])
    target = nn.Sequential(nn.Linear(7, 4), nn.ReLU(), nn.Linear(4, 5))
    logits = functional_forward(target, rows, torch.randn(3, 9, 7))  # only the head is generated
    assert logits.shape == (3, 9, 5)


def test_class_head_generator_rejects_bad_input():
    gen = ClassHeadGenerator(6, 4, "w", "b")
    with pytest.raises(ValueError, match=r"expected shape \[B, N, 6\]"):
        gen(torch.randn(3, 6))
    with pytest.raises(ValueError, match="two different names"):
        ClassHeadGenerator(6, 4, "w", "w")
    with pytest.raises(ValueError, match="positive integer"):
        ClassHeadGenerator(6, 0, "w", "b")
