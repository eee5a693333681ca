"""The KL integrand drawn: p, q and the pointwise contribution p·log(p/q) whose sum or area is KL(p‖q).

`plot_kl_integrand` takes two probability vectors, two 1-D Gaussian mixtures, or two
one-dimensional ``torch.distributions`` objects of any family (continuous: the densities on their
supports; discrete: the probabilities of each outcome), the figure behind ``klvae kl --plot``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.distributions import Categorical, Distribution, MixtureSameFamily, Normal, constraints

from klvae.figures.png import new_figure, save_png
from klvae.measures.discrete import entropy, kl_divergence, unit_name
from klvae.measures.distribution_kl import kl_distributions
from klvae.measures.elementwise import rel_entr
from klvae.measures.mixture import extent
from klvae.measures.numerical_kl import kl_numerical

__all__ = ["plot_kl_integrand"]

_DTYPE = torch.float64
_VISIBLE = 1e-4  # the x range drawn: where either density or probability exceeds this share of the peak


def plot_kl_integrand(p, q, path, *, base: float | None = None, labels=("p", "q")) -> tuple[Path, float]:
    r"""p, q and the pointwise contribution p·log(p/q), whose sum/area is KL(p‖q).

    The KL is computed once, before anything is drawn.

    Parameters
    ----------
    p, q : array_like or torch.distributions.Distribution
        Two discrete distributions (1-D arrays of probabilities, the KL from
        `klvae.measures.kl_divergence`), two 1-D Gaussian mixtures (the KL by
        `klvae.measures.kl_numerical`), or two ``torch.distributions`` objects with one scalar
        value each (the KL by `klvae.measures.kl_distributions`: a closed form, quadrature or
        summation, else Monte Carlo, marked ≈).
    path : str or os.PathLike
        The PNG to write, atomically.
    base : float, optional
        The logarithm's base: None (nats), 2 (bits), 10 (dits) or any base > 0, ≠ 1.
    labels : tuple of str
        The names of p and q in the titles; a label with a parenthesis, such as
        ``"P = Beta(2, 3)"``, is shown whole in the legend and by its first word in formulas.

    Returns
    -------
    path : pathlib.Path
        The path written.
    kl : float
        KL(p‖q) in the unit of `base`.

    Raises
    ------
    ValueError
        For arrays that are not 1-D of one length, one distribution and one array, or
        distributions that are not of one scalar value; and as the measures raise (an invalid
        `base`, probabilities that are not a distribution).

    Notes
    -----
    .. math:: \mathrm{KL}(p\,\|\,q) = \sum_x p(x) \log\frac{p(x)}{q(x)}
              \quad\text{or}\quad \int p(x) \log\frac{p(x)}{q(x)}\,dx .

    Examples
    --------
    >>> import tempfile
    >>> path, kl = plot_kl_integrand([0.5, 0.5], [0.25, 0.75], Path(tempfile.mkdtemp()) / "kl.png", base=2)
    >>> path.name, round(kl, 6)
    ('kl.png', 0.207519)
    """
    unit = unit_name(base)
    per_nat = float(entropy([0.5, 0.5], base=base)) / math.log(2)  # units in a nat, by the measures' base handling
    data: tuple
    draw: Any  # (a1, a2, *data, per_nat, unit, labels) → the title, less the value
    if _is_family(p) or _is_family(q):
        kl, approx = _family_kl(p, q, per_nat, labels)
        data, draw = _family_data(p, q)
    elif hasattr(p, "log_prob"):
        data, draw = _density_grid(p, q), _draw_density_integrand
        kl, approx = float(kl_numerical(p, q)) * per_nat, False
    else:
        pa, qa = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
        if pa.ndim != 1 or pa.shape != qa.shape:
            raise ValueError(f"p and q must be 1-D and of the same length, got shapes {pa.shape} and {qa.shape}")
        data, draw = (pa, qa, np.arange(len(pa)), "outcome index"), _draw_discrete_integrand
        kl, approx = float(kl_divergence(pa, qa, base=base)), False
    value = "+∞" if kl == math.inf else f"{'≈ ' if approx else ''}{kl:.4f} {unit}"  # +∞ carries no unit
    a, b = (label.split(" ")[0] for label in labels)
    fig = new_figure(8, 6.5, layout="constrained")
    a1, a2 = fig.subplots(2, 1, sharex=True)
    a1.set_title(f"KL({a}‖{b}) is the area under {a}·log({a}/{b})")
    a2.set_title(draw(a1, a2, *data, per_nat, unit, tuple(labels)) + value, fontsize=11)
    return save_png(fig, path), kl


# ------------------------------------------------------------------ distribution objects


def _is_family(d) -> bool:
    """A torch distribution other than the Gaussians and Gaussian mixtures `kl_numerical` integrates."""
    if not isinstance(d, Distribution) or isinstance(d, Normal):
        return False
    return not (isinstance(d, MixtureSameFamily) and isinstance(d.component_distribution, Normal))


def _check_scalar(d, name: str) -> None:
    if not isinstance(d, Distribution):
        raise ValueError(f"{name} must be a torch distribution like the other, got {type(d).__name__}")
    if tuple(d.batch_shape) or tuple(d.event_shape):
        raise ValueError(
            f"the figure draws one distribution of one variable; {name} has batch shape "
            f"{tuple(d.batch_shape)} and event shape {tuple(d.event_shape)}"
        )


def _is_discrete(d) -> bool:
    return isinstance(d, Categorical) or d.support.is_discrete


def _family_kl(p, q, per_nat: float, labels) -> tuple[float, bool]:
    _check_scalar(p, labels[0])
    _check_scalar(q, labels[1])
    if _is_discrete(p) != _is_discrete(q):
        raise ValueError("the figure draws two discrete or two continuous distributions, not one of each")
    kl = kl_distributions(p, q)
    return float(kl) * per_nat, getattr(kl, "method", "") == "monte carlo"


def _family_data(p, q) -> tuple[tuple, Any]:
    if _is_discrete(p):
        k = _outcomes(p, q)
        pa, qa = (_probabilities(d, k) for d in (p, q))
        return (pa, qa, k, "outcome"), _draw_discrete_integrand
    return _density_grid(p, q), _draw_density_integrand


def _outcomes(p, q) -> np.ndarray:
    """The outcomes 0, 1, … where either distribution has visible probability."""
    if isinstance(p, Categorical):
        return np.arange(max(p.probs.shape[-1], q.probs.shape[-1]))
    top = 1
    for d in (p, q):
        bound = getattr(d.support, "upper_bound", None)
        if isinstance(bound, torch.Tensor) or isinstance(bound, (int, float)):
            top = max(top, int(bound))
        else:  # a counting support: up to 12 standard deviations past the mean
            top = max(top, int(math.ceil(float(d.mean) + 12 * float(d.stddev) + 2)))
    k = np.arange(top + 1)
    peak = np.maximum(_probabilities(p, k), _probabilities(q, k))
    seen = np.flatnonzero(peak > _VISIBLE * peak.max())
    return k[: seen[-1] + 1]


def _probabilities(d, k: np.ndarray) -> np.ndarray:
    return np.exp(_log_density(d, k.astype(float)))


def _log_density(d, x: np.ndarray) -> np.ndarray:
    """log p(x) on a grid, −∞ outside the support (never evaluated there: torch would refuse)."""
    xt = torch.as_tensor(x, dtype=_DTYPE)
    inside = d.support.check(xt)
    out = torch.full_like(xt, -math.inf)
    with torch.no_grad():
        out[inside] = d.log_prob(xt[inside].to(_dtype(d))).to(_DTYPE)
    return out.numpy()


def _dtype(d) -> torch.dtype:
    """The floating dtype of the distribution's parameters (its mean's, or its probabilities')."""
    try:
        return d.mean.dtype
    except NotImplementedError:
        return torch.get_default_dtype()


