"""klvae.measures.scipy_adapter: frozen scipy.stats distributions wherever torch ones go."""

import math

import pytest
import torch
from scipy import integrate, special, stats
from torch.distributions import Gamma, Normal, Poisson

import klvae
from klvae.measures.scipy_adapter import ScipyDistribution, as_distribution

D = torch.float64


def test_a_scipy_pair_matches_the_torch_pair_and_the_closed_form():
    kl = klvae.kl_divergence(stats.gamma(2.0, scale=0.5), stats.gamma(3.0, scale=1 / 1.5))
    closed = klvae.kl_divergence(Gamma(torch.tensor(2.0, dtype=D), 2.0), Gamma(torch.tensor(3.0, dtype=D), 1.5))
    assert kl.method == "quadrature" and float(kl) == pytest.approx(float(closed), rel=1e-10)
    h = klvae.entropy(stats.poisson(3.0))
    assert h.method == "summation" and float(h) == pytest.approx(stats.poisson(3.0).entropy(), rel=1e-12)
    assert h.dtype == torch.float64


def test_a_scipy_distribution_against_a_torch_one():
    n = Normal(torch.tensor(1.0, dtype=D), 1.0)
    h = klvae.hellinger_distance(stats.norm(0.0, 1.0), n)
    assert float(h) == pytest.approx(math.sqrt(-math.expm1(-1 / 8)), rel=1e-10)  # BC = e^{−Δ²/8}
    js = klvae.js_divergence(stats.poisson(3.0), Poisson(torch.tensor(4.0, dtype=D)))
    pmf = [(stats.poisson(3.0).pmf(k), stats.poisson(4.0).pmf(k)) for k in range(120)]
    want = sum(0.5 * (special.rel_entr(a, (a + b) / 2) + special.rel_entr(b, (a + b) / 2)) for a, b in pmf)
    assert float(js) == pytest.approx(want, rel=1e-12)
    tv = klvae.total_variation(stats.beta(2, 3), stats.uniform())
    want = integrate.quad(lambda x: 0.5 * abs(stats.beta(2, 3).pdf(x) - 1.0), 0, 1, points=[1 / 3, 0.8])[0]
    assert float(tv) == pytest.approx(want, rel=1e-8)
    assert klvae.measure_method("kl", stats.t(3), stats.norm()) == "quadrature"


def test_monte_carlo_draws_from_scipy_reproducibly_and_errors():
    d = as_distribution(stats.norm(0.0, 1.0))
    assert (
        isinstance(d, ScipyDistribution) and d.batch_shape == () and d.support is torch.distributions.constraints.real
    )
    torch.manual_seed(3)
    a = d.sample((5,))
    torch.manual_seed(3)
    assert torch.equal(a, d.sample((5,)))
    with pytest.raises(TypeError, match="expected a frozen scipy.stats distribution"):
        ScipyDistribution([0.5, 0.5])
    with pytest.raises(ValueError, match="both be discrete or both continuous"):
        klvae.kl_divergence(stats.poisson(3.0), stats.norm())
