"""klvae.measures._numpy_kernels: the NumPy row kernels against their torch twins, scipy and mpmath."""

import subprocess
import sys

import mpmath
import numpy as np
import pytest
import scipy.special
import torch

from klvae.measures._kernels import js_terms, kl_terms
from klvae.measures._numpy_kernels import cross_entropy_rows, entropy_rows, js_rows, kl_rows

mpmath.mp.dps = 50


def work_for(shape):
    return [np.empty(shape, dtype=bool)] + [np.empty(shape) for _ in range(6)]


def test_numpy_twins_agree_with_the_torch_terms():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(6), size=4)
    q = p * (1 + 1e-7 * rng.standard_normal(p.shape))
    q[0] = rng.dirichlet(np.ones(6))
    work = work_for(p.shape)
    np.testing.assert_allclose(kl_rows(p, q, False, work), kl_terms(torch.from_numpy(p), torch.from_numpy(q)).sum(-1))
    np.testing.assert_allclose(js_rows(p, q, False, work), js_terms(torch.from_numpy(p), torch.from_numpy(q)).sum(-1))


def test_entropy_and_cross_entropy_rows_against_scipy_with_zeros():
    p = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 1.0]])
    q = np.array([[0.25, 0.25, 0.5], [0.3, 0.3, 0.4], [0.5, 0.5, 0.0]])
    work = work_for(p.shape)
    with np.errstate(divide="ignore", invalid="ignore"):  # as the NumPy path calls them
        h, got = entropy_rows(p, True, work), cross_entropy_rows(p, q, True, work)
    np.testing.assert_allclose(h, scipy.special.entr(p).sum(-1), rtol=1e-15)
    want = [-sum(float(mpmath.mpf(a) * mpmath.log(b)) for a, b in zip(r, s) if a > 0) for r, s in zip(p[:2], q[:2])]
    np.testing.assert_allclose(got[:2], want, rtol=1e-15)
    assert got[2] == np.inf  # p > 0 = q


@pytest.mark.parametrize("x", [1e-3, 1e-9])
def test_kl_rows_keep_relative_accuracy_near_p_equal_q(x):
    p = np.array([[0.5 + x, 0.5 - x]])
    q = np.array([[0.5, 0.5]])
    mp = [(mpmath.mpf(a), mpmath.mpf(b)) for a, b in zip(p[0], q[0])]
    want = sum(a * mpmath.log(a / b) - a + b for a, b in mp)  # the generalized KL of the rounded rows
    got = kl_rows(p, q, False, work_for(p.shape))[0]
    assert abs(got - float(want)) <= 1e-14 * float(want)


def test_the_module_imports_no_torch():
    code = "import sys, klvae.measures._numpy_kernels; print('torch' in sys.modules or 'scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_short_rows_are_summed_as_numpy_sums_them_inf_and_nan_included():
    from klvae.measures._numpy_kernels import SHORT_ROWS, row_sums

    rng = np.random.default_rng(3)
    for k in (1, 2, 3, SHORT_ROWS, SHORT_ROWS + 1):
        a = rng.uniform(0, 1, (500, k))
        np.testing.assert_allclose(row_sums(a), a.sum(-1), rtol=k * 2.3e-16, atol=0)
        np.testing.assert_allclose(row_sums(a[::2]), a[::2].sum(-1), rtol=k * 2.3e-16, atol=0)  # strided rows
    a = rng.uniform(0, 1, (4, 3))
    a[1, 0], a[2, 2], a[3, 1] = np.inf, np.nan, 0.0
    got = row_sums(a)
    assert np.isposinf(got[1]) and np.isnan(got[2]) and got[3] == a[3].sum()
    assert row_sums(torch.ones(2, 3)).tolist() == [3.0, 3.0]
