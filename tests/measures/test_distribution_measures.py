"""The matrix: every measure of every family of distribution objects, against scipy's densities.

Each cell (family × measure) is computed by klvae (closed form, quadrature, summation or Monte
Carlo, as `measure_method` says) and by an independent reference: ``scipy.integrate.quad`` or a
plain sum over scipy.stats densities, written here in NumPy; multivariate families are checked on
their one-dimensional members (a 1-d MultivariateNormal is a Normal, a 2-part Dirichlet a Beta)
so the same reference applies. Monte Carlo answers must lie within 5 standard errors.
"""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
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
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
    OneHotCategorical,
    Poisson,
    StudentT,
    Uniform,
)

import klvae
from klvae import MeasureResult, measure_method

D = torch.float64


def t(*x):
    return torch.tensor(x, dtype=D)


# ------------------------------------------------------------------ families: (p, q) batch of 2, scipy twins


def _normals(a, b):
    return stats.norm(a[0], a[1]), stats.norm(b[0], b[1])


FAMILIES = {
    "Normal": (lambda: (Normal(t(0.0, 0.5), t(1.0, 0.8)), Normal(t(0.3, -0.2), t(1.2, 1.0))),
               lambda i: (stats.norm([0.0, 0.5][i], [1.0, 0.8][i]), stats.norm([0.3, -0.2][i], [1.2, 1.0][i]))),
    "LogNormal": (lambda: (LogNormal(t(0.0, 0.2), t(0.5, 0.6)), LogNormal(t(0.1, 0.0), t(0.6, 0.7))),
                  lambda i: (stats.lognorm([0.5, 0.6][i], scale=math.exp([0.0, 0.2][i])),
                             stats.lognorm([0.6, 0.7][i], scale=math.exp([0.1, 0.0][i])))),
    "Laplace": (lambda: (Laplace(t(0.0, 1.0), t(1.0, 0.7)), Laplace(t(0.5, 0.8), t(1.3, 1.0))),
                lambda i: (stats.laplace([0.0, 1.0][i], [1.0, 0.7][i]), stats.laplace([0.5, 0.8][i], [1.3, 1.0][i]))),
    "Cauchy": (lambda: (Cauchy(t(0.0, 1.0), t(1.0, 0.7)), Cauchy(t(0.5, 0.8), t(1.3, 1.0))),
               lambda i: (stats.cauchy([0.0, 1.0][i], [1.0, 0.7][i]), stats.cauchy([0.5, 0.8][i], [1.3, 1.0][i]))),
    "StudentT": (lambda: (StudentT(t(5.0, 8.0), t(0.0, 0.3), t(1.0, 0.9)), StudentT(t(4.0, 6.0), t(0.2, 0.0), t(1.1, 1.0))),  # noqa: E501
                 lambda i: (stats.t([5.0, 8.0][i], [0.0, 0.3][i], [1.0, 0.9][i]),
                            stats.t([4.0, 6.0][i], [0.2, 0.0][i], [1.1, 1.0][i]))),
    "Exponential": (lambda: (Exponential(t(1.0, 2.0)), Exponential(t(1.3, 1.6))),
                    lambda i: (stats.expon(scale=1 / [1.0, 2.0][i]), stats.expon(scale=1 / [1.3, 1.6][i]))),
    "Gamma": (lambda: (Gamma(t(2.0, 3.0), t(1.0, 2.0)), Gamma(t(2.5, 2.6), t(1.2, 1.7))),
              lambda i: (stats.gamma([2.0, 3.0][i], scale=1 / [1.0, 2.0][i]), stats.gamma([2.5, 2.6][i], scale=1 / [1.2, 1.7][i]))),  # noqa: E501
    "Chi2": (lambda: (Chi2(t(3.0, 5.0)), Chi2(t(4.0, 4.5))),
             lambda i: (stats.chi2([3.0, 5.0][i]), stats.chi2([4.0, 4.5][i]))),
    "Beta": (lambda: (Beta(t(2.0, 3.0), t(3.0, 2.0)), Beta(t(2.5, 2.5), t(2.5, 2.2))),
             lambda i: (stats.beta([2.0, 3.0][i], [3.0, 2.0][i]), stats.beta([2.5, 2.5][i], [2.5, 2.2][i]))),
    "Uniform": (lambda: (Uniform(t(0.0, 0.2), t(1.0, 0.9)), Uniform(t(-0.5, 0.0), t(1.5, 1.0))),
                lambda i: (stats.uniform([0.0, 0.2][i], [1.0, 0.7][i]), stats.uniform([-0.5, 0.0][i], [2.0, 1.0][i]))),
    "Dirichlet": (lambda: (Dirichlet(t([2.0, 3.0], [3.0, 2.0])), Dirichlet(t([2.5, 2.5], [2.5, 2.2]))),
                  lambda i: (stats.beta([2.0, 3.0][i], [3.0, 2.0][i]), stats.beta([2.5, 2.5][i], [2.5, 2.2][i]))),
    "Bernoulli": (lambda: (Bernoulli(t(0.3, 0.6)), Bernoulli(t(0.4, 0.5))),
                  lambda i: (stats.bernoulli([0.3, 0.6][i]), stats.bernoulli([0.4, 0.5][i]))),
    "Binomial": (lambda: (Binomial(t(5.0, 8.0), t(0.3, 0.6)), Binomial(t(5.0, 8.0), t(0.4, 0.5))),
                 lambda i: (stats.binom([5, 8][i], [0.3, 0.6][i]), stats.binom([5, 8][i], [0.4, 0.5][i]))),
    "Geometric": (lambda: (Geometric(t(0.3, 0.6)), Geometric(t(0.4, 0.5))),
                  lambda i: (stats.geom([0.3, 0.6][i], loc=-1), stats.geom([0.4, 0.5][i], loc=-1))),
    "Poisson": (lambda: (Poisson(t(3.0, 10.0)), Poisson(t(4.0, 8.0))),
                lambda i: (stats.poisson([3.0, 10.0][i]), stats.poisson([4.0, 8.0][i]))),
    "Categorical": (lambda: (Categorical(t([0.2, 0.3, 0.5], [0.6, 0.3, 0.1])), Categorical(t([0.3, 0.3, 0.4], [0.5, 0.2, 0.3]))),  # noqa: E501
                    lambda i: ([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]][i], [[0.3, 0.3, 0.4], [0.5, 0.2, 0.3]][i])),
    "OneHotCategorical": (
        lambda: (OneHotCategorical(t([0.2, 0.3, 0.5], [0.6, 0.3, 0.1])), OneHotCategorical(t([0.3, 0.3, 0.4], [0.5, 0.2, 0.3]))),  # noqa: E501
        lambda i: ([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]][i], [[0.3, 0.3, 0.4], [0.5, 0.2, 0.3]][i])),
    "MultivariateNormal": (
        lambda: (MultivariateNormal(t([0.0], [0.5]), t([[1.0]], [[0.64]])), MultivariateNormal(t([0.3], [-0.2]), t([[1.44]], [[1.0]]))),  # noqa: E501
        lambda i: (stats.norm([0.0, 0.5][i], [1.0, 0.8][i]), stats.norm([0.3, -0.2][i], [1.2, 1.0][i]))),
    "LowRankMultivariateNormal": (
        lambda: (LowRankMultivariateNormal(t([0.0], [0.5]), t([[0.6]], [[0.0]]), t([0.64], [0.64])),
                 LowRankMultivariateNormal(t([0.3], [-0.2]), t([[0.0]], [[0.6]]), t([1.44], [0.64]))),
        lambda i: (stats.norm([0.0, 0.5][i], [1.0, 0.8][i]), stats.norm([0.3, -0.2][i], [1.2, 1.0][i]))),
    "Independent": (
        lambda: (Independent(Laplace(t([0.0], [1.0]), t([1.0], [0.7])), 1), Independent(Laplace(t([0.5], [0.8]), t([1.3], [1.0])), 1)),  # noqa: E501
        lambda i: (stats.laplace([0.0, 1.0][i], [1.0, 0.7][i]), stats.laplace([0.5, 0.8][i], [1.3, 1.0][i]))),
    "MixtureSameFamily": (
        lambda: (MixtureSameFamily(Categorical(t([0.3, 0.7], [0.5, 0.5])), Normal(t([-1.0, 1.0], [0.0, 2.0]), t([0.6, 0.8], [1.0, 0.5]))),  # noqa: E501
                 Normal(t(0.3, 0.8), t(1.3, 1.4))),
        lambda i: (_Mix([0.3, 0.5][i], [-1.0, 0.0][i], [0.6, 1.0][i], [0.7, 0.5][i], [1.0, 2.0][i], [0.8, 0.5][i]),
                   stats.norm([0.3, 0.8][i], [1.3, 1.4][i]))),
}  # fmt: skip


