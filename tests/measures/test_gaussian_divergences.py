"""klvae.measures.gaussian_divergences (through .divergences and .renyi): against mpmath, Monte Carlo and torch."""

import math

import mpmath
import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Independent, MultivariateNormal, Normal

import klvae
from klvae.measures.divergences import chi2_divergence, hellinger_distance, total_variation
from klvae.measures.renyi import alpha_divergence, renyi_divergence
from klvae.measures.results import MeasureResult

mpmath.mp.dps = 40
D = torch.float64


def N(m, s):
    return Normal(torch.as_tensor(m, dtype=D), torch.as_tensor(s, dtype=D))


def mvn(mu, cov):
    return MultivariateNormal(torch.as_tensor(mu, dtype=D), torch.as_tensor(cov, dtype=D))


def mp_renyi_mvn(mu1, c1, mu2, c2, a):
    """Gil, Alajaji & Linder (2013): α/2 Δᵀ Σ_α⁻¹ Δ − log(|Σ_α| / |Σ₁|^{1−α}|Σ₂|^α) / (2(α − 1))."""
    a = mpmath.mpf(a)
    m1, m2, s1, s2 = (mpmath.matrix(np.asarray(x, dtype=float).tolist()) for x in (mu1, mu2, c1, c2))
    d = m2 - m1
    sa = a * s2 + (1 - a) * s1
    if np.linalg.eigvalsh(np.array(sa.tolist(), dtype=float)).min() <= 0:
        return mpmath.inf  # ∫ p^α q^{1−α} diverges
    quad = (d.T * mpmath.inverse(sa) * d)[0]
    if a == 1:
        s2i = mpmath.inverse(s2)
        tr = sum((s2i * s1)[i, i] for i in range(s1.rows))
        return (tr + (d.T * s2i * d)[0] - s1.rows + mpmath.log(mpmath.det(s2) / mpmath.det(s1))) / 2
    return a / 2 * quad - mpmath.log(mpmath.det(sa) / (mpmath.det(s1) ** (1 - a) * mpmath.det(s2) ** a)) / (2 * (a - 1))


