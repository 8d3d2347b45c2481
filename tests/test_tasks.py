"""Specification of the sinusoid task family (MAML's regression setup)."""

import math

import pytest
import torch

from hypernet_lib import sample_sinusoids, sinusoid


def test_shapes_of_support_and_query():
    tasks = sample_sinusoids(7, k_support=5, k_query=12, generator=torch.Generator().manual_seed(0))
    assert tasks.x_support.shape == tasks.y_support.shape == (7, 5, 1)
    assert tasks.x_query.shape == tasks.y_query.shape == (7, 12, 1)
    assert tasks.amplitude.shape == tasks.phase.shape == (7,)


def test_ranges_follow_maml():
    tasks = sample_sinusoids(4000, 10, 10, generator=torch.Generator().manual_seed(1))
    assert 0.1 <= tasks.amplitude.min() and tasks.amplitude.max() <= 5.0
    assert 0.0 <= tasks.phase.min() and tasks.phase.max() <= math.pi
    x = torch.cat([tasks.x_support, tasks.x_query])
    assert -5.0 <= x.min() and x.max() <= 5.0
    assert tasks.amplitude.mean() == pytest.approx(2.55, abs=0.1)  # uniform, not clustered


def test_labels_are_the_sine_of_each_task():
    tasks = sample_sinusoids(3, 4, 4, generator=torch.Generator().manual_seed(2))
    expected = tasks.amplitude.view(-1, 1, 1) * torch.sin(tasks.x_query - tasks.phase.view(-1, 1, 1))
    torch.testing.assert_close(tasks.y_query, expected)
    torch.testing.assert_close(sinusoid(tasks.x_support, tasks.amplitude, tasks.phase), tasks.y_support)


def test_same_generator_seed_gives_same_tasks():
    a = sample_sinusoids(3, 5, 5, generator=torch.Generator().manual_seed(3))
    b = sample_sinusoids(3, 5, 5, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(u, v) for u, v in zip(a, b))


def test_dtype_is_respected():
    assert sample_sinusoids(2, 3, 3, dtype=torch.float64).x_query.dtype == torch.float64


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_rejects_non_positive_counts(bad):
    with pytest.raises(ValueError, match="n_tasks: expected a positive integer"):
        sample_sinusoids(bad, 5, 5)


def test_digits_load_offline_as_scaled_tensors():
    from hypernet_lib import load_digits

    digits = load_digits()
    assert digits.images.shape == (1797, 1, 8, 8) and digits.flat.shape == (1797, 64)
    assert digits.images.min() == 0.0 and digits.images.max() == 1.0
    assert digits.labels.dtype == torch.int64 and set(digits.labels.tolist()) == set(range(10))
