"""klvae.measures._divergence_terms: each sum gives the same on NumPy arrays and on tensors, and mpmath's value."""

import math
import subprocess
import sys

import mpmath
import numpy as np
import pytest
import scipy.special
import torch

from klvae.measures import _divergence_terms as terms

mpmath.mp.dps = 40
P = np.array([[0.5, 0.3, 0.2, 0.0], [0.1, 0.2, 0.3, 0.4]])
Q = np.array([[0.25, 0.25, 0.25, 0.25], [0.1, 0.2, 0.3 + 1e-9, 0.4 - 1e-9]])


def mp_moment(p, q, a):
    return sum(mpmath.mpf(x) ** a * mpmath.mpf(y) ** (1 - a) for x, y in zip(p, q) if x > 0)


@pytest.mark.parametrize(
    "name, args",
    [("hellinger", ()), ("total_variation", ()), ("chi2", ()), ("renyi", (0.3,)), ("renyi", (2.0,))]
    + [("renyi", (math.inf,)), ("amari_alpha", (0.7,))],
)
def test_numpy_and_torch_give_the_same_sums(name, args):
    fn = getattr(terms, name)
    with np.errstate(divide="ignore"):
        got = fn(terms.NUMPY, P, Q, 1, *args)
    want = fn(torch, torch.from_numpy(P), torch.from_numpy(Q), 1, *args).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


def test_the_sums_against_mpmath():
    with np.errstate(divide="ignore"):
        for row in range(2):
            p, q = P[row : row + 1], Q[row : row + 1]
            a = 2.0
            want = mpmath.log(mp_moment(p[0], q[0], a)) / (a - 1)
            assert float(terms.renyi(terms.NUMPY, p, q, 1, a)[0]) == pytest.approx(float(want), rel=1e-13)
            want_h = mpmath.sqrt(sum((mpmath.sqrt(x) - mpmath.sqrt(y)) ** 2 for x, y in zip(p[0], q[0])) / 2)
            assert float(terms.hellinger(terms.NUMPY, p, q, 1)[0]) == pytest.approx(float(want_h), rel=1e-13)
    assert float(terms.chi2(terms.NUMPY, np.array([0.5, 0.5]), np.array([1.0, 0.0]), 0)) == math.inf


def test_logsumexp_is_scipys_with_infinite_rows():
    x = np.array([[0.0, -1.0, 3.0], [-np.inf, -np.inf, -np.inf], [1.0, np.inf, 0.0]])
    with np.errstate(divide="ignore", invalid="ignore"):
        got = terms.NUMPY.logsumexp(x, 1)
    np.testing.assert_allclose(got[:1], scipy.special.logsumexp(x[:1], axis=1), rtol=1e-15)
    assert got[1] == -np.inf and got[2] == np.inf


def test_the_module_imports_no_torch():
    code = "import sys, klvae.measures._divergence_terms; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_numpy_terms_take_arrays_and_leave_tensors_to_torch():
    value, dtype = terms.numpy_terms(terms.total_variation, [[0.5, 0.5]], np.array([[1.0, 0.0]], np.float32), -1, False)
    assert value.tolist() == [0.5] and dtype == np.float64  # answered in the wider dtype
    assert terms.numpy_terms(terms.chi2, torch.ones(2) / 2, [0.5, 0.5], -1, False) is None
    with pytest.raises(ValueError, match="q rows must sum to 1"):
        terms.numpy_terms(terms.chi2, [0.5, 0.5], [0.5, 0.6], -1, False)
    assert terms.torch_path().__name__ == "klvae.measures._divergences_torch"
