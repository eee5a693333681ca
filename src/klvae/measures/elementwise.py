"""Elementwise information terms, as in scipy.special: rel_entr, kl_div, entr.

Each takes lists, NumPy arrays or torch tensors (any device, autograd kept), broadcasts
its arguments as NumPy does, and gives back the same kind (NumPy input of less than
float64 precision is computed in float64 and answered in its own dtype). They agree with
``scipy.special`` at every value scipy gets right, including the conventions at 0
(0·log 0 = 0) and the +inf outside the domain, and stay exact where scipy's x·log(x/y)
is not: where x/y overflows or underflows (subnormal arguments) the logarithm is taken
as log x − log y, and where x ≈ y as log1p((x − y)/y), so that the small value keeps its
relative accuracy. Summed over an axis they are the discrete measures of `klvae.measures.discrete`.
"""

from __future__ import annotations

import math

import torch

from klvae.measures._checks import broadcast_elementwise
from klvae.measures._kernels import kl_terms, log_ratio
from klvae.measures._partials import with_partials
from klvae.measures.arrays import from_tensor, is_torch, to_tensors

__all__ = ["rel_entr", "kl_div", "entr"]


def _tensors(values, names):
    """Broadcast float tensors, whether to answer in torch, and the answer's dtype."""
    torch_out = is_torch(*values)
    ts = to_tensors(*values, names=names)
    dtype = ts[0].dtype
    if not torch_out and dtype != torch.float64:
        ts = [t.to(torch.float64) for t in ts]
    if len(ts) == 2:
        ts = list(broadcast_elementwise(ts[0], ts[1], names))
    return ts, torch_out, dtype


def _domain(p, q, inside, at_zero):
    """Fill in scipy's conventions: `inside` where p, q > 0; `at_zero` where p = 0 ≤ q;
    +inf where p > 0 = q or an argument is negative; NaN where one is NaN."""
    out = torch.where((p == 0) & (q >= 0), at_zero, torch.where((p > 0) & (q > 0), inside, math.inf))
    return torch.where(torch.isnan(p) | torch.isnan(q), math.nan, out)


def _positive(p, q):
    """p and q with 1 where either is not positive, so the in-domain branch stays finite."""
    both = (p > 0) & (q > 0)
    return torch.where(both, p, 1.0), torch.where(both, q, 1.0)


def rel_entr(p, q):
    r"""Relative entropy term p·log(p/q), elementwise, in nats.

    Same as ``scipy.special.rel_entr``, also where p/q overflows (1/5e-309 gives 709.9, not inf).

    Parameters
    ----------
    p, q : array_like or torch.Tensor
        Any shapes that broadcast; lists, NumPy or torch (any device, autograd kept).

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The broadcast shape, the inputs' kind; the gradient is (log(p/q) + 1, −p/q) inside the
        domain and 0 at p = 0 (an entry without mass) or outside it.

    Raises
    ------
    ValueError
        If the arguments do not broadcast or are not numbers.

    See Also
    --------
    kl_div : the non-negative term.
    kl_divergence : the sum over an axis.

    Notes
    -----
    .. math::

        \operatorname{rel\_entr}(p, q) =
        \begin{cases} p \log(p/q) & p, q > 0 \\ 0 & p = 0 \le q \\ +\infty & \text{otherwise,} \end{cases}
        \qquad \sum_i \operatorname{rel\_entr}(p_i, q_i) = \mathrm{KL}(p \,\|\, q).

    References
    ----------
    Cover & Thomas, *Elements of Information Theory* (2006), eq. 2.26.

    Examples
    --------
    >>> import numpy as np
    >>> p, q = np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.25, 0.5])
    >>> bool(rel_entr(p, q).sum() == np.log(2))  # KL(p‖q)
    True
    >>> bool(float(rel_entr(1.0, 5e-309)) == -np.log(5e-309))
    True
    """
    (tp, tq), torch_out, dtype = _tensors((p, q), ("p", "q"))
    ps, qs = _positive(tp, tq)
    lr = log_ratio(ps.detach(), qs.detach())
    inside = with_partials(  # exact partials, and again as functions of p and q for a second derivative
        ps.detach() * lr,
        (lr + 1, ps),
        (-ps.detach() / qs.detach(), qs),
        exact=lambda: (torch.log(ps / qs) + 1, -ps / qs),
    )
    out = _domain(tp, tq, inside, 0.0)
    return from_tensor(out.to(dtype), torch_out)


