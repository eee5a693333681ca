"""klvae.experiments.gaussian_fits against references built here from scipy (quad integration, Nelder–Mead)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from klvae.experiments.gaussian_fits import fit_forward, fit_reverse
from klvae.measures.mixture import gaussian_mixture, parse_mixture
from klvae.measures.numerical_kl import kl_numerical
from reference import mix_logpdf, ref_forward_kl, ref_reverse_fit, ref_reverse_kl, ref_symmetric_fit

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def default_fits():
    p = parse_mixture("0.5:-3:1,0.5:3:1")
    return p, fit_forward(p), fit_reverse(p)


# ----------------------------------------------------------------- forward KL


def test_forward_fit_is_the_moment_match_of_the_default_target(default_fits):
    p, fwd, _ = default_fits
    # mixture variance = E[σ_k²] + Var[μ_k] = 1 + 9
    assert fwd.mean[0] == pytest.approx(0.0, abs=1e-12)
    assert fwd.std[0] == pytest.approx(math.sqrt(10), rel=1e-12)
    assert fwd.kl_forward == pytest.approx(ref_forward_kl(0.0, math.sqrt(10), 3.0), abs=1e-8)
    assert fwd.kl_forward == pytest.approx(0.462, abs=5e-4)
    assert fwd.kl_reverse == pytest.approx(ref_reverse_kl(0.0, math.sqrt(10), 3.0), abs=1e-8)


def test_forward_fit_is_the_minimum_of_forward_kl(default_fits):
    _, fwd, _ = default_fits
    x = np.linspace(-20, 20, 8001)
    px = np.exp(mix_logpdf(x, 3.0)) * (x[1] - x[0])

    def cross_entropy(t):  # −E_p[log q]: forward KL up to the constant −H(p)
        return -float(px @ stats.norm.logpdf(x, t[0], math.exp(t[1])))

    res = optimize.minimize(cross_entropy, [1.0, 0.0], method="Nelder-Mead", options=dict(xatol=1e-8, fatol=1e-13))
    assert res.x[0] == pytest.approx(fwd.mean[0], abs=1e-5)
    assert math.exp(res.x[1]) == pytest.approx(fwd.std[0], abs=1e-5)


def test_forward_mc_fit_is_within_sampling_error_of_the_moments():
    p = gaussian_mixture([0.3, 0.7], [-1.0, 2.0], [0.5, 1.5])
    n = 50_000
    mc = fit_forward(p, method="mc", n=n, seed=3)
    exact = fit_forward(p)
    sd = exact.std[0]
    assert abs(mc.mean[0] - exact.mean[0]) < 4 * sd / math.sqrt(n)
    assert abs(mc.std[0] - sd) < 0.02 * sd


def test_forward_fit_2d_matches_numpy_moments_of_samples():
    means = np.array([[-2.0, 1.0], [1.0, 0.5], [3.0, -1.0]])
    p = gaussian_mixture([0.2, 0.5, 0.3], means, [0.5, 1.0, 0.7])
    fwd = fit_forward(p)
    w, s = np.array([0.2, 0.5, 0.3]), np.array([0.5, 1.0, 0.7])
    m = w @ means
    cov = sum(wk * (sk**2 * np.eye(2) + np.outer(mk - m, mk - m)) for wk, mk, sk in zip(w, means, s))
    np.testing.assert_allclose(fwd.mean, m, atol=1e-12)
    np.testing.assert_allclose(fwd.cov, cov, atol=1e-12)


# ----------------------------------------------------------------- reverse KL


def test_reverse_restarts_find_both_modes_and_the_symmetric_optimum(default_fits):
    _, _, rev = default_fits
    assert len(rev) == 7
    kls = [f.kl_reverse for f in rev]
    assert kls == sorted(kls)
    m_ref, s_ref, kl_ref = ref_reverse_fit(3.0, 2.5, 1.2)
    assert (m_ref, s_ref, kl_ref) == pytest.approx((2.984, 1.023, 0.689), abs=1e-3)
    mode_fits = [f for f in rev if abs(f.mean[0]) > 1]
    assert {np.sign(f.mean[0]) for f in mode_fits} == {-1.0, 1.0}
    for f in mode_fits:
        assert abs(f.mean[0]) == pytest.approx(m_ref, abs=1e-3)
        assert f.std[0] == pytest.approx(s_ref, abs=1e-3)
        assert f.kl_reverse == pytest.approx(kl_ref, abs=1e-6)
        assert f.converged
    sym = [f for f in rev if abs(f.mean[0]) <= 1]
    assert len(sym) == 1  # the restart started at the centre stays at the symmetric optimum
    s_sym, kl_sym = ref_symmetric_fit(3.0)
    assert (s_sym, kl_sym) == pytest.approx((2.744, 0.841), abs=1e-3)
    assert sym[0].mean[0] == pytest.approx(0.0, abs=1e-4)
    assert sym[0].std[0] == pytest.approx(s_sym, abs=1e-4)
    assert sym[0].kl_reverse == pytest.approx(kl_sym, abs=1e-6)
    assert rev[-1] is sym[0]  # a worse local optimum, listed last


def test_reverse_fit_on_a_general_target_with_log_prob_and_sample():
    # a single Gaussian is its own reverse-KL optimum
    p = torch.distributions.Normal(torch.tensor(1.5, dtype=torch.float64), torch.tensor(0.7, dtype=torch.float64))
    (fit,) = fit_reverse(p, inits=[-1.0])
    assert fit.mean[0] == pytest.approx(1.5, abs=1e-6)
    assert fit.std[0] == pytest.approx(0.7, abs=1e-6)
    assert fit.kl_reverse == pytest.approx(0.0, abs=1e-8)


def test_reverse_fit_2d_mc_on_a_product_target_matches_the_1d_optimum():
    # p = [½N(−3,1) + ½N(3,1)] × N(0,1): the best Gaussian is the 1-D optimum × N(0, 1)
    p = gaussian_mixture([0.5, 0.5], [[-3.0, 0.0], [3.0, 0.0]], [1.0, 1.0])
    m_ref, s_ref, kl_ref = ref_reverse_fit(3.0, 2.5, 1.2)
    (fit,) = fit_reverse(p, inits=[[2.0, 0.5]], n_samples=4096, steps=100, seed=1)
    assert fit.mean == pytest.approx([m_ref, 0.0], abs=0.05)
    assert fit.std == pytest.approx([s_ref, 1.0], abs=0.05)
    assert abs(fit.cov[0, 1]) < 0.05
    assert fit.kl_reverse == pytest.approx(kl_ref, abs=5e-3)  # near-optimal q: KL is flat there


# ----------------------------------------------------------------- numerical KL


@settings(max_examples=12, deadline=None)
@given(m=st.floats(-3, 3), s=st.floats(0.3, 3), d=st.floats(0, 4))
def test_kl_numerical_matches_scipy_quad_both_directions(m, s, d):
    p = gaussian_mixture([0.5, 0.5], [-d, d], [1.0, 1.0])
    q = torch.distributions.Normal(torch.tensor(m, dtype=torch.float64), torch.tensor(s, dtype=torch.float64))
    assert kl_numerical(p, q) == pytest.approx(ref_forward_kl(m, s, d), abs=1e-7)
    assert kl_numerical(q, p) == pytest.approx(ref_reverse_kl(m, s, d), abs=1e-7)
    assert kl_numerical(p, p) == pytest.approx(0.0, abs=1e-9)


def test_kl_numerical_2d_matches_the_gaussian_closed_form():
    mp, mq = torch.tensor([0.5, -1.0], dtype=torch.float64), torch.tensor([0.0, 0.0], dtype=torch.float64)
    cp = torch.tensor([[1.0, 0.3], [0.3, 0.5]], dtype=torch.float64)
    cq = torch.tensor([[2.0, -0.2], [-0.2, 1.0]], dtype=torch.float64)
    p, q = torch.distributions.MultivariateNormal(mp, cp), torch.distributions.MultivariateNormal(mq, cq)
    exact = float(torch.distributions.kl_divergence(p, q))
    assert kl_numerical(p, q) == pytest.approx(exact, abs=1e-6)


# ----------------------------------------------------------------- parsing and errors


def test_parse_mixture_builds_the_written_mixture():
    p = parse_mixture(" 0.25:-1:0.5, 0.75:2:1.5 ")
    x = np.linspace(-4, 6, 7)
    ref = np.log(0.25 * stats.norm.pdf(x, -1, 0.5) + 0.75 * stats.norm.pdf(x, 2, 1.5))
    np.testing.assert_allclose(p.log_prob(torch.as_tensor(x)).numpy(), ref, rtol=1e-12)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "w:mu:sigma,w:mu:sigma"),
        ("0.5:1", "is not 'w:mu:sigma' with three numbers"),
        ("0.5:a:1,0.5:0:1", "is not 'w:mu:sigma' with three numbers"),
        ("0.5:0:1,0.6:1:1", "must sum to 1, got 1.1"),
        ("-0.5:0:1,1.5:1:1", "must be positive and finite"),
        ("1:0:0", "scales must be positive standard deviations"),
        ("1:inf:1", "means and scales must be finite"),
    ],
)
def test_parse_mixture_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_mixture(text)


def test_errors_name_the_problem():
    p = parse_mixture("1:0:1")
    with pytest.raises(ValueError, match="method must be 'moments' or 'mc', got 'em'"):
        fit_forward(p, method="em")
    with pytest.raises(ValueError, match="needs a Gaussian or Gaussian-mixture target"):
        fit_forward(torch.distributions.Laplace(torch.tensor(0.0), torch.tensor(1.0)))
    with pytest.raises(ValueError, match="n must be at least 2, got 1"):
        fit_forward(p, method="mc", n=1)
    with pytest.raises(ValueError, match="objective must be 'auto', 'quadrature' or 'mc', got 'exact'"):
        fit_reverse(p, objective="exact")
    with pytest.raises(ValueError, match="objective='quadrature' is for 1-D targets"):
        fit_reverse(gaussian_mixture([1.0], [[0.0, 0.0]], [1.0]), objective="quadrature")
    with pytest.raises(ValueError, match="n_restarts must be at least 1, got 0"):
        fit_reverse(p, n_restarts=0)
    with pytest.raises(ValueError, match="init_std must be positive, got -1"):
        fit_reverse(p, init_std=-1.0)
    with pytest.raises(ValueError, match="same dimension, got 1 and 2"):
        kl_numerical(p, gaussian_mixture([1.0], [[0.0, 0.0]], [1.0]))
    with pytest.raises(ValueError, match="1-D and 2-D densities only, got dimension 3"):
        mvn = torch.distributions.MultivariateNormal(
            torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)
        )
        kl_numerical(mvn, mvn)
    with pytest.raises(ValueError, match="same number of components"):
        gaussian_mixture([0.5, 0.5], [0.0], [1.0, 1.0])
