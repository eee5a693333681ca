"""klvae.measures.distributions: closed forms against torch, mpmath where torch cancels, and Monte Carlo."""

import math

import mpmath
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import (
    Bernoulli,
    Beta,
    Binomial,
    Categorical,
    Cauchy,
    Chi2,
    Dirichlet,
    Exponential,
    Gamma,
    Geometric,
    Independent,
    Laplace,
    LogNormal,
    LowRankMultivariateNormal,
    MultivariateNormal,
    Normal,
    OneHotCategorical,
    Poisson,
    Uniform,
)

import klvae
from klvae.measures import kl_distributions, kl_method
from klvae.measures.distributions import CLOSED_FORMS
from klvae.measures.monte_carlo import check_closed_form

mpmath.mp.dps = 50
D = torch.float64
G = torch.Generator().manual_seed(0)


def pos(*shape, low=0.2, high=3.0):
    return low + (high - low) * torch.rand(shape, generator=G, dtype=D)


def unit(*shape):
    return 0.05 + 0.9 * torch.rand(shape, generator=G, dtype=D)


def randn(*shape):
    return torch.randn(shape, generator=G, dtype=D)


def spd(*shape, d):
    a = randn(*shape, d, d)
    return a @ a.mT / d + 0.5 * torch.eye(d, dtype=D)


