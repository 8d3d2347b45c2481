"""Generate each lecture's navigation so it never drifts: title, Binder badge, previous/next links.

    python tools/nav.py            # rewrite every notebook whose navigation is out of date
    python tools/nav.py --check    # exit 1 and name the notebooks that are out of date (CI)

What it writes, and nothing else:

- the first cell of every ``notebooks/NN_*.ipynb``: its title line (kept as the author wrote it,
  ``# NN · Title``), then a Binder badge that opens this very lecture and links to the previous and
  next lectures (and to the course map in lecture 00);
- in lecture 00, the markdown cell tagged ``course-map`` (if there is one): a table of every lecture,
  linked. The prose around it is the author's.

Titles come from the notebooks themselves, so renaming a lecture means editing its title line and
running this script. Only markdown cells change: no re-execution is needed afterwards.
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
# The one place the GitHub repository is named; README's badge must use the same URL.
REPO_SLUG = "hypernetworks-hands-on/hypernetworks-hands-on"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
COURSE_MAP_TAG = "course-map"
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


def binder_url(file: str) -> str:
    """mybinder.org URL that builds the repository and opens ``notebooks/<file>`` in JupyterLab."""
    if not NAME_RE.match(file):
        raise ValueError(f"expected a lecture file name like '01_first_principles.ipynb', got {file!r}")
    return f"https://mybinder.org/v2/gh/{REPO_SLUG}/HEAD?urlpath=lab/tree/notebooks/{file}"


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


def title_cell(all_lectures: list[Lecture], i: int) -> str:
    """Markdown of lecture ``i``'s first cell: title line, Binder badge, previous / map / next links."""
    if not 0 <= i < len(all_lectures):
        raise ValueError(f"lecture index must be in [0, {len(all_lectures)}), got {i}")
    lec = all_lectures[i]
    parts = [f"[![Open this lecture in Binder]({BINDER_BADGE})]({binder_url(lec.file)})"]
    if i > 0:
        prev = all_lectures[i - 1]
        parts.append(f"[← {prev.label}]({prev.file})")
    if i > 1 and all_lectures[0].number == "00":  # (lecture 01's previous link already is the map)
        parts.append(f"[course map]({all_lectures[0].file})")
    if i + 1 < len(all_lectures):
        nxt = all_lectures[i + 1]
        parts.append(f"[{nxt.label} →]({nxt.file})")
    return f"# {lec.label}\n\n" + " · ".join(parts)


def course_map(all_lectures: list[Lecture]) -> str:
    """Markdown table of every lecture, each linked, with a Binder link per lecture."""
    rows = [
        "<!-- generated by tools/nav.py from each lecture's title line: edit those, then run it -->",
        "| # | lecture | Binder |",
        "|---|---|---|",
    ]
    rows += [f"| {lec.number} | [{lec.title}]({lec.file}) | [open]({binder_url(lec.file)}) |" for lec in all_lectures]
    return "\n".join(rows)


def _set_source(cell: dict, text: str) -> bool:
    """Replace a cell's source with ``text``; True when that changed it."""
    if _source(cell) == text:
        return False
    cell["source"] = text.splitlines(keepends=True)
    return True


def update(nb_dir: Path = NOTEBOOKS, write: bool = True) -> list[Path]:
    """Bring every lecture's navigation up to date; return the notebooks that were (or would be) changed."""
    all_lectures = lectures(nb_dir)
    stale = []
    for i, lec in enumerate(all_lectures):
        nb = _read(lec.path)
        changed = _set_source(nb["cells"][0], title_cell(all_lectures, i))
        if lec.number == "00":
            for cell in nb["cells"][1:]:
                if cell.get("cell_type") == "markdown" and COURSE_MAP_TAG in cell.get("metadata", {}).get("tags", []):
                    changed |= _set_source(cell, course_map(all_lectures))
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