class _Mix:
    """A two-component normal mixture with scipy's pdf/logpdf and support methods."""

    def __init__(self, w1, m1, s1, w2, m2, s2):
        self.parts = [(w1, stats.norm(m1, s1)), (w2, stats.norm(m2, s2))]

    def pdf(self, x):
        return sum(w * d.pdf(x) for w, d in self.parts)

    def logpdf(self, x):
        with np.errstate(divide="ignore"):  # −inf far in the tails, as scipy's own logpdf gives
            return np.log(self.pdf(x))

    def support(self):
        return -np.inf, np.inf

    def cuts(self):
        return [c for _, d in self.parts for c in _cuts(d)]


_QUANTILES = (1e-10, 1e-5, 0.01, 0.2, 0.5, 0.8, 0.99, 1 - 1e-5, 1 - 1e-10)


def _cuts(d):
    return d.cuts() if isinstance(d, _Mix) else [float(d.ppf(u)) for u in _QUANTILES]


# ------------------------------------------------------------------ measures and their NumPy reference


def _f1(x):
    return (x - 1) ** 2 / (x + 1)  # triangular discrimination, f′(∞) = 1


def _f2(x):
    return (x**0.5 - 1) ** 2  # 2H², f′(∞) = 1


def _e(x):
    return math.exp(x) if x > -745 else 0.0


