"""Course navigation (tools/nav.py): every lecture has its title, Binder and Colab badges, prev/next links
and the Colab setup cell, they are up to date, every link in the course points to a file that exists,
and the setup cell does the right thing in Colab and nothing anywhere else."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("nav", ROOT / "tools" / "nav.py")
nav = sys.modules["nav"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nav)

MD_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"(?:href|src)\s*=\s*[\"']([^\"']+)[\"']")
BINDER = re.compile(r"https://mybinder\.org/v2/gh/([^/]+/[^/]+)/[^?\s)]+\?urlpath=lab/tree/([^\s)&#]+)")
COLAB = re.compile(r"https://colab\.research\.google\.com/github/([^/]+/[^/]+)/blob/([^/]+)/([^\s)#]+)")
REF = "v9.8.7"  # the fake course's release tag
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


def test_every_colab_link_opens_an_existing_notebook_at_this_release() -> None:
    found = 0
    for doc, markdown in course_documents():
        for slug, ref, path in COLAB.findall(markdown):
            found += 1
            assert slug == nav.REPO_SLUG, f"{doc.name}: Colab link to {slug}, expected {nav.REPO_SLUG}"
            assert ref == nav.release_ref(), f"{doc.name}: Colab link opens {ref}, this release is {nav.release_ref()}"
            assert (ROOT / path).is_file(), f"{doc.name}: Colab link opens {path}, which does not exist"
    assert found >= 1 + len(nav.lectures())  # README's badge, and at least one per lecture


def test_readme_badges_are_the_ones_nav_generates_for_lecture_00() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert nav.binder_url("00_start_here.ipynb") in readme
    assert nav.colab_url("00_start_here.ipynb", nav.release_ref()) in readme


def test_release_ref_is_the_pyproject_version_as_a_tag(tmp_path: Path) -> None:
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    assert nav.release_ref() == f"v{version}"
    (tmp_path / "pyproject.toml").write_text('[tool.x]\nversion = "1"\n[project]\nname = "x"\nversion = "2.0.1"\n')
    assert nav.release_ref(tmp_path / "pyproject.toml") == "v2.0.1"
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.x]\nversion = "1"\n')
    with pytest.raises(ValueError, match=r"pyproject.toml: no 'version = \"...\"' line in its \[project\] table"):
        nav.release_ref(tmp_path / "pyproject.toml")


def test_colab_extras_are_pinned_as_in_requirements() -> None:
    assert nav.pinned("ipympl") in (ROOT / "requirements.txt").read_text().splitlines()
    with pytest.raises(ValueError, match="requirements.txt has no 'no-such-package==VERSION' line"):
        nav.pinned("no-such-package")


# -- the generator, on a small fake course ------------------------------------------------------------


def test_title_cell_has_badges_for_this_lecture_and_prev_next_links(course: Path) -> None:
    lecs = nav.lectures(course)
    assert [(lec.number, lec.title) for lec in lecs] == [
        ("00", "Start here"),
        ("01", "First principles"),
        ("02", "Few-shot classification"),
    ]
    cell = nav.title_cell(lecs, 1, REF)
    assert cell.startswith("# 01 · First principles\n\n")
    assert links(cell)[:4] == [
        nav.BINDER_BADGE,
        nav.binder_url("01_first.ipynb"),
        nav.COLAB_BADGE,
        nav.colab_url("01_first.ipynb", REF),
    ]
    assert "urlpath=lab/tree/notebooks/01_first.ipynb" in cell
    assert f"colab.research.google.com/github/{nav.REPO_SLUG}/blob/{REF}/notebooks/01_first.ipynb" in cell
    assert links(cell)[4:] == ["00_start_here.ipynb", "02_few_shot.ipynb"]
    assert "[← 00 · Start here]" in cell and "[02 · Few-shot classification →]" in cell


def test_first_and_last_lectures_have_no_dangling_links(course: Path) -> None:
    lecs = nav.lectures(course)
    assert links(nav.title_cell(lecs, 0, REF))[4:] == ["01_first.ipynb"]  # no previous, no map link to itself
    assert links(nav.title_cell(lecs, 2, REF))[4:] == ["01_first.ipynb", "00_start_here.ipynb"]
    with pytest.raises(ValueError, match=r"lecture index must be in \[0, 3\), got 3"):
        nav.title_cell(lecs, 3, REF)


def test_update_rewrites_only_navigation_then_is_idempotent(course: Path) -> None:
    before = {p.name: json.loads(p.read_text()) for p in course.glob("*.ipynb")}
    assert [p.name for p in nav.update(course, write=False, ref=REF)] == sorted(before)  # --check: all stale
    assert {p.name: json.loads(p.read_text()) for p in course.glob("*.ipynb")} == before  # and untouched
    assert len(nav.update(course, ref=REF)) == 3
    assert nav.update(course, ref=REF) == [] and nav.update(course, write=False, ref=REF) == []
    for name, old in before.items():
        new = json.loads((course / name).read_text())
        assert len(new["cells"]) == len(old["cells"]) + 1  # the Colab setup cell, inserted as cell 1
        old_cells = [old["cells"][0], None, *old["cells"][1:]]
        changed = [i for i, (a, b) in enumerate(zip(old_cells, new["cells"])) if a != b]
        assert changed == ([0, 1, 3] if name.startswith("00") else [0, 1])  # title, setup, course map
        assert new["cells"][-1] == old["cells"][-1]  # code cells and outputs untouched
    course_map = "".join(json.loads((course / "00_start_here.ipynb").read_text())["cells"][3]["source"])
    assert links(course_map) == [
        f
        for name in ["00_start_here.ipynb", "01_first.ipynb", "02_few_shot.ipynb"]
        for f in (name, nav.binder_url(name), nav.colab_url(name, REF))
    ]


def test_check_mode_exit_codes(course: Path, capsys) -> None:
    assert nav.main(["--check", "--notebooks", str(course)]) == 1
    assert "out of date: 01_first.ipynb" in capsys.readouterr().out
    assert nav.main(["--notebooks", str(course)]) == 0
    assert nav.main(["--check", "--notebooks", str(course)]) == 0


# -- the Colab setup cell -------------------------------------------------------------------------------


def setup_cells(course: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text())["cells"][1] for p in sorted(course.glob("*.ipynb"))}


def test_every_lecture_gets_the_same_tagged_setup_cell_as_its_first_code_cell(course: Path) -> None:
    nav.update(course, ref=REF)
    cells = setup_cells(course)
    expected = nav.colab_setup_source(REF, [nav.pinned("ipympl")])
    for name, cell in cells.items():
        assert cell["cell_type"] == "code" and cell["metadata"]["tags"] == [nav.COLAB_SETUP_TAG], name
        assert "".join(cell["source"]) == expected and cell["outputs"] == [], name
        first_code = next(c for c in json.loads((course / name).read_text())["cells"] if c["cell_type"] == "code")
        assert first_code["id"] == cell["id"] == nav.COLAB_SETUP_TAG


def test_check_treats_the_setup_cell_as_navigation(course: Path) -> None:
    nav.update(course, ref=REF)
    path = course / "01_first.ipynb"
    pristine = path.read_text()
    edits = {
        "edited": lambda cells: cells[1].update(source="print('hi')"),
        "run in Colab, outputs saved": lambda cells: cells[1].update(outputs=[{"output_type": "stream"}]),
        "moved": lambda cells: cells.append(cells.pop(1)),
        "deleted": lambda cells: cells.pop(1),
    }
    for what, edit in edits.items():
        nb = json.loads(pristine)
        edit(nb["cells"])
        path.write_text(json.dumps(nb))
        assert nav.update(course, write=False, ref=REF) == [path], what
        nav.update(course, ref=REF)
        assert json.loads(path.read_text()) == json.loads(pristine), what


def test_a_second_setup_cell_is_an_error_that_names_the_notebook(course: Path) -> None:
    nav.update(course, ref=REF)
    nb = json.loads((course / "02_few_shot.ipynb").read_text())
    nb["cells"].append({**nb["cells"][1], "id": "copy"})
    (course / "02_few_shot.ipynb").write_text(json.dumps(nb))
    with pytest.raises(ValueError, match=r"02_few_shot.ipynb: cells \[1, 3\] are all tagged 'colab-setup'"):
        nav.update(course, ref=REF)


def test_setup_cell_passes_the_projects_lint_and_format() -> None:
    source = nav.colab_setup_source(nav.release_ref(), [nav.pinned("ipympl")])
    for args in (["check", "--no-cache"], ["format", "--check", "--no-cache"]):
        ruff = subprocess.run(
            [sys.executable, "-m", "ruff", *args, "--config", str(ROOT / "pyproject.toml"), "--stdin-filename", "x.py", "-"],
            input=source + "\n", capture_output=True, text=True,
        )  # fmt: skip
        assert ruff.returncode == 0, ruff.stdout + ruff.stderr


def run_setup_cell(monkeypatch, colab: types.ModuleType | None, cloned: bool = False) -> list[tuple]:
    """Execute the setup cell as a kernel would, with subprocess.run, os.chdir and os.path.isdir faked;
    with ``colab`` as the ``google.colab`` module (None: not in Colab). Returns the calls it made."""
    calls: list[tuple] = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(("run", cmd, kw)))
    monkeypatch.setattr(os, "chdir", lambda path: calls.append(("chdir", path)))
    monkeypatch.setattr(os.path, "isdir", lambda path: cloned)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("HYPERNET_CHECKPOINTS", "(before the cell)")  # the cell sets it; monkeypatch puts it back
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    if colab is not None:
        monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
        monkeypatch.setitem(sys.modules, "google.colab", colab)
    exec(nav.colab_setup_source("v0.2.0", ["ipympl==0.10.0"]), {"__name__": "__main__"})
    return calls


def fake_colab(calls: list) -> types.ModuleType:
    colab = types.ModuleType("google.colab")
    colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append(("widgets on",)))
    return colab


def test_outside_colab_the_setup_cell_does_nothing_and_prints_nothing(monkeypatch, capsys) -> None:
    path_before = list(sys.path)
    assert run_setup_cell(monkeypatch, colab=None) == []
    assert sys.path == path_before
    assert capsys.readouterr() == ("", "")


def test_in_colab_the_setup_cell_clones_this_release_installs_the_library_and_enters_notebooks(
    monkeypatch, capsys
) -> None:
    widget_calls: list = []
    path_before = list(sys.path)
    calls = run_setup_cell(monkeypatch, fake_colab(widget_calls))
    repo = "/content/" + nav.REPO_SLUG.split("/")[1]
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    assert calls == [
        ("run", ["git", "clone", "--quiet", "--depth=1", "--branch=v0.2.0", f"https://github.com/{nav.REPO_SLUG}", repo],
         {"check": True}),
        ("run", [*pip, repo, "ipympl==0.10.0"], {"check": True}),  # torch, matplotlib: Colab's own
        ("chdir", f"{repo}/notebooks"),
    ]  # fmt: skip
    assert os.environ["HYPERNET_CHECKPOINTS"] == f"{repo}/checkpoints"  # the installed library finds the models
    assert sys.path == path_before  # a regular install: nothing on sys.path to edit
    assert widget_calls == [("widgets on",)]
    assert capsys.readouterr() == ("", "")


def test_in_colab_a_second_run_does_not_clone_again(monkeypatch) -> None:
    calls = run_setup_cell(monkeypatch, fake_colab([]), cloned=True)
    assert [c[1][0] for c in calls if c[0] == "run"] == [sys.executable]  # pip only, no git


def test_in_a_colab_without_the_custom_widget_manager_it_points_to_the_stills(monkeypatch, capsys) -> None:
    calls = run_setup_cell(monkeypatch, types.ModuleType("google.colab"))  # no `output` attribute
    assert calls[-1][0] == "chdir"
    assert capsys.readouterr().out == (
        "The sliders may not redraw in this Colab; the still below each panel shows its figures.\n"
    )


def test_colab_url_rejects_bad_names_and_refs() -> None:
    with pytest.raises(ValueError, match="expected a lecture file name"):
        nav.colab_url("../README.md", "v1.0.0")
    with pytest.raises(ValueError, match=r"ref must be a git tag or branch name like 'v0.2.0', got 'v1 0'"):
        nav.colab_url("01_first.ipynb", "v1 0")


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
