"""Specification of lecture 07's recipe: its methods, the learners they build, and how β and λ are chosen."""

import copy
import math

import pytest
import torch

from course import lec07_continual as recipe
from hypernet_lib import count_parameters
from hypernet_lib.apps.continual import HyperNetLearner, SequentialLearner


def test_every_method_name_builds_its_learner_with_its_strength():
    for scenario in recipe.SCENARIOS:
        names = recipe.methods(scenario)
        assert len(set(names)) == len(names)
        for m in names:
            learner = recipe.learner(m, scenario, seed=0, n_tasks=3)
            if m.startswith("hnet") or m == "joint_hnet":
                assert isinstance(learner, HyperNetLearner)
                assert learner.beta == (float(m.removeprefix("hnet_beta")) if m.startswith("hnet_beta") else 0.0)
            else:
                assert isinstance(learner, SequentialLearner)
                assert learner.ewc_strength == (float(m.split("lambda")[1]) if "lambda" in m else 0.0)


def test_the_wider_baselines_are_about_as_large_as_the_hypernetwork():
    for scenario in recipe.SCENARIOS:
        c = recipe.CONFIG[scenario]
        n_tasks = len(c["groups"]) if scenario == "split" else c["n_tasks"]
        hnet = count_parameters(recipe.learner("hnet_beta0", scenario, 0, n_tasks).hnet)
        wide = count_parameters(recipe.learner(f"finetune_w{c['widths'][-1]}", scenario, 0, n_tasks).model)
        assert abs(wide / hnet - 1) < 0.05, (scenario, wide, hnet)


def test_the_same_seed_starts_every_learner_of_a_method_from_the_same_weights():
    a = recipe.init_norm(recipe.learner("hnet_beta0.5", "split", seed=3, n_tasks=5))
    b = recipe.init_norm(recipe.learner("hnet_beta0.5", "split", seed=3, n_tasks=5))
    c = recipe.init_norm(recipe.learner("hnet_beta0.5", "split", seed=4, n_tasks=5))
    assert a == b and a != c


def test_tasks_have_disjoint_train_validation_and_test_splits():
    for scenario in recipe.SCENARIOS:
        task = recipe.make_tasks(scenario, seed=0)[0]
        rows = {name: {tuple(r) for r in task.split(name)[0].tolist()} for name in ("train", "val", "test")}
        assert not rows["train"] & rows["val"] and not rows["train"] & rows["test"] and not rows["val"] & rows["test"]


def test_hyperparameters_are_chosen_on_validation_never_on_test():
    nan = math.nan
    good_on_val = torch.tensor([[[0.9, nan], [0.9, 0.9]]])
    bad_on_val = torch.tensor([[[0.5, nan], [0.5, 0.5]]])
    R_val = {"a": good_on_val, "b": bad_on_val}
    assert recipe.best_by_validation(R_val, ["a", "b"]) == "a"
    with pytest.raises(ValueError, match="candidates"):
        recipe.best_by_validation(R_val, [])


def test_a_run_reports_both_splits_and_a_tiny_joint_run_fills_one_row(monkeypatch):
    config = copy.deepcopy(recipe.CONFIG)
    config["split"]["n_steps"] = 2
    done = []
    out = recipe.run("hnet_beta0.5", "split", 0, config, on_task_done=lambda learner, i: done.append(i))
    assert out["val"].shape == out["test"].shape == (5, 5) and done == [0, 1, 2, 3, 4]
    joint = recipe.run("joint_w32", "split", 0, config)
    assert joint["test"].shape == (5,)


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="method"):
        recipe.learner("sgd_w32", "split", 0, 5)
    with pytest.raises(ValueError, match="scenario"):
        recipe.scenario_config("rotated")
    with pytest.raises(ValueError, match="scenario"):
        recipe.make_tasks("rotated", 0)
