"""klvae.measures.pairwise_forms: which pair has a closed form, and the Bhattacharyya distance."""

import math

import pytest
import torch
from scipy import integrate, stats
from torch.distributions import Independent, Laplace, Normal, StudentT, Uniform

from klvae.measures.pairwise_forms import bhattacharyya_distance, renyi_closed

D = torch.float64


def t(*x):
    return torch.tensor(x, dtype=D)


def test_normal_laplace_bhattacharyya_against_scipy():
    n, lap = Normal(t(0.3), t(1.2)), Laplace(t(-0.2), t(0.8))
    bc = integrate.quad(
        lambda x: math.sqrt(stats.norm.pdf(x, 0.3, 1.2) * stats.laplace.pdf(x, -0.2, 0.8)), -40, 40, points=[-0.2]
    )[0]
    assert float(bhattacharyya_distance(n, lap)) == pytest.approx(-math.log(bc), rel=1e-10)
    assert float(bhattacharyya_distance(lap, n)) == pytest.approx(-math.log(bc), rel=1e-10)  # symmetric


def test_uniforms_and_independent_pairs():
    p, q = Uniform(t(0.0), t(1.0)), Uniform(t(0.5), t(2.0))  # overlap ½: ∫√(pq) = ½ / √1.5
    assert float(renyi_closed(p, q, 0.5)) == pytest.approx(-2 * math.log(0.5 / math.sqrt(1.5)), rel=1e-14)
    assert float(renyi_closed(p, q, 2.0)) == math.inf  # p is not inside q's interval
    ip = Independent(Normal(t(0.0, 1.0), t(1.0, 1.0)), 1)
    iq = Independent(Normal(t(1.0, 1.0), t(1.0, 1.0)), 1)
    assert float(renyi_closed(ip, iq, 0.5)) == pytest.approx(0.25, rel=1e-14)  # α Δ²/2 summed
    assert renyi_closed(StudentT(t(3.0)), Normal(t(0.0), t(1.0)), 0.5) is None
    with pytest.raises(TypeError, match="no closed-form Bhattacharyya distance"):
        bhattacharyya_distance(StudentT(t(3.0)), Normal(t(0.0), t(1.0)))