# p with batch (3, 1), q with batch (4,): the result broadcasts to (3, 4), as in torch
PAIRS = {
    "normal": lambda s: Normal(randn(*s), pos(*s)),
    "mvn": lambda s: MultivariateNormal(randn(*s, 3), spd(*s, d=3)),
    "lowrank": lambda s: LowRankMultivariateNormal(randn(*s, 5), randn(*s, 5, 2), pos(*s, 5)),
    "independent": lambda s: Independent(Normal(randn(*s, 4), pos(*s, 4)), 1),
    "bernoulli": lambda s: Bernoulli(unit(*s)),
    "bernoulli-logits": lambda s: Bernoulli(logits=randn(*s) * 3),
    "categorical": lambda s: Categorical(torch.distributions.Dirichlet(torch.ones(6, dtype=D)).sample(s)),
    "onehot": lambda s: OneHotCategorical(logits=randn(*s, 6)),
    "binomial": lambda s: Binomial(7, unit(*s)),
    "geometric": lambda s: Geometric(unit(*s)),
    "poisson": lambda s: Poisson(pos(*s)),
    "exponential": lambda s: Exponential(pos(*s)),
    "gamma": lambda s: Gamma(pos(*s), pos(*s)),
    "beta": lambda s: Beta(pos(*s), pos(*s)),
    "dirichlet": lambda s: Dirichlet(pos(*s, 5)),
    "laplace": lambda s: Laplace(randn(*s), pos(*s)),
    "lognormal": lambda s: LogNormal(randn(*s), pos(*s)),
    "cauchy": lambda s: Cauchy(randn(*s), pos(*s)),
    "chi2": lambda s: Chi2(pos(*s, high=9.0)),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_closed_forms_match_torch_and_broadcast(name):
    p, q = PAIRS[name]((3, 1)), PAIRS[name]((4,))
    assert kl_method(p, q) == "closed form"
    got = klvae.kl_divergence(p, q)
    want = torch.distributions.kl_divergence(p.expand((3, 4)), q.expand((3, 4)))  # torch's Bernoulli does not broadcast
    assert got.shape == want.shape == (3, 4)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert (kl_distributions(p, p) == 0).all() or name in ("lowrank",)  # KL(p, p) = 0 exactly
    assert (kl_distributions(p, p).abs() < 1e-12).all()


def test_uniform_including_the_infinite_case():
    p, q = Uniform(torch.tensor([0.0, -1.0], dtype=D), 1.0), Uniform(torch.tensor(-0.5, dtype=D), 2.0)
    torch.testing.assert_close(klvae.kl_divergence(p, q), torch.tensor([math.log(2.5), math.inf], dtype=D))


@pytest.mark.parametrize("name", ["normal", "gamma", "beta", "laplace", "poisson", "dirichlet", "bernoulli"])
def test_closed_forms_within_monte_carlo_error(name):
    p, q = PAIRS[name](()), PAIRS[name](())
    assert abs(float(check_closed_form(klvae.kl_divergence(p, q), p, q, 40_000))) < 5


# --------------------------------------------------------------- mpmath, where torch cancels


def mp_lbeta(*a):
    return sum(mpmath.loggamma(x) for x in a) - mpmath.loggamma(sum(a))


def mp_dirichlet(a, b):
    a, b = [mpmath.mpf(x) for x in a], [mpmath.mpf(x) for x in b]
    a0 = sum(a)
    return mp_lbeta(*b) - mp_lbeta(*a) + sum((x - y) * (mpmath.digamma(x) - mpmath.digamma(a0)) for x, y in zip(a, b))


def mp_gamma(a1, b1, a2, b2):
    a1, b1, a2, b2 = (mpmath.mpf(x) for x in (a1, b1, a2, b2))
    return (
        (a1 - a2) * mpmath.digamma(a1)
        - mpmath.loggamma(a1)
        + mpmath.loggamma(a2)
        + a2 * (mpmath.log(b1) - mpmath.log(b2))
        + a1 * (b2 - b1) / b1
    )


def errors(p, q, want):
    ours = float(kl_distributions(p, q))
    theirs = float(torch.distributions.kl_divergence(p, q))
    return abs(ours - want) / want, abs(theirs - want) / want


@pytest.mark.parametrize("a, b", [(3.0, 2.0), (0.3, 0.7), (50.0, 1e3)])
@pytest.mark.parametrize("rel", [1e-8, 1e-4, 0.3])
def test_beta_near_equal_against_mpmath(a, b, rel):
    a2 = a * (1 + rel)
    want = float(mp_dirichlet([a, b], [a2, b]))
    ours, theirs = errors(
        Beta(torch.tensor(a, dtype=D), torch.tensor(b, dtype=D)),
        Beta(torch.tensor(a2, dtype=D), torch.tensor(b, dtype=D)),
        want,
    )
    assert ours <= 1e-12 and (ours <= theirs or ours <= 2e-14)  # far from equal both are at rounding level


@pytest.mark.parametrize("rel", [1e-9, 1e-5, 0.2])
def test_gamma_near_equal_rates_and_shapes_against_mpmath(rel):
    for a1, b1, a2, b2 in [
        (2.0, 3.0, 2.0, 3.0 * (1 + rel)),
        (0.5, 1.0, 0.5 * (1 + rel), 1.0),
        (40.0, 0.1, 40.0 * (1 - rel), 0.1 * (1 + rel)),
    ]:
        want = float(mp_gamma(a1, b1, a2, b2))
        ours, theirs = errors(
            Gamma(torch.tensor(a1, dtype=D), torch.tensor(b1, dtype=D)),
            Gamma(torch.tensor(a2, dtype=D), torch.tensor(b2, dtype=D)),
            want,
        )
        assert ours <= 1e-11 and (ours <= theirs or ours <= 5e-15)


@pytest.mark.parametrize("rel", [1e-6, 1e-2, 1.0])
def test_dirichlet_k1000_against_mpmath(rel):
    g = torch.Generator().manual_seed(7)
    a = 0.1 + 5 * torch.rand(1000, generator=g, dtype=D)
    b = a * (1 + rel * torch.rand(1000, generator=g, dtype=D))
    want = float(mp_dirichlet(a.tolist(), b.tolist()))
    ours, theirs = errors(Dirichlet(a), Dirichlet(b), want)
    assert ours <= 1e-11 and (ours <= theirs or ours <= 5e-15)


def test_rate_families_near_equal_against_mpmath():
    r, s = 2.0, 2.0 * (1 + 1e-9)
    mr, ms = mpmath.mpf(r), mpmath.mpf(s)
    cases = [
        (
            Exponential(torch.tensor(r, dtype=D)),
            Exponential(torch.tensor(s, dtype=D)),
            mpmath.log(mr / ms) + ms / mr - 1,
        ),
        (Poisson(torch.tensor(r, dtype=D)), Poisson(torch.tensor(s, dtype=D)), mr * mpmath.log(mr / ms) - mr + ms),
        (
            Laplace(torch.tensor(0.0, dtype=D), torch.tensor(r, dtype=D)),
            Laplace(torch.tensor(1e-9, dtype=D), torch.tensor(s, dtype=D)),
            mpmath.log(ms / mr) + mpmath.mpf(1e-9) / ms + mr / ms * mpmath.exp(-mpmath.mpf(1e-9) / mr) - 1,
        ),
    ]
    p, q = mpmath.mpf(0.3), mpmath.mpf(0.3) * (1 + mpmath.mpf(1e-9))
    q = mpmath.mpf(float(q))
    cases.append(
        (
            Bernoulli(torch.tensor(0.3, dtype=D)),
            Bernoulli(torch.tensor(float(q), dtype=D)),
            p * mpmath.log(p / q) + (1 - p) * mpmath.log((1 - p) / (1 - q)),
        )
    )
    for p_, q_, want in cases:
        ours, theirs = errors(p_, q_, float(want))
        assert ours <= 1e-9 and ours <= theirs, type(p_).__name__


@pytest.mark.parametrize("rel", [1e-9, 1e-4, 0.5])
def test_cauchy_near_equal_against_mpmath(rel):
    # log1p(((γ₁ − γ₂)² + Δ²)/(4γ₁γ₂)): every digit where torch's difference of logarithms has none
    m1, g1, m2, g2 = 0.3, 1.7, 0.3 + rel, 1.7 * (1 + rel)
    with mpmath.workdps(50):
        a, b, c, d = (mpmath.mpf(x) for x in (m1, g1, m2, g2))
        want = float(mpmath.log(((b + d) ** 2 + (a - c) ** 2) / (4 * b * d)))
    ours, theirs = errors(
        *(Cauchy(torch.tensor(m, dtype=D), torch.tensor(g, dtype=D)) for m, g in ((m1, g1), (m2, g2))), want
    )
    assert ours <= 1e-14 and ours <= theirs


def test_bernoulli_from_logits_keeps_one_minus_p():
    lp, lq = torch.tensor(40.0, dtype=D), torch.tensor(41.0, dtype=D)  # p = 1 − 4e-18: 1 − p is not 0
    p, q = 1 / (1 + mpmath.exp(-40)), 1 / (1 + mpmath.exp(-41))
    want = float(p * mpmath.log(p / q) + (1 - p) * mpmath.log((1 - p) / (1 - q)))
    got = float(kl_distributions(Bernoulli(logits=lp), Bernoulli(logits=lq)))
    assert got == pytest.approx(want, rel=1e-12)


# --------------------------------------------------------------- dispatch


def test_mismatched_event_shapes_are_refused_before_any_sampling():
    p, q = Normal(torch.zeros(2), 1.0), MultivariateNormal(torch.zeros(2), torch.eye(2))
    with pytest.raises(ValueError, match=r"different event shapes: \(\) and \(2,\)"):
        klvae.kl_divergence(p, q)
    with pytest.raises(ValueError, match="batch shapes do not broadcast"):
        klvae.kl_divergence(Normal(torch.zeros(2), 1.0), Normal(torch.zeros(3), 1.0))


def test_every_registered_pair_is_tested():
    names = {t.__name__ for pair in CLOSED_FORMS for t in pair}
    assert names == {
        "Normal",
        "LogNormal",
        "Cauchy",
        "Chi2",
        "MultivariateNormal",
        "LowRankMultivariateNormal",
        "Independent",
        "Bernoulli",
        "Binomial",
        "Geometric",
        "Categorical",
        "OneHotCategorical",
        "Poisson",
        "Exponential",
        "Gamma",
        "Beta",
        "Dirichlet",
        "Laplace",
        "Uniform",
    }


def test_gradients_flow_through_the_closed_forms():
    a = torch.tensor([2.0, 0.5], dtype=D, requires_grad=True)
    b = torch.tensor([1.5, 0.7], dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: kl_distributions(Beta(x, y), Beta(y, x)), (a, b))
    assert torch.autograd.gradcheck(lambda x, y: kl_distributions(Gamma(x, y), Gamma(y, x)), (a, b))
    assert torch.autograd.gradcheck(lambda x, y: kl_distributions(Dirichlet(x), Dirichlet(y)), (a, b))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.05, 50.0), min_size=4, max_size=4))
