"""Lecture 05's recipe: the encoding, and the stacked sweep being exactly independent runs."""

from __future__ import annotations

import math

import pytest
import torch

from course import lec05_lowrank as recipe
from hypernet_lib import functional_forward, sample_sinusoids

TINY = dict(recipe.CONFIG, n_steps=4, eval_every=2, val_tasks=8, seeds=(0,))


def test_the_encoding_has_the_same_l2_norm_for_every_task():
    t = sample_sinusoids(256, 1, 1, generator=torch.Generator().manual_seed(0))
    z = recipe.embed(t.amplitude, t.phase)
    assert z.shape == (256, 4)
    assert torch.allclose(z.norm(dim=1), torch.full((256,), math.sqrt(2)), atol=1e-6)


def test_the_encoding_maps_the_ends_of_each_range_to_the_ends_of_a_quarter_circle():
    lo = recipe.embed(torch.tensor([0.1]), torch.tensor([0.0]))
    hi = recipe.embed(torch.tensor([5.0]), torch.tensor([math.pi]))
    assert torch.allclose(lo, torch.tensor([[1.0, 1.0, 0.0, 0.0]]), atol=1e-6)
    assert torch.allclose(hi, torch.tensor([[0.0, 0.0, 1.0, 1.0]]), atol=1e-6)


@pytest.mark.parametrize("family, knob", [("full", 2), ("lowrank", 2), ("chunked", 400)])
def test_stacked_runs_equal_independent_runs_with_torch_adam(family, knob):
    config = dict(TINY, lrs=(1e-3, 1e-2))
    stacked = recipe.train_size(family, knob, config, device="cpu", progress=False)
    target = recipe.sine_target()
    for i, lr in enumerate(config["lrs"]):
        hnet = recipe.build(family, knob, 0, config)
        opt = torch.optim.Adam(hnet.parameters(), lr=lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config["n_steps"])
        gen = torch.Generator().manual_seed(10_000 + knob)  # the sweep's task stream for this size
        for _ in range(config["n_steps"]):
            t = sample_sinusoids(config["tasks_per_step"], config["points_per_task"], 1, generator=gen)
            params = hnet(recipe.embed(t.amplitude, t.phase))
            loss = (functional_forward(target, params, t.x_support) - t.y_support).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
        for name, value in hnet.state_dict().items():
            assert torch.allclose(stacked["states"][i][0][name], value, atol=1e-5, rtol=1e-4), (lr, name)


def test_the_sweep_records_a_validation_curve_per_learning_rate_and_seed():
    run = recipe.train_size("lowrank", 1, dict(TINY, seeds=(0, 1)), device="cpu", progress=False)
    assert run["val_curve"].shape == (TINY["n_steps"] // TINY["eval_every"] + 1, len(TINY["lrs"]), 2)
    assert len(run["states"]) == len(TINY["lrs"]) and all(len(s) == 2 for s in run["states"])


def test_train_keeps_the_learning_rate_best_on_validation():
    fconfig = dict(recipe.family_config("lowrank", TINY), knobs=(1,))
    payload = recipe.train(fconfig)
    final = payload["val_mse"][0].mean(dim=1)
    assert payload["lr"] == [TINY["lrs"][int(final.argmin())]]


@pytest.mark.parametrize(
    "call, says",
    [
        (lambda: recipe.build("dense", 4, 0), "family: expected one of"),
        (lambda: recipe.eval_tasks("train"), "split: expected 'val' or 'test'"),
        (lambda: recipe.family_config("dense"), "family: expected one of"),
    ],
    ids=["build", "eval_tasks", "family_config"],
)
def test_bad_arguments_are_named(call, says):
    with pytest.raises(ValueError, match=says):
        call()
