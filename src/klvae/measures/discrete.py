"""Entropy, cross-entropy and KL of discrete distributions on arrays, and the conventions they share.

Every function takes probability vectors along `axis` (default -1), broadcasts the other
axes, and returns the batch shape. Inputs are lists, NumPy arrays or torch tensors (any
device, autograd kept); the result comes back in the same kind (`klvae.measures.arrays`).
Jensen–Shannon (`klvae.measures.jensen_shannon`) reads its arguments the same way.

Units: ``base=None`` gives nats, ``base=2`` bits, ``base=10`` dits; any other positive
base except 1 gives "base-b units" (the value in nats divided by ln b).

Conventions (Cover & Thomas, *Elements of Information Theory*, 2nd ed., ch. 2):

- 0·log 0 = 0 and 0·log(0/q) = 0; p > 0 where q = 0 makes KL and cross-entropy ``+inf``
  (never NaN). Jensen–Shannon is always finite, at most ln 2 nats.
- Probabilities are checked: negative, NaN or infinite entries, or rows that do not sum
  to 1 within ``sqrt(eps)`` of the dtype (1.5e-8 for float64, 3.5e-4 for float32) raise
  ``ValueError`` naming the argument. ``normalize=True`` rescales rows instead.
- ``logits=True`` reads every distribution argument as unnormalised log-probabilities
  (model outputs); they go through ``log_softmax`` along `axis` and the measure is computed
  in log space, which is the stable path for network outputs. ``-inf`` marks a zero
  probability. To pass probabilities for one argument and logits for the other, give
  ``log(p)`` for the probabilities.

KL is summed as Σ [p log(p/q) − p + q]: every term is ≥ 0 (the added −p + q terms sum to
zero for normalised rows), so the sum does not cancel, and each term is computed as
p log(p/q) − (p − q), switching where p ≈ q to d s + 2p (s³/3 + s⁵/5 + …) with d = p − q and
s = d/(p + q) (log(p/q) = 2 atanh s), whose parts do not cancel. Nearly equal distributions
therefore keep full relative accuracy: a KL of 1e-17 between two rows differing by 1e-8 comes
out right, where Σ p log p − Σ p log q (cross-entropy minus entropy) returns rounding noise.
For rows that sum to 1 only up to rounding, the value is the generalized KL Σ[p log(p/q) − p + q] of those floats, which
differs from Σ p log(p/q) by Σq − Σp (zero for exactly normalized rows, and otherwise
the part of Σ p log(p/q) that measures a mismatch of total mass, not of shape).
Gradients are those of Σ p log(p/q), finite wherever the measure is (float32 and float64): an
entry with p = 0 carries no mass, and its partial in p, whose one-sided limit is −∞, is 0; every
other partial is exact, computed from the closed-form derivatives (log(p/q) + 1, −p/q, and for
Jensen–Shannon ½ log(p/m), ½ log(q/m)) so that subnormal entries do not overflow it. With
`logits=True` a −inf logit has gradient 0, its limit, and log-ratios past e^x's overflow point
(709.8 in float64, 88.7 in float32) keep the value and the gradient finite.

Speed: for CPU input that needs no gradient (NumPy arrays, lists, CPU tensors without
``requires_grad``), entropy, cross-entropy, KL and Jensen–Shannon of probabilities run as NumPy
ufuncs on the same memory, in row chunks that are validated and measured while in cache, on as
many threads as ``torch.get_num_threads()`` (the CPUs the process may use while torch is not
loaded); NumPy's float64 log is about 3× faster than torch's on CPU. NumPy and list input never
import torch, so a script or command that measures arrays starts at once. Tensors that require
grad, other devices, ``logits=True`` and distribution objects use torch.

The NumPy path lives in `klvae.measures._numpy_path` and `._numpy_kernels`, the torch path in
`klvae.measures._discrete_torch`, the argument checks both paths share in `klvae.measures._checks`.
"""

from __future__ import annotations

import math

from klvae.measures._numpy_kernels import cross_entropy_rows, entropy_rows, kl_rows
from klvae.measures._numpy_path import answer, discrete_torch, log_base, on_arrays

__all__ = ["entropy", "cross_entropy", "kl_divergence", "unit_name"]


def unit_name(base=None) -> str:
    """The unit of a result computed with `base`.

    Parameters
    ----------
    base : float, optional
        A logarithm base, as the measures take it: None (or e) for nats.

    Returns
    -------
    str
        ``"nats"``, ``"bits"`` (base 2), ``"dits"`` (base 10) or ``"base-b units"``.

    Raises
    ------
    ValueError
        If `base` is not a positive number other than 1.

    Examples
    --------
    >>> unit_name(), unit_name(2), unit_name(3)
    ('nats', 'bits', 'base-3 units')
    """
    log_base(base)
    if base is None or float(base) == math.e:
        return "nats"
    return {2.0: "bits", 10.0: "dits"}.get(float(base), f"base-{float(base):g} units")


