"""Lecture 04's recipe: Ha et al.'s sliced kernel and the per-filter variant, their sizes and their ranks."""

from __future__ import annotations

import pytest
import torch

from course import lec04_chunking as recipe
from hypernet_lib import count_parameters

C1, C2 = recipe.CONFIG["channels"]
D = recipe.CONFIG["embedding"]


def kernel_numbers(model: torch.nn.Module) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and not n.startswith("cnn."))


def test_the_sliced_kernel_costs_what_eq_2_says():
    model = recipe.build("slices")
    assert kernel_numbers(model) == D + C1 * (D * D + D) + C2 * 9 * (D + 1)


def test_the_filter_chunked_kernel_costs_one_embedding_per_filter_and_a_linear_generator():
    model = recipe.build("filters")
    assert count_parameters(model.hnet) == C2 * D + (1 + D + 1) * C1 * 9


@pytest.mark.parametrize(
    "kind, low_rank_form",
    [("slices", lambda k: k.transpose(0, 1).flatten(1)), ("filters", lambda k: k.flatten(1))],
    ids=["slices: one row per input channel", "filters: one row per output filter"],
)
def test_a_linear_generator_makes_a_kernel_of_rank_at_most_embedding_plus_one(kind, low_rank_form):
    torch.manual_seed(0)
    model = recipe.build(kind)
    with torch.no_grad():
        for p in model.parameters():  # any values, not only the initial ones
            p.add_(torch.randn_like(p))
        kernel = model.kernel()
    assert kernel.shape == (C2, C1, 3, 3)
    assert int(torch.linalg.matrix_rank(low_rank_form(kernel))) <= D + 1


def test_every_kind_runs_on_the_digits_and_only_generated_kernels_replace_the_cnns_own():
    x = recipe.digits_split()[0][:5]
    for kind in recipe.KINDS:
        model = recipe.build(kind)
        assert model(x).shape == (5, 10)
        if kind != "plain":
            assert not model.cnn[3].weight.requires_grad


def test_the_same_seed_gives_every_kind_the_same_first_and_last_layers():
    layers = {}
    for kind in recipe.KINDS:
        torch.manual_seed(3)
        cnn = recipe.build(kind)
        cnn = cnn if kind == "plain" else cnn.cnn
        layers[kind] = (cnn[0].weight.clone(), cnn[7].weight.clone())
    for kind in ("slices", "filters"):
        assert all(torch.equal(a, b) for a, b in zip(layers["plain"], layers[kind]))


def test_a_bad_kind_is_named():
    with pytest.raises(ValueError, match="kind: expected one of"):
        recipe.build("dense")
