"""The IWAE bound and its doubly-reparameterized gradient (DReG) against hand computations:
log-mean-exp in mpmath, log p(x) by adaptive quadrature over a 1-D latent, the DReG encoder
gradient Σ w̃² ∂log w/∂z ∂z/∂φ assembled by hand, and Monte Carlo over many ε."""

import copy
import math

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import logsumexp
from torch.distributions import Bernoulli, Normal

from klvae.vae import VAE, VAEConfig, build_model, iwae_loss, vae_loss
from klvae.vae.iwae import iwae_bound
from vae_reference import hand_log_px_z, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")  # many small tensor operations


def quad_log_px(x):
    """log ∫ p(x|z) N(z; 0, 1) dz of the hand-set tiny model by adaptive quadrature (no klvae code)."""

    def f(z):
        return math.exp(hand_log_px_z(x, z) - 0.5 * z * z) / math.sqrt(2 * math.pi)

    value, err = integrate.quad(f, -14, 14, points=[-2, 0, 2], limit=400, epsabs=1e-15, epsrel=1e-12)
    assert err < 1e-9 * value
    return math.log(value)


def repeated(x, n):
    return torch.from_numpy(np.asarray(x, dtype=np.float64)).reshape(1, 1, 1, -1).expand(n, 1, 1, -1).contiguous()


def small_model(seed=0, latent=2, pixels=(1, 2, 2), hidden=(5,)):
    torch.manual_seed(seed)
    return VAE(VAEConfig(hidden=hidden, latent_dim=latent, image_shape=pixels)).double()


def encoder_params(model):
    return list(model.encoder.parameters())


def decoder_params(model):
    return list(model.decoder.parameters())


def grads(loss, params):
    return torch.autograd.grad(loss, params, allow_unused=False)


# --- k = 1 is the ELBO -------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [1.0, 0.3])
def test_k1_equals_the_elbo_with_monte_carlo_kl(beta):
    model = small_model(1, latent=3)
    g = torch.Generator().manual_seed(2)
    x = torch.rand(9, 1, 2, 2, generator=g, dtype=torch.float64).bernoulli(generator=g)
    eps = torch.randn(1, 9, 3, generator=g, dtype=torch.float64)
    out = iwae_loss(model, x, k=1, beta=beta, eps=eps)
    loss, recon, kl = vae_loss(model, x, kl="mc", beta=beta, eps=eps)
    torch.testing.assert_close(out["loss"], loss, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out["recon"], recon, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out["kl"], kl, rtol=1e-12, atol=1e-12)
    # the same gradient, too (at k = 1 the normalized weight is 1)
    for a, b in zip(grads(out["loss"], list(model.parameters())), grads(loss, list(model.parameters()))):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("k", [1, 6])
def test_loss_against_torch_distributions(k):
    """−IWAE_k = −mean_b log mean_i exp(log p(x|z_i) + log N(z_i; 0, I) − log N(z_i; μ, σ²)),
    the log weights from torch.distributions and the log-mean-exp from scipy."""
    model = small_model(3)
    g = torch.Generator().manual_seed(4)
    x = torch.rand(6, 1, 2, 2, generator=g, dtype=torch.float64).bernoulli(generator=g)
    eps = torch.randn(k, 6, 2, generator=g, dtype=torch.float64)
    with torch.no_grad():
        mu, logvar = model.encoder(x.flatten(1)).chunk(2, -1)
        z = mu + torch.exp(0.5 * logvar) * eps  # (k, 6, 2)
        logits = model.decoder(z).reshape(k, 6, 1, 2, 2)
        log_w = (
            Bernoulli(logits=logits).log_prob(x.expand(k, *x.shape)).sum((-3, -2, -1))
            + Normal(0.0, 1.0).log_prob(z).sum(-1)
            - Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
        ).numpy()  # (k, 6)
        got = iwae_loss(model, x, k=k, eps=eps)["loss"]
    ref = -np.mean(logsumexp(log_w, axis=0) - math.log(k))
    assert float(got) == pytest.approx(ref, rel=1e-12)


# --- the bound rises with k towards log p(x) ---------------------------------------------------


