"""klvae.measures.elementwise against scipy.special and mpmath: rel_entr, kl_div, entr."""

import math

import mpmath
import numpy as np
import pytest
import scipy.special
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import klvae
from klvae.measures.elementwise import entr, kl_div, rel_entr

mpmath.mp.dps = 50

SPECIAL = [
    0.0,
    5e-324,
    1e-310,
    2.2250738585072014e-308,
    1e-300,
    1e-8,
    0.3,
    0.5,
    1.0,
    2.0,
    1e300,
    math.inf,
    -0.0,
    -1.0,
    math.nan,
]


def mp_rel_entr(x, y):
    x, y = mpmath.mpf(x), mpmath.mpf(y)
    return x * mpmath.log(x / y)


def mp_kl_div(x, y):
    x, y = mpmath.mpf(x), mpmath.mpf(y)
    return x * mpmath.log(x / y) - x + y


def test_conventions_match_scipy_and_values_match_mpmath_on_a_grid():
    x, y = np.meshgrid(SPECIAL, SPECIAL, indexing="ij")
    interior = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    with np.errstate(all="ignore"):
        for ours, theirs, ref in (
            (rel_entr, scipy.special.rel_entr, mp_rel_entr),
            (kl_div, scipy.special.kl_div, mp_kl_div),
        ):
            got, want = ours(x, y), theirs(x, y)
            # outside (0, inf)²: scipy's conventions (0, +inf, NaN), exactly
            np.testing.assert_array_equal(got[~interior], want[~interior])
            # inside: mpmath, where scipy's x/y overflows or underflows too
            for a, b, g in zip(x[interior], y[interior], got[interior]):
                r = ref(a, b)
                assert g == (float(r) if abs(r) < 1.7e308 else math.copysign(math.inf, r)) or g == pytest.approx(
                    float(r), rel=4e-15
                ), (a, b)
        np.testing.assert_array_equal(entr(np.array(SPECIAL)), scipy.special.entr(np.array(SPECIAL)))


@settings(max_examples=80, deadline=None)
@given(st.floats(5e-324, 1e300), st.floats(5e-324, 1e300))
def test_against_mpmath_everywhere_in_the_positive_range(x, y):
    want = mp_rel_entr(x, y)
    if abs(want) < 1e300:
        assert float(rel_entr(x, y)) == pytest.approx(float(want), rel=4e-15, abs=1e-320)
    want = mp_kl_div(x, y)
    if want < 1e300:
        assert float(kl_div(x, y)) == pytest.approx(float(want), rel=4e-15, abs=1e-320)


@pytest.mark.parametrize("k", range(1022, 1075, 4))
def test_subnormal_q_where_scipy_overflows(k):
    q = 2.0**-k
    assert float(rel_entr(1.0, q)) == pytest.approx(k * math.log(2), rel=1e-15)
    assert float(kl_div(1.0, q)) == pytest.approx(k * math.log(2) - 1 + q, rel=1e-15)
    assert float(rel_entr(q, 1.0)) == pytest.approx(float(mp_rel_entr(q, 1.0)), rel=1e-15)


@pytest.mark.parametrize("eps", [1e-3, 1e-8, 1e-13])
def test_nearly_equal_arguments_keep_relative_accuracy(eps):
    x, y = 0.3 * (1 + eps), 0.3
    assert float(kl_div(x, y)) == pytest.approx(float(mp_kl_div(x, y)), rel=1e-12)
    assert float(rel_entr(x, y)) == pytest.approx(float(mp_rel_entr(x, y)), rel=1e-12)


def test_sums_are_the_discrete_measures():
    rng = np.random.default_rng(0)
    p, q = rng.dirichlet(np.ones(7), size=3), rng.dirichlet(np.ones(7), size=3)
    np.testing.assert_allclose(rel_entr(p, q).sum(-1), klvae.kl_divergence(p, q), rtol=1e-13)
    np.testing.assert_allclose(kl_div(p, q).sum(-1), klvae.kl_divergence(p, q), rtol=1e-13)
    np.testing.assert_allclose(entr(p).sum(-1), klvae.entropy(p), rtol=1e-13)


def test_kinds_dtypes_and_broadcasting():
    a = rel_entr(np.float32([0.5, 0.25]), np.float32(0.5))
    assert isinstance(a, np.ndarray) and a.dtype == np.float32 and a.shape == (2,)
    assert rel_entr([[0.5], [0.25]], [0.5, 0.25, 0.125]).shape == (2, 3)
    t = kl_div(torch.tensor([0.5, 0.25]), 0.5)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    assert isinstance(entr(0.5), np.floating)
    with pytest.raises(ValueError, match=r"shapes do not broadcast: p \(2,\) and q \(3,\)"):
        rel_entr([0.5, 0.5], [0.1, 0.2, 0.7])
    with pytest.raises(ValueError, match="p must be numeric"):
        entr(["a"])


def test_gradients_inside_the_domain_and_finite_at_zero():
    p = torch.tensor([0.2, 0.7, 1.3], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.5, 0.7 * (1 + 1e-9), 0.4], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(rel_entr, (p, q))
    assert torch.autograd.gradcheck(kl_div, (p, q))
    assert torch.autograd.gradcheck(entr, (p,))
    gp, gq = torch.autograd.grad(kl_div(p, q).sum(), (p, q))
    torch.testing.assert_close(gp, torch.log(p / q).detach())
    torch.testing.assert_close(gq, (1 - p / q).detach())
    z = torch.tensor([0.0, 0.5], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(rel_entr(z, torch.tensor([0.5, 0.5], dtype=torch.float64)).sum(), z)
    assert torch.isfinite(g).all()