def _support_grid(p, q) -> np.ndarray:
    """4001 points over where either density is visible, inside the union of the supports."""
    lo, hi = math.inf, -math.inf
    for d in (p, q):
        (a,), (b,) = extent(d, 1)
        low, high = _bounds(d.support)
        lo, hi = min(lo, max(float(a), low)), max(hi, min(float(b), high))
    wide = np.linspace(lo, hi, 20003)[1:-1]  # open ends: a density may be infinite at its support's edge
    peak = np.maximum(*(np.exp(_log_density(d, wide)) for d in (p, q)))
    finite = np.where(np.isfinite(peak), peak, 0.0)
    seen = wide[finite > _VISIBLE * finite.max()] if finite.max() > 0 else wide
    return np.linspace(seen[0], seen[-1], 4001)


def _bounds(support) -> tuple[float, float]:
    while isinstance(support, constraints.independent):
        support = support.base_constraint
    low = getattr(support, "lower_bound", -math.inf)
    high = getattr(support, "upper_bound", math.inf)
    return float(low), float(high)


# ------------------------------------------------------------------ drawing


def _density_grid(p, q) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grid of `_support_grid`, and log p, log q there."""
    x = _support_grid(p, q)
    return x, _log_density(p, x), _log_density(q, x)


def _names(labels: tuple[str, str]) -> tuple[str, str, str, str]:
    """(formula name, legend text) of p and of q."""
    (la, lb) = labels
    return la.split(" ")[0], lb.split(" ")[0], la, lb


def _draw_density_integrand(a1, a2, x, lp, lq, per_nat: float, unit: str, labels: tuple[str, str]) -> str:
    """The two densities, and the integrand p·log(p/q) shaded by sign; the title's statement, less the value."""
    a, b, la, lb = _names(labels)
    with np.errstate(invalid="ignore"):  # 0·(−∞ − x) outside p's support: no contribution
        contrib = np.where(np.isneginf(lp), 0.0, np.exp(lp) * (lp - lq) * per_nat)
    a1.plot(x, np.exp(lp), color="tab:blue", lw=2, label=la)
    a1.plot(x, np.exp(lq), color="tab:orange", lw=2, label=lb)
    a1.set_ylabel("density")
    a1.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9)
    shown = np.where(np.isfinite(contrib), contrib, np.nan)
    a2.plot(x, shown, color="k", lw=1.5, label=f"{a}(x)·log({a}(x)/{b}(x))")
    a2.fill_between(x, shown, where=shown >= 0, color="tab:green", alpha=0.4, label="adds to KL")
    a2.fill_between(x, shown, where=shown < 0, color="tab:red", alpha=0.4, label="subtracts from KL")
    if np.isinf(contrib).any():  # q = 0 where p > 0
        a2.fill_between(
            x,
            0,
            1,
            where=np.isinf(contrib),
            transform=a2.get_xaxis_transform(),
            color="tab:green",
            alpha=0.15,
            hatch="//",
        )
        a2.annotate(f"+∞ where {b} = 0 < {a}", (0.02, 0.9), xycoords="axes fraction", color="darkgreen")
    a2.set_xlabel("x")
    a2.set_ylabel(f"integrand ({unit} per unit x)")
    a2.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return f"shaded area (green − red) = KL({a}‖{b}) = "


