"""Specification of the baselines: a batched deep ensemble and MC dropout as weight samples."""

import pytest
import torch
from torch import nn
from torch.func import functional_call

from hypernet_lib import describe, mlp
from hypernet_lib.apps.bayes import (
    DeepEnsemble,
    dropout_weight_samples,
    fit_baseline,
    forward_samples,
    log_likelihood,
)


def test_mlp_with_dropout_zero_has_the_parameter_names_of_the_dropout_network():
    plain, dropped = mlp((4, 8, 8, 3), dropout=0.0), mlp((4, 8, 8, 3), dropout=0.2)
    assert describe(plain).shapes == describe(dropped).shapes
    assert list(describe(plain).names) == ["0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias"]
    assert isinstance(mlp((2, 5, 1), "tanh")[1], nn.Tanh)


def test_ensemble_members_are_independent_copies_in_the_targets_shapes():
    torch.manual_seed(0)
    target = mlp((3, 8, 2), dropout=0.0)
    ens = DeepEnsemble(target, n_members=5)
    members = ens.members()
    assert {k: tuple(v.shape) for k, v in members.items()} == {n: (5, *p.shape) for n, p in target.named_parameters()}
    w = members["0.weight"]
    assert all(not torch.equal(w[i], w[j]) for i in range(5) for j in range(i + 1, 5))
    # The target's own parameters are not the ensemble's (it is only the architecture).
    assert len(list(ens.parameters())) == len(describe(target))


def test_ensemble_forward_equals_a_loop_over_members():
    torch.manual_seed(0)
    target = mlp((3, 8, 2), dropout=0.0)
    ens = DeepEnsemble(target, n_members=4)
    x = torch.randn(6, 3)
    looped = torch.stack([functional_call(target, {k: v[m] for k, v in ens.members().items()}, (x,)) for m in range(4)])
    torch.testing.assert_close(ens(x), looped)


def test_batched_ensemble_training_gives_each_member_its_own_gradient():
    """Summing the members' losses must not couple them: member m's gradient is that of its own loss."""
    torch.manual_seed(0)
    target = mlp((3, 8, 2), dropout=0.0)
    ens = DeepEnsemble(target, n_members=3)
    x, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    log_likelihood(ens(x), y, "categorical").sum().neg().backward()
    for m in range(3):
        alone = {k: v[m].detach().clone().requires_grad_() for k, v in ens.members().items()}
        functional_call(target, alone, (x,)).log_softmax(-1).gather(1, y[:, None]).sum().neg().backward()
        for name, p in zip(describe(target).names, ens.stacked):
            torch.testing.assert_close(p.grad[m], alone[name].grad)


def test_fit_baseline_fits_every_member_of_an_ensemble():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 2, generator=gen)
    y = (x[:, 0] > x[:, 1]).long()
    ens = DeepEnsemble(mlp((2, 16, 2), dropout=0.0), n_members=3)
    losses = fit_baseline(
        ens, x, y, "categorical", 150, lr=0.02, batch_size=32, cosine=True, generator=gen, progress=False
    )
    assert losses[-1] < 0.5 * losses[0]
    accuracy_per_member = (ens(x).argmax(-1) == y).float().mean(1)
    assert (accuracy_per_member > 0.9).all()


def test_dropout_weight_samples_are_dropout_on_the_previous_layer():
    """Masking column j of the next weight matrix == dropping hidden unit j, for every input."""
    torch.manual_seed(0)
    model = mlp((3, 6, 2), dropout=0.5)
    params = dropout_weight_samples(model, 4, generator=torch.Generator().manual_seed(0))
    x = torch.randn(5, 3)
    out = forward_samples(model, params, x)
    hidden = torch.relu(model[0](x))
    for s in range(4):
        kept = params["3.weight"][s].abs().sum(0) > 0  # the hidden units this sample kept
        torch.testing.assert_close(params["3.weight"][s][:, kept], model[3].weight[:, kept] / 0.5)
        mask = kept.float()
        expected = (hidden * mask / 0.5) @ model[3].weight.T + model[3].bias
        torch.testing.assert_close(out[s], expected)
    torch.testing.assert_close(params["0.weight"][1], model[0].weight)  # layers before dropout are untouched


