"""`make lab` starts JupyterLab for everyone: as root in a container, and on a machine without a display."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("lab", ROOT / "tools" / "lab.py")
lab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lab)


def test_root_gets_allow_root_and_a_user_does_not():
    assert "--allow-root" in lab.lab_flags(0, "Linux", {"DISPLAY": ":0"})
    assert "--allow-root" not in lab.lab_flags(1000, "Linux", {"DISPLAY": ":0"})


def test_linux_without_a_display_does_not_try_to_open_a_browser():
    assert "--no-browser" in lab.lab_flags(1000, "Linux", {})
    assert "--no-browser" not in lab.lab_flags(1000, "Linux", {"DISPLAY": ":0"})
    assert "--no-browser" not in lab.lab_flags(1000, "Linux", {"WAYLAND_DISPLAY": "wayland-0"})
    assert "--no-browser" not in lab.lab_flags(1000, "Darwin", {})  # macOS opens its browser without DISPLAY
    assert lab.lab_flags(0, "Linux", {}) == ["--allow-root", "--no-browser"]


def test_make_lab_runs_this_launcher_from_the_first_lecture():
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "lab.py"), "--dry-run"], capture_output=True, text=True, check=True
    ).stdout
    assert "jupyter lab 00_start_here.ipynb" in out
    makefile = (ROOT / "Makefile").read_text()
    assert "tools/lab.py" in makefile


def test_jupyterlab_really_starts_with_these_flags_here(tmp_path):
    """Start the server for real with the flags this machine gets (no display), then stop it."""
    flags = lab.lab_flags(os.getuid(), "Linux", {})
    cmd = [sys.executable, "-m", "jupyter", "lab", "--port=0", f"--ServerApp.root_dir={tmp_path}", *flags]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if "http://127.0.0.1" in line or "http://localhost" in line:
                break
        assert proc.poll() is None, "JupyterLab exited:\n" + "".join(seen)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
