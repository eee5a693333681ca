"""klvae.measures.numerical_kl: the numerical KL against closed forms, mpmath and Monte Carlo."""

import math

import mpmath
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import MultivariateNormal, Normal

from klvae.measures.mixture import gaussian_mixture, parse_mixture
from klvae.measures.numerical_kl import NumericalKL, kl_numerical

mpmath.mp.dps = 40


def mp_kl_normal(m1, s1, m2, s2):
    m1, s1, m2, s2 = (mpmath.mpf(v) for v in (m1, s1, m2, s2))
    return float(mpmath.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - mpmath.mpf(1) / 2)


@pytest.mark.parametrize("sigma", ["1e-06", "1e-4", "0.3", "1e-300", "1e+30"])
def test_single_gaussians_take_the_closed_form(sigma):
    kl = kl_numerical(parse_mixture(f"1:0:{sigma}"), parse_mixture("1:0:1"))
    assert kl.method == "closed form" and kl.error == 0.0
    assert kl == pytest.approx(mp_kl_normal(0, float(sigma), 0, 1), rel=1e-13)
    if sigma == "1e-06":
        assert kl == pytest.approx(13.3155, abs=1e-4)  # not the 2204.6 of a fixed grid


def test_narrow_separated_components_are_resolved():
    s = 1e-6
    p, q = parse_mixture(f"0.5:0:{s},0.5:10:{s}"), parse_mixture("1:0:1")
    kl = kl_numerical(p, q)
    # the components do not overlap: H(p) = log 2 + H(N(0, s²)); E_p x² = s² + 50
    h = mpmath.log(2) + mpmath.log(2 * mpmath.pi * mpmath.e * mpmath.mpf(s) ** 2) / 2
    want = float(-h + mpmath.log(2 * mpmath.pi) / 2 + (mpmath.mpf(s) ** 2 + 50) / 2)
    assert kl.method == "quadrature"
    assert kl == pytest.approx(want, rel=1e-9)
    assert kl.error < 1e-6


@settings(max_examples=6, deadline=None)
@given(st.floats(-3, 3), st.floats(0.05, 3), st.floats(0, 4), st.floats(1e-3, 1.0))
def test_mixture_kl_matches_monte_carlo_and_its_error_is_small(m, s, d, w):
    w = min(max(w, 0.01), 0.99)
    p = gaussian_mixture([w, 1 - w], [-d, d], [1.0, 0.5])
    q = Normal(torch.tensor(m, dtype=torch.float64), torch.tensor(s, dtype=torch.float64))
    kl = kl_numerical(p, q)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        x = p.sample((40_000,))
    lr = p.log_prob(x) - q.log_prob(x)
    se = float(lr.std() / math.sqrt(len(lr)))
    assert abs(kl - float(lr.mean())) < 5 * se + 1e-12
    assert kl.error <= 1e-6 * max(1.0, kl)


def test_two_d_mixture_has_a_richardson_error_and_matches_the_closed_form():
    mp, mq = torch.tensor([0.5, -1.0], dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    cp = torch.tensor([[1.0, 0.3], [0.3, 0.5]], dtype=torch.float64)
    cq = torch.tensor([[2.0, -0.2], [-0.2, 1.0]], dtype=torch.float64)
    exact = float(torch.distributions.kl_divergence(MultivariateNormal(mp, cp), MultivariateNormal(mq, cq)))
    closed = kl_numerical(MultivariateNormal(mp, cp), MultivariateNormal(mq, cq))
    assert closed.method == "closed form" and closed == pytest.approx(exact, rel=1e-13)
    as_mixtures = kl_numerical(
        gaussian_mixture([1.0], mp[None], cp[None]),
        MultivariateNormal(mq, cq),
        bounds=([-9.0, -9.0], [9.0, 9.0]),
        n_grid=401,
    )
    assert as_mixtures.method == "simpson"
    assert abs(as_mixtures - exact) <= max(as_mixtures.error, 1e-9)


def test_an_unreachable_precision_warns_with_the_bound():
    p = gaussian_mixture([0.5, 0.5], [-3.0, 3.0], [1.0, 1.0])
    q = gaussian_mixture([0.5, 0.5], [-2.0, 2.0], [1.0, 1.5])
    with pytest.warns(RuntimeWarning, match=r"has an estimated error of .* \(asked: "):
        kl_numerical(p, q, rtol=1e-300, atol=0.0)
    p2 = gaussian_mixture([0.5, 0.5], [[0.0, 0.0], [3.0, 0.0]], [0.02, 0.02])  # too narrow for the grid
    with pytest.warns(RuntimeWarning, match="use a finer n_grid"):
        kl_numerical(
            p2, MultivariateNormal(torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)), n_grid=101
        )


def test_the_result_is_a_float_with_its_error_and_method():
    kl = NumericalKL(0.25, 1e-12, "quadrature")
    assert isinstance(kl, float) and kl * 4 == 1.0 and (kl.error, kl.method) == (1e-12, "quadrature")
    with pytest.raises(ValueError, match="the same dimension, got 1 and 2"):
        kl_numerical(parse_mixture("1:0:1"), gaussian_mixture([1.0], [[0.0, 0.0]], [1.0]))
    three = gaussian_mixture([1.0], [[0.0, 0.0, 0.0]], [1.0])
    with pytest.raises(ValueError, match="1-D and 2-D densities only, got dimension 3"):
        kl_numerical(three, three)
