"""pytest plugin: fail the session when the whole course takes longer than its time budget under nbval.

Loaded by ``tests/conftest.py`` (``pytest_plugins``), so ``make test`` (``pytest --nbval ... tests notebooks``)
enforces it without executing any notebook a second time: it adds up the durations pytest already
measures for every nbval cell (setup, call and teardown, so kernel start and shutdown count too), per
notebook, and prints them at the end. Change or disable the limit with ``--course-budget SECONDS``
(0 disables it).
"""

from __future__ import annotations

from collections import defaultdict

import pytest

COURSE_BUDGET_S = 15 * 60.0  # the whole course, every notebook under nbval, on the 2-core CI machine
LECTURE_BUDGET_S = 60.0  # per lecture (tools/budget.py enforces it; shown here for information)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--course-budget",
        type=float,
        default=COURSE_BUDGET_S,
        metavar="SECONDS",
        help=f"fail if all notebooks under nbval take longer than this in total (default {COURSE_BUDGET_S:.0f}; 0: off)",
    )


class CourseClock:
    """Sums nbval durations per notebook; decides whether the course is over budget."""

    def __init__(self, budget_s: float) -> None:
        if budget_s < 0:
            raise ValueError(f"--course-budget must be >= 0 seconds, got {budget_s}")
        self.budget_s = budget_s
        self.seconds: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        path = report.nodeid.split("::", 1)[0]
        if path.endswith(".ipynb"):  # an nbval cell; other tests are not course time
            self.seconds[path] += report.duration

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())

    @property
    def over_budget(self) -> bool:
        return self.budget_s > 0 and self.total_s > self.budget_s

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.over_budget and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.seconds:
            return
        tr = terminalreporter
        tr.write_sep("-", "course time under nbval (kernel start + every cell)")
        for path, s in sorted(self.seconds.items()):
            flag = f"   over the {LECTURE_BUDGET_S:.0f} s lecture budget" if s > LECTURE_BUDGET_S else ""
            tr.write_line(f"{path:60s} {s:7.1f} s{flag}")
        verdict = "OVER BUDGET" if self.over_budget else "ok"
        limit = f"{self.budget_s:.0f} s" if self.budget_s > 0 else "off"
        tr.write_line(f"{'total':60s} {self.total_s:7.1f} s   (course budget {limit}): {verdict}", red=self.over_budget)
        if self.over_budget:
            tr.write_line(
                f"FAILED: the course takes {self.total_s:.0f} s under nbval, more than {self.budget_s:.0f} s. "
                "Run `make budget` to find the slow lectures.",
                red=True,
            )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(CourseClock(config.getoption("--course-budget")), "course-clock")
