"""klvae.measures._kernels: each cancellation-free term against mpmath, in value and gradient."""

import math

import mpmath
import numpy as np
import pytest
import torch

from klvae.measures._kernels import (
    expm1_minus_x,
    js_terms,
    kl_terms,
    log_ratio,
    ratio_term,
)

D = torch.float64
mpmath.mp.dps = 50  # mpmath's own default (15 digits) is less than the float64 answers compared


def t(*xs):
    return torch.tensor(xs, dtype=D)


def mp_kl_term(a, b):
    a, b = mpmath.mpf(a), mpmath.mpf(b)
    return (a * mpmath.log(a / b) if a else 0) - a + b


@pytest.mark.parametrize("a, b", [(0.3, 0.3 * (1 + 1e-9)), (1e-300, 2.0), (2.0, 5e-324), (0.7, 0.2), (5e-324, 5e-324)])
def test_log_ratio_to_a_few_ulps(a, b):
    want = mpmath.log(mpmath.mpf(a) / mpmath.mpf(b))
    assert float(log_ratio(t(a), t(b))[0]) == pytest.approx(float(want), rel=4e-16, abs=1e-300)


def test_kl_terms_with_the_callers_exact_difference_and_at_zero_mass():
    """The term of a Bernoulli's 1 − p side: the difference is held exactly, a = b + diff rounded."""
    b = t(0.3, 0.3, 0.0, 0.0, 0.5)
    a = t(0.3 * (1 + 1e-9), 0.0, 0.2, 0.0, 0.1)
    got = kl_terms(a, b, diff=a - b)
    assert float(got[0]) == pytest.approx(float(mp_kl_term(a[0].item(), 0.3)), rel=1e-12)
    assert got[1] == 0.3 and got[2] == math.inf and got[3] == 0.0
    assert float(got[4]) == pytest.approx(float(mp_kl_term(0.1, 0.5)), rel=1e-15)


