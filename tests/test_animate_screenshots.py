"""tools/animate_screenshots.py: the browser suite's before/after slider screenshots become one looping
animation for the README, frames in lecture order, one size."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageSequence

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("animate_screenshots", ROOT / "tools" / "animate_screenshots.py")
anim = sys.modules["animate_screenshots"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(anim)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Screenshots as `make browser` names them, each a different size and colour."""
    folder = tmp_path / "browser"
    folder.mkdir()
    colours = iter(["red", "green", "blue", "yellow"])
    for lecture, size in (("00_start_here", (400, 100)), ("04_chunking", (800, 400))):
        for when in ("before", "after"):
            Image.new("RGB", size, next(colours)).save(folder / f"{lecture}-{when}.png")
    (folder / "latency.md").write_text("not a screenshot")
    return folder


def test_every_lecture_pair_in_order(shots: Path) -> None:
    assert [p.name for p in anim.screenshot_pairs(shots)] == [
        "00_start_here-before.png",
        "00_start_here-after.png",
        "04_chunking-before.png",
        "04_chunking-after.png",
    ]
    assert [p.name for p in anim.screenshot_pairs(shots, ["04_chunking"])] == [
        "04_chunking-before.png",
        "04_chunking-after.png",
    ]


@pytest.mark.parametrize("suffix", [".gif", ".png"])
def test_animation_loops_through_every_frame_at_one_size(shots: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"course{suffix}"
    assert anim.main(["--shots", str(shots), "--out", str(out), "--width", "200", "--ms", "500"]) == 0
    with Image.open(out) as img:
        frames = [frame.convert("RGB") for frame in ImageSequence.Iterator(img)]
        assert img.info.get("loop") == 0 and img.info.get("duration") == 500
    assert len(frames) == 4
    assert {f.size for f in frames} == {(200, 100)}  # 400x100 -> 200x50 padded; 800x400 -> 200x100
    assert frames[0].getpixel((10, 10))[0] > 200 and frames[0].getpixel((10, 90)) == (255, 255, 255)
    assert frames[2].getpixel((10, 90))[2] > 200  # the blue 04 "before", full height


def test_missing_screenshots_say_how_to_take_them(shots: Path, tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"no 09_generative-before.png or 09_generative-after.png .*make browser"
    ):
        anim.screenshot_pairs(shots, ["09_generative"])
    (tmp_path / "empty").mkdir()
    assert anim.main(["--shots", str(tmp_path / "empty")]) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": 8}, "width must be at least 16 pixels, got 8"),
        ({"ms": 5}, "ms must be at least 20"),
        ({"out": "course.jpg"}, "out must end in .gif or .png, got 'course.jpg'"),
    ],
)
def test_bad_arguments_are_named(shots: Path, tmp_path: Path, kwargs: dict, message: str) -> None:
    out = tmp_path / kwargs.pop("out", "course.gif")
    with pytest.raises(ValueError, match=message):
        anim.animate(anim.screenshot_pairs(shots), out, **kwargs)
