"""The course website's build (tools/build_site.py): what it stages for Jupyter Book from the notebooks,
without building. `make site` builds the real site; tests/browser/test_site_in_browser.py opens it."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml
from test_nav import course, write_nb  # noqa: F401  (course is a fixture)

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_site", ROOT / "tools" / "build_site.py")
build_site = sys.modules["build_site"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_site)
nav = build_site.nav
REF = "v9.8.7"


@pytest.fixture
def mathjax(tmp_path: Path) -> Path:
    """A stand-in for MathJax's es5/ folder: the entry script the site loads."""
    es5 = tmp_path / "mathjax-es5"
    es5.mkdir()
    (es5 / build_site.MATHJAX_ENTRY).write_text("/* MathJax */")
    return es5


def test_landing_page_maps_every_lecture_with_launch_and_download_links(course: Path) -> None:  # noqa: F811
    lectures = nav.lectures(course)
    page = build_site.landing_page(f"# Course\n\nIntro.\n\n{build_site.MAP_MARKER}\n\nOutro.\n", lectures, REF)
    assert page.startswith("# Course\n\nIntro.\n\n| # | lecture | run it | notebook |") and page.endswith(
        "\n\nOutro.\n"
    )
    for lec in lectures:
        row = next(line for line in page.splitlines() if line.startswith(f"| {lec.number} |"))
        assert f"[{lec.title}]({lec.file})" in row  # the lecture's page on the site
        assert f"[Binder]({nav.binder_url(lec.file)})" in row and f"[Colab]({nav.colab_url(lec.file, REF)})" in row
        assert f"{{download}}`.ipynb <{lec.file}>`" in row


def test_landing_page_template_needs_the_marker_exactly_once(course: Path) -> None:  # noqa: F811
    for template in ("# no marker\n", f"{build_site.MAP_MARKER}\n{build_site.MAP_MARKER}\n"):
        with pytest.raises(ValueError, match="site/index.md must contain the line '<!-- course map -->' exactly once"):
            build_site.landing_page(template, nav.lectures(course), REF)


def test_the_committed_landing_page_has_the_marker() -> None:
    assert (ROOT / "site" / "index.md").read_text().count(build_site.MAP_MARKER) == 1


def test_table_of_contents_is_the_landing_page_then_the_lectures_in_order(course: Path) -> None:  # noqa: F811
    toc = yaml.safe_load(build_site.table_of_contents(nav.lectures(course)))
    assert toc == {
        "format": "jb-book",
        "root": "index",
        "chapters": [{"file": "00_start_here"}, {"file": "01_first"}, {"file": "02_few_shot"}],
    }
    with pytest.raises(ValueError, match="no lectures"):
        build_site.table_of_contents([])


def test_site_config_renders_without_executing_with_local_mathjax_and_launches_at_the_tag() -> None:
    config = yaml.safe_load(build_site.site_config((ROOT / "site" / "_config.yml").read_text(), REF))
    sphinx = config["sphinx"]["config"]
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["repository"]["branch"] == REF
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert "//" not in sphinx["mathjax_path"] and sphinx["html_static_path"] == [build_site.ASSETS]  # served locally
    assert sphinx["nb_ipywidgets_js"] == {}  # no widget manager from a CDN
    assert "sphinx_thebe" not in sphinx["extensions"]


def test_site_copy_hides_the_colab_setup_cell_and_drops_widget_state(course: Path) -> None:  # noqa: F811
    nav.update(course, ref=REF)
    nb = json.loads((course / "01_first.ipynb").read_text())
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    copy = build_site.site_copy(build_site.site_copy(nb))  # twice: tags are not repeated
    tags = [cell["metadata"].get("tags", []) for cell in copy["cells"]]
    assert tags[1] == [nav.COLAB_SETUP_TAG, "remove-cell"]
    assert all("remove-cell" not in t for i, t in enumerate(tags) if i != 1)
    assert "widgets" not in copy["metadata"]


def test_stage_writes_what_jupyter_book_reads(course: Path, mathjax: Path, tmp_path: Path) -> None:  # noqa: F811
    src = tmp_path / "src"
    (src / "stale.md").parent.mkdir(parents=True)
    (src / "stale.md").write_text("from an earlier build")
    staged = build_site.stage(src, notebooks=course, mathjax=mathjax, ref=REF)
    assert [p.name for p in staged] == ["00_start_here.ipynb", "01_first.ipynb", "02_few_shot.ipynb"]
    assert sorted(p.name for p in src.iterdir()) == sorted(
        ["_assets", "_config.yml", "_toc.yml", "index.md", *(p.name for p in staged)]
    )
    mathjax_path = yaml.safe_load((src / "_config.yml").read_text())["sphinx"]["config"]["mathjax_path"]
    assert (src / build_site.ASSETS / mathjax_path).is_file()  # what the pages load is where Sphinx copies from
    # no _static: Jupyter Book would then add every MathJax script to every page
    assert not (src / "_static").exists()
    assert nav.colab_url("02_few_shot.ipynb", REF) in (src / "index.md").read_text()


def test_stage_without_mathjax_says_how_to_get_it(course: Path, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(FileNotFoundError, match=r"MathJax not found: .*tex-chtml\.js .*`make site` installs it"):
        build_site.stage(tmp_path / "src", notebooks=course, mathjax=tmp_path / "nowhere", ref=REF)
    assert build_site.main(["--mathjax", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2


def test_downloads_are_the_committed_notebooks_byte_for_byte(course: Path, tmp_path: Path) -> None:  # noqa: F811
    html = tmp_path / "html"
    for copy in (html / "_sources" / "01_first.ipynb", html / "_downloads" / "abc123" / "01_first.ipynb"):
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text("{}")  # what Sphinx copied: the staged version
    committed = course / "01_first.ipynb"
    assert build_site.restore_downloads(html, [committed, course / "02_few_shot.ipynb"]) == 2
    assert (html / "_sources" / "01_first.ipynb").read_bytes() == committed.read_bytes()
    assert (html / "_downloads" / "abc123" / "01_first.ipynb").read_bytes() == committed.read_bytes()
