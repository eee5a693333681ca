"""Builders of test data and the textbook formulas that several measure tests compare against."""

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import integrate, optimize, spatial, stats

__all__ = [
    "prob_rows",
    "rows",
    "rel_err",
    "seeds_kl_gaussian_multivariate",
    "mix_logpdf",
    "ref_reverse_kl",
    "ref_forward_kl",
    "ref_reverse_fit",
    "ref_symmetric_fit",
    "direct_mmd2",
]


def prob_rows(k_min=2, k_max=8, zeros=True):
    @st.composite
    def build(draw):
        k = draw(st.integers(k_min, k_max))
        w = draw(arrays(np.float64, (2, k), elements=st.floats(0.0 if zeros else 1e-3, 1.0)))
        w[:, 0] += 1e-3
        return w / w.sum(-1, keepdims=True)

    return build()


def rows(rng, shape, zeros=False):
    x = rng.gamma(0.7, size=shape)
    if zeros:
        x[rng.random(shape) < 0.2] = 0.0
        x[..., 0] += 0.1  # no all-zero row
    return x / x.sum(-1, keepdims=True)


def rel_err(got, want):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    return np.max(np.abs(got - want) / np.abs(want))


def seeds_kl_gaussian_multivariate(mu1, cov1, mu2, cov2):
    """Seed 001 §9, word for word: an inverse and two determinants."""
    d = len(mu1)
    cov2_inv = np.linalg.inv(cov2)
    term1 = np.log(np.linalg.det(cov2) / np.linalg.det(cov1))
    term2 = np.trace(cov2_inv @ cov1)
    diff = mu2 - mu1
    term3 = diff.T @ cov2_inv @ diff
    return 0.5 * (term1 - d + term2 + term3)


# ----------------------------------------------------------------- Gaussian fits to ½N(−d, 1) + ½N(d, 1), by scipy


def mix_logpdf(x, d, s=1.0):
    return np.logaddexp(np.log(0.5) + stats.norm.logpdf(x, -d, s), np.log(0.5) + stats.norm.logpdf(x, d, s))


def ref_reverse_kl(m, sd, d):
    """KL(N(m, sd²) ‖ ½N(−d,1)+½N(d,1)) by scipy quad."""
    f = lambda x: stats.norm.pdf(x, m, sd) * (stats.norm.logpdf(x, m, sd) - mix_logpdf(x, d))  # noqa: E731
    return integrate.quad(f, m - 14 * sd, m + 14 * sd, limit=200, epsabs=1e-13)[0]


def ref_forward_kl(m, sd, d):
    f = lambda x: np.exp(mix_logpdf(x, d)) * (mix_logpdf(x, d) - stats.norm.logpdf(x, m, sd))  # noqa: E731
    return integrate.quad(f, -d - 14, d + 14, points=sorted({-d, d, m}), limit=400, epsabs=1e-13)[0]


_EPS = np.linspace(-12, 12, 4801)  # trapezoid rule in ε: exponentially accurate for these integrands
_PHI = stats.norm.pdf(_EPS) * (_EPS[1] - _EPS[0])


def ref_reverse_kl_fast(m, sd, d):
    """The same KL as ref_reverse_kl, vectorized: −H(q) − E_q[log p] by the trapezoid rule in ε."""
    return -0.5 * math.log(2 * math.pi * math.e * sd * sd) - float(_PHI @ mix_logpdf(m + sd * _EPS, d))


def ref_reverse_fit(d, mean0, std0):
    res = optimize.minimize(
        lambda t: ref_reverse_kl_fast(t[0], math.exp(t[1]), d),
        [mean0, math.log(std0)],
        method="Nelder-Mead",
        options=dict(xatol=1e-8, fatol=1e-13, maxiter=4000),
    )
    m, sd = res.x[0], math.exp(res.x[1])
    return m, sd, ref_reverse_kl(m, sd, d)


def ref_symmetric_fit(d):
    res = optimize.minimize_scalar(lambda ls: ref_reverse_kl_fast(0.0, math.exp(ls), d), bracket=(0.0, 1.0), tol=1e-10)
    sd = math.exp(res.x)
    return sd, ref_reverse_kl(0.0, sd, d)


# ------------------------------------------------------------------ gradient estimators' references

MU, SIGMA = 1.0, 1.0

# f, f' written out in NumPy, independent of the library's torch versions
NUMPY_COSTS = {
    "x^2": (lambda x: x**2, lambda x: 2 * x),
    "exp(-10x^2)": (lambda x: np.exp(-10 * x**2), lambda x: -20 * x * np.exp(-10 * x**2)),
    "cos(5x)": (lambda x: np.cos(5 * x), lambda x: -5 * np.sin(5 * x)),
}


def quad_var(g, mu=MU, sigma=SIGMA):
    """Var over ε ~ N(0,1) of g(ε) by scipy quad."""
    m1 = integrate.quad(lambda e: g(e) * stats.norm.pdf(e), -14, 14, limit=400)[0]
    m2 = integrate.quad(lambda e: g(e) ** 2 * stats.norm.pdf(e), -14, 14, limit=400)[0]
    return m2 - m1**2


def ref_variances(name, mu=MU, sigma=SIGMA):
    """Per-sample variances {estimator: (∂μ, ∂σ)} of the pathwise and score estimators."""
    f, df = NUMPY_COSTS[name]
    x = lambda e: mu + sigma * e  # noqa: E731
    return {
        "pathwise": (quad_var(lambda e: df(x(e))), quad_var(lambda e: df(x(e)) * e)),
        "score": (quad_var(lambda e: f(x(e)) * e / sigma), quad_var(lambda e: f(x(e)) * (e * e - 1) / sigma)),
    }


def direct_mmd2(x, y, sigma, biased=False):
    """MMD² with the Gaussian kernel from the full Gram matrices (scipy distances): U- or V-statistic."""

    def gram(a, b):
        return np.exp(-spatial.distance.cdist(a, b, "sqeuclidean") / (2 * sigma**2))

    m, n = len(x), len(y)
    kxx, kyy, kxy = gram(x, x), gram(y, y), gram(x, y)
    if biased:
        return kxx.mean() + kyy.mean() - 2 * kxy.mean()
    return (kxx.sum() - m) / (m * (m - 1)) + (kyy.sum() - n) / (n * (n - 1)) - 2 * kxy.mean()
