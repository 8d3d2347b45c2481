"""Build a fresh virtual environment from ``binder/`` alone, run every lecture in it, report peak memory.

    python tools/binder_check.py                   # fresh venv in a temp folder, removed afterwards
    python tools/binder_check.py --venv /tmp/bv    # build (or reuse) the venv there and keep it
    BINDER_CHECK=1 python -m pytest tests/test_binder_check.py   # the same, as a test

mybinder.org installs only what ``binder/`` says: ``requirements.txt`` (with the Python of ``runtime.txt``)
as a cached layer, then it runs ``postBuild`` from the repository root, which installs ``hypernet_lib``.
This check does the same two steps and uses nothing else: not the repo's ``requirements.txt``, not
the developer's venv. It fails (exit 1) if either step fails, if a lecture raises, or if a lecture's
kernel peaks above 1.5 GB (Binder gives a session at most 2 GB, shared with the Jupyter server).

Substitution, said plainly: ``binder/requirements.txt`` installs ``torch==X+cpu`` from PyTorch's CPU-only
index (``--extra-index-url https://download.pytorch.org/whl/cpu``). That index cannot be reached from the
machines this course is developed and tested on, so the script drops the index line and installs the
same torch version from a local CPU wheel instead (``--torch-wheel``, ``$TORCH_WHEEL``, else the first
``torch-X*.whl`` in ``./.whl/`` or ``/opt/wheels/``). Everything else comes from PyPI, pinned as in
``binder/requirements.txt``.

Peak RSS is the kernel's (measured by ``tools/budget.py --child``, run with the fresh venv's Python),
not the server's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
MAX_RSS_MB = 1536.0
WHEEL_DIRS = [ROOT / ".whl", Path("/opt/wheels")]
TORCH_PIN = re.compile(r"^torch==(?P<version>[0-9][^\s;+]*)(?P<local>\+\w+)?\s*$")
INDEX_LINE = re.compile(r"^--(extra-)?index-url\s+\S*download\.pytorch\.org\S*\s*$")
# `.`, `-e .`, `./sub`, `file:...`: anything installed from the repository's own files
LOCAL_LINE = re.compile(r"^(-e\s+|--editable[=\s]+)?(\.{1,2}(/\S*)?|file:\S*)$")


def torch_version(requirements: str) -> str:
    """The torch version pinned in a requirements text (``torch==2.13.0+cpu`` -> ``2.13.0``)."""
    pins = [m.group("version") for line in requirements.splitlines() if (m := TORCH_PIN.match(line.strip()))]
    if len(pins) != 1:
        raise ValueError(f"expected exactly one 'torch==VERSION' line in binder/requirements.txt, found {len(pins)}")
    return pins[0]


def find_torch_wheel(version: str, python: str, explicit: str | None = None) -> Path:
    """A local torch wheel of ``version`` for Python ``python`` ('3.11'): ``explicit``, ``$TORCH_WHEEL``,
    else the first match in a wheel dir."""
    tag = "cp" + python.replace(".", "")
    candidates = [Path(p) for p in (explicit, os.environ.get("TORCH_WHEEL")) if p]
    for d in WHEEL_DIRS:
        if d.is_dir():
            candidates += sorted(d.glob(f"torch-{version}*-{tag}-*.whl"))
    for wheel in candidates:
        if wheel.is_file() and wheel.name.startswith(f"torch-{version}"):
            return wheel
    raise FileNotFoundError(
        f"no local torch-{version} wheel for {tag} (looked at --torch-wheel, $TORCH_WHEEL, "
        f"{', '.join(map(str, WHEEL_DIRS))}); download one where PyTorch's index is reachable: "
        f"pip download --no-deps torch=={version}+cpu --index-url https://download.pytorch.org/whl/cpu"
    )


def local_requirements(requirements: str, wheel: Path) -> str:
    """``binder/requirements.txt`` rewritten for this machine: the torch index line dropped, the torch pin
    replaced by ``wheel`` (same version). Raises ValueError on a line that points into the repository,
    which would stop repo2docker from caching the install (``postBuild`` installs the library instead)."""
    version = torch_version(requirements)
    if not wheel.name.startswith(f"torch-{version}"):
        raise ValueError(f"binder pins torch {version}, but the wheel is {wheel.name}")
    out = []
    for line in requirements.splitlines():
        s = line.strip()
        if LOCAL_LINE.match(s):
            raise ValueError(
                f"binder/requirements.txt has the local line {s!r}: repo2docker then reinstalls every "
                "requirement on each commit; install the repository in binder/postBuild instead"
            )
        if INDEX_LINE.match(s):
            out.append(f"# (binder_check) dropped, unreachable here: {s}")
        elif TORCH_PIN.match(s):
            out.append(f"# (binder_check) {s} -> the same version from a local wheel")
            out.append(str(wheel))
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def run_postbuild(env: dict[str, str], binder: Path = BINDER, repo: Path = ROOT) -> None:
    """Run ``binder/postBuild`` as repo2docker does: from the repository root, with ``env`` (whose PATH
    starts with the new environment's bin, as ``clean_env`` makes it, so its ``pip`` is the one called)."""
    script = binder / "postBuild"
    if not os.access(script, os.X_OK):
        raise FileNotFoundError(f"{script} is missing or not executable (repo2docker runs it as ./binder/postBuild)")
    run([str(script)], cwd=repo, env=env)


def runtime_version(binder: Path = BINDER) -> str:
    """The Python version ``binder/runtime.txt`` asks for (``python-3.11`` -> ``3.11``)."""
    runtime = (binder / "runtime.txt").read_text().strip() if (binder / "runtime.txt").exists() else ""
    m = re.fullmatch(r"python-(\d+\.\d+)", runtime)
    if not m:
        raise ValueError(f"binder/runtime.txt should read like 'python-3.11', got {runtime!r}")
    return m.group(1)


def runtime_python(version: str) -> str:
    """An interpreter of that version on PATH (``python3.11``)."""
    exe = shutil.which(f"python{version}")
    if exe is None:
        raise FileNotFoundError(f"binder/runtime.txt asks for Python {version}; no python{version} on PATH")
    return exe


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("$", " ".join(map(str, cmd)), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def build_venv(venv: Path, requirements_file: Path, python: str) -> Path:
    """Create ``venv`` (unless it has a finished install) and pip-install the requirements; return its python."""
    py = venv / "bin" / "python"
    stamp = venv / ".binder_check_installed"
    if stamp.exists() and stamp.read_text() == requirements_file.read_text():
        print(f"reusing {venv} (same requirements)")
        return py
    run([python, "-m", "venv", "--clear", str(venv)])
    run([str(py), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([str(py), "-m", "pip", "install", "--quiet", "--no-cache-dir", "-r", str(requirements_file)])
    stamp.write_text(requirements_file.read_text())
    return py


def clean_env(venv: Path, scratch: Path) -> dict[str, str]:
    """Environment for the fresh venv: its bin first, no PYTHONPATH, no user Jupyter/IPython setup."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "JUPYTER", "VIRTUAL_ENV", "MPL"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    for var, sub in {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data", "JUPYTER_RUNTIME_DIR": "run"}.items():
        env[var] = str(scratch / sub)
    env["IPYTHONDIR"] = str(scratch / "ipython")
    env["MPLCONFIGDIR"] = str(scratch / "mpl")
    return env


def check(venv: Path, notebooks: list[Path], wheel: Path) -> int:
    scratch = Path(tempfile.mkdtemp(prefix="binder-check-"))
    try:
        reqs = local_requirements((BINDER / "requirements.txt").read_text(), wheel)
        req_file = scratch / "requirements.txt"
        req_file.write_text(reqs)
        print(f"substituted torch from the local wheel {wheel} (PyTorch's CPU index is unreachable here)")
        start = time.perf_counter()
        py = build_venv(venv, req_file, runtime_python(runtime_version()))
        env = clean_env(venv, scratch)
        run_postbuild(env)
        print(f"venv ready in {time.perf_counter() - start:.0f} s: {venv}")
        probe = run(
            [str(py), "-c", "import sys, torch, hypernet_lib; print(sys.version.split()[0], torch.__version__, "
             "torch.cuda.is_available(), hypernet_lib.__file__)"],
            env=env, cwd=scratch, capture_output=True, text=True,
        )  # fmt: skip
        print("python, torch, CUDA, hypernet_lib:", probe.stdout.strip())
        if not probe.stdout.split()[-1].startswith(str(ROOT)):
            print("FAILED: hypernet_lib does not come from this repository's editable install")
            return 1
        print(f"\n{'notebook':42s} {'seconds':>8s} {'peak RSS MB':>12s}  status")
        bad = 0
        for nb in notebooks:
            out = subprocess.run(
                [str(py), str(ROOT / "tools" / "budget.py"), "--child", str(nb)],
                env=env, cwd=nb.parent, capture_output=True, text=True, timeout=3600,
            )  # fmt: skip
            try:
                row = json.loads(out.stdout.strip().splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                row = {"seconds": float("nan"), "peak_rss_mb": float("nan"), "error": out.stderr.strip()[-200:]}
            ok = not row["error"] and row["peak_rss_mb"] <= MAX_RSS_MB
            status = "ok" if ok else (row["error"] or f"OVER {MAX_RSS_MB:.0f} MB")
            bad += not ok
            print(f"{nb.name:42s} {row['seconds']:8.1f} {row['peak_rss_mb']:12.0f}  {status}", flush=True)
        print(
            f"\n{len(notebooks) - bad}/{len(notebooks)} lectures ran in the Binder environment under {MAX_RSS_MB:.0f} MB"
        )
        return 1 if bad else 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    parser.add_argument("--venv", type=Path, help="where to build the venv (kept); default: a temp folder")
    parser.add_argument("--torch-wheel", help="local torch wheel to use instead of PyTorch's CPU index")
    args = parser.parse_args(argv)
    notebooks = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        print("no notebooks to run")
        return 1
    version = torch_version((BINDER / "requirements.txt").read_text())
    wheel = find_torch_wheel(version, runtime_version(), args.torch_wheel)
    if args.venv:
        return check(args.venv.resolve(), notebooks, wheel)
    with tempfile.TemporaryDirectory(prefix="binder-venv-") as tmp:
        return check(Path(tmp) / "venv", notebooks, wheel)


if __name__ == "__main__":
    sys.exit(main())
