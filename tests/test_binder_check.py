"""Binder check (tools/binder_check.py). The fast tests pin down how binder/requirements.txt is read and
rewritten, that it agrees with requirements.txt and stays cacheable, and how binder/postBuild is run;
the full check (fresh venv from binder/ alone, every lecture run in it, peak RSS <= 1.5 GB) takes
minutes and runs only when asked:

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


def test_binder_installs_a_cpu_only_torch_and_nothing_from_the_repository() -> None:
    lines = [line.strip() for line in BINDER_REQS.splitlines()]
    assert any(re.fullmatch(r"torch==[\d.]+\+cpu", line) for line in lines)
    # a local line makes repo2docker install the requirements after copying the repo: never cached
    assert not [line for line in lines if bc.LOCAL_LINE.match(line)]
    assert bc.runtime_version() == "3.11"


def test_postbuild_installs_the_course_library_without_its_dependencies() -> None:
    script = ROOT / "binder" / "postBuild"
    assert os.access(script, os.X_OK), "repo2docker runs binder/postBuild as a program: it must be executable"
    commands = [line.strip() for line in script.read_text().splitlines() if line.strip() and line[0] != "#"]
    assert commands == ["set -euo pipefail", "pip install --no-deps -e ."]


def test_postbuild_runs_from_the_repository_root_with_the_new_environments_pip(tmp_path: Path) -> None:
    fake_bin = tmp_path / "venv" / "bin"
    fake_bin.mkdir(parents=True)
    record = tmp_path / "pip-called"
    (fake_bin / "pip").write_text(f'#!/bin/sh\necho "$PWD $*" > {record}\n')
    (fake_bin / "pip").chmod(0o755)
    bc.run_postbuild({"PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}"})
    assert record.read_text().strip() == f"{ROOT} install --no-deps -e ."


def test_postbuild_that_cannot_run_is_named(tmp_path: Path) -> None:
    (tmp_path / "postBuild").write_text("pip install --no-deps -e .\n")  # not executable
    with pytest.raises(FileNotFoundError, match="postBuild is missing or not executable"):
        bc.run_postbuild(dict(os.environ), binder=tmp_path)


def test_local_requirements_swaps_only_the_torch_index_and_pin(tmp_path: Path) -> None:
    wheel = tmp_path / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    text = "# comment\n--extra-index-url https://download.pytorch.org/whl/cpu\ntorch==2.13.0+cpu\nnumpy==2.4.6\n"
    out = bc.local_requirements(text, wheel)
    active = [line for line in out.splitlines() if line and not line.startswith("#")]
    assert active == [str(wheel), "numpy==2.4.6"]
    assert "dropped, unreachable here: --extra-index-url https://download.pytorch.org/whl/cpu" in out


@pytest.mark.parametrize("line", ["-e .", ".", "-e ./", "--editable=.", "./sub", "file:../x"])
def test_local_requirements_refuses_a_line_that_installs_from_the_repository(tmp_path: Path, line: str) -> None:
    wheel = tmp_path / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    with pytest.raises(ValueError, match=rf"local line {re.escape(repr(line))}.*binder/postBuild"):
        bc.local_requirements(f"torch==2.13.0+cpu\n{line}\n", wheel)


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
