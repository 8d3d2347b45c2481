"""tools/determinism.py: nbval under several settings or several times from fresh kernels, a table per notebook.

The end-to-end test (two real nbval runs over a deterministic and a random notebook) takes a minute
and runs only when asked: DETERMINISM_CHECK=1 python -m pytest tests/test_determinism.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("determinism", ROOT / "tools" / "determinism.py")
det = sys.modules["determinism"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(det)

NBS = [ROOT / "notebooks" / "00_start_here.ipynb", ROOT / "notebooks" / "01_first_principles.ipynb"]
PYTEST_OUT = """..F.F                                                                    [100%]
=========================== short test summary info ============================
PASSED notebooks/00_start_here.ipynb::Cell 0
PASSED notebooks/00_start_here.ipynb::Cell 1
PASSED ../../tmp/x/01_first_principles.ipynb::Cell 0
FAILED ../../tmp/x/01_first_principles.ipynb::Cell 4
ERROR ../../tmp/x/01_first_principles.ipynb::Cell 5 - nbval.plugin.NbCellError: boom
SKIPPED [1] tests/test_x.py:3: not today
2 failed, 3 passed in 9.10s"""


def test_parse_results_lists_failing_cells_per_notebook() -> None:
    assert det.parse_results(PYTEST_OUT) == {
        "00_start_here.ipynb": [],
        "01_first_principles.ipynb": ["Cell 4", "Cell 5"],
    }


def test_report_marks_a_notebook_deterministic_only_if_green_in_every_run() -> None:
    green = {"00_start_here.ipynb": [], "01_first_principles.ipynb": []}
    table, ok = det.report([green, det.parse_results(PYTEST_OUT), green], NBS)
    assert not ok
    assert "| 00_start_here.ipynb | ok | ok | ok | yes |" in table
    assert "| 01_first_principles.ipynb | ok | FAIL: Cell 4, Cell 5 | ok | NO |" in table
    table, ok = det.report([green, {"00_start_here.ipynb": []}], NBS)
    assert not ok and "| 01_first_principles.ipynb | ok | not run | NO |" in table
    assert det.report([green, green], NBS)[1]


def _nb(path: Path, code: str, output: str) -> Path:
    cell = {"cell_type": "code", "execution_count": 1, "id": "a", "metadata": {"tags": [det.CHECK_TAG]}, "source": [code],
            "outputs": [{"name": "stdout", "output_type": "stream", "text": [output]}]}  # fmt: skip
    kernel = {"display_name": "Python 3", "language": "python", "name": "python3"}
    path.write_text(
        json.dumps({"cells": [cell], "metadata": {"kernelspec": kernel}, "nbformat": 4, "nbformat_minor": 5})
    )
    return path


@pytest.mark.skipif(os.environ.get("DETERMINISM_CHECK") != "1", reason="slow: set DETERMINISM_CHECK=1 to run")
def test_end_to_end_flags_a_notebook_whose_output_changes_between_runs(tmp_path: Path, capsys) -> None:
    steady = _nb(tmp_path / "00_steady.ipynb", "print(sum(range(10)))", "45\n")
    flaky = _nb(
        tmp_path / "01_flaky.ipynb", "import random\nprint(random.random() < 2)\nprint(random.random())", "True\n0.5\n"
    )
    assert det.main(["--runs", "2", str(steady), str(flaky)]) == 1
    out = capsys.readouterr().out
    assert "| 00_steady.ipynb | ok | ok | yes |" in out
    assert "| 01_flaky.ipynb | FAIL: Cell 0 | FAIL: Cell 0 | NO |" in out
