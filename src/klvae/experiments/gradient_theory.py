"""The exact side of the gradient-estimator experiment: test costs f whose Gaussian expectation
E_{N(μ,σ²)}[f] has a closed form, its gradient, and each estimator's exact variance.

The estimators themselves (pathwise, score function, leave-one-out baseline) are
`klvae.experiments.gradient_estimators`; the variances here are integrals over ε ~ N(0, 1)
computed by Simpson's rule on a fine grid, so the measured variances can be checked against them.
`sampling_blocks_gradients` shows why the pathwise estimator needs ``rsample``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import integrate

__all__ = [
    "Cost",
    "quadratic",
    "gaussian_bump",
    "cosine",
    "ESTIMATORS",
    "analytic_gradient",
    "exact_variance",
    "sampling_blocks_gradients",
]

_DTYPE = torch.float64
#: The gradient estimators `klvae.experiments.estimate_gradient` knows.
ESTIMATORS = ("pathwise", "score", "score_baseline")


@dataclass(frozen=True)
class Cost:
    r"""A test function f with its Gaussian expectation E_{N(μ,σ²)}[f] in closed form.

    Parameters
    ----------
    name : str
        The label of tables and figures.
    f : callable
        f(x) of a tensor, elementwise.
    expectation : callable
        (μ, σ) tensors → E_{N(μ,σ²)}[f], differentiable.

    See Also
    --------
    quadratic, gaussian_bump, cosine : the three costs of the experiment.

    Notes
    -----
    The true gradient is :math:`\nabla_{\mu,\sigma}\, \mathbb E_{\mathcal N(\mu,\sigma^2)}[f]`
    of `expectation` (`analytic_gradient`).

    References
    ----------
    Mohamed, Rosca, Figurnov & Mnih, "Monte Carlo Gradient Estimation in Machine Learning",
    JMLR 21 (2020), §3.

    Examples
    --------
    >>> c = quadratic()
    >>> c.name, float(c.expectation(torch.tensor(1.0), torch.tensor(2.0)))
    ('x^2', 5.0)
    """

    name: str
    f: Callable[[torch.Tensor], torch.Tensor]
    expectation: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def quadratic(k: float = 0.0) -> Cost:
    r"""The cost f(x) = (x − k)².

    Parameters
    ----------
    k : float, default 0.0
        The centre.

    Returns
    -------
    Cost
        f and its expectation.

    Notes
    -----
    .. math:: \mathbb E[(x - k)^2] = (\mu - k)^2 + \sigma^2.

    References
    ----------
    Mohamed et al., "Monte Carlo Gradient Estimation in Machine Learning" (2020), §3.

    Examples
    --------
    >>> float(quadratic(1.0).expectation(torch.tensor(3.0), torch.tensor(1.0)))
    5.0
    """
    label = "x^2" if k == 0 else f"(x-{k:g})^2"  # x², not (x−0)²
    return Cost(label, lambda x: (x - k).square(), lambda mu, sigma: (mu - k).square() + sigma.square())


def gaussian_bump(a: float = 10.0) -> Cost:
    r"""The cost f(x) = exp(−a x²).

    Parameters
    ----------
    a : float, default 10.0
        The bump's sharpness.

    Returns
    -------
    Cost
        f and its expectation.

    Notes
    -----
    .. math:: \mathbb E[e^{-a x^2}] = \frac{\exp\!\big(-a\mu^2 / (1 + 2a\sigma^2)\big)}{\sqrt{1 + 2a\sigma^2}}.

    References
    ----------
    Mohamed et al., "Monte Carlo Gradient Estimation in Machine Learning" (2020), §3, Fig. 2.

    Examples
    --------
    >>> round(float(gaussian_bump(0.5).expectation(torch.tensor(0.0), torch.tensor(1.0))), 6)  # 1/√2
    0.707107
    """

    def expectation(mu, sigma):
        s = 1 + 2 * a * sigma.square()
        return torch.exp(-a * mu.square() / s) / s.sqrt()

    return Cost(f"exp(-{a:g}x^2)", lambda x: torch.exp(-a * x.square()), expectation)


def cosine(omega: float = 5.0) -> Cost:
    r"""The cost f(x) = cos(ωx).

    Parameters
    ----------
    omega : float, default 5.0
        The frequency ω.

    Returns
    -------
    Cost
        f and its expectation.

    Notes
    -----
    .. math:: \mathbb E[\cos \omega x] = \cos(\omega\mu)\, e^{-\omega^2\sigma^2/2}.

    References
    ----------
    Mohamed et al., "Monte Carlo Gradient Estimation in Machine Learning" (2020), §3, Fig. 3.

    Examples
    --------
    >>> round(float(cosine(1.0).expectation(torch.tensor(0.0), torch.tensor(2.0))), 6)  # e^{−2}
    0.135335
    """
    return Cost(
        f"cos({omega:g}x)",
        lambda x: torch.cos(omega * x),
        lambda mu, sigma: torch.cos(omega * mu) * torch.exp(-0.5 * (omega * sigma).square()),
    )


def analytic_gradient(cost: Cost, mu: float, sigma: float) -> np.ndarray:
    r"""(∂/∂μ, ∂/∂σ) of the closed-form E[f], by autograd.

    Parameters
    ----------
    cost : Cost
        The cost.
    mu : float
        μ.
    sigma : float
        σ.

    Returns
    -------
    numpy.ndarray
        Shape (2,).

    Notes
    -----
    .. math:: \nabla_{\mu,\sigma}\, \mathbb E_{x \sim \mathcal N(\mu, \sigma^2)}[f(x)].

    References
    ----------
    Mohamed et al., "Monte Carlo Gradient Estimation in Machine Learning" (2020), §3.

    Examples
    --------
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
    r"""n·Var of an estimator's n-sample estimate of (∂/∂μ, ∂/∂σ), by numerical integration over ε.

    Parameters
    ----------
    estimator : str
        One of `ESTIMATORS`: ``"pathwise"``, ``"score"`` or ``"score_baseline"``.
    cost : Cost
        The cost.
    mu : float
        μ.
    sigma : float
        σ.
    n : int, optional
        Samples per estimate (``"score_baseline"`` only; at least 2); None: the n → ∞ limit.

    Returns
    -------
    numpy.ndarray
        Shape (2,).

    Raises
    ------
    ValueError
        For an unknown `estimator`, or `n` below 2 with the baseline.

    See Also
    --------
    klvae.experiments.estimate_gradient : the estimates whose variance this is.

    Notes
    -----
    For ``"pathwise"`` and ``"score"`` this is the per-sample variance Var[g(ε)], the same for
    every n. For ``"score_baseline"`` the n-sample estimate is the unbiased sample covariance of f
    and the score s, whose variance gives

    .. math::

        n \operatorname{Var} = \mu_{22} - \mu_{11}^2 \frac{n-2}{n-1}
        + \frac{\operatorname{Var} f \operatorname{Var} s}{n - 1},

    with :math:`\mu_{22} = \mathbb E[(f - \mathbb E f)^2 s^2]` and
    :math:`\mu_{11} = \operatorname{Cov}(f, s)`; the n → ∞ limit is
    :math:`\operatorname{Var}[(f - \mathbb E f)\, s]`, the variance with the ideal constant
    baseline b = E f. The integrals over ε ~ N(0, 1) use Simpson's rule on [−12, 12].

    References
    ----------
    Kool, van Hoof & Welling, "Buy 4 REINFORCE samples, get a baseline for free!" (2019);
    Mohamed et al., "Monte Carlo Gradient Estimation in Machine Learning" (2020), §3.

    Examples
    --------
    >>> [round(v, 6) for v in exact_variance("pathwise", quadratic(), 1.0, 1.0).tolist()]  # Var[2x], Var[2xε]
    [4.0, 12.0]
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


def sampling_blocks_gradients(mu: float = 1.0, sigma: float = 1.0, seed: int = 0) -> dict:
    r"""Show that z = Normal(μ, σ).sample() carries no gradient and rsample() / μ + σ·ε does.

    Parameters
    ----------
    mu : float, default 1.0
        μ.
    sigma : float, default 1.0
        σ.
    seed : int, default 0
        Seeds torch's generator before each draw.

    Returns
    -------
    dict
        For ``"sample"``, ``"rsample"`` and ``"mu_plus_sigma_eps"``: the draw ``z``, whether it
        requires grad, and the gradients ``grad_mu``, ``grad_sigma`` of z² (None when no gradient
        reaches μ, σ).

    See Also
    --------
    pathwise_gradients : the reparameterized estimator.

    Notes
    -----
    With :math:`z = \mu + \sigma\varepsilon`: :math:`\partial z^2/\partial\mu = 2z` and
    :math:`\partial z^2/\partial\sigma = 2z\varepsilon`.

    References
    ----------
    Kingma & Welling, "Auto-Encoding Variational Bayes" (2014), §2.4.

    Examples
    --------
    >>> demo = sampling_blocks_gradients()
    >>> demo["sample"]["requires_grad"], demo["sample"]["grad_mu"]
    (False, None)
    >>> demo["rsample"]["requires_grad"], demo["rsample"]["grad_mu"] == 2 * demo["rsample"]["z"]
    (True, True)
    """
    out = {}
    for how in ("sample", "rsample", "mu_plus_sigma_eps"):
        mu_ = torch.tensor(float(mu), dtype=_DTYPE, requires_grad=True)
        sigma_ = torch.tensor(float(sigma), dtype=_DTYPE, requires_grad=True)
        torch.manual_seed(seed)
        if how == "sample":
            z = torch.distributions.Normal(mu_, sigma_).sample()
        elif how == "rsample":
            z = torch.distributions.Normal(mu_, sigma_).rsample()
        else:
            z = mu_ + sigma_ * torch.randn((), dtype=_DTYPE)
        loss = z.square()
        if loss.requires_grad:
            loss.backward()
        out[how] = {
            "z": float(z.detach()),
            "requires_grad": bool(z.requires_grad),
            "grad_mu": None if mu_.grad is None else float(mu_.grad),
            "grad_sigma": None if sigma_.grad is None else float(sigma_.grad),
        }
    return out
