"""Execute every lecture in a fresh kernel and print wall seconds and peak memory; or execute for commit.

    make budget                                   # every notebook under notebooks/
    python tools/budget.py notebooks/01_*.ipynb --check
    python tools/budget.py --write notebooks/05_low_rank.ipynb   # execute and save, for commit (make execute)

Each notebook runs in its own child process (nbclient), so the peak resident memory reported is that
of the kernel that ran it (``ru_maxrss`` of the waited-for children) and nothing else. ``--check`` exits
non-zero when a lecture breaks the budget.

``--write`` saves the executed notebook: what GitHub, nbviewer and the website show. It runs notebooks
one at a time with ``HYPERNET_PROGRESS=summary`` (one line per training instead of a progress bar a
static reader would see frozen mid-run) and the PyTorch profiler's log silenced, and it refuses to
start on a busy machine (load average above ``--max-load``), since the timings a lecture prints come
from this run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_SECONDS = 60.0
MAX_RSS_MB = 1536.0
CELL_TIMEOUT_S = 300


COMMIT_ENV = {"HYPERNET_PROGRESS": "summary", "KINETO_LOG_LEVEL": "5", "TQDM_DISABLE": "1"}


def run_one(path: Path, write: bool = False) -> dict:
    """Child process: execute ``path`` and report its wall time and the kernel's peak RSS (``write``: save it)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    error = ""
    try:
        client.execute()
    except Exception as exc:  # report it in the table rather than stopping the other notebooks
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:120]
    seconds = time.perf_counter() - start
    if write and not error:
        nbformat.write(nb, path)
    rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    return {"notebook": path.name, "seconds": seconds, "peak_rss_mb": rss_kb / 1024, "error": error}


def measure(path: Path, write: bool = False) -> dict:
    env = {**os.environ, **(COMMIT_ENV if write else {})}
    cmd = [sys.executable, __file__, "--child", str(path), *(["--write"] if write else [])]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=CELL_TIMEOUT_S * 10, env=env)
    if out.returncode != 0:
        return {"notebook": path.name, "seconds": float("nan"), "peak_rss_mb": float("nan"), "error": out.stderr[-200:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true", help="exit 1 if any lecture exceeds the budget or fails")
    parser.add_argument("--write", action="store_true", help="save each executed notebook (for commit)")
    parser.add_argument("--max-load", type=float, default=0.7, help="with --write: refuse above this 1-min load")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.write)))
        return 0
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.write and os.getloadavg()[0] > args.max_load:
        print(
            f"load average {os.getloadavg()[0]:.2f} > {args.max_load}: the machine is busy, and the timings "
            "saved in the notebooks would show it. Wait until it is idle (or pass --max-load)."
        )
        return 2
    print(f"{'notebook':42s} {'seconds':>8s} {'peak RSS MB':>12s}  status")
    rows, total = [], 0.0
    for path in paths:
        row = measure(path, args.write)
        ok = not row["error"] and row["seconds"] <= MAX_SECONDS and row["peak_rss_mb"] <= MAX_RSS_MB
        status = "ok" if ok else (row["error"] or "OVER BUDGET")
        print(f"{row['notebook']:42s} {row['seconds']:8.1f} {row['peak_rss_mb']:12.0f}  {status}", flush=True)
        rows.append(ok)
        total += row["seconds"]
    print(f"{'total':42s} {total:8.1f}   (budget per lecture: {MAX_SECONDS:.0f} s, {MAX_RSS_MB:.0f} MB)")
    return 0 if (all(rows) or not args.check) else 1


if __name__ == "__main__":
    sys.exit(main())