def entropy(p, *, base=None, axis=-1, normalize=False, logits=False, exact=False):
    r"""Shannon entropy H(p) along `axis`, in nats (or `base` units).

    Parameters
    ----------
    p : array_like, torch.Tensor or torch.distributions.Distribution
        Probabilities, shape (..., K, ...) with the K outcomes along `axis`; with `logits`,
        unnormalised log-probabilities. Or a distribution object.
    base : float, optional
        Logarithm base; None for nats, 2 for bits, 10 for dits.
    axis : int, default -1
        The outcome axis; all other axes are batch axes.
    normalize : bool, default False
        Rescale rows to sum to 1 instead of raising.
    logits : bool, default False
        Read `p` as logits (``log_softmax`` is applied).
    exact : bool, default False
        For a distribution object, raise instead of estimating by Monte Carlo.

    Returns
    -------
    numpy.ndarray, torch.Tensor or MeasureResult
        The batch shape (`p`'s shape without `axis`), in `p`'s kind; a NumPy scalar for 1-d NumPy
        or list input. For a distribution object, `distribution_measure`'s answer.

    Raises
    ------
    ValueError
        If `p` is not probabilities (negative, NaN or infinite entries, rows not summing to 1),
        or `axis` or `base` is invalid.

    See Also
    --------
    entr : the elementwise term.
    joint_entropy, conditional_entropy : of a joint table.

    Notes
    -----
    .. math::

        H(p) = -\sum_i p_i \log p_i, \qquad 0 \le H(p) \le \log K,

    with 0·log 0 = 0.

    References
    ----------
    Cover & Thomas, *Elements of Information Theory* (2006), eq. 2.1.

    Examples
    --------
    >>> float(entropy([0.5, 0.25, 0.25], base=2))
    1.5
    >>> float(entropy([0.0, 1.0]))
    0.0
    """
    got = on_arrays(entropy_rows, (p,), ("p",), axis, normalize, logits)
    if got is None:
        return discrete_torch().entropy(p, base=base, axis=axis, normalize=normalize, logits=logits, exact=exact)
    return answer(got[0] / log_base(base) + 0.0, got[1])  # + 0.0 turns -0.0 into 0.0


def cross_entropy(p, q, *, base=None, axis=-1, normalize=False, logits=False, exact=False):
    r"""Cross-entropy H(p, q) along `axis`, in nats (or `base` units).

    Parameters
    ----------
    p : array_like, torch.Tensor or torch.distributions.Distribution
        The true distribution, shape (..., K, ...) along `axis`; or a distribution object.
    q : array_like, torch.Tensor or torch.distributions.Distribution
        The model distribution; broadcasts against `p`.
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
        The broadcast batch shape; +inf where some pᵢ > 0 has qᵢ = 0 (terms with pᵢ = 0 are 0).

    Raises
    ------
    ValueError
        If `p` or `q` is not probabilities, they do not broadcast, or `axis` or `base` is invalid.

    Notes
    -----
    .. math::

        H(p, q) = -\sum_i p_i \log q_i = H(p) + \mathrm{KL}(p \,\|\, q).

    References
    ----------
    Cover & Thomas, *Elements of Information Theory* (2006), §2.3 and problem 2.10.

    Examples
    --------
    >>> p, q = [0.5, 0.25, 0.25], [0.25, 0.25, 0.5]
    >>> float(cross_entropy(p, q, base=2))
    1.75
    >>> bool(abs(cross_entropy(p, q) - entropy(p) - kl_divergence(p, q)) < 1e-15)
    True
    """
    got = on_arrays(cross_entropy_rows, (p, q), ("p", "q"), axis, normalize, logits)
    if got is None:
        return discrete_torch().cross_entropy(
            p, q, base=base, axis=axis, normalize=normalize, logits=logits, exact=exact
        )
    return answer(got[0] / log_base(base), got[1])


def kl_divergence(p, q, *, base=None, axis=-1, normalize=False, logits=False, exact=False):
    r"""Kullback–Leibler divergence KL(p‖q) along `axis`, in nats (or `base` units).

    Always KL(p‖q), p first (unlike ``torch.nn.functional.kl_div(log q, p)``).

    Parameters
    ----------
    p, q : array_like, torch.Tensor or torch.distributions.Distribution
        Distributions along `axis`; they broadcast against each other. Or two distribution objects
        (``torch.distributions`` or frozen 1-D ``scipy.stats``).
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
        The broadcast batch shape; ≥ 0, 0 only for p = q, +inf where some pᵢ > 0 has qᵢ = 0.
        For distribution objects, `kl_distributions`' answer: a tensor for a closed form, else a
        `MeasureResult` with its error bound (quadrature, summation) or standard error (Monte
        Carlo); `kl_method` says which.

    Raises
    ------
    ValueError
        If `p` or `q` is not probabilities, they do not broadcast, or `axis` or `base` is invalid;
        with `exact`, where only Monte Carlo applies.
    TypeError
        If one argument is a distribution object and the other is not.

    See Also
    --------
    rel_entr, kl_div : the elementwise terms.

    Notes
    -----
    .. math::

        \mathrm{KL}(p \,\|\, q) = \sum_i p_i \log\frac{p_i}{q_i}
        = \sum_i \Big[p_i \log\frac{p_i}{q_i} - p_i + q_i\Big],

    the second sum of non-negative terms, each evaluated without cancellation (a series near
    pᵢ = qᵢ), so nearly equal inputs keep their relative accuracy; with `logits` the same from
    ``log_softmax`` outputs.

    References
    ----------
    Kullback & Leibler, "On information and sufficiency" (1951); Cover & Thomas, *Elements of
    Information Theory* (2006), eq. 2.26.

    Examples
    --------
    >>> round(float(kl_divergence([0.5, 0.5], [0.25, 0.75], base=2)), 12)  # ½log₂2 + ½log₂(2/3)
    0.207518749639
    >>> float(kl_divergence([0.5, 0.5], [1.0, 0.0]))
    inf
    """
    got = on_arrays(kl_rows, (p, q), ("p", "q"), axis, normalize, logits)
    if got is None:
        return discrete_torch().kl_divergence(
            p, q, base=base, axis=axis, normalize=normalize, logits=logits, exact=exact
        )
    return answer(got[0] / log_base(base), got[1])