def test_dropout_weight_samples_average_to_the_trained_weights():
    torch.manual_seed(0)
    model = mlp((3, 50, 2), dropout=0.3)
    params = dropout_weight_samples(model, 4000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(params["3.weight"].mean(0), model[3].weight.detach(), atol=0.03, rtol=0)


def test_fit_baseline_fits_a_dropout_network_and_leaves_the_model_in_eval_mode():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 2, generator=gen)
    y = (x[:, 0] > x[:, 1]).long()
    model = mlp((2, 32, 2), dropout=0.1)
    losses = fit_baseline(model, x, y, "categorical", 150, lr=0.02, generator=gen, progress=False)
    assert losses[-1] < 0.5 * losses[0]
    assert not model.training


# --- bad input --------------------------------------------------------------------------


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="widths: expected at least"):
        mlp((4,))
    with pytest.raises(ValueError, match="activation: expected one of"):
        mlp((4, 2), activation="gelu")
    with pytest.raises(ValueError, match=r"dropout: expected None or a probability in \[0, 1\), got 1.0"):
        mlp((4, 3, 2), dropout=1.0)
    with pytest.raises(TypeError, match="target: expected a torch.nn.Module"):
        DeepEnsemble("mlp")
    with pytest.raises(ValueError, match="n_members: expected a positive integer, got 0"):
        DeepEnsemble(mlp((2, 2)), n_members=0)
    with pytest.raises(ValueError, match="expected at least one nn.Dropout with p > 0"):
        dropout_weight_samples(mlp((2, 4, 2)), 3)
    with pytest.raises(TypeError, match="model: expected an nn.Sequential"):
        dropout_weight_samples(nn.Linear(2, 2), 3)
    with pytest.raises(TypeError, match="model: expected a DeepEnsemble or a torch.nn.Module with dropout, got str"):
        fit_baseline("ensemble", torch.randn(4, 2), torch.zeros(4, dtype=torch.int64), "categorical", 1)
    with pytest.raises(ValueError, match=r"x, y: expected the same number of points, got shapes \[4, 2\] and \[3\]"):
        fit_baseline(DeepEnsemble(mlp((2, 2))), torch.randn(4, 2), torch.zeros(3, dtype=torch.int64), "categorical", 1)


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"lr": float("inf")}, "lr: expected a finite number > 0, got inf"),
        ({"lr": -1e-3}, "lr: expected a finite number > 0, got -0.001"),
        ({"batch_size": 0}, "batch_size: expected a positive integer, got 0"),
        ({"weight_decay": float("nan")}, "weight_decay: expected a finite number >= 0, got nan"),
        ({"weight_decay": -0.1}, "weight_decay: expected a finite number >= 0, got -0.1"),
    ],
)
@pytest.mark.parametrize("which", ["ensemble", "dropout"])
def test_baseline_training_refuses_bad_hyperparameters(which, kwargs, says):
    x, y = torch.randn(8, 2), torch.randint(0, 2, (8,))
    model = DeepEnsemble(mlp((2, 4, 2))) if which == "ensemble" else mlp((2, 4, 2), dropout=0.2)
    with pytest.raises(ValueError, match=says):
        fit_baseline(model, x, y, "categorical", 2, progress=False, **kwargs)


def test_baseline_training_refuses_nan_data_and_a_missing_noise_std():
    x, y = torch.randn(8, 2), torch.randn(8, 1)
    with pytest.raises(ValueError, match="x, y: contain NaN or inf"):
        fit_baseline(DeepEnsemble(mlp((2, 4, 1))), x, y.clone().fill_(float("nan")), "gaussian", 2, noise_std=0.1)
    with pytest.raises(ValueError, match="noise_std: expected a finite number > 0, got None"):
        fit_baseline(mlp((2, 4, 1), dropout=0.2), x, y, "gaussian", 2)
