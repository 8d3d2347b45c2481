"""Specification of the flow hypernetworks (full and weight-norm), their exact densities and the ELBO."""

import math

import pytest
import torch
from torch import nn
from torch.func import functional_call

from hypernet_lib import FlowHyperNetwork, describe
from hypernet_lib.apps.bayes import (
    GaussianPrior,
    elbo_terms,
    fit_bayes_hypernet,
    forward_samples,
    gaussian_kl,
    gaussian_log_prob,
    log_likelihood,
    negative_elbo,
    prior_std,
)
from hypernet_lib.hypernets import AffineCoupling
from hypernet_lib.hypernets.flow import WeightNormFlowHyperNetwork
from hypernet_lib.train import cosine_schedule


@pytest.fixture
def small() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))  # 13 numbers


def _randomize_couplings(hnet: FlowHyperNetwork, scale: float = 0.5) -> None:
    """Fresh couplings are the identity; give them random outputs so the tests exercise them."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for c in hnet.couplings:
            for p in c.net[-1].parameters():
                p.copy_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
        hnet.rho.copy_(torch.randn(hnet.rho.shape, generator=gen, dtype=hnet.rho.dtype))


def test_noise_in_batched_weights_out_in_the_targets_shapes(mlp):
    hnet = FlowHyperNetwork(describe(mlp), n_couplings=2)
    params = hnet(torch.randn(5, hnet.z_dim))
    assert {k: tuple(v.shape) for k, v in params.items()} == {n: (5, *p.shape) for n, p in mlp.named_parameters()}
    assert hnet.z_dim == describe(mlp).num_params  # a flow keeps the dimension
    single = hnet(torch.zeros(hnet.z_dim))
    assert single["0.weight"].shape == (8, 3)


def test_log_density_is_exact_against_the_autograd_jacobian(small):
    """log q(θ) = log N(ε) − log|det ∂θ/∂ε|, with the Jacobian computed by autograd, in float64."""
    hnet = FlowHyperNetwork(describe(small), n_couplings=3, hidden=(5,), generator=torch.Generator().manual_seed(0))
    hnet = hnet.double()
    _randomize_couplings(hnet)
    for seed in range(3):
        eps = torch.randn(hnet.z_dim, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        theta, log_q = hnet.transform(eps)
        jac = torch.autograd.functional.jacobian(lambda e: hnet.transform(e)[0], eps)
        assert jac.shape == (13, 13)
        expected = torch.distributions.Normal(0.0, 1.0).log_prob(eps).sum() - torch.linalg.slogdet(jac).logabsdet
        torch.testing.assert_close(log_q, expected, rtol=0, atol=1e-10)


def test_coupling_log_determinant_is_exact_and_its_inverse_undoes_it():
    gen = torch.Generator().manual_seed(0)
    perm = torch.randperm(6, generator=gen)
    layer = AffineCoupling(perm[:2], perm[2:], hidden=(4,)).double()
    with torch.no_grad():
        layer.net[-1].weight.normal_(generator=gen)
        layer.net[-1].bias.normal_(generator=gen)
    u = torch.randn(6, dtype=torch.float64, generator=gen)
    v, log_det = layer(u)
    jac = torch.autograd.functional.jacobian(lambda w: layer(w)[0], u)
    torch.testing.assert_close(log_det, torch.linalg.slogdet(jac).logabsdet, rtol=0, atol=1e-12)
    torch.testing.assert_close(layer.inverse(v), u)
    # The conditioning half passes through untouched.
    torch.testing.assert_close(v[perm[:2]], u[perm[:2]])


def test_log_prob_runs_the_flow_backwards_to_the_same_density(small):
    hnet = FlowHyperNetwork(describe(small), n_couplings=4, hidden=(5,)).double()
    _randomize_couplings(hnet)
    theta, log_q = hnet.transform(torch.randn(7, hnet.z_dim, dtype=torch.float64))
    torch.testing.assert_close(hnet.log_prob(theta), log_q)


def test_without_couplings_it_is_the_mean_field_gaussian(small):
    hnet = FlowHyperNetwork(describe(small), n_couplings=0, init_from=small).double()
    _randomize_couplings(hnet)
    theta, log_q = hnet.transform(torch.randn(4, hnet.z_dim, dtype=torch.float64))
    expected = torch.distributions.Normal(hnet.mu, hnet.sigma).log_prob(theta).sum(-1)
    torch.testing.assert_close(log_q, expected)


def test_fresh_couplings_are_the_identity_and_pairs_transform_every_weight(mlp):
    spec = describe(mlp)
    gen = torch.Generator().manual_seed(0)
    with_flow = FlowHyperNetwork(spec, n_couplings=4, init_from=mlp, generator=gen)
    plain = FlowHyperNetwork(spec, n_couplings=0, init_from=mlp)
    eps = torch.randn(3, spec.num_params)
    for a, b in zip(with_flow.transform(eps), plain.transform(eps)):
        torch.testing.assert_close(a, b)
    for first, second in zip(with_flow.couplings[::2], with_flow.couplings[1::2]):
        transformed = torch.cat([first.idx_b, second.idx_b]).sort().values
        assert torch.equal(transformed, torch.arange(spec.num_params))


def test_mean_starts_at_the_targets_own_weights(mlp):
    spec = describe(mlp)
    hnet = FlowHyperNetwork(spec, init_from=mlp, init_std=1e-3)
    torch.testing.assert_close(hnet.mu.detach(), spec.flatten(dict(mlp.named_parameters())).detach())
    torch.testing.assert_close(hnet.sigma.detach(), torch.full((spec.num_params,), 1e-3))


def test_sample_is_reproducible_with_a_generator_and_returns_its_log_density(small):
    hnet = FlowHyperNetwork(describe(small), n_couplings=2)
    _randomize_couplings(hnet)
    p1, lq1 = hnet.sample(6, generator=torch.Generator().manual_seed(3))
    p2, lq2 = hnet.sample(6, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(p1["0.weight"], p2["0.weight"])
    torch.testing.assert_close(lq1, lq2)
    assert p1["2.weight"].shape == (6, 1, 3) and lq1.shape == (6,)
    torch.testing.assert_close(hnet.log_prob(describe(small).flatten(p1)), lq1, rtol=1e-4, atol=1e-4)


def test_prior_std_scales_weights_by_fan_in_and_biases_by_bias_std(small):
    std = prior_std(describe(small), gain=2.0, bias_std=0.5)
    torch.testing.assert_close(std[:6], torch.full((6,), 2.0 / math.sqrt(2)))  # 0.weight [3, 2]
    torch.testing.assert_close(std[6:9], torch.full((3,), 0.5))  # 0.bias
    torch.testing.assert_close(std[9:12], torch.full((3,), 2.0 / math.sqrt(3)))  # 2.weight [1, 3]
    torch.testing.assert_close(std[12:], torch.full((1,), 0.5))


def test_gaussian_log_prob_matches_torch_distributions():
    theta, std = torch.randn(4, 6), torch.rand(6) + 0.1
    expected = torch.distributions.Normal(0.0, std).log_prob(theta).sum(-1)
    torch.testing.assert_close(gaussian_log_prob(theta, std), expected)


def test_forward_samples_equals_a_loop_over_samples(mlp):
    spec = describe(mlp)
    hnet = FlowHyperNetwork(spec, n_couplings=2, init_from=mlp, init_std=0.3)
    params, _ = hnet.sample(4, generator=torch.Generator().manual_seed(0))
    x = torch.randn(10, 3)
    batched = forward_samples(mlp, params, x)
    looped = torch.stack([functional_call(mlp, {k: v[s] for k, v in params.items()}, (x,)) for s in range(4)])
    torch.testing.assert_close(batched, looped)
    assert batched.shape == (4, 10, 2)


def test_log_likelihood_is_the_summed_categorical_and_gaussian_log_density():
    logits, labels = torch.randn(3, 5, 4), torch.randint(0, 4, (5,))
    expected = torch.stack([-nn.functional.cross_entropy(lg, labels, reduction="sum") for lg in logits])
    torch.testing.assert_close(log_likelihood(logits, labels, "categorical"), expected)
    means, y = torch.randn(3, 5, 1), torch.randn(5, 1)
    expected = torch.distributions.Normal(means, 0.3).log_prob(y).sum((1, 2))
    torch.testing.assert_close(log_likelihood(means, y, "gaussian", noise_std=0.3), expected)
    # Each sample may have its own targets (ensemble members on their own minibatches).
    own = torch.randint(0, 4, (3, 5))
    expected = torch.stack([-nn.functional.cross_entropy(lg, t, reduction="sum") for lg, t in zip(logits, own)])
    torch.testing.assert_close(log_likelihood(logits, own, "categorical"), expected)


def test_negative_elbo_rescales_the_minibatch_and_divides_by_n():
    log_lik, log_q, log_p = torch.tensor([-10.0, -14.0]), torch.tensor([3.0, 5.0]), torch.tensor([-1.0, -2.0])
    # −ELBO/N = −(N/B)·mean(log_lik)/N + mean(log q − log p)/N = −mean(log_lik)/B + KL/N
    expected = 12.0 / 4 + (4.0 + 7.0) / 2 / 100
    assert float(negative_elbo(log_lik, log_q - log_p, n_batch=4, n_data=100)) == pytest.approx(expected)
    assert float(negative_elbo(log_lik, log_q - log_p, 4, 100, kl_weight=0.0)) == pytest.approx(3.0)
    # A closed-form KL is one number for all samples.
    assert float(negative_elbo(log_lik, torch.tensor(5.5), 4, 100)) == pytest.approx(expected)


def test_closed_form_kl_matches_torch_distributions():
    mu, sigma, s = torch.randn(7, dtype=torch.float64), torch.rand(7, dtype=torch.float64) + 0.1, torch.rand(7) + 0.5
    expected = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, sigma), torch.distributions.Normal(0.0, s.double())
    ).sum()
    torch.testing.assert_close(gaussian_kl(mu, sigma, s.double()), expected)


def test_kl_estimate_is_unbiased_for_the_mean_field_gaussian(small):
    """mean_s[log q − log p] → the closed-form KL between two diagonal Gaussians."""
    spec = describe(small)
    hnet = FlowHyperNetwork(spec, n_couplings=0, init_from=small, init_std=0.3).double()
    std = prior_std(spec).double()
    gen = torch.Generator().manual_seed(0)
    params, log_q = hnet.sample(20000, generator=gen)
    estimate = float((log_q - gaussian_log_prob(spec.flatten(params), std)).mean().detach())
    closed = torch.distributions.kl_divergence(
        torch.distributions.Normal(hnet.mu, hnet.sigma), torch.distributions.Normal(0.0, std)
    ).sum()
    assert estimate == pytest.approx(float(closed.detach()), abs=0.1)


def test_mean_field_vi_recovers_the_exact_posterior_of_bayesian_linear_regression():
    """For a linear-Gaussian model the posterior is N(m, Λ⁻¹); the best mean-field Gaussian has mean m and
    variances 1/Λ_ii (a classical result), so training must land there."""
    gen = torch.Generator().manual_seed(0)
    target = nn.Linear(1, 1)
    x = torch.rand(30, 1, generator=gen) * 2 - 1
    y = 0.7 * x - 0.3 + 0.2 * torch.randn(30, 1, generator=gen)
    noise, prior = 0.2, torch.tensor([1.0, 1.0])  # spec order: weight, bias (fan_in 1: both scales 1)
    features = torch.cat([x, torch.ones_like(x)], 1)
    precision = torch.eye(2) / prior.pow(2) + features.T @ features / noise**2
    post_mean = torch.linalg.solve(precision, features.T @ y[:, 0] / noise**2)
    hnet = FlowHyperNetwork(describe(target), n_couplings=0, init_std=0.1)
    # A decaying learning rate averages the Monte Carlo gradient noise out: 500 steps land within 1%.
    fit_bayes_hypernet(
        hnet, target, x, y, "gaussian", 500, n_samples=32, lr=0.05, noise_std=noise, prior=GaussianPrior(describe(target)),
        cosine=True, generator=gen, progress=False,
    )  # fmt: skip
    torch.testing.assert_close(hnet.mu.detach(), post_mean, atol=0.01, rtol=0)
    torch.testing.assert_close(hnet.sigma.detach(), precision.diagonal().rsqrt(), atol=0, rtol=0.05)


def test_fit_logs_the_two_terms_of_the_elbo_and_they_add_up(small):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(20, 2, generator=gen)
    y = torch.sin(x[:, :1])
    for couplings in (0, 2):  # closed-form KL, then the sampled one
        hnet = FlowHyperNetwork(describe(small), n_couplings=couplings, hidden=(4,), init_from=small)
        curves = fit_bayes_hypernet(hnet, small, x, y, "gaussian", 25, noise_std=0.1, generator=gen, progress=False)
        assert [len(v) for v in curves.values()] == [4, 4, 4]  # steps 0, 10, 20 and the last, 24
        torch.testing.assert_close(
            torch.tensor(curves["neg_elbo"]), torch.tensor(curves["data"]) + torch.tensor(curves["kl"])
        )
        data, kl = elbo_terms(hnet, small, x, y, "gaussian", noise_std=0.1, generator=gen)
        assert kl > 0 and data > 0


def test_elbo_terms_use_the_closed_form_kl_for_a_mean_field_q(small):
    spec = describe(small)
    hnet = FlowHyperNetwork(spec, n_couplings=0, init_from=small, init_std=0.3)
    prior = GaussianPrior(spec)
    x, y = torch.randn(10, 2), torch.randn(10, 1)
    closed = float(gaussian_kl(hnet.mu, hnet.sigma, prior.std).detach()) / 10
    _, kl = elbo_terms(hnet, small, x, y, "gaussian", prior, noise_std=0.1)
    assert kl == pytest.approx(closed, rel=1e-6)
    _, sampled = elbo_terms(hnet, small, x, y, "gaussian", prior, noise_std=0.1, n_samples=20000, kl="sampled")
    assert sampled == pytest.approx(closed, abs=0.01)


def test_cosine_schedule_decays_the_learning_rate_to_zero_or_keeps_it_constant():
    for cosine, expected in ((True, [0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(5)]), (False, [1.0] * 5)):
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
        schedule = cosine_schedule(opt, 4, cosine)
        seen = []
        for _ in range(4):
            seen.append(opt.param_groups[0]["lr"])
            opt.step()
            schedule.step()
        seen.append(opt.param_groups[0]["lr"])
        assert seen == pytest.approx(expected, abs=1e-12)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(TypeError, match="cosine: expected a bool, got str"):
        cosine_schedule(opt, 4, "yes")
    with pytest.raises(ValueError, match="n_steps"):
        cosine_schedule(opt, 0, True)


def test_gradients_reach_every_parameter_of_the_flow(small):
    hnet = FlowHyperNetwork(describe(small), n_couplings=2, hidden=(4,))
    _randomize_couplings(hnet)
    params, log_q = hnet.sample(3)
    out = forward_samples(small, params, torch.randn(5, 2))
    (out.sum() + log_q.sum()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in hnet.parameters())


# --- the weight-norm flow (Krueger et al.'s scalable variant) -------------------------------


def test_weight_norm_flow_puts_one_random_scale_on_each_unit(mlp):
    spec = describe(mlp)  # 3-8-8-2: 18 units
    hnet = WeightNormFlowHyperNetwork(spec, n_couplings=2, hidden=(6,), init_from=mlp)
    assert hnet.z_dim == 18 and hnet.prior_spec.num_params == 18
    assert [p.shape for p in hnet.prior_spec.params] == [(8,), (8,), (2,)]
    params = hnet(torch.randn(5, 18))
    assert {k: tuple(v.shape) for k, v in params.items()} == {n: (5, *p.shape) for n, p in mlp.named_parameters()}
    # Zero noise and fresh (identity) couplings: the mean network is the module it started from.
    theta, _ = hnet.transform(torch.zeros(1, 18))
    torch.testing.assert_close(theta[0], spec.flatten(dict(mlp.named_parameters())).detach())


def test_weight_norm_rows_have_the_sampled_scale_and_fixed_directions(mlp):
    hnet = WeightNormFlowHyperNetwork(describe(mlp), n_couplings=0, init_from=mlp, init_std=0.5)
    g, _ = hnet.latent(torch.randn(4, hnet.z_dim))
    params = describe(mlp).split(hnet.weights_from(g))
    scales = hnet.prior_spec.split(g)
    for name in ("0.weight", "2.weight", "4.weight"):
        torch.testing.assert_close(params[name].norm(dim=-1), scales[name].abs())
        direction = params[name] / scales[name][..., None]
        torch.testing.assert_close(
            direction,
            (mlp.get_parameter(name) / mlp.get_parameter(name).norm(dim=1, keepdim=True)).detach().expand_as(direction),
        )
    torch.testing.assert_close(params["0.bias"], mlp[0].bias.detach().expand(4, 8))  # biases: point estimates


def test_weight_norm_flow_density_of_the_scales_is_exact(mlp):
    hnet = WeightNormFlowHyperNetwork(describe(mlp), n_couplings=3, hidden=(5,)).double()
    _randomize_couplings(hnet.scales)
    eps = torch.randn(hnet.z_dim, dtype=torch.float64)
    g, log_q = hnet.latent(eps)
    jac = torch.autograd.functional.jacobian(lambda e: hnet.latent(e)[0], eps)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(eps).sum() - torch.linalg.slogdet(jac).logabsdet
    torch.testing.assert_close(log_q, expected, rtol=0, atol=1e-10)


def test_weight_norm_flow_trains_on_the_elbo_with_a_prior_over_its_scales(mlp):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 3, generator=gen)
    y = (x[:, 0] > 0).long()
    hnet = WeightNormFlowHyperNetwork(describe(mlp), n_couplings=2, hidden=(8,), init_from=mlp, generator=gen)
    prior = GaussianPrior(hnet.prior_spec, learn=True)
    curves = fit_bayes_hypernet(
        hnet, mlp, x, y, "categorical", 150, lr=0.02, prior=prior, generator=gen, progress=False
    )
    assert curves["neg_elbo"][-1] < 0.5 * curves["neg_elbo"][0]
    assert prior.log_scale.grad is not None  # the prior's scales were trained (empirical Bayes)
    with pytest.raises(ValueError, match=r"prior: expected a prior over the 18 numbers q is a density over"):
        fit_bayes_hypernet(hnet, mlp, x, y, "categorical", 1, prior=GaussianPrior(describe(mlp)), progress=False)


# --- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"kl_weight": -0.5}, "kl_weight: expected a finite number >= 0, got -0.5"),
        ({"kl_weight": float("nan")}, "kl_weight: expected a finite number >= 0, got nan"),
        ({"lr": float("inf")}, "lr: expected a finite number > 0, got inf"),
        ({"lr": 0.0}, "lr: expected a finite number > 0, got 0.0"),
        ({"batch_size": 0}, "batch_size: expected a positive integer, got 0"),
        ({"n_samples": 0}, "n_samples: expected a positive integer, got 0"),
        ({"noise_std": float("nan")}, "noise_std: expected a finite number > 0, got nan"),
        ({"kl": "exact"}, "kl: expected 'auto', 'closed-form' or 'sampled', got 'exact'"),
        ({"kl": "closed-form"}, r"kl: 'closed-form' needs a mean-field q \(n_couplings=0\)"),
        ({"prior": "flat"}, "prior: expected a GaussianPrior or None, got str"),
    ],
)
def test_fit_bayes_hypernet_refuses_bad_hyperparameters(small, kwargs, says):
    hnet = FlowHyperNetwork(describe(small), n_couplings=2, hidden=(4,))
    x, y = torch.randn(8, 2), torch.randn(8, 1)
    kwargs = {"noise_std": 0.1, **kwargs}
    with pytest.raises((ValueError, TypeError), match=says):
        fit_bayes_hypernet(hnet, small, x, y, "gaussian", 3, progress=False, **kwargs)


@pytest.mark.parametrize(
    "x, y, says",
    [
        (torch.full((4, 2), float("nan")), torch.zeros(4, 1), "x, y: contain NaN or inf"),
        (torch.zeros(0, 2), torch.zeros(0, 1), "x, y: expected at least one training point, got none"),
        (
            torch.zeros(4, 2),
            torch.zeros(3, 1),
            r"x, y: expected the same number of points, got shapes \[4, 2\] and \[3, 1\]",
        ),
    ],
)
def test_fit_bayes_hypernet_refuses_bad_data(small, x, y, says):
    hnet = FlowHyperNetwork(describe(small), n_couplings=0)
    with pytest.raises(ValueError, match=says):
        fit_bayes_hypernet(hnet, small, x, y, "gaussian", 3, noise_std=0.1, progress=False)


def test_fit_bayes_hypernet_refuses_a_family_without_a_density(small):
    from hypernet_lib import HyperNetwork

    with pytest.raises(
        TypeError, match="hnet: expected a FlowHyperNetwork or WeightNormFlowHyperNetwork, got HyperNetwork"
    ):
        fit_bayes_hypernet(HyperNetwork(describe(small), 2), small, torch.randn(4, 2), torch.randn(4, 1), "gaussian", 1)


def test_weight_norm_flow_refuses_bad_construction(small):
    with pytest.raises(ValueError, match=r"z_dim: the noise drives one scale per unit, so d_ε must be U = 4"):
        WeightNormFlowHyperNetwork(describe(small), z_dim=13)
    with pytest.raises(ValueError, match="spec: expected at least one weight tensor"):
        WeightNormFlowHyperNetwork(describe(nn.Sequential(nn.LayerNorm(3))))
    with pytest.raises(TypeError, match="init_from: expected an nn.Module"):
        WeightNormFlowHyperNetwork(describe(small), init_from="small")


def test_rejects_wrong_noise_shape_and_dtype(small):
    hnet = FlowHyperNetwork(describe(small))
    with pytest.raises(ValueError, match=r"z: expected last dimension d_z=13, got shape \[2, 5\]"):
        hnet(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"z: expected 1 or 2 dimensions"):
        hnet(torch.randn(2, 2, 13))
    with pytest.raises(TypeError, match="z: expected a floating-point tensor"):
        hnet(torch.ones(13, dtype=torch.int64))


def test_rejects_bad_construction_arguments(small):
    with pytest.raises(TypeError, match="spec: expected a TargetSpec"):
        FlowHyperNetwork(small)
    with pytest.raises(ValueError, match="n_couplings: expected an integer >= 0, got -1"):
        FlowHyperNetwork(describe(small), n_couplings=-1)
    with pytest.raises(ValueError, match="init_std: expected a positive finite number"):
        FlowHyperNetwork(describe(small), init_std=0.0)
    with pytest.raises(ValueError, match="partition range"):
        AffineCoupling(torch.tensor([0, 1]), torch.tensor([1, 2]))


@pytest.mark.parametrize("kwargs", [{"gain": float("inf")}, {"gain": 0.0}, {"bias_std": float("nan")}, {"gain": True}])
def test_prior_refuses_a_scale_that_is_not_a_positive_finite_number(small, kwargs):
    with pytest.raises(ValueError, match=r"(gain|bias_std): expected a finite number > 0"):
        GaussianPrior(describe(small), **kwargs)


def test_rejects_bad_likelihood_inputs():
    with pytest.raises(ValueError, match="likelihood: expected 'categorical' or 'gaussian', got 'poisson'"):
        log_likelihood(torch.randn(2, 3, 1), torch.randn(3, 1), "poisson")
    with pytest.raises(ValueError, match="noise_std: the gaussian likelihood needs a positive noise_std"):
        log_likelihood(torch.randn(2, 3, 1), torch.randn(3, 1), "gaussian")
    with pytest.raises(ValueError, match=r"y: expected int64 class indices of shape \[3\] or \[2, 3\]"):
        log_likelihood(torch.randn(2, 3, 4), torch.zeros(4, dtype=torch.int64), "categorical")
    with pytest.raises(ValueError, match=r"outputs: expected 3 dimensions"):
        log_likelihood(torch.randn(3, 4), torch.zeros(3, dtype=torch.int64), "categorical")
    with pytest.raises(
        ValueError, match=r"kl: expected a scalar \(closed form\) or one value per sample \[2\], got \[3\]"
    ):
        negative_elbo(torch.zeros(2), torch.zeros(3), 1, 1)
    with pytest.raises(ValueError, match="kl_weight: expected a finite number >= 0, got -1"):
        negative_elbo(torch.zeros(2), torch.zeros(2), 1, 1, kl_weight=-1)


def test_rejects_unbatched_parameters_in_forward_samples(small):
    with pytest.raises(ValueError, match="expected a batch of samples"):
        forward_samples(small, dict(small.named_parameters()), torch.randn(4, 2))
