"""Rényi, Hellinger, χ², Amari α- and total-variation divergences between Gaussians.

Inputs are ``torch.distributions`` objects: ``Normal`` (univariate, elementwise over the
batch), ``Independent(Normal, 1)`` (diagonal covariance) and ``MultivariateNormal`` (full);
a diagonal and a full Gaussian may be paired. Results have the broadcast batch shape,
in nats where they have units.

Every measure here is a function of the Rényi divergence, and that is computed in the
basis where both covariances are diagonal: with Σ₂ = L₂L₂ᵀ, M = L₂⁻¹L₁ and
M Mᵀ = U diag(λ) Uᵀ (eigenvalues λᵢ = 1 + uᵢ of Σ₂⁻¹Σ₁), w = Uᵀ L₂⁻¹(μ₂ − μ₁), and
t = 1 − α,

    D_α = Σᵢ [ α wᵢ² / (2 (1 + t uᵢ)) + ½ (log1p(t uᵢ)/t − log1p(uᵢ)) ]

(Gil, Alajaji & Linder 2013, table 2, rewritten). The second term is evaluated by its
series in uᵢ where |uᵢ| < 0.05 and |t| ≤ 1, so D_α is continuous through α = 1 (where it
is the KL) and keeps its relative accuracy for nearly equal covariances. Diagonal pairs
need no factorization (O(d)); full covariances cost one Cholesky solve and one symmetric
eigendecomposition (O(d³)).
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Independent, MultivariateNormal, Normal

from klvae.measures._kernels import expm1_minus_x
from klvae.measures._linalg import relative_factor
from klvae.measures.monte_carlo import MCEstimate, mc_seeded

__all__ = ["renyi_gaussian", "hellinger_gaussian", "chi2_gaussian", "alpha_gaussian", "tv_gaussian"]

_SERIES_TERMS = 14  # |u| < 0.05: the 14th term is below 1e-18 of the first


def is_gaussian(d) -> bool:
    """True for Normal, Independent(Normal, 1) and MultivariateNormal objects.

    >>> is_gaussian(Normal(0.0, 1.0)), is_gaussian(torch.distributions.Laplace(0.0, 1.0))
    (True, False)
    """
    if isinstance(d, Independent):
        return isinstance(d.base_dist, Normal) and d.reinterpreted_batch_ndims == 1
    return isinstance(d, (Normal, MultivariateNormal))


def _side(d):
    """(mean (…, d), ("D", variances) or ("L", scale_tril))."""
    if isinstance(d, Normal):
        return d.loc.unsqueeze(-1), ("D", d.scale.square().unsqueeze(-1))
    if isinstance(d, Independent):
        return d.base_dist.loc, ("D", d.base_dist.scale.square())
    return d.loc, ("L", d.scale_tril)


def eigen_parts(p, q):
    """(u, w), each (…, d): uᵢ = λᵢ − 1 for the eigenvalues λ of Σ₂⁻¹Σ₁, w = Uᵀ L₂⁻¹(μ₂ − μ₁).

    Diagonal pairs: uᵢ = (σ₁ᵢ² − σ₂ᵢ²)/σ₂ᵢ² and wᵢ = (μ₂ᵢ − μ₁ᵢ)/σ₂ᵢ, exactly. Equal
    covariance factors give u = 0 exactly. KL = ½ Σᵢ [wᵢ² + uᵢ − log(1 + uᵢ)].

    >>> u, w = eigen_parts(Normal(0.0, 2.0), Normal(1.0, 1.0))
    >>> float(u[0]), float(w[0])  # σ₁²/σ₂² − 1, (μ₂ − μ₁)/σ₂
    (3.0, 1.0)
    """
    if not (is_gaussian(p) and is_gaussian(q)):
        raise TypeError(
            f"p and q must be Normal, Independent(Normal, 1) or MultivariateNormal, "
            f"got {type(p).__name__} and {type(q).__name__}"
        )
    if isinstance(p, Normal) != isinstance(q, Normal):
        raise TypeError(
            "a univariate Normal pairs only with a Normal; use Independent(Normal, 1) for a diagonal Gaussian"
        )
    (mu1, s1), (mu2, s2) = _side(p), _side(q)
    if mu1.shape[-1] != mu2.shape[-1]:
        raise ValueError(f"event sizes differ: p has {mu1.shape[-1]}, q has {mu2.shape[-1]}")
    delta = mu2 - mu1  # (…, d)
    if s1[0] == "D" and s2[0] == "D":
        v1, v2 = torch.broadcast_tensors(s1[1], s2[1])
        return (v1 - v2) / v2, delta / v2.sqrt()
    m, z = relative_factor(s1, s2, delta)  # (…, d, d); L₂⁻¹Δ (…, d)
    lam, vecs = torch.linalg.eigh(m @ m.mT)
    w = (vecs.mT @ z.unsqueeze(-1)).squeeze(-1)
    eye = torch.eye(m.shape[-1], dtype=m.dtype, device=m.device)
    same = (m == eye).flatten(-2).all(-1, keepdim=True)  # equal factors: exactly u = 0
    return torch.where(same, 0.0, lam - 1.0), torch.where(same, z, w)


def _h(u, t):
    """log1p(t u)/t − log1p(u) (→ u − log1p(u) as t → 0), without cancellation for small u."""
    alpha = 1.0 - t
    if t == 0:
        return expm1_minus_x(torch.log1p(u))
    direct = torch.log1p(t * u) / t - torch.log1p(u)
    if abs(t) > 1:
        return direct
    small = u.detach().abs() < 0.05
    us = torch.where(small, u, 0.0)
    series, power, s_k = torch.zeros_like(u), us * us, 1.0  # S_k = Σ_{j<k−1} t^j
    for k in range(2, _SERIES_TERMS + 2):
        series = series + ((-1) ** k * s_k / k) * power
        power, s_k = power * us, s_k + t ** (k - 1)
    return torch.where(small, alpha * series, direct)


def renyi_gaussian(p, q, alpha: float) -> torch.Tensor:
    r"""Rényi divergence D_α(p‖q) between Gaussians, in nats.

    Parameters
    ----------
    p, q : torch.distributions.Distribution
        ``Normal``, ``Independent(Normal, 1)`` or ``MultivariateNormal``; a diagonal and a full
        Gaussian may be paired.
    alpha : float
        α ∈ [0, ∞]: 1 is KL(p‖q), ½ twice the Bhattacharyya distance, ∞ the max-divergence.

    Returns
    -------
    torch.Tensor
        The broadcast batch shape; +inf where α Σ₂ + (1 − α) Σ₁ is not positive definite.

    Raises
    ------
    TypeError
        For other distributions, or a univariate ``Normal`` with a multivariate one.
    ValueError
        If the event sizes differ.

    Notes
    -----
    .. math::

        D_\alpha(p \,\|\, q) = \frac{1}{\alpha - 1} \log \int p^\alpha q^{1 - \alpha}\, dx
        = \sum_i \Big[\frac{\alpha w_i^2}{2(1 + t u_i)}
        + \tfrac12 \Big(\frac{\log(1 + t u_i)}{t} - \log(1 + u_i)\Big)\Big],

    t = 1 − α, with :math:`\lambda_i = 1 + u_i` the eigenvalues of :math:`\Sigma_2^{-1}\Sigma_1` and w
    the mean difference in their basis (module docstring);
    :math:`D_\infty = \sum_i [-\tfrac12 \log \lambda_i + w_i^2/(2(1 - \lambda_i))]`, finite only
    when Σ₁ ≺ Σ₂.

    References
    ----------
    Gil, Alajaji & Linder, "Rényi divergence measures for commonly used univariate continuous
    distributions" (2013), table 2.

    Examples
    --------
    >>> N = lambda m, s: Normal(torch.tensor(m, dtype=torch.float64), torch.tensor(s, dtype=torch.float64))
    >>> round(float(renyi_gaussian(N(0.0, 1.0), N(1.0, 1.0), 0.5)), 6)  # α Δ²/2 for equal variances
    0.25
    """
    u, w = eigen_parts(p, q)
    if alpha == math.inf:
        inside = torch.where(
            u < 0,
            -0.5 * torch.log1p(u) + 0.5 * w * w / torch.where(u < 0, -u, 1.0),
            torch.where((u == 0) & (w == 0), 0.0, math.inf),
        )
        return inside.sum(-1)
    t = 1.0 - alpha
    den = 1.0 + t * u
    ok = den > 0
    dens = torch.where(ok, den, 1.0)
    terms = alpha * w * w / (2 * dens) + 0.5 * _h(torch.where(ok, u, 0.0), t)
    return torch.where(ok, terms, math.inf).sum(-1)


def hellinger_gaussian(p, q) -> torch.Tensor:
    r"""Hellinger distance between Gaussians, H = √(1 − BC), evaluated as √(−expm1(−D_½/2)).

    Parameters
    ----------
    p, q : torch.distributions.Distribution
        ``Normal``, ``Independent(Normal, 1)`` or ``MultivariateNormal``; a diagonal and a full
        Gaussian may be paired.

    Returns
    -------
    torch.Tensor
        The broadcast batch shape, in [0, 1].

    Raises
    ------
    TypeError
        For other distributions, or a univariate ``Normal`` with a multivariate one.
    ValueError
        If the event sizes differ.

    Notes
    -----
    .. math:: H^2 = 1 - \int \sqrt{p q}\, dx = 1 - e^{-D_{1/2}(p \| q)/2}.

    References
    ----------
    Gil, Alajaji & Linder, "Rényi divergence measures for commonly used univariate continuous
    distributions" (2013), table 2.

    Examples
    --------
    >>> N = lambda m, s: Normal(torch.tensor(m, dtype=torch.float64), torch.tensor(s, dtype=torch.float64))
    >>> round(float(hellinger_gaussian(N(0.0, 1.0), N(1.0, 1.0))) ** 2, 12)  # 1 − e^{−1/8}
    0.117503097415
    """
    return torch.sqrt(-torch.expm1(-0.5 * renyi_gaussian(p, q, 0.5)))


def chi2_gaussian(p, q) -> torch.Tensor:
    r"""Pearson χ²(p‖q) between Gaussians, +inf unless 2Σ₂ − Σ₁ ≻ 0.

    Parameters
    ----------
    p, q : torch.distributions.Distribution
        ``Normal``, ``Independent(Normal, 1)`` or ``MultivariateNormal``; a diagonal and a full
        Gaussian may be paired.

    Returns
    -------
    torch.Tensor
        The broadcast batch shape.

    Raises
    ------
    TypeError
        For other distributions, or a univariate ``Normal`` with a multivariate one.
    ValueError
        If the event sizes differ.

    Notes
    -----
    .. math:: \chi^2(p \,\|\, q) = \int \frac{(p - q)^2}{q}\, dx = e^{D_2(p \| q)} - 1.

    References
    ----------
    Gil, Alajaji & Linder, "Rényi divergence measures for commonly used univariate continuous
    distributions" (2013), table 2.

    Examples
    --------
    >>> N = lambda m, s: Normal(torch.tensor(m, dtype=torch.float64), torch.tensor(s, dtype=torch.float64))
    >>> round(float(chi2_gaussian(N(0.0, 1.0), N(1.0, 1.0))), 12)  # e^{Δ²} − 1
    1.718281828459
    """
    return torch.expm1(renyi_gaussian(p, q, 2.0))


def alpha_gaussian(p, q, alpha: float) -> torch.Tensor:
    r"""Amari α-divergence between Gaussians: α = 1 gives KL(p‖q), α = 0 gives KL(q‖p).

    Parameters
    ----------
    p, q : torch.distributions.Distribution
        ``Normal``, ``Independent(Normal, 1)`` or ``MultivariateNormal``; a diagonal and a full
        Gaussian may be paired.
    alpha : float
        Any real α; α < 0 uses :math:`D_\alpha(p\|q) = D_{1-\alpha}(q\|p)`.

    Returns
    -------
    torch.Tensor
        The broadcast batch shape.

    Raises
    ------
    TypeError
        For other distributions, or a univariate ``Normal`` with a multivariate one.
    ValueError
        If the event sizes differ.

    Notes
    -----
    .. math::

        D_\alpha(p \,\|\, q) = \frac{1 - \int p^\alpha q^{1-\alpha}}{\alpha(1 - \alpha)}
        = -\frac{\operatorname{expm1}\big((\alpha - 1) D^{R}_\alpha\big)}{\alpha(1 - \alpha)},

    with :math:`D^R_\alpha` the Rényi divergence.

    References
    ----------
    Amari, *Information Geometry and Its Applications* (2016), §3.5; Gil et al. (2013).

    Examples
    --------
    >>> N = lambda m, s: Normal(torch.tensor(m, dtype=torch.float64), torch.tensor(s, dtype=torch.float64))
    >>> p, q = N(0.0, 1.0), N(1.0, 1.0)
    >>> round(float(alpha_gaussian(p, q, 0.5)), 12) == round(4 * (1 - math.exp(-1 / 8)), 12)
    True
    """
    if alpha == 1:
        return renyi_gaussian(p, q, 1.0)
    if alpha == 0:
        return renyi_gaussian(q, p, 1.0)
    if alpha < 0:  # D_α(p‖q) = D_{1−α}(q‖p)
        return alpha_gaussian(q, p, 1.0 - alpha)
    return -torch.expm1((alpha - 1.0) * renyi_gaussian(p, q, alpha)) / (alpha * (1.0 - alpha))


def _tv_normal(p: Normal, q: Normal) -> torch.Tensor:
    """TV of two univariate normals from the (at most two) points where p = q."""
    m1, s1, m2, s2 = torch.broadcast_tensors(p.loc, p.scale, q.loc, q.scale)
    d = m2 - m1
    # in z = (x − μ₁)/σ₁: (σ₁² − σ₂²) z² − 2σ₁Δ z + Δ² + 2σ₂² log(σ₂/σ₁) = 0, real roots always
    a = s1 * s1 - s2 * s2
    b = -2 * s1 * d
    c = d * d + 2 * s2 * s2 * torch.log(s2 / s1)
    root = torch.sqrt(torch.clamp(d * d + 2 * a * torch.log(s1 / s2), min=0.0)) * 2 * s2
    qq = -0.5 * (b + torch.where(b >= 0, 1.0, -1.0) * root)  # the stable quadratic formula
    equal = a == 0
    a_ = torch.where(equal, 1.0, a)
    qq_ = torch.where(qq == 0, 1.0, qq)
    z1, z2 = qq / a_, torch.where(qq == 0, 0.0, c / qq_)
    lo, hi = torch.minimum(z1, z2), torch.maximum(z1, z2)
    y_lo, y_hi = (s1 * lo - d) / s2, (s1 * hi - d) / s2
    between = (torch.special.ndtr(hi) - torch.special.ndtr(lo)) - (torch.special.ndtr(y_hi) - torch.special.ndtr(y_lo))
    same_scale = torch.erf(d.abs() / (2 * math.sqrt(2) * s1))
    return torch.where(equal, same_scale, between.abs())


def tv_gaussian(p, q, *, n: int = 100_000, seed: int | None = 0):
    r"""Total variation sup_A |P(A) − Q(A)| between Gaussians; exact where it has a closed form.

    Parameters
    ----------
    p, q : torch.distributions.Distribution
        ``Normal``, ``Independent(Normal, 1)`` or ``MultivariateNormal``; a diagonal and a full
        Gaussian may be paired.
    n : int, default 100000
        Samples of p for the Monte Carlo estimate (used only without a closed form).
    seed : int, optional
        Seeds those samples (0: reproducible).

    Returns
    -------
    torch.Tensor or MCEstimate
        Univariate: exact, from the points where p = q (a quadratic) and Φ (absolute error a few
        ulps); equal covariances: exact; otherwise an `MCEstimate` (value, stderr, n).

    Raises
    ------
    TypeError
        For other distributions, or a univariate ``Normal`` with a multivariate one.
    ValueError
        If the event sizes differ.

    Notes
    -----
    For equal covariances
    :math:`\mathrm{TV} = \operatorname{erf}\big(\lVert L^{-1}(\mu_2 - \mu_1)\rVert / (2\sqrt2)\big)`;
    the estimate is :math:`\mathrm{TV} = \mathbb E_p[(1 - q/p)_+]`.

    References
    ----------
    Devroye, Mehrabian & Reddad, "The total variation distance between high-dimensional
    Gaussians" (2018).

    Examples
    --------
    >>> N = lambda m, s: Normal(torch.tensor(m, dtype=torch.float64), torch.tensor(s, dtype=torch.float64))
    >>> round(float(tv_gaussian(N(0.0, 1.0), N(2.0, 1.0))), 12)  # 2Φ(1) − 1
    0.682689492137
    """
    if isinstance(p, Normal) and isinstance(q, Normal):
        return _tv_normal(p, q)
    u, w = eigen_parts(p, q)
    if bool((u == 0).all()):
        return torch.erf(w.norm(dim=-1) / (2 * math.sqrt(2)))
    with mc_seeded(seed):
        x = p.sample((n,))
    terms = -torch.expm1(torch.clamp(q.log_prob(x) - p.log_prob(x), max=0.0))  # (n, …)
    return MCEstimate(terms.mean(0), terms.std(0) / math.sqrt(n), n)
