"""KL between distribution objects, and which method gives it.

`kl_distributions(p, q)` is `klvae.measures.distribution_measures.distribution_measure` for
"kl": klvae's closed forms first (written not to cancel where p ≈ q,
`klvae.measures.distributions`), then torch's registry, then quadrature or summation with an
error bound, then Monte Carlo with its standard error. `kl_method(p, q)` names the method, telling
klvae's closed forms from torch's. ``klvae.kl_divergence(p, q)`` comes here for distribution objects.
"""

from __future__ import annotations

from torch.distributions import Distribution

from klvae.measures.distribution_measures import distribution_measure, is_distribution, measure_method
from klvae.measures.distributions import check_shapes, exact_kl

__all__ = ["kl_distributions", "kl_method"]


def kl_distributions(p, q, *, exact: bool = False, base=None, n: int = 100_000, seed: int | None = 0):
    r"""KL(p‖q) between two distribution objects, in nats (or `base` units).

    Parameters
    ----------
    p, q : torch.distributions.Distribution or scipy.stats frozen distribution
        ``torch.distributions`` (or frozen 1-D ``scipy.stats``) objects with broadcastable batch
        shapes and equal event shapes.
    exact : bool, default False
        Refuse a Monte Carlo answer (ValueError).
    base : float, optional
        Logarithm base of the result; None for nats.
    n : int, default 100_000
        Samples of the Monte Carlo fallback.
    seed : int or None, default 0
        Its seed.

    Returns
    -------
    torch.Tensor or MeasureResult
        The broadcast batch shape: plain for a closed form, a `MeasureResult` (``method``,
        ``error_bound`` or ``stderr`` and ``n``) otherwise.

    Raises
    ------
    TypeError
        If `p` or `q` is not a distribution object.
    ValueError
        If the shapes do not match; with `exact`, where only Monte Carlo applies.

    See Also
    --------
    kl_method : which method answers.
    distribution_measure : every other measure of distribution objects.

    Notes
    -----
    .. math:: \mathrm{KL}(p \,\|\, q) = \mathbb{E}_{x \sim p}\big[\log p(x) - \log q(x)\big].

    References
    ----------
    Gil, Alajaji & Linder (2013); Penny, "KL-divergences of Normal, Gamma, Dirichlet and Wishart
    densities" (2001).

    Examples
    --------
    >>> import torch
    >>> from torch.distributions import Beta, Categorical, Independent, MixtureSameFamily, MultivariateNormal, Normal
    >>> b = lambda a: Beta(torch.tensor(a, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64))
    >>> float(kl_distributions(b(3.0), b(3.0)))
    0.0
    >>> bool(kl_distributions(b(3.0), b(3.0 * (1 + 1e-8))) > 0)  # torch gives 0 or a negative number here
    True
    >>> mix = MixtureSameFamily(Categorical(torch.ones(2)), Normal(torch.tensor([-2.0, 2.0]), torch.ones(2)))
    >>> r = kl_distributions(mix, Normal(0.0, 1.0))  # one dimension: quadrature
    >>> r.method, bool(r.error_bound < 1e-9)
    ('quadrature', True)
    >>> mix2 = MixtureSameFamily(Categorical(torch.ones(2)), Independent(Normal(torch.zeros(2, 2), 1.0), 1))
    >>> r = kl_distributions(mix2, MultivariateNormal(torch.zeros(2), torch.eye(2)), n=1000)
    >>> r.method, r.n, bool(r.stderr >= 0)
    ('monte carlo', 1000, True)
    """
    if not (is_distribution(p) and is_distribution(q)):
        raise TypeError(
            f"p and q must both be torch.distributions objects, got {type(p).__name__} and {type(q).__name__}"
        )
    return distribution_measure("kl", p, q, base=base, exact=exact, n=n, seed=seed)


def kl_method(p, q) -> str:
    """How `kl_distributions` computes KL(p‖q); an exact answer is computed to find out.

    Parameters
    ----------
    p, q : torch.distributions.Distribution or scipy.stats frozen distribution
        Two distribution objects, as `kl_distributions` takes them.

    Returns
    -------
    str
        ``"closed form"`` (klvae's), ``"torch"`` (torch's registry), ``"quadrature"``,
        ``"summation"`` or ``"monte carlo"``.

    Raises
    ------
    TypeError
        If `p` or `q` is not a distribution object.
    ValueError
        If the shapes do not match.

    See Also
    --------
    measure_method : the same for every measure.

    Examples
    --------
    >>> import torch
    >>> from torch.distributions import Categorical, Independent, MixtureSameFamily, MultivariateNormal
    >>> from torch.distributions import Normal, StudentT
    >>> kl_method(Normal(0.0, 1.0), Normal(1.0, 2.0)), kl_method(Normal(0.0, 1.0), StudentT(3.0))
    ('closed form', 'quadrature')
    >>> mix = MixtureSameFamily(Categorical(torch.ones(2)), Independent(Normal(torch.zeros(2, 2), 1.0), 1))
    >>> kl_method(mix, MultivariateNormal(torch.zeros(2), torch.eye(2)))
    'monte carlo'
    """
    if isinstance(p, Distribution) and isinstance(q, Distribution):
        check_shapes(p, q)
        method, _ = exact_kl(p, q)
        if method is not None:
            return method
    return measure_method("kl", p, q)
