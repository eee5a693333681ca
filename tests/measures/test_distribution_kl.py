"""klvae.measures.distribution_kl: the method each pair takes, and its answer against references."""

import math

import pytest
import torch
from torch.distributions import (
    Binomial,
    Categorical,
    Independent,
    Laplace,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
)

import klvae
from klvae.measures.distribution_kl import kl_distributions, kl_method

D = torch.float64


def test_fallbacks_and_exact():
    n, lap = Normal(torch.tensor(0.0, dtype=D), 1.0), Laplace(torch.tensor(0.0, dtype=D), 1.0)
    assert kl_method(n, lap) == "torch"
    torch.testing.assert_close(klvae.kl_divergence(n, lap), torch.distributions.kl_divergence(n, lap))
    mix = MixtureSameFamily(Categorical(torch.ones(2, dtype=D)), Normal(torch.tensor([-1.0, 1.0], dtype=D), 1.0))
    assert kl_method(mix, n) == "quadrature"  # what kl_divergence and kl_distributions take
    assert kl_distributions(mix, n).method == "quadrature"
    est = klvae.kl_divergence(mix, n)  # 1-D: quadrature, with its error bound
    assert isinstance(est, klvae.MeasureResult) and est.method == "quadrature" and est.error_bound < 1e-9
    # reference: numerical integration
    ref = klvae.kl_numerical(mix, n)
    assert abs(float(est) - ref) < 1e-8
    mix2 = MixtureSameFamily(
        Categorical(torch.ones(2, dtype=D)), Independent(Normal(torch.ones(2, 2, dtype=D), 1.0), 1)
    )
    with pytest.raises(ValueError, match=r"kl\(MixtureSameFamily‖Independent\) has no closed form or quadrature here"):
        klvae.kl_divergence(mix2, Independent(Normal(torch.zeros(2, dtype=D), 1.0), 1), exact=True)
    assert float(klvae.kl_divergence(n, Normal(torch.tensor(1.0, dtype=D), 1.0), base=2)) == pytest.approx(
        0.5 / math.log(2)
    )
    with pytest.raises(TypeError, match="must both be torch.distributions objects"):
        kl_distributions(n, [0.5, 0.5])


def test_binomial_counts_and_independent_ranks_decide_the_method():
    assert kl_method(Binomial(5, torch.tensor(0.3)), Binomial(5, torch.tensor(0.4))) == "closed form"
    # torch registers the pair but its function refuses unequal counts: the method is the one used
    unequal = Binomial(5, torch.tensor(0.3)), Binomial(6, torch.tensor(0.4))
    assert kl_method(*unequal) == "summation"  # finite supports: the sum is exact
    got = kl_distributions(*unequal)
    assert isinstance(got, klvae.MeasureResult) and got.method == "summation"
    pk = [math.comb(5, k) * 0.3**k * 0.7 ** (5 - k) for k in range(6)]
    qk = [math.comb(6, k) * 0.4**k * 0.6 ** (6 - k) for k in range(6)]
    assert float(got) == pytest.approx(sum(a * math.log(a / b) for a, b in zip(pk, qk)), rel=1e-6)
    i1 = Independent(Normal(torch.zeros(2, 3), 1.0), 1)
    i2 = Independent(Normal(torch.zeros(2, 3), 1.0), 2)
    assert kl_method(i1, i1) == "closed form"
    with pytest.raises(ValueError, match=r"different event shapes: \(3,\) and \(2, 3\)"):
        kl_method(i1, i2)


def test_kl_method_is_the_method_used_when_torch_registers_a_pair_it_refuses():
    p = Independent(Normal(torch.zeros(3), torch.ones(3)), 1)
    q = Independent(MultivariateNormal(torch.zeros(3), torch.eye(3)), 0)
    assert kl_method(p, q) == "monte carlo"
    est = kl_distributions(p, q, n=20_000)
    assert isinstance(est, klvae.MeasureResult) and est.method == "monte carlo" and est.n == 20_000
    assert abs(float(est)) < 5 * float(est.stderr) + 1e-3  # the same density: KL = 0
