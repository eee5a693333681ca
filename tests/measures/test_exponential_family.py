"""klvae.measures.exponential_family and pairwise_forms: the Rényi family against mpmath, near p = q too."""

import math

import mpmath
import pytest
import torch
from torch.distributions import (
    Bernoulli,
    Beta,
    Categorical,
    Dirichlet,
    Exponential,
    Gamma,
    Geometric,
    Laplace,
    LowRankMultivariateNormal,
    MultivariateNormal,
    Normal,
    Poisson,
    Uniform,
)

import klvae
from klvae.measures.exponential_family import renyi_exponential_family
from klvae.measures.pairwise_forms import renyi_closed

mpmath.mp.dps = 40
D = torch.float64


def t(x):
    return torch.tensor(x, dtype=D)


def mp_renyi_density(logp, logq, lo, hi, alpha):
    """D_α by mpmath quadrature of exp(α log p + (1 − α) log q)."""
    i = mpmath.quad(
        lambda x: mpmath.exp(alpha * logp(x) + (1 - alpha) * logq(x)), [lo, 0, 1, hi] if lo < 0 else [lo, 1, hi]
    )
    return float(mpmath.log(i) / (alpha - 1))


def mp_renyi_mass(logp, logq, alpha, top=400):
    i = mpmath.fsum(mpmath.exp(alpha * logp(k) + (1 - alpha) * logq(k)) for k in range(top))
    return float(mpmath.log(i) / (alpha - 1))


def gamma_log(a, b):
    return lambda x: a * mpmath.log(b) - mpmath.loggamma(a) + (a - 1) * mpmath.log(x) - b * x


def beta_log(a, b):
    return lambda x: (a - 1) * mpmath.log(x) + (b - 1) * mpmath.log(1 - x) - mpmath.log(mpmath.beta(a, b))


def poisson_log(r):
    return lambda k: k * mpmath.log(r) - r - mpmath.loggamma(k + 1)


def geometric_log(p):
    return lambda k: k * mpmath.log(1 - p) + mpmath.log(p)


CASES = [  # (p, q, mpmath reference of D_α)
    (Gamma(t(2.0), t(1.0)), Gamma(t(3.0), t(1.5)), lambda a: mp_renyi_density(gamma_log(2, 1), gamma_log(3, 1.5), 0, mpmath.inf, a)),  # noqa: E501
    (Exponential(t(1.0)), Exponential(t(1.4)), lambda a: mp_renyi_density(gamma_log(1, 1), gamma_log(1, 1.4), 0, mpmath.inf, a)),  # noqa: E501
    (Beta(t(2.0), t(3.0)), Beta(t(1.5), t(2.0)), lambda a: mp_renyi_density(beta_log(2, 3), beta_log(1.5, 2), 0, 1, a)),
    (Dirichlet(t([2.0, 3.0])), Dirichlet(t([1.5, 2.0])), lambda a: mp_renyi_density(beta_log(2, 3), beta_log(1.5, 2), 0, 1, a)),  # noqa: E501
    (Poisson(t(3.0)), Poisson(t(5.0)), lambda a: mp_renyi_mass(poisson_log(3), poisson_log(5), a)),
    (Geometric(t(0.3)), Geometric(t(0.5)), lambda a: mp_renyi_mass(geometric_log(0.3), geometric_log(0.5), a, 5000)),
    (Bernoulli(t(0.3)), Bernoulli(t(0.6)), lambda a: mp_renyi_mass(lambda k: mpmath.log([0.7, 0.3][k]), lambda k: mpmath.log([0.4, 0.6][k]), a, 2)),  # noqa: E501
    (Categorical(t([0.2, 0.3, 0.5])), Categorical(t([0.4, 0.4, 0.2])),
     lambda a: mp_renyi_mass(lambda k: mpmath.log([0.2, 0.3, 0.5][k]), lambda k: mpmath.log([0.4, 0.4, 0.2][k]), a, 3)),
    (Normal(t(0.3), t(1.2)), Laplace(t(0.0), t(1.0)),
     lambda a: mp_renyi_density(lambda x: -0.5 * ((x - 0.3) / 1.2) ** 2 - mpmath.log(1.2 * mpmath.sqrt(2 * mpmath.pi)),
                                lambda x: -abs(x) - mpmath.log(2), -mpmath.inf, mpmath.inf, a)),
    (Laplace(t(0.0), t(1.0)), Normal(t(0.3), t(1.2)),
     lambda a: mp_renyi_density(lambda x: -abs(x) - mpmath.log(2),
                                lambda x: -0.5 * ((x - 0.3) / 1.2) ** 2 - mpmath.log(1.2 * mpmath.sqrt(2 * mpmath.pi)), -mpmath.inf, mpmath.inf, a)),  # noqa: E501
    (Uniform(t(0.0), t(1.0)), Uniform(t(-0.5), t(2.0)), lambda a: float(mpmath.log(2.5 ** (a - 1)) / (a - 1))),
]  # fmt: skip


