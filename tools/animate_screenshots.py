"""Turn the browser suite's slider screenshots into one animated image, for the README.

    make browser                                   # writes artifacts/browser/<lecture>-before.png / -after.png
    python tools/animate_screenshots.py            # every lecture's pair -> artifacts/course.gif
    python tools/animate_screenshots.py 00_start_here 04_chunking --out docs/course.png --width 720

``make browser`` moves each lecture's first slider by one key press and screenshots the panel before
and after; played in order, the pairs show the figures following the slider. Frames are scaled to one
width and padded to one height on white; ``.gif`` or ``.png`` (an animated PNG, full colour, larger)
is chosen by ``--out``'s suffix.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "artifacts" / "browser"
OUT = ROOT / "artifacts" / "course.gif"
FORMATS = {".gif": "GIF", ".png": "PNG"}


def screenshot_pairs(shots: Path, lectures: list[str] | None = None) -> list[Path]:
    """``<lecture>-before.png``, ``<lecture>-after.png`` for each lecture (all that have both, in order)."""
    if lectures is None:
        lectures = sorted(p.name.removesuffix("-before.png") for p in shots.glob("*-before.png"))
    frames = []
    for lecture in lectures:
        pair = [shots / f"{lecture}-before.png", shots / f"{lecture}-after.png"]
        missing = [p.name for p in pair if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"{shots}: no {' or '.join(missing)} (run `make browser` to take them)")
        frames += pair
    if not frames:
        raise FileNotFoundError(f"{shots}: no <lecture>-before.png screenshots (run `make browser` to take them)")
    return frames


def animate(frames: list[Path], out: Path, width: int = 960, ms: int = 1000) -> Path:
    """Write ``frames`` as one looping animation of ``width`` px, ``ms`` milliseconds per frame."""
    if width < 16:
        raise ValueError(f"width must be at least 16 pixels, got {width}")
    if ms < 20:
        raise ValueError(f"ms must be at least 20 (browsers play shorter GIF frames slower), got {ms}")
    if out.suffix.lower() not in FORMATS:
        raise ValueError(f"out must end in {' or '.join(FORMATS)}, got {out.name!r}")
    images = []
    for path in frames:
        with Image.open(path) as img:
            img = img.convert("RGB")
            images.append(img.resize((width, max(1, round(img.height * width / img.width))), Image.LANCZOS))
    height = max(img.height for img in images)
    padded = []
    for img in images:
        canvas = Image.new("RGB", (width, height), "white")
        canvas.paste(img, (0, 0))
        padded.append(canvas)
    out.parent.mkdir(parents=True, exist_ok=True)
    padded[0].save(out, format=FORMATS[out.suffix.lower()], save_all=True, append_images=padded[1:],
                   duration=ms, loop=0, optimize=True)  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lectures", nargs="*", help="lecture names like 04_chunking (default: every pair found)")
    parser.add_argument("--shots", type=Path, default=SHOTS, help="screenshot folder (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=OUT, help=".gif or .png to write (default: %(default)s)")
    parser.add_argument("--width", type=int, default=960, help="frame width in pixels (default: %(default)s)")
    parser.add_argument("--ms", type=int, default=1000, help="milliseconds per frame (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        frames = screenshot_pairs(args.shots, args.lectures or None)
        out = animate(frames, args.out, width=args.width, ms=args.ms)
    except (FileNotFoundError, ValueError) as exc:
        print(f"animate_screenshots: {exc}", file=sys.stderr)
        return 2
    print(f"{out}: {len(frames)} frames from {args.shots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
