"""Every public entry point refuses bad input with a message that names the argument and says what to do.

One table: entry point × bad input × the message a student sees. A row that raises anything else, or
raises with another message, or returns (a silent wrong answer), fails.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import hypernet_lib as hl
from hypernet_lib import data, train
from hypernet_lib.hypernets import SetEncoder, mlp

TARGET = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
SPEC = hl.describe(TARGET)


class WithScalar(nn.Module):
    def __init__(self):
        super().__init__()
        self.temperature = nn.Parameter(torch.tensor(1.0))
        self.empty = nn.Linear(3, 0)


def params_of(b: int | None = None, device: str = "cpu") -> dict[str, torch.Tensor]:
    return {
        n: (p.detach() if b is None else p.detach().expand(b, *p.shape)).to(device)
        for n, p in TARGET.named_parameters()
    }


CASES = [
    # describe / TargetSpec
    ("describe(module=tensor)", lambda: hl.describe(torch.zeros(3)), TypeError, "module: expected a torch.nn.Module"),
    (
        "describe(include=str)",
        lambda: hl.describe(TARGET, include="0.weight"),
        TypeError,
        r"include: expected a list.*write \['0.weight'\]",
    ),
    (
        "describe(include repeated)",
        lambda: hl.describe(TARGET, include=["0.weight", "0.weight"]),
        ValueError,
        r"include: \['0.weight'\] listed more than once",
    ),
    (
        "describe(include unknown)",
        lambda: hl.describe(TARGET, include=["w"]),
        ValueError,
        r"include: \['w'\] are not parameters",
    ),
    (
        "describe(zero-size layer)",
        lambda: hl.describe(WithScalar()),
        ValueError,
        r"parameter 'empty.weight' has shape \[0, 3\]",
    ),
    ("describe(no parameters)", lambda: hl.describe(nn.ReLU()), ValueError, "has no parameters to generate"),
    ("split(wrong P)", lambda: SPEC.split(torch.zeros(2, 5)), ValueError, r"flat: expected last dimension 26"),
    ("flatten(missing key)", lambda: SPEC.flatten({"0.weight": torch.zeros(4, 3)}), ValueError, r"missing \['0.bias'"),
    # functional_forward
    (
        "functional_forward(int x)",
        lambda: hl.functional_forward(TARGET, params_of(), torch.zeros(5, 3, dtype=torch.int64)),
        TypeError,
        "x: expected a floating-point tensor",
    ),
    (
        "functional_forward(batch mismatch)",
        lambda: hl.functional_forward(TARGET, params_of(2), torch.zeros(3, 5, 3)),
        ValueError,
        r"x: expected shape \[B=2, N, \.\.\.\]",
    ),
    (
        "functional_forward(wrong shape)",
        lambda: hl.functional_forward(TARGET, {**params_of(), "0.weight": torch.zeros(3, 4)}, torch.zeros(5, 3)),
        ValueError,
        r"params\['0.weight'\]: expected shape \[4, 3\]",
    ),
    (
        "functional_forward(meta device)",
        lambda: hl.functional_forward(TARGET, params_of(), torch.zeros(5, 3, device="meta")),
        ValueError,
        "x: on meta, the parameters .* on cpu",
    ),
    (
        "functional_forward(params not a dict)",
        lambda: hl.functional_forward(TARGET, [torch.zeros(1)], torch.zeros(5, 3)),
        TypeError,
        r"params: expected a dict",
    ),
    # the MLP builder and the set encoder
    ("mlp(int widths)", lambda: mlp(5), TypeError, r"widths: expected a sequence of layer widths"),
    ("mlp(one width)", lambda: mlp((4,)), ValueError, r"widths: expected at least \(d_in, d_out\)"),
    ("mlp(activation)", lambda: mlp((2, 3), activation="gelu"), ValueError, "activation: expected one of"),
    (
        "mlp(dropout=1)",
        lambda: mlp((2, 3, 1), dropout=1.0),
        ValueError,
        r"dropout: expected None or a probability in \[0, 1\)",
    ),
    (
        "SetEncoder(hidden=int)",
        lambda: SetEncoder(2, 4, hidden=8),
        TypeError,
        r"hidden: expected a sequence of layer widths such as \(8,\)",
    ),
    (
        "SetEncoder(empty set)",
        lambda: SetEncoder(2, 4, hidden=(8,))(torch.zeros(3, 0, 2)),
        ValueError,
        r"expected at least one element per set",
    ),
    (
        "SetHyperNetwork(not a family)",
        lambda: hl.SetHyperNetwork(SetEncoder(2, 4, hidden=(8,)), nn.Linear(4, 4)),
        TypeError,
        "hypernet: expected a hypernetwork family",
    ),
    (
        "HyperNetwork(too large)",
        lambda: hl.HyperNetwork(hl.describe(nn.Linear(4000, 4000)), 4, hidden=(64,)),
        MemoryError,
        r"HyperNetwork: would allocate .* above the .* limit .*a smaller hidden\[-1\]",
    ),
    (
        "count_parameters(tensor)",
        lambda: hl.count_parameters(torch.zeros(3)),
        TypeError,
        "module: expected a torch.nn.Module",
    ),
    # training loop
    ("fit(step not callable)", lambda: hl.fit(3, 5), TypeError, "step: expected a callable"),
    ("fit(n_steps=0)", lambda: hl.fit(lambda i: 0.0, 0), ValueError, "n_steps: expected a positive integer, got 0"),
    (
        "fit(step returns None)",
        lambda: hl.fit(lambda i: None, 3, progress=False),
        TypeError,
        r"step: expected step\(0\) to return the loss .*got None",
    ),
    (
        "fit(step returns a vector)",
        lambda: hl.fit(lambda i: torch.zeros(3), 3, progress=False),
        TypeError,
        r"got a tensor of shape \[3\]",
    ),
    (
        "fit(progress='yes')",
        lambda: hl.fit(lambda i: 0.0, 3, progress="yes"),
        TypeError,
        "progress: expected True, False or None",
    ),
    (
        "minibatch_indices(batch_size=0)",
        lambda: train.minibatch_indices(10, 0, None),
        ValueError,
        "batch_size: expected None or a positive integer, got 0",
    ),
    (
        "cosine_schedule(cosine='yes')",
        lambda: train.cosine_schedule(torch.optim.SGD([nn.Parameter(torch.zeros(1))], 0.1), 5, "yes"),
        TypeError,
        "cosine: expected a bool",
    ),
    # measurement
    ("mean_ci(one value)", lambda: hl.mean_ci([1.0]), ValueError, "values: expected at least 2 numbers"),
    ("mean_ci(nan)", lambda: hl.mean_ci([1.0, float("nan")]), ValueError, "values: contain NaN or inf"),
    (
        "mean_ci(confidence=95)",
        lambda: hl.mean_ci([1.0, 2.0], confidence=95),
        ValueError,
        r"confidence: expected a number in \(0, 1\)",
    ),
    (
        "spearman(lengths)",
        lambda: hl.spearman(torch.zeros(3), torch.zeros(4)),
        ValueError,
        "a, b: expected two vectors of the same length",
    ),
    (
        "spearman(constant)",
        lambda: hl.spearman(torch.ones(4), torch.arange(4.0)),
        ValueError,
        "undefined when one of them is constant",
    ),
    (
        "spearman(nan)",
        lambda: hl.spearman(torch.tensor([1.0, float("nan"), 2.0]), torch.arange(3.0)),
        ValueError,
        "a: contains NaN or inf",
    ),
    (
        "median_times(repeats=0)",
        lambda: hl.median_times({"a": lambda: None}, repeats=0),
        ValueError,
        "repeats: expected a positive integer",
    ),
    # seeds and data
    ("seed_everything('0')", lambda: hl.seed_everything("0"), TypeError, "seed: expected an int, got str"),
    (
        "sample_sinusoids(n_tasks=0)",
        lambda: hl.sample_sinusoids(0, 5, 5),
        ValueError,
        "n_tasks: expected a positive integer",
    ),
    (
        "dihedral_classes(flat images)",
        lambda: data.dihedral_classes(torch.zeros(4, 64), torch.zeros(4, dtype=torch.int64)),
        ValueError,
        r"images: expected 4 dimensions \(\[n, 1, h, w\] images\)",
    ),
    (
        "dihedral_classes(float labels)",
        lambda: data.dihedral_classes(torch.zeros(4, 1, 8, 8), torch.zeros(4)),
        ValueError,
        "labels: expected int64 class ids of shape",
    ),
    (
        "EpisodeSampler(float labels)",
        lambda: data.EpisodeSampler(torch.zeros(4, 2), torch.zeros(4)),
        TypeError,
        "y: expected integer class labels",
    ),
    (
        "stroke_classes(n_classes=0)",
        lambda: data.stroke_classes(0, 5),
        ValueError,
        "n_classes: expected a positive integer",
    ),
    (
        "cluster_episodes(spread)",
        lambda: data.cluster_episodes(2, 3, 1, 1, spread=(1.0, 0.5)),
        ValueError,
        r"spread: expected \(low, high\)",
    ),
]


@pytest.mark.parametrize("call, error, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_a_clear_message(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_numpy_input_to_a_family_gets_a_conversion_hint():
    with pytest.raises(TypeError, match=r"torch.as_tensor\(z, dtype=torch.float32\)"):
        hl.HyperNetwork(SPEC, 2, hidden=(4,))(np.zeros((3, 2), dtype=np.float64))


def test_a_scalar_parameter_is_described_like_a_bias_and_can_be_generated():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)
            self.temperature = nn.Parameter(torch.tensor(1.0))

        def forward(self, x):
            return self.lin(x) / self.temperature

    spec = hl.describe(Scaled())
    assert spec["temperature"].shape == () and spec["temperature"].is_bias
    params = hl.HyperNetwork(spec, 2, hidden=(4,))(torch.randn(3, 2))
    assert params["temperature"].shape == (3,)
