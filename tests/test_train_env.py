"""Specification of the training helpers, statistics, seeding and device choice."""

import random

import numpy as np
import pytest
import torch

from hypernet_lib import default_device, environment_report, fit, mean_ci, seed_everything


def test_fit_runs_every_step_and_returns_the_losses():
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1)

    def step(i):
        opt.zero_grad()
        loss = (w - 3).pow(2).sum()
        loss.backward()
        opt.step()
        return loss

    losses = fit(step, 50, progress=False)
    assert len(losses) == 50 and losses[-1] < 1e-3 < losses[0]
    assert len(fit(step, 10, log_every=4, progress=False)) == 4  # steps 0, 4, 8 and the last


def test_fit_rejects_bad_arguments():
    with pytest.raises(TypeError, match="step: expected a callable"):
        fit(3, 10)
    with pytest.raises(ValueError, match="n_steps: expected a positive integer, got 0"):
        fit(lambda i: 0.0, 0)


def test_mean_ci_matches_the_normal_formula():
    values = torch.tensor([0.2, 0.4, 0.6, 0.8])
    mean, half = mean_ci(values)
    assert mean == pytest.approx(0.5)
    assert half == pytest.approx(1.959964 * values.std().item() / 2, rel=1e-5)
    assert mean_ci([1.0, 1.0, 1.0])[1] == 0.0


def test_mean_ci_rejects_too_few_values():
    with pytest.raises(ValueError, match="at least 2 numbers"):
        mean_ci([0.5])


def test_seed_everything_makes_all_generators_repeat():
    seed_everything(7)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    gen = seed_everything(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    assert torch.equal(torch.rand(2, generator=gen), torch.rand(2, generator=torch.Generator().manual_seed(7)))
    with pytest.raises(TypeError, match="seed: expected an int"):
        seed_everything("7")


def test_device_and_report():
    assert default_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    report = environment_report()
    assert report["torch"] == torch.__version__.split("+")[0] and int(report["cpu threads"]) >= 1
