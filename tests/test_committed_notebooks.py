"""What a reader sees in a committed notebook, on GitHub or the website, without running it.

Every lecture is committed executed top to bottom in a fresh kernel; it holds no error it does not
announce, no progress bar frozen mid-run, no profiler log lines; every slider panel is followed by a PNG
still; and the outputs nbval compares (cells tagged ``nbval-check-output``) hold nothing that differs
between machines: no device names, timings or memory figures.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CHECK_TAG = "nbval-check-output"
PARTIAL_BAR = re.compile(r"(?<!\d)(\d{1,2})%\||\b0%\|")
MACHINE_SPECIFIC = re.compile(
    r"\b(cuda|cpu|mps)\b(?!\s+(threads|cores))|\b\d+(\.\d+)?\s?(ms|µs|s|sec|seconds|minutes|MB|GB|kB|MiB|GiB)\b"
)


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def text_of(output: dict) -> str:
    if output.get("output_type") == "stream":
        return "".join(output.get("text", ""))
    data = output.get("data", {})
    return "".join(data.get("text/plain", "")) + "".join(data.get("text/html", ""))


def widget_state(path: Path) -> dict:
    meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    return meta.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})


def is_canvas_panel(output: dict, state: dict) -> bool:
    """A widget output whose widget tree holds an ipympl canvas: a live figure a static reader cannot see."""
    view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
    todo, seen = ([view["model_id"]] if view else []), set()
    while todo:
        m = todo.pop()
        if m in seen or m not in state:
            continue
        seen.add(m)
        if state[m].get("model_name") == "MPLCanvasModel":
            return True
        children = state[m].get("state", {}).get("children", [])
        todo += [c.replace("IPY_MODEL_", "") for c in children if isinstance(c, str)]
    return False


@pytest.fixture(params=LECTURES, ids=lambda p: p.name)
def lecture(request) -> Path:
    return request.param


def test_executed_top_to_bottom_in_one_fresh_kernel(lecture):
    counts = [c.get("execution_count") for c in cells(lecture) if c["cell_type"] == "code"]
    assert counts == list(range(1, len(counts) + 1)), f"execution counts {counts[:8]}…: re-execute it in a fresh kernel"


def test_no_error_output_except_in_cells_that_announce_it(lecture):
    for i, c in enumerate(cells(lecture)):
        if c["cell_type"] != "code":
            continue
        announced = "raises-exception" in c.get("metadata", {}).get("tags", [])
        errors = [o for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert announced or not errors, f"cell {i} holds an error: {errors[0].get('ename')}: {errors[0].get('evalue')}"


def test_no_unfinished_progress_bar_and_no_log_noise(lecture):
    for i, c in enumerate(cells(lecture)):
        for o in c.get("outputs", []):
            text = text_of(o)
            bar = PARTIAL_BAR.search(text)
            assert not bar, (
                f"cell {i}: a progress bar saved mid-run ({bar.group(0)!r}); execute with HYPERNET_PROGRESS=summary"
            )
            assert "USDT:" not in text and "profiler_start" not in text, f"cell {i}: profiler log lines in an output"
            view = o.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            plain = "".join(o.get("data", {}).get("text/plain", ""))
            assert not (view and "Progress" in plain), f"cell {i}: a progress-bar widget saved in the output"


def test_every_slider_panel_is_followed_by_a_png_still(lecture):
    all_cells, state = cells(lecture), widget_state(lecture)
    for i, c in enumerate(all_cells):
        if any(is_canvas_panel(o, state) for o in c.get("outputs", [])):
            following = [o for cc in all_cells[i : i + 4] for o in cc.get("outputs", [])]
            assert any("image/png" in o.get("data", {}) for o in following), (
                f"cell {i}: a slider panel with no PNG still in it or in the next 3 cells (GitHub shows nothing)"
            )


def test_compared_outputs_hold_nothing_machine_specific(lecture):
    for i, c in enumerate(cells(lecture)):
        if CHECK_TAG not in c.get("metadata", {}).get("tags", []):
            continue
        for o in c.get("outputs", []):
            assert "image/png" not in o.get("data", {}), f"cell {i}: nbval would compare image bytes"
            found = MACHINE_SPECIFIC.search(text_of(o))
            assert not found, f"cell {i}: a compared output holds {found.group(0)!r}, which differs between machines"
