"""Specification of SMASH-style architecture search and of the best-response hypernetwork."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hypernet_lib import HyperNetwork, describe, spearman
from hypernet_lib.apps.archsearch import (
    ArchSpace,
    arch_accuracy,
    fit_from_scratch,
    fit_smash,
    init_from_scratch,
    smash_accuracy,
    supernet_forward,
)
from hypernet_lib.apps.hyperopt import (
    BestResponseNet,
    fit_best_response,
    fit_weight_decayed,
    penalized_loss,
    tune_hyperparameter,
    validation_loss,
    weight_decay,
)
from hypernet_lib.measure import ranks


@pytest.fixture
def space():
    return ArchSpace(d_in=5, n_out=3, widths=(2, 4), max_depth=2)


# --- the search space ------------------------------------------------------------------------


def test_space_lists_every_architecture_once(space):
    archs = space.all()
    assert archs == [(2,), (4,), (2, 2), (2, 4), (4, 2), (4, 4)]
    assert space.num_params((4, 2)) == (5 * 4 + 4) + (4 * 2 + 2) + (2 * 3 + 3)


def test_encoding_marks_present_layers_and_their_log_widths(space):
    codes = space.encode([(2,), (4, 2)])
    torch.testing.assert_close(codes, torch.tensor([[1.0, 0.5, 0.0, 0.0], [1.0, 1.0, 1.0, 0.5]]))
    assert codes.shape[1] == space.encoding_dim


def test_space_rejects_architectures_outside_it(space):
    with pytest.raises(ValueError, match="hidden widths"):
        space.encode([(3,)])
    with pytest.raises(ValueError, match="hidden widths"):
        space.masks([(2, 2, 2)])
    with pytest.raises(ValueError, match="hidden widths"):
        space.encode([()])


@pytest.mark.parametrize(
    "arch, says",
    [
        ((3,), r"each one of \[2, 4\], got \(3,\)"),
        ((2, 2, 2), r"1 to 2 hidden widths.*got \(2, 2, 2\)"),
        ((2.0,), r"got \(2.0,\)"),
        ((True,), r"got \(True,\)"),
        (4, r"a tuple of hidden widths such as \(4, 4\), got 4"),
        ("44", r"a tuple of hidden widths .* got '44'"),
    ],
    ids=["width-not-allowed", "too-deep", "float-width", "bool-width", "bare-int", "string"],
)
def test_a_bad_architecture_is_named_with_what_the_space_allows(space, arch, says):
    for entry in (space.check, lambda a: space.encode([a]), lambda a: space.masks([a]), space.num_params):
        with pytest.raises(ValueError, match=says):
            entry(arch)


def standalone_mlp(space, arch, params, i):
    """The architecture as an ordinary MLP, with its weights sliced out of the supernet's."""
    dims = [space.d_in, *arch]
    layers = []
    for layer, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        lin = nn.Linear(a, b)
        lin.weight.data = params[f"{2 * layer}.weight"][i, :b, :a]
        lin.bias.data = params[f"{2 * layer}.bias"][i, :b]
        layers += [lin, nn.ReLU()]
    out = nn.Linear(arch[-1], space.n_out)
    last = 2 * space.max_depth
    out.weight.data = params[f"{last}.weight"][i, :, : arch[-1]]
    out.bias.data = params[f"{last}.bias"][i]
    return nn.Sequential(*layers, out)


def test_supernet_with_masks_equals_each_architecture_as_a_standalone_mlp(space):
    torch.manual_seed(0)
    archs = [(2,), (4, 2), (2, 4)]
    params = {k: v + 0.1 for k, v in init_from_scratch(space, archs).items()}  # non-zero biases too
    x = torch.randn(7, space.d_in)
    out = supernet_forward(params, *space.masks(archs), x)
    assert out.shape == (3, 7, space.n_out)
    for i, arch in enumerate(archs):
        torch.testing.assert_close(out[i], standalone_mlp(space, arch, params, i)(x))


def test_supernet_batched_equals_looped(space):
    torch.manual_seed(0)
    archs = space.all()
    params = init_from_scratch(space, archs)
    unit, gate = space.masks(archs)
    x = torch.randn(len(archs), 4, space.d_in)
    out = supernet_forward(params, unit, gate, x)
    for i in range(len(archs)):
        one = supernet_forward({k: v[i : i + 1] for k, v in params.items()}, unit[i : i + 1], gate[i : i + 1], x[i])
        torch.testing.assert_close(out[i], one[0])