def _xlogy_ratio(la, lb):  # p log(p/q) from the log densities
    return _e(la) * (la - lb) if la > -math.inf else 0.0


def _js(a, b):
    m = np.logaddexp(a, b) - math.log(2)
    return 0.5 * (_xlogy_ratio(a, m) + _xlogy_ratio(b, m))


MEASURES = {  # name -> (klvae call, reference integrand g(log p, log q), finish)
    "entropy": (lambda p, q: klvae.entropy(p), lambda a, b: -_e(a) * a if a > -math.inf else 0.0, lambda i: i),
    "cross_entropy": (lambda p, q: klvae.cross_entropy(p, q), lambda a, b: -_e(a) * b if a > -math.inf else 0.0, lambda i: i),  # noqa: E501
    "kl": (klvae.kl_divergence, _xlogy_ratio, lambda i: i),
    "js": (klvae.js_divergence, _js, lambda i: i),
    "hellinger": (klvae.hellinger_distance, lambda a, b: 0.5 * (_e(a / 2) - _e(b / 2)) ** 2, math.sqrt),
    "tv": (klvae.total_variation, lambda a, b: 0.5 * abs(_e(a) - _e(b)), lambda i: i),
    "chi2": (klvae.chi2_divergence, lambda a, b: _e(2 * a - b) - 2 * _e(a) + _e(b), lambda i: i),
    "renyi0.5": (lambda p, q: klvae.renyi_divergence(p, q, 0.5), lambda a, b: _e((a + b) / 2), lambda i: -2 * math.log(i)),  # noqa: E501
    "renyi2": (lambda p, q: klvae.renyi_divergence(p, q, 2.0), lambda a, b: _e(2 * a - b), lambda i: math.log(i)),
    "alpha0.3": (lambda p, q: klvae.alpha_divergence(p, q, 0.3), lambda a, b: _e(0.3 * a + 0.7 * b), lambda i: (1 - i) / 0.21),  # noqa: E501
    "f_triangular": (lambda p, q: klvae.f_divergence(p, q, _f1, f_at_infinity=1.0),
                     lambda a, b: _e(b) * _f1(_e(a - b)) if a - b < 600 else _e(a), lambda i: i),
    "f_hellinger2": (lambda p, q: klvae.f_divergence(p, q, _f2, f_at_infinity=1.0),
                     lambda a, b: _e(b) * _f2(_e(a - b)) if a - b < 600 else _e(a), lambda i: i),
}  # fmt: skip


