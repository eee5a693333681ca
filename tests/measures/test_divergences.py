"""klvae.measures.divergences on discrete distributions: against mpmath, scipy, each other, and properties."""

import math

import mpmath
import numpy as np
import pytest
import scipy.stats
import torch

import klvae
from klvae.measures.divergences import chi2_divergence, f_divergence, hellinger_distance, total_variation
from klvae.measures.renyi import alpha_divergence, renyi_divergence

mpmath.mp.dps = 50
P, Q = [0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.4, 0.1]


def test_tv_chi2_and_hellinger_against_scipy_and_mpmath():
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(6), size=5), rng.dirichlet(np.ones(6), size=5)
    chi2 = [scipy.stats.chisquare(p[i], q[i]).statistic for i in range(5)]
    np.testing.assert_allclose(chi2_divergence(p, q), chi2, rtol=1e-13)
    np.testing.assert_allclose(total_variation(p, q), 0.5 * np.abs(p - q).sum(-1), rtol=1e-15)
    h = [
        float(mpmath.sqrt(1 - sum(mpmath.sqrt(mpmath.mpf(a) * mpmath.mpf(b)) for a, b in zip(p[i], q[i]))))
        for i in range(5)
    ]
    np.testing.assert_allclose(hellinger_distance(p, q), h, rtol=1e-13)
    # nearly equal rows: the sum of squares keeps what 1 − BC would cancel
    p1 = np.array([0.5 + 1e-9, 0.5 - 1e-9])
    ref = mpmath.sqrt(sum((mpmath.sqrt(mpmath.mpf(a)) - mpmath.sqrt(mpmath.mpf(0.5))) ** 2 for a in p1) / 2)
    assert float(hellinger_distance(p1, [0.5, 0.5])) == pytest.approx(float(ref), rel=1e-9)


def test_f_divergence_gives_each_member():
    rng = np.random.default_rng(1)
    p, q = rng.dirichlet(np.ones(5), size=3), rng.dirichlet(np.ones(5), size=3)
    np.testing.assert_allclose(
        f_divergence(p, q, lambda t: torch.special.xlogy(t, t)), klvae.kl_divergence(p, q), rtol=1e-13
    )
    np.testing.assert_allclose(f_divergence(p, q, lambda t: (t - 1) ** 2), chi2_divergence(p, q), rtol=1e-13)
    np.testing.assert_allclose(
        f_divergence(p, q, lambda t: (t.sqrt() - 1) ** 2 / 2), hellinger_distance(p, q) ** 2, rtol=1e-12
    )
    a = 0.3
    np.testing.assert_allclose(
        f_divergence(p, q, lambda t: (t**a - a * t - (1 - a)) / (a * (a - 1))), alpha_divergence(p, q, a), rtol=1e-12
    )
    # q = 0 < p: p·f′(∞)
    tv = f_divergence([0.5, 0.5], [1.0, 0.0], lambda t: (t - 1).abs() / 2, f_at_infinity=0.5)
    assert float(tv) == 0.5 == float(total_variation([0.5, 0.5], [1.0, 0.0]))
    assert float(f_divergence([0.5, 0.5], [1.0, 0.0], lambda t: (t - 1) ** 2)) == math.inf


def test_monte_carlo_agrees_with_chi2_and_hellinger():
    rng = np.random.default_rng(2)
    p, q = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(4))
    x = rng.choice(4, size=200_000, p=q)
    r = p[x] / q[x]  # E_q[f(p/q)]
    for got, f in ((chi2_divergence(p, q), (r - 1) ** 2), (hellinger_distance(p, q) ** 2, (np.sqrt(r) - 1) ** 2 / 2)):
        assert abs(got - f.mean()) < 5 * f.std() / math.sqrt(len(f))


def test_infinity_conventions():
    p, q = [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]
    assert float(chi2_divergence(p, q)) == math.inf
    assert float(renyi_divergence(p, q, 1.5)) == math.inf
    assert float(renyi_divergence(p, q, math.inf)) == math.inf
    assert math.isfinite(float(renyi_divergence(p, q, 0.5)))
    assert float(renyi_divergence([1.0, 0.0], [0.0, 1.0], 0.5)) == math.inf  # disjoint supports
    assert float(hellinger_distance([1.0, 0.0], [0.0, 1.0])) == 1.0
    assert float(total_variation([1.0, 0.0], [0.0, 1.0])) == 1.0
    assert float(alpha_divergence([1.0, 0.0], [0.0, 1.0], 0.5)) == 4.0


def test_kinds_axis_and_gradients():
    rng = np.random.default_rng(3)
    p, q = rng.dirichlet(np.ones(5), size=4), rng.dirichlet(np.ones(5), size=4)
    np.testing.assert_allclose(renyi_divergence(p.T, q.T, 0.7, axis=0), renyi_divergence(p, q, 0.7), rtol=1e-14)
    tp = torch.tensor(p, requires_grad=True)
    tq = torch.tensor(q, requires_grad=True)
    # gradcheck's perturbations leave the simplex: normalize=True maps them back onto it
    for fn in (
        lambda a, b: renyi_divergence(a, b, 0.7, normalize=True),
        lambda a, b: renyi_divergence(a, b, 1 + 1e-9, normalize=True),
        lambda a, b: chi2_divergence(a, b, normalize=True),
        lambda a, b: hellinger_distance(a, b, normalize=True),
        lambda a, b: alpha_divergence(a, b, 2.5, normalize=True),
    ):
        assert torch.autograd.gradcheck(fn, (tp, tq))
    assert isinstance(total_variation(p.astype(np.float32), q.astype(np.float32)), np.ndarray)
    assert total_variation(p.astype(np.float32), q.astype(np.float32)).dtype == np.float32


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="q rows must sum to 1"):
        chi2_divergence(P, [0.5, 0.6, 0.0, 0.0])
    with pytest.raises(ValueError, match="p has negative entries"):
        hellinger_distance([-0.5, 1.5], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"f must be 0 at t = 1"):
        f_divergence(P, Q, lambda t: t * t)
    with pytest.raises(TypeError, match="f must be a function of a tensor"):
        f_divergence(P, Q, 3)
    with pytest.raises(TypeError, match="q must be a distribution object when p is one"):
        total_variation(torch.distributions.Laplace(0.0, 1.0), [0.5, 0.5])