def test_supernet_rejects_bad_input(space):
    archs = [(2,), (4,)]
    params = init_from_scratch(space, archs)
    unit, gate = space.masks(archs)
    with pytest.raises(ValueError, match="layer_gate"):
        supernet_forward(params, unit, gate[:1], torch.randn(3, 5))
    with pytest.raises(ValueError, match="missing"):
        supernet_forward({"0.weight": params["0.weight"]}, unit, gate, torch.randn(3, 5))
    with pytest.raises(ValueError, match="batched"):
        supernet_forward({k: v[0] for k, v in params.items()}, unit, gate, torch.randn(3, 5))


def test_from_scratch_init_uses_each_architectures_own_fan_in():
    space = ArchSpace(d_in=8, n_out=2, widths=(2, 64), max_depth=2)
    params = init_from_scratch(space, [(2, 2), (64, 64)] * 200, generator=torch.Generator().manual_seed(0))
    w_out = params["4.weight"]
    # the output layer reads 2 units in the first architecture, 64 in the second: Var = 2 / fan_in
    var_narrow = w_out[0::2, :, :2].var()
    var_wide = w_out[1::2].var()
    assert var_narrow == pytest.approx(1.0, rel=0.15) and var_wide == pytest.approx(2 / 64, rel=0.15)


