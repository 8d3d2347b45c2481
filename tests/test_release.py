"""Release metadata: one version everywhere, both licences stated where tools and readers look, and a
citation that points at this repository. (`make citation-check` validates CITATION.cff against the
CFF 1.2.0 schema.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from test_nav import nav

ROOT = Path(__file__).resolve().parents[1]

PYPROJECT = (ROOT / "pyproject.toml").read_text()
CITATION = yaml.safe_load((ROOT / "CITATION.cff").read_text())
VERSION = nav.release_ref().removeprefix("v")


def test_citation_changelog_and_readme_carry_the_pyproject_version() -> None:
    assert str(CITATION["version"]) == VERSION
    first_entry = re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE).group(1)
    assert first_entry == VERSION, "CHANGELOG.md's first entry should be the version in pyproject.toml"
    assert f"version {VERSION}." in (ROOT / "README.md").read_text(), "README's citation example names another version"


def test_code_is_mit_and_prose_and_figures_are_cc_by_4() -> None:
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    cc = (ROOT / "LICENSE-CC-BY-4.0").read_text()
    assert "https://creativecommons.org/licenses/by/4.0/legalcode" in cc
    assert "Attribution 4.0 International Public License" in cc  # the legal code itself, not only a pointer
    assert re.search(r'^license = "MIT AND CC-BY-4.0"$', PYPROJECT, re.MULTILINE)
    assert re.search(r'^license-files = \["LICENSE", "LICENSE-CC-BY-4.0"\]$', PYPROJECT, re.MULTILINE)
    assert sorted(CITATION["license"]) == ["CC-BY-4.0", "MIT"]
    readme = (ROOT / "README.md").read_text()
    assert "[MIT licence](LICENSE)" in readme and "[CC BY 4.0](LICENSE-CC-BY-4.0)" in readme


def test_citation_is_cff_1_2_and_points_at_this_repository() -> None:
    assert CITATION["cff-version"] == "1.2.0"
    assert CITATION["repository-code"] == f"https://github.com/{nav.REPO_SLUG}"
    assert CITATION["title"] and CITATION["authors"] and CITATION["message"]
