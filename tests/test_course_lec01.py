"""Lecture 01's recipe: the constant-L2 encoding, the training loop the lecture runs live, and its refusals."""

from __future__ import annotations

import math

import pytest
import torch

from course import lec01_first_principles as recipe
from hypernet_lib.data import AMPLITUDE_RANGE, PHASE_RANGE

SMALL = {**recipe.CONFIG, "target_hidden": (8,), "hidden": (8,), "n_steps": 4}


def test_embed_gives_every_task_the_same_l2_norm_root_two_even_outside_the_ranges():
    amplitude = torch.linspace(-1.0, 7.0, 33)
    phase = torch.linspace(-1.0, 5.0, 33)
    z = recipe.embed(amplitude, phase)
    assert z.shape == (33, 4)
    assert torch.allclose(z.norm(dim=1), torch.full((33,), math.sqrt(2)), atol=1e-6)


def test_embed_is_cos_then_sin_of_the_rescaled_pair():
    lo = recipe.embed(torch.tensor([AMPLITUDE_RANGE[0]]), torch.tensor([PHASE_RANGE[0]]))
    hi = recipe.embed(torch.tensor([AMPLITUDE_RANGE[1]]), torch.tensor([PHASE_RANGE[1]]))
    assert torch.allclose(lo, torch.tensor([[1.0, 1.0, 0.0, 0.0]]), atol=1e-6)
    assert torch.allclose(hi, torch.tensor([[0.0, 0.0, 1.0, 1.0]]), atol=1e-6)


def test_fit_sine_trains_the_hypernetwork_in_place_and_returns_one_loss_per_step():
    torch.manual_seed(0)
    target, hnet = recipe.build(SMALL)
    before = [p.detach().clone() for p in hnet.parameters()]
    losses = recipe.fit_sine(
        hnet, target, 4, lr=1e-3, tasks_per_step=3, points_per_task=5, seed=0, cosine=True, progress=False
    )
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    assert any(not torch.equal(a, b) for a, b in zip(before, hnet.parameters()))


def test_the_same_seed_draws_the_same_tasks():
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        target, hnet = recipe.build(SMALL)
        runs.append(
            recipe.fit_sine(hnet, target, 3, lr=1e-3, tasks_per_step=2, points_per_task=4, seed=5, progress=False)
        )
    assert runs[0] == runs[1]


def _fit(**changes):
    torch.manual_seed(0)
    target, hnet = recipe.build(SMALL)
    kwargs = {"lr": 1e-3, "tasks_per_step": 2, "points_per_task": 3, "seed": 0, "progress": False, **changes}
    hnet = kwargs.pop("hnet", hnet)
    return recipe.fit_sine(hnet, target, kwargs.pop("n_steps", 2), **kwargs)


A, P = torch.tensor([1.0, 2.0]), torch.tensor([0.5, 1.0])
BAD = [
    (
        "embed(int amplitude)",
        lambda: recipe.embed(torch.tensor([1, 2]), P),
        TypeError,
        "amplitude: expected a floating",
    ),
    ("embed(list)", lambda: recipe.embed([1.0, 2.0], P), TypeError, "amplitude: expected a torch.Tensor"),
    ("embed(shapes differ)", lambda: recipe.embed(A, P[:1]), ValueError, r"amplitude, phase: expected two 1-d"),
    ("embed([B, 1])", lambda: recipe.embed(A[:, None], P[:, None]), ValueError, r"1-d tensors of the same length"),
    ("embed(NaN)", lambda: recipe.embed(torch.tensor([math.nan, 1.0]), P), ValueError, "contain NaN or inf"),
    ("embed(inf phase)", lambda: recipe.embed(A, torch.tensor([0.0, math.inf])), ValueError, "contain NaN or inf"),
    ("fit_sine(lr=nan)", lambda: _fit(lr=math.nan), ValueError, "lr: expected a positive finite"),
    ("fit_sine(lr=0)", lambda: _fit(lr=0.0), ValueError, "lr: expected a positive finite"),
    ("fit_sine(lr=inf)", lambda: _fit(lr=math.inf), ValueError, "lr: expected a positive finite"),
    ("fit_sine(tasks_per_step=0)", lambda: _fit(tasks_per_step=0), ValueError, "tasks_per_step: expected a positive"),
    ("fit_sine(points_per_task=2.5)", lambda: _fit(points_per_task=2.5), ValueError, "points_per_task: expected a"),
    ("fit_sine(n_steps=0)", lambda: _fit(n_steps=0), ValueError, "n_steps: expected a positive integer"),
    ("fit_sine(seed='0')", lambda: _fit(seed="0"), TypeError, "seed: expected an int"),
    ("fit_sine(encode=str)", lambda: _fit(encode="cos|sin"), TypeError, "encode: expected a function"),
    ("fit_sine(hnet=None)", lambda: _fit(hnet=None), TypeError, "hnet: expected a hypernetwork"),
    (
        "build(other encoding)",
        lambda: recipe.build({**SMALL, "encoding": "z|1-z"}),
        ValueError,
        "config\\['encoding'\\]",
    ),
]


@pytest.mark.parametrize("call, error, message", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_is_refused_with_a_message_naming_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()
