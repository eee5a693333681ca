"""klvae.measures.measure_integrands: each integrand at the edges of the supports, and Monte Carlo."""

import math

import pytest
import torch
from torch.distributions import Normal, Uniform

from klvae.measures.measure_integrands import log_density, mc_measure, measure_spec

D = torch.float64
INF = math.inf


def test_the_integrands_at_zero_densities_are_the_conventions():
    lp, lq = torch.tensor([-INF, 0.0, 0.0, -INF], dtype=D), torch.tensor([0.0, -INF, 0.0, -INF], dtype=D)
    want = {
        "kl": [0.0, INF, 0.0, 0.0],
        "cross_entropy": [0.0, INF, 0.0, 0.0],
        "js": [0.5 * math.log(2), 0.5 * math.log(2), 0.0, 0.0],
        "tv": [0.5, 0.5, 0.0, 0.0],
        "hellinger": [0.5, 0.5, 0.0, 0.0],
        "chi2": [1.0, INF, 0.0, 0.0],
    }
    for name, values in want.items():
        assert measure_spec(name).terms(lp, lq).tolist() == pytest.approx(values), name
    assert measure_spec("renyi", alpha=2.0).terms(lp, lq).tolist() == [0.0, INF, 1.0, 0.0]
    assert measure_spec("renyi", alpha=0.5).terms(lp, lq).tolist() == [0.0, 0.0, 1.0, 0.0]
    f = measure_spec("f", f=lambda r: (r - 1).abs() / 2, f_at_infinity=0.5)
    assert f.terms(lp, lq).tolist() == [0.5, 0.5, 0.0, 0.0]
    with pytest.raises(ValueError, match="measure must be one of"):
        measure_spec("bhattacharyya")


def test_log_density_is_minus_infinity_off_the_support_without_validation_errors():
    u = Uniform(torch.tensor(0.0, dtype=D), 1.0)
    assert log_density(u, torch.tensor([-0.5, 0.5, 2.0], dtype=D)).tolist() == [-INF, 0.0, -INF]


def test_monte_carlo_from_the_mixture_covers_both_supports():
    p, q = Normal(torch.tensor(0.0, dtype=D), 1.0), Normal(torch.tensor(1.0, dtype=D), 1.0)
    value, se = mc_measure(measure_spec("tv"), p, q, 40_000, 0)
    exact = math.erf(1 / (2 * math.sqrt(2)))  # TV of unit normals one apart
    assert abs(float(value) - exact) < 5 * float(se) and 0 < float(se) < 0.01
    value, se = mc_measure(measure_spec("kl"), p, q, 40_000, 0)
    assert abs(float(value) - 0.5) < 5 * float(se)
