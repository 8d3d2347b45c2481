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
    interval_coverage,
    nll,
    predictive_entropy,
    regression_nll,
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


def test_regression_nll_is_the_log_density_of_the_mixture_of_the_samples():
    means = torch.tensor([[0.0, 1.0], [2.0, 1.0]])  # [S=2, N=2]
    y = torch.tensor([0.5, 1.0])
    normal = torch.distributions.Normal
    expected = -torch.log(0.5 * normal(means[:, 0], 0.5).log_prob(y[0]).exp().sum())
    torch.testing.assert_close(regression_nll(means, 0.5, y)[0], expected)
    torch.testing.assert_close(
        regression_nll(means[..., None], 0.5, y[:, None])[1], -normal(1.0, 0.5).log_prob(torch.tensor(1.0))
    )


def test_interval_coverage_counts_the_values_inside_mean_plus_minus_k_std():
    mean, std = torch.zeros(4), torch.ones(4)
    y = torch.tensor([0.5, -1.9, 2.1, -3.0])
    torch.testing.assert_close(interval_coverage(mean, std, y), torch.tensor([1.0, 1.0, 0.0, 0.0]))
    torch.testing.assert_close(interval_coverage(mean, std, y, k=3.0), torch.ones(4))


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


# Issue-19 style: a metric handed the wrong thing must say so, never return a plausible number.
LOGITS = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.3, -2.0]])
LABELS = torch.tensor([0, 1])
PROBS = LOGITS.softmax(-1)
EMPTY = torch.zeros(0, 3)


@pytest.mark.parametrize(
    "call, says",
    [
        (lambda: expected_calibration_error(LOGITS, LABELS), "probs: expected class probabilities, got negative values"),
        (lambda: nll(LOGITS.abs(), LABELS), "probs: expected every row to sum to 1, got row sums from"),
        (lambda: accuracy(LOGITS, LABELS), "pass probabilities, e.g. classification_predictive"),
        (lambda: predictive_entropy(LOGITS.exp()), "probs: expected every row to sum to 1"),
        (lambda: calibration_bins(PROBS.clone().fill_(float("nan")), LABELS), "probs: contains NaN or inf"),
        (lambda: expected_calibration_error(EMPTY, torch.zeros(0, dtype=torch.int64)), "probs: expected at least one value"),
        (lambda: accuracy(EMPTY, torch.zeros(0, dtype=torch.int64)), "probs: expected at least one value"),
        (lambda: nll(PROBS, torch.tensor([0, 3])), r"y: expected class labels in \[0, 3\), got values from 0 to 3"),
        (lambda: auroc(torch.tensor([0.1, float("nan")]), torch.rand(3)), "score_in: contains NaN or inf"),
        (lambda: auroc(torch.rand(3), torch.tensor([float("inf")])), "score_out: contains NaN or inf"),
        (lambda: classification_predictive(torch.full((2, 3, 4), float("nan"))), "logits: contains NaN or inf"),
        (lambda: classification_predictive(torch.zeros(0, 3, 4)), "logits: expected at least one value"),
        (lambda: regression_predictive(torch.zeros(4, 0), 0.1), "means: expected at least one value"),
        (lambda: regression_predictive(torch.zeros(4, 3), float("nan")), "noise_std: expected a finite number >= 0, got nan"),
        (lambda: regression_nll(torch.zeros(4, 3), 0.0, torch.zeros(3)), "noise_std: expected a finite number > 0, got 0.0"),
        (lambda: regression_nll(torch.zeros(4, 3), 0.1, torch.zeros(2)), "y: expected 3 values"),
        (lambda: interval_coverage(torch.zeros(3), -torch.ones(3), torch.zeros(3)), "std: expected standard deviations >= 0"),
        (lambda: interval_coverage(torch.zeros(3), torch.ones(3), torch.zeros(3), k=float("inf")), "k: expected a finite number > 0"),
    ],
    ids=[
        "ece-of-logits", "nll-of-unnormalised", "accuracy-of-logits", "entropy-of-exp-logits", "nan-probs",
        "ece-of-nothing", "accuracy-of-nothing", "label-out-of-range", "nan-score", "inf-score", "nan-logits",
        "no-logits", "no-points", "nan-noise", "zero-noise", "y-length", "negative-std", "infinite-k",
    ],
)  # fmt: skip
def test_metrics_refuse_what_would_give_a_silently_wrong_number(call, says):
    with pytest.raises(ValueError, match=says):
        call()
