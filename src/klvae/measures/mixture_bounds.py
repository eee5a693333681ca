"""KL between Gaussian mixtures: guaranteed bounds, the variational approximation and Monte Carlo.

For f = Σ_a π_a f_a and g = Σ_b ω_b g_b with Gaussian components (a single Gaussian is a mixture of
one), KL(f‖g) = L_f(f) − L_f(g) with L_f(g) = ∫ f log g. Two bounds on each L hold exactly:

- by Jensen's inequality (log is concave), with the product-of-Gaussians integrals
  z_ab = ∫ f_a g_b = N(μ_a; μ_b, Σ_a + Σ_b):   L_f(g) ≤ Σ_a π_a log Σ_b ω_b z_ab;
- by the variational (log-sum) inequality with the best weights:
  L_f(g) ≥ Σ_a π_a [log Σ_b ω_b e^{−KL(f_a‖g_b)} − H(f_a)].

So KL(f‖g) lies between the **lower** bound (variational L_f(f) minus Jensen L_f(g)) and the
**upper** bound (Jensen L_f(f) minus variational L_f(g)) of Durrieu, Thiran & Kelly (2012). The
Hershey–Olsen **variational** approximation, the difference of the two variational terms,

    D_var = Σ_a π_a log[Σ_a' π_a' e^{−KL(f_a‖f_a')} / Σ_b ω_b e^{−KL(f_a‖g_b)}],

is exact for single Gaussians and often close, but carries no guarantee (it can fall outside the
bounds' interval only where they are loose, and can be below the true KL). The Monte Carlo estimate
(`klvae.measures.monte_carlo.mc_kl`) is unbiased, with its standard error.

Reference: Hershey & Olsen (2007), "Approximating the Kullback Leibler divergence between Gaussian
mixture models", ICASSP, §5; Durrieu, Thiran & Kelly (2012), "Lower and upper bounds for
approximation of the Kullback-Leibler divergence between Gaussian mixture models", ICASSP.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch.distributions import Independent, MixtureSameFamily, MultivariateNormal, Normal

from klvae.measures.monte_carlo import mc_kl
from klvae.measures.mvn import kl_mvn
from klvae.measures.results import MeasureResult

__all__ = ["MixtureKL", "kl_gaussian_mixtures"]


class MixtureKL(NamedTuple):
    r"""KL(f‖g) between Gaussian mixtures: guaranteed bounds, an approximation and an estimate, in nats.

    Parameters
    ----------
    lower : torch.Tensor
        The guaranteed lower bound, batch shape.
    upper : torch.Tensor
        The guaranteed upper bound.
    variational : torch.Tensor
        Hershey and Olsen's variational approximation (no guarantee).
    monte_carlo : MeasureResult
        The unbiased Monte Carlo estimate, with its ``stderr``.

    See Also
    --------
    kl_gaussian_mixtures : what returns one.

    Notes
    -----
    :math:`\text{lower} \le \mathrm{KL}(f \,\|\, g) \le \text{upper}` always.

    References
    ----------
    Durrieu, Thiran & Kelly, "Lower and upper bounds for approximation of the Kullback-Leibler
    divergence between Gaussian mixture models" (ICASSP 2012).

    Examples
    --------
    >>> from torch.distributions import Categorical
    >>> D = torch.float64
    >>> means = torch.tensor([-2.0, 2.0], dtype=D)
    >>> prior = MixtureSameFamily(Categorical(torch.ones(2, dtype=D)), Normal(means, 1.0))
    >>> r = kl_gaussian_mixtures(Normal(torch.tensor(0.5, dtype=D), 0.5), prior)
    >>> r._fields
    ('lower', 'upper', 'variational', 'monte_carlo')
    """

    lower: torch.Tensor
    upper: torch.Tensor
    variational: torch.Tensor
    monte_carlo: MeasureResult


def _components(d):
    """(log weights (…, K), means (…, K, D), covariances (…, K, D, D)) of a Gaussian or a mixture."""
    if isinstance(d, MixtureSameFamily):
        log_w = torch.log_softmax(d.mixture_distribution.logits, -1)
        loc, cov = _gaussian(d.component_distribution)
        return log_w, loc, cov
    loc, cov = _gaussian(d)
    return torch.zeros(loc.shape[:-1] + (1,), dtype=loc.dtype, device=loc.device), loc.unsqueeze(-2), cov.unsqueeze(-3)


def _gaussian(d):
    if isinstance(d, Normal):
        return d.loc.unsqueeze(-1), d.scale.square().unsqueeze(-1).unsqueeze(-1)
    if isinstance(d, Independent) and isinstance(d.base_dist, Normal) and d.reinterpreted_batch_ndims == 1:
        return d.base_dist.loc, torch.diag_embed(d.base_dist.scale.square())
    if isinstance(d, MultivariateNormal):
        return d.loc, d.covariance_matrix
    raise TypeError(
        "p and q must be Gaussians (Normal, Independent(Normal, 1), MultivariateNormal) or "
        f"MixtureSameFamily of them, got {type(d).__name__}"
    )


def _pairwise_kl(loc_a, cov_a, loc_b, cov_b):
    """KL(f_a‖g_b) for every a, b: (…, A, B)."""
    return kl_mvn(loc_a.unsqueeze(-2), cov_a.unsqueeze(-3), loc_b.unsqueeze(-3), cov_b.unsqueeze(-4), validate=False)


def _log_products(loc_a, cov_a, loc_b, cov_b):
    """log z_ab = log ∫ f_a g_b = log N(μ_a; μ_b, Σ_a + Σ_b): (…, A, B)."""
    cov = cov_a.unsqueeze(-3) + cov_b.unsqueeze(-4)
    return MultivariateNormal(loc_b.unsqueeze(-3), covariance_matrix=cov, validate_args=False).log_prob(
        loc_a.unsqueeze(-2)
    )


def _entropies(cov):
    d = cov.shape[-1]
    return 0.5 * (d * (1.0 + torch.log(torch.tensor(2 * torch.pi, dtype=cov.dtype))) + torch.logdet(cov))


def _variational_term(log_pi, log_w, kl_ab):
    """Σ_a π_a log Σ_b ω_b e^{−KL(f_a‖g_b)} (without the −H(f_a) term)."""
    return (log_pi.exp() * torch.logsumexp(log_w.unsqueeze(-2) - kl_ab, -1)).sum(-1)


def _jensen_term(log_pi, log_w, log_z):
    """Σ_a π_a log Σ_b ω_b z_ab."""
    return (log_pi.exp() * torch.logsumexp(log_w.unsqueeze(-2) + log_z, -1)).sum(-1)


def kl_gaussian_mixtures(p, q, *, n: int = 100_000, seed: int | None = 0) -> MixtureKL:
    r"""KL(p‖q) between Gaussian mixtures (or a mixture and a Gaussian), bounded and estimated.

    Parameters
    ----------
    p, q : torch.distributions.Distribution
        ``Normal``, ``Independent(Normal, 1)``, ``MultivariateNormal``, or ``MixtureSameFamily``
        of them, of one dimension D.
    n : int, default 100000
        Samples of p for the Monte Carlo estimate.
    seed : int, optional
        Seeds those samples (0 by default: reproducible; None uses torch's generator).

    Returns
    -------
    MixtureKL
        ``lower`` ≤ KL ≤ ``upper`` always; ``variational`` (exact when both are single Gaussians,
        no guarantee otherwise); ``monte_carlo`` with its standard error; each of the batch shape.

    Raises
    ------
    TypeError
        For components of another family.
    ValueError
        If p and q differ in dimension, or `n` is below 2.

    See Also
    --------
    kl_divergence : closed forms and Monte Carlo for distribution objects.
    mc_kl : the Monte Carlo estimate alone.

    Notes
    -----
    For :math:`f = \sum_a \pi_a f_a` and :math:`g = \sum_b \omega_b g_b`, with
    :math:`z_{ab} = \int f_a g_b = \mathcal N(\mu_a; \mu_b, \Sigma_a + \Sigma_b)` and
    :math:`L_f(g) = \int f \log g`:

    .. math::

        \sum_a \pi_a \Big[\log \sum_b \omega_b e^{-\mathrm{KL}(f_a \| g_b)} - H(f_a)\Big]
        \le L_f(g) \le \sum_a \pi_a \log \sum_b \omega_b z_{ab},

    and KL(f‖g) = L_f(f) − L_f(g) lies between the bounds these give. The variational
    approximation is

    .. math::

        D_{\text{var}} = \sum_a \pi_a \log \frac{\sum_{a'} \pi_{a'} e^{-\mathrm{KL}(f_a \| f_{a'})}}
        {\sum_b \omega_b e^{-\mathrm{KL}(f_a \| g_b)}}.

    The cost is O(A·B·D³) for A and B components, plus the n samples.

    References
    ----------
    Hershey & Olsen, "Approximating the Kullback Leibler divergence between Gaussian mixture
    models" (ICASSP 2007), §5; Durrieu, Thiran & Kelly (ICASSP 2012).

    Examples
    --------
    >>> from torch.distributions import Categorical
    >>> D = torch.float64
    >>> means = torch.tensor([-2.0, 2.0], dtype=D)
    >>> prior = MixtureSameFamily(Categorical(torch.ones(2, dtype=D)), Normal(means, 1.0))
    >>> r = kl_gaussian_mixtures(Normal(torch.tensor(0.5, dtype=D), 0.5), prior)
    >>> mc, se = r.monte_carlo, r.monte_carlo.stderr
    >>> bool(r.lower <= mc + 4 * se and mc - 4 * se <= r.upper)
    True
    """
    log_pi, loc_a, cov_a = _components(p)
    log_w, loc_b, cov_b = _components(q)
    if loc_a.shape[-1] != loc_b.shape[-1]:
        raise ValueError(f"p and q must have one dimension, got {loc_a.shape[-1]} and {loc_b.shape[-1]}")
    h_a = (log_pi.exp() * _entropies(cov_a)).sum(-1)  # Σ_a π_a H(f_a)
    var_ff = _variational_term(log_pi, log_pi, _pairwise_kl(loc_a, cov_a, loc_a, cov_a)) - h_a
    var_fg = _variational_term(log_pi, log_w, _pairwise_kl(loc_a, cov_a, loc_b, cov_b)) - h_a
    jen_ff = _jensen_term(log_pi, log_pi, _log_products(loc_a, cov_a, loc_a, cov_a))
    jen_fg = _jensen_term(log_pi, log_w, _log_products(loc_a, cov_a, loc_b, cov_b))
    lower = (var_ff - jen_fg).clamp_min(0.0)
    upper = jen_ff - var_fg
    est = mc_kl(p, q, n, seed=seed)
    mc = MeasureResult.wrap(est.value, method="monte carlo", stderr=est.stderr, n=n)
    return MixtureKL(lower, upper, var_ff - var_fg, mc)
