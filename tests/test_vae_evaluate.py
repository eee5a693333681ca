"""The importance-weighted bound against exact log p(x) by numerical integration over a 1-D latent."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from klvae.vae import VAE, VAEConfig, evaluate_vae, iw_log_px, log_likelihood
from test_vae_objective import hand_elbo, hand_log_px_z, tiny_model

X = np.array([1.0, 0.0])


def exact_log_px(x, likelihood="bernoulli"):
    """log ∫ p(x|z) N(z; 0, 1) dz by adaptive quadrature (scipy), independent of klvae."""
    f = lambda z: math.exp(hand_log_px_z(x, z, likelihood)) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    value, _ = integrate.quad(f, -12, 12, points=[-2, 0, 2], limit=200, epsabs=1e-14)
    return math.log(value)


def repeated(x, n):
    return torch.from_numpy(x).reshape(1, 1, 1, -1).expand(n, 1, 1, -1).contiguous()


def test_iw_at_k1_is_the_elbo_in_expectation():
    torch.manual_seed(0)
    model = tiny_model()
    est = iw_log_px(model, repeated(X, 40000), k=1)
    elbo, _, _ = hand_elbo(X)
    se = float(est.std()) / math.sqrt(len(est))
    assert abs(float(est.mean()) - elbo) < 4 * se


def test_iw_rises_with_k_towards_the_exact_log_px():
    torch.manual_seed(1)
    model = tiny_model()
    exact = exact_log_px(X)
    means, ses = [], []
    for k in (1, 10, 100):
        est = iw_log_px(model, repeated(X, 4000), k=k)
        means.append(float(est.mean()))
        ses.append(float(est.std()) / math.sqrt(len(est)))
    assert means[0] < means[1] < means[2]
    assert means[2] <= exact + 4 * ses[2]  # a lower bound on log p(x) in expectation
    est = iw_log_px(model, repeated(X, 200), k=5000)
    assert float(est.mean()) == pytest.approx(exact, abs=2e-3)


def test_iw_chunking_does_not_change_the_estimate(monkeypatch):
    import klvae.vae.evaluate as ev

    model = tiny_model()
    x = repeated(X, 7)
    torch.manual_seed(2)
    whole = iw_log_px(model, x, k=300)
    monkeypatch.setattr(ev, "_MAX_ELEMENTS", 7 * 2 * 16)  # chunks of 16 samples
    torch.manual_seed(2)
    chunked = iw_log_px(model, x, k=300)
    # same draws in the same order: equal up to float64 summation order
    assert torch.allclose(whole, chunked, rtol=0, atol=1e-10)


def test_iw_is_float64_and_stable_with_extreme_log_weights():
    cfg = VAEConfig(hidden=(4,), latent_dim=2, image_shape=(1, 8, 8))
    model = VAE(cfg)
    with torch.no_grad():
        model.decoder[-1].bias.fill_(-60.0)  # log p(x|z) ≈ −60 · (#ones): exp underflows in float32
    x = torch.ones(3, 1, 8, 8)
    est = iw_log_px(model, x, k=64)
    assert est.dtype == torch.float64 and torch.isfinite(est).all()
    assert float(est.max()) < -3000


def test_evaluate_reports_consistent_metrics():
    torch.manual_seed(3)
    cfg = VAEConfig(hidden=(16,), latent_dim=4, image_shape=(1, 4, 4))
    model = VAE(cfg)
    with torch.no_grad():  # unit 3 ignores x: its posterior mean is constant → inactive
        model.encoder[-1].weight[3].zero_()
    x = torch.rand(50, 1, 4, 4).bernoulli()
    m = evaluate_vae(model, x, k=200, batch_size=16)
    assert m["test_elbo"] == pytest.approx(-(m["test_recon_nll"] + m["test_kl"]), rel=1e-9)
    assert m["test_iw_nll"] <= -m["test_elbo"] + 0.5  # IW tightens the bound
    assert len(m["kl_per_dim"]) == 4 and m["active_units"] <= 3
    mu, logvar = model.encode(x)
    ref_kl = (0.5 * (mu.square() + logvar.exp() - logvar - 1)).mean(0).double()
    assert np.allclose(m["kl_per_dim"], ref_kl.detach().numpy(), rtol=1e-5)
    assert m["active_unit_variance"][3] == pytest.approx(0.0, abs=1e-12)
    mse = (model.mean(mu) - x).square().mean()
    assert m["test_recon_mse"] == pytest.approx(float(mse.detach()), rel=1e-5)


def test_evaluate_does_not_disturb_the_callers_random_stream():
    model = VAE(VAEConfig(hidden=(8,), latent_dim=2, image_shape=(1, 2, 2)))
    x = torch.rand(5, 1, 2, 2)
    torch.manual_seed(4)
    a = torch.rand(3)
    torch.manual_seed(4)
    evaluate_vae(model, x, k=10)
    assert torch.equal(torch.rand(3), a)


def test_gaussian_iw_matches_exact_log_density():
    torch.manual_seed(5)
    model = tiny_model("gaussian")
    x = np.array([0.8, 0.3])
    exact = exact_log_px(x, "gaussian")
    est = iw_log_px(model, repeated(x, 200), k=5000)
    assert float(est.mean()) == pytest.approx(exact, abs=5e-3)


def test_k_must_be_positive():
    with pytest.raises(ValueError, match="k must be at least 1"):
        iw_log_px(tiny_model(), repeated(X, 1), k=0)


def test_log_likelihood_reduces_over_pixels_only():
    assert log_likelihood(torch.zeros(6, 5, 1, 2, 2), torch.zeros(5, 1, 2, 2), "bernoulli").shape == (6, 5)


def test_standard_errors_are_those_of_the_per_example_values():
    from klvae.vae import VAE, VAEConfig

    torch.manual_seed(0)
    model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
    x = torch.rand(37, 1, 4, 4).bernoulli()
    m = evaluate_vae(model, x, k=20, batch_size=10, seed=3)
    with torch.random.fork_rng():  # the same draws, batch by batch, as evaluate_vae makes them
        torch.manual_seed(3)
        per = []
        for xb in x.split(10):
            log_px, elbo = iw_log_px(model, xb, 20, return_elbo=True)
            model.encode(xb)
            per.append((log_px, elbo))
    log_px, elbo = (torch.cat(v) for v in zip(*per))
    assert m["test_iw_nll"] == pytest.approx(-float(log_px.mean()), rel=1e-12)
    assert m["test_iw_nll_se"] == pytest.approx(float(np.std(log_px.numpy(), ddof=1)) / math.sqrt(37), rel=1e-9)
    assert m["test_elbo_se"] == pytest.approx(float(np.std(elbo.numpy(), ddof=1)) / math.sqrt(37), rel=1e-9)
    assert evaluate_vae(model, x[:1], k=5)["test_iw_nll_se"] is None  # one image: no spread to measure
