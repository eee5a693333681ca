"""klvae.measures.joint: joint and conditional entropy, mutual information, against scikit-learn and identities."""

import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from sklearn.metrics import mutual_info_score

import klvae
from reference import prob_rows


@settings(max_examples=60, deadline=None)
@given(prob_rows(zeros=False))
def test_mutual_information_nonnegative_and_zero_for_independent(pq):
    px, py = pq
    independent = np.outer(px, py)
    assert abs(klvae.mutual_information(independent)) < 1e-15
    rng = np.random.default_rng(int(px[0] * 1e6))
    pxy = rng.random((px.size, py.size))
    pxy /= pxy.sum()
    assert klvae.mutual_information(pxy) >= 0


def test_joint_conditional_and_mutual_information():
    rng = np.random.default_rng(10)
    counts = rng.integers(0, 6, size=(3, 4, 5)).astype(float)
    counts[:, 0, 0] += 1
    pxy = counts / counts.sum((-2, -1), keepdims=True)
    for b in range(3):
        t = pxy[b]
        px, py = t.sum(1), t.sum(0)
        h_xy = scipy.stats.entropy(t.ravel())
        assert klvae.joint_entropy(t) == pytest.approx(h_xy, rel=1e-12)
        # H(Y|X) = Σ_x p(x) H(Y | X = x), a route independent of the implementation
        h_y_x = sum(px[i] * scipy.stats.entropy(t[i]) for i in range(t.shape[0]) if px[i] > 0)
        h_x_y = sum(py[j] * scipy.stats.entropy(t[:, j]) for j in range(t.shape[1]) if py[j] > 0)
        assert klvae.conditional_entropy(t) == pytest.approx(h_y_x, rel=1e-12)
        assert klvae.conditional_entropy(t, given=-1) == pytest.approx(h_x_y, rel=1e-12)
        mi = mutual_info_score(None, None, contingency=counts[b])
        assert klvae.mutual_information(t) == pytest.approx(mi, rel=1e-10)
    batched = klvae.mutual_information(pxy, base=2)
    assert batched.shape == (3,)
    assert batched[1] == pytest.approx(mutual_info_score(None, None, contingency=counts[1]) / math.log(2), rel=1e-10)


def test_bad_joint_tables():
    with pytest.raises(ValueError, match=r"pxy must have at least 2 dimensions \(x, y\), got shape \(2,\)"):
        klvae.joint_entropy([0.5, 0.5])
    with pytest.raises(ValueError, match="pxy has an empty axis"):
        klvae.mutual_information(np.zeros((2, 0)))
    with pytest.raises(ValueError, match=r"pxy rows must sum to 1 \(max deviation 0\.5\)"):
        klvae.mutual_information([[0.25, 0.25], [0.0, 0.0]])
    with pytest.raises(ValueError, match="given must be -2 .* or -1"):
        klvae.conditional_entropy([[0.5, 0.5]], given=0)
