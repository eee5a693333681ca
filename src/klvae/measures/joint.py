"""Measures of a joint probability table p(x, y): joint and conditional entropy, mutual information.

The table's last two axes are X (axis -2) and Y (axis -1); other axes are batch axes.
Inputs are lists, NumPy arrays or torch tensors, checked as probabilities as in
`klvae.measures.discrete`; units follow `base` as there.
"""

from __future__ import annotations

import torch

from klvae.measures._checks import check_probs
from klvae.measures._kernels import kl_terms
from klvae.measures._numpy_path import log_base
from klvae.measures._partials import textbook_gradient
from klvae.measures.arrays import from_tensor, is_torch, to_tensors

__all__ = ["joint_entropy", "conditional_entropy", "mutual_information"]


def _prepare_joint(pxy, normalize):
    """Validate a joint table p(x, y) over the last two axes (x = axis -2, y = axis -1)."""
    torch_out = is_torch(pxy)
    (t,) = to_tensors(pxy, names=("pxy",))
    if t.dim() < 2:
        raise ValueError(f"pxy must have at least 2 dimensions (x, y), got shape {tuple(t.shape)}")
    if t.shape[-1] == 0 or t.shape[-2] == 0:
        raise ValueError(f"pxy has an empty axis: shape {tuple(t.shape)}")
    flat = t.reshape(*t.shape[:-2], -1)
    flat, has_zero = check_probs(flat, "pxy", flat.dim() - 1, normalize)
    return flat.reshape(t.shape), has_zero, torch_out


def joint_entropy(pxy, *, base=None, normalize=False):
    r"""Joint entropy H(X, Y) of a probability table over its last two axes.

    Parameters
    ----------
    pxy : array_like or torch.Tensor
        Joint probabilities, shape (..., |X|, |Y|) (X along axis -2, Y along axis -1), summing to 1
        over the last two axes; lists, NumPy or torch.
    base : float, optional
        Logarithm base; None for nats (2: bits, 10: dits).
    normalize : bool, default False
        Rescale each table to sum to 1 instead of raising.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The batch shape (...); a tensor for tensor input.

    Raises
    ------
    ValueError
        If `pxy` has fewer than two axes or an empty one, or is not a probability table (negative
        entries, NaN, sums other than 1 without `normalize`).

    See Also
    --------
    conditional_entropy, mutual_information

    Notes
    -----
    .. math:: H(X, Y) = -\sum_{x, y} p(x, y) \log p(x, y).

    References
    ----------
    Cover & Thomas, *Elements of Information Theory* (2006), eq. 2.8.

    Examples
    --------
    >>> float(joint_entropy([[0.25, 0.25], [0.25, 0.25]], base=2))
    2.0
    """
    t, _, torch_out = _prepare_joint(pxy, normalize)
    h = -torch.xlogy(t, t).sum((-2, -1))
    return from_tensor(h / log_base(base), torch_out)


def conditional_entropy(pxy, *, given=-2, base=None, normalize=False):
    r"""Conditional entropy H(Y | X) (or H(X | Y)) of a probability table over its last two axes.

    By default (``given=-2``) the result is H(Y | X), conditioning on the row variable X;
    ``given=-1`` gives H(X | Y). Every term is ≥ 0 (p(x, y) ≤ p(x)), so the result is never
    computed as H(X, Y) − H(X).

    Parameters
    ----------
    pxy : array_like or torch.Tensor
        Joint probabilities, shape (..., |X|, |Y|) (X along axis -2, Y along axis -1), summing to 1
        over the last two axes; lists, NumPy or torch.
    given : int, default -2
        -2 (condition on X, the rows) or -1 (condition on Y, the columns).
    base : float, optional
        Logarithm base; None for nats (2: bits, 10: dits).
    normalize : bool, default False
        Rescale each table to sum to 1 instead of raising.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The batch shape (...); a tensor for tensor input.

    Raises
    ------
    ValueError
        If `given` is not -2 or -1, or `pxy` has fewer than two axes or an empty one, or is not a
        probability table (negative entries, NaN, sums other than 1 without `normalize`).

    See Also
    --------
    joint_entropy, mutual_information

    Notes
    -----
    .. math:: H(Y \mid X) = -\sum_{x, y} p(x, y) \log \frac{p(x, y)}{p(x)} = H(X, Y) - H(X).

    References
    ----------
    Cover & Thomas, *Elements of Information Theory* (2006), eq. 2.10.

    Examples
    --------
    >>> float(conditional_entropy([[0.5, 0.0], [0.25, 0.25]], base=2))  # H(Y|X) = ½·0 + ½·1
    0.5
    >>> round(float(conditional_entropy([[0.5, 0.0], [0.25, 0.25]], given=-1, base=2)), 12)  # H(X|Y)
    0.688721875541
    """
    if given not in (-2, -1):
        raise ValueError(f"given must be -2 (condition on X, the rows) or -1 (on Y, the columns), got {given!r}")
    t, _, torch_out = _prepare_joint(pxy, normalize)
    marginal = t.sum(-1 if given == -2 else -2, keepdim=True)  # p(x) as (..., X, 1) or p(y) as (..., 1, Y)
    ratio = torch.where(t > 0, t / marginal, 1.0)
    h = -torch.xlogy(t, ratio).sum((-2, -1))
    return from_tensor(h / log_base(base), torch_out)


def mutual_information(pxy, *, base=None, normalize=False):
    r"""Mutual information I(X; Y) = KL(p(x, y) ‖ p(x) p(y)) of a table over its last two axes.

    I(X; Y) ≥ 0, zero exactly when X and Y are independent (the table is an outer product).
    Computed with the same non-negative-term KL as `kl_divergence`, so near-independence keeps
    accuracy.

    Parameters
    ----------
    pxy : array_like or torch.Tensor
        Joint probabilities, shape (..., |X|, |Y|) (X along axis -2, Y along axis -1), summing to 1
        over the last two axes; lists, NumPy or torch.
    base : float, optional
        Logarithm base; None for nats (2: bits, 10: dits).
    normalize : bool, default False
        Rescale each table to sum to 1 instead of raising.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The batch shape (...); a tensor for tensor input.

    Raises
    ------
    ValueError
        If `pxy` has fewer than two axes or an empty one, or is not a probability table (negative
        entries, NaN, sums other than 1 without `normalize`).

    See Also
    --------
    kl_divergence, conditional_entropy

    Notes
    -----
    .. math:: I(X; Y) = \sum_{x, y} p(x, y) \log \frac{p(x, y)}{p(x)\, p(y)} = H(Y) - H(Y \mid X).

    References
    ----------
    Cover & Thomas, *Elements of Information Theory* (2006), eq. 2.28.

    Examples
    --------
    >>> round(float(mutual_information([[0.5, 0.0], [0.0, 0.5]], base=2)), 12)  # Y = X: one bit
    1.0
    >>> float(mutual_information([[0.25, 0.25], [0.25, 0.25]]))  # independent
    0.0
    """
    t, has_zero, torch_out = _prepare_joint(pxy, normalize)
    product = t.sum(-1, keepdim=True) * t.sum(-2, keepdim=True)  # p(x) p(y), (..., X, Y)
    mi = kl_terms(t, product, has_zero or bool((product.detach() == 0).any())).sum((-2, -1))
    mi = textbook_gradient(mi, t, product, (-2, -1))
    return from_tensor(mi / log_base(base), torch_out)