@pytest.mark.parametrize("alpha", [0.3, 0.5, 2.0])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_renyi_closed_forms_against_mpmath(case, alpha):
    p, q, ref = CASES[case]
    if isinstance(p, Laplace) and alpha > 1:  # ∫ Laplace^α Normal^{1−α} diverges
        assert float(renyi_closed(p, q, alpha)) == math.inf
        return
    assert float(renyi_closed(p, q, alpha)) == pytest.approx(ref(alpha), rel=1e-10)
    assert klvae.measure_method("renyi", p, q, alpha=alpha) == "closed form"


def _mp_gamma_renyi(a1, b1, a2, b2, alpha):
    """D_α from the log-normaliser A(a, b) = log Γ(a) − a log b, in 40 digits."""
    A = lambda a, b: mpmath.loggamma(a) - a * mpmath.log(b)  # noqa: E731
    am, bm = alpha * a1 + (1 - alpha) * a2, alpha * b1 + (1 - alpha) * b2
    return (A(am, bm) - alpha * A(a1, b1) - (1 - alpha) * A(a2, b2)) / (alpha - 1)


@pytest.mark.parametrize("alpha", [0.1, 0.5, 0.999, 1.0, 1.001, 2.0])
def test_nearly_equal_members_keep_their_digits(alpha):
    b2 = mpmath.mpf(2) * (1 + mpmath.mpf("1e-9"))
    p, q = Gamma(t(3.0), t(2.0)), Gamma(t(3.0), t(float(b2)))
    if alpha == 1:
        x = b2 / 2 - 1
        want = 3 * (x - mpmath.log1p(x))  # KL(Gamma(a, b)‖Gamma(a, b(1 + x)))
    else:
        want = _mp_gamma_renyi(3, 2, 3, mpmath.mpf(float(b2)), alpha)
    got = float(renyi_exponential_family(p, q, alpha))
    assert got == pytest.approx(float(want), rel=1e-6)
    if alpha == 1:  # torch's Bregman form of the same KL has lost every digit
        naive = float(torch.distributions.kl_divergence(p, q))
        assert abs(naive - float(want)) > 1e-3 * float(want)


def test_outside_the_natural_space_is_infinite():
    assert float(klvae.renyi_divergence(Exponential(t(1.0)), Exponential(t(3.0)), 2.0)) == math.inf
    assert float(klvae.chi2_divergence(Exponential(t(1.0)), Exponential(t(3.0)))) == math.inf
    assert float(klvae.chi2_divergence(Exponential(t(1.0)), Exponential(t(1.5)))) == pytest.approx(
        1 / 0.75 - 1, rel=1e-14
    )


def test_derived_measures_and_low_rank_gaussians():
    p, q = Poisson(t(3.0)), Poisson(t(5.0))
    d = mp_renyi_mass(poisson_log(3), poisson_log(5), 0.5)
    assert float(klvae.bhattacharyya_distance(p, q)) == pytest.approx(d / 2, rel=1e-12)
    assert float(klvae.hellinger_distance(p, q)) == pytest.approx(math.sqrt(-math.expm1(-d / 2)), rel=1e-12)
    loc, f, dg = t([0.0, 1.0]), t([[0.5], [0.2]]), t([1.0, 0.5])
    low = LowRankMultivariateNormal(loc, f, dg)
    full = MultivariateNormal(loc, covariance_matrix=f @ f.T + torch.diag(dg))
    other = MultivariateNormal(t([0.3, 0.0]), covariance_matrix=t([[1.0, 0.2], [0.2, 1.5]]))
    for alpha in (0.5, 2.0):
        assert float(klvae.renyi_divergence(low, other, alpha)) == pytest.approx(
            float(klvae.renyi_divergence(full, other, alpha)), rel=1e-13
        )
    assert klvae.measure_method("hellinger", low, other) == "closed form"
    entropy = klvae.entropy(Beta(t(2.0), t(3.0)))
    want = mpmath.quad(lambda x: -mpmath.exp(beta_log(2, 3)(x)) * beta_log(2, 3)(x), [0, 1])
    assert float(entropy) == pytest.approx(float(want), rel=1e-12)
    ce = klvae.cross_entropy(Dirichlet(t([2.0, 3.0])), Dirichlet(t([1.5, 2.0])))
    want = mpmath.quad(lambda x: -mpmath.exp(beta_log(2, 3)(x)) * beta_log(1.5, 2)(x), [0, 1])
    assert float(ce) == pytest.approx(float(want), rel=1e-12)


def test_gradients_of_the_closed_forms_are_finite():
    rate = t([1.0, 2.0]).requires_grad_()
    for measure in ("renyi", "hellinger", "chi2", "alpha"):
        out = klvae.distribution_measure(measure, Gamma(t(2.0), rate), Gamma(t(2.5), t(1.5)), alpha=0.7)
        (g,) = torch.autograd.grad(out.sum(), rate)
        assert bool(torch.isfinite(g).all()), measure
