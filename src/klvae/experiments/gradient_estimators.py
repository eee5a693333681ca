"""Gradient estimators for ∇_{μ,σ} E_{x~N(μ,σ²)}[f(x)]: pathwise, score function, baseline.

Sampling x ~ N(μ, σ²) with `.sample()` cuts the graph: x has no `grad_fn`, so nothing flows
back to μ, σ. Two ways around it (Mohamed, Rosca, Figurnov & Mnih, "Monte Carlo Gradient
Estimation in Machine Learning", JMLR 21, 2020, §4–5):

- pathwise (reparameterization): x = μ + σ·ε, ε ~ N(0, 1), so
  ∂/∂μ = f'(x), ∂/∂σ = f'(x)·ε — needs f differentiable;
- score function (REINFORCE): ∇E[f] = E[f(x)·∇ log N(x; μ, σ²)], with
  ∂ log N/∂μ = ε/σ and ∂ log N/∂σ = (ε² − 1)/σ — needs only values of f;
- score function with a leave-one-out baseline: sample i uses f(x_i) − b_i with
  b_i = mean of f over the other n − 1 samples. b_i is independent of x_i and the score
  has mean zero, so the estimator stays unbiased; the n-sample estimate equals the
  unbiased sample covariance of f(x) and the score (Kool, van Hoof & Welling, "Buy 4
  REINFORCE samples, get a baseline for free!", 2019).

Neither estimator always wins: for f = (x − k)² the pathwise variance is far lower, for
f = exp(−10x²) or cos(5x) at μ = σ = 1 the score function's is (Mohamed et al., Fig. 2–3).
The test costs, their exact gradients and each estimator's exact variance are
`klvae.experiments.gradient_theory`.
"""

from __future__ import annotations

import math

import torch

from klvae.experiments.gradient_theory import (
    ESTIMATORS,
    analytic_gradient,
    cosine,
    exact_variance,
    gaussian_bump,
    quadratic,
)

__all__ = [
    "pathwise_gradients",
    "score_function_gradients",
    "estimate_gradient",
    "variance_table",
]

_DTYPE = torch.float64


def _params(mu: float, sigma: float, shape) -> tuple[torch.Tensor, torch.Tensor]:
    """One leaf copy of (μ, σ) per sample, so autograd returns per-sample gradients."""
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    return (
        torch.full(shape, float(mu), dtype=_DTYPE, requires_grad=True),
        torch.full(shape, float(sigma), dtype=_DTYPE, requires_grad=True),
    )


def _shape(n: int, repeats: int) -> tuple[int, int]:
    if n < 1 or repeats < 1:
        raise ValueError(f"n and repeats must be positive, got n={n}, repeats={repeats}")
    return (repeats, n)


def pathwise_gradients(f, mu: float, sigma: float, n: int, *, repeats: int = 1, seed: int = 0) -> torch.Tensor:
    r"""Per-sample pathwise gradients of f(μ + σε), ε ~ N(0, 1).

    Parameters
    ----------
    f : callable
        f(x) of a tensor, elementwise.
    mu : float
        μ.
    sigma : float
        σ, positive.
    n : int
        Samples per estimate.
    repeats : int, default 1
        Independent estimates.
    seed : int, default 0
        Seeds the draws (a generator of their own).

    Returns
    -------
    torch.Tensor
        (repeats, n, 2) float64, the last axis (∂/∂μ, ∂/∂σ).

    Raises
    ------
    ValueError
        If `sigma` is not positive, or `n` or `repeats` is below 1.

    See Also
    --------
    score_function_gradients : the estimator that needs only values of f.

    Notes
    -----
    With :math:`x = \mu + \sigma\varepsilon` (the reparameterized sample, ``Normal.rsample``),

    .. math:: \frac{\partial f}{\partial \mu} = f'(x),\qquad \frac{\partial f}{\partial \sigma} = f'(x)\,\varepsilon,

    differentiated by autograd.

    References
    ----------
    Kingma & Welling, "Auto-Encoding Variational Bayes" (2014), §2.4; Mohamed et al., "Monte
    Carlo Gradient Estimation in Machine Learning" (2020), §5.

    Examples
    --------
    >>> g = pathwise_gradients(quadratic().f, 1.0, 1.0, 100_000)
    >>> abs(float(g[0, :, 0].mean()) - 2.0) < 0.05   # ∂/∂μ (μ² + σ²) = 2μ
    True
    """
    mu_, sigma_ = _params(mu, sigma, _shape(n, repeats))
    gen = torch.Generator().manual_seed(seed)
    eps = torch.randn(mu_.shape, generator=gen, dtype=_DTYPE)  # (R, n)
    x = mu_ + sigma_ * eps  # same as Normal(mu_, sigma_).rsample(), with our generator
    f(x).sum().backward()
    assert mu_.grad is not None and sigma_.grad is not None  # leaves that require grad, after backward()
    return torch.stack([mu_.grad, sigma_.grad], -1)  # (R, n, 2)


