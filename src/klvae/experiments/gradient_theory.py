"""The exact side of the gradient-estimator experiment: test costs f whose Gaussian expectation
E_{N(μ,σ²)}[f] has a closed form, its gradient, and each estimator's exact variance.

The estimators themselves (pathwise, score function, leave-one-out baseline) are
`klvae.experiments.gradient_estimators`; the variances here are integrals over ε ~ N(0, 1)
computed by Simpson's rule on a fine grid, so the measured variances can be checked against them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import integrate

__all__ = ["Cost", "quadratic", "gaussian_bump", "cosine", "ESTIMATORS", "analytic_gradient", "exact_variance"]

_DTYPE = torch.float64
#: The gradient estimators `klvae.experiments.estimate_gradient` knows.
ESTIMATORS = ("pathwise", "score", "score_baseline")


@dataclass(frozen=True)
class Cost:
    """A test function f with its Gaussian expectation E_{N(μ,σ²)}[f] in closed form."""

    name: str
    f: Callable[[torch.Tensor], torch.Tensor]
    expectation: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def quadratic(k: float = 0.0) -> Cost:
    """f(x) = (x − k)², E[f] = (μ − k)² + σ²."""
    label = "x^2" if k == 0 else f"(x-{k:g})^2"  # x², not (x−0)²
    return Cost(label, lambda x: (x - k).square(), lambda mu, sigma: (mu - k).square() + sigma.square())


def gaussian_bump(a: float = 10.0) -> Cost:
    """f(x) = exp(−a x²), E[f] = exp(−a μ² / (1 + 2aσ²)) / √(1 + 2aσ²)."""

    def expectation(mu, sigma):
        s = 1 + 2 * a * sigma.square()
        return torch.exp(-a * mu.square() / s) / s.sqrt()

    return Cost(f"exp(-{a:g}x^2)", lambda x: torch.exp(-a * x.square()), expectation)


def cosine(omega: float = 5.0) -> Cost:
    """f(x) = cos(ωx), E[f] = cos(ωμ)·exp(−ω²σ²/2)."""
    return Cost(
        f"cos({omega:g}x)",
        lambda x: torch.cos(omega * x),
        lambda mu, sigma: torch.cos(omega * mu) * torch.exp(-0.5 * (omega * sigma).square()),
    )


def analytic_gradient(cost: Cost, mu: float, sigma: float) -> np.ndarray:
    """(∂/∂μ, ∂/∂σ) of the closed-form E[f], by autograd: shape (2,).

    >>> analytic_gradient(quadratic(), 1.0, 1.0).tolist()   # (2μ, 2σ)
    [2.0, 2.0]
    """
    mu_ = torch.tensor(float(mu), dtype=_DTYPE, requires_grad=True)
    sigma_ = torch.tensor(float(sigma), dtype=_DTYPE, requires_grad=True)
    grads = torch.autograd.grad(cost.expectation(mu_, sigma_), (mu_, sigma_))
    return np.array([float(g) for g in grads])


def _moments(cost: Cost, mu: float, sigma: float, weight) -> tuple[np.ndarray, np.ndarray]:
    """E and E[·²] over ε ~ N(0,1) of the per-sample estimator weight(ε): (2,) each, by Simpson."""
    eps = torch.linspace(-12, 12, 48_001, dtype=_DTYPE)
    g = weight(cost, mu, sigma, eps).detach().numpy()  # (N, 2)
    dens = np.exp(-0.5 * eps.numpy() ** 2) / math.sqrt(2 * math.pi)
    m1 = integrate.simpson(g * dens[:, None], x=eps.numpy(), axis=0)
    m2 = integrate.simpson(g**2 * dens[:, None], x=eps.numpy(), axis=0)
    return m1, m2


def _pathwise_weight(cost, mu, sigma, eps):
    x = (mu + sigma * eps).requires_grad_(True)
    (df,) = torch.autograd.grad(cost.f(x).sum(), x)
    return torch.stack([df, df * eps], -1)


def _score_weight(cost, mu, sigma, eps, centre=0.0):
    fx = cost.f(mu + sigma * eps) - centre
    return torch.stack([fx * eps / sigma, fx * (eps.square() - 1) / sigma], -1)


def exact_variance(estimator: str, cost: Cost, mu: float, sigma: float, n: int | None = None) -> np.ndarray:
    """n·Var of the n-sample estimate of (∂/∂μ, ∂/∂σ), by numerical integration over ε: (2,).

    For "pathwise" and "score" this is the per-sample variance Var[g(ε)], the same for
    every n. For "score_baseline" the n-sample estimate is the unbiased sample covariance
    of f and the score s, whose variance gives
    n·Var = μ22 − μ11²·(n − 2)/(n − 1) + Var f·Var s/(n − 1),
    with μ22 = E[(f − E f)² s²] and μ11 = Cov(f, s); n=None gives the n → ∞ limit
    Var[(f − E f)·s], the variance with the ideal constant baseline b = E f.
    """
    if estimator == "pathwise":
        m1, m2 = _moments(cost, mu, sigma, _pathwise_weight)
        return m2 - m1**2
    if estimator == "score":
        m1, m2 = _moments(cost, mu, sigma, _score_weight)
        return m2 - m1**2
    if estimator == "score_baseline":
        mean_f = float(cost.expectation(torch.tensor(mu, dtype=_DTYPE), torch.tensor(sigma, dtype=_DTYPE)))
        mu11, mu22 = _moments(cost, mu, sigma, lambda c, m, s, e: _score_weight(c, m, s, e, centre=mean_f))
        if n is None:
            return mu22 - mu11**2
        if n < 2:
            raise ValueError("baseline='loo' needs n >= 2 samples")
        f1, f2 = _moments(cost, mu, sigma, lambda c, m, s, e: torch.stack([c.f(m + s * e)] * 2, -1))
        var_f = float(f2[0] - f1[0] ** 2)
        var_s = np.array([1.0, 2.0]) / sigma**2  # Var[ε/σ], Var[(ε² − 1)/σ]
        return mu22 - mu11**2 * (n - 2) / (n - 1) + var_f * var_s / (n - 1)
    raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
