"""The matrix of measures × families of distribution objects: method, accuracy, and speed against torch.

For each of 21 families and 12 measures: the method klvae takes (`klvae.measure_method`), the
largest relative error over 4 random pairs against scipy (``scipy.integrate.quad`` or a sum over
scipy.stats densities; multivariate families through their 1-D members), and, where torch has the
measure for the pair (KL and entropy), the time per batch of 4096 pairs for torch and klvae.

    .venv/bin/python benchmarks/bench_distributions.py [--batch 4096] [--pairs 4] [--speed-only | --grad]

With ``--grad`` the parameters require a gradient and each timed call is the value and the
backward pass of its sum.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
import torch
from scipy import integrate, stats
from torch import distributions as td

import klvae

D = torch.float64


def _u(g, n, lo, hi):
    return lo + (hi - lo) * torch.rand(n, generator=g, dtype=D)


def families(n, seed=0, grad=False):
    """name -> (p, q, scipy twins of element i); parameters drawn so every measure is finite;
    with `grad`, every parameter drawn is a leaf that requires a gradient."""
    g = torch.Generator().manual_seed(seed)
    if grad:
        draw = _u
        _u_ = lambda g, n, lo, hi: draw(g, n, lo, hi).requires_grad_()  # noqa: E731
    else:
        _u_ = _u
    m1, m2, s1, s2 = _u_(g, n, -0.5, 0.5), _u_(g, n, -0.5, 0.5), _u_(g, n, 0.8, 1.2), _u_(g, n, 0.9, 1.3)
    a1, a2, b1, b2 = _u_(g, n, 2.0, 3.0), _u_(g, n, 2.0, 3.0), _u_(g, n, 1.5, 2.5), _u_(g, n, 1.5, 2.5)
    r1, r2, pr1, pr2 = _u_(g, n, 2.0, 8.0), _u_(g, n, 2.0, 8.0), _u_(g, n, 0.3, 0.6), _u_(g, n, 0.3, 0.6)
    c1 = torch.softmax(torch.randn(n, 3, generator=g, dtype=D) * 0.5, -1)
    c2 = torch.softmax(torch.randn(n, 3, generator=g, dtype=D) * 0.5, -1)
    f = {
        "Normal": (td.Normal(m1, s1), td.Normal(m2, s2), lambda i: (stats.norm(m1[i], s1[i]), stats.norm(m2[i], s2[i]))),  # noqa: E501
        "LogNormal": (td.LogNormal(m1, s1 / 2), td.LogNormal(m2, s2 / 2),
                      lambda i: (stats.lognorm(s1[i] / 2, scale=math.exp(m1[i])), stats.lognorm(s2[i] / 2, scale=math.exp(m2[i])))),  # noqa: E501
        "Laplace": (td.Laplace(m1, s1), td.Laplace(m2, s2), lambda i: (stats.laplace(m1[i], s1[i]), stats.laplace(m2[i], s2[i]))),  # noqa: E501
        "Cauchy": (td.Cauchy(m1, s1), td.Cauchy(m2, s2), lambda i: (stats.cauchy(m1[i], s1[i]), stats.cauchy(m2[i], s2[i]))),  # noqa: E501
        "StudentT": (td.StudentT(a1 + 3, m1, s1), td.StudentT(a2 + 3, m2, s2),
                     lambda i: (stats.t(a1[i] + 3, m1[i], s1[i]), stats.t(a2[i] + 3, m2[i], s2[i]))),
        "Exponential": (td.Exponential(s1), td.Exponential(s2), lambda i: (stats.expon(scale=1 / s1[i]), stats.expon(scale=1 / s2[i]))),  # noqa: E501
        "Gamma": (td.Gamma(a1, s1), td.Gamma(a2, s2), lambda i: (stats.gamma(a1[i], scale=1 / s1[i]), stats.gamma(a2[i], scale=1 / s2[i]))),  # noqa: E501
        "Chi2": (td.Chi2(a1 * 2), td.Chi2(a2 * 2), lambda i: (stats.chi2(a1[i] * 2), stats.chi2(a2[i] * 2))),
        "Beta": (td.Beta(a1, b1), td.Beta(a2, b2), lambda i: (stats.beta(a1[i], b1[i]), stats.beta(a2[i], b2[i]))),
        "Uniform": (td.Uniform(m1 - 1, m1 + 1), td.Uniform(m1 - 2, m1 + 2),
                    lambda i: (stats.uniform(m1[i] - 1, 2), stats.uniform(m1[i] - 2, 4))),
        "Dirichlet": (td.Dirichlet(torch.stack([a1, b1], -1)), td.Dirichlet(torch.stack([a2, b2], -1)),
                      lambda i: (stats.beta(a1[i], b1[i]), stats.beta(a2[i], b2[i]))),
        "Bernoulli": (td.Bernoulli(pr1), td.Bernoulli(pr2), lambda i: (stats.bernoulli(pr1[i]), stats.bernoulli(pr2[i]))),  # noqa: E501
        "Binomial": (td.Binomial(10, pr1), td.Binomial(10, pr2), lambda i: (stats.binom(10, pr1[i]), stats.binom(10, pr2[i]))),  # noqa: E501
        "Geometric": (td.Geometric(pr1), td.Geometric(pr2), lambda i: (stats.geom(pr1[i], loc=-1), stats.geom(pr2[i], loc=-1))),  # noqa: E501
        "Poisson": (td.Poisson(r1), td.Poisson(r2), lambda i: (stats.poisson(r1[i]), stats.poisson(r2[i]))),
        "Categorical": (td.Categorical(c1), td.Categorical(c2), lambda i: (c1[i].tolist(), c2[i].tolist())),
        "OneHotCategorical": (td.OneHotCategorical(c1), td.OneHotCategorical(c2), lambda i: (c1[i].tolist(), c2[i].tolist())),  # noqa: E501
        "MultivariateNormal": (td.MultivariateNormal(m1[:, None], s1[:, None, None] ** 2), td.MultivariateNormal(m2[:, None], s2[:, None, None] ** 2),  # noqa: E501
                               lambda i: (stats.norm(m1[i], s1[i]), stats.norm(m2[i], s2[i]))),
        "LowRankMultivariateNormal": (td.LowRankMultivariateNormal(m1[:, None], (s1 / 2)[:, None, None], (s1**2 * 0.75)[:, None]),  # noqa: E501
                                      td.LowRankMultivariateNormal(m2[:, None], (s2 / 2)[:, None, None], (s2**2 * 0.75)[:, None]),  # noqa: E501
                                      lambda i: (stats.norm(m1[i], s1[i]), stats.norm(m2[i], s2[i]))),
        "Independent": (td.Independent(td.Laplace(m1[:, None], s1[:, None]), 1), td.Independent(td.Laplace(m2[:, None], s2[:, None]), 1),  # noqa: E501
                        lambda i: (stats.laplace(m1[i], s1[i]), stats.laplace(m2[i], s2[i]))),
        "MixtureSameFamily": (td.MixtureSameFamily(td.Categorical(torch.ones(n, 2, dtype=D)), td.Normal(torch.stack([m1 - 1, m1 + 1], -1), s1[:, None].expand(n, 2))),  # noqa: E501
                              td.Normal(m2, s2 * 1.5),
                              lambda i: (_Mix(m1[i], s1[i]), stats.norm(m2[i], s2[i] * 1.5))),
    }  # fmt: skip
    return f


class _Mix:
    def __init__(self, m, s):
        self.parts = [stats.norm(float(m) - 1, float(s)), stats.norm(float(m) + 1, float(s))]

    def logpdf(self, x):
        return np.logaddexp(*(d.logpdf(x) for d in self.parts)) - math.log(2)

    def support(self):
        return -np.inf, np.inf

    def ppf(self, u):
        return self.parts[0].ppf(u) if u < 0.5 else self.parts[1].ppf(u)


def _e(x):
    return math.exp(x) if x > -745 else 0.0


def _kl(a, b):
    return _e(a) * (a - b) if a > -math.inf else 0.0


def _f1(x):
    return (x - 1) ** 2 / (x + 1)


MEASURES = {  # noqa: E501  name -> (distribution_measure arguments, reference g(log p, log q), finish)
    "entropy": (("entropy", {}), lambda a, b: -_e(a) * a if a > -math.inf else 0.0, lambda i: i),
    "cross_entropy": (("cross_entropy", {}), lambda a, b: -_e(a) * b if a > -math.inf else 0.0, lambda i: i),
    "kl": (("kl", {}), _kl, lambda i: i),
    "js": (("js", {}), lambda a, b: 0.5 * (_kl(a, np.logaddexp(a, b) - math.log(2)) + _kl(b, np.logaddexp(a, b) - math.log(2))), lambda i: i),  # noqa: E501
    "hellinger": (("hellinger", {}), lambda a, b: 0.5 * (_e(a / 2) - _e(b / 2)) ** 2, math.sqrt),
    "tv": (("tv", {}), lambda a, b: 0.5 * abs(_e(a) - _e(b)), lambda i: i),
    "chi2": (("chi2", {}), lambda a, b: _e(2 * a - b) - 2 * _e(a) + _e(b), lambda i: i),
    "renyi ½": (("renyi", {"alpha": 0.5}), lambda a, b: _e((a + b) / 2), lambda i: -2 * math.log(i)),
    "renyi 2": (("renyi", {"alpha": 2.0}), lambda a, b: _e(2 * a - b), math.log),
    "alpha 0.3": (("alpha", {"alpha": 0.3}), lambda a, b: _e(0.3 * a + 0.7 * b), lambda i: (1 - i) / 0.21),
    "f triang.": (("f", {"f": _f1, "f_at_infinity": 1.0}), lambda a, b: _e(b) * _f1(_e(a - b)) if a - b < 36 else _e(a), lambda i: i),  # noqa: E501
    "f √-Hell.": (("f", {"f": lambda x: (x**0.5 - 1) ** 2, "f_at_infinity": 1.0}),
                  lambda a, b: _e(b) * (_e((a - b) / 2) - 1) ** 2 if a - b < 36 else _e(a), lambda i: i),
}  # fmt: skip

_Q = (1e-10, 1e-5, 0.01, 0.2, 0.5, 0.8, 0.99, 1 - 1e-5, 1 - 1e-10)


def reference(twins, measure):
    sp, sq = twins
    g, finish = MEASURES[measure][1], MEASURES[measure][2]
    if isinstance(sp, list):
        return finish(sum(g(math.log(a), math.log(b)) for a, b in zip(sp, sq)))
    lp = sp.logpmf if hasattr(sp, "logpmf") else sp.logpdf
    lq = sq.logpmf if hasattr(sq, "logpmf") else sq.logpdf
    if hasattr(sp, "logpmf"):
        return finish(math.fsum(g(float(lp(k)), float(lq(k))) for k in range(400)))
    lo, hi = min(sp.support()[0], sq.support()[0]), max(sp.support()[1], sq.support()[1])
    cuts = sorted({float(d.ppf(u)) for d in (sp, sq) for u in _Q} - {lo, hi})
    edges = [lo, *[c for c in cuts if lo < c < hi], hi]
    total = sum(
        integrate.quad(lambda x: g(float(lp(x)), float(lq(x))), a, b, limit=200, epsabs=1e-14, epsrel=1e-11)[0]
        for a, b in zip(edges[:-1], edges[1:])
    )
    return finish(total)


def _timed_pair(ref, ours, repeats):
    """Median CPU time of this thread per call, torch's and klvae's calls alternating (load-robust)."""
    times: tuple[list[float], list[float]] = ([], [])
    ref(), ours()
    for _ in range(repeats):
        for fn, out in zip((ref, ours), times):
            t0 = time.thread_time()
            fn()
            out.append(time.thread_time() - t0)
    return statistics.median(times[0]), statistics.median(times[1])


SHORT = {"closed form": "closed", "quadrature": "quad", "summation": "sum", "monte carlo": "MC"}


def matrix(pairs):
    fams = families(pairs)
    rows = []
    for name, (p, q, twins) in fams.items():
        cells = []
        for measure, ((mname, kw), _, _) in MEASURES.items():
            qq = None if mname == "entropy" else q
            method = klvae.measure_method(mname, p, qq, alpha=kw.get("alpha"))
            got = klvae.distribution_measure(mname, p, qq, n=200_000, **kw)
            want = np.array([reference(twins(i), measure) for i in range(pairs)])
            err = np.max(np.abs(np.asarray(got.tolist()) - want) / np.maximum(np.abs(want), 1e-300))
            cells.append(f"{SHORT[method]} {err:.0e}")
        rows.append((name, cells))
    return rows


def _backward(fn):
    """fn, then the gradient of the sum of its value (the graph kept: the parameters' own parts
    of it are shared by every call)."""
    return lambda: fn().sum().backward(retain_graph=True)


def speed(batch, repeats, grad=False):
    fams = families(batch, seed=1, grad=grad)
    rows = []
    for name, (p, q, _) in fams.items():
        for measure in ("kl", "entropy"):
            try:
                ref = (lambda p=p, q=q: td.kl_divergence(p, q)) if measure == "kl" else p.entropy
                ref()
            except NotImplementedError:
                continue
            ours = (lambda p=p, q=q: klvae.kl_divergence(p, q)) if measure == "kl" else (lambda p=p: klvae.entropy(p))
            if grad:
                if not ref().requires_grad:
                    continue
                ref, ours = _backward(ref), _backward(ours)
            t_torch, t_ours = _timed_pair(ref, ours, repeats)
            rows.append(
                (name, measure, klvae.measure_method(measure, p, None if measure == "entropy" else q), t_torch, t_ours)
            )  # noqa: E501
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=41, help="timed calls per side (median)")
    ap.add_argument("--speed-only", action="store_true", help="skip the matrix of methods and errors")
    ap.add_argument("--grad", action="store_true", help="time the value and its gradient (speed only)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not (args.speed_only or args.grad):
        heads = list(MEASURES)
        print("| family | " + " | ".join(heads) + " |")
        print("|---" * (len(heads) + 1) + "|")
        for name, cells in matrix(args.pairs):
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
        print()
    print(f"| family | measure | klvae's method | torch (ms / {args.batch}) | klvae (ms) | torch / klvae |")
    print("|---|---|---|---|---|---|")
    for name, measure, method, tt, to in speed(args.batch, args.repeats, args.grad):
        print(f"| {name} | {measure} | {method} | {tt * 1e3:.2f} | {to * 1e3:.2f} | {tt / to:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