def _draw_discrete_integrand(a1, a2, pa, qa, k, xlabel: str, per_nat: float, unit: str, labels: tuple[str, str]) -> str:
    """Bars of p and q, and of each outcome's p·log(p/q) by sign (+∞ where q = 0 < p, as an arrow);
    the title's statement, less the value."""
    a, b, la, lb = _names(labels)
    contrib = np.asarray(rel_entr(pa, qa)) * per_nat
    a1.bar(k - 0.2, pa, width=0.4, color="tab:blue", label=la)
    a1.bar(k + 0.2, qa, width=0.4, color="tab:orange", label=lb)
    a1.set_ylabel("probability")
    a1.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=9)
    finite = np.where(np.isfinite(contrib), contrib, 0.0)
    a2.bar(k, np.where(finite >= 0, finite, 0), color="tab:green", alpha=0.7, label="adds to KL")
    a2.bar(k, np.where(finite < 0, finite, 0), color="tab:red", alpha=0.7, label="subtracts from KL")
    infinite = np.flatnonzero(~np.isfinite(contrib))
    if infinite.size:  # q = 0 where p > 0: an unbounded bar, drawn as an arrow to the top
        top = max(float(finite.max()), 0.6 * float(np.abs(finite).max()), 0.05) * 1.6
        a2.set_ylim(top=top)
        a2.bar(k[infinite], top, color="tab:green", alpha=0.3, hatch="//")
        for i in infinite:
            a2.annotate(
                f"+∞ ({b} = 0)",
                (k[i], 0.6 * top),
                ha="center",
                color="darkgreen",
                bbox=dict(facecolor="white", edgecolor="none"),
            )
    a2.axhline(0, color="k", lw=0.8)
    a2.set_xlabel(xlabel)
    a2.set_ylabel(f"{a}·log({a}/{b}) ({unit})")
    if len(k) <= 30:
        a2.set_xticks(k)
    a2.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)  # beside the axes: never over a bar
    return f"sum of bars (green − red) = KL({a}‖{b}) = "
