"""Binary cross-entropy, from probabilities and from logits, elementwise.

The cross-entropy between Bernoulli(y) and Bernoulli(p) for a target y ∈ [0, 1], as the loss of
a binary classifier or a Bernoulli decoder; lists, NumPy arrays or torch tensors (autograd kept),
broadcast, in nats (or `base` units), answered in the inputs' kind.
"""

from __future__ import annotations

from klvae.measures._numpy_path import discrete_torch

__all__ = ["binary_cross_entropy", "binary_cross_entropy_with_logits"]


def binary_cross_entropy(target, prob, *, base=None, reduction="none"):
    r"""Binary cross-entropy of a target y and a probability p, elementwise.

    Parameters
    ----------
    target : array_like or torch.Tensor
        y in [0, 1], any shape.
    prob : array_like or torch.Tensor
        p in [0, 1]; broadcasts against `target`.
    base : float, optional
        Logarithm base; None for nats.
    reduction : {"none", "sum", "mean"}, default "none"
        The broadcast elementwise losses, their sum, or their mean over all elements (what
        ``torch.nn.functional.binary_cross_entropy`` returns by default).

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The losses, in the inputs' kind; +inf where p = 0 with y > 0 or p = 1 with y < 1.

    Raises
    ------
    ValueError
        If a value lies outside [0, 1] or is NaN, the shapes do not broadcast, or `reduction` is
        not one of the three.

    See Also
    --------
    binary_cross_entropy_with_logits : from a logit, without overflow.

    Notes
    -----
    .. math::

        \mathrm{BCE}(y, p) = -\big[y \log p + (1 - y) \log(1 - p)\big],

    with log(1 − p) computed as log1p(−p), and 0·log 0 = 0.

    References
    ----------
    Goodfellow, Bengio & Courville, *Deep Learning* (2016), §6.2.2.2.

    Examples
    --------
    >>> float(binary_cross_entropy(1.0, 0.5, base=2))
    1.0
    """
    return discrete_torch().binary_cross_entropy(target, prob, base=base, reduction=reduction)


def binary_cross_entropy_with_logits(target, logits, *, base=None, reduction="none"):
    r"""Binary cross-entropy from a logit z (p = sigmoid(z)), elementwise.

    Parameters
    ----------
    target : array_like or torch.Tensor
        y in [0, 1], any shape.
    logits : array_like or torch.Tensor
        z, any finite reals; broadcasts against `target`.
    base : float, optional
        Logarithm base; None for nats.
    reduction : {"none", "sum", "mean"}, default "none"
        As in `binary_cross_entropy`.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The losses, in the inputs' kind; finite for every finite z.

    Raises
    ------
    ValueError
        If `target` lies outside [0, 1], `logits` has NaN or infinite entries, the shapes do not
        broadcast, or `reduction` is not one of the three.

    Notes
    -----
    .. math::

        -\big[y \log \sigma(z) + (1 - y) \log(1 - \sigma(z))\big] = \operatorname{softplus}(z) - y z,

    computed as max(z, 0) − y·z + log1p(exp(−|z|)), so it never overflows.

    References
    ----------
    The stable form of ``torch.nn.BCEWithLogitsLoss``.

    Examples
    --------
    >>> float(binary_cross_entropy_with_logits(1.0, 0.0, base=2))  # sigmoid(0) = 1/2
    1.0
    """
    return discrete_torch().binary_cross_entropy_with_logits(target, logits, base=base, reduction=reduction)
