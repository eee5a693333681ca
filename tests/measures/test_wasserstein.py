"""klvae.measures.wasserstein against scipy.stats.wasserstein_distance: histograms, samples, weights, errors."""

import math

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import klvae
from reference import rel_err, rows


def test_wasserstein_histograms_match_scipy_with_weights():
    rng = np.random.default_rng(11)
    x = np.sort(rng.standard_normal(12))
    u, v = rows(rng, (5, 12), zeros=True), rows(rng, (5, 12))
    got = klvae.wasserstein_distance(u, v, x)
    want = [scipy.stats.wasserstein_distance(x, x, u[i], v[i]) for i in range(5)]
    assert rel_err(got, want) <= 1e-12
    default = klvae.wasserstein_distance(u, v)  # support 0..K-1
    want = [scipy.stats.wasserstein_distance(np.arange(12), np.arange(12), u[i], v[i]) for i in range(5)]
    assert rel_err(default, want) <= 1e-12


def test_wasserstein_samples_match_scipy_batched():
    rng = np.random.default_rng(12)
    a, b = rng.standard_normal((4, 30)), rng.exponential(size=(4, 17))
    got = klvae.wasserstein_distance_samples(a, b)
    want = [scipy.stats.wasserstein_distance(a[i], b[i]) for i in range(4)]
    assert rel_err(got, want) <= 1e-12
    got0 = klvae.wasserstein_distance_samples(a.T, b.T, axis=0)
    assert rel_err(got0, want) <= 1e-12


def test_wasserstein_histograms_are_not_values():
    # scipy's first arguments are sample values: passing histograms there measures something else
    u, v = [0.5, 0.5, 0.0], [0.0, 0.5, 0.5]
    assert klvae.wasserstein_distance(u, v) == pytest.approx(1.0, rel=1e-15)
    assert scipy.stats.wasserstein_distance(u, v) != pytest.approx(1.0)


def test_bad_wasserstein_inputs():
    with pytest.raises(ValueError, match="support must be strictly increasing along axis"):
        klvae.wasserstein_distance([0.5, 0.5], [0.5, 0.5], [1.0, 0.0])
    with pytest.raises(ValueError, match="support has 3 points but u and v have 2 along axis 0"):
        klvae.wasserstein_distance([0.5, 0.5], [0.5, 0.5], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="support has NaN or infinite entries"):
        klvae.wasserstein_distance([0.5, 0.5], [0.5, 0.5], [0.0, math.inf])
    with pytest.raises(ValueError, match=r"shapes do not broadcast: u and v \(2, 2\) and support \(3, 2\)"):
        klvae.wasserstein_distance([[0.5, 0.5]] * 2, [[0.5, 0.5]] * 2, np.zeros((3, 2)))
    with pytest.raises(ValueError, match="u_values has NaN or infinite entries"):
        klvae.wasserstein_distance_samples([0.0, math.nan], [1.0])
    with pytest.raises(ValueError, match="v_values has no samples along axis -1"):
        klvae.wasserstein_distance_samples([0.0], np.zeros(0))
    with pytest.raises(ValueError, match="axis 1 is out of range for u_values of shape"):
        klvae.wasserstein_distance_samples([0.0], [1.0], axis=1)
    with pytest.raises(ValueError, match="u_values and v_values must have at least 1 dimension"):
        klvae.wasserstein_distance_samples(0.0, [1.0])
    with pytest.raises(ValueError, match=r"shapes do not broadcast: u_values \(2, 3\) and v_values \(3, 4\)"):
        klvae.wasserstein_distance_samples(np.zeros((2, 3)), np.zeros((3, 4)))


# --------------------------------------------------------------- weights, broadcasting


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(0, 2**32 - 1), st.booleans())
def test_weighted_samples_match_scipy(n, m, seed, ties):
    rng = np.random.default_rng(seed)
    u, v = rng.normal(size=n), rng.normal(size=m)
    if ties:
        u, v = np.round(u), np.round(v)  # repeated values share one step of the CDF
    wu, wv = rng.random(n) + 0.01, rng.random(m)
    wv[0] += 0.1
    got = klvae.wasserstein_distance_samples(u, v, wu, wv)
    assert got == pytest.approx(scipy.stats.wasserstein_distance(u, v, wu, wv), rel=1e-12, abs=1e-14)
    assert klvae.wasserstein_distance_samples(u, v, wu) == pytest.approx(
        scipy.stats.wasserstein_distance(u, v, wu), rel=1e-12, abs=1e-14
    )


def test_weights_batch_and_keep_gradients():
    rng = np.random.default_rng(3)
    a, b, w = rng.normal(size=(4, 6)), rng.normal(size=(4, 5)), rng.random((4, 6)) + 0.1
    got = klvae.wasserstein_distance_samples(a.T, b.T, w.T, axis=0)
    want = [scipy.stats.wasserstein_distance(a[i], b[i], w[i]) for i in range(4)]
    assert rel_err(got, want) <= 1e-12
    wt = torch.tensor(w, requires_grad=True)
    out = klvae.wasserstein_distance_samples(torch.tensor(a), torch.tensor(b), wt)
    out.sum().backward()
    assert wt.grad is not None and torch.isfinite(wt.grad).all()
    # integer weights are counts: the same as repeating the samples
    counts = klvae.wasserstein_distance_samples([0.0, 1.0], [0.5], [1, 3])
    assert counts == pytest.approx(klvae.wasserstein_distance_samples([0.0, 1.0, 1.0, 1.0], [0.5]), rel=1e-15)


def test_a_length_one_histogram_does_not_broadcast():
    with pytest.raises(ValueError, match="u has 1 outcomes along axis -1 where the others have 2"):
        klvae.wasserstein_distance([4], [3, 1], normalize=True)
    with pytest.raises(ValueError, match="v has 1 outcomes along axis -1 where the others have 3"):
        klvae.wasserstein_distance([0.2, 0.3, 0.5], [1.0])
    with pytest.raises(ValueError):  # scipy refuses the same pair
        scipy.stats.wasserstein_distance([0, 1], [0, 1], [4], [3, 1])
    # batch axes still broadcast
    assert klvae.wasserstein_distance([[1.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]]).tolist() == [1.0, 0.0]


def test_bad_sample_weights():
    with pytest.raises(ValueError, match="u_weights must be non-negative and finite"):
        klvae.wasserstein_distance_samples([0.0, 1.0], [1.0], [1.0, -1.0])
    with pytest.raises(ValueError, match="v_weights must be non-negative and finite"):
        klvae.wasserstein_distance_samples([0.0, 1.0], [1.0], None, [math.nan])
    with pytest.raises(ValueError, match="u_weights must have a positive sum"):
        klvae.wasserstein_distance_samples([0.0, 1.0], [1.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="u_weights does not broadcast to the shape of its values"):
        klvae.wasserstein_distance_samples([0.0, 1.0], [1.0], [1.0, 1.0, 1.0])