def spd(d, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.5 * np.eye(d)


@pytest.mark.parametrize("alpha", [0.0, 0.2, 0.5, 1 - 1e-9, 1.0, 1 + 1e-9, 1.7, 3.0])
def test_renyi_univariate_diagonal_and_full_against_mpmath(alpha):
    m1, s1, m2, s2 = 0.3, 0.8, -0.5, 1.3
    want = mp_renyi_mvn([m1], [[s1**2]], [m2], [[s2**2]], alpha)
    assert float(renyi_divergence(N(m1, s1), N(m2, s2), alpha)) == pytest.approx(float(want), rel=1e-13, abs=1e-300)
    mu1, mu2 = np.array([0.3, -1.0, 2.0]), np.array([0.0, 0.5, 1.5])
    v1, v2 = np.array([0.5, 1.2, 2.0]), np.array([1.0, 0.9, 2.5])
    want = mp_renyi_mvn(mu1, np.diag(v1), mu2, np.diag(v2), alpha)
    diag = renyi_divergence(Independent(N(mu1, np.sqrt(v1)), 1), Independent(N(mu2, np.sqrt(v2)), 1), alpha)
    assert float(diag) == pytest.approx(float(want), rel=1e-13)
    c1, c2 = spd(3, 0), spd(3, 1)
    want = mp_renyi_mvn(mu1, c1, mu2, c2, alpha)
    assert float(renyi_divergence(mvn(mu1, c1), mvn(mu2, c2), alpha)) == pytest.approx(float(want), rel=1e-11)
    mixed = renyi_divergence(Independent(N(mu1, np.sqrt(v1)), 1), mvn(mu2, c2), alpha)
    assert float(mixed) == pytest.approx(float(mp_renyi_mvn(mu1, np.diag(v1), mu2, c2, alpha)), rel=1e-11)


def test_renyi_at_one_is_torchs_kl_and_order_inf_is_the_max_divergence():
    p, q = mvn([0.0, 1.0], spd(2, 3)), mvn([1.0, 0.0], 3 * spd(2, 3))
    torch.testing.assert_close(renyi_divergence(p, q, 1.0), torch.distributions.kl_divergence(p, q), rtol=1e-13, atol=0)
    # log sup p/q = ½ log(|Σ₂|/|Σ₁|) + ½ Δᵀ(Σ₂ − Σ₁)⁻¹Δ when Σ₁ ≺ Σ₂
    c1, c2, d = spd(2, 3), 3 * spd(2, 3), np.array([1.0, -1.0])
    want = 0.5 * np.log(np.linalg.det(c2) / np.linalg.det(c1)) + 0.5 * d @ np.linalg.solve(c2 - c1, d)
    assert float(renyi_divergence(p, q, math.inf)) == pytest.approx(want, rel=1e-12)
    assert float(renyi_divergence(q, p, math.inf)) == math.inf
    assert float(renyi_divergence(q, p, 4.0)) == math.inf  # 4Σ₁ − 3Σ₂ is not positive definite
    assert float(renyi_divergence(p, q, 50.0)) <= want


@pytest.mark.parametrize("eps", [1e-4, 1e-8, 1e-12])
def test_nearly_equal_covariances_keep_relative_accuracy(eps):
    c1 = spd(4, 5)
    c2 = c1 * (1 + eps)
    mu = np.zeros(4)
    for a in (0.5, 1.0, 2.0):
        want = float(mp_renyi_mvn(mu, c1, mu, c2, a))
        got = float(renyi_divergence(mvn(mu, c1), mvn(mu, c2), a))
        assert got == pytest.approx(want, rel=1e-5)  # the eigenvalues carry eps·‖A‖ absolute error
        got = float(
            renyi_divergence(
                Independent(N(mu, np.sqrt(np.diag(c1))), 1), Independent(N(mu, np.sqrt(np.diag(c2))), 1), a
            )
        )
        want = float(mp_renyi_mvn(mu, np.diag(np.diag(c1)), mu, np.diag(np.diag(c2)), a))
        assert got == pytest.approx(want, rel=1e-10)  # diagonal: exact differences


def test_equal_gaussians_give_exactly_zero():
    p = mvn([0.3, 0.1], spd(2, 7))
    for fn in (
        lambda a, b: renyi_divergence(a, b, 0.5),
        lambda a, b: renyi_divergence(a, b, 3.0),
        hellinger_distance,
        chi2_divergence,
        lambda a, b: alpha_divergence(a, b, 0.3),
        total_variation,
    ):
        assert float(fn(p, p)) == 0.0


def mc(samples, values):
    values = np.asarray(values)
    return values.mean(), values.std() / math.sqrt(len(values))


def test_hellinger_chi2_and_alpha_against_monte_carlo():
    p, q = mvn([0.2, -0.3], spd(2, 8)), mvn([0.0, 0.4], 2 * spd(2, 8) + 0.3 * np.eye(2))  # 2Σ₂ − Σ₁ ≻ 0
    torch.manual_seed(0)
    xq = q.sample((400_000,))
    ratio = (p.log_prob(xq) - q.log_prob(xq)).exp().numpy()  # p/q under q
    for got, f in (
        (hellinger_distance(p, q) ** 2, (np.sqrt(ratio) - 1) ** 2 / 2),
        (chi2_divergence(p, q), (ratio - 1) ** 2),
        (alpha_divergence(p, q, 0.7), (ratio**0.7 - 0.7 * ratio - 0.3) / (0.7 * -0.3)),
    ):
        mean, se = mc(xq, f)
        assert abs(float(got) - mean) < 5 * se


def test_total_variation_univariate_against_mpmath():
    for m1, s1, m2, s2 in [
        (0.3, 0.8, -0.5, 1.3),
        (0.0, 1.0, 2.0, 1.0),
        (0.0, 1.0, 0.0, 1.5),
        (1.0, 2.0, 1.0, 0.5),
        (0.0, 1.0, 1e-3, 1.0 + 1e-3),
    ]:
        log_ratio = lambda x, m1=m1, s1=s1, m2=m2, s2=s2: (  # noqa: E731
            mpmath.log(mpmath.npdf(x, m1, s1)) - mpmath.log(mpmath.npdf(x, m2, s2))
        )
        xs = np.linspace(-12, 12, 4801)
        vals = scipy.stats.norm.logpdf(xs, m1, s1) - scipy.stats.norm.logpdf(xs, m2, s2)  # where the roots are
        roots = [
            mpmath.findroot(log_ratio, (xs[i], xs[i + 1]), solver="bisect")
            for i in range(len(xs) - 1)
            if vals[i] * vals[i + 1] < 0 or vals[i] == 0
        ]
        want = mpmath.quad(
            lambda x, m1=m1, s1=s1, m2=m2, s2=s2: abs(mpmath.npdf(x, m1, s1) - mpmath.npdf(x, m2, s2)) / 2,
            [-mpmath.inf, *roots, mpmath.inf],
        )
        assert float(total_variation(N(m1, s1), N(m2, s2))) == pytest.approx(float(want), rel=1e-11, abs=1e-15)


def test_total_variation_of_equal_covariances_is_exact_and_otherwise_monte_carlo():
    c = spd(3, 4)
    p, q = mvn([0.0, 0.0, 0.0], c), mvn([1.0, 0.5, -0.5], c)
    d = np.array([1.0, 0.5, -0.5])
    assert float(total_variation(p, q)) == pytest.approx(
        math.erf(math.sqrt(d @ np.linalg.solve(c, d)) / (2 * math.sqrt(2))), rel=1e-13
    )
    # a 1-d MultivariateNormal with another variance has no closed form here: Monte Carlo
    est = total_variation(mvn([0.3], [[0.64]]), mvn([-0.5], [[1.69]]), n=200_000)
    assert isinstance(est, MeasureResult) and est.method == "monte carlo"
    exact = float(total_variation(N(0.3, 0.8), N(-0.5, 1.3)))
    assert abs(float(est.value) - exact) < 5 * float(est.stderr)


@settings(max_examples=40, deadline=None)
@given(st.floats(-3, 3), st.floats(0.2, 3), st.floats(-3, 3), st.floats(0.2, 3), st.floats(0.05, 0.95))
def test_properties(m1, s1, m2, s2, a):
    p, q = N(m1, s1), N(m2, s2)
    r = [float(renyi_divergence(p, q, x)) for x in (a, 1.0, 1 + a, 2 + a)]
    assert all(x >= -1e-15 for x in r)
    assert all(x <= y * (1 + 1e-12) + 1e-15 for x, y in zip(r, r[1:]))  # non-decreasing in α
    tv, h = float(total_variation(p, q)), float(hellinger_distance(p, q))
    assert h * h <= tv + 1e-12 and tv <= h * math.sqrt(2 - h * h) + 1e-12
    assert tv <= math.sqrt(float(klvae.kl_normal(m1, s1, m2, s2)) / 2) + 1e-12  # Pinsker


def test_errors():
    with pytest.raises(TypeError, match="a univariate Normal pairs only with a Normal"):
        renyi_divergence(N(0.0, 1.0), mvn([0.0], [[1.0]]), 0.5)
    with pytest.raises(ValueError, match="event sizes differ: p has 2, q has 3"):
        hellinger_distance(mvn([0.0, 0.0], np.eye(2)), mvn([0.0, 0.0, 0.0], np.eye(3)))