@pytest.mark.parametrize("x", [[1.0, 0.0], [0.0, 1.0]])
def test_bound_rises_with_k_towards_the_exact_log_px(x):
    torch.manual_seed(5)
    model = tiny_model()
    exact = quad_log_px(np.array(x))
    n = 10000
    means, ses = [], []
    with torch.no_grad():
        for k in (1, 5, 50):
            xb = repeated(x, n)
            per = iwae_bound(model.log_weights(xb, k=k).log_w())  # (n,) one IWAE_k draw per copy
            means.append(float(per.mean()))
            ses.append(float(per.std()) / math.sqrt(n))
    # each step up in k raises the mean by clearly more than its noise
    for (m_a, s_a), (m_b, s_b) in zip(zip(means, ses), zip(means[1:], ses[1:])):
        assert m_b - m_a > 4 * math.hypot(s_a, s_b)
    assert means[-1] <= exact + 4 * ses[-1]  # a lower bound in expectation
    assert exact - means[-1] < exact - means[0]  # and it closes the gap


def test_bound_at_large_k_reaches_log_px():
    torch.manual_seed(6)
    model = tiny_model()
    x = np.array([0.0, 1.0])
    with torch.no_grad():
        per = iwae_bound(model.log_weights(repeated(x, 200), k=5000).log_w())
    assert float(per.mean()) == pytest.approx(quad_log_px(x), abs=3e-3)


# --- iwae_bound against a direct log-mean-exp ---------------------------------------------------


def mp_log_mean_exp(column):
    mpmath.mp.dps = 60
    terms = [mpmath.exp(mpmath.mpf(float(v))) for v in column]
    return float(mpmath.log(mpmath.fsum(terms) / len(terms)))


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 7),
    st.integers(1, 4),
    st.floats(-1e4, 1e4),
    st.floats(0.0, 800.0),
    st.integers(0, 2**31 - 1),
)
def test_iwae_bound_is_the_log_mean_exp(k, b, shift, spread, seed):
    rng = np.random.default_rng(seed)
    log_w = shift + spread * rng.standard_normal((k, b))  # spreads of hundreds of nats: exp over/underflows
    got = iwae_bound(torch.from_numpy(log_w)).numpy()
    ref = np.array([mp_log_mean_exp(log_w[:, j]) for j in range(b)])
    assert got.shape == (b,)
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-9)


@pytest.mark.parametrize(
    "column",
    [
        [1000.0, 1000.0],  # exp overflows
        [-1000.0, -1000.0, -1000.0],  # exp underflows
        [-745.0, 709.0],
        [-1e300, 0.0],
        [3.0],
        [-1e5, -1e5 + 1.0, -1e5 + 2.0, -1e5 + 3.0],
    ],
)
def test_iwae_bound_with_huge_and_tiny_log_weights(column):
    got = float(iwae_bound(torch.tensor(column, dtype=torch.float64)[:, None])[0])
    assert got == pytest.approx(mp_log_mean_exp(column), rel=1e-14, abs=1e-12)


def test_iwae_bound_with_a_zero_weight_and_all_zero_weights():
    col = torch.tensor([[-math.inf], [math.log(4.0)]], dtype=torch.float64)
    assert float(iwae_bound(col)[0]) == pytest.approx(math.log(2.0), rel=1e-15)  # mean(0, 4) = 2
    assert float(iwae_bound(torch.full((3, 1), -math.inf, dtype=torch.float64))[0]) == -math.inf


# --- DReG -----------------------------------------------------------------------------------


def dreg_setup(seed=7, k=6, b=4):
    model = small_model(seed, latent=2, pixels=(1, 2, 3), hidden=(6,))
    g = torch.Generator().manual_seed(seed + 100)
    x = torch.rand(b, 1, 2, 3, generator=g, dtype=torch.float64).bernoulli(generator=g)
    eps = torch.randn(k, b, 2, generator=g, dtype=torch.float64)
    return model, x, eps


