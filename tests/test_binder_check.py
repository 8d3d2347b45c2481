"""Binder check (tools/binder_check.py). The fast tests pin down how binder/requirements.txt is read and
rewritten, and that it agrees with requirements.txt; the full check (fresh venv from binder/ alone,
every lecture run in it, peak RSS <= 1.5 GB) takes minutes and runs only when asked:

    BINDER_CHECK=1 python -m pytest tests/test_binder_check.py
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("binder_check", ROOT / "tools" / "binder_check.py")
bc = sys.modules["binder_check"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bc)

BINDER_REQS = (ROOT / "binder" / "requirements.txt").read_text()
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s+;]+)", re.MULTILINE)


def test_binder_pins_the_same_versions_as_requirements_txt() -> None:
    binder = dict(PIN.findall(BINDER_REQS))
    main = dict(PIN.findall((ROOT / "requirements.txt").read_text()))
    assert "torch" in binder and binder.keys() <= main.keys(), sorted(binder.keys() - main.keys())
    assert binder == {k: main[k] for k in binder}


def test_binder_installs_the_course_library_and_a_cpu_only_torch() -> None:
    lines = [line.strip() for line in BINDER_REQS.splitlines()]
    assert "-e ." in lines
    assert any(re.fullmatch(r"torch==[\d.]+\+cpu", line) for line in lines)
    assert bc.runtime_version() == "3.11"


def test_local_requirements_swaps_only_the_torch_index_and_pin(tmp_path: Path) -> None:
    wheel = tmp_path / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    text = "# comment\n--extra-index-url https://download.pytorch.org/whl/cpu\ntorch==2.13.0+cpu\nnumpy==2.4.6\n-e .\n"
    out = bc.local_requirements(text, wheel, repo=tmp_path)
    active = [line for line in out.splitlines() if line and not line.startswith("#")]
    assert active == [str(wheel), "numpy==2.4.6", f"-e {tmp_path}"]
    assert "dropped, unreachable here: --extra-index-url https://download.pytorch.org/whl/cpu" in out


def test_local_requirements_refuses_a_wheel_of_another_version(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"binder pins torch 2\.13\.0, but the wheel is torch-2\.12\.0"):
        bc.local_requirements("torch==2.13.0+cpu\n", tmp_path / "torch-2.12.0-cp311-none-any.whl")
    with pytest.raises(ValueError, match="exactly one 'torch==VERSION' line.*found 0"):
        bc.torch_version("numpy==2.4.6\n")


def test_find_torch_wheel_matches_version_and_python_tag(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(bc, "WHEEL_DIRS", [tmp_path])
    monkeypatch.delenv("TORCH_WHEEL", raising=False)
    (tmp_path / "torch-2.13.0+cpu-cp310-cp310-linux_x86_64.whl").touch()
    with pytest.raises(FileNotFoundError, match="no local torch-2.13.0 wheel for cp311"):
        bc.find_torch_wheel("2.13.0", "3.11")
    good = tmp_path / "torch-2.13.0+cpu-cp311-cp311-linux_x86_64.whl"
    good.touch()
    assert bc.find_torch_wheel("2.13.0", "3.11") == good


@pytest.mark.skipif(os.environ.get("BINDER_CHECK") != "1", reason="slow (minutes): set BINDER_CHECK=1 to run")
def test_every_lecture_runs_in_a_fresh_binder_venv_under_1_5_gb(capsys) -> None:
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert notebooks, "no lectures to check"
    venv = os.environ.get("BINDER_CHECK_VENV")  # reuse a venv between runs if given
    rc = bc.main([*map(str, notebooks), *(["--venv", venv] if venv else [])])
    out = capsys.readouterr().out
    print(out)
    assert rc == 0, out[-3000:]