def test_kl_is_nonnegative_and_zero_only_at_equality(params):
    a1, b1, a2, b2 = (torch.tensor(v, dtype=D) for v in params)
    for p, q in (
        (Beta(a1, b1), Beta(a2, b2)),
        (Gamma(a1, b1), Gamma(a2, b2)),
        (Laplace(a1, b1), Laplace(a2, b2)),
        (Dirichlet(torch.stack([a1, b1])), Dirichlet(torch.stack([a2, b2]))),
    ):
        kl = float(kl_distributions(p, q))
        assert kl >= 0
        assert (kl == 0) == bool((torch.stack([a1, b1]) == torch.stack([a2, b2])).all())
        assert float(kl_distributions(p, p)) == 0.0


# --------------------------------------------------------------- batches on the CPU (the NumPy closed forms)


def _relative_errors(got, want):
    return [abs(g - w) / w if w else abs(g) for g, w in zip(got.tolist(), want)]


def _spread(n, low, high):
    """n values whose logarithms spread evenly over [log low, log high], alternating in sign."""
    mags = torch.logspace(math.log10(low), math.log10(high), n, dtype=D)
    return mags * torch.tensor([(-1) ** i for i in range(n)], dtype=D)


def test_batched_normal_and_laplace_kls_against_mpmath_where_one_part_is_near():
    # the ratio part near 1 (its series) while the mean part is small, large or 0: the series is
    # taken where the whole is small and the direct form elsewhere, each to its stated bound
    n = 600
    rel_scale, shift = _spread(n, 1e-12, 0.3), _spread(n, 1e-9, 2.0).flip(0)
    m1, s1 = torch.zeros(n, dtype=D), torch.full((n,), 1.3, dtype=D)
    m2, s2 = m1 + shift, s1 * (1 + rel_scale)
    m2[::7] = 0.0  # the mean part exactly 0 on some pairs
    for family, want_of in (
        (Normal, lambda a, b, c, d: mpmath.log(d / b) + (b**2 + (a - c) ** 2) / (2 * d**2) - mpmath.mpf(1) / 2),
        (Laplace, lambda a, b, c, d: mpmath.log(d / b) + abs(a - c) / d + b / d * mpmath.exp(-abs(a - c) / b) - 1),
    ):
        got = kl_distributions(family(m1, s1), family(m2, s2))
        want = [float(want_of(*(mpmath.mpf(float(v[i])) for v in (m1, s1, m2, s2)))) for i in range(n)]
        assert max(_relative_errors(got, want)) < 2e-13, family.__name__


