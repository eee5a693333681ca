"""klvae.measures._array_forms: the closed forms of a CPU batch against mpmath, and their partials
(gradients and Hessians) against torch's autograd."""

import math

import mpmath
import numpy as np
import pytest
import torch
from torch.distributions import (
    Bernoulli,
    Binomial,
    Exponential,
    Geometric,
    Laplace,
    LogNormal,
    Normal,
    Poisson,
    Uniform,
)

import klvae
from klvae.measures import kl_distributions

mpmath.mp.dps = 50
D = torch.float64
G = torch.Generator().manual_seed(0)


def _spread(n, low, high):
    """n values whose logarithms spread evenly over [log low, log high], alternating in sign."""
    mags = torch.logspace(math.log10(low), math.log10(high), n, dtype=D)
    return mags * torch.tensor([(-1) ** i for i in range(n)], dtype=D)


@pytest.mark.parametrize("kind", ["probs", "logits"])
def test_batched_two_point_kls_against_mpmath(kind):
    # Bernoulli, Binomial and Geometric of a batch: pairs far apart, nearly equal (|p − q| from 1e-13
    # to 0.1), near 0 and 1, equal, and with a side 0 or 1 (the general path): each within 1e-13
    n = 400
    p = torch.linspace(1e-6, 1 - 1e-6, n, dtype=D)
    q = (p + _spread(n, 1e-13, 0.1) * p * (1 - p)).clamp(1e-9, 1 - 1e-9)
    q[::5] = torch.rand(n, generator=G, dtype=D)[::5]
    q[3] = p[3]
    if kind == "probs":
        p[0], q[1] = 0.0, 1.0
        make = {"probs": p}, {"probs": q}
    else:
        make = {"logits": torch.logit(p)}, {"logits": torch.logit(q)}
    mp_p, mp_q = (
        [1 / (1 + mpmath.exp(-mpmath.mpf(float(v)))) for v in torch.logit(t)] if kind == "logits" else
        [mpmath.mpf(float(v)) for v in t]
        for t in (p, q)
    )  # fmt: skip

    def bern(a, b):
        if (a > 0 and b == 0) or (a < 1 and b == 1):
            return math.inf
        return float(sum(x * mpmath.log(x / y) if x else mpmath.mpf(0) for x, y in ((a, b), (1 - a, 1 - b))))

    want = [bern(a, b) for a, b in zip(mp_p, mp_q)]
    for family, scale in ((Bernoulli, [1.0] * n), (Geometric, [float(1 / a) if a else 0 for a in mp_p])):
        if family is Geometric and kind == "probs":
            continue  # Geometric(0) is no distribution
        got = kl_distributions(family(**make[0]), family(**make[1]))
        target = [w * s for w, s in zip(want, scale)]
        errs = [abs(g - w) / w if w not in (0, math.inf) else float(g != w) for g, w in zip(got.tolist(), target)]
        assert max(errs) < 1e-13, family.__name__
    got = kl_distributions(Binomial(9, **make[0]), Binomial(9, **make[1]))
    errs = [
        abs(g - 9 * w) / (9 * w) if w not in (0, math.inf) else float(g != 9 * w) for g, w in zip(got.tolist(), want)
    ]
    assert max(errs) < 1e-13