def test_kl_and_js_terms_gradients_are_the_exact_partials():
    p = t(0.2, 0.3, 1e-310, 0.0).requires_grad_(True)
    q = t(0.25, 0.3 * (1 + 1e-12), 2e-310, 0.5).requires_grad_(True)
    kl_terms(p, q).sum().backward()
    pd, qd = p.detach(), q.detach()
    want_p = torch.where(pd > 0, torch.log(pd / qd), -1.0)  # at p = 0: the partials of q − p
    want_q = torch.where(pd > 0, 1 - pd / qd, 1.0)
    torch.testing.assert_close(p.grad, want_p, rtol=1e-12, atol=0)
    torch.testing.assert_close(q.grad, want_q, rtol=1e-12, atol=1e-15)
    p.grad, q.grad = None, None
    js_terms(p, q).sum().backward()
    m = (pd + qd) / 2
    torch.testing.assert_close(p.grad, torch.where(pd > 0, torch.log(pd / m), 0.0), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(q.grad, torch.log(qd / m), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("x", [1e-12, -3e-5, 0.009, -0.011, 0.3, -5.0, 30.0])
def test_expm1_minus_x_and_ratio_term(x):
    want = mpmath.expm1(mpmath.mpf(x)) - mpmath.mpf(x)
    assert float(expm1_minus_x(t(x))[0]) == pytest.approx(float(want), rel=1e-13)
    r = math.exp(x / 2)  # ratio_term(a, b, 2) = e^x − 1 − x with x = 2 log(a/b)
    got = float(ratio_term(t(r), t(1.0), 2)[0])
    want = mpmath.expm1(2 * mpmath.log(mpmath.mpf(r))) - 2 * mpmath.log(mpmath.mpf(r))
    assert got == pytest.approx(float(want), rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kl_terms_and_ratio_term_agree_in_numpy_and_torch_and_with_mpmath(dtype):
    # without a gradient on the CPU the kernels run in NumPy, with one in torch: the same values
    # at zeros, subnormals, p/q over- and underflowing and near p = q
    tiny = torch.finfo(dtype).smallest_normal / 8
    p = torch.tensor([0.2, 0.3, tiny, 0.0, 0.0, 0.5, 2.0, tiny, 0.4], dtype=dtype)
    q = torch.tensor([0.25, 0.3 * (1 + 1e-6), 2.0, 0.5, 0.0, 0.0, tiny, tiny * 3, 0.4 * (1 - 3e-4)], dtype=dtype)
    plain = kl_terms(p, q)
    graded = kl_terms(p.clone().requires_grad_(), q, overflow=True).detach()
    torch.testing.assert_close(plain, graded, rtol=8 * torch.finfo(dtype).eps, atol=0)
    for got, a, b in zip(plain.tolist(), p.tolist(), q.tolist()):
        want = math.inf if a > 0 and b == 0 else float(mp_kl_term(a, b)) if b else 0.0
        assert got == pytest.approx(want, rel=8 * torch.finfo(dtype).eps, abs=1e-300)
    a, b = torch.tensor([1.0, 3.0, 1e-3, 2.0], dtype=dtype), torch.tensor([1.0 + 1e-5, 1.0, 1.0, 2.0], dtype=dtype)
    for power in (1, 2):
        plain, graded = ratio_term(a, b, power), ratio_term(a.clone().requires_grad_(), b, power).detach()
        torch.testing.assert_close(plain, graded, rtol=8 * torch.finfo(dtype).eps, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_log_ratio_and_expm1_minus_x_agree_in_numpy_and_torch(dtype):
    # near a = b (log1p), far, and a/b past the dtype's range (log a − log b); |x| on both sides
    # of the series' threshold, and large
    info = torch.finfo(dtype)
    a = torch.tensor([1.0, 1.2, 7.0, info.tiny / 4, info.max / 2, 3.0], dtype=dtype)
    b = torch.tensor([1.0 + 1e-4, 1.0, 0.01, 3.0, info.tiny * 2, 3.0], dtype=dtype)
    plain, graded = log_ratio(a, b), log_ratio(a.clone().requires_grad_(), b).detach()
    torch.testing.assert_close(plain, graded, rtol=4 * info.eps, atol=0)
    for got, x, y in zip(plain.tolist(), a.tolist(), b.tolist()):
        assert got == pytest.approx(float(mpmath.log(mpmath.mpf(x) / mpmath.mpf(y))), rel=4 * info.eps, abs=1e-300)
    x = torch.tensor([1e-6, -0.0099, 0.0101, -3.0, 20.0, 0.0], dtype=dtype)
    plain, graded = expm1_minus_x(x), expm1_minus_x(x.clone().requires_grad_()).detach()
    torch.testing.assert_close(plain, graded, rtol=8 * info.eps / 0.01, atol=0)  # the stated few ulps / |x|


def test_a_few_entries_recomputed_in_python_floats_match_the_array_path():
    # set_entries: up to FEW entries in Python floats, more as arrays, the same arithmetic
    from klvae.measures._kernels import series_expm1_minus_x
    from klvae.measures._numpy_kernels import FEW, kl_near, set_entries

    rng = np.random.default_rng(0)
    p = rng.uniform(0.5, 2.0, 64)
    q = p * (1 + rng.uniform(-0.01, 0.01, 64))
    d = p - q
    for size in range(1, FEW + 3):
        idx = (np.sort(rng.choice(64, size, replace=False)),)
        few, many = np.zeros(64), np.zeros(64)
        set_entries(few, idx, kl_near, p, q, d)
        many[idx] = kl_near(p[idx], q[idx], d[idx])
        np.testing.assert_allclose(few, many, rtol=2e-16, atol=0)
        set_entries(few, idx, series_expm1_minus_x, d)
        many[idx] = series_expm1_minus_x(d[idx])
        np.testing.assert_allclose(few, many, rtol=2e-16, atol=0)


@pytest.mark.parametrize("power", [1, 2])
def test_ratio_term_with_the_rest_of_a_sum_against_mpmath(power):
    # e^x − 1 − x + rest: the series where the whole is small, the direct form elsewhere; within
    # the direct form's stated bound (a few ulps / 0.01) of the whole, at every size of the rest
    x = np.concatenate([np.logspace(-12, -1, 60), -np.logspace(-12, -1, 60)])
    b = np.full(x.shape, 1.7)
    a = b * np.exp(x / power)
    for rest in (np.zeros_like(x), np.logspace(-30, 1, x.size), np.full(x.shape, 3e-5)):
        got = ratio_term(torch.from_numpy(a), torch.from_numpy(b), power, plus=torch.from_numpy(rest)).numpy()
        graded = ratio_term(
            torch.from_numpy(a).requires_grad_(), torch.from_numpy(b), power, plus=torch.from_numpy(rest)
        )
        for g, h, ai, bi, ri in zip(got, graded.detach().numpy(), a, b, rest):
            r = (mpmath.mpf(ai) / mpmath.mpf(bi)) ** power
            want = r - 1 - mpmath.log(r) + mpmath.mpf(ri)
            assert g == pytest.approx(float(want), rel=4e-14)
            assert h == pytest.approx(float(want), rel=4e-14)
    with pytest.raises(ValueError, match="broadcast"):
        ratio_term(t(1.0, 2.0), t(1.0, 2.0), 1, plus=t(1.0, 2.0, 3.0))
    scalar = torch.tensor(2.0, dtype=D)
    assert ratio_term(scalar, scalar / 2, 1, plus=scalar / 4).shape == ()  # 0-d in, 0-d out
    assert ratio_term(np.empty(0), np.empty(0), 2, plus=np.empty(0)).shape == (0,)  # an empty batch
    assert ratio_term(t(), t(), 2, plus=t()).shape == (0,)
    broad = ratio_term(t(2.0), t(1.0), 1, plus=t(0.5, 1.5)).tolist()  # the rest broadcasts
    assert broad == pytest.approx([1 - math.log(2) + 0.5, 1 - math.log(2) + 1.5], rel=1e-15)
