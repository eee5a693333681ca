"""A frozen one-dimensional ``scipy.stats`` distribution as a ``torch.distributions`` object.

Every measure of `klvae.measures.distribution_measures` accepts a frozen scipy distribution
(``scipy.stats.gamma(2.0, scale=0.5)``, ``scipy.stats.poisson(3.0)``) wherever it accepts a torch
one, alone or against a torch distribution: `as_distribution` wraps it in a `ScipyDistribution`,
whose log-density is scipy's ``logpdf`` / ``logpmf``, whose support is scipy's ``support()`` and
whose samples are scipy's ``rvs`` (seeded from torch's generator, so ``seed=`` reproduces them).
The measures then take quadrature (continuous) or summation (discrete) with their error bounds,
as for any torch pair without a closed form. Values come back as float64 tensors, without
gradients (scipy's densities have none).

>>> from scipy import stats
>>> import klvae
>>> r = klvae.kl_divergence(stats.gamma(2.0), stats.gamma(3.0))  # KL = log Γ(3) − log Γ(2) − ψ(2)
>>> round(float(r), 8), r.method
(0.27036285, 'quadrature')
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.distributions import Distribution, constraints

__all__ = ["ScipyDistribution", "as_distribution", "is_scipy_frozen"]


def is_scipy_frozen(x) -> bool:
    """True for a frozen ``scipy.stats`` distribution (``scipy.stats.norm(0, 1)``, …)."""
    dist = getattr(x, "dist", None)
    return dist is not None and hasattr(x, "support") and type(dist).__module__.startswith("scipy.stats")


class ScipyDistribution(Distribution):
    """A frozen 1-D scipy.stats distribution behind torch's ``Distribution`` interface (batch shape ()).

    Every measure that takes ``torch.distributions`` objects takes one of these (or the frozen
    scipy distribution itself); answers are float64 and computed by quadrature or summation.

    Parameters
    ----------
    frozen : scipy.stats frozen distribution
        A continuous (``pdf``) or discrete (``pmf``) 1-D distribution.

    Raises
    ------
    TypeError
        If `frozen` is not a frozen scipy.stats distribution.
    ValueError
        For a support bounded above only.

    See Also
    --------
    kl_distributions : KL between distribution objects.

    Notes
    -----
    ``log_prob`` is scipy's ``logpdf`` (or ``logpmf``); ``sample`` draws with a NumPy generator
    seeded from torch's, so ``torch.manual_seed`` reproduces the draws.

    References
    ----------
    Virtanen et al., "SciPy 1.0" (2020), ``scipy.stats``.

    Examples
    --------
    >>> from scipy import stats
    >>> d = ScipyDistribution(stats.norm(1.0, 2.0))
    >>> float(d.mean), float(d.variance), round(float(d.log_prob(1.0)), 6)
    (1.0, 4.0, -1.612086)
    """

    arg_constraints: dict = {}
    has_rsample = False

    def __init__(self, frozen):
        if not is_scipy_frozen(frozen):
            raise TypeError(f"expected a frozen scipy.stats distribution, got {type(frozen).__name__}")
        self.frozen = frozen
        self.discrete = hasattr(frozen, "pmf")
        self.anchor = torch.zeros((), dtype=torch.float64)  # the dtype of every answer
        lo, hi = (float(v) for v in frozen.support())
        self._support = _support(lo, hi, self.discrete)
        super().__init__(torch.Size(), torch.Size(), validate_args=False)

    @property
    def support(self):
        """The support as a ``torch.distributions.constraints`` object."""
        return self._support

    @property
    def mean(self):
        """The mean, a float64 scalar tensor."""
        return torch.tensor(float(self.frozen.mean()), dtype=torch.float64)

    @property
    def stddev(self):
        """The standard deviation, a float64 scalar tensor."""
        return torch.tensor(float(self.frozen.std()), dtype=torch.float64)

    @property
    def variance(self):
        """The variance, a float64 scalar tensor."""
        return self.stddev.square()

    def log_prob(self, value):
        """log p(x) (log pmf for a discrete distribution), float64.

        Parameters
        ----------
        value : array_like or torch.Tensor
            Points.

        Returns
        -------
        torch.Tensor
            value's shape.

        Examples
        --------
        >>> from scipy import stats
        >>> ScipyDistribution(stats.poisson(2.0)).log_prob(torch.tensor([0.0])).exp().tolist()  # e^{−2}
        [0.1353352832366127]
        """
        x = np.asarray(torch.as_tensor(value, dtype=torch.float64).detach().cpu())
        out = self.frozen.logpmf(x) if self.discrete else self.frozen.logpdf(x)
        return torch.as_tensor(np.asarray(out, dtype=np.float64))

    def sample(self, sample_shape=()):
        """Draws from the distribution, float64.

        Parameters
        ----------
        sample_shape : tuple of int, default ()
            The shape of the draws.

        Returns
        -------
        torch.Tensor
            `sample_shape`.

        Examples
        --------
        >>> from scipy import stats
        >>> _ = torch.manual_seed(0)
        >>> tuple(ScipyDistribution(stats.expon()).sample((3,)).shape)
        (3,)
        """
        seed = int(torch.randint(0, 2**31 - 1, ()))  # torch's generator decides: seed= reproduces
        draws = self.frozen.rvs(size=tuple(sample_shape), random_state=np.random.default_rng(seed))
        return torch.as_tensor(np.asarray(draws, dtype=np.float64))

    def entropy(self):
        """Not given here: the measures compute it by quadrature or summation.

        Raises
        ------
        NotImplementedError
            Always.
        """
        raise NotImplementedError("the entropy of a scipy distribution is computed by quadrature or summation")

    def __repr__(self) -> str:
        return f"ScipyDistribution({self.frozen.dist.name})"


def _support(lo: float, hi: float, discrete: bool):
    if discrete:
        if math.isinf(hi):
            return constraints.nonnegative_integer if lo == 0 else constraints._IntegerGreaterThan(int(lo))
        return constraints.integer_interval(int(lo), int(hi))
    if math.isinf(lo) and math.isinf(hi):
        return constraints.real
    if math.isinf(hi):
        return constraints.greater_than(lo)
    if math.isinf(lo):
        raise ValueError("a support bounded above only is not supported; reflect the distribution")
    return constraints.interval(lo, hi)


def as_distribution(x):
    """x itself if it is a torch distribution; a `ScipyDistribution` if it is a frozen scipy one."""
    return ScipyDistribution(x) if is_scipy_frozen(x) else x