ARGS = {  # the same measures as distribution_measure names them
    "entropy": ("entropy", {}),
    "cross_entropy": ("cross_entropy", {}),
    "kl": ("kl", {}),
    "js": ("js", {}),
    "hellinger": ("hellinger", {}),
    "tv": ("tv", {}),
    "chi2": ("chi2", {}),
    "renyi0.5": ("renyi", {"alpha": 0.5}),
    "renyi2": ("renyi", {"alpha": 2.0}),
    "alpha0.3": ("alpha", {"alpha": 0.3}),
    "f_triangular": ("f", {"f": _f1, "f_at_infinity": 1.0}),
    "f_hellinger2": ("f", {"f": _f2, "f_at_infinity": 1.0}),
}


def _log_density(d):
    if hasattr(d, "logpmf"):
        return d.logpmf
    return d.logpdf


def _reference(family, measure, i):
    sp, sq = FAMILIES[family][1](i)
    g, finish = MEASURES[measure][1], MEASURES[measure][2]
    if isinstance(sp, list):  # a categorical row
        return finish(sum(g(math.log(a), math.log(b)) for a, b in zip(sp, sq)))
    lp, lq = _log_density(sp), _log_density(sq)
    if hasattr(sp, "pmf"):
        return finish(math.fsum(g(float(lp(k)), float(lq(k))) for k in range(0, 200)))
    lo = min(sp.support()[0], sq.support()[0])
    hi = max(sp.support()[1], sq.support()[1])
    edges = [lo, *sorted({c for d in (sp, sq) for c in _cuts(d) if lo < c < hi}), hi]
    total = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        total += integrate.quad(lambda x: g(float(lp(x)), float(lq(x))), a, b, limit=100, epsabs=1e-13, epsrel=1e-10)[0]
    return finish(total)


CELLS = [(f, m) for f in FAMILIES for m in MEASURES]


@pytest.mark.parametrize(("family", "measure"), CELLS)
def test_cell(family, measure):
    p, q = FAMILIES[family][0]()
    name, kw = ARGS[measure]
    if measure_method(name, p, None if name == "entropy" else q, alpha=kw.get("alpha")) == "monte carlo":
        got = klvae.distribution_measure(name, p, None if name == "entropy" else q, n=20_000, **kw)
    else:
        got = MEASURES[measure][0](p, q)
    want = [_reference(family, measure, i) for i in range(2)]
    assert got.shape == (2,)
    if isinstance(got, MeasureResult) and got.method == "monte carlo":
        for g, w, se in zip(got.tolist(), want, got.stderr.tolist()):
            assert abs(g - w) < 5 * se + 1e-12, (g, w, se)
        return
    if isinstance(got, MeasureResult):
        assert got.method in ("quadrature", "summation") and bool((got.error_bound < 1e-7).all())
    else:
        assert type(got) is torch.Tensor
    np.testing.assert_allclose(got.tolist(), want, rtol=2e-7, atol=1e-10)


def test_the_method_of_each_kind_of_pair():
    n, s = FAMILIES["Normal"][0](), FAMILIES["StudentT"][0]()
    assert measure_method("kl", *n) == "closed form" and measure_method("js", *n) == "quadrature"
    assert measure_method("kl", n[0], s[1]) == "quadrature"
    assert measure_method("hellinger", *FAMILIES["Poisson"][0]()) == "closed form"  # one exponential family
    assert measure_method("tv", *FAMILIES["Poisson"][0]()) == "summation"
    assert measure_method("js", *FAMILIES["Dirichlet"][0]()) == "monte carlo"
    assert measure_method("entropy", FAMILIES["MixtureSameFamily"][0]()[0]) == "quadrature"
    with pytest.raises(ValueError, match="exact=True refuses Monte Carlo"):
        klvae.js_divergence(*FAMILIES["Dirichlet"][0](), exact=True)


