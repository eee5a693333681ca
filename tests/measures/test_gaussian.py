"""klvae.measures.gaussian against torch.distributions, the seeds' textbook formulas, mpmath, and
properties; every error message; gradients by finite differences."""

import doctest

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

import klvae.measures.gaussian
from klvae.measures.gaussian import entropy_normal, kl_normal, kl_std_normal
from klvae.measures.mvn import entropy_mvn, kl_mvn
from reference import seeds_kl_gaussian_multivariate

F64 = torch.float64
mpmath.mp.dps = 50


def rel_err(a, b):
    a, b = torch.as_tensor(a, dtype=F64), torch.as_tensor(b, dtype=F64)
    return ((a - b).abs() / b.abs()).max().item()


def random_spd(*shape, d, gen, jitter=0.3):
    a = torch.randn(*shape, d, d, dtype=F64, generator=gen)
    return a @ a.mT / d + jitter * torch.eye(d, dtype=F64)


def seeds_kl_gaussian_1d(mu1, sigma1, mu2, sigma2):
    """Seed 001 §9, word for word."""
    term1 = np.log(sigma2 / sigma1)
    term2 = (sigma1**2 + (mu1 - mu2) ** 2) / (2 * sigma2**2)
    term3 = -0.5
    return term1 + term2 + term3


def test_docstring_examples_run():
    assert doctest.testmod(klvae.measures.gaussian).failed == 0


# --- against torch.distributions, float64 ---------------------------------------------


def test_kl_normal_matches_torch_elementwise_with_broadcasting():
    gen = torch.Generator().manual_seed(0)
    mu1, mu2 = torch.randn(4, 1, dtype=F64, generator=gen), torch.randn(5, dtype=F64, generator=gen)
    s1 = torch.rand(4, 1, dtype=F64, generator=gen) * 3 + 0.05
    s2 = torch.rand(5, dtype=F64, generator=gen) * 3 + 0.05
    ours = kl_normal(mu1, s1, mu2, s2)
    assert ours.shape == (4, 5)
    assert rel_err(ours, kl_divergence(Normal(mu1, s1), Normal(mu2, s2))) <= 1e-10


def test_diagonal_kl_matches_torch_independent_normal():
    gen = torch.Generator().manual_seed(1)
    mu1, mu2 = (torch.randn(6, 7, dtype=F64, generator=gen) for _ in range(2))
    s1, s2 = (torch.rand(6, 7, dtype=F64, generator=gen) + 0.2 for _ in range(2))
    expected = kl_divergence(Independent(Normal(mu1, s1), 1), Independent(Normal(mu2, s2), 1))
    assert rel_err(kl_normal(mu1, s1, mu2, s2, axis=-1), expected) <= 1e-10
    assert rel_err(kl_mvn(mu1, None, mu2, var1=s1**2, var2=s2**2), expected) <= 1e-10


def test_kl_std_normal_matches_torch():
    gen = torch.Generator().manual_seed(4)
    mu, logvar = torch.randn(8, 16, dtype=F64, generator=gen), torch.randn(8, 16, dtype=F64, generator=gen)
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0))
    assert rel_err(kl_std_normal(mu, logvar), expected.sum(-1)) <= 1e-10
    assert rel_err(kl_std_normal(mu, logvar, axis=None), expected) <= 1e-10
    assert rel_err(kl_std_normal(mu, logvar, axis=(0, 1)), expected.sum()) <= 1e-10


def test_entropies_match_torch():
    gen = torch.Generator().manual_seed(5)
    sigma = torch.rand(4, 3, dtype=F64, generator=gen) + 0.1
    expected = Normal(0.0, sigma).entropy()
    assert rel_err(entropy_normal(sigma), expected) <= 1e-10
    assert rel_err(entropy_normal(logvar=2 * sigma.log(), axis=-1), expected.sum(-1)) <= 1e-10
    cov = random_spd(4, d=6, gen=gen)
    expected = MultivariateNormal(torch.zeros(6, dtype=F64), cov).entropy()
    assert rel_err(entropy_mvn(cov), expected) <= 1e-10
    assert rel_err(entropy_mvn(scale_tril=torch.linalg.cholesky(cov)), expected) <= 1e-10
    assert rel_err(entropy_mvn(precision=torch.linalg.inv(cov)), expected) <= 1e-10
    assert rel_err(entropy_mvn(var=sigma**2), Normal(0.0, sigma).entropy().sum(-1)) <= 1e-10