def test_normal_kl_gradient_exact_near_equal_scales_against_mpmath():
    # ∂KL/∂σ₁ = (r² − 1)/σ₁ from u = (σ₁ − σ₂)/σ₂: exact where torch's autograd subtracts
    s2 = 1.3
    for rel in (1e-12, 1e-8, 1e-4):
        s1 = torch.tensor(s2 * (1 + rel), dtype=D, requires_grad=True)
        m = torch.zeros((), dtype=D)
        (grad,) = torch.autograd.grad(klvae.kl_divergence(Normal(m, s1), Normal(m, torch.tensor(s2, dtype=D))), s1)
        x, y = mpmath.mpf(float(s1)), mpmath.mpf(s2)
        want = float(((x / y) ** 2 - 1) / x)
        assert float(grad) == pytest.approx(want, rel=1e-13)


@pytest.mark.parametrize(
    "lo1, hi1, lo2, hi2",
    [
        (0.0, 1.0, -1e-10, 1.0),
        (0.1, 0.7, 0.1 - 3e-13, 0.7 + 1e-12),
        (-5.0, 3.0, -5.0, 3.0 + 1e-9),
        (0.0, 5e-300, 0.0, 1e300),
    ],
)
def test_uniform_kl_from_the_gaps_between_the_ends_against_mpmath(lo1, hi1, lo2, hi2):
    # log1p((hi₂ − hi₁ + lo₁ − lo₂)/w₁): exact where the supports nearly agree, where torch's
    # ratio of rounded widths is off by 8e-8 (first case), and finite where the ratio overflows
    with mpmath.workdps(50):
        want = float(mpmath.log((mpmath.mpf(hi2) - mpmath.mpf(lo2)) / (mpmath.mpf(hi1) - mpmath.mpf(lo1))))
    for shape in ((), (3,)):
        p = Uniform(torch.full(shape, lo1, dtype=D), torch.full(shape, hi1, dtype=D))
        q = Uniform(torch.full(shape, lo2, dtype=D), torch.full(shape, hi2, dtype=D))
        got = kl_distributions(p, q).reshape(-1)
        assert float(got[0]) == pytest.approx(want, rel=4e-16)
