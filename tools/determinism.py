"""Run the nbval notebook suite several times, each run from fresh kernels, and report per notebook.

    python tools/determinism.py                          # every notebooks/NN_*.ipynb, 3 runs
    python tools/determinism.py --runs 2 notebooks/01_*.ipynb

Every run is a separate ``pytest --nbval`` process with the same options as ``make test``, so every
notebook starts in a new kernel each time; nbval compares each cell's output with the committed one.
A notebook is deterministic when all runs are green. Exits 1 if any run of any notebook failed.
Not part of every CI run (it executes the course ``--runs`` times); run it before a release.
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
    "--nbval",
    "--nbval-current-env",
    "--nbval-sanitize-with",
    str(ROOT / "tests" / "nbval_sanitize.cfg"),
    "--nbval-cell-timeout",
    "300",
    "--nbval-kernel-startup-timeout",
    "120",
]


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


def run_once(notebooks: list[Path]) -> tuple[int, float, dict[str, list[str]]]:
    """One ``pytest --nbval`` process over ``notebooks``: exit code, seconds, failing cells per notebook."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    # notebooks outside the repo (tests use a temp dir) get unusable node ids unless rootdir spans them
    rootdir = os.path.commonpath([ROOT, *(nb.resolve() for nb in notebooks)])
    cmd = [sys.executable, "-m", "pytest", *NBVAL_ARGS, "-p", "no:cacheprovider", "-q", "-rA", "--color=no"]
    cmd.append(f"--rootdir={rootdir}")
    start = time.perf_counter()
    proc = subprocess.run([*cmd, *map(str, notebooks)], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        sys.stdout.write(proc.stdout[-3000:] + proc.stderr[-3000:])
    return proc.returncode, time.perf_counter() - start, parse_results(proc.stdout)


def report(results: list[dict[str, list[str]]], notebooks: list[Path]) -> tuple[str, bool]:
    """Markdown table notebook x run, and whether every notebook was green in every run."""
    header = "| notebook | " + " | ".join(f"run {i + 1}" for i in range(len(results))) + " | deterministic |"
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
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be >= 1, got {args.runs}")
    notebooks = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        print("no notebooks to run")
        return 1
    results = []
    for i in range(args.runs):
        rc, seconds, res = run_once(notebooks)
        failed = sum(bool(v) for v in res.values())
        print(f"run {i + 1}/{args.runs}: pytest exit {rc}, {seconds:.0f} s, {failed} notebook(s) failed", flush=True)
        for name, cells in res.items():
            if cells:
                print(f"    {name}: {', '.join(cells)}", flush=True)
        results.append(res)
    table, ok = report(results, notebooks)
    print(table)
    print(f"\n{'all green in every run' if ok else 'NOT deterministic or failing'} ({args.runs} runs, fresh kernels)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