# --- against the seeds' formulas -------------------------------------------------------


def test_small_d_matches_the_seeds_textbook_formulas():
    rng = np.random.default_rng(6)
    for d in (1, 2, 3, 5):
        a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
        cov1, cov2 = a @ a.T + 0.5 * np.eye(d), b @ b.T + 0.5 * np.eye(d)
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        assert rel_err(kl_mvn(mu1, cov1, mu2, cov2), seeds_kl_gaussian_multivariate(mu1, cov1, mu2, cov2)) <= 1e-10
    mu1, mu2, s1, s2 = rng.normal(size=10), rng.normal(size=10), rng.uniform(0.1, 3, 10), rng.uniform(0.1, 3, 10)
    assert rel_err(kl_normal(mu1, s1, mu2, s2), seeds_kl_gaussian_1d(mu1, s1, mu2, s2)) <= 1e-10
    # the VAE's line from seed 000: -0.5 * sum(1 + logvar - mu^2 - exp(logvar))
    mu, logvar = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    vae_line = -0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar), axis=1)
    assert rel_err(kl_std_normal(mu, logvar), vae_line) <= 1e-10


# --- close and equal distributions ------------------------------------------------------


def mp_kl_normal(mu1, s1, mu2, s2):
    mu1, s1, mu2, s2 = (mpmath.mpf(float(v)) for v in (mu1, s1, mu2, s2))
    r = s1 / s2
    return (r * r - 1 - 2 * mpmath.log(r)) / 2 + ((mu1 - mu2) / s2) ** 2 / 2


def test_kl_of_a_distribution_with_itself_is_zero():
    gen = torch.Generator().manual_seed(8)
    mu, s = torch.randn(50, dtype=F64, generator=gen), torch.rand(50, dtype=F64, generator=gen) + 0.1
    assert torch.equal(kl_normal(mu, s, mu, s), torch.zeros(50, dtype=F64))
    assert torch.equal(kl_mvn(mu, None, mu, var1=s, var2=s), torch.tensor(0.0, dtype=F64))
    cov, m = random_spd(4, d=8, gen=gen), torch.randn(4, 8, dtype=F64, generator=gen)
    assert kl_mvn(m, cov, m, cov).abs().max() <= 1e-15
    assert kl_mvn(m, None, m, precision1=cov, precision2=cov).abs().max() <= 1e-15


@pytest.mark.parametrize("sigma1", [1e-3, 0.7, 1.0, 3.0, 250.0])
@pytest.mark.parametrize("rel", [1e-15, 1e-8, 1e-4, 1e-2, 0.3])
def test_kl_normal_accurate_when_sigmas_are_close(sigma1, rel):
    sigma2 = sigma1 * (1 + rel)
    for s1, s2 in ((sigma1, sigma2), (sigma2, sigma1)):
        ours = kl_normal(0.25, s1, 0.25, s2)
        assert rel_err(ours, float(mp_kl_normal(0.25, s1, 0.25, s2))) <= 1e-13
    # the textbook form loses every digit here; ours does not
    if rel == 1e-8:
        textbook = seeds_kl_gaussian_1d(0.25, sigma1, 0.25, sigma2)
        assert rel_err(textbook, float(mp_kl_normal(0.25, sigma1, 0.25, sigma2))) > 1e-3


def test_kl_normal_with_scales_far_apart():
    # (σ₁/σ₂)² = 1e-200 ** 2 underflows to 0; log of it would give inf, the answer is ≈ 460
    for s1, s2 in ((1e-100, 1e100), (1e-3, 1e5), (1e5, 1e-3)):
        assert rel_err(kl_normal(0.0, s1, 1.0, s2), float(mp_kl_normal(0.0, s1, 1.0, s2))) <= 1e-13
    assert kl_normal(0.0, 1e200, 0.0, 1e-10) == np.inf  # the true value exceeds the float range


def test_kl_std_normal_small_logvar_vs_mpmath():
    mu = np.zeros(4)
    logvar = np.array([1e-9, -1e-5, 0.3, -2.0])
    exact = [(mpmath.expm1(mpmath.mpf(x)) - mpmath.mpf(x)) / 2 for x in logvar]
    ours = kl_std_normal(mu, logvar, axis=None)
    # absolute error a few ulps of |logvar|: the expm1 form, kept cheap for training
    assert np.all(np.abs(ours - np.array([float(e) for e in exact])) <= 4e-16 * np.abs(logvar))


