"""Two stochastic layers, the conditional VAE and their model files.

log p(x) of a 1-D × 1-D two-layer toy by brute-force integration over (z1, z2) on a grid (the
model's networks used only as the black boxes p(x|z1) and p(z1|z2)), against the
importance-weighted estimate; each term of the importance weights against torch.distributions.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from torch.distributions import Bernoulli, Normal

from klvae.vae import VAE, TwoLayerVAE, VAEConfig, build_model, iw_log_px, load_model, save_model, vae_loss
from klvae.vae.iwae import iwae_loss

pytestmark = pytest.mark.usefixtures("one_thread")  # many small tensor operations

LOG_2PI = math.log(2 * math.pi)


def toy(seed=0, dtype=torch.float64, **kwargs):
    torch.manual_seed(seed)
    cfg = VAEConfig(
        hidden=(4,), latent_dim=1, latent_dim2=1, hidden2=(4,), stochastic_layers=2, image_shape=(1, 1, 2), **kwargs
    )
    return build_model(cfg).to(dtype)


def repeated(x, n):
    return torch.tensor(x, dtype=torch.float64).reshape(1, 1, 1, -1).expand(n, 1, 1, -1).contiguous()


def grid_log_px(model, x, n2=1201, n1=3001):
    """log ∫∫ p(x|z1) p(z1|z2) N(z2; 0, 1) dz1 dz2 by the trapezoid rule on a grid.

    The model is asked only for p(x|z1) (its decoder's logits) and for the mean and variance of
    p(z1|z2); the densities and the integral are written here in numpy.
    """
    t2 = np.linspace(-9, 9, n2)
    with torch.no_grad():
        m1, lv1 = model.prior1(torch.from_numpy(t2)[:, None])
    m1, s1 = m1.numpy()[:, 0], np.exp(0.5 * lv1.numpy()[:, 0])  # (n2,) each
    t1 = np.linspace((m1 - 12 * s1).min(), (m1 + 12 * s1).max(), n1)
    with torch.no_grad():
        logits = model.decode(torch.from_numpy(t1)[:, None]).reshape(n1, -1).numpy()  # (n1, 2)
    x = np.asarray(x, dtype=np.float64)
    log_px_z1 = np.sum(-x * np.logaddexp(0, -logits) - (1 - x) * np.logaddexp(0, logits), -1)  # (n1,)
    log_p1 = -0.5 * ((t1[None] - m1[:, None]) / s1[:, None]) ** 2 - np.log(s1[:, None]) - 0.5 * LOG_2PI
    log_p2 = -0.5 * t2**2 - 0.5 * LOG_2PI
    f = np.exp(log_px_z1[None] + log_p1 + log_p2[:, None])  # (n2, n1)
    return math.log(np.trapezoid(np.trapezoid(f, t1, axis=1), t2))


def test_the_grid_reference_has_converged():
    model = toy()
    coarse, fine = grid_log_px(model, [1.0, 0.0], 801, 2001), grid_log_px(model, [1.0, 0.0])
    assert abs(coarse - fine) < 1e-4  # (≈ 1e-5: the ReLU kinks make it O(h²)) ≪ the Monte Carlo SE below


@pytest.mark.parametrize("x", [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
def test_iw_log_px_matches_the_double_integral_and_bounds_the_elbo(x):
    model = toy()
    exact = grid_log_px(model, x)
    torch.manual_seed(1)
    est, elbo = iw_log_px(model, repeated(x, 200), k=2000, return_elbo=True)
    se = float(est.std()) / math.sqrt(len(est))
    assert abs(float(est.mean()) - exact) < 4 * se + 1e-3, (float(est.mean()), exact, se)
    se_elbo = float(elbo.std()) / math.sqrt(len(elbo))
    assert float(elbo.mean()) <= exact + 4 * se_elbo
    assert exact - float(elbo.mean()) > 0.1  # a real gap here, so the bound's side is tested


def test_log_weights_terms_against_torch_distributions():
    torch.manual_seed(2)
    cfg = VAEConfig(hidden=(5,), latent_dim=3, latent_dim2=2, hidden2=(4,), stochastic_layers=2, image_shape=(1, 2, 2))
    model = build_model(cfg).double()
    assert isinstance(model, TwoLayerVAE) and model.eps_size == 5 and not model.analytic_kl
    x = torch.rand(4, 1, 2, 2, dtype=torch.float64).bernoulli()
    eps = torch.randn(6, 4, 5, dtype=torch.float64)
    with torch.no_grad():
        draw = model.log_weights(x, k=6, eps=eps)
        h = model.encoder(x.flatten(1))
        mu1, sd1 = h[:, :3], torch.exp(0.5 * h[:, 3:])  # q(z1|x)
        z1 = mu1 + sd1 * eps[..., :3]  # (6, 4, 3)
        h2 = model.encoder2(z1)
        mu2, sd2 = h2[..., :2], torch.exp(0.5 * h2[..., 2:])  # q(z2|z1)
        z2 = mu2 + sd2 * eps[..., 3:]  # (6, 4, 2)
        g = model.decoder2(z2)
        pm1, psd1 = g[..., :3], torch.exp(0.5 * g[..., 3:])  # p(z1|z2)
        logits = model.decoder(z1.reshape(24, 3)).reshape(6, 4, 1, 2, 2)
    log_qz = Normal(mu1, sd1).log_prob(z1).sum(-1) + Normal(mu2, sd2).log_prob(z2).sum(-1)
    log_pz = Normal(0.0, 1.0).log_prob(z2).sum(-1) + Normal(pm1, psd1).log_prob(z1).sum(-1)
    log_px_z = Bernoulli(logits=logits).log_prob(x.expand(6, *x.shape)).sum((-3, -2, -1))
    torch.testing.assert_close(draw.z, z1, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(draw.log_qz, log_qz, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(draw.log_pz, log_pz, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(draw.log_px_z, log_px_z, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(draw.mu, mu1)
    # the ELBO at k = 1 is the mean log weight, and the IWAE loss at k = 1 equals it
    eps1 = eps[:1]
    loss, _, _ = vae_loss(model, x, eps=eps1)  # kl=None → Monte Carlo for two layers
    torch.testing.assert_close(loss, -model.log_weights(x, k=1, eps=eps1).log_w().mean())
    torch.testing.assert_close(iwae_loss(model, x, k=1, eps=eps1)["loss"], loss)


def test_two_layer_vamp_prior_is_the_mixture_of_q_z2_at_the_pseudo_inputs():
    torch.manual_seed(3)
    cfg = VAEConfig(
        hidden=(5,), latent_dim=2, latent_dim2=2, hidden2=(4,), stochastic_layers=2, prior="vamp",
        pseudo_inputs=3, image_shape=(1, 2, 2),
    )  # fmt: skip
    model = build_model(cfg).double()
    with torch.no_grad():
        model.prior.raw.normal_()
        z2 = torch.randn(7, 2, dtype=torch.float64)
        mu1_u = model.encoder(torch.sigmoid(model.prior.raw).flatten(1))[:, :2]  # μ1 at the pseudo-inputs
        h = model.encoder2(mu1_u)
        mu_k, sd_k = h[:, :2].numpy(), np.exp(0.5 * h[:, 2:].numpy())
        got = model.log_prior(z2).numpy()
    per = np.stack([stats.norm.logpdf(z2.numpy(), mu_k[j], sd_k[j]).sum(-1) for j in range(3)])
    ref = np.logaddexp.reduce(per, 0) - math.log(3)
    np.testing.assert_allclose(got, ref, rtol=1e-10)


# --- sampling ------------------------------------------------------------------------------------


@pytest.mark.parametrize("prior", ["normal", "vamp"])
@pytest.mark.parametrize("layers", [1, 2])
def test_sample_latent_shapes(prior, layers):
    cfg = VAEConfig(
        hidden=(5,), latent_dim=3, latent_dim2=2, stochastic_layers=layers, prior=prior, pseudo_inputs=4,
        image_shape=(1, 2, 2),
    )  # fmt: skip
    model = build_model(cfg)
    z = model.sample_latent(11, torch.Generator().manual_seed(0))
    assert z.shape == (11, 3) and torch.isfinite(z).all()
    assert model.decode(z).shape == (11, 1, 2, 2)
    again = model.sample_latent(11, torch.Generator().manual_seed(0))
    assert torch.equal(z, again)  # the generator fixes the draw


@pytest.mark.parametrize("layers", [1, 2])
def test_sample_latent_of_a_float64_model_is_float64(layers):
    """A float64 model's prior draws must be float64 (the decoder and p(z1|z2) refuse float32)."""
    cfg = VAEConfig(hidden=(4,), latent_dim=2, latent_dim2=1, stochastic_layers=layers, image_shape=(1, 2, 2))
    model = build_model(cfg).double()
    z = model.sample_latent(5, torch.Generator().manual_seed(0))
    assert z.dtype == torch.float64
    assert model.decode(z).dtype == torch.float64


def test_two_layer_samples_of_z1_follow_the_marginal_prior():
    """z1 ~ ∫ p(z1|z2) N(z2; 0, 1) dz2: a KS test against that CDF, computed on a z2 grid."""
    model = toy(4, dtype=torch.float32)
    with torch.no_grad():
        z1 = model.sample_latent(4000, torch.Generator().manual_seed(5))[:, 0].double().numpy()
        t2 = np.linspace(-9, 9, 1201)
        m1, lv1 = model.prior1(torch.from_numpy(t2).float()[:, None])
    m1, s1 = m1.double().numpy()[:, 0], np.exp(0.5 * lv1.double().numpy()[:, 0])
    w = stats.norm.pdf(t2)

    def cdf(t):
        t = np.atleast_1d(t)
        return np.trapezoid(stats.norm.cdf((t[:, None] - m1[None]) / s1[None]) * w[None], t2, axis=1)

    assert stats.kstest(z1, cdf).pvalue > 1e-3


# --- model files ------------------------------------------------------------------------------


def conditional_cfg(**kwargs):
    return dict(conditional=True, n_classes=3, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(stochastic_layers=2, latent_dim2=2, hidden2=(4,)),
        dict(prior="vamp", pseudo_inputs=4),
        conditional_cfg(),
        conditional_cfg(stochastic_layers=2),
        dict(stochastic_layers=2, prior="vamp", pseudo_inputs=3),
    ],
    ids=["two-layer", "vamp", "conditional", "conditional-two-layer", "vamp-two-layer"],
)
def test_save_and_load_round_trip(tmp_path, kwargs):
    torch.manual_seed(6)
    model = build_model(VAEConfig(hidden=(5,), latent_dim=3, image_shape=(1, 2, 2), **kwargs))
    if model.prior is not None:
        with torch.no_grad():
            model.prior.raw.normal_()  # not the default start, so loading must restore it
    path = save_model(model, tmp_path / "m.safetensors")
    back = load_model(path)
    assert type(back) is type(model) and back.config == model.config and not back.training
    x = torch.rand(4, 1, 2, 2).bernoulli()
    y = torch.tensor([0, 2, 1, 2]) if model.config.conditional else None
    eps = torch.randn(5, 4, model.eps_size)
    with torch.no_grad():
        a, b = model.log_weights(x, y, 5, eps), back.log_weights(x, y, 5, eps)
    for name in ("log_px_z", "log_pz", "log_qz", "z", "mu", "logvar"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


# --- the conditional VAE ---------------------------------------------------------------------------


def conditional_model(layers=1):
    torch.manual_seed(7)
    cfg = VAEConfig(hidden=(5,), latent_dim=2, stochastic_layers=layers, image_shape=(1, 2, 2), **conditional_cfg())
    return build_model(cfg).double()


@pytest.mark.parametrize("layers", [1, 2])
def test_conditional_models_refuse_missing_labels(layers):
    model = conditional_model(layers)
    x = torch.rand(2, 1, 2, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="this VAE is conditional: give the labels y of the images"):
        model.encode(x)
    with pytest.raises(ValueError, match="this VAE is conditional: give the labels y"):
        model.decode(torch.zeros(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="this VAE is conditional: give the labels y"):
        model.log_weights(x, k=3)
    with pytest.raises(ValueError, match="this VAE is conditional: give the labels y"):
        iw_log_px(model, x, k=3)


@pytest.mark.parametrize("y", [[0, 3], [-1, 0], [0.0, 1.0]], ids=["too-big", "negative", "float"])
def test_conditional_models_refuse_out_of_range_labels(y):
    model = conditional_model()
    x = torch.rand(2, 1, 2, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="labels must be integers in 0 … 2"):
        model.encode(x, torch.tensor(y))
    with pytest.raises(ValueError, match="labels must be integers in 0 … 2"):
        model.log_weights(x, torch.tensor(y), k=2)


def test_a_conditional_model_needs_n_classes():
    cfg = VAEConfig(hidden=(4,), latent_dim=2, image_shape=(1, 2, 2), conditional=True)
    with pytest.raises(ValueError, match="a conditional VAE needs n_classes"):
        VAE(cfg)


def test_conditional_decoding_depends_on_the_label():
    model = conditional_model()
    z = torch.randn(4, 2, dtype=torch.float64)
    with torch.no_grad():
        outs = [model.decode(z, torch.full((4,), c)) for c in range(3)]
        for c, out in enumerate(outs):  # the decoder reads [z, one-hot(y)]
            code = F.one_hot(torch.full((4,), c), 3).double()
            ref = model.decoder(torch.cat([z, code], -1)).reshape(4, 1, 2, 2)
            torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    assert float((outs[0] - outs[1]).abs().max()) > 1e-3 and float((outs[1] - outs[2]).abs().max()) > 1e-3
    # and a batch of mixed labels decodes each row with its own label
    mixed = model.decode(z, torch.tensor([0, 1, 2, 0]))
    torch.testing.assert_close(mixed, torch.stack([outs[0][0], outs[1][1], outs[2][2], outs[0][3]]))


def test_conditional_encoding_reads_the_label():
    model = conditional_model()
    x = torch.rand(3, 1, 2, 2, dtype=torch.float64)
    y = torch.tensor([2, 0, 1])
    with torch.no_grad():
        mu, logvar = model.encode(x, y)
        h = model.encoder(torch.cat([x.flatten(1), F.one_hot(y, 3).double()], -1))
    torch.testing.assert_close(torch.cat([mu, logvar], -1), h, rtol=1e-12, atol=1e-12)


# --- configuration ---------------------------------------------------------------------------------


def test_two_layer_defaults():
    cfg = VAEConfig(hidden=(8,), latent_dim=10, stochastic_layers=2, image_shape=(1, 2, 2))
    assert cfg.latent_dim2 == 5 and cfg.hidden2 == (64,)  # half of latent_dim; max(64, 4·latent_dim)
    cfg = VAEConfig(hidden=(8,), latent_dim=3, stochastic_layers=2, image_shape=(1, 2, 2))
    assert cfg.latent_dim2 == 2  # at least 2
    assert VAEConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(stochastic_layers=3), "stochastic_layers must be 1 or 2, got 3"),
        (dict(stochastic_layers=2, latent_dim2=0), "latent_dim2 and hidden2 must be positive"),
        (dict(stochastic_layers=2, hidden2=()), "latent_dim2 and hidden2 must be positive"),
        (dict(n_classes=1), "n_classes must be at least 2, got 1"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VAEConfig(hidden=(4,), latent_dim=2, image_shape=(1, 2, 2), **kwargs)


def test_the_classes_refuse_the_wrong_number_of_layers():
    two = VAEConfig(hidden=(4,), latent_dim=2, stochastic_layers=2, image_shape=(1, 2, 2))
    with pytest.raises(ValueError, match="a VAE with two stochastic layers is a TwoLayerVAE"):
        VAE(two)
    with pytest.raises(ValueError, match="a TwoLayerVAE has stochastic_layers = 2, got 1"):
        TwoLayerVAE(VAEConfig(hidden=(4,), latent_dim=2, image_shape=(1, 2, 2)))