def test_dreg_loss_value_is_the_iwae_bound():
    model, x, eps = dreg_setup()
    dreg = iwae_loss(model, x, k=6, dreg=True, eps=eps)
    plain = iwae_loss(model, x, k=6, eps=eps)
    torch.testing.assert_close(dreg["loss"], plain["loss"], rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(dreg["recon"], plain["recon"], rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(dreg["kl"], plain["kl"], rtol=1e-13, atol=1e-13)
    with torch.no_grad():  # and without a graph
        torch.testing.assert_close(iwae_loss(model, x, k=6, dreg=True, eps=eps)["loss"], plain["loss"].detach())


def test_dreg_decoder_gradient_is_the_iwae_gradient():
    model, x, eps = dreg_setup(8)
    g_dreg = grads(iwae_loss(model, x, k=6, dreg=True, eps=eps)["loss"], decoder_params(model))
    g_plain = grads(iwae_loss(model, x, k=6, eps=eps)["loss"], decoder_params(model))
    for a, b in zip(g_dreg, g_plain):
        assert float(b.abs().max()) > 1e-3  # not a vacuous comparison
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-13)


def hand_dreg_encoder_gradient(model, x, eps):
    """−(1/B) Σ_b Σ_i w̃_ib² ∂log w_ib/∂z_ib · ∂z_ib/∂φ, by hand (Tucker et al. 2019, eq. 5).

    ∂log w/∂z with log q's parameters held fixed comes from autograd on a leaf copy of z and
    torch.distributions; the chain through z = μ + σ ε is written out: ∂z/∂μ = 1,
    ∂z/∂log σ² = ½ σ ε; the encoder's Jacobian is applied by a vector–Jacobian product.
    """
    k, b, _ = eps.shape
    mu, logvar = model.encoder(x.flatten(1)).chunk(2, -1)  # (B, d), with the encoder's graph
    m, lv = mu.detach(), logvar.detach()
    sd = torch.exp(0.5 * lv)
    z = (m + sd * eps).requires_grad_(True)  # (k, B, d) leaf
    logits = model.decoder(z.reshape(k * b, -1)).reshape(k, b, *x.shape[1:])
    log_w = (
        Bernoulli(logits=logits).log_prob(x.expand(k, *x.shape)).sum((-3, -2, -1))
        + Normal(0.0, 1.0).log_prob(z).sum(-1)
        - Normal(m, sd).log_prob(z).sum(-1)
    )  # (k, B)
    (dlogw_dz,) = torch.autograd.grad(log_w.sum(), z)  # (k, B, d): each log w_ib depends on z_ib only
    w2 = torch.softmax(log_w.detach(), 0).square()[..., None]  # (k, B, 1)
    g_mu = -(w2 * dlogw_dz).sum(0) / b  # (B, d)
    g_logvar = -(w2 * dlogw_dz * 0.5 * sd * eps).sum(0) / b  # (B, d)
    return torch.autograd.grad((mu, logvar), encoder_params(model), grad_outputs=(g_mu, g_logvar))


@pytest.mark.parametrize("seed", [9, 10, 11])
def test_dreg_encoder_gradient_is_the_hand_formula(seed):
    model, x, eps = dreg_setup(seed, k=5, b=3)
    got = grads(iwae_loss(model, x, k=5, dreg=True, eps=eps)["loss"], encoder_params(model))
    ref = hand_dreg_encoder_gradient(model, x, eps)
    plain = grads(iwae_loss(model, x, k=5, eps=eps)["loss"], encoder_params(model))
    for a, r in zip(got, ref):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-13)
    # the hand formula is not the plain IWAE gradient (else this test could not tell them apart)
    assert max(float((r - p).abs().max()) for r, p in zip(ref, plain)) > 1e-4


def per_example_encoder_output_grads(model, x, k, eps, dreg):
    """Gradient of −IWAE_k(x_b) with respect to each example's encoder output (μ_b, log σ²_b): (B, 2d)."""
    store = {}

    def keep(module, inputs, output):
        output.retain_grad()
        store["h"] = output

    handle = model.encoder.register_forward_hook(keep)
    try:
        loss = iwae_loss(model, x, k=k, dreg=dreg, eps=eps)["loss"]
        loss.backward()
    finally:
        handle.remove()
    model.zero_grad()
    return store["h"].grad * x.shape[0]  # the loss is a batch mean: undo the 1/B


