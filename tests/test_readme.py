"""The README a visitor sees first: its pictures are real images of a readable size (that they exist is
test_nav's link check), and its tracks cover every lecture once, each pictured by a still that one of the
track's own lectures saved (tools/readme_figures.py copies them)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from PIL import Image
from test_nav import links

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
_spec = importlib.util.spec_from_file_location("readme_figures", ROOT / "tools" / "readme_figures.py")
readme_figures = sys.modules["readme_figures"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_figures)

PICTURES = sorted({t for t in links(README) if t.endswith((".png", ".gif")) and not t.startswith("http")})


def test_pictures_are_real_images_of_a_readable_size() -> None:
    assert "docs/course.gif" in PICTURES and len(PICTURES) == 1 + len(readme_figures.TRACKS)
    for t in PICTURES:
        with Image.open(ROOT / t) as img:
            assert img.width >= 300 and img.height >= 150, f"{t} is {img.size}: too small to read"
    with Image.open(ROOT / "docs/course.gif") as gif:
        assert gif.n_frames >= 4, "docs/course.gif should show sliders moving (before/after pairs)"


def test_tracks_cover_every_lecture_once_and_are_pictured_by_one_of_their_own() -> None:
    lectures = sorted(p.name[:2] for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(n for members, _ in readme_figures.TRACKS.values() for n in members) == lectures
    for track, (members, pictured) in readme_figures.TRACKS.items():
        assert pictured in members, f"track {track} is pictured by lecture {pictured}, not one of its own"
        assert f"docs/tracks/{track}.png" in PICTURES
        readme_figures.first_still(next((ROOT / "notebooks").glob(f"{pictured}_*.ipynb")))  # it has one


def test_a_lecture_without_a_still_is_named_in_the_error(tmp_path: Path) -> None:
    nb = tmp_path / "99_empty.ipynb"
    nb.write_text('{"cells": [{"cell_type": "code", "source": "", "outputs": [], "metadata": {}}]}')
    with pytest.raises(LookupError, match="99_empty.ipynb: no panel still"):
        readme_figures.first_still(nb)
