"""The README's pictures: one panel still per lecture track, and the animated slider image.

    python tools/readme_figures.py            # stills from the committed notebooks -> docs/tracks/
    make browser && python tools/animate_screenshots.py 00_start_here 01_first_principles \
        03_maml_vs_hypernets 05_low_rank 06_bayesian 09_generative \
        --out docs/course.gif --width 720 --ms 1200          # the animated slider image

A still is the PNG that ``SliderPanel.still`` saved under a lecture's panel (the only image outputs
that carry alt text); it is copied, scaled to ``--width``, so the README shows exactly what the
lecture shows. Re-run after re-executing a lecture in ``TRACKS``; ``tests/test_readme.py`` checks that
every picture the README names exists.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

# track name -> (its lectures, the lecture whose first panel still represents it)
TRACKS: dict[str, tuple[tuple[str, ...], str]] = {
    "foundations": (("00", "01"), "01"),
    "learning-to-learn": (("02", "03"), "03"),
    "compression": (("04", "05"), "05"),
    "uncertainty-and-memory": (("06", "07"), "06"),
    "search-images-language": (("08", "09", "10"), "09"),
}


def first_still(notebook: Path) -> bytes:
    """PNG bytes of the first slider-panel still saved in ``notebook``."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        for out in cell.get("outputs", []) if cell["cell_type"] == "code" else []:
            if "image/png" in out.get("data", {}) and out.get("metadata", {}).get("image/png", {}).get("alt"):
                return base64.b64decode(out["data"]["image/png"])
    raise LookupError(f"{notebook.name}: no panel still (an image/png output with alt text)")


def write_track_stills(width: int, out_dir: Path = DOCS / "tracks") -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for track, (_, lecture) in TRACKS.items():
        (notebook,) = sorted((ROOT / "notebooks").glob(f"{lecture}_*.ipynb"))
        img = Image.open(io.BytesIO(first_still(notebook))).convert("RGB")
        if img.width > width:
            img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
        path = out_dir / f"{track}.png"
        # A 256-colour palette keeps the heatmaps and curves and takes a third of the bytes.
        img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=600, help="width of each track still in pixels (default 600)")
    args = ap.parse_args(argv)
    for path in write_track_stills(args.width):
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
