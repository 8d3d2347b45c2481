"""The course-time gate (tests/course_budget.py): nbval durations are summed per notebook, and the
session fails when the total exceeds the budget, without running any notebook twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from course_budget import COURSE_BUDGET_S, CourseClock

TESTS = Path(__file__).resolve().parent


def report(nodeid: str, duration: float) -> SimpleNamespace:
    return SimpleNamespace(nodeid=nodeid, duration=duration)


def test_sums_every_phase_of_nbval_cells_per_notebook_and_ignores_other_tests() -> None:
    clock = CourseClock(budget_s=10.0)
    for r in [
        report("notebooks/00_start_here.ipynb::Cell 0", 2.0),  # setup: kernel start
        report("notebooks/00_start_here.ipynb::Cell 0", 1.5),  # call
        report("notebooks/01_first_principles.ipynb::Cell 3", 4.0),
        report("tests/test_nav.py::test_check_mode_exit_codes", 100.0),  # not course time
    ]:
        clock.pytest_runtest_logreport(r)
    assert dict(clock.seconds) == {"notebooks/00_start_here.ipynb": 3.5, "notebooks/01_first_principles.ipynb": 4.0}
    assert clock.total_s == 7.5 and not clock.over_budget
    clock.pytest_runtest_logreport(report("notebooks/01_first_principles.ipynb::Cell 4", 2.6))
    assert clock.over_budget


@pytest.mark.parametrize(("exitstatus", "over", "expected"), [(0, True, 1), (0, False, 0), (1, False, 1), (1, True, 1)])
def test_session_fails_only_when_over_budget(exitstatus: int, over: bool, expected: int) -> None:
    clock = CourseClock(budget_s=1.0)
    clock.pytest_runtest_logreport(report("notebooks/a.ipynb::Cell 0", 2.0 if over else 0.5))
    session = SimpleNamespace(exitstatus=pytest.ExitCode(exitstatus))
    clock.pytest_sessionfinish(session)
    assert session.exitstatus == expected


def test_zero_budget_disables_and_negative_is_rejected() -> None:
    clock = CourseClock(budget_s=0.0)
    clock.pytest_runtest_logreport(report("notebooks/a.ipynb::Cell 0", 1e6))
    assert not clock.over_budget
    with pytest.raises(ValueError, match="--course-budget must be >= 0 seconds, got -1"):
        CourseClock(budget_s=-1)
    assert COURSE_BUDGET_S == 900.0


def test_real_nbval_session_over_budget_fails_with_a_table(tmp_path: Path) -> None:
    """A green one-cell notebook under nbval, with a tiny budget: the run must fail and say why."""
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": 1,
                "id": "a",
                "metadata": {},
                "outputs": [{"name": "stdout", "output_type": "stream", "text": ["2\n"]}],
                "source": ["print(1 + 1)"],
            }
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "00_tiny.ipynb").write_text(json.dumps(nb))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "course_budget", "-p", "no:cacheprovider", "--nbval",
         "--nbval-current-env", "--course-budget", "0.001", "notebooks"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "1 passed" in out.stdout, out.stdout[-2000:]
    assert out.returncode == 1, out.stdout[-2000:]
    assert "notebooks/00_tiny.ipynb" in out.stdout and "OVER BUDGET" in out.stdout
