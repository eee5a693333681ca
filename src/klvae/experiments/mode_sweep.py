"""Reverse-KL Gaussian fits to two modes moved apart: where mode seeking begins.

For p_d = ½N(−d, σ²) + ½N(d, σ²) the Gaussian q minimizing KL(q‖p) sits at the centre while the
modes overlap and moves into one of them once they are far enough apart (Bishop, *Pattern
Recognition and Machine Learning*, 2006, §10.1.2). `reverse_kl_sweep` follows both branches over
a grid of separations and finds where the off-centre optimum appears and where it wins; the fits
use the quadrature objective of `klvae.experiments.gaussian_fits`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from klvae.experiments.reverse_objective import minimize_kl, reverse_objective
from klvae.measures.mixture import DTYPE, gaussian_mixture

__all__ = ["reverse_kl_sweep", "SweepResult", "SweepRow", "Branch"]


class Branch(NamedTuple):
    """A reverse-KL Gaussian fit to ½N(−d, σ²) + ½N(d, σ²) found by L-BFGS: its mean and standard
    deviation, KL(q‖p) in nats and the curvature ∂²KL/∂mean² at the optimum."""

    mean: float
    std: float
    kl: float
    curvature: float


class SweepResult(dict):
    """`reverse_kl_sweep`'s result: a dict (its JSON) whose keys read as attributes, as scipy's
    ``OptimizeResult``.

    See Also
    --------
    reverse_kl_sweep : what makes one.

    Examples
    --------
    >>> r = SweepResult(d=[1.0], d_cross=None)
    >>> r.d, r.d_cross
    ([1.0], None)
    """

    def __getattr__(self, name: str):
        if name not in self:
            raise AttributeError(name)
        return self[name]


class SweepRow(NamedTuple):
    """One separation d of the sweep: the global optimum, the symmetric branch and the off-centre one.

    Parameters
    ----------
    d : float
        The separation: the target is ½N(−d, σ²) + ½N(d, σ²).
    best_mean, best_std, best_kl : float
        The global optimum: |μ|, σ and KL(q‖p) in nats.
    sym_std, sym_kl, sym_curvature : float
        The symmetric branch (μ = 0): σ, KL and ∂²KL/∂μ² (> 0: a minimum; < 0: a saddle).
    off_mean, off_std, off_kl : float or None
        The off-centre branch (|μ|, σ, KL); None where it does not exist.

    See Also
    --------
    reverse_kl_sweep : the sweep.

    Examples
    --------
    >>> SweepRow._fields[:4]
    ('d', 'best_mean', 'best_std', 'best_kl')
    """

    d: float
    best_mean: float
    best_std: float
    best_kl: float
    sym_std: float
    sym_kl: float
    sym_curvature: float
    off_mean: float | None
    off_std: float | None
    off_kl: float | None

    @classmethod
    def at(cls, d: float, sym: Branch, off: Branch | None) -> SweepRow:
        """The row of separation `d` from its two branches.

        Parameters
        ----------
        d : float
            The separation.
        sym : Branch
            The symmetric branch's fit.
        off : Branch or None
            The off-centre branch's fit, if it exists.

        Returns
        -------
        SweepRow
            The row; the global optimum is the branch with the lower KL.

        Examples
        --------
        >>> row = SweepRow.at(3.0, Branch(0.0, 3.1, 0.9, 0.2), Branch(-2.9, 1.1, 0.7, 0.5))
        >>> row.best_mean, row.best_kl
        (2.9, 0.7)
        """
        best = off if off is not None and off.kl < sym.kl else sym
        offs = (None, None, None) if off is None else (abs(off.mean), off.std, off.kl)
        return cls(float(d), abs(best.mean), best.std, best.kl, sym.std, sym.kl, sym.curvature, *offs)


def _branch(d: float, sigma: float, mean0: float, std0: float, n_nodes: int) -> Branch:
    """L-BFGS on the quadrature objective for ½N(−d, σ²) + ½N(d, σ²) from (mean0, std0)."""
    p = gaussian_mixture([0.5, 0.5], [-d, d], [sigma, sigma])
    fn = reverse_objective(p, 1, "quadrature", n_nodes, 0, 0)
    mean, cov, value, _ = minimize_kl(
        fn, torch.tensor([mean0], dtype=DTYPE), torch.tensor([[std0]], dtype=DTYPE), 0, 0.0, 2 * d + 24 * sigma
    )
    L = cov.sqrt()
    curvature = torch.autograd.functional.hessian(lambda m: fn(m, L), mean)[0, 0]
    return Branch(float(mean[0]), float(L[0, 0]), max(value, 0.0), float(curvature))  # KL ≥ 0; clip rounding


def reverse_kl_sweep(separations, *, sigma: float = 1.0, n_nodes: int = 1024, bisections: int = 12) -> SweepResult:
    r"""Reverse-KL Gaussian fits to p_d = ½N(−d, σ²) + ½N(d, σ²) as the modes move apart.

    Two branches are followed by L-BFGS on the Gauss–Hermite objective: the symmetric one (mean
    0, kept there by symmetry) and the off-centre one, warm-started from its solution at the next
    larger d (continuation) and absent where it slides back to mean 0. The global optimum is the
    branch with the lower KL(q‖p).

    Parameters
    ----------
    separations : array_like
        At least two non-negative d's.
    sigma : float, default 1.0
        σ of both modes.
    n_nodes : int, default 1024
        Gauss–Hermite nodes of the objective.
    bisections : int, default 12
        Halvings of the grid step that refine ``d_appear`` and ``d_cross``.

    Returns
    -------
    SweepResult
        Lists keyed by the fields of `SweepRow` (``d``, ``best_mean`` (|μ|), ``best_std``,
        ``best_kl``, ``sym_std``, ``sym_kl``, ``sym_curvature``, ``off_mean``, ``off_std``,
        ``off_kl``), and the floats ``d_appear`` (where the off-centre optimum first exists) and
        ``d_cross`` (where it becomes the global one), None when not inside the swept range.
        KLs in nats, by the quadrature objective.

    Raises
    ------
    ValueError
        If `separations` is not at least two non-negative numbers.

    See Also
    --------
    fit_reverse : reverse-KL fits to any target.

    Notes
    -----
    Each branch minimizes

    .. math::

        \mathrm{KL}(q\,\|\,p_d) = -\tfrac12 \log(2\pi e s^2) - \mathbb E_{q}[\log p_d],
        \qquad q = \mathcal N(m, s^2);

    for far-apart modes the off-centre optimum q ≈ N(±d, σ²) has
    :math:`\mathrm{KL}(q\,\|\,p_d) \to \log 2`, the price of ignoring half of p's mass.

    References
    ----------
    Bishop, *Pattern Recognition and Machine Learning* (2006), §10.1.2, Fig. 10.3.

    Examples
    --------
    >>> sweep = reverse_kl_sweep([1.0, 4.0], bisections=4)
    >>> sweep.off_mean[0] is None, round(sweep.best_kl[1], 3)  # d = 1: one bump; d = 4: one mode, KL ≈ log 2
    (True, 0.693)
    """
    ds = np.sort(np.asarray(separations, dtype=float))
    if ds.ndim != 1 or ds.size < 2 or (ds < 0).any():
        raise ValueError("separations must be at least two non-negative numbers")
    tol = 1e-3 * sigma

    def sym_at(d: float) -> Branch:
        return _branch(d, sigma, 0.0, math.sqrt(sigma**2 + d**2), n_nodes)

    def off_at(d: float, warm_d: float, warm: Branch) -> Branch | None:  # warm start: the mean scaled with d
        b = _branch(d, sigma, warm.mean * d / warm_d, warm.std, n_nodes)
        return b if abs(b.mean) >= tol else None

    def bisect(lo: float, hi: float, warm: Branch, accept) -> float:
        for _ in range(bisections):
            mid = 0.5 * (lo + hi)
            b = off_at(mid, hi, warm)
            if b is not None and accept(mid, b):
                hi, warm = mid, b
            else:
                lo = mid
        return 0.5 * (lo + hi)

    sym = [sym_at(d) for d in ds]
    off: list[Branch | None] = [None] * len(ds)  # by continuation from the largest d down, until it slides to 0
    warm_d, warm = ds[-1], Branch(ds[-1], sigma, 0.0, 0.0)
    for i in range(len(ds) - 1, -1, -1):
        if ds[i] == 0 or (found := off_at(ds[i], warm_d, warm)) is None:
            break
        off[i], warm_d, warm = found, ds[i], found
    present = [(i, b) for i, b in enumerate(off) if b is not None]
    d_appear = d_cross = None
    if present and present[0][0] > 0:
        i, b = present[0]
        d_appear = bisect(ds[i - 1], ds[i], b, lambda d, b: True)
    for i, b in present:
        before = off[i - 1]
        if i > 0 and b.kl < sym[i].kl and (before is None or before.kl >= sym[i - 1].kl):
            d_cross = bisect(ds[i - 1], ds[i], b, lambda d, b: b.kl < sym_at(d).kl)
            break
    rows = [SweepRow.at(d, s, o) for d, s, o in zip(ds, sym, off)]
    out = SweepResult({k: [getattr(r, k) for r in rows] for k in SweepRow._fields})
    out["d_appear"], out["d_cross"] = d_appear, d_cross
    return out
