"""1-D Wasserstein-1 distance: between histograms on a shared support, or between samples.

W1 is the area between the two cumulative distribution functions. Inputs are lists, NumPy
arrays or torch tensors (any device, autograd kept) and the result comes back in the same
kind (`klvae.measures.arrays`), in the units of the support or of the samples. Histogram weights
are checked as probabilities exactly as in `klvae.measures.discrete`.
"""

from __future__ import annotations

import torch

from klvae.measures._checks import broadcast, broadcast_elementwise, broadcast_shapes, check_probs
from klvae.measures.arrays import from_tensor, is_torch, to_tensors

__all__ = ["wasserstein_distance", "wasserstein_distance_samples"]


def _cdf_gap_integral(cdf_u, cdf_v, widths):
    return (torch.abs(cdf_u - cdf_v) * widths).sum(-1)


def wasserstein_distance(u, v, support=None, *, axis=-1, normalize=False):
    r"""1-D Wasserstein-1 distance between two histograms on a shared sorted support.

    Unlike ``scipy.stats.wasserstein_distance(u_values, v_values, ...)``, which takes *sample
    values* (with optional weights), this takes *histograms*: `u` and `v` are probability weights
    over `support`. Passing histograms to scipy as values is a common mistake (scipy issue 9152);
    ``scipy.stats.wasserstein_distance(x, x, u, v)`` is the scipy equivalent of
    ``wasserstein_distance(u, v, x)``. For samples use `wasserstein_distance_samples`.

    Parameters
    ----------
    u, v : array_like or torch.Tensor
        Weights, shape (..., K, ...) along `axis`; they broadcast.
    support : array_like or torch.Tensor, optional
        Increasing points x, shape (K,) or broadcastable to the weights; None means 0, 1, …, K − 1
        (bin indices).
    axis : int, default -1
        The support axis.
    normalize : bool, default False
        Rescale the weights to sum to 1 instead of raising.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The broadcast batch shape, in the units of `support`.

    Raises
    ------
    ValueError
        If the weights are not probabilities, or the support is not finite and strictly increasing.

    See Also
    --------
    wasserstein_distance_samples : from samples.

    Notes
    -----
    With U, V the cumulative sums of u, v over :math:`x_1 < \dots < x_K` (the area between the two
    CDFs):

    .. math:: W_1(u, v) = \sum_{i<K} |U_i - V_i|\, (x_{i+1} - x_i).

    References
    ----------
    Villani, *Optimal Transport* (2009), remark 2.19.

    Examples
    --------
    >>> float(wasserstein_distance([1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 3.0]))
    3.0
    """
    values = (u, v) if support is None else (u, v, support)
    torch_out = is_torch(*values)
    tensors = to_tensors(*values, names=("u", "v", "support")[: len(values)])
    (tu, tv), axis = broadcast(tensors[:2], ("u", "v"), axis)
    if support is None:
        tx = torch.arange(tu.shape[axis], dtype=tu.dtype, device=tu.device)
    else:
        tx = tensors[2]
    tu, tv, tx = _broadcast_support(tu, tv, tx, axis)
    tu, _ = check_probs(tu, "u", axis, normalize)
    tv, _ = check_probs(tv, "v", axis, normalize)
    tx_d = tx.detach()
    if not bool(torch.isfinite(tx_d).all()):
        raise ValueError("support has NaN or infinite entries")
    widths = torch.diff(tx.movedim(axis, -1), dim=-1)  # (..., K-1)
    if bool((widths.detach() <= 0).any()):
        raise ValueError("support must be strictly increasing along axis")
    cdf_u = torch.cumsum(tu.movedim(axis, -1), -1)[..., :-1]
    cdf_v = torch.cumsum(tv.movedim(axis, -1), -1)[..., :-1]
    return from_tensor(_cdf_gap_integral(cdf_u, cdf_v, widths), torch_out)


def _broadcast_support(tu, tv, tx, axis):
    """Broadcast u, v (already one shape) and the support; a 1-d support lies along `axis`."""
    if tx.dim() == 1:
        if tx.shape[0] != tu.shape[axis]:
            raise ValueError(f"support has {tx.shape[0]} points but u and v have {tu.shape[axis]} along axis {axis}")
        view = [1] * tu.dim()
        view[axis] = -1
        tx = tx.reshape(view)
    tu, tx = broadcast_elementwise(tu, tx, ("u and v", "support"))
    return tu, tv.expand(tu.shape), tx


