"""From weight samples to a predictive distribution, and how to score it.

Every method in lecture 06 (Bayesian hypernetwork, deep ensemble, MC dropout) produces ``S``
sampled outputs ``[S, N, ...]`` for ``N`` inputs. The Bayesian model average turns them into
one predictive distribution:

    classification:  p(y | x) = (1/S) Σ_s softmax(f_θs(x))
    regression:      p(y | x) = (1/S) Σ_s N(y; f_θs(x), σ_noise²)  (mean and std reported)

and the metrics below score it: negative log-likelihood (NLL), accuracy, expected calibration
error (ECE; Naeini et al. 2015, Guo et al. 2017) and the area under the ROC curve (AUROC) for
telling in-distribution from out-of-distribution inputs by a score such as predictive entropy.
"""

from __future__ import annotations

import math

import torch

from .._checks import require_dims, require_float, require_positive_int, require_tensor


def classification_predictive(logits: torch.Tensor) -> torch.Tensor:
    """Model average of ``S`` samples: ``logits: [S, N, C] → probs: [N, C]``."""
    require_float("logits", logits)
    require_dims("logits", logits, (3,), "[S, N, C]")
    # log-mean-exp of log-probabilities: stable even when one sample is very confident.
    log_p = torch.logsumexp(torch.log_softmax(logits, dim=-1), dim=0) - math.log(logits.shape[0])
    return log_p.exp()


def regression_predictive(means: torch.Tensor, noise_std: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of the mixture of ``N(f_s(x), σ²)``: ``means: [S, N] or [S, N, 1] → ([N], [N])``.

    ``var = Var_s[f_s(x)] + σ²``: the spread between samples (epistemic) plus the noise (aleatoric).
    """
    require_float("means", means)
    require_dims("means", means, (2, 3), "[S, N] or [S, N, 1]")
    if means.dim() == 3:
        if means.shape[-1] != 1:
            raise ValueError(f"means: expected a single output, shape [S, N, 1], got {list(means.shape)}")
        means = means[..., 0]
    if not noise_std >= 0:
        raise ValueError(f"noise_std: expected a number >= 0, got {noise_std!r}")
    epistemic = means.var(dim=0, unbiased=False)
    return means.mean(0), (epistemic + noise_std**2).sqrt()


def predictive_entropy(probs: torch.Tensor) -> torch.Tensor:
    """``H[p(y|x)] = −Σ_c p_c log p_c`` in nats: ``probs: [N, C] → [N]``."""
    _check_probs(probs)
    return -(probs * torch.log(probs.clamp_min(1e-12))).sum(-1)


def nll(probs: torch.Tensor, y: torch.Tensor) -> float:
    """Mean negative log predictive probability of the true class (nats)."""
    _check_probs_labels(probs, y)
    return float(-torch.log(probs.gather(1, y[:, None]).clamp_min(1e-12)).mean())


def accuracy(probs: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of inputs whose most probable class is the true one."""
    _check_probs_labels(probs, y)
    return float((probs.argmax(-1) == y).float().mean())


def calibration_bins(
    probs: torch.Tensor, y: torch.Tensor, n_bins: int = 15
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reliability diagram data over ``n_bins`` equal-width confidence bins on ``(0, 1]``.

    Returns ``(mean confidence, accuracy, count)``, each ``[n_bins]``; empty bins have count 0
    and NaN confidence/accuracy.
    """
    _check_probs_labels(probs, y)
    n_bins = require_positive_int("n_bins", n_bins)
    confidence, predicted = probs.max(-1)
    correct = (predicted == y).to(probs.dtype)
    # Bin b holds confidences in (b/n, (b+1)/n]; ceil-1 puts exactly 1.0 in the last bin.
    which = (torch.ceil(confidence * n_bins).long() - 1).clamp(0, n_bins - 1)
    count = torch.bincount(which, minlength=n_bins).to(probs.dtype)
    conf_sum = torch.zeros(n_bins, dtype=probs.dtype, device=probs.device).index_add_(0, which, confidence)
    acc_sum = torch.zeros(n_bins, dtype=probs.dtype, device=probs.device).index_add_(0, which, correct)
    return conf_sum / count, acc_sum / count, count


def expected_calibration_error(probs: torch.Tensor, y: torch.Tensor, n_bins: int = 15) -> float:
    """``ECE = Σ_b (n_b / N) · |acc_b − conf_b|`` over equal-width confidence bins."""
    conf, acc, count = calibration_bins(probs, y, n_bins)
    used = count > 0
    return float(((count[used] / count.sum()) * (acc[used] - conf[used]).abs()).sum())


def auroc(score_in: torch.Tensor, score_out: torch.Tensor) -> float:
    """Area under the ROC curve for "out-of-distribution" = higher score.

    Equals the probability that a random OOD input scores higher than a random in-distribution
    one, ties counting one half (the Mann-Whitney U statistic); 0.5 is chance, 1.0 is perfect.
    """
    for name, s in (("score_in", score_in), ("score_out", score_out)):
        require_float(name, s)
        require_dims(name, s, (1,), "[n]")
        if s.numel() == 0:
            raise ValueError(f"{name}: expected at least one score, got none")
    scores = torch.cat([score_in, score_out]).double()
    # Average ranks (1-based) so tied scores share their rank: exact for ties.
    sorted_scores, order = torch.sort(scores)
    ranks = torch.empty_like(scores)
    ranks[order] = torch.arange(1, scores.numel() + 1, dtype=scores.dtype, device=scores.device)
    _, inverse, counts = torch.unique_consecutive(sorted_scores, return_inverse=True, return_counts=True)
    first = torch.cumsum(counts, 0) - counts + 1
    mean_rank = first + (counts - 1) / 2
    ranks[order] = mean_rank[inverse].to(scores.dtype)
    n_in, n_out = score_in.numel(), score_out.numel()
    u = ranks[n_in:].sum() - n_out * (n_out + 1) / 2
    return float(u / (n_in * n_out))


def _check_probs(probs: torch.Tensor) -> None:
    require_float("probs", probs)
    require_dims("probs", probs, (2,), "[N, C] class probabilities")


def _check_probs_labels(probs: torch.Tensor, y: torch.Tensor) -> None:
    _check_probs(probs)
    require_tensor("y", y)
    if y.dtype != torch.int64 or y.shape != probs.shape[:1]:
        raise ValueError(f"y: expected int64 labels of shape [{probs.shape[0]}], got {y.dtype} {list(y.shape)}")
