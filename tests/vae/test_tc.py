"""The KL split of Chen et al. (2018) and the β-TC-VAE loss against independent references:
the Monte Carlo KL of the same draws (torch.distributions), the closed-form KL, the total
correlation and mutual information of a linear-Gaussian encoder in closed form, and the
minibatch-weighted estimator written as a plain numpy loop."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import logsumexp
from torch.distributions import Normal

from klvae.vae import VAE, ELBOConfig, VAEConfig, build_model, kl_split, tc_vae_loss, vae_loss
from klvae.vae.objective import check_objective
from klvae.vae.tc import minibatch_total_correlation

pytestmark = pytest.mark.usefixtures("one_thread")  # many small tensor operations

KEYS = ("index_code_mi", "total_correlation", "dimwise_kl", "kl")


def random_model(seed=0, latent=3):
    torch.manual_seed(seed)
    return VAE(VAEConfig(hidden=(8,), latent_dim=latent, image_shape=(1, 2, 2))).double()


def random_images(n, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 2, 2, generator=g, dtype=torch.float64)


def linear_gaussian_model(a, sigma):
    """An encoder with μ(x) = A x and σ fixed: relu(x) − relu(−x) = x passes any x through the
    ReLU layer, so for x ~ N(0, I) the aggregate posterior is exactly N(0, A Aᵀ + σ² I)."""
    model = VAE(VAEConfig(hidden=(4,), latent_dim=2, image_shape=(1, 1, 2))).double()
    a = torch.as_tensor(a, dtype=torch.float64)
    with torch.no_grad():
        model.encoder[0].weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]))
        model.encoder[0].bias.zero_()
        w = torch.zeros(4, 4, dtype=torch.float64)
        w[:2] = torch.stack([a[:, 0], -a[:, 0], a[:, 1], -a[:, 1]], 1)
        model.encoder[2].weight.copy_(w)
        model.encoder[2].bias.copy_(torch.tensor([0.0, 0.0, 2 * math.log(sigma), 2 * math.log(sigma)]))
    return model


def gaussian_tc(cov):
    """TC of N(0, Σ) = Σ_j H(z_j) − H(z) = ½ Σ_j log Σ_jj − ½ log det Σ."""
    return 0.5 * np.log(np.diag(cov)).sum() - 0.5 * np.linalg.slogdet(cov)[1]


# --- the split sums to the KL -----------------------------------------------------------------


def test_parts_sum_to_the_monte_carlo_kl_of_the_same_draws():
    model = random_model()
    x = random_images(300)
    out = kl_split(model, x, seed=5)
    with torch.no_grad():
        mu, logvar = model.encoder(x.flatten(1)).chunk(2, -1)
    # the documented draw: one z_n per example from a float64 generator seeded by `seed`
    eps = torch.randn(300, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * eps
    mc = (Normal(mu, torch.exp(0.5 * logvar)).log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1).mean()
    parts = out["index_code_mi"] + out["total_correlation"] + out["dimwise_kl"]
    assert parts == pytest.approx(float(mc), rel=1e-10)
    assert out["kl"] == pytest.approx(float(mc), rel=1e-10)


def test_parts_sum_to_the_closed_form_kl_in_expectation():
    model = random_model(2)
    x = random_images(1200, seed=3)
    with torch.no_grad():
        mu, logvar = model.encoder(x.flatten(1)).chunk(2, -1)
        sd = torch.exp(0.5 * logvar)
        closed = float((0.5 * (mu.square() + sd.square() - logvar - 1)).sum(-1).mean())  # K&W 2014, App. B
        # the spread of one-draw MC KL terms gives the standard error of kl_split's sum
        eps = torch.randn(1200, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
        z = mu + sd * eps
        terms = (Normal(mu, sd).log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1)
    se = float(terms.std()) / math.sqrt(1200)
    sums = [kl_split(model, x, seed=s)["kl"] for s in (9, 10, 11)]
    assert sums[0] == pytest.approx(float(terms.mean()), rel=1e-10)
    for value in sums:
        assert abs(value - closed) < 4 * se, (value, closed, se)
    assert len(set(sums)) == 3  # the seed changes the draw


# --- each part against a closed form -------------------------------------------------------------


def test_independent_posterior_dimensions_have_no_total_correlation():
    model = linear_gaussian_model([[1.0, 0.0], [0.0, 1.0]], 0.3)  # z_j reads x_j only
    x = torch.randn(1000, 1, 1, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    out = kl_split(model, x, seed=0)
    assert abs(out["total_correlation"]) < 0.02


@pytest.mark.parametrize(
    "a, sigma",
    [([[1.0, 0.0], [0.95, 0.31]], 0.3), ([[1.0, 0.0], [0.6, 0.8]], 0.3), ([[1.0, 0.0], [1.0, 0.1]], 0.2)],
)
def test_total_correlation_and_mutual_information_of_a_gaussian_aggregate(a, sigma):
    model = linear_gaussian_model(a, sigma)
    x = torch.randn(1000, 1, 1, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    out = kl_split(model, x, seed=0)
    cov = np.array(a) @ np.array(a).T + sigma**2 * np.eye(2)  # the aggregate q(z) = N(0, Σ)
    assert gaussian_tc(cov) > 0.15  # clearly correlated
    assert out["total_correlation"] == pytest.approx(gaussian_tc(cov), abs=0.06)
    # I(x; z) = H(z) − H(z|x) = ½ log det Σ − log σ² (two dimensions)
    mi = 0.5 * np.linalg.slogdet(cov)[1] - 2 * math.log(sigma)
    assert out["index_code_mi"] == pytest.approx(mi, abs=0.1)
    # dimension-wise KL(N(0, Σ_jj) ‖ N(0, 1)), summed
    dimwise = sum(0.5 * (s - 1 - math.log(s)) for s in np.diag(cov))
    assert out["dimwise_kl"] == pytest.approx(dimwise, abs=0.05)


def test_index_code_mi_is_at_most_log_n_and_reaches_it_for_sharp_posteriors():
    model = linear_gaussian_model([[1.0, 0.0], [0.0, 1.0]], 1e-6)  # σ = 1e-6: each z names its x
    x = torch.randn(200, 1, 1, 2, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    out = kl_split(model, x, seed=1)
    assert out["index_code_mi"] <= math.log(200) + 1e-12
    assert out["index_code_mi"] == pytest.approx(math.log(200), abs=1e-6)
    for seed in range(3):  # and at most log N for an ordinary model
        assert kl_split(random_model(seed), random_images(50, seed), seed=seed)["index_code_mi"] <= math.log(50)


def test_posteriors_that_ignore_x_have_no_mutual_information_and_no_total_correlation():
    model = random_model(4)
    with torch.no_grad():
        model.encoder[-1].weight.zero_()  # every x gets the same q(z|x) = N(bias_μ, exp(bias_logvar))
        model.encoder[-1].bias.copy_(torch.tensor([0.5, -1.0, 0.2, -0.5, 0.3, 0.0], dtype=torch.float64))
    x = random_images(100)
    out = kl_split(model, x, seed=2)
    assert out["index_code_mi"] == pytest.approx(0.0, abs=1e-12)
    assert out["total_correlation"] == pytest.approx(0.0, abs=1e-12)
    mu = torch.tensor([0.5, -1.0, 0.2], dtype=torch.float64)
    sd = torch.exp(0.5 * torch.tensor([-0.5, 0.3, 0.0], dtype=torch.float64))
    eps = torch.randn(100, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    z = mu + sd * eps
    mc = (Normal(mu, sd).log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1).mean()
    assert out["dimwise_kl"] == pytest.approx(float(mc), rel=1e-10)


@pytest.mark.parametrize(
    "kwargs",
    [dict(stochastic_layers=2), dict(prior="vamp", pseudo_inputs=3)],
    ids=["two-layer", "vamp"],
)
def test_no_split_for_two_layers_or_the_vamp_prior(kwargs):
    model = build_model(VAEConfig(hidden=(4,), latent_dim=2, image_shape=(1, 2, 2), **kwargs))
    out = kl_split(model, torch.rand(10, 1, 2, 2))
    assert set(out) == set(KEYS) and all(v is None for v in out.values())


def test_split_of_a_conditional_model_uses_the_labels():
    torch.manual_seed(5)
    cfg = VAEConfig(hidden=(6,), latent_dim=2, image_shape=(1, 2, 2), conditional=True, n_classes=3)
    model = VAE(cfg).double()
    x, y = random_images(80), torch.arange(80) % 3
    out = kl_split(model, x, y, seed=0)
    with torch.no_grad():
        mu, logvar = model.encode(x, y)
    eps = torch.randn(80, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * eps
    mc = (Normal(mu, torch.exp(0.5 * logvar)).log_prob(z) - Normal(0.0, 1.0).log_prob(z)).sum(-1).mean()
    assert out["kl"] == pytest.approx(float(mc), rel=1e-10)
    with pytest.raises(ValueError, match="this VAE is conditional"):
        kl_split(model, x)


# --- minibatch-stratified sampling ---------------------------------------------------------------


def numpy_mws(z, mu, logvar, n_data):
    """mean_i [log q(z_i) − Σ_j log q(z_ij)], q(·) ≈ (1/N) q(·|x_i) + (N−1)/(N(M−1)) Σ_{k≠i} q(·|x_k),
    as explicit loops (Chen et al. 2018, appendix C.2)."""
    m, d = z.shape
    n = max(n_data, m)
    sd = np.exp(0.5 * logvar)
    weight = [[1 / n if k == i else (n - 1) / (n * max(m - 1, 1)) for k in range(m)] for i in range(m)]
    total = 0.0
    for i in range(m):
        joint = [sum(stats.norm.logpdf(z[i, j], mu[k, j], sd[k, j]) for j in range(d)) for k in range(m)]
        log_qz = logsumexp(joint, b=weight[i])
        log_prod = 0.0
        for j in range(d):
            marg = [stats.norm.logpdf(z[i, j], mu[k, j], sd[k, j]) for k in range(m)]
            log_prod += logsumexp(marg, b=weight[i])
        total += log_qz - log_prod
    return total / m


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 3), st.integers(0, 500), st.integers(0, 2**31 - 1))
def test_minibatch_total_correlation_is_the_formula(m, d, extra, seed):
    rng = np.random.default_rng(seed)
    mu, logvar = rng.normal(0, 2, (m, d)), rng.normal(0, 1, (m, d))
    z = mu + np.exp(0.5 * logvar) * rng.standard_normal((m, d))
    got = minibatch_total_correlation(*(torch.from_numpy(a) for a in (z, mu, logvar)), m + extra)
    assert float(got) == pytest.approx(numpy_mws(z, mu, logvar, m + extra), rel=1e-10, abs=1e-10)


# --- the β-TC-VAE loss ------------------------------------------------------------------------


def tc_setup(seed=6, b=12):
    model = random_model(seed)
    g = torch.Generator().manual_seed(seed + 1000)  # not the images' stream: u < u never holds
    x = random_images(b, seed).bernoulli(generator=g)
    eps = torch.randn(1, b, 3, generator=g, dtype=torch.float64)
    return model, x, eps


@pytest.mark.parametrize("kl", ["analytic", "mc"])
def test_tc_beta_one_is_the_elbo(kl):
    model, x, eps = tc_setup()
    out = tc_vae_loss(model, x, None, 1000, tc_beta=1.0, beta=0.7, kl=kl, eps=eps)
    loss, recon, kl_ = vae_loss(model, x, beta=0.7, kl=kl, eps=eps)
    torch.testing.assert_close(out["loss"], loss, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out["recon"], recon, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out["kl"], kl_, rtol=1e-12, atol=1e-12)
    params = list(model.parameters())
    for a, b in zip(torch.autograd.grad(out["loss"], params), torch.autograd.grad(loss, params)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_tc_term_is_the_minibatch_estimate_and_moves_the_gradient():
    model, x, eps = tc_setup(7)
    n_data = 500
    with torch.no_grad():
        mu, logvar = model.encoder(x.flatten(1)).chunk(2, -1)
    z = (mu + torch.exp(0.5 * logvar) * eps[0]).numpy()
    tc_ref = numpy_mws(z, mu.numpy(), logvar.numpy(), n_data)
    elbo_loss, _, _ = vae_loss(model, x, beta=0.5, eps=eps)
    outs = {tb: tc_vae_loss(model, x, None, n_data, tc_beta=tb, beta=0.5, eps=eps) for tb in (1.0, 2.0, 4.0)}
    for tb, out in outs.items():
        assert float(out["tc"]) == pytest.approx(tc_ref, rel=1e-10)
        # loss = recon + β (KL + (tc_beta − 1) TC)
        assert float(out["loss"]) == pytest.approx(float(elbo_loss) + 0.5 * (tb - 1) * tc_ref, rel=1e-10)
    params = list(model.encoder.parameters())
    g = {tb: torch.autograd.grad(out["loss"], params, retain_graph=True) for tb, out in outs.items()}
    diff = [a - b for a, b in zip(g[2.0], g[1.0])]
    assert max(float(t.abs().max()) for t in diff) > 1e-4  # tc_beta ≠ 1 changes the encoder's gradient
    for a, b, c in zip(g[4.0], g[1.0], diff):  # linearly in tc_beta
        torch.testing.assert_close(a - b, 3 * c, rtol=1e-8, atol=1e-12)
    # the decoder does not see the TC term
    for a, b in zip(
        torch.autograd.grad(outs[4.0]["loss"], list(model.decoder.parameters())),
        torch.autograd.grad(outs[1.0]["loss"], list(model.decoder.parameters())),
    ):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_mws_uses_at_least_the_batch_size_as_n():
    model, x, eps = tc_setup(8)
    small = tc_vae_loss(model, x, None, 1, tc_beta=2.0, eps=eps)["tc"]  # n_data < batch: N = M
    same = tc_vae_loss(model, x, None, x.shape[0], tc_beta=2.0, eps=eps)["tc"]
    torch.testing.assert_close(small, same)


def test_tc_objective_errors():
    two = build_model(VAEConfig(hidden=(4,), latent_dim=2, stochastic_layers=2, image_shape=(1, 2, 2)))
    with pytest.raises(ValueError, match="--tc-beta needs one stochastic layer"):
        check_objective(two, ELBOConfig(tc_beta=2.0))
    with pytest.raises(ValueError, match="--tc-beta is an ELBO objective"):
        ELBOConfig(objective="iwae", tc_beta=2.0)
    with pytest.raises(ValueError, match="tc_beta must be non-negative and finite, got -1.0"):
        ELBOConfig(tc_beta=-1.0)


def test_minibatch_total_correlation_is_zero_when_every_posterior_is_the_same():
    # every q(z|x) the same Gaussian: q(z) = Π_j q(z_j) exactly, and the weights of each row sum to 1
    z = torch.randn(16, 5, dtype=torch.float64)
    mu, logvar = torch.full((16, 5), 0.3, dtype=torch.float64), torch.full((16, 5), -0.2, dtype=torch.float64)
    assert abs(float(minibatch_total_correlation(z, mu, logvar, 60_000))) < 1e-12