def wasserstein_distance_samples(u_values, v_values, u_weights=None, v_weights=None, *, axis=-1):
    r"""1-D Wasserstein-1 distance between two empirical distributions, optionally weighted.

    The same quantity as ``scipy.stats.wasserstein_distance(u_values, v_values, u_weights,
    v_weights)``, batched over the other axes (which broadcast; the sample counts may differ).

    Parameters
    ----------
    u_values : array_like or torch.Tensor
        Samples, shape (..., n) along `axis`.
    v_values : array_like or torch.Tensor
        Samples, shape (..., m) along `axis`.
    u_weights, v_weights : array_like or torch.Tensor, optional
        Non-negative finite weights of the samples, broadcastable to `u_values` / `v_values`, with
        a positive sum; None for equal weights.
    axis : int, default -1
        The sample axis.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The broadcast batch shape, in the units of the samples.

    Raises
    ------
    ValueError
        For scalars, an axis out of range, no samples, NaN or infinite values, or bad weights.

    See Also
    --------
    wasserstein_distance : between histograms.

    Notes
    -----
    .. math:: W_1 = \int |F_u(t) - F_v(t)|\, dt,

    evaluated exactly on the merged sorted samples, F_u putting mass
    u_weights[i] / Σ u_weights at u_values[i] (1/n each by default).

    References
    ----------
    Ramdas, García Trillos & Cuturi, "On Wasserstein two-sample testing and related families of
    nonparametric tests" (2017), §2.

    Examples
    --------
    >>> float(wasserstein_distance_samples([0.0, 1.0], [2.0, 3.0]))
    2.0
    >>> float(wasserstein_distance_samples([0.0, 1.0], [0.0], [1.0, 3.0]))  # ¾ of the mass moves by 1
    0.75
    """
    values = [u_values, v_values] + [w for w in (u_weights, v_weights) if w is not None]
    names = ["u_values", "v_values"] + [
        n for n, w in (("u_weights", u_weights), ("v_weights", v_weights)) if w is not None
    ]
    torch_out = is_torch(*values)
    converted = dict(zip(names, to_tensors(*values, names=tuple(names))))
    tu, tv = converted["u_values"], converted["v_values"]
    if tu.dim() == 0 or tv.dim() == 0:
        raise ValueError("u_values and v_values must have at least 1 dimension")
    for t, n in ((tu, "u_values"), (tv, "v_values")):
        if not -t.dim() <= axis < t.dim():
            raise ValueError(f"axis {axis} is out of range for {n} of shape {tuple(t.shape)}")
        if t.shape[axis] == 0:
            raise ValueError(f"{n} has no samples along axis {axis}")
        if not bool(torch.isfinite(t.detach()).all()):
            raise ValueError(f"{n} has NaN or infinite entries")
    weights = [
        _sample_weights(converted.get(f"{s}_weights"), t, f"{s}_weights", axis) for s, t in (("u", tu), ("v", tv))
    ]
    tu, tv = tu.movedim(axis, -1), tv.movedim(axis, -1)
    try:
        batch = broadcast_shapes(tu.shape[:-1], tv.shape[:-1])
    except RuntimeError:
        raise ValueError(
            f"shapes do not broadcast: u_values {tuple(tu.shape)} and v_values {tuple(tv.shape)} "
            "(apart from the sample axis)"
        ) from None
    n, m = tu.shape[-1], tv.shape[-1]
    tu, order_u = torch.sort(tu.expand(*batch, n), -1)  # (..., n)
    tv, order_v = torch.sort(tv.expand(*batch, m), -1)  # (..., m)
    grid = torch.sort(torch.cat([tu, tv], -1), -1).values  # (..., n + m)
    widths = torch.diff(grid, dim=-1)  # (..., n + m - 1)
    points = grid[..., :-1].contiguous()
    idx_u = torch.searchsorted(tu.contiguous(), points, right=True)  # samples ≤ each point
    idx_v = torch.searchsorted(tv.contiguous(), points, right=True)
    cdf_u = _weighted_cdf(weights[0], order_u, idx_u, batch, n, grid.dtype)
    cdf_v = _weighted_cdf(weights[1], order_v, idx_v, batch, m, grid.dtype)
    return from_tensor(_cdf_gap_integral(cdf_u, cdf_v, widths), torch_out)


def _sample_weights(w, values, name, axis):
    """Checked weights moved to the last axis (None stays None)."""
    if w is None:
        return None
    try:
        w = w.expand_as(values) if w.dim() <= values.dim() else None
    except RuntimeError:
        w = None
    if w is None:
        raise ValueError(f"{name} does not broadcast to the shape of its values")
    wd = w.detach()
    if not bool(torch.isfinite(wd).all()) or bool((wd < 0).any()):
        raise ValueError(f"{name} must be non-negative and finite")
    if bool((wd.sum(axis) <= 0).any()):
        raise ValueError(f"{name} must have a positive sum")
    return w.movedim(axis, -1)


def _weighted_cdf(w, order, idx, batch, n, dtype):
    """F at the grid points: the share of the weight on samples ≤ each point, (..., n + m − 1)."""
    if w is None:
        return idx.to(dtype) / n
    w = torch.gather(w.expand(*batch, n), -1, order)  # weights in sorted order
    cum = torch.cumsum(w, -1)
    cum = torch.cat([torch.zeros_like(cum[..., :1]), cum], -1) / cum[..., -1:]  # (..., n + 1)
    return torch.gather(cum, -1, idx)
