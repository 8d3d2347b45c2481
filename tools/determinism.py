"""Run the notebook suite under several machine settings, or several times, from fresh kernels.

    python tools/determinism.py --settings all            # what `make test` runs: 4 settings, once each
    python tools/determinism.py                           # every notebooks/NN_*.ipynb, native, 3 runs
    python tools/determinism.py --runs 2 notebooks/01_*.ipynb

This file holds the one definition of how notebooks are tested (``NBVAL_ARGS``): nbval in *lax* mode,
so a cell's output is compared with the committed one only when the cell is tagged
``nbval-check-output``. Tag only outputs that are the same on every machine (shapes, counts, exact
data, numbers rounded to a precision shown to be stable); everything that depends on float summation
order or on training is asserted inside the cell with a margin instead. Every cell still runs, and an
exception (a failed assert) fails it.

Settings (``SETTINGS``): ``native`` (this machine as it is), ``default-isa`` (``ATEN_CPU_CAPABILITY=default``:
the kernels a CPU without AVX2 gets, so results round differently), ``avx2`` (``ATEN_CPU_CAPABILITY=avx2``:
the kernels of most laptops and of the machine the outputs were first recorded on; on an AVX-512 machine
this is a second, different rounding; a CPU without AVX2 keeps its own kernels) and ``one-thread``
(``OMP_NUM_THREADS=1``: another summation order). Every (setting, run) is a separate pytest process, so
every notebook starts in a new kernel each time. Exits 1 if any notebook failed anywhere.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBVAL_ARGS = [
    "--nbval-lax",
    "--nbval-current-env",
    "--nbval-sanitize-with",
    str(ROOT / "tests" / "nbval_sanitize.cfg"),
    "--nbval-cell-timeout",
    "300",
    "--nbval-kernel-startup-timeout",
    "120",
]


SETTINGS: dict[str, dict[str, str]] = {
    "native": {},
    "default-isa": {"ATEN_CPU_CAPABILITY": "default"},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "one-thread": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
}
CHECK_TAG = "nbval-check-output"

RESULT_LINE = re.compile(r"^(PASSED|FAILED|ERROR)\s+(\S+?\.ipynb)::(\S.*?)(?:\s+-\s.*)?$")


def parse_results(pytest_output: str) -> dict[str, list[str]]:
    """{notebook name: [failing cells]} from ``pytest -rA`` summary lines (``FAILED nb.ipynb::Cell 4 - ...``).

    A notebook whose cells all passed maps to []; one that never reported is absent.
    """
    out: dict[str, list[str]] = {}
    for line in pytest_output.splitlines():
        m = RESULT_LINE.match(line.strip())
        if m:
            failing = out.setdefault(Path(m.group(2)).name, [])
            if m.group(1) != "PASSED" and m.group(3) not in failing:
                failing.append(m.group(3))
    return out


def run_once(notebooks: list[Path], setting: str = "native") -> tuple[int, float, dict[str, list[str]], str]:
    """One pytest process over ``notebooks`` under ``setting``: exit code, seconds, failing cells, summary line."""
    path = os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, **SETTINGS[setting], "PYTHONPATH": path, "HYPERNET_PROGRESS": "off"}
    # notebooks outside the repo (tests use a temp dir) get unusable node ids unless rootdir spans them
    rootdir = os.path.commonpath([ROOT, *(nb.resolve() for nb in notebooks)])
    cmd = [sys.executable, "-m", "pytest", *NBVAL_ARGS, "-p", "course_budget", "-p", "no:cacheprovider"]
    cmd += ["-q", "-rA", "--color=no"]
    cmd.append(f"--rootdir={rootdir}")
    start = time.perf_counter()
    proc = subprocess.run([*cmd, *map(str, notebooks)], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        sys.stdout.write(proc.stdout[-3000:] + proc.stderr[-3000:])
    summary = next(
        (s for s in reversed(proc.stdout.splitlines()) if " in " in s and ("passed" in s or "failed" in s)), ""
    )
    return proc.returncode, time.perf_counter() - start, parse_results(proc.stdout), summary.strip("= ")


def report(
    results: list[dict[str, list[str]]], notebooks: list[Path], labels: list[str] | None = None
) -> tuple[str, bool]:
    """Markdown table notebook x run, and whether every notebook was green in every run."""
    labels = labels or [f"run {i + 1}" for i in range(len(results))]
    header = "| notebook | " + " | ".join(labels) + " | deterministic |"
    lines = [header, "|---|" + "---|" * (len(results) + 1)]
    all_ok = True
    for nb in notebooks:
        cells = []
        for res in results:
            if nb.name not in res:
                cells.append("not run")
            elif res[nb.name]:
                cells.append("FAIL: " + ", ".join(res[nb.name][:4]) + (" …" if len(res[nb.name]) > 4 else ""))
            else:
                cells.append("ok")
        ok = all(c == "ok" for c in cells)
        all_ok &= ok
        lines.append(f"| {nb.name} | " + " | ".join(cells) + f" | {'yes' if ok else 'NO'} |")
    return "\n".join(lines), all_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    parser.add_argument("--runs", type=int, default=None, help="runs per setting (default 3, or 1 with --settings)")
    parser.add_argument("--settings", default="native", help=f"comma-separated, or 'all': {', '.join(SETTINGS)}")
    args = parser.parse_args(argv)
    settings = list(SETTINGS) if args.settings == "all" else [s.strip() for s in args.settings.split(",")]
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        parser.error(f"--settings: unknown {unknown}; expected some of {list(SETTINGS)} or 'all'")
    runs = args.runs if args.runs is not None else (3 if args.settings == "native" else 1)
    if runs < 1:
        parser.error(f"--runs must be >= 1, got {runs}")
    notebooks = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        print("no notebooks to run")
        return 1
    results, labels = [], []
    for setting in settings:
        for i in range(runs):
            label = setting if runs == 1 else f"{setting} {i + 1}"
            rc, seconds, res, summary = run_once(notebooks, setting)
            failed = sum(bool(v) for v in res.values())
            print(
                f"{label}: {summary or f'pytest exit {rc}'} ({seconds:.0f} s, {failed} notebook(s) failed)", flush=True
            )
            for name, cells in res.items():
                if cells:
                    print(f"    {name}: {', '.join(cells)}", flush=True)
            if rc not in (0, 1) and not res:
                res = {nb.name: ["pytest did not run"] for nb in notebooks}
            results.append(res)
            labels.append(label)
    table, ok = report(results, notebooks, labels)
    print(table)
    print(f"\n{'all green' if ok else 'FAILING somewhere'} ({', '.join(labels)}; fresh kernels)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
