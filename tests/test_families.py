"""The contract every hypernetwork family keeps, and every wrapper relies on.

``Family(spec, z_dim, *, knobs, hidden=..., init=..., gain=..., z_sample=None)``, called as ``hnet(z)``:
``[B, d_z] → {name: [B, *shape]}`` and ``[d_z] → {name: [*shape]}``; a wrong ``z`` is refused with a
message naming what was expected; at initialisation the generated weights have the target's scale; and
every wrapper (set encoder, best-response net, continual learner) takes any family.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from targets import relu_mlp
from torch import nn

from hypernet_lib import describe, functional_forward
from hypernet_lib.apps.continual import HyperNetLearner
from hypernet_lib.apps.hyperopt import BestResponseNet
from hypernet_lib.hypernets import (
    FAMILIES,
    ChunkedHyperNet,
    FlowHyperNetwork,
    HyperNetBase,
    HyperNetwork,
    LowRankHyperNet,
    SetEncoder,
    SetHyperNetwork,
    WeightNormFlowHyperNetwork,
)

# One factory per family (and per notable knob): (spec, z_dim, **overrides) -> hypernetwork.
FACTORIES = {
    "full": lambda spec, z_dim, **kw: HyperNetwork(spec, z_dim, hidden=kw.pop("hidden", (16,)), **kw),
    "chunked-global": lambda spec, z_dim, **kw: ChunkedHyperNet(
        spec, z_dim, chunk_size=7, hidden=kw.pop("hidden", (16,)), **kw
    ),
    "chunked-layer": lambda spec, z_dim, **kw: ChunkedHyperNet(
        spec, z_dim, chunk_size=7, layout="layer", hidden=kw.pop("hidden", (16,)), **kw
    ),
    "lowrank": lambda spec, z_dim, **kw: LowRankHyperNet(spec, z_dim, rank=2, hidden=kw.pop("hidden", (16,)), **kw),
    "lowrank-base": lambda spec, z_dim, **kw: LowRankHyperNet(
        spec, z_dim, rank=2, base=True, hidden=kw.pop("hidden", (16,)), **kw
    ),
    "flow-meanfield": lambda spec, z_dim, **kw: FlowHyperNetwork(spec, z_dim, n_couplings=0, **kw),
    "flow-weightnorm": lambda spec, z_dim, **kw: WeightNormFlowHyperNetwork(
        spec, z_dim, n_couplings=2, hidden=kw.pop("hidden", (8,)), **kw
    ),
    "flow-coupled": lambda spec, z_dim, **kw: FlowHyperNetwork(
        spec, z_dim, n_couplings=2, hidden=kw.pop("hidden", (8,)), **kw
    ),
}
FLOWS = {"flow-meanfield", "flow-coupled", "flow-weightnorm"}


def z_dim_for(name: str, spec) -> int:
    # a flow's noise has the size of what it transforms: every number, or one scale per unit
    return FACTORIES[name](spec, None).z_dim if name in FLOWS else 3


@pytest.fixture(params=sorted(FACTORIES))
def family(request):
    return request.param


def build(name: str, target: nn.Module, **kw) -> HyperNetBase:
    torch.manual_seed(0)
    spec = describe(target)
    return FACTORIES[name](spec, z_dim_for(name, spec), **kw)


def test_the_factories_cover_every_family():
    assert {type(build(n, nn.Linear(2, 3))) for n in FACTORIES} == set(FAMILIES)


def test_built_from_a_spec_and_an_embedding_size(family, mlp):
    hnet = build(family, mlp)
    assert isinstance(hnet, HyperNetBase)
    assert hnet.spec.names == describe(mlp).names and hnet.z_dim == z_dim_for(family, describe(mlp))


def test_batched_z_gives_batched_parameters_and_one_z_gives_one_set(family, cnn):
    hnet = build(family, cnn)
    z = torch.randn(5, hnet.z_dim)
    params = hnet(z)
    assert {k: tuple(v.shape) for k, v in params.items()} == {n: (5, *p.shape) for n, p in cnn.named_parameters()}
    single = hnet(z[2])
    for name, value in single.items():
        torch.testing.assert_close(value, params[name][2])


def test_generated_weights_run_the_target_batched_and_carry_gradients_to_every_parameter(family, mlp):
    hnet = build(family, mlp)
    with torch.no_grad():  # layers that start at zero (U with a base, a coupling's output) block gradients at init
        for p in hnet.parameters():
            if not p.any():
                p.normal_(0.0, 0.1)
    out = functional_forward(mlp, hnet(torch.randn(4, hnet.z_dim)), torch.randn(4, 6, 3))
    assert out.shape == (4, 6, 2)
    out.pow(2).mean().backward()
    trained = {n: p for n, p in hnet.named_parameters() if p.requires_grad}
    assert trained and all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in trained.values()), [
        n for n, p in trained.items() if p.grad is None or not bool(p.grad.abs().sum() > 0)
    ]


def test_gradients_through_generated_weights_match_finite_differences(family):
    """∂L/∂φ through θ = h_φ(z), the target and the loss, checked in float64 (the lecture 01 check, per family)."""
    target = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1)).double()
    hnet = build(family, target, **({} if family in FLOWS else {"hidden": (3,)})).double()
    with torch.no_grad():
        for p in hnet.parameters():
            if not p.any():
                p.normal_(0.0, 0.1)
    z = torch.randn(2, hnet.z_dim, dtype=torch.float64)
    x, y = torch.randn(2, 4, 2, dtype=torch.float64), torch.randn(2, 4, 1, dtype=torch.float64)
    names = [n for n, _ in hnet.named_parameters()]

    def loss(*phi):
        params = torch.func.functional_call(hnet, dict(zip(names, phi)), (z,))
        return (functional_forward(target, params, x) - y).pow(2).mean()

    phi = tuple(p.detach().clone().requires_grad_() for p in hnet.parameters())
    assert torch.autograd.gradcheck(loss, phi, eps=1e-6, atol=1e-5)


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (lambda d: torch.randn(5, d + 1), ValueError, r"z: expected last dimension d_z=\d+, got shape \[5, \d+\]"),
        (lambda d: torch.randn(2, 5, d), ValueError, "z: expected 1 or 2 dimensions"),
        (lambda d: torch.ones(3, d, dtype=torch.int64), TypeError, "z: expected a floating-point tensor"),
        (lambda d: torch.randn(3, d, dtype=torch.float64), TypeError, r"z: dtype torch.float64.*call z.to"),
        (lambda d: torch.full((2, d), float("nan")), ValueError, "z: contains NaN or inf"),
        (lambda d: np.zeros((2, d), dtype=np.float32), TypeError, "z: expected a torch.Tensor.*torch.as_tensor"),
    ],
    ids=["last-dim", "3-d", "int", "float64", "nan", "numpy"],
)
def test_a_wrong_z_is_refused_with_what_was_expected(family, mlp, bad, error, message):
    hnet = build(family, mlp)
    with pytest.raises(error, match=message):
        hnet(bad(hnet.z_dim))


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"hidden": 64}, TypeError, r"hidden: expected a sequence of layer widths such as \(64,\), got the int 64"),
        ({"hidden": (16, 0)}, ValueError, "hidden: expected a positive integer, got 0"),
        ({"gain": 0.0}, ValueError, "gain: expected a positive finite number"),
        ({"gain": float("nan")}, ValueError, "gain: expected a positive finite number"),
        ({"init": "xavier"}, ValueError, "init: expected one of"),
    ],
    ids=["hidden-int", "hidden-zero", "gain-zero", "gain-nan", "init-name"],
)
def test_bad_construction_arguments_name_the_argument(family, mlp, kwargs, error, message):
    if family in FLOWS and set(kwargs) != {"hidden"}:
        pytest.skip("a flow has no init or gain: its mean starts at the target's own initialisation")
    with pytest.raises(error, match=message):
        build(family, mlp, **kwargs)


def test_a_spec_is_required_not_a_module(family, mlp):
    with pytest.raises(TypeError, match="spec: expected a TargetSpec"):
        FACTORIES[family](mlp, 3)


WIDTHS = [256, 128, 128, 10]


def activation_second_moments(hnet: HyperNetBase, target: nn.Module, n_tasks: int = 16) -> list[float]:
    """E[pre-activation²] at each layer of the target for inputs with E[x²] = 1, over ``n_tasks`` embeddings."""
    with torch.no_grad():
        params = hnet(torch.randn(n_tasks, hnet.z_dim))
        x = torch.randn(n_tasks, 100, WIDTHS[0])
        moments = []
        for i in range(0, len(target), 2):
            sub = target[: i + 1]
            moments.append(
                float(functional_forward(sub, {k: v for k, v in params.items() if int(k[0]) <= i}, x).pow(2).mean())
            )
    return moments


@pytest.mark.parametrize("name", ["full", "chunked-global", "chunked-layer"])
def test_hyperfan_in_starts_every_layer_at_the_he_scale_and_pytorch_default_does_not(name):
    """The low-rank family matches the per-weight variance on average instead (tests/test_lowrank.py): its
    per-task scale, |e|⁴, is shared by all layers, so deep activations drift with it."""
    torch.manual_seed(0)
    target = relu_mlp(WIDTHS)
    spec = describe(target)
    knobs = {
        "full": {},
        "chunked-global": {"chunk_size": 1000},
        "chunked-layer": {"chunk_size": 1000, "layout": "layer"},
    }[name]
    cls = HyperNetwork if name == "full" else ChunkedHyperNet
    hyperfan = cls(spec, 32, hidden=(64,), **knobs)
    moments = activation_second_moments(hyperfan, target)
    # He scale: E[pre²] = fan_in · (2 / fan_in) · E[x²] = 2 at the first layer, and the same after every ReLU.
    assert moments[0] == pytest.approx(2.0, rel=0.3), moments
    assert all(0.5 < m / moments[0] < 2.0 for m in moments), moments
    # PyTorch sizes the head for the hypernetwork's fan-in (64), not the target's: activations grow layer by layer
    default = activation_second_moments(cls(spec, 32, hidden=(64,), init="default", **knobs), target)
    assert default[-1] / default[0] > 3.0, default


@pytest.mark.parametrize("name", ["flow-meanfield", "flow-coupled"])
def test_a_flow_starts_at_the_targets_own_weights_with_a_small_spread(name, mlp):
    spec = describe(mlp)
    hnet = FACTORIES[name](spec, None, init_from=mlp, init_std=0.05)
    samples = hnet(torch.randn(4000, spec.num_params))
    for n, p in mlp.named_parameters():
        torch.testing.assert_close(samples[n].mean(0), p.detach(), atol=0.01, rtol=0)
        assert float(samples[n].std(0).mean()) == pytest.approx(0.05, rel=0.1)


# --- every wrapper takes every family --------------------------------------------------------


def test_a_set_encoder_can_feed_any_family(family):
    target = nn.Sequential(nn.Linear(1, 8), nn.ReLU(), nn.Linear(8, 1))
    spec = describe(target)
    hnet = FACTORIES[family](spec, z_dim_for(family, spec))
    model = SetHyperNetwork(SetEncoder(2, hnet.z_dim, hidden=(8,)), hnet)
    params = model(torch.randn(3, 5, 1), torch.randn(3, 5, 1))
    assert functional_forward(target, params, torch.randn(3, 7, 1)).shape == (3, 7, 1)


def test_a_best_response_net_can_use_any_family_with_a_one_number_input(family):
    target = nn.Linear(4, 3)
    spec = describe(target)
    if family in FLOWS:
        pytest.skip("a flow's input is noise of the target's size, not a hyperparameter")
    br = BestResponseNet(target, (-3.0, 0.0), hnet=FACTORIES[family](spec, 1))
    assert br(torch.tensor([-2.0, -1.0]))["weight"].shape == (2, 3, 4)


def test_a_continual_learner_can_use_any_family(family):
    target = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    spec = describe(target)
    if family in FLOWS:
        pytest.skip("a flow's input is noise of the target's size, not a learned task embedding")
    learner = HyperNetLearner(target, FACTORIES[family](spec, 3), n_tasks=2, n_steps=2)
    x, y = torch.randn(10, 4), torch.randint(0, 2, (10,))
    learner.fit_task(0, x, y)
    assert learner.logits(0, x).shape == (10, 2)


def test_a_family_runs_under_torch_func_transforms(family, mlp):
    """vmap over several stacked runs (lecture 05's sweep) and grad with respect to z both work on hnet(z)."""
    hnet = build(family, mlp)
    stacked = torch.func.vmap(hnet)(torch.randn(3, 2, hnet.z_dim))
    assert stacked["0.weight"].shape == (3, 2, 8, 3)
    dz = torch.func.grad(lambda z: hnet(z)["0.weight"].pow(2).sum())(torch.randn(hnet.z_dim))
    assert dz.shape == (hnet.z_dim,)
