"""Every public callable of hypernet_lib, fed bad input (None, a string, NaN, -1, an integer tensor of the
wrong rank in every required argument), answers with an error that names an argument or says what it
expected (tools/probe_api.py). The few calls that succeed are valid inputs, listed here by hand: a new
public function that fails obscurely, or accepts garbage silently, fails this test."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from hypernet_lib import load_digits, mean_ci
from hypernet_lib.checkpoints import read_manifest
from hypernet_lib.data.sinusoids import sinusoid
from hypernet_lib.target import TargetSpec
from hypernet_lib.train import optimizer_step

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("probe_api", ROOT / "tools" / "probe_api.py")
probe_api = sys.modules["probe_api"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe_api)

# (callable, bad value) pairs that rightly succeed: the value is a valid input there.
VALID = {
    ("hypernet_lib.apps.adapters.tokenize", "string"),  # any text is a description
    ("hypernet_lib.checkpoints.read_manifest", "None"),  # None: the shipped checkpoints' folder
    ("hypernet_lib.data.digits.load_digits", "None"),  # None: the default device
    ("hypernet_lib.measure.mean_ci", "int tensor"),  # integers are numbers too
    ("hypernet_lib.train.progress_bar", "string"),  # a str is iterable (its characters)
    ("hypernet_lib.train.progress_mode", "None"),  # None: $HYPERNET_PROGRESS decides
}


@pytest.fixture(scope="module")
def rows(monkeypatch_module):
    return probe_api.probe()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HYPERNET_PROGRESS", "off")
        mp.setenv("MPLBACKEND", "agg")
        n = torch.get_num_threads()
        yield mp
        torch.set_num_threads(n)


def test_the_probe_reaches_the_whole_public_api(rows):
    names = {r[0] for r in rows}
    assert len(names) >= 150, f"only {len(names)} public callables found: the module walk is broken"
    for expected in (
        "hypernet_lib.target.describe",
        "hypernet_lib.hypernets.full.HyperNetwork",
        "hypernet_lib.train.fit",
    ):
        assert expected in names


def test_no_bad_input_gets_an_obscure_error(rows):
    unclear = [f"{n}({v}): {d}" for n, v, verdict, d in rows if verdict == "unclear"]
    assert not unclear, "errors that name no argument:\n" + "\n".join(unclear)


def test_only_valid_inputs_are_accepted_silently(rows):
    silent = {(n, v) for n, v, verdict, _ in rows if verdict == "silent"}
    assert silent <= VALID, f"bad input accepted without a word: {sorted(silent - VALID)}"


def _sgd() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: sinusoid(torch.ones(2, 3, 1), torch.ones(3), torch.ones(2)),
         ValueError, r"amplitude: expected one value per task, shape \[2\], got \[3\]"),
        (lambda: optimizer_step(_sgd(), torch.ones(3)),
         TypeError, r"loss: expected a 1-element tensor \(the loss to minimise\), got a tensor of shape \[3\]"),
        (lambda: optimizer_step("adam", torch.ones(())), TypeError, "opt: expected a torch.optim.Optimizer, got str"),
        (lambda: load_digits(device=torch.ones(2)), TypeError, "device: expected None, a name such as 'cpu'"),
        (lambda: load_digits(device="gpu"), ValueError, "device: "),
        (lambda: read_manifest("no/such/folder"), FileNotFoundError, "directory: no folder no/such/folder"),
        (lambda: TargetSpec(["0.weight"]), TypeError, r"params: expected ParamInfo entries \(describe\(module\) makes them\)"),
        (lambda: mean_ci("0.9, 0.8"), TypeError, "values: expected a list or tensor of numbers, got str"),
    ],
    ids=["sinusoid-amplitude-per-task", "optimizer-step-loss-scalar", "optimizer-step-opt", "digits-device-type",
         "digits-device-name", "manifest-folder-missing", "spec-of-names", "mean-ci-of-a-string"],
)  # fmt: skip
def test_the_messages_a_student_sees(call, error, message):
    with pytest.raises(error, match=message):
        call()
