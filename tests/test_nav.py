"""Course navigation (tools/nav.py): every lecture has its title, Binder badge and prev/next links,
they are up to date, and every link in the course points to a file that exists."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("nav", ROOT / "tools" / "nav.py")
nav = sys.modules["nav"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nav)

MD_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"(?:href|src)\s*=\s*[\"']([^\"']+)[\"']")
BINDER = re.compile(r"https://mybinder\.org/v2/gh/([^/]+/[^/]+)/[^?\s)]+\?urlpath=lab/tree/([^\s)&#]+)")
EXTERNAL = ("http://", "https://", "mailto:", "#", "data:", "attachment:")


def links(markdown: str) -> list[str]:
    """Link and image targets, in order; a badge ``[![alt](image)](target)`` gives image, then target."""
    return MD_LINK.findall(markdown) + HTML_LINK.findall(markdown)


def course_documents() -> list[tuple[Path, str]]:
    """(file, markdown) for README.md and every markdown cell of every notebook."""
    docs = [(ROOT / "README.md", (ROOT / "README.md").read_text(encoding="utf-8"))]
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "markdown":
                docs.append((path, "".join(cell["source"])))
    return docs


def write_nb(path: Path, *markdown: str, tags: dict[int, list[str]] | None = None) -> Path:
    cells = [{"cell_type": "markdown", "id": f"c{i}", "metadata": {}, "source": md} for i, md in enumerate(markdown)]
    for i, t in (tags or {}).items():
        cells[i]["metadata"]["tags"] = t
    cells.append(
        {"cell_type": "code", "execution_count": 1, "id": "code", "metadata": {}, "outputs": [], "source": "1"}
    )
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n")
    return path


@pytest.fixture
def course(tmp_path: Path) -> Path:
    write_nb(tmp_path / "00_start_here.ipynb", "# 00 · Start here", "Map prose.", "old map", tags={2: ["course-map"]})
    write_nb(tmp_path / "01_first.ipynb", "# 01 · First principles\n\nstale nav line")
    write_nb(tmp_path / "02_few_shot.ipynb", "# 02 · Few-shot classification")
    return tmp_path


# -- the real course ------------------------------------------------------------------------------------


def test_committed_notebooks_have_up_to_date_navigation() -> None:
    stale = nav.update(nav.NOTEBOOKS, write=False)
    assert stale == [], f"run `python tools/nav.py`: out of date: {[p.name for p in stale]}"


def test_every_relative_link_points_to_an_existing_file() -> None:
    missing = []
    for doc, markdown in course_documents():
        for target in links(markdown):
            if target.startswith(EXTERNAL):
                continue
            file = target.split("#", 1)[0].split("?", 1)[0]
            if file and not (doc.parent / file).exists():
                missing.append(f"{doc.relative_to(ROOT)}: {target}")
    assert missing == []


def test_every_binder_link_opens_an_existing_notebook_of_this_repository() -> None:
    found = 0
    for doc, markdown in course_documents():
        for slug, path in BINDER.findall(markdown):
            found += 1
            assert slug == nav.REPO_SLUG, f"{doc.name}: Binder link to {slug}, expected {nav.REPO_SLUG}"
            assert (ROOT / path).is_file(), f"{doc.name}: Binder link opens {path}, which does not exist"
    assert found >= 1 + len(nav.lectures())  # README's badge, and at least one per lecture


def test_readme_badge_is_the_one_nav_generates_for_lecture_00() -> None:
    assert nav.binder_url("00_start_here.ipynb") in (ROOT / "README.md").read_text(encoding="utf-8")


# -- the generator, on a small fake course ------------------------------------------------------------


def test_title_cell_has_badge_for_this_lecture_and_prev_next_links(course: Path) -> None:
    lecs = nav.lectures(course)
    assert [(lec.number, lec.title) for lec in lecs] == [
        ("00", "Start here"),
        ("01", "First principles"),
        ("02", "Few-shot classification"),
    ]
    cell = nav.title_cell(lecs, 1)
    assert cell.startswith("# 01 · First principles\n\n")
    assert f"]({nav.binder_url('01_first.ipynb')})" in cell
    assert "urlpath=lab/tree/notebooks/01_first.ipynb" in cell
    assert links(cell)[2:] == ["00_start_here.ipynb", "02_few_shot.ipynb"]
    assert "[← 00 · Start here]" in cell and "[02 · Few-shot classification →]" in cell


def test_first_and_last_lectures_have_no_dangling_links(course: Path) -> None:
    lecs = nav.lectures(course)
    assert links(nav.title_cell(lecs, 0))[2:] == ["01_first.ipynb"]  # no previous, no map link to itself
    assert links(nav.title_cell(lecs, 2))[2:] == ["01_first.ipynb", "00_start_here.ipynb"]
    with pytest.raises(ValueError, match=r"lecture index must be in \[0, 3\), got 3"):
        nav.title_cell(lecs, 3)


def test_update_rewrites_only_first_cell_and_course_map_then_is_idempotent(course: Path) -> None:
    before = {p.name: json.loads(p.read_text()) for p in course.glob("*.ipynb")}
    assert [p.name for p in nav.update(course, write=False)] == sorted(before)  # --check: all stale
    assert {p.name: json.loads(p.read_text()) for p in course.glob("*.ipynb")} == before  # and untouched
    assert len(nav.update(course)) == 3
    assert nav.update(course) == [] and nav.update(course, write=False) == []
    for name, old in before.items():
        new = json.loads((course / name).read_text())
        changed = [i for i, (a, b) in enumerate(zip(old["cells"], new["cells"])) if a != b]
        assert changed == ([0, 2] if name.startswith("00") else [0])
        assert new["cells"][-1] == old["cells"][-1]  # code cells and outputs untouched
    course_map = "".join(json.loads((course / "00_start_here.ipynb").read_text())["cells"][2]["source"])
    assert links(course_map) == [
        f
        for name in ["00_start_here.ipynb", "01_first.ipynb", "02_few_shot.ipynb"]
        for f in (name, nav.binder_url(name))
    ]


def test_check_mode_exit_codes(course: Path, capsys) -> None:
    assert nav.main(["--check", "--notebooks", str(course)]) == 1
    assert "out of date: 01_first.ipynb" in capsys.readouterr().out
    assert nav.main(["--notebooks", str(course)]) == 0
    assert nav.main(["--check", "--notebooks", str(course)]) == 0


@pytest.mark.parametrize(
    ("name", "title", "message"),
    [
        ("03_x.ipynb", "03 · no hash", "first line should look like '# 03 · Title'"),
        ("03_x.ipynb", "# 04 · Wrong number", "title number 04 does not match the file name"),
        ("03_x.ipynb", "# 03 - Dash instead of middle dot", "first line should look like"),
        ("03_bad-name.ipynb", "# 03 · Bad file name", "expected a name like"),
    ],
)
def test_bad_titles_and_names_are_reported(course: Path, name: str, title: str, message: str) -> None:
    write_nb(course / name, title)
    with pytest.raises(ValueError, match=re.escape(message)):
        nav.lectures(course)
    assert nav.main(["--check", "--notebooks", str(course)]) == 2


def test_binder_url_rejects_non_lecture_names() -> None:
    with pytest.raises(ValueError, match="expected a lecture file name"):
        nav.binder_url("../README.md")


def test_rewriting_keeps_the_nbformat_layout_byte_for_byte(tmp_path: Path) -> None:
    """A notebook written by nbformat/JupyterLab, read and written back unchanged, is identical."""
    original = (ROOT / "tests" / "browser" / "fixtures" / "slider_fixture.ipynb").read_text(encoding="utf-8")
    nav._write(tmp_path / "x.ipynb", json.loads(original))
    assert (tmp_path / "x.ipynb").read_text(encoding="utf-8") == original
