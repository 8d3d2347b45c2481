"""Shipped checkpoints: every fault a student can meet is refused with the command that fixes it."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import torch

from hypernet_lib import checkpoints as ck
from hypernet_lib.checkpoints import CheckpointError, load_checkpoint, load_or_train, read_manifest, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CMD = "python -m course.lec99_demo"


class Foreign:
    """An arbitrary Python object: unpickling it would run code, so weights_only refuses it."""


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HYPERNET_CHECKPOINTS", str(tmp_path))
    return tmp_path


def _save(config=None) -> Path:
    return save_checkpoint(
        "99_demo.pt", {"state": {"w": torch.arange(4.0)}}, recipe="course.lec99_demo", config=config or {"n": 1}
    )


def test_a_saved_checkpoint_loads_with_its_config_recipe_and_platform(store):
    _save()
    payload = load_checkpoint("99_demo.pt", command=CMD, config={"n": 1}, keys=("state",))
    assert torch.equal(payload["state"]["w"], torch.arange(4.0))
    assert payload["recipe"] == "course.lec99_demo" and payload["config"] == {"n": 1}
    assert set(payload["platform"]) == {"torch", "cpu_capability", "device"}
    assert read_manifest(store)["99_demo.pt"] == ck.file_digest(store / "99_demo.pt")


@pytest.mark.parametrize(
    "content, says",
    [
        (None, "is missing"),
        (b"", "it is empty"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n", "git-lfs pointer"),
        (b"<!DOCTYPE html><html><body>404</body></html>", "HTML"),
        (b"\x00\x01garbage", "not a PyTorch checkpoint"),
    ],
    ids=["missing", "empty", "lfs-pointer", "html-page", "garbage"],
)
def test_a_missing_or_foreign_file_names_the_command_that_makes_it(store, content, says):
    if content is not None:
        (store / "99_demo.pt").write_bytes(content)
    with pytest.raises(CheckpointError, match=says) as err:
        load_checkpoint("99_demo.pt", command=CMD)
    assert CMD in str(err.value)


def test_a_truncated_file_is_refused(store):
    path = _save()
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint|differs from the file recorded") as err:
        load_checkpoint("99_demo.pt", command=CMD)
    assert CMD in str(err.value)


def test_a_flipped_bit_is_caught_by_the_checksum(store):
    path = _save()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="differs from the file recorded in MANIFEST.json") as err:
        load_checkpoint("99_demo.pt", command=CMD)
    assert "git checkout -- checkpoints/99_demo.pt" in str(err.value) and CMD in str(err.value)


def test_another_lectures_file_or_another_config_is_refused(store):
    _save({"n": 1})
    with pytest.raises(CheckpointError, match=r"lacks \['hnet'\]"):
        load_checkpoint("99_demo.pt", command=CMD, keys=("hnet",))
    with pytest.raises(CheckpointError, match=r"another config \(n: 1 → 2\)"):
        load_checkpoint("99_demo.pt", command=CMD, config={"n": 2})


def test_a_plain_torch_file_that_needs_pickle_is_refused_not_unpickled(store):
    torch.save({"format": 1, "obj": Foreign()}, store / "99_demo.pt")
    with pytest.raises(CheckpointError, match="cannot be loaded"):
        load_checkpoint("99_demo.pt", command=CMD)


def test_load_or_train_trains_when_missing_or_when_the_config_changed_and_then_loads(store, capsys):
    calls = []

    def train(config):
        calls.append(dict(config))
        return {"state": {"w": torch.full((2,), float(config["n"]))}}

    first = load_or_train("99_demo.pt", {"n": 1}, train, recipe="course.lec99_demo")
    again = load_or_train("99_demo.pt", {"n": 1}, train, recipe="course.lec99_demo")
    changed = load_or_train("99_demo.pt", {"n": 3}, train, recipe="course.lec99_demo")
    assert calls == [{"n": 1}, {"n": 3}]
    assert torch.equal(first["state"]["w"], again["state"]["w"]) and float(changed["state"]["w"][0]) == 3.0
    assert "not there: training it now" in capsys.readouterr().out


def test_load_or_train_does_not_train_over_a_damaged_file(store):
    (store / "99_demo.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="it is empty"):
        load_or_train("99_demo.pt", {"n": 1}, lambda c: {}, recipe="course.lec99_demo")


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="name: expected a checkpoint file name"):
        ck.checkpoint_path("../etc/passwd")


def test_every_shipped_checkpoint_matches_the_manifest_and_names_its_recipe():
    directory = ROOT / "checkpoints"
    manifest = read_manifest(directory)
    files = sorted(p.name for p in directory.glob("*.pt"))
    assert sorted(manifest) == files, "checkpoints/MANIFEST.json must list exactly the shipped .pt files"
    for name in files:
        assert ck.file_digest(directory / name) == manifest[name], f"{name} differs from its manifest entry"
        payload = torch.load(directory / name, weights_only=True, map_location="cpu")
        recipe = importlib.import_module(payload["recipe"])
        assert name in json.dumps([getattr(recipe, "NAME", ""), *getattr(recipe, "NAMES", ())]), (
            f"{name}: its recipe {payload['recipe']} does not make it"
        )