def score_function_gradients(
    f, mu: float, sigma: float, n: int, *, repeats: int = 1, seed: int = 0, baseline: str | float | None = None
) -> torch.Tensor:
    r"""Per-sample score-function gradients (f(x) − b)·∇_{μ,σ} log N(x; μ, σ²).

    x comes from ``.sample()`` (no gradient path); only log N is differentiated.

    Parameters
    ----------
    f : callable
        f(x) of a tensor, elementwise.
    mu : float
        μ.
    sigma : float
        σ, positive.
    n : int
        Samples per estimate.
    repeats : int, default 1
        Independent estimates.
    seed : int, default 0
        Seeds the draws (a generator of their own).
    baseline : None, float or str, optional
        None (b = 0), a number (a constant b), or ``"loo"`` (b_i = mean of f over the other
        samples of the same repeat; needs n ≥ 2).

    Returns
    -------
    torch.Tensor
        (repeats, n, 2) float64, the last axis (∂/∂μ, ∂/∂σ).

    Raises
    ------
    ValueError
        If `sigma` is not positive, `n` or `repeats` is below 1, `baseline` is unknown, or
        ``"loo"`` with n < 2.

    See Also
    --------
    pathwise_gradients : the reparameterized estimator.

    Notes
    -----
    .. math::

        \nabla \mathbb E[f] = \mathbb E\big[(f(x) - b)\, \nabla \log \mathcal N(x; \mu, \sigma^2)\big],\quad
        \frac{\partial \log \mathcal N}{\partial \mu} = \frac{\varepsilon}{\sigma},\quad
        \frac{\partial \log \mathcal N}{\partial \sigma} = \frac{\varepsilon^2 - 1}{\sigma},

    unbiased for any b independent of x (the score has mean zero).

    References
    ----------
    Williams, "Simple Statistical Gradient-Following Algorithms for Connectionist Reinforcement
    Learning" (1992); Kool, van Hoof & Welling, "Buy 4 REINFORCE samples, get a baseline for
    free!" (2019).

    Examples
    --------
    >>> g = score_function_gradients(quadratic().f, 1.0, 1.0, 200_000, baseline="loo")
    >>> abs(float(g[0, :, 0].mean()) - 2.0) < 0.05
    True
    """
    mu_, sigma_ = _params(mu, sigma, _shape(n, repeats))
    q = torch.distributions.Normal(mu_, sigma_)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        x = mu + sigma * torch.randn(mu_.shape, generator=gen, dtype=_DTYPE)  # a plain sample
        fx = f(x)  # (R, n)
    if baseline is None:
        b = torch.zeros_like(fx)
    elif baseline == "loo":
        if n < 2:
            raise ValueError("baseline='loo' needs n >= 2 samples")
        b = (fx.sum(-1, keepdim=True) - fx) / (n - 1)
    elif isinstance(baseline, (int, float)):
        b = torch.full_like(fx, float(baseline))
    else:
        raise ValueError(f"baseline must be None, a number or 'loo', got {baseline!r}")
    ((fx - b) * q.log_prob(x)).sum().backward()
    assert mu_.grad is not None and sigma_.grad is not None  # leaves that require grad, after backward()
    return torch.stack([mu_.grad, sigma_.grad], -1)  # (R, n, 2)


