"""Generate each lecture's navigation so it never drifts: title, Binder and Colab badges, previous/next
links, and the Colab setup cell.

    python tools/nav.py            # rewrite every notebook whose navigation is out of date
    python tools/nav.py --check    # exit 1 and name the notebooks that are out of date (CI)

What it writes, and nothing else:

- the first cell of every ``notebooks/NN_*.ipynb``: its title line (kept as the author wrote it,
  ``# NN · Title``), then Binder and Colab badges that open this very lecture and links to the
  previous and next lectures (and to the course map in lecture 00);
- the second cell of every lecture: the code cell tagged ``colab-setup``, the same in every lecture.
  In Colab it clones this repository at the release tag the Colab badge opens, installs the library
  and changes into ``notebooks/``; anywhere else it does nothing and prints nothing;
- in lecture 00, the markdown cell tagged ``course-map`` (if there is one): a table of every lecture,
  linked. The prose around it is the author's.

Titles come from the notebooks themselves, so renaming a lecture means editing its title line and
running this script. Nothing it writes has outputs, so refreshing navigation needs no re-execution;
only when it first inserts the setup cell into a lecture (which shifts the execution counts of the
cells below it) re-execute that lecture once.

Binder opens the newest commit (``HEAD``); Colab opens the release tag ``v<version>`` (the version in
``pyproject.toml``), because its setup cell must clone the very version of the library that the
notebook it opened was written for, and a notebook cannot name its own commit. Tag each release.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PYPROJECT = ROOT / "pyproject.toml"
REQUIREMENTS = ROOT / "requirements.txt"
# The one place the GitHub repository is named; README's badges must use the same URLs.
REPO_SLUG = "hypernetworks-hands-on/hypernetworks-hands-on"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
COURSE_MAP_TAG = "course-map"
COLAB_SETUP_TAG = "colab-setup"
# What the lectures need that Colab does not come with; pinned as in requirements.txt.
COLAB_EXTRAS = ("ipympl",)
NAME_RE = re.compile(r"^(\d{2})_[A-Za-z0-9_]+\.ipynb$")
TITLE_RE = re.compile(r"^#\s+(\d{2})\s+·\s+(\S.*?)\s*$")


@dataclass(frozen=True)
class Lecture:
    path: Path
    number: str  # "03"
    title: str  # "MAML vs hypernetworks"

    @property
    def file(self) -> str:
        return self.path.name

    @property
    def label(self) -> str:
        return f"{self.number} · {self.title}"


def _check_lecture_file(file: str) -> None:
    if not NAME_RE.match(file):
        raise ValueError(f"expected a lecture file name like '01_first_principles.ipynb', got {file!r}")


def binder_url(file: str) -> str:
    """mybinder.org URL that builds the repository and opens ``notebooks/<file>`` in JupyterLab."""
    _check_lecture_file(file)
    return f"https://mybinder.org/v2/gh/{REPO_SLUG}/HEAD?urlpath=lab/tree/notebooks/{file}"


def release_ref(pyproject: Path = PYPROJECT) -> str:
    """The git tag of this version of the course: ``v`` + ``[project] version`` of ``pyproject.toml``."""
    text = pyproject.read_text(encoding="utf-8")
    project = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.MULTILINE | re.DOTALL)
    version = project and re.search(r'^version\s*=\s*"([^"]+)"', project.group(1), re.MULTILINE)
    if not version:
        raise ValueError(f"{pyproject.name}: no 'version = \"...\"' line in its [project] table")
    return f"v{version.group(1)}"


def colab_url(file: str, ref: str) -> str:
    """Colab URL that opens ``notebooks/<file>`` of the repository at git ref ``ref`` (a release tag)."""
    _check_lecture_file(file)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", ref):
        raise ValueError(f"ref must be a git tag or branch name like 'v0.2.0', got {ref!r}")
    return f"https://colab.research.google.com/github/{REPO_SLUG}/blob/{ref}/notebooks/{file}"


def pinned(package: str, requirements: Path = REQUIREMENTS) -> str:
    """``package==version`` as ``requirements.txt`` pins it."""
    m = re.search(rf"^{re.escape(package)}==(\S+)", requirements.read_text(encoding="utf-8"), re.MULTILINE)
    if not m:
        raise ValueError(f"{requirements.name} has no '{package}==VERSION' line")
    return f"{package}=={m.group(1)}"


def colab_setup_source(ref: str, extras: list[str]) -> str:
    """The code of the ``colab-setup`` cell: in Colab, clone the course at ``ref`` and install the library
    and ``extras`` (pinned requirements) without their dependencies; elsewhere, nothing."""
    repo_dir = "/content/" + REPO_SLUG.split("/")[1]
    return f"""\
