"""Builders of test data and the textbook formulas that several measure tests compare against."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

__all__ = ["prob_rows", "rows", "rel_err", "seeds_kl_gaussian_multivariate"]


def prob_rows(k_min=2, k_max=8, zeros=True):
    @st.composite
    def build(draw):
        k = draw(st.integers(k_min, k_max))
        w = draw(arrays(np.float64, (2, k), elements=st.floats(0.0 if zeros else 1e-3, 1.0)))
        w[:, 0] += 1e-3
        return w / w.sum(-1, keepdims=True)

    return build()


def rows(rng, shape, zeros=False):
    x = rng.gamma(0.7, size=shape)
    if zeros:
        x[rng.random(shape) < 0.2] = 0.0
        x[..., 0] += 0.1  # no all-zero row
    return x / x.sum(-1, keepdims=True)


def rel_err(got, want):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    return np.max(np.abs(got - want) / np.abs(want))


def seeds_kl_gaussian_multivariate(mu1, cov1, mu2, cov2):
    """Seed 001 §9, word for word: an inverse and two determinants."""
    d = len(mu1)
    cov2_inv = np.linalg.inv(cov2)
    term1 = np.log(np.linalg.det(cov2) / np.linalg.det(cov1))
    term2 = np.trace(cov2_inv @ cov1)
    diff = mu2 - mu1
    term3 = diff.T @ cov2_inv @ diff
    return 0.5 * (term1 - d + term2 + term3)
