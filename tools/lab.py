"""Open the course in JupyterLab (``make lab``), with the flags this machine needs.

    python tools/lab.py            # what `make lab` runs
    python tools/lab.py --dry-run  # print the command instead of running it

JupyterLab refuses to start as root unless told ``--allow-root`` (containers and cloud VMs often run as
root), and on a Linux machine without a display it cannot open a browser: then ``--no-browser`` makes it
print the URL to open instead.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST_LECTURE = "00_start_here.ipynb"


def lab_flags(uid: int, system: str, env: Mapping[str, str]) -> list[str]:
    """The extra ``jupyter lab`` flags for a user id, an OS name (``platform.system()``) and an environment."""
    flags = []
    if uid == 0:
        flags.append("--allow-root")
    has_display = system in ("Darwin", "Windows") or bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    if not has_display or env.get("BROWSER") == "none":
        flags.append("--no-browser")
    return flags


def command(uid: int, system: str, env: Mapping[str, str]) -> list[str]:
    return [sys.executable, "-m", "jupyter", "lab", FIRST_LECTURE, *lab_flags(uid, system, env)]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    uid = os.getuid() if hasattr(os, "getuid") else 1000
    cmd = command(uid, platform.system(), os.environ)
    if "--dry-run" in argv:
        print(" ".join(cmd))
        return 0
    os.chdir(ROOT / "notebooks")
    os.execv(cmd[0], cmd)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