def test_dreg_and_iwae_encoder_gradients_have_the_same_mean_and_dreg_less_variance():
    """Many copies of one x, each with its own ε: per-copy gradients are i.i.d. draws of each estimator."""
    torch.manual_seed(12)
    model = tiny_model()
    n, k = 4000, 50
    x = repeated([0.0, 1.0], n)
    eps = torch.randn(k, n, 1, dtype=torch.float64)
    g_plain = per_example_encoder_output_grads(model, x, k, eps, dreg=False)  # (n, 2): ∂/∂μ, ∂/∂log σ²
    g_dreg = per_example_encoder_output_grads(model, x, k, eps, dreg=True)
    diff = g_dreg - g_plain  # same ε: a paired comparison
    se = diff.std(0) / math.sqrt(n)
    assert (diff.mean(0).abs() < 4 * se).all(), (diff.mean(0), se)
    var_plain, var_dreg = g_plain.var(0), g_dreg.var(0)
    assert (var_dreg < var_plain / 2).all(), (var_dreg, var_plain)  # here ≈ 10× and 3× lower


def test_stl_without_the_second_weight_would_fail_the_paired_test():
    """Guard the power of the test above: Σ w̃ ∂log w/∂z ∂z/∂φ (one w̃) differs from IWAE in mean."""
    torch.manual_seed(13)
    model = tiny_model()
    n, k = 4000, 50
    x = repeated([0.0, 1.0], n)
    eps = torch.randn(k, n, 1, dtype=torch.float64)
    g_plain = per_example_encoder_output_grads(model, x, k, eps, dreg=False)
    # the STL estimator by hand: one factor w̃ on the path through z, log q's parameters fixed
    mu, logvar = model.encoder(x.flatten(1)).chunk(2, -1)
    m, lv = mu.detach(), logvar.detach()
    sd = torch.exp(0.5 * lv)
    z = (m + sd * eps).requires_grad_(True)
    logits = model.decoder(z.reshape(k * n, -1)).reshape(k, n, 1, 1, 2)
    log_w = (
        Bernoulli(logits=logits).log_prob(x.expand(k, *x.shape)).sum((-3, -2, -1))
        + Normal(0.0, 1.0).log_prob(z).sum(-1)
        - Normal(m, sd).log_prob(z).sum(-1)
    )
    (dz,) = torch.autograd.grad(log_w.sum(), z)
    w = torch.softmax(log_w.detach(), 0)[..., None]
    g_stl = -torch.cat([(w * dz).sum(0), (w * dz * 0.5 * sd * eps).sum(0)], -1)  # (n, 2)
    diff = g_stl - g_plain
    se = diff.std(0) / math.sqrt(n)
    assert (diff.mean(0).abs() > 4 * se).any()


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, -3])
def test_k_must_be_at_least_one(k):
    model, x, _ = dreg_setup()
    with pytest.raises(ValueError, match=f"k must be at least 1, got {k}"):
        iwae_loss(model, x, k=k)


# --- DReG with two stochastic layers ---------------------------------------------------------


def two_layer_setup(seed, k, b):
    torch.manual_seed(seed)
    cfg = VAEConfig(hidden=(6,), latent_dim=2, stochastic_layers=2, latent_dim2=2, hidden2=(5,), image_shape=(1, 2, 3))
    model = build_model(cfg).double()
    g = torch.Generator().manual_seed(seed + 100)
    x = torch.rand(b, 1, 2, 3, generator=g, dtype=torch.float64).bernoulli(generator=g)
    return model, x, torch.randn(k, b, 4, generator=g, dtype=torch.float64)


def two_layer_encoders(model):
    return list(model.encoder.parameters()) + list(model.encoder2.parameters())


def two_layer_generative(model):
    return list(model.decoder.parameters()) + list(model.decoder2.parameters())


