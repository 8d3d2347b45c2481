"""From weight samples to a predictive distribution, and how to score it.

Every method in lecture 06 (Bayesian hypernetwork, deep ensemble, MC dropout) produces ``S``
sampled outputs ``[S, N, ...]`` for ``N`` inputs. The Bayesian model average turns them into
one predictive distribution:

    classification:  p(y | x) = (1/S) Σ_s softmax(f_θs(x))
    regression:      p(y | x) = (1/S) Σ_s N(y; f_θs(x), σ_noise²)  (mean and std reported)

and the metrics below score it: negative log-likelihood (NLL), accuracy, expected calibration
error (ECE; Naeini et al. 2015, Guo et al. 2017) and the area under the ROC curve (AUROC) for
telling in-distribution from out-of-distribution inputs by a score such as predictive entropy; for
regression, the NLL of a value under the predictive mixture and the coverage of a ±kσ interval.

Every metric refuses what would give a silently wrong number: logits passed where probabilities are
expected (negative values, rows not summing to 1), NaN or inf, and empty input (an ECE of 0 for no
data would read as "perfectly calibrated").
"""

from __future__ import annotations

import math

import torch

from .._checks import require_dims, require_float, require_positive_int, require_tensor


def classification_predictive(logits: torch.Tensor) -> torch.Tensor:
    """Model average of ``S`` samples: ``logits: [S, N, C] → probs: [N, C]``."""
    require_float("logits", logits)
    require_dims("logits", logits, (3,), "[S, N, C]")
    _require_nonempty_finite("logits", logits)
    # log-mean-exp of log-probabilities: stable even when one sample is very confident.
    log_p = torch.logsumexp(torch.log_softmax(logits, dim=-1), dim=0) - math.log(logits.shape[0])
    return log_p.exp()


def regression_predictive(means: torch.Tensor, noise_std: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of the mixture of ``N(f_s(x), σ²)``: ``means: [S, N] or [S, N, 1] → ([N], [N])``.

    ``var = Var_s[f_s(x)] + σ²``: the spread between samples (epistemic) plus the noise (aleatoric).
    """
    means = _check_means(means)
    _require_number("noise_std", noise_std, positive=False)
    epistemic = means.var(dim=0, unbiased=False)
    return means.mean(0), (epistemic + noise_std**2).sqrt()


def regression_nll(means: torch.Tensor, noise_std: float, y: torch.Tensor) -> torch.Tensor:
    """``−log p(y | x)`` under the mixture ``(1/S) Σ_s N(y; f_s(x), σ²)``, per point: ``[S, N(, 1)], [N] → [N]``.

    The exact predictive density of the model average (not a Gaussian fitted to its mean and std), so a
    method is charged for every sample it spreads away from ``y``. ``σ = noise_std`` must be positive.
    """
    means = _check_means(means)
    noise_std = _require_number("noise_std", noise_std, positive=True)
    y = _check_values("y", y, means.shape[1])
    z = (y - means) / noise_std
    log_n = -0.5 * z.pow(2) - math.log(noise_std) - 0.5 * math.log(2 * math.pi)
    return -(torch.logsumexp(log_n, dim=0) - math.log(means.shape[0]))


def interval_coverage(mean: torch.Tensor, std: torch.Tensor, y: torch.Tensor, k: float = 2.0) -> torch.Tensor:
    """Whether ``y`` lies in ``mean ± k·std``, per point: ``[N], [N], [N] → [N]`` (float 0/1).

    Averaged over a region it is the coverage of the interval: about 0.95 for ``k = 2`` when the
    predictive distribution is Gaussian and calibrated; far below it where a method is confidently wrong.
    """
    mean = _check_values("mean", mean, None)
    std = _check_values("std", std, mean.shape[0])
    y = _check_values("y", y, mean.shape[0])
    if bool((std < 0).any()):
        raise ValueError("std: expected standard deviations >= 0, got a negative value")
    k = _require_number("k", k, positive=True)
    return ((y - mean).abs() <= k * std).to(mean.dtype)


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
        if not bool(torch.isfinite(s).all()):
            raise ValueError(f"{name}: contains NaN or inf; every score must be a finite number")
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


def _check_means(means: torch.Tensor) -> torch.Tensor:
    """Sampled regression outputs as ``[S, N]`` (``[S, N, 1]`` squeezed), non-empty and finite."""
    require_float("means", means)
    require_dims("means", means, (2, 3), "[S, N] or [S, N, 1]")
    if means.dim() == 3:
        if means.shape[-1] != 1:
            raise ValueError(f"means: expected a single output, shape [S, N, 1], got {list(means.shape)}")
        means = means[..., 0]
    _require_nonempty_finite("means", means)
    return means


def _require_nonempty_finite(name: str, t: torch.Tensor) -> None:
    if t.numel() == 0:
        raise ValueError(f"{name}: expected at least one value, got an empty tensor of shape {list(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: contains NaN or inf; every value must be finite")


def _require_number(name: str, value: object, positive: bool) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        raise ValueError(f"{name}: expected a finite number {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


def _check_values(name: str, t: torch.Tensor, n: int | None) -> torch.Tensor:
    require_float(name, t)
    require_dims(name, t, (1, 2), "[N] or [N, 1]")
    if t.dim() == 2:
        if t.shape[1] != 1:
            raise ValueError(f"{name}: expected shape [N] or [N, 1], got {list(t.shape)}")
        t = t[:, 0]
    if n is not None and t.shape[0] != n:
        raise ValueError(f"{name}: expected {n} values (one per point), got {t.shape[0]}")
    _require_nonempty_finite(name, t)
    return t


def _check_probs(probs: torch.Tensor) -> None:
    require_float("probs", probs)
    require_dims("probs", probs, (2,), "[N, C] class probabilities")
    _require_nonempty_finite("probs", probs)
    # Logits are the likeliest slip: they are negative somewhere, or their rows do not sum to one.
    hint = "; pass probabilities, e.g. classification_predictive(logits) or logits.softmax(-1)"
    if bool((probs < 0).any()):
        raise ValueError(
            f"probs: expected class probabilities, got negative values (min {float(probs.min()):.3g}){hint}"
        )
    sums = probs.sum(-1)
    tolerance = 1e-3 if probs.dtype in (torch.float16, torch.bfloat16) else 1e-4
    if not bool(((sums - 1).abs() <= tolerance * probs.shape[1]).all()):
        raise ValueError(
            f"probs: expected every row to sum to 1, got row sums from {float(sums.min()):.4g} to "
            f"{float(sums.max()):.4g}{hint}"
        )


def _check_probs_labels(probs: torch.Tensor, y: torch.Tensor) -> None:
    _check_probs(probs)
    require_tensor("y", y)
    if y.dtype != torch.int64 or y.shape != probs.shape[:1]:
        raise ValueError(f"y: expected int64 labels of shape [{probs.shape[0]}], got {y.dtype} {list(y.shape)}")
    if bool((y < 0).any()) or bool((y >= probs.shape[1]).any()):
        raise ValueError(
            f"y: expected class labels in [0, {probs.shape[1]}), got values from {int(y.min())} to {int(y.max())}"
        )