def test_training_stacked_architectures_equals_training_each_alone(space):
    torch.manual_seed(0)
    x, y = torch.randn(20, space.d_in), torch.randint(0, 3, (20,))
    archs = [(2,), (4, 2)]
    both = fit_from_scratch(space, archs, x, y, n_steps=5, generator=torch.Generator().manual_seed(1))
    # the same initial draws, one architecture at a time
    g = torch.Generator().manual_seed(1)
    init = init_from_scratch(space, archs, g)
    for i, arch in enumerate(archs):
        params = {k: v[i : i + 1].clone().requires_grad_() for k, v in init.items()}
        opt = torch.optim.Adam(params.values(), lr=1e-2)
        for _ in range(5):
            loss = F.cross_entropy(supernet_forward(params, *space.masks([arch]), x)[0], y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        for k in params:
            torch.testing.assert_close(both[k][i], params[k][0].detach())


def test_smash_training_lowers_the_loss_and_scores_every_architecture(space):
    torch.manual_seed(0)
    x = torch.randn(64, space.d_in)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    hnet = HyperNetwork(space.spec(), z_dim=space.encoding_dim, hidden=(16,))
    losses = fit_smash(hnet, space, space.all(), x, y, n_steps=60, archs_per_step=4, batch_size=32, lr=1e-2)
    assert sum(losses[-10:]) < sum(losses[:10])
    acc = smash_accuracy(hnet, space, space.all(), x, y)
    assert acc.shape == (6,) and ((acc >= 0) & (acc <= 1)).all()
    gen = hnet(space.encode(space.all()))
    torch.testing.assert_close(acc, arch_accuracy(gen, space, space.all(), x, y))


# --- rank correlation ------------------------------------------------------------------------------


def test_smash_callback_sees_every_step_and_changes_nothing(space):
    x, y = torch.randn(20, space.d_in), torch.randint(0, space.n_out, (20,))

    def trained(callback):
        torch.manual_seed(0)
        hnet = HyperNetwork(space.spec(), z_dim=space.encoding_dim, hidden=(4,))
        fit_smash(hnet, space, space.all(), x, y, 6, 2, 8, 1e-2, torch.Generator().manual_seed(0), callback=callback)
        return hnet

    steps = []
    a, b = trained(steps.append), trained(None)
    assert steps == [1, 2, 3, 4, 5, 6]
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


NAN, INF = float("nan"), float("inf")


def _smash_call(space, **bad):
    x, y = torch.randn(10, space.d_in), torch.randint(0, space.n_out, (10,))
    hnet = HyperNetwork(space.spec(), z_dim=space.encoding_dim, hidden=(4,))
    kwargs = {"n_steps": 2, "archs_per_step": 2, "batch_size": 4, "lr": 1e-3, **bad}
    return lambda: fit_smash(hnet, space, space.all(), x, y, **kwargs)


def _scratch_call(space, **bad):
    x, y = torch.randn(10, space.d_in), torch.randint(0, space.n_out, (10,))
    kwargs = {"n_steps": 2, "lr": 1e-3, "batch_size": 4, **bad}
    return lambda: fit_from_scratch(space, space.all(), x, y, **kwargs)


@pytest.mark.parametrize(
    "call, says",
    [
        (lambda s: _smash_call(s, lr=NAN), "lr: expected a finite number, got nan"),
        (lambda s: _smash_call(s, lr=INF), "lr: expected a finite number, got inf"),
        (lambda s: _smash_call(s, lr=-1e-3), "lr: expected a number above 0"),
        (lambda s: _smash_call(s, batch_size=0), "batch_size: expected a positive integer, got 0"),
        (lambda s: _smash_call(s, batch_size=None), "batch_size: expected a positive integer, got None"),
        (lambda s: _smash_call(s, archs_per_step=0), "archs_per_step: expected a positive integer"),
        (lambda s: _smash_call(s, n_steps=0), "n_steps: expected a positive integer"),
        (lambda s: _scratch_call(s, lr=INF), "lr: expected a finite number, got inf"),
        (lambda s: _scratch_call(s, batch_size=0), "batch_size: expected a positive integer, got 0"),
        (lambda s: _scratch_call(s, n_steps=-3), "n_steps: expected a positive integer"),
        (lambda s: lambda: init_from_scratch(s, []), "archs: expected at least one architecture"),
        (lambda s: lambda: s.encode([]), "archs: expected at least one architecture"),
        (
            lambda s: lambda: arch_accuracy({}, s, [(2,)], torch.randn(4, s.d_in), torch.zeros(3, dtype=torch.long)),
            r"y: expected int64 labels of shape \[4\]",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_training_settings_are_refused_by_name(space, call, says):
    """batch_size=0 would train on nothing and lr=inf would fill the weights with NaN: both refused."""
    with pytest.raises(ValueError, match=says):
        call(space)()


def test_ranks_average_ties():
    torch.testing.assert_close(
        ranks(torch.tensor([10.0, 30.0, 20.0, 30.0])), torch.tensor([1.0, 3.5, 2.0, 3.5]).double()
    )


def test_spearman_is_one_for_monotone_minus_one_for_reversed_and_matches_the_formula():
    a = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    assert spearman(a, a.exp()) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    b = torch.tensor([2.0, 1.0, 4.0, 3.0, 5.0])
    d2 = ((ranks(a) - ranks(b)) ** 2).sum()
    assert spearman(a, b) == pytest.approx(1 - 6 * float(d2) / (5 * (25 - 1)))  # no ties: the textbook formula


def test_spearman_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        spearman(torch.ones(3), torch.ones(4))
    with pytest.raises(ValueError, match="constant"):
        spearman(torch.ones(3), torch.tensor([1.0, 2.0, 3.0]))


# --- best-response hypernetwork --------------------------------------------------------------------


@pytest.fixture
def linear():
    torch.manual_seed(0)
    return nn.Linear(4, 3)


def test_weight_decay_and_penalized_loss_by_hand(linear):
    params = {"weight": torch.ones(2, 3, 4), "bias": torch.full((2, 3), 5.0)}
    torch.testing.assert_close(weight_decay(describe(linear), params), torch.tensor([12.0, 12.0]))  # biases not decayed
    x, y = torch.randn(6, 4), torch.randint(0, 3, (6,))
    loss = penalized_loss(linear, params, torch.tensor([-1.0, -2.0]), x, y)
    ce = validation_loss(linear, params, x, y)
    torch.testing.assert_close(loss, ce + torch.tensor([1.2, 0.12]))
    single = F.cross_entropy(F.linear(x, params["weight"][0], params["bias"][0]), y)
    torch.testing.assert_close(ce[0], single)


def test_best_response_maps_log_lambda_to_a_batch_of_weights(linear):
    br = BestResponseNet(linear, log_range=(-4.0, 0.0), hidden=(8,))
    params = br(torch.tensor([-4.0, -2.0, 0.0]))
    assert params["weight"].shape == (3, 3, 4) and params["bias"].shape == (3, 3)
    torch.testing.assert_close(br.code(torch.tensor([-4.0, -2.0, 0.0])), torch.tensor([[-1.0], [0.0], [1.0]]))
    s = br.sample(100, torch.Generator().manual_seed(0))
    assert s.min() >= -4 and s.max() <= 0


def test_best_response_learns_that_more_decay_means_smaller_weights(linear):
    torch.manual_seed(0)
    x = torch.randn(40, 4)
    y = x[:, :3].argmax(1)
    br = BestResponseNet(linear, log_range=(-3.0, 1.0), hidden=(16,))
    losses = fit_best_response(br, linear, x, y, n_steps=150, samples_per_step=8, lr=1e-2)
    assert sum(losses[-10:]) < sum(losses[:10])
    with torch.no_grad():
        norms = weight_decay(describe(linear), br(torch.tensor([-3.0, -1.0, 1.0])))
    assert norms[0] > norms[1] > norms[2]


def test_hypergradient_descent_moves_towards_lower_validation_loss_and_stays_in_range(linear):
    torch.manual_seed(0)
    x = torch.randn(40, 4)
    y = x[:, :3].argmax(1)
    br = BestResponseNet(linear, log_range=(-3.0, 1.0), hidden=(16,))
    fit_best_response(br, linear, x, y, n_steps=100, samples_per_step=8, lr=1e-2)
    traj = tune_hyperparameter(br, linear, x, y, log_lam_init=1.0, n_steps=30, lr=0.2)
    assert traj[-1].val_loss < traj[0].val_loss
    assert all(-3.0 <= s.log_lam <= 1.0 for s in traj)
    assert all(p.requires_grad for p in br.parameters())  # φ was frozen only while tuning


def test_grid_training_fits_the_data_and_decays_the_weights_by_lambda(linear):
    torch.manual_seed(0)
    x = torch.randn(30, 4)
    y = x[:, :3].argmax(1)
    log_lam = torch.tensor([-4.0, 0.0])
    trained = fit_weight_decayed(linear, log_lam, x, y, n_steps=100, generator=torch.Generator().manual_seed(0))
    assert trained["weight"].shape == (2, 3, 4) and not trained["weight"].requires_grad
    norms = weight_decay(describe(linear), trained)
    assert norms[0] > 4 * norms[1]
    assert validation_loss(linear, trained, x, y)[0] < 0.5  # nearly unregularized: fits the separable data


def test_hyperopt_rejects_bad_input(linear):
    br = BestResponseNet(linear, log_range=(-3.0, 1.0), hidden=(4,))
    with pytest.raises(ValueError, match=r"\[K\]"):
        br(torch.tensor(1.0))
    with pytest.raises(ValueError, match="trained range"):
        tune_hyperparameter(br, linear, torch.randn(3, 4), torch.zeros(3, dtype=torch.long), log_lam_init=5.0)
    with pytest.raises(ValueError, match="log_range"):
        BestResponseNet(linear, log_range=(1.0, 0.0))
    with pytest.raises(ValueError, match="int64 labels"):
        validation_loss(linear, br(torch.zeros(1)), torch.randn(3, 4), torch.zeros(2, dtype=torch.long))


@pytest.mark.parametrize(
    "call, says",
    [
        (
            lambda br, t, x, y: fit_best_response(br, t, x, y, n_steps=2, lr=INF),
            "lr: expected a finite number, got inf",
        ),
        (lambda br, t, x, y: fit_best_response(br, t, x, y, n_steps=2, samples_per_step=0), "samples_per_step"),
        (lambda br, t, x, y: fit_best_response(t, t, x, y, n_steps=2), "br: expected a BestResponseNet"),
        (lambda br, t, x, y: tune_hyperparameter(br, t, x, y, log_lam_init=NAN), "log_lam_init: expected a finite"),
        (lambda br, t, x, y: tune_hyperparameter(br, t, x, y, log_lam_init=-1.0, lr=NAN), "lr: expected a finite"),
        (lambda br, t, x, y: fit_weight_decayed(t, torch.tensor([NAN]), x, y), "log_lam: expected at least one finite"),
        (lambda br, t, x, y: fit_weight_decayed(t, torch.tensor([-2.0]), x, y, lr=0.0), "lr: expected a number above"),
        (lambda br, t, x, y: br(torch.tensor([INF])), "log_lam: expected at least one finite"),
        (lambda br, t, x, y: BestResponseNet(t, log_range=(NAN, 0.0)), "log_range: expected a finite number"),
        (lambda br, t, x, y: BestResponseNet(t, log_range=(-1.0,)), r"log_range: expected \(low, high\)"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_hyperparameters_of_the_best_response_are_refused_by_name(linear, call, says):
    br = BestResponseNet(linear, log_range=(-3.0, 1.0), hidden=(4,))
    x, y = torch.randn(6, 4), torch.zeros(6, dtype=torch.long)
    with pytest.raises((ValueError, TypeError), match=says):
        call(br, linear, x, y)