# Colab only: fetch this course at the release this notebook comes from and install its library.
# Anywhere else (Binder, your own machine) this cell does nothing.
import sys

if "google.colab" in sys.modules:
    import importlib
    import os
    import subprocess

    repo = "{repo_dir}"
    if not os.path.isdir(repo):
        url = "https://github.com/{REPO_SLUG}"
        subprocess.run(["git", "clone", "--quiet", "--depth=1", "--branch={ref}", url, repo], check=True)
    # Colab comes with torch, matplotlib and the rest: add only the course library and {" and ".join(e.split("==")[0] for e in extras)}.
    # A regular (not editable) install lands in site-packages, so this kernel imports it without a restart.
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    subprocess.run([*pip, repo, {", ".join(f'"{e}"' for e in extras)}], check=True)
    importlib.invalidate_caches()
    os.environ["HYPERNET_CHECKPOINTS"] = f"{{repo}}/checkpoints"  # the shipped models, for the installed copy
    os.chdir(f"{{repo}}/notebooks")
    try:
        from google.colab import output

        output.enable_custom_widget_manager()  # ipympl's live figures need it
    except (ImportError, AttributeError):
        print("The sliders may not redraw in this Colab; the still below each panel shows its figures.")"""


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _write(path: Path, nb: dict) -> None:
    # the same layout nbformat and JupyterLab write, so rewriting a cell changes only that cell's lines
    path.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def lectures(nb_dir: Path = NOTEBOOKS) -> list[Lecture]:
    """Every ``NN_*.ipynb`` in ``nb_dir``, in order, with the title read from its first cell.

    Raises ValueError when a first cell is not markdown starting with ``# NN · Title`` whose number
    matches the file name, or when two files share a number.
    """
    found: list[Lecture] = []
    for path in sorted(nb_dir.glob("[0-9][0-9]_*.ipynb")):
        if not NAME_RE.match(path.name):
            raise ValueError(f"{path.name}: expected a name like '01_first_principles.ipynb'")
        cells = _read(path).get("cells", [])
        if not cells or cells[0].get("cell_type") != "markdown":
            raise ValueError(f"{path.name}: the first cell must be markdown with the title line '# NN · Title'")
        first_line = _source(cells[0]).split("\n", 1)[0]
        m = TITLE_RE.match(first_line)
        if not m:
            raise ValueError(
                f"{path.name}: first line should look like '# {path.name[:2]} · Title', got {first_line!r}"
            )
        if m.group(1) != path.name[:2]:
            raise ValueError(f"{path.name}: title number {m.group(1)} does not match the file name")
        if found and found[-1].number == m.group(1):
            raise ValueError(f"{found[-1].file} and {path.name} share the number {m.group(1)}")
        found.append(Lecture(path, m.group(1), m.group(2)))
    return found


def title_cell(all_lectures: list[Lecture], i: int, ref: str) -> str:
    """Markdown of lecture ``i``'s first cell: title line, Binder and Colab badges (Colab at git ref
    ``ref``), previous / map / next links."""
    if not 0 <= i < len(all_lectures):
        raise ValueError(f"lecture index must be in [0, {len(all_lectures)}), got {i}")
    lec = all_lectures[i]
    parts = [
        f"[![Open this lecture in Binder]({BINDER_BADGE})]({binder_url(lec.file)}) "
        f"[![Open this lecture in Colab]({COLAB_BADGE})]({colab_url(lec.file, ref)})"
    ]
    if i > 0:
        prev = all_lectures[i - 1]
        parts.append(f"[← {prev.label}]({prev.file})")
    if i > 1 and all_lectures[0].number == "00":  # (lecture 01's previous link already is the map)
        parts.append(f"[course map]({all_lectures[0].file})")
    if i + 1 < len(all_lectures):
        nxt = all_lectures[i + 1]
        parts.append(f"[{nxt.label} →]({nxt.file})")
    return f"# {lec.label}\n\n" + " · ".join(parts)


def course_map(all_lectures: list[Lecture], ref: str) -> str:
    """Markdown table of every lecture, each linked, with a Binder and a Colab link per lecture."""
    rows = [
        "<!-- generated by tools/nav.py from each lecture's title line: edit those, then run it -->",
        "| # | lecture | Binder | Colab |",
        "|---|---|---|---|",
    ]
    rows += [
        f"| {lec.number} | [{lec.title}]({lec.file}) | [open]({binder_url(lec.file)}) | [open]({colab_url(lec.file, ref)}) |"
        for lec in all_lectures
    ]
    return "\n".join(rows)


def _set_source(cell: dict, text: str) -> bool:
    """Replace a cell's source with ``text``; True when that changed it."""
    if _source(cell) == text:
        return False
    cell["source"] = text.splitlines(keepends=True)
    return True


