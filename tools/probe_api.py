"""Probe every public callable of hypernet_lib with bad input and sort what comes back.

    python tools/probe_api.py              # table of unclear and silent cases, then the counts
    python tools/probe_api.py --all        # every case

Each public function and class (a module's ``__all__``, or the public names it defines; records such as
NamedTuples and dataclasses, exceptions and protocols excepted) is called with
every required argument set to the same bad value, for five values: ``None``, a string, NaN, ``-1`` and
an integer tensor of the wrong rank. A callable with no required argument gets the bad value in its first
parameter. The outcome is

- *clear*: ``TypeError``, ``ValueError``, ``KeyError``/``LookupError`` or ``FileNotFoundError`` whose message
  names one of the callable's parameters (or says what it ``expected``);
- *unclear*: any other exception, or a message that names neither (e.g. ``'NoneType' object has no attribute``);
- *silent*: no exception at all (which may be right: ``-1`` is a fine seed).

``tests/test_api_probe.py`` runs it and fails on any unclear case and on a silent one it does not list as a
valid input; ``tests/test_bad_input.py`` and the apps' tables hold the cases with the message a student sees.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import math
import os
import pkgutil
import re
import signal
import warnings

import torch

import hypernet_lib

CLEAR_TYPES = (TypeError, ValueError, LookupError, FileNotFoundError)
BAD = {
    "None": lambda: None,
    "string": lambda: "oops",
    "NaN": lambda: math.nan,
    "-1": lambda: -1,
    "int tensor": lambda: torch.ones(2, 3, 4, 5, 6, dtype=torch.int64),
}
# Callables whose job is to accept anything, or to act on the machine rather than on input.
EXEMPT = {"seed_everything", "default_device", "environment_report", "platform_fingerprint", "machine_peaks"}


def is_record(obj) -> bool:
    """Plain records (NamedTuple, dataclass), exceptions and protocols hold what they are given: not probed."""
    if not inspect.isclass(obj):
        return False
    named_tuple = issubclass(obj, tuple) and hasattr(obj, "_fields")
    protocol = getattr(obj, "_is_protocol", False)
    return named_tuple or dataclasses.is_dataclass(obj) or issubclass(obj, BaseException) or protocol


def public_callables() -> dict[str, object]:
    found: dict[str, object] = {}
    modules = [hypernet_lib]
    for info in pkgutil.walk_packages(hypernet_lib.__path__, "hypernet_lib."):
        if not info.name.rsplit(".", 1)[-1].startswith("_"):
            modules.append(importlib.import_module(info.name))
    for mod in modules:
        names = getattr(mod, "__all__", None) or [
            n for n, o in vars(mod).items() if not n.startswith("_") and getattr(o, "__module__", None) == mod.__name__
        ]
        for n in names:
            obj = getattr(mod, n, None)
            probe_it = (inspect.isfunction(obj) or inspect.isclass(obj)) and not is_record(obj) and has_parameters(obj)
            if probe_it and n not in EXEMPT:
                found.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    return found


def has_parameters(obj) -> bool:
    try:
        return any(p != "self" for p in inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        return True


def bad_call(obj, value) -> tuple[list, dict]:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return [value], {}
    args, kwargs, required = [], {}, 0
    params = [p for p in sig.parameters.values() if p.name != "self"]
    for p in params:
        if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            args.append(value)
            required += 1
        elif p.default is inspect.Parameter.empty and p.kind == p.KEYWORD_ONLY:
            kwargs[p.name] = value
            required += 1
    if not required and params and params[0].kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
        args = [value]
    return args, kwargs


def classify(obj, exc: BaseException | None) -> str:
    if exc is None:
        return "silent"
    msg = str(exc)
    try:
        names = [p for p in inspect.signature(obj).parameters if p != "self"]
    except (TypeError, ValueError):
        names = []
    named = any(re.search(rf"\b{re.escape(n)}\b", msg) for n in names) or "expected" in msg
    if isinstance(exc, FileNotFoundError):
        return "clear"  # names the file that is not there
    return "clear" if isinstance(exc, CLEAR_TYPES) and named else "unclear"


class _Timeout(Exception):
    pass


def _alarm(*_):
    raise _Timeout("took longer than 5 s")


def probe() -> list[tuple[str, str, str, str]]:
    rows = []
    signal.signal(signal.SIGALRM, _alarm)
    for name, obj in sorted(public_callables().items()):
        for label, make in BAD.items():
            args, kwargs = bad_call(obj, make())
            exc = None
            signal.alarm(5)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out = obj(*args, **kwargs)
                    if inspect.isgenerator(out):  # a lazy function checks its input when first iterated
                        next(out, None)
            except _Timeout as e:
                exc = e
            except BaseException as e:  # noqa: BLE001  (sorting every outcome is the point)
                exc = e
            finally:
                signal.alarm(0)
            verdict = classify(obj, exc) if not isinstance(exc, _Timeout) else "unclear"
            detail = "" if exc is None else f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            rows.append((name, label, verdict, detail[:140]))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true", help="print every case, not only the unclear and silent ones")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    os.environ["HYPERNET_PROGRESS"] = "off"  # progress_bar and fit would otherwise draw on this terminal
    rows = probe()
    for name, label, verdict, detail in rows:
        if args.all or verdict != "clear":
            print(f"{verdict:8s} {name.removeprefix('hypernet_lib.')}({label}) {detail}")
    counts = {v: sum(r[2] == v for r in rows) for v in ("clear", "unclear", "silent")}
    n_callables = len({r[0] for r in rows})
    print(
        f"\n{len(rows)} bad calls to {n_callables} public callables: "
        + ", ".join(f"{n} {v}" for v, n in counts.items())
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
