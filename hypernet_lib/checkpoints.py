"""Shipped models: where they live, how they are saved and checked, and the way out when one is missing.

Every model a lecture loads instead of training live comes from a *recipe* in ``course/`` (one per lecture,
``python -m course.<recipe>`` retrains it) and is saved as a plain dict, loadable with
``torch.load(..., weights_only=True)``::

    {"format": 1, "recipe": "course.lec05_lowrank", "config": {...}, "platform": {...}, ...}

``config`` is everything that shaped the model (sizes, steps, seeds): :func:`load_checkpoint` compares it
with the config the notebook asks for, so a notebook and its recipe cannot drift apart silently.
``platform`` records where it was trained (torch version, CPU kernel, device): useful when two machines
disagree. ``checkpoints/MANIFEST.json`` lists the SHA-256 of every file; a file that does not match (a
flipped bit, a truncated download, a git-lfs pointer, an HTML error page) is refused. Every refusal is a
:class:`CheckpointError` whose message names the command that makes the file again.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from .env import platform_fingerprint

FORMAT = 1
ROOT = Path(__file__).resolve().parents[1]
MANIFEST_NAME = "MANIFEST.json"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or not the one asked for; the message says how to make it."""


class ConfigMismatch(CheckpointError):
    """The checkpoint is fine but was made with another config than the one asked for."""


def checkpoint_dir() -> Path:
    """``checkpoints/`` of the repository (or ``$HYPERNET_CHECKPOINTS``), whatever the working directory."""
    return Path(os.environ.get("HYPERNET_CHECKPOINTS", ROOT / "checkpoints"))


def checkpoint_path(name: str) -> Path:
    """The path of checkpoint ``name`` (a file name such as ``"05_sweep.pt"``)."""
    if not isinstance(name, str) or not name.endswith(".pt") or "/" in name or "\\" in name:
        raise ValueError(f"name: expected a checkpoint file name such as '05_sweep.pt', got {name!r}")
    return checkpoint_dir() / name


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, in hex."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a file path (str or Path), got {type(path).__name__}")
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(directory: Path | None = None) -> dict[str, str]:
    """``{file name: sha256}`` of the shipped checkpoints (empty when there is no manifest)."""
    if directory is not None and not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"directory: expected a folder path (str or Path), got {type(directory).__name__}")
    if directory is not None and not Path(directory).is_dir():
        raise FileNotFoundError(f"directory: no folder {directory} (the shipped checkpoints are in {checkpoint_dir()})")
    path = Path(directory or checkpoint_dir()) / MANIFEST_NAME
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _write_manifest(entries: Mapping[str, str], directory: Path) -> None:
    text = json.dumps(dict(sorted(entries.items())), indent=1) + "\n"
    (directory / MANIFEST_NAME).write_text(text, encoding="utf-8")


