"""Specification of the predictive distribution and its scores (NLL, accuracy, ECE, AUROC)."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from hypernet_lib.apps.uncertainty import (
    accuracy,
    auroc,
    calibration_bins,
    classification_predictive,
    expected_calibration_error,
    nll,
    predictive_entropy,
    regression_predictive,
)


def test_classification_predictive_is_the_mean_of_the_softmaxes():
    logits = torch.randn(7, 5, 3, dtype=torch.float64)
    probs = classification_predictive(logits)
    torch.testing.assert_close(probs, logits.softmax(-1).mean(0))
    torch.testing.assert_close(probs.sum(-1), torch.ones(5, dtype=torch.float64))


def test_classification_predictive_is_stable_for_huge_logits():
    logits = torch.tensor([[[1000.0, 0.0]], [[0.0, 1000.0]]])
    torch.testing.assert_close(classification_predictive(logits), torch.tensor([[0.5, 0.5]]))


def test_regression_predictive_adds_the_spread_between_samples_to_the_noise():
    means = torch.tensor([[1.0, 0.0], [3.0, 0.0]])  # [S=2, N=2]
    mean, std = regression_predictive(means[..., None], noise_std=0.5)
    torch.testing.assert_close(mean, torch.tensor([2.0, 0.0]))
    torch.testing.assert_close(std, torch.tensor([math.sqrt(1.0 + 0.25), 0.5]))


def test_entropy_is_log_c_for_uniform_and_zero_for_certain():
    probs = torch.tensor([[0.25] * 4, [1.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(predictive_entropy(probs), torch.tensor([math.log(4), 0.0]))


def test_nll_and_accuracy_on_a_hand_example():
    probs = torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]])
    y = torch.tensor([0, 0, 1])
    assert nll(probs, y) == pytest.approx(-(math.log(0.9) + math.log(0.4) + math.log(0.3)) / 3)
    assert accuracy(probs, y) == pytest.approx(1 / 3)


def test_calibration_bins_match_a_plain_loop():
    gen = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(500, 4, generator=gen), -1)
    y = torch.randint(0, 4, (500,), generator=gen)
    conf, acc, count = calibration_bins(probs, y, n_bins=10)
    c, pred = probs.max(-1)
    for b in range(10):
        inside = (c > b / 10) & (c <= (b + 1) / 10)
        assert count[b] == inside.sum()
        if inside.any():
            assert conf[b] == pytest.approx(float(c[inside].mean()), abs=1e-6)
            assert acc[b] == pytest.approx(float((pred[inside] == y[inside]).float().mean()), abs=1e-6)
    ece = sum(float(count[b]) / 500 * abs(float(acc[b] - conf[b])) for b in range(10) if count[b] > 0)
    assert expected_calibration_error(probs, y, n_bins=10) == pytest.approx(ece, abs=1e-6)


def test_ece_is_zero_when_confidence_equals_accuracy_and_large_when_overconfident():
    # Four predictions at confidence 0.75, three of them right: calibrated.
    probs = torch.tensor([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probs, torch.tensor([0, 0, 0, 1])) == pytest.approx(0.0, abs=1e-7)
    # Confidence 0.99, half of them right: ECE = 0.49.
    probs = torch.tensor([[0.99, 0.01]] * 4)
    assert expected_calibration_error(probs, torch.tensor([0, 0, 1, 1])) == pytest.approx(0.49, abs=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_auroc_matches_scikit_learn_including_ties(seed):
    gen = torch.Generator().manual_seed(seed)
    # Rounded scores produce many ties, the case a naive pairwise count gets wrong.
    score_in = torch.round(torch.randn(60, generator=gen) * 2) / 2
    score_out = torch.round((torch.randn(40, generator=gen) + 0.7) * 2) / 2
    labels = np.r_[np.zeros(60), np.ones(40)]
    expected = roc_auc_score(labels, torch.cat([score_in, score_out]).numpy())
    assert auroc(score_in, score_out) == pytest.approx(expected, abs=1e-12)


def test_auroc_is_one_for_perfect_separation_zero_reversed_and_half_for_equal_scores():
    low, high = torch.tensor([0.1, 0.2]), torch.tensor([0.5, 0.9, 0.7])
    assert auroc(low, high) == 1.0
    assert auroc(high, low) == 0.0
    assert auroc(torch.ones(3), torch.ones(5)) == 0.5


# --- bad input --------------------------------------------------------------------------


def test_rejects_wrong_shapes_and_dtypes():
    with pytest.raises(ValueError, match=r"logits: expected 3 dimensions \(\[S, N, C\]\)"):
        classification_predictive(torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"means: expected a single output"):
        regression_predictive(torch.randn(4, 3, 2), noise_std=0.1)
    with pytest.raises(ValueError, match=r"y: expected int64 labels of shape \[3\]"):
        nll(torch.full((3, 2), 0.5), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="y: expected int64 labels"):
        accuracy(torch.full((2, 2), 0.5), torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="probs: expected a floating-point tensor"):
        predictive_entropy(torch.ones(2, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="score_out: expected at least one score"):
        auroc(torch.rand(3), torch.rand(0))
    with pytest.raises(ValueError, match="n_bins: expected a positive integer, got 0"):
        expected_calibration_error(torch.full((2, 2), 0.5), torch.tensor([0, 1]), n_bins=0)
