"""Specification of the stroke classes rendered like scikit-learn's digits."""

import pytest
import torch

from hypernet_lib.apps.fewshot import prototype_logits
from hypernet_lib.data import stroke_classes


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_shapes_range_and_class_major_labels():
    x, y = stroke_classes(6, 4, gen())
    assert x.shape == (24, 1, 8, 8) and x.dtype == torch.float32
    assert y.tolist() == [c for c in range(6) for _ in range(4)]
    # block counts of a binary 32x32 bitmap: multiples of 1/16 in [0, 1], like load_digits
    assert 0 <= x.min() and x.max() <= 1
    torch.testing.assert_close(x * 16, (x * 16).round())


def test_deterministic_given_the_generator_and_independent_of_chunking():
    a, _ = stroke_classes(5, 3, gen(1))
    b, _ = stroke_classes(5, 3, gen(1), chunk=4)
    c, _ = stroke_classes(5, 3, gen(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_ink_like_a_digit():
    x, _ = stroke_classes(50, 2, gen(3))
    ink = x.mean(dim=(1, 2, 3))
    assert bool((ink > 0.05).all())  # every example draws something
    assert 0.15 < float(ink.mean()) < 0.45  # the digits' mean ink is about 0.30


def test_examples_of_a_class_resemble_each_other_more_than_other_classes():
    x, y = stroke_classes(5, 6, gen(4))
    x = x.flatten(1).view(5, 6, 64)
    # leave-one-out nearest class mean over the 5 classes: far above chance (0.2)
    support, query = x[:, :5].reshape(1, 25, 64), x[:, 5].reshape(1, 5, 64)
    labels = torch.arange(5).repeat_interleave(5).view(1, 25)
    acc = (prototype_logits(support, labels, query, 5).argmax(-1) == torch.arange(5)).float().mean()
    assert acc >= 0.8


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n_classes": 0}, ValueError, "n_classes"),
        ({"n_per_class": 2.0}, ValueError, "n_per_class"),
        ({"chunk": -1}, ValueError, "chunk"),
        ({"generator": 3}, TypeError, "generator"),
    ],
)
def test_bad_input_is_named(kwargs, error, message):
    args = {"n_classes": 2, "n_per_class": 2} | kwargs
    with pytest.raises(error, match=message):
        stroke_classes(**args)