# --- properties (Hypothesis) ------------------------------------------------------------

pos = st.floats(1e-3, 1e3)
real = st.floats(-1e3, 1e3)


@settings(max_examples=60, deadline=None)
@given(real, pos, real, pos)
def test_kl_normal_nonnegative_and_zero_only_at_equality(mu1, s1, mu2, s2):
    kl = kl_normal(mu1, s1, mu2, s2)
    assert kl >= 0
    assert kl_normal(mu1, s1, mu1, s1) == 0
    if kl == 0:
        assert np.isclose(s1, s2, rtol=1e-7)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(real, pos, real, pos), min_size=1, max_size=6))
def test_diagonal_forms_agree(rows):
    mu1, s1, mu2, s2 = (np.array(c) for c in zip(*rows))
    total = kl_normal(mu1, s1, mu2, s2, axis=-1)
    assert np.isclose(kl_mvn(mu1, None, mu2, var1=s1**2, var2=s2**2), total, rtol=1e-12, atol=0)
    assert np.isclose(kl_mvn(mu1, np.diag(s1**2), mu2, np.diag(s2**2)), total, rtol=1e-9, atol=1e-300)
    assert np.isclose(kl_std_normal(mu1, 2 * np.log(s1)), kl_normal(mu1, s1, 0, 1, axis=-1), rtol=1e-9)


# --- gradients --------------------------------------------------------------------------


def test_gradcheck_kl_normal_including_the_series_branch():
    gen = torch.Generator().manual_seed(9)
    mu1, mu2 = (torch.randn(6, dtype=F64, generator=gen, requires_grad=True) for _ in range(2))
    s1 = (torch.rand(6, dtype=F64, generator=gen) + 0.5).requires_grad_()
    s2_base = torch.rand(6, dtype=F64, generator=gen) + 0.5
    s2_base[:3] = s1.detach()[:3] * (1 + 1e-3)  # |x| < 0.01: the series
    s2 = s2_base.requires_grad_()
    assert torch.autograd.gradcheck(lambda *a: kl_normal(*a), (mu1, s1, mu2, s2))
    assert torch.autograd.gradcheck(lambda *a: kl_normal(*a, axis=-1), (mu1, s1, mu2, s2))


def test_gradcheck_kl_normal_broadcast_and_inputs_untouched():
    gen = torch.Generator().manual_seed(13)
    mu1 = torch.randn(3, 4, dtype=F64, generator=gen, requires_grad=True)  # wider than the σs
    s1, s2 = ((torch.rand(4, dtype=F64, generator=gen) + 0.5).requires_grad_() for _ in range(2))
    mu2 = torch.randn(1, dtype=F64, generator=gen, requires_grad=True)
    copies = [t.detach().clone() for t in (mu1, s1, mu2, s2)]
    assert torch.autograd.gradcheck(lambda *a: kl_normal(*a, axis=-1), (mu1, s1, mu2, s2))
    assert all(torch.equal(t, c) for t, c in zip((mu1, s1, mu2, s2), copies))


def test_gradcheck_kl_std_normal():
    gen = torch.Generator().manual_seed(10)
    mu, logvar = (torch.randn(3, 4, dtype=F64, generator=gen, requires_grad=True) for _ in range(2))
    assert torch.autograd.gradcheck(kl_std_normal, (mu, logvar))


def test_gradients_flow_through_entropies():
    a = torch.randn(3, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a: entropy_mvn(a @ a.T + torch.eye(3, dtype=F64)), (a,))
    s = torch.rand(4, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: entropy_normal(s + 0.1, axis=-1), (s,))


# --- array kinds --------------------------------------------------------------------------


def test_numpy_in_numpy_out_torch_in_torch_out():
    out = kl_normal(np.zeros(3), np.ones(3), [0.0, 1.0, 2.0], 1.0)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_allclose(out, [0.0, 0.5, 2.0], rtol=1e-15)
    scalar = kl_normal(0.0, 1.0, 1.0, 1.0)  # Python floats: a float64 NumPy scalar
    assert isinstance(scalar, np.float64) and scalar == 0.5
    t = kl_normal(torch.zeros(3, dtype=torch.float32), 1.0, 1.0, 1.0)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    assert isinstance(kl_mvn(np.zeros(2), np.eye(2), np.ones(2), np.eye(2)), np.float64)
    assert isinstance(kl_std_normal(np.zeros((2, 3)), np.zeros((2, 3))), np.ndarray)
    assert isinstance(entropy_mvn(torch.eye(2)), torch.Tensor)