@pytest.mark.parametrize(
    "family",
    ["Normal", "LogNormal", "Laplace", "Uniform", "Exponential", "Poisson", "Bernoulli", "Binomial", "Geometric"],
)
def test_closed_forms_given_by_their_partials_match_torch_in_gradient_and_hessian(family):
    # with a gradient these closed forms take their value without a graph and their exact partials:
    # the gradient and the Hessian (second derivatives from the partials' own graph) are those
    # autograd gives through torch's textbook formula, at points where it does not cancel
    g = torch.Generator().manual_seed(5)
    n = 64
    a1, b1, a2, b2 = (0.5 + torch.rand(n, generator=g, dtype=D) for _ in range(4))
    two = family in ("Normal", "LogNormal", "Laplace", "Uniform")
    if family == "Uniform":  # p's support inside q's
        a1, b1, a2, b2 = -a1 / 2, b1 / 2, -a2 - 0.5, b2 + 0.5
    if family in ("Bernoulli", "Binomial", "Geometric"):
        a1, a2 = a1 - 0.45, a2 - 0.45  # probabilities in (0.05, 1.05): the first side in (0, 1)
        a1, a2 = a1.clamp(0.05, 0.95), a2.clamp(0.05, 0.95)
    make = {
        "Normal": Normal,
        "LogNormal": LogNormal,
        "Laplace": Laplace,
        "Uniform": Uniform,
        "Exponential": lambda r, _: Exponential(r),
        "Poisson": lambda r, _: Poisson(r),
        "Bernoulli": lambda r, _: Bernoulli(r),
        "Binomial": lambda r, _: Binomial(7, r),
        "Geometric": lambda r, _: Geometric(logits=torch.logit(r)),
    }[family]

    def kl(fn, x1, y1, x2, y2):
        return fn(make(x1, y1), make(x2, y2)).sum()

    args = (a1, b1, a2, b2) if two else (a1, a1, a2, a2)
    leaves = [t.clone().requires_grad_() for t in args]
    ours = torch.autograd.grad(kl(klvae.kl_divergence, *leaves), leaves, allow_unused=True)
    theirs = torch.autograd.grad(kl(torch.distributions.kl_divergence, *leaves), leaves, allow_unused=True)
    for mine, ref in zip(ours, theirs):
        if ref is not None:
            torch.testing.assert_close(mine, ref, rtol=1e-12, atol=1e-14)
    from torch.autograd.functional import hessian

    at = (a1[:3], b1[:3], a2[:3], b2[:3]) if two else (a1[:3], a2[:3])

    def scalar(fn):
        return (lambda x1, y1, x2, y2: kl(fn, x1, y1, x2, y2)) if two else (lambda x1, x2: kl(fn, x1, x1, x2, x2))

    for mine, ref in zip(
        torch.cat([torch.cat(r, 1) for r in hessian(scalar(klvae.kl_divergence), at)]).flatten(),
        torch.cat([torch.cat(r, 1) for r in hessian(scalar(torch.distributions.kl_divergence), at)]).flatten(),
    ):
        assert float(mine) == pytest.approx(float(ref), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("family", ["Gamma", "Chi2", "Beta", "Dirichlet"])
def test_log_gamma_families_by_their_partials_match_torch_in_gradient_and_hessian(family):
    # ∂/∂α of a Bregman divergence of log Γ is −ψ′(α)δ and ∂/∂β is ψ(β) − ψ(α): with the rates'
    # parts (Gamma) and the sums' (Dirichlet), the gradient and Hessian of torch's formula
    from torch.autograd.functional import hessian
    from torch.distributions import Beta, Chi2, Dirichlet, Gamma

    g = torch.Generator().manual_seed(7)

    def draw(*shape):
        return 0.3 + 4.7 * torch.rand(*shape, generator=g, dtype=D)

    n = 40
    make, args = {
        "Gamma": (lambda a, b: Gamma(a, b), (draw(n), draw(n) / 2 + 0.3, draw(n), draw(n) / 2 + 0.3)),
        "Chi2": (lambda a: Chi2(a), (draw(n) + 1, draw(n) + 1)),
        "Beta": (lambda a, b: Beta(a, b), (draw(n), draw(n), draw(n), draw(n))),
        "Dirichlet": (lambda a: Dirichlet(a), (draw(n, 3), draw(n, 3))),
    }[family]
    half = len(args) // 2

    def kl(fn, *xs):
        return fn(make(*xs[:half]), make(*xs[half:])).sum()

    leaves = [a.clone().requires_grad_() for a in args]
    ours = torch.autograd.grad(kl(klvae.kl_divergence, *leaves), leaves)
    theirs = torch.autograd.grad(kl(torch.distributions.kl_divergence, *leaves), leaves)
    for mine, ref in zip(ours, theirs):
        torch.testing.assert_close(mine, ref, rtol=1e-11, atol=1e-13)
    at = tuple(a[:2] for a in args)
    h_ours = hessian(lambda *xs: kl(klvae.kl_divergence, *xs), at)
    h_theirs = hessian(lambda *xs: kl(torch.distributions.kl_divergence, *xs), at)
    for row_ours, row_theirs in zip(h_ours, h_theirs):
        for mine, ref in zip(row_ours, row_theirs):
            torch.testing.assert_close(mine, ref, rtol=1e-10, atol=1e-12)


def test_batched_closed_forms_at_extreme_parameters_against_mpmath():
    # 200 pairs with scales from 1e-150 to 1e150, means apart by 1e-300 to 1e100 of them, scale
    # ratios from e^(1e-15) to e^30; and Bernoulli probabilities from 1e-320 to 1 − 1e-16, some
    # pairs nearly equal: every KL within 2e-13 of mpmath (and +inf exactly where it is)
    rng = np.random.default_rng(11)
    n = 200

    def spread(lo, hi):
        return 10 ** rng.uniform(lo, hi, n)

    m1 = rng.normal(0, 1, n) * spread(-150, 150)
    m2 = m1 + rng.normal(0, 1, n) * spread(-300, 100)
    s1 = spread(-150, 150)
    s2 = s1 * np.exp(rng.normal(0, 1, n) * spread(-15, 1.5))
    t = [torch.tensor(v, dtype=D) for v in (m1, s1, m2, s2)]
    with mpmath.workdps(60):
        mp = [[mpmath.mpf(float(x)) for x in v] for v in (m1, s1, m2, s2)]
        normal = [((b / d) ** 2 - 1 - 2 * mpmath.log(b / d) + ((a - c) / d) ** 2) / 2 for a, b, c, d in zip(*mp)]
        laplace = [
            mpmath.log(d / b) + abs(a - c) / d + b / d * mpmath.exp(-abs(a - c) / b) - 1 for a, b, c, d in zip(*mp)
        ]
        expo = [d / b - 1 - mpmath.log(d / b) for _, b, _, d in zip(*mp)]
    for got, want in (
        (kl_distributions(Normal(t[0], t[1]), Normal(t[2], t[3])), normal),
        (kl_distributions(Laplace(t[0], t[1]), Laplace(t[2], t[3])), laplace),
        (kl_distributions(Exponential(t[1]), Exponential(t[3])), expo),
    ):
        for g, w in zip(got.tolist(), (float(w) for w in want)):
            assert g == w or abs(g - w) <= 2e-13 * abs(w)

    def probability():
        kind = rng.integers(0, 3, n)
        inner = np.where(kind == 1, 1 - spread(-16, -0.3), rng.uniform(0, 1, n))
        return np.where(kind == 0, spread(-320, -0.3), inner)

    p = probability()
    near = p * (1 + rng.normal(0, 1, n) * spread(-15, -2))
    q = np.clip(np.where(rng.uniform(0, 1, n) < 0.3, near, probability()), 5e-324, 1 - 1.1e-16)
    got = kl_distributions(Bernoulli(torch.tensor(p, dtype=D)), Bernoulli(torch.tensor(q, dtype=D)))
    with mpmath.workdps(60):  # (1 − p) log1p((q − p)/(1 − q)): 1 − p of a p of 1e-300 needs no 300 digits
        want = [float(a * mpmath.log(a / b) + (1 - a) * mpmath.log1p((b - a) / (1 - b))) for a, b in
                ((mpmath.mpf(float(x)), mpmath.mpf(float(y))) for x, y in zip(p, q))]  # fmt: skip
    for g, w in zip(got.tolist(), want):
        assert g == w or abs(g - w) <= 2e-13 * abs(w)
