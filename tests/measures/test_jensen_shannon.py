"""klvae.measures.jensen_shannon against scipy, plus Hypothesis properties."""

import math

import numpy as np
import pytest
import scipy.spatial.distance
from hypothesis import given, settings

import klvae
from reference import prob_rows, rel_err, rows


@pytest.mark.parametrize("base", [None, 2])
def test_js_distance_matches_scipy(base):
    rng = np.random.default_rng(3)
    p, q = rows(rng, (7, 50), zeros=True), rows(rng, (7, 50), zeros=True)
    want = scipy.spatial.distance.jensenshannon(p, q, base=base, axis=-1)
    assert rel_err(klvae.js_distance(p, q, base=base), want) <= 1e-12
    assert rel_err(klvae.js_divergence(p, q, base=base), want**2) <= 1e-12


@settings(max_examples=60, deadline=None)
@given(prob_rows())
def test_js_symmetric_and_bounded(pq):
    p, q = pq
    a, b = klvae.js_divergence(p, q), klvae.js_divergence(q, p)
    assert a == pytest.approx(b, rel=1e-13, abs=1e-300)
    assert 0 <= a <= math.log(2) * (1 + 1e-15)
    assert klvae.js_divergence(p, q, base=2) <= 1 + 1e-15
