"""Specification of lecture 08's recipe: the fixed search setup and the capacity-and-steps study."""

import copy

import pytest
import torch

from course import lec08_archsearch as recipe
from hypernet_lib import count_parameters


def test_the_setup_is_the_same_every_time_and_holds_out_what_it_ranks():
    a, b = recipe.setup(), recipe.setup()
    assert a.held_out == b.held_out and torch.equal(a.x_val, b.x_val)
    assert len(a.held_out) == recipe.CONFIG["n_held_out"] and not set(a.held_out) & set(a.seen)
    assert len(a.held_out) + len(a.seen) == len(a.space.all())


def test_the_lectures_setting_is_one_cell_of_the_study():
    c = recipe.CONFIG
    assert c["hnet_hidden"] in c["study_hidden"] and c["hnet_steps"] in c["study_steps"]
    bad = {**c, "study_steps": (200, 400)}
    with pytest.raises(ValueError, match="cell of the study"):
        recipe.train(bad)


def test_scoring_part_way_changes_nothing_and_equals_a_shorter_run():
    config = copy.deepcopy(recipe.CONFIG)
    s = recipe.setup(config)
    long, scores = recipe.train_smash(s, hidden=4, seed=1, config=config, score_at=(3, 6))
    short, _ = recipe.train_smash(s, hidden=4, seed=1, config={**config, "hnet_steps": 3})
    assert set(scores) == {3, 6}
    from hypernet_lib.apps.archsearch import smash_accuracy

    torch.testing.assert_close(smash_accuracy(short, s.space, s.held_out, s.x_val, s.y_val).cpu(), scores[3])
    assert count_parameters(long) == count_parameters(recipe.build(s.space, s.seen, 4, 0))