def estimate_gradient(
    estimator: str, f, mu: float, sigma: float, n: int, *, repeats: int = 1, seed: int = 0
) -> torch.Tensor:
    r"""`repeats` independent n-sample estimates of ∇_{μ,σ} E[f].

    Parameters
    ----------
    estimator : str
        One of `ESTIMATORS`: ``"pathwise"``, ``"score"``, ``"score_baseline"`` (leave-one-out).
    f : callable
        f(x) of a tensor, elementwise.
    mu : float
        μ.
    sigma : float
        σ, positive.
    n : int
        Samples per estimate.
    repeats : int, default 1
        Independent estimates.
    seed : int, default 0
        Seeds the draws (a generator of their own).

    Returns
    -------
    torch.Tensor
        (repeats, 2): each estimate's (∂/∂μ, ∂/∂σ).

    Raises
    ------
    ValueError
        For an unknown `estimator`, or as the estimator it picks.

    See Also
    --------
    pathwise_gradients, score_function_gradients

    Notes
    -----
    Each estimate is the mean of n per-sample gradients, :math:`\hat g = \frac1n \sum_i g(\varepsilon_i)`,
    so its variance is :math:`\operatorname{Var}[g]/n` for the plain estimators (`exact_variance`).

    References
    ----------
    Mohamed et al., "Monte Carlo Gradient Estimation in Machine Learning" (2020).

    Examples
    --------
    >>> g = estimate_gradient("pathwise", quadratic().f, 0.0, 1.0, 1000, repeats=3)
    >>> tuple(g.shape)
    (3, 2)
    """
    if estimator == "pathwise":
        g = pathwise_gradients(f, mu, sigma, n, repeats=repeats, seed=seed)
    elif estimator == "score":
        g = score_function_gradients(f, mu, sigma, n, repeats=repeats, seed=seed)
    elif estimator == "score_baseline":
        g = score_function_gradients(f, mu, sigma, n, repeats=repeats, seed=seed, baseline="loo")
    else:
        raise ValueError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    return g.mean(1)


def variance_table(
    costs=None, *, mu: float = 1.0, sigma: float = 1.0, ns=(2, 8, 32, 128), repeats: int = 5000, seed: int = 0
) -> dict:
    r"""Each estimator's mean and variance beside the analytic gradient and the exact variance.

    For every cost, parameter (μ, σ), estimator and sample count n, `repeats` independent n-sample
    estimates are drawn.

    Parameters
    ----------
    costs : list of Cost, optional
        Default: (x − 0)², exp(−10x²), cos(5x).
    mu : float, default 1.0
        μ.
    sigma : float, default 1.0
        σ.
    ns : sequence of int, default (2, 8, 32, 128)
        Sample counts n.
    repeats : int, default 5000
        Estimates per n.
    seed : int, default 0
        Seeds the estimates.

    Returns
    -------
    dict
        JSON-ready: ``mu``, ``sigma``, ``ns``, ``repeats``, ``costs`` (names), ``estimators`` and
        ``rows`` (one dict per cost × parameter × estimator: ``analytic``, ``mean`` ± ``stderr``
        at the largest n, ``measured_var`` and ``exact_var`` per n).

    Raises
    ------
    ValueError
        If `ns` is empty.

    See Also
    --------
    exact_variance : the exact column.

    Notes
    -----
    ``measured_var[k]`` is :math:`n \cdot \widehat{\operatorname{Var}}` of the estimates (the
    per-sample variance for the plain estimators), to compare with ``exact_var[k]``.

    References
    ----------
    Mohamed et al., "Monte Carlo Gradient Estimation in Machine Learning" (2020), Fig. 2–3.

    Examples
    --------
    >>> t = variance_table([quadratic()], ns=(4,), repeats=200)
    >>> len(t["rows"]), t["rows"][0]["param"], t["rows"][0]["estimator"], t["rows"][0]["analytic"]
    (6, 'mu', 'pathwise', 2.0)
    """
    costs = costs or [quadratic(0.0), gaussian_bump(10.0), cosine(5.0)]
    ns = [int(n) for n in ns]
    rows = []
    for c_idx, cost in enumerate(costs):
        truth = analytic_gradient(cost, mu, sigma)
        for e_idx, estimator in enumerate(ESTIMATORS):
            measured, means = [], None
            for n in ns:
                g = estimate_gradient(
                    estimator, cost.f, mu, sigma, n, repeats=repeats, seed=seed + 1000 * c_idx + 100 * e_idx + n
                )  # (R, 2)
                measured.append((n * g.var(0)).numpy())
                means = (g.mean(0).numpy(), (g.std(0) / math.sqrt(repeats)).numpy())
            exact = [exact_variance(estimator, cost, mu, sigma, n) for n in ns]
            if means is None:  # only when ns is empty
                raise ValueError("ns must hold at least one sample count")
            for k, param in enumerate(("mu", "sigma")):
                rows.append(
                    {
                        "cost": cost.name,
                        "param": param,
                        "estimator": estimator,
                        "analytic": float(truth[k]),
                        "mean": float(means[0][k]),
                        "stderr": float(means[1][k]),
                        "measured_var": [float(m[k]) for m in measured],
                        "exact_var": [float(x[k]) for x in exact],
                    }
                )
    return {
        "mu": mu,
        "sigma": sigma,
        "ns": ns,
        "repeats": repeats,
        "costs": [c.name for c in costs],
        "estimators": list(ESTIMATORS),
        "rows": rows,
    }