def test_float32_is_accurate_to_float32():
    gen = torch.Generator().manual_seed(12)
    cov1, cov2 = random_spd(5, d=4, gen=gen), random_spd(5, d=4, gen=gen)
    mu1, mu2 = torch.randn(5, 4, dtype=F64, generator=gen), torch.randn(5, 4, dtype=F64, generator=gen)
    exact = kl_mvn(mu1, cov1, mu2, cov2)
    single = kl_mvn(mu1.float(), cov1.float(), mu2.float(), cov2.float())
    assert single.dtype == torch.float32 and rel_err(single, exact) <= 1e-4


# --- errors -------------------------------------------------------------------------------


def test_kl_normal_errors_name_the_argument_and_index():
    with pytest.raises(ValueError, match=r"sigma1 must be positive, got -1 at index \(1,\)"):
        kl_normal(0.0, [1.0, -1.0], 0.0, 1.0)
    with pytest.raises(ValueError, match=r"sigma2 must be positive, got 0 at indices \(0, 0\), \(1, 1\)"):
        kl_normal(0.0, 1.0, 0.0, [[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(ValueError, match=r"sigma1 must be finite, got inf at index \(0,\)"):
        kl_normal(0.0, [np.inf], 0.0, 1.0)
    with pytest.raises(ValueError, match=r"sigma2 contains NaN at index \(2,\)"):
        kl_normal(0.0, 1.0, 0.0, [1.0, 1.0, np.nan])
    with pytest.raises(ValueError, match=r"mu1 contains NaN at index \(0,\)"):
        kl_normal([np.nan], 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"the result is NaN: infinite values among mu1, sigma1, mu2, sigma2 cancel"):
        kl_normal(np.inf, 1.0, np.inf, 1.0)
    with pytest.raises(ValueError, match=r"shapes do not broadcast: mu1 \(3,\), sigma1 \(4,\), mu2 \(\), sigma2 \(\)"):
        kl_normal(np.zeros(3), np.ones(4), 0.0, 1.0)
    with pytest.raises(ValueError, match="mu2 must be numeric"):
        kl_normal(0.0, 1.0, "a", 1.0)


def test_kl_std_normal_validates_only_when_asked():
    assert np.isnan(kl_std_normal([np.nan], [0.0]))
    with pytest.raises(ValueError, match=r"logvar contains NaN at index \(0, 1\)"):
        kl_std_normal([[0.0, 0.0]], [[0.0, np.nan]], validate=True)


def test_entropy_errors():
    with pytest.raises(TypeError, match="exactly one of sigma or logvar"):
        entropy_normal()
    with pytest.raises(TypeError, match="exactly one of sigma or logvar"):
        entropy_normal(1.0, logvar=0.0)
    with pytest.raises(ValueError, match=r"sigma must be positive, got -2 at index \(0,\)"):
        entropy_normal([-2.0])
    with pytest.raises(ValueError, match="logvar contains NaN"):
        entropy_normal(logvar=[np.nan])
    with pytest.raises(TypeError, match=r"give exactly one of cov, scale_tril, precision, var \(got none\)"):
        entropy_mvn()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: klvae.kl_normal([0.0, 1.0], [1.0, 1.0], 0.0, 1.0, axis=5), r"axis 5 is out of range for 1-d"),
        (lambda: klvae.kl_std_normal([0.0, 1.0], [0.0, 0.0], axis="a"), r"axis must be an integer, got 'a'"),
        (lambda: klvae.entropy_normal([1.0, 2.0], axis=(0, 0)), r"names an axis twice"),
    ],
)
def test_gaussian_axes_are_checked_with_the_discrete_measures_words(call, message):
    with pytest.raises(ValueError, match=message):
        call()
    with pytest.raises(ValueError, match=r"axis 5 is out of range for 1-d"):
        klvae.entropy([0.5, 0.5], axis=5)  # the same words from a discrete measure