def _plain(value: Any) -> Any:
    """Configs compare as JSON would see them: tuples and lists alike, dict keys as strings."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def config_difference(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """The keys on which two configs differ, each as ``"key: stored → wanted"``."""
    for name, config in (("stored", stored), ("wanted", wanted)):
        if not isinstance(config, Mapping):
            raise TypeError(f"{name}: expected a config dict, got {type(config).__name__}")
    a, b = _plain(stored), _plain(wanted)
    return [
        f"{k}: {a.get(k, '(absent)')!r} → {b.get(k, '(absent)')!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]


def save_checkpoint(name: str, payload: Mapping[str, Any], *, recipe: str, config: Mapping[str, Any]) -> Path:
    """Save ``payload`` (tensors, numbers, strings, lists, dicts) with its recipe, config and platform.

    Also records the file's checksum in ``MANIFEST.json``, so the file just made is the one that loads.
    """
    if not isinstance(payload, Mapping):
        raise TypeError(f"payload: expected a dict of tensors and plain values, got {type(payload).__name__}")
    reserved = {"format", "recipe", "config", "platform"} & set(payload)
    if reserved:
        raise ValueError(f"payload: the keys {sorted(reserved)} are written by save_checkpoint itself")
    path = checkpoint_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"format": FORMAT, "recipe": recipe, "config": dict(config), "platform": platform_fingerprint()}
    record.update(payload)
    tmp = path.with_suffix(".tmp")
    torch.save(record, tmp)
    tmp.replace(path)
    manifest = read_manifest(path.parent)
    manifest[name] = file_digest(path)
    _write_manifest(manifest, path.parent)
    return path


def _why_unreadable(path: Path) -> str | None:
    head = path.read_bytes()[:200]
    if not head:
        return "it is empty"
    if head.startswith(b"version https://git-lfs"):
        return "it is a git-lfs pointer, not the file (run `git lfs pull`, or make it anew)"
    if head.lstrip()[:1] == b"<":
        return "it is an HTML or XML page, not a checkpoint (a failed download?)"
    if not zipfile.is_zipfile(path):
        return "it is not a PyTorch checkpoint (truncated or another kind of file)"
    return None


def load_checkpoint(
    name: str,
    *,
    command: str,
    config: Mapping[str, Any] | None = None,
    keys: Iterable[str] = (),
    map_location: str | torch.device | None = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint made by a recipe, refusing anything that is not exactly what was asked for.

    Args:
        name: the file name under ``checkpoints/``.
        command: the shell command that makes the file (named in every error).
        config: when given, the stored config must equal it (tuples and lists compare alike).
        keys: entries the payload must have.
    Raises :class:`CheckpointError` (missing, unreadable, checksum mismatch, wrong keys or config).
    """
    path = checkpoint_path(name)
    again = f"Make it again with:  {command}"
    if not path.exists():
        raise CheckpointError(f"checkpoint {name} is missing (looked in {path.parent}). {again}")
    why = _why_unreadable(path)
    if why:
        raise CheckpointError(f"checkpoint {name} cannot be read: {why}. {again}")
    expected = read_manifest(path.parent).get(name)
    if expected is not None and file_digest(path) != expected:
        raise CheckpointError(
            f"checkpoint {name} differs from the file recorded in {MANIFEST_NAME} (damaged or replaced). "
            f"Restore it with `git checkout -- checkpoints/{name}`, or: {again}"
        )
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"checkpoint {name} cannot be loaded ({type(exc).__name__}). {again}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {name} is not in this course's checkpoint format. {again}")
    missing = [k for k in keys if k not in payload]
    if missing:
        raise CheckpointError(f"checkpoint {name} lacks {missing} (another lecture's file?). {again}")
    if config is not None:
        diff = config_difference(payload["config"], config)
        if diff:
            raise ConfigMismatch(f"checkpoint {name} was made with another config ({'; '.join(diff)}). {again}")
    return payload


def load_or_train(
    name: str,
    config: Mapping[str, Any],
    train: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    *,
    recipe: str,
    keys: Iterable[str] = (),
    estimate: str = "",
) -> dict[str, Any]:
    """The checkpoint made with ``config`` if it is there; otherwise train it now, save it and return it.

    A missing file or one made with another config is trained anew (``train(config)`` returns the payload),
    with a line saying so; a damaged file is an error (training over it would hide the damage).
    ``estimate`` (e.g. ``"about 4 minutes on 2 CPU cores"``) is printed before training starts.
    """
    command = f"python -m {recipe}"
    path = checkpoint_path(name)
    if path.exists():
        try:
            return load_checkpoint(name, command=command, config=config, keys=keys)
        except ConfigMismatch:
            pass
    reason = "made with another config" if path.exists() else "not there"
    print(f"checkpoint {name} is {reason}: training it now{f' ({estimate})' if estimate else ''}.", flush=True)
    start = time.perf_counter()
    payload = dict(train(config))
    save_checkpoint(name, payload, recipe=recipe, config=config)
    print(f"saved {path} after {time.perf_counter() - start:.0f} s", flush=True)
    return load_checkpoint(name, command=command, config=config, keys=keys)