def kl_div(p, q):
    r"""Generalized KL term p·log(p/q) − p + q ≥ 0, elementwise, in nats.

    Non-negative everywhere (zero only at p = q), so sums of it do not cancel; it is the term
    `kl_divergence` sums.

    Parameters
    ----------
    p, q : array_like or torch.Tensor
        Any shapes that broadcast; lists, NumPy or torch (any device, autograd kept).

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The broadcast shape; the gradient is (log(p/q), 1 − p/q) inside the domain, (0, 1) at
        p = 0 (an entry without mass) and 0 outside it.

    Raises
    ------
    ValueError
        If the arguments do not broadcast or are not numbers.

    See Also
    --------
    rel_entr : the plain term.

    Notes
    -----
    .. math::

        \operatorname{kl\_div}(p, q) =
        \begin{cases} p \log(p/q) - p + q & p, q > 0 \\ q & p = 0 \le q \\ +\infty & \text{otherwise.} \end{cases}

    Evaluated as :math:`p \log(p/q) - (p - q)` and, where p ≈ q, as
    :math:`d s + 2p (s^3/3 + s^5/5 + \dots)` with :math:`d = p - q`, :math:`s = d/(p + q)`
    (:math:`\log(p/q) = 2 \operatorname{atanh} s`): the value keeps its relative accuracy as
    p → q, where scipy's ``kl_div`` returns rounding noise.

    References
    ----------
    Boyd & Vandenberghe, *Convex Optimization* (2004), example 3.19.

    Examples
    --------
    >>> import numpy as np
    >>> p, q = np.array([0.5, 0.2]), np.array([0.25, 0.4])
    >>> bool(np.allclose(kl_div(p, q) - rel_entr(p, q), q - p))
    True
    >>> x = 2.0**-30  # kl_div(1 + x, 1) = x²/2 − x³/6 + …, here to every digit
    >>> round(float(kl_div(1.0 + x, 1.0)) / (x * x / 2), 8)
    1.0
    """
    (tp, tq), torch_out, dtype = _tensors((p, q), ("p", "q"))
    ps, qs = _positive(tp, tq)
    out = _domain(tp, tq, kl_terms(ps, qs, has_zero=False, overflow=True), tq)
    return from_tensor(out.to(dtype), torch_out)


def entr(p):
    r"""Entropy term −p·log p, elementwise, in nats.

    Same as ``scipy.special.entr`` (and ``torch.special.entr``).

    Parameters
    ----------
    p : array_like or torch.Tensor
        Any shape; lists, NumPy or torch.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        p's shape; the gradient is −(log p + 1) for p > 0 and 0 at p = 0 (an entry without mass
        contributes none).

    Raises
    ------
    ValueError
        If `p` is not numbers.

    See Also
    --------
    entropy : the sum over an axis.

    Notes
    -----
    .. math::

        \operatorname{entr}(p) = \begin{cases} -p \log p & p > 0 \\ 0 & p = 0 \\ -\infty & p < 0, \end{cases}
        \qquad \sum_i \operatorname{entr}(p_i) = H(p).

    References
    ----------
    Cover & Thomas, *Elements of Information Theory* (2006), eq. 2.1.

    Examples
    --------
    >>> import numpy as np
    >>> bool(entr([0.5, 0.25, 0.25]).sum() == 1.5 * np.log(2))  # H = 1.5 bits
    True
    """
    (tp,), torch_out, dtype = _tensors((p,), ("p",))
    positive = tp > 0
    inside = -tp * torch.log(torch.where(positive, tp, 1.0))  # at 0: value 0, gradient 0 (no mass)
    out = torch.where(positive | (tp == 0), inside, torch.where(torch.isnan(tp), math.nan, -math.inf))
    return from_tensor(out.to(dtype), torch_out)