def _tagged(cell: dict, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def _place_colab_setup(nb: dict, source: str, where: str) -> bool:
    """Make cell 1 of ``nb`` the ``colab-setup`` code cell with ``source`` and no outputs (moving or
    inserting it as needed); True when that changed the notebook."""
    cells = nb["cells"]
    found = [i for i, cell in enumerate(cells) if _tagged(cell, COLAB_SETUP_TAG)]
    if len(found) > 1:
        raise ValueError(f"{where}: cells {found} are all tagged {COLAB_SETUP_TAG!r}; keep one")
    if found and cells[found[0]].get("cell_type") != "code":
        raise ValueError(f"{where}: the cell tagged {COLAB_SETUP_TAG!r} (cell {found[0]}) must be a code cell")
    changed = False
    if not found:
        cell = {"cell_type": "code", "execution_count": None, "metadata": {"tags": [COLAB_SETUP_TAG]}, "outputs": []}
        if all("id" in c for c in cells):  # nbformat 4.5 ids; older notebooks have none
            cell["id"] = COLAB_SETUP_TAG
        cells.insert(1, cell)
        changed = True
    elif found[0] != 1:
        cells.insert(1, cells.pop(found[0]))
        changed = True
    cell = cells[1]
    if cell.get("outputs"):  # outputs of a run in Colab (pip, git) are nothing to commit
        cell["outputs"] = []
        changed = True
    return _set_source(cell, source) or changed


def update(nb_dir: Path = NOTEBOOKS, write: bool = True, ref: str | None = None) -> list[Path]:
    """Bring every lecture's navigation up to date; return the notebooks that were (or would be) changed.

    ``ref`` is the git ref the Colab badges and setup cells open (default: ``release_ref()``)."""
    all_lectures = lectures(nb_dir)
    ref = release_ref() if ref is None else ref
    setup = colab_setup_source(ref, [pinned(p) for p in COLAB_EXTRAS])
    stale = []
    for i, lec in enumerate(all_lectures):
        nb = _read(lec.path)
        changed = _set_source(nb["cells"][0], title_cell(all_lectures, i, ref))
        changed |= _place_colab_setup(nb, setup, lec.file)
        if lec.number == "00":
            for cell in nb["cells"][1:]:
                if cell.get("cell_type") == "markdown" and _tagged(cell, COURSE_MAP_TAG):
                    changed |= _set_source(cell, course_map(all_lectures, ref))
        if changed:
            stale.append(lec.path)
            if write:
                _write(lec.path, nb)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook is out of date")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        stale = update(args.notebooks, write=not args.check)
    except ValueError as exc:
        print(f"nav: {exc}", file=sys.stderr)
        return 2
    for path in stale:
        print(f"{'out of date' if args.check else 'updated'}: {path.name}")
    if args.check and stale:
        print("run `python tools/nav.py` to regenerate the navigation cells", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
