"""klvae.gan.theory against scipy.integrate.quad, scipy's JS distance and closed forms."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats
from scipy.spatial.distance import jensenshannon

from klvae.gan.theory import (
    disjoint_uniform_theory,
    gaussian_shift_theory,
    optimal_discriminator,
    optimal_value,
    saturation_gradients,
)


def _quad_jsd(mu):
    """JSD(N(0,1) ‖ N(μ,1)) by adaptive quadrature, in nats (independent of klvae)."""

    def integrand(x):
        lp, lq = stats.norm.logpdf(x), stats.norm.logpdf(x, mu)
        lm = np.logaddexp(lp, lq) - math.log(2)
        return 0.5 * math.exp(lp) * (lp - lm) + 0.5 * math.exp(lq) * (lq - lm)

    lo, hi = min(0, mu) - 40, max(0, mu) + 40
    return integrate.quad(integrand, lo, hi, points=[0, mu / 2, mu], limit=200, epsabs=1e-13, epsrel=1e-13)[0]


def _quad_value(mu):
    """V(D*, G) = ∫ p log(p/(p+q)) + q log(q/(p+q)) dx by quadrature (not via JSD)."""

    def integrand(x):
        lp, lq = stats.norm.logpdf(x), stats.norm.logpdf(x, mu)
        ls = np.logaddexp(lp, lq)
        return math.exp(lp) * (lp - ls) + math.exp(lq) * (lq - ls)

    lo, hi = min(0, mu) - 40, max(0, mu) + 40
    return integrate.quad(integrand, lo, hi, points=[0, mu / 2, mu], limit=200, epsabs=1e-13, epsrel=1e-13)[0]


@pytest.mark.parametrize(
    "mu, jsd_table, value_table",
    [
        (0.0, 0.0, -1.386294),
        (1.0, 0.111421, -1.163451),
        (2.0, 0.336831, -0.712633),
        (4.0, 0.632720, -0.120854),
    ],
)
def test_gaussian_shift_table_matches_quadrature(mu, jsd_table, value_table):
    ours = gaussian_shift_theory(mu)
    assert ours["jsd"] == pytest.approx(_quad_jsd(mu), abs=1e-6)
    assert ours["value"] == pytest.approx(_quad_value(mu), abs=1e-6)
    # the printed (rounded) table agrees with quadrature too
    assert round(_quad_jsd(mu), 6) == pytest.approx(jsd_table, abs=1e-6)
    assert round(_quad_value(mu), 6) == pytest.approx(value_table, abs=1e-6)
    # V(D*, G) = 2·JSD − log 4
    assert ours["identity_gap"] == pytest.approx(0.0, abs=1e-9)


def test_gaussian_shift_rejects_bad_sigma():
    with pytest.raises(ValueError, match="sigma must be positive, got 0"):
        gaussian_shift_theory(1.0, 0)


# no subnormals: scipy's jensenshannon (the reference) returns inf for q = [1, 5e-324]
probability_pairs = (
    st.integers(2, 8)
    .flatmap(
        lambda k: st.tuples(
            st.lists(st.floats(0, 1, allow_subnormal=False), min_size=k, max_size=k),
            st.lists(st.floats(0, 1, allow_subnormal=False), min_size=k, max_size=k),
        )
    )
    .filter(lambda pq: sum(pq[0]) > 1e-3 and sum(pq[1]) > 1e-3)
)


@settings(max_examples=80, deadline=None)
@given(probability_pairs)
def test_discrete_optimal_value_is_2jsd_minus_log4(pq):
    p = np.array(pq[0]) / sum(pq[0])
    q = np.array(pq[1]) / sum(pq[1])
    jsd = jensenshannon(p, q) ** 2  # scipy returns the distance √JSD (nats by default)
    assert optimal_value(p, q) == pytest.approx(2 * jsd - math.log(4), abs=1e-10)
    d = optimal_discriminator(p, q)
    assert np.all((d >= 0) & (d <= 1))
    # D* maximizes V: any other D on the same points does no better
    other = np.clip(d + 0.1, 1e-9, 1 - 1e-9)
    v_other = np.sum(p * np.log(other)) + np.sum(q * np.log1p(-other))
    assert v_other <= optimal_value(p, q) + 1e-12


def test_optimal_value_extremes_batching_and_torch():
    assert optimal_value([0.2, 0.8], [0.2, 0.8]) == pytest.approx(-math.log(4))
    assert optimal_value([1.0, 0.0, 0.0], [0.0, 0.5, 0.5]) == pytest.approx(0.0, abs=1e-15)
    batch = optimal_value(np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([0.5, 0.5]))
    assert batch.shape == (2,)
    p = torch.tensor([0.3, 0.7], dtype=torch.float64, requires_grad=True)
    v = optimal_value(p, torch.tensor([0.6, 0.4], dtype=torch.float64))
    assert isinstance(v, torch.Tensor)
    v.backward()
    assert torch.isfinite(p.grad).all()


def test_optimal_discriminator_values():
    d = optimal_discriminator(np.array([0.5, 0.1, 0.0, 0.0]), np.array([0.5, 0.3, 0.2, 0.0]))
    np.testing.assert_allclose(d, [0.5, 0.25, 0.0, 0.5])


@pytest.mark.parametrize(
    "p, q, match",
    [
        ([0.5, -0.5, 1.0], [0.3, 0.3, 0.4], "p has negative probabilities"),
        ([0.5, 0.5], [0.3, 0.3], "q does not sum to 1 along axis -1"),
        ([np.nan, 1.0], [0.5, 0.5], "p contains NaN"),
    ],
)
def test_optimal_value_validates(p, q, match):
    with pytest.raises(ValueError, match=match):
        optimal_value(p, q)


def test_saturation_gradients_are_minus_sigmoids():
    logits = np.linspace(-12, 12, 25)
    g = saturation_gradients(logits)
    np.testing.assert_allclose(g["minimax"], -1 / (1 + np.exp(-logits)), rtol=1e-12)
    np.testing.assert_allclose(g["nonsaturating"], -1 / (1 + np.exp(logits)), rtol=1e-12)
    at = saturation_gradients([-10.0])
    assert at["minimax"][0] == pytest.approx(-4.54e-5, rel=1e-3)
    assert at["nonsaturating"][0] == pytest.approx(-1.0, abs=1e-4)


def test_disjoint_supports_jsd_flat_wasserstein_grows():
    shifts = [0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0]
    rows = disjoint_uniform_theory(shifts)
    for row in rows:
        assert row["jsd"] == pytest.approx(min(row["shift"], 1.0) * math.log(2), abs=1e-9)
        assert row["wasserstein"] == pytest.approx(row["shift"], abs=1e-9)
    with pytest.raises(ValueError, match="shifts must be non-negative"):
        disjoint_uniform_theory([-1.0])