def hand_dreg_two_layer(model, x, eps):
    """−(1/B) Σ_b Σ_i w̃² (∂log w/∂z1 · dz1/dφ + ∂log w/∂z2 · dz2/dφ) by hand: log w at leaf copies
    of (z1, z2) with copies of the encoders whose parameters are fixed (torch.distributions
    densities), then the vector–Jacobian product through the reparameterization
    z1 = μ1 + σ1 ε1, z2 = μ2(z1) + σ2(z1) ε2 as written out here."""
    k, b, _ = eps.shape
    e1, e2 = eps[..., :2], eps[..., 2:]
    mu1, lv1 = model.encoder(x.flatten(1)).chunk(2, -1)  # (B, 2), live
    z1 = mu1 + torch.exp(0.5 * lv1) * e1  # (k, B, 2)
    mu2, lv2 = model.encoder2(z1).chunk(2, -1)
    z2 = mu2 + torch.exp(0.5 * lv2) * e2
    fixed_enc2 = copy.deepcopy(model.encoder2).requires_grad_(False)
    a, c = z1.detach().requires_grad_(True), z2.detach().requires_grad_(True)
    m2, l2 = fixed_enc2(a).chunk(2, -1)
    pm, pl = model.decoder2(c).chunk(2, -1)
    logits = model.decoder(a.reshape(k * b, -1)).reshape(k, b, *x.shape[1:])
    log_w = (
        Bernoulli(logits=logits).log_prob(x.expand(k, *x.shape)).sum((-3, -2, -1))
        + Normal(pm, torch.exp(0.5 * pl)).log_prob(a).sum(-1)
        + Normal(0.0, 1.0).log_prob(c).sum(-1)
        - Normal(mu1.detach(), torch.exp(0.5 * lv1.detach())).log_prob(a).sum(-1)
        - Normal(m2, torch.exp(0.5 * l2)).log_prob(c).sum(-1)
    )  # (k, B)
    ga, gc = torch.autograd.grad(log_w.sum(), (a, c))
    w2 = torch.softmax(log_w.detach(), 0).square()[..., None]
    return torch.autograd.grad((z1, z2), two_layer_encoders(model), grad_outputs=(-w2 * ga / b, -w2 * gc / b))


@pytest.mark.parametrize("seed", [21, 22])
def test_two_layer_dreg_value_decoders_and_encoders_against_hand_computations(seed):
    model, x, eps = two_layer_setup(seed, k=5, b=3)
    dreg = iwae_loss(model, x, k=5, dreg=True, eps=eps)
    plain = iwae_loss(model, x, k=5, eps=eps)
    torch.testing.assert_close(dreg["loss"], plain["loss"], rtol=1e-13, atol=1e-13)
    for a, b in zip(
        grads(dreg["loss"], two_layer_generative(model)), grads(plain["loss"], two_layer_generative(model))
    ):
        assert float(b.abs().max()) > 1e-4
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-13)  # p(x|z1), p(z1|z2): the IWAE gradient
    dreg = iwae_loss(model, x, k=5, dreg=True, eps=eps)
    got = grads(dreg["loss"], two_layer_encoders(model))
    ref = hand_dreg_two_layer(model, x, eps)
    plain = grads(iwae_loss(model, x, k=5, eps=eps)["loss"], two_layer_encoders(model))
    for a, r in zip(got, ref):
        torch.testing.assert_close(a, r, rtol=1e-10, atol=1e-13)
    assert max(float((r - p).abs().max()) for r, p in zip(ref, plain)) > 1e-4  # not the plain gradient


def test_two_layer_dreg_has_the_iwae_gradients_mean_and_less_variance():
    """Many copies of one x, each with its own ε, as for one layer: the gradients with respect to
    both encoders' outputs (μ1, log σ1² per example; μ2, log σ2² summed over the k draws)."""
    model, _, _ = two_layer_setup(23, k=1, b=1)
    n, k = 3000, 30
    x = repeated([0.0, 1.0, 1.0, 0.0, 1.0, 0.0], n).reshape(n, 1, 2, 3)
    eps = torch.randn(k, n, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)

    def output_grads(dreg):
        store = []

        def keep(module, inputs, output):
            output.retain_grad()
            store.append(output)

        handles = [m.register_forward_hook(keep) for m in (model.encoder, model.encoder2)]
        try:
            iwae_loss(model, x, k=k, dreg=dreg, eps=eps)["loss"].backward()
        finally:
            for h in handles:
                h.remove()
        model.zero_grad()
        h1, h2 = store[0], store[1]  # the live encoders' outputs (a third, with DReG: the fixed-parameter call)
        return torch.cat([h1.grad, h2.grad.sum(0)], -1) * n  # (n, 8); the loss is a batch mean

    g_plain, g_dreg = output_grads(False), output_grads(True)
    diff = g_dreg - g_plain
    se = diff.std(0) / math.sqrt(n)
    assert (diff.mean(0).abs() < 4.5 * se).all(), (diff.mean(0), se)
    assert g_dreg.var(0).sum() < g_plain.var(0).sum() / 2, (g_dreg.var(0), g_plain.var(0))
