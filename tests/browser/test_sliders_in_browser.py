"""Every lecture with sliders, in a real Chromium driving JupyterLab.

For each notebook: open it, clear all outputs, run all cells, require that no cell raised (cells tagged
``raises-exception`` excepted) and every cell ran, then move every slider with a key press on the
focused handle and with a mouse drag, and require that the figure's pixels and the slider's readout
change. Key press -> repaint latencies are printed as a table at the end of the session (not asserted).

The two fixture notebooks check the harness itself: one must pass with every check, the other has
deliberate faults that each check must catch.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_harness import ARTIFACTS, FIXTURES, NotebookDriver, slider_notebooks

LECTURES = [pytest.param(p, id=p.stem) for p in slider_notebooks()] or [
    pytest.param(None, id="none-yet", marks=pytest.mark.skip(reason="no notebooks/NN_*.ipynb with sliders yet"))
]


def run_notebook(page, lab_server, notebook: Path) -> NotebookDriver:
    driver = NotebookDriver(page, lab_server, notebook, shots_dir=ARTIFACTS)
    driver.open()
    driver.clear_and_run_all()
    return driver


@pytest.mark.parametrize("notebook", LECTURES)
def test_lecture_sliders_redraw_in_browser(notebook: Path, lab_page, lab_server, latency_results) -> None:
    driver = run_notebook(lab_page, lab_server, notebook)
    problems = driver.cell_problems()
    assert not problems, f"{notebook.name} after Run All in JupyterLab:\n" + "\n".join(problems)
    driver.move_sliders()
    assert driver.result.sliders, f"{notebook.name} mentions sliders in its code but none rendered in the browser"
    latency_results.append(driver.result)


def test_harness_passes_a_working_slider_panel(lab_page, lab_server, latency_results) -> None:
    driver = run_notebook(lab_page, lab_server, FIXTURES / "slider_fixture.ipynb")
    assert driver.cell_problems() == []
    driver.move_sliders()
    sliders = driver.result.sliders
    assert [s.description for s in sliders] == ["frequency", "amplitude"]
    assert all(s.figure_scope == "panel" for s in sliders)
    # the slider's own readout moved by one step on the key press, and the kernel's Label followed
    assert (sliders[0].readout_before, sliders[0].readout_after_key) == ("1.00", "1.25")
    assert (sliders[1].readout_before, sliders[1].readout_after_key) == ("1", "2")
    assert all(s.text_changed for s in sliders)
    assert all(ms > 0 for s in sliders for ms in s.key_ms)
    assert [p.name for p in driver.result.screenshots] == ["slider_fixture-before.png", "slider_fixture-after.png"]
    assert all(p.stat().st_size > 1000 for p in driver.result.screenshots)
    latency_results.append(driver.result)


def test_harness_catches_broken_notebook(lab_page, lab_server) -> None:
    driver = run_notebook(lab_page, lab_server, FIXTURES / "broken_slider.ipynb")
    problems = driver.cell_problems()
    assert len(problems) == 2, problems
    assert problems[0].startswith("cell 3 raised ZeroDivisionError") and "raises-exception" in problems[0]
    assert problems[1] == "cell 4 did not run (Run All stopped before it)"
    driver.redraw_timeout_s = 3  # the figure never repaints; do not wait the full limit
    with pytest.raises(AssertionError, match="did not repaint"):
        driver.move_sliders()