def test_the_result_type_behaves_as_a_number_and_a_tensor():
    r = klvae.kl_divergence(Normal(0.0, 1.0), StudentT(3.0))
    assert isinstance(r, MeasureResult) and r.method == "quadrature"
    ref = integrate.quad(lambda x: stats.norm.pdf(x) * (stats.norm.logpdf(x) - stats.t.logpdf(x, 3)), -40, 40)[0]
    assert float(r) == pytest.approx(ref, rel=1e-6) and abs(float(r) - ref) <= float(r.error_bound) + 1e-7
    assert type(r + 1) is torch.Tensor and float(2 * r) == pytest.approx(2 * ref, rel=1e-6)
    assert torch.as_tensor(r).shape == () and float(r.value) == float(r)
    bits = klvae.kl_divergence(Normal(0.0, 1.0), StudentT(3.0), base=2)
    assert float(bits) == pytest.approx(ref / math.log(2), rel=1e-6) and bits.method == "quadrature"
    assert "quadrature" in repr(r)


def test_gradients_are_finite_through_every_method():
    loc = torch.tensor([0.1, 0.4], dtype=D, requires_grad=True)
    for measure, q in [
        ("kl", StudentT(t(4.0, 5.0))),
        ("hellinger", Normal(t(0.0, 1.0), t(1.0, 2.0))),
        ("js", Laplace(t(0.0, 0.0), t(1.0, 1.0))),
    ]:
        out = klvae.distribution_measure(measure, Normal(loc, t(1.0, 1.5)), q)
        (g,) = torch.autograd.grad(out.sum(), loc)
        assert bool(torch.isfinite(g).all()) and bool((g != 0).all()), measure
    # the quadrature gradient is the derivative of the integral: a finite difference agrees
    f = lambda m: float(klvae.kl_divergence(Normal(m, t(1.0)), StudentT(t(4.0))))  # noqa: E731
    loc1 = torch.tensor([0.3], dtype=D, requires_grad=True)
    (g,) = torch.autograd.grad(klvae.kl_divergence(Normal(loc1, t(1.0)), StudentT(t(4.0))).sum(), loc1)
    h = 1e-5
    assert float(g) == pytest.approx((f(t(0.3 + h)) - f(t(0.3 - h))) / (2 * h), rel=1e-5)


def test_independent_components_add_and_multiply():
    p = Independent(StudentT(t(4.0, 5.0), t(0.0, 0.5), t(1.0, 1.0)), 1)
    q = Independent(Normal(t(0.2, 0.0), t(1.0, 1.2)), 1)
    parts = [klvae.distribution_measure("renyi", StudentT(t(df), t(m), t(1.0)), Normal(t(mq), t(sq)), alpha=0.5)
             for df, m, mq, sq in [(4.0, 0.0, 0.2, 1.0), (5.0, 0.5, 0.0, 1.2)]]  # fmt: skip
    d = float(sum(parts))
    h = klvae.hellinger_distance(p, q)
    assert h.method == "quadrature" and float(h) == pytest.approx(math.sqrt(-math.expm1(-d / 2)), rel=1e-9)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="both be discrete or both continuous"):
        klvae.kl_divergence(Poisson(t(2.0)), Gamma(t(2.0), t(1.0)))
    with pytest.raises(ValueError, match="entropy takes one distribution"):
        klvae.distribution_measure("entropy", Normal(0.0, 1.0), Normal(0.0, 1.0))
    with pytest.raises(ValueError, match="measure must be one of"):
        klvae.distribution_measure("wasserstein", Normal(0.0, 1.0), Normal(0.0, 1.0))
    with pytest.raises(ValueError, match="alpha = inf is taken in closed form only"):
        klvae.renyi_divergence(Laplace(0.0, 1.0), Laplace(0.0, 2.0), math.inf)


def test_an_empty_batch_gives_an_empty_answer_for_every_family_and_measure():
    # every family expanded to batch (0, 2): KL, entropy and the other measures give shape (0, 2)
    for name, (make, _) in FAMILIES.items():
        p, q = (d.expand(torch.Size([0, 2])) for d in make())
        assert tuple(klvae.kl_divergence(p, q).shape) == (0, 2), name
        assert tuple(klvae.entropy(p).shape) == (0, 2), name
        for measure in ("js", "hellinger", "tv"):
            assert tuple(klvae.distribution_measure(measure, p, q).shape) == (0, 2), (name, measure)
    m = torch.zeros(0, dtype=D, requires_grad=True)  # with a gradient asked for, likewise
    got = klvae.kl_divergence(Normal(m, 1.0), Normal(0.0, 2.0))
    assert got.shape == (0,) and got.dtype == D
