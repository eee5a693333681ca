"""The Jensen–Shannon divergence and distance between discrete distributions.

Arguments are read as by `klvae.measures.discrete` (probabilities along `axis`, lists, NumPy
arrays or torch tensors with autograd kept, `normalize`, `logits`, `base`), whose module
docstring gives the conventions. Each entry's contribution ½[p log(p/m) + q log(q/m)] is ≥ 0 and
evaluated by a series where p ≈ q, so nearly equal inputs keep their relative accuracy; the
value is finite for any pair, at most log 2.
"""

from __future__ import annotations

import numpy as np

from klvae.measures._numpy_kernels import js_rows
from klvae.measures._numpy_path import answer, discrete_torch, log_base, on_arrays

__all__ = ["js_divergence", "js_distance"]


def js_divergence(p, q, *, base=None, axis=-1, normalize=False, logits=False, exact=False):
    r"""Jensen–Shannon divergence JS(p, q), in nats (or `base` units).

    Symmetric, finite, 0 ≤ JS ≤ log 2 (1 bit), zero only for p = q.

    Parameters
    ----------
    p, q : array_like, torch.Tensor or torch.distributions.Distribution
        Distributions along `axis`; they broadcast against each other. Or two distribution objects.
    base : float, optional
        Logarithm base; None for nats.
    axis : int, default -1
        The outcome axis.
    normalize : bool, default False
        Rescale rows to sum to 1 instead of raising.
    logits : bool, default False
        Read both `p` and `q` as logits.
    exact : bool, default False
        For distribution objects, raise instead of estimating by Monte Carlo.

    Returns
    -------
    numpy.ndarray, torch.Tensor or MeasureResult
        The broadcast batch shape.

    Raises
    ------
    ValueError
        If `p` or `q` is not probabilities, they do not broadcast, or `axis` or `base` is invalid.

    See Also
    --------
    js_distance : its square root, a metric.

    Notes
    -----
    .. math::

        \mathrm{JS}(p, q) = \tfrac12 \mathrm{KL}(p \,\|\, m) + \tfrac12 \mathrm{KL}(q \,\|\, m),
        \qquad m = \tfrac12 (p + q).

    References
    ----------
    Lin, "Divergence measures based on the Shannon entropy" (1991).

    Examples
    --------
    >>> float(js_divergence([1.0, 0.0], [0.0, 1.0], base=2))  # disjoint supports: 1 bit
    1.0
    """
    got = on_arrays(js_rows, (p, q), ("p", "q"), axis, normalize, logits)
    if got is None:
        return discrete_torch().js_divergence(
            p, q, base=base, axis=axis, normalize=normalize, logits=logits, exact=exact
        )
    return answer(got[0] * (0.5 / log_base(base)), got[1])


def js_distance(p, q, *, base=None, axis=-1, normalize=False, logits=False):
    r"""Jensen–Shannon distance √JS(p, q), a metric on distributions.

    Same as ``scipy.spatial.distance.jensenshannon`` except that scipy silently normalizes its
    inputs (here that needs `normalize`).

    Parameters
    ----------
    p, q : array_like or torch.Tensor
        Distributions along `axis`; they broadcast against each other.
    base : float, optional
        Logarithm base of the divergence; None for nats.
    axis : int, default -1
        The outcome axis.
    normalize : bool, default False
        Rescale rows to sum to 1 instead of raising.
    logits : bool, default False
        Read both `p` and `q` as logits.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The broadcast batch shape; the gradient is infinite at p = q.

    Raises
    ------
    ValueError
        If `p` or `q` is not probabilities, they do not broadcast, or `axis` or `base` is invalid.

    Notes
    -----
    .. math:: d_{\mathrm{JS}}(p, q) = \sqrt{\mathrm{JS}(p, q)}.

    References
    ----------
    Endres & Schindelin, "A new metric for probability distributions" (2003).

    Examples
    --------
    >>> float(js_distance([1.0, 0.0], [0.0, 1.0], base=2))
    1.0
    """
    got = on_arrays(js_rows, (p, q), ("p", "q"), axis, normalize, logits)
    if got is None:
        return discrete_torch().js_distance(p, q, base=base, axis=axis, normalize=normalize, logits=logits)
    return answer(np.sqrt(got[0] * (0.5 / log_base(base))), got[1])
