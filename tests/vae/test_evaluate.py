"""The importance-weighted bound against exact log p(x) by numerical integration over a 1-D latent."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from klvae.vae import VAE, VAEConfig, evaluate_vae, evaluate_vae_per_image, iw_log_px
from vae_reference import hand_elbo, hand_log_px_z, tiny_model

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
    again, kept = evaluate_vae_per_image(model, x, k=20, batch_size=10, seed=3)
    assert again["test_iw_nll"] == m["test_iw_nll"]  # the same draws: asking for the values changes nothing
    assert torch.equal(kept["log_px"], log_px.double()) and torch.equal(kept["elbo"], elbo.double())


def test_paired_difference_is_the_mean_and_se_of_the_differences():
    from klvae.vae import paired_difference

    rng = np.random.default_rng(1)
    hard = rng.gamma(2.0, 50.0, 500)  # each example's difficulty, shared by both models
    a, b = hard + rng.normal(0, 0.3, 500), hard + 1.0 + rng.normal(0, 0.3, 500)
    diff, se = paired_difference(torch.from_numpy(a), torch.from_numpy(b))
    assert diff == pytest.approx(float(np.mean(a - b)), rel=1e-12)
    assert se == pytest.approx(float(np.std(a - b, ddof=1) / math.sqrt(500)), rel=1e-12)
    assert se < 0.1 * float(np.std(a, ddof=1) / math.sqrt(500))  # far below either mean's own SE
    assert abs(diff + 1.0) < 4 * se
    with pytest.raises(ValueError, match="one length"):
        paired_difference(torch.zeros(3), torch.zeros(4))


# --- the VampPrior, two stochastic layers and the conditional VAE ---------------------------------


def _family_model(kind):
    from klvae.vae import build_model

    torch.manual_seed(11)
    kwargs = {
        "vamp": dict(prior="vamp", pseudo_inputs=4),
        "two-layer": dict(stochastic_layers=2, latent_dim2=2, hidden2=(8,)),
        "vamp-two-layer": dict(stochastic_layers=2, latent_dim2=2, hidden2=(8,), prior="vamp", pseudo_inputs=4),
        "conditional": dict(conditional=True, n_classes=3),
    }[kind]
    model = build_model(VAEConfig(hidden=(12,), latent_dim=3, image_shape=(1, 3, 3), **kwargs))
    if model.prior is not None:
        with torch.no_grad():
            model.prior.raw.normal_()
    return model


@pytest.mark.parametrize("kind", ["vamp", "two-layer", "vamp-two-layer", "conditional"])
def test_evaluate_the_model_family(kind):
    model = _family_model(kind)
    g = torch.Generator().manual_seed(12)
    x = torch.rand(40, 1, 3, 3, generator=g).bernoulli(generator=g)
    y = torch.arange(40) % 3 if kind == "conditional" else None
    m = evaluate_vae(model, x, y=y, k=100, batch_size=16)
    numbers = [v for v in m.values() if isinstance(v, float)]
    assert numbers and all(math.isfinite(v) for v in numbers)
    assert m["test_elbo"] == pytest.approx(-(m["test_recon_nll"] + m["test_kl"]), rel=1e-9)
    # IW tightens the ELBO: −test_iw_nll ≥ test_elbo up to Monte Carlo error
    assert m["test_elbo"] <= -m["test_iw_nll"] + 3 * m["test_iw_nll_se"] + 3 * m["test_elbo_se"]
    layers = model.config.stochastic_layers
    assert len(m["active_units_per_layer"]) == layers == len(m["latent_sizes"])
    assert m["latent_sizes"] == ([3, 2] if layers == 2 else [3]) and m["latent_dim"] == 3
    assert m["active_units"] == sum(m["active_units_per_layer"])
    assert all(0 <= a <= s for a, s in zip(m["active_units_per_layer"], m["latent_sizes"]))
    if kind == "conditional":  # one layer and the N(0, I) prior: closed-form KL and the KL split
        assert m["kl_estimate"] == "closed form" and len(m["kl_per_dim"]) == 3
        split = m["index_code_mi"] + m["total_correlation"] + m["dimwise_kl"]
        assert math.isfinite(split) and m["index_code_mi"] <= math.log(40)
    else:
        assert m["kl_estimate"].startswith("Monte Carlo") and "100 draws" in m["kl_estimate"]
        assert m["kl_per_dim"] is None
        assert m["index_code_mi"] is None and m["total_correlation"] is None and m["dimwise_kl"] is None


@pytest.mark.parametrize("kind", ["vamp", "two-layer"])
def test_monte_carlo_test_kl_is_the_mean_of_log_q_minus_log_p(kind):
    """The reported KL of a model without a closed form: (1/k) Σ_i log q(z_i|x) − log p(z_i), so
    ELBO = −recon − KL is the mean log weight of the same draws."""
    model = _family_model(kind)
    x = torch.rand(6, 1, 3, 3, generator=torch.Generator().manual_seed(13)).bernoulli()
    m = evaluate_vae(model, x, k=50, batch_size=6, seed=4)
    with torch.random.fork_rng():
        torch.manual_seed(4)
        with torch.no_grad():
            draw = model.log_weights(x, None, 50)
    kl = (draw.log_qz - draw.log_pz).double().mean(0)
    elbo = draw.log_w().double().mean(0)
    assert m["test_kl"] == pytest.approx(float(kl.mean()), rel=1e-6)
    assert m["test_elbo"] == pytest.approx(float(elbo.mean()), rel=1e-6)


def test_evaluate_a_conditional_model_needs_the_labels():
    model = _family_model("conditional")
    with pytest.raises(ValueError, match="this VAE is conditional: give the labels y"):
        evaluate_vae(model, torch.rand(4, 1, 3, 3), k=5)


def test_conditional_iw_estimates_log_p_x_given_y():
    """log p(x|y) of a conditional model: the label changes the estimate, and each row uses its own."""
    model = _family_model("conditional")
    x = torch.rand(5, 1, 3, 3, generator=torch.Generator().manual_seed(14)).bernoulli()
    torch.manual_seed(15)
    a = iw_log_px(model, x, k=400, y=torch.zeros(5, dtype=torch.long))
    torch.manual_seed(15)
    b = iw_log_px(model, x, k=400, y=torch.full((5,), 2))
    assert float((a - b).abs().max()) > 1e-3
