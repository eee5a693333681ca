"""Figures of the experiments: forward vs reverse KL fits and gradient variances (the GAN theory:
`klvae.figures.gan_theory`; the KL integrand: `klvae.figures.integrands`).

Every function draws through the figure layer (`klvae.figures.png`: object-oriented Matplotlib,
atomic PNG writes) into a PNG at `path` and returns the path; none shows a window. Inputs are
results of `klvae.experiments.gaussian_fits` and `klvae.experiments.gradient_estimators`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.lines import Line2D

from klvae.figures.png import new_figure, save_png
from klvae.measures.mixture import extent

__all__ = [
    "plot_modes_1d",
    "plot_modes_2d",
    "plot_sweep",
    "plot_estimators",
    "distinct_fits",
]

_DTYPE = torch.float64


def distinct_fits(fits, tol: float = 1e-3) -> list[tuple[Any, int]]:
    """Group fits whose means and covariances agree within `tol`.

    Parameters
    ----------
    fits : iterable of klvae.experiments.GaussianFit
        Fits, e.g. one per restart of `klvae.experiments.fit_reverse`.
    tol : float
        The largest difference, entry by entry, of the mean and of the covariance within a group.

    Returns
    -------
    list of tuple
        (the group's first fit, how many fits it holds), in the order first seen.

    Examples
    --------
    >>> from types import SimpleNamespace as Fit
    >>> fits = [Fit(mean=np.array([m]), cov=np.eye(1)) for m in (3.0, -3.0, 3.0002)]
    >>> [(float(fit.mean[0]), count) for fit, count in distinct_fits(fits)]
    [(3.0, 2), (-3.0, 1)]
    """
    groups: list[list] = []
    for fit in fits:
        for g in groups:
            if np.allclose(g[0].mean, fit.mean, atol=tol) and np.allclose(g[0].cov, fit.cov, atol=tol):
                g[1] += 1
                break
        else:
            groups.append([fit, 1])
    return [(g[0], g[1]) for g in groups]


def _density(dist, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return dist.log_prob(torch.as_tensor(x, dtype=_DTYPE)).exp().numpy()


def plot_modes_1d(p, forward, reverse, path, *, title: str | None = None) -> Path:
    r"""Target density p, the forward-KL fit and every distinct reverse-KL optimum (1-D).

    Parameters
    ----------
    p : torch.distributions.Distribution
        The target, one-dimensional (e.g. `klvae.measures.parse_mixture`).
    forward : klvae.experiments.GaussianFit
        The fit minimizing KL(p‖q) (`klvae.experiments.fit_forward`).
    reverse : list of klvae.experiments.GaussianFit
        The fits minimizing KL(q‖p), one per restart (`klvae.experiments.fit_reverse`).
    path : str or os.PathLike
        The PNG to write, atomically.
    title : str, optional
        The heading; None: "Forward KL covers the modes; reverse KL seeks one".

    Returns
    -------
    pathlib.Path
        The path written.

    Notes
    -----
    Forward KL :math:`\mathrm{KL}(p\,\|\,q) = \mathbb E_p[\log p - \log q]` is minimized by
    matching moments (q covers every mode); reverse KL :math:`\mathbb E_q[\log q - \log p]`
    penalizes q where p is small (q seeks one mode).

    References
    ----------
    Bishop, "Pattern Recognition and Machine Learning" (2006), §10.1.2.

    Examples
    --------
    >>> import tempfile
    >>> from klvae.experiments import fit_forward, fit_reverse
    >>> from klvae.measures import parse_mixture
    >>> p = parse_mixture("0.5:-3:1,0.5:3:1")
    >>> path = Path(tempfile.mkdtemp()) / "modes.png"
    >>> plot_modes_1d(p, fit_forward(p), fit_reverse(p, n_restarts=3), path) == path
    True
    """
    lo, hi = extent(p, 1)
    centre, half = 0.5 * (lo[0] + hi[0]), 0.5 * (hi[0] - lo[0]) * 9 / 12  # ±9σ of the components
    x = np.linspace(centre - half, centre + half, 2001)
    fig = new_figure(8, 4.5, layout="constrained")
    ax = fig.subplots()
    ax.fill_between(x, _density(p, x), color="0.8", label="target p")
    ax.plot(x, _density(p, x), color="0.3", lw=1)
    ax.plot(
        x,
        _density(forward.distribution(), x),
        "--",
        color="tab:blue",
        lw=2,
        label=f"forward KL(p‖q) fit: μ={forward.mean[0]:.3f}, σ={forward.std[0]:.3f}, KL(p‖q)={forward.kl_forward:.3f}",
    )
    colours = ["tab:red", "tab:orange", "tab:purple", "tab:green", "tab:brown"]
    for i, (fit, count) in enumerate(distinct_fits(reverse)):
        ax.plot(
            x,
            _density(fit.distribution(), x),
            color=colours[i % len(colours)],
            lw=2,
            label=f"reverse KL(q‖p) fit ({count} restart{'s' * (count > 1)}): μ={fit.mean[0]:.3f}, "
            f"σ={fit.std[0]:.3f}, KL(q‖p)={fit.kl_reverse:.3f}",
        )
    starts = np.array([f.init_mean[0] for f in reverse if f.init_mean is not None])
    ax.plot(starts, np.zeros_like(starts), "k|", ms=12, mew=1.5, label="restart initial means")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_title(title or "Forward KL covers the modes; reverse KL seeks one")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.15), frameon=False)
    return save_png(fig, path)


def _ellipse(ax, mean, cov, **kw):
    """The 2-standard-deviation ellipse of N(mean, cov)."""
    t = np.linspace(0, 2 * np.pi, 200)
    L = np.linalg.cholesky(cov)
    pts = mean[:, None] + 2 * L @ np.stack([np.cos(t), np.sin(t)])
    return ax.plot(pts[0], pts[1], **kw)


def plot_modes_2d(p, forward, reverse, path, *, title: str | None = None, max_panels: int = 4) -> Path:
    r"""Bishop's Fig. 10.3: target contours with the forward fit and reverse-KL optima (2-D).

    Panel (a) shows the forward fit KL(p‖q); each further panel one distinct reverse-KL
    optimum (best first; optima of equal KL(q‖p) share a panel). Ellipses are drawn at two
    standard deviations.

    Parameters
    ----------
    p : torch.distributions.Distribution
        The target, two-dimensional.
    forward : klvae.experiments.GaussianFit
        The fit minimizing KL(p‖q).
    reverse : list of klvae.experiments.GaussianFit
        The fits minimizing KL(q‖p), one per restart.
    path : str or os.PathLike
        The PNG to write, atomically.
    title : str, optional
        The heading; None: the figure's reference to Bishop.
    max_panels : int
        The most panels drawn, the forward fit's included.

    Returns
    -------
    pathlib.Path
        The path written.

    References
    ----------
    Bishop, "Pattern Recognition and Machine Learning" (2006), Fig. 10.3.

    Examples
    --------
    >>> import tempfile
    >>> from klvae.experiments import fit_forward, fit_reverse
    >>> from klvae.measures import gaussian_mixture
    >>> p = gaussian_mixture([0.5, 0.5], [[-2.0, 0.0], [2.0, 0.0]], [1.0, 1.0])
    >>> path = Path(tempfile.mkdtemp()) / "modes2d.png"
    >>> plot_modes_2d(p, fit_forward(p), fit_reverse(p, n_restarts=2), path) == path
    True
    """
    distinct: list[tuple[Any, int]] = distinct_fits(reverse, tol=2e-2)
    # Optima of (nearly) equal KL(q‖p) are equivalent (e.g. one per mode of a symmetric target):
    # one panel per KL value, best first, saying how many restarts and distinct optima it stands for.
    classes: list[list[Any]] = []  # [representative fit, restarts, distinct optima]
    for fit, count in sorted(distinct, key=lambda g: g[0].kl_reverse):
        for c in classes:
            if abs(c[0].kl_reverse - fit.kl_reverse) <= 1e-2 * max(1.0, abs(fit.kl_reverse)):
                c[1], c[2] = c[1] + count, c[2] + 1
                break
        else:
            classes.append([fit, count, 1])
    shown = classes[: max_panels - 1]
    spread = 2.2 * np.sqrt(np.diag(forward.cov))
    lo, hi = forward.mean - spread, forward.mean + spread
    gx, gy = np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200)
    xx, yy = np.meshgrid(gx, gy)
    dens = _density(p, np.stack([xx.ravel(), yy.ravel()], 1)).reshape(xx.shape)
    panels = 1 + len(shown)
    fig = new_figure(4.2 * panels, 5.0, layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)
    letters = "abcdefgh"
    for k, ax in enumerate(axes[0]):
        ax.contour(xx, yy, dens, levels=6, colors="tab:blue", linewidths=1)
        if k == 0:
            _ellipse(ax, forward.mean, forward.cov, color="tab:red", lw=2)
            ax.set_title(
                f"({letters[k]}) minimize KL(p‖q): moment match\nKL(p‖q) = {forward.kl_forward:.3f} nats", fontsize=10
            )
        else:
            fit, count, n_optima = shown[k - 1]
            _ellipse(ax, fit.mean, fit.cov, color="tab:red", lw=2)
            kind = f"one of {n_optima} equivalent optima" if n_optima > 1 else "one optimum"
            reach = "reach" if k == 1 else "get stuck at"  # a worse class: a stationary point, not an optimum
            kind = kind if k == 1 else f"a worse stationary point{'s' * (n_optima > 1)}"
            ax.set_title(
                f"({letters[k]}) minimize KL(q‖p): {count} of {len(reverse)} restarts {reach}\n{kind}, "
                f"KL(q‖p) = {fit.kl_reverse:.3f} nats",
                fontsize=10,
            )
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_aspect("equal")
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
    fig.legend(
        handles=[
            Line2D([], [], color="tab:blue", label="target p (density contours)"),
            Line2D([], [], color="tab:red", lw=2, label="Gaussian fit q (2σ ellipse)"),
        ],
        loc="outside lower center",
        ncol=2,
        fontsize=9,
        frameon=False,
    )
    fig.suptitle(title or "Forward vs reverse KL fits of a Gaussian (2σ ellipses), after Bishop PRML Fig. 10.3")
    return save_png(fig, path)


def plot_sweep(sweep: dict, path) -> Path:
    r"""Global reverse-KL optimum's |mean| and the two branches' KL(q‖p) against separation d.

    Parameters
    ----------
    sweep : dict
        The result of `klvae.experiments.reverse_kl_sweep`, or any dict of lists over the
        half-separations ``"d"`` of p = ½N(−d, 1) + ½N(d, 1): ``"best_mean"``
        (the global optimum's |μ|), ``"sym_kl"`` (KL(q‖p) of the symmetric fit), ``"off_mean"``
        and ``"off_kl"`` (the off-centre optimum, None where there is none); optional
        ``"d_appear"`` and ``"d_cross"`` (where it appears, where it becomes global).
    path : str or os.PathLike
        The PNG to write, atomically.

    Returns
    -------
    pathlib.Path
        The path written.

    Notes
    -----
    The symmetric fit stays the global optimum of :math:`\mathrm{KL}(q\,\|\,p)` until the modes
    are far enough apart; beyond, the fit on one mode wins and its KL tends to log 2.

    Examples
    --------
    >>> import tempfile
    >>> sweep = {"d": [0.0, 1.0, 2.0, 3.0], "best_mean": [0.0, 0.0, 1.9, 2.3],
    ...          "sym_kl": [0.0, 0.2, 0.5, 0.9], "off_mean": [None, None, 1.9, 2.3],
    ...          "off_kl": [None, None, 0.45, 0.7], "d_appear": 1.5, "d_cross": 1.8}
    >>> plot_sweep(sweep, Path(tempfile.mkdtemp()) / "sweep.png").name
    'sweep.png'
    """
    d = np.array(sweep["d"])
    off_mean = np.array([np.nan if v is None else v for v in sweep["off_mean"]])
    off_kl = np.array([np.nan if v is None else v for v in sweep["off_kl"]])
    fig = new_figure(11, 5.2, layout="constrained")
    a1, a2 = fig.subplots(1, 2)
    a1.plot(d, d, ":", color="0.5", label="component mean d")
    a1.plot(d, off_mean, "--", color="tab:orange", label="off-centre local optimum |μ|")
    best = np.array(sweep["best_mean"], dtype=float)
    jump = np.flatnonzero(np.abs(np.diff(best)) > 0.5)  # the global optimum jumps branch: no line across
    a1.plot(
        np.insert(d, jump + 1, np.nan),
        np.insert(best, jump + 1, np.nan),
        "o-",
        color="tab:red",
        ms=3,
        label="global optimum |μ|",
    )
    a2.plot(d, sweep["sym_kl"], "-", color="tab:blue", label="symmetric fit (μ = 0)")
    a2.plot(d, off_kl, "-", color="tab:orange", label="off-centre fit (one mode)")
    a2.axhline(math.log(2), color="0.5", ls=":", label="log 2")
    for ax in (a1, a2):
        step = float(np.min(np.diff(d))) if len(d) > 1 else 0.0
        for key, style, text in (
            ("d_appear", "-.", "off-centre optimum appears"),
            ("d_cross", "--", "off-centre becomes global"),
        ):
            if sweep.get(key) is not None:
                ax.axvline(sweep[key], color="0.3", ls=style, lw=1, label=f"{text}: d = {sweep[key]:.3f}")
        ax.set_xlabel(f"half-separation d of p = ½N(−d, 1) + ½N(d, 1); sampled every {step:g}", fontsize=9)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    a1.set_ylabel("|mean| of the reverse-KL Gaussian fit")
    a1.set_title("Mode seeking starts only when the modes are apart")
    a2.set_ylabel("KL(q‖p) at the optimum (nats)")
    a2.set_ylim(0, min(2.0, float(np.nanmax(sweep["sym_kl"])) * 1.05))
    a2.set_title("Reverse KL of the two branches")
    return save_png(fig, path)


def plot_estimators(table: dict, path) -> Path:
    r"""Variance of each n-sample gradient estimate against n: measured (markers) and exact (lines).

    Parameters
    ----------
    table : dict
        The result of `klvae.experiments.variance_table`.
    path : str or os.PathLike
        The PNG to write, atomically.

    Returns
    -------
    pathlib.Path
        The path written.

    Notes
    -----
    For :math:`\nabla_\theta \mathbb E_{x \sim \mathcal N(\mu, \sigma^2)}[f(x)]` the pathwise
    estimate is :math:`f'(\mu + \sigma\epsilon)\,\partial x/\partial\theta` and the score function
    estimate :math:`f(x)\,\nabla_\theta \log q(x)`; an n-sample mean has variance
    :math:`\mathrm{Var}/n`.

    References
    ----------
    Mohamed et al., "Monte Carlo Gradient Estimation in Machine Learning" (2020).

    Examples
    --------
    >>> import tempfile
    >>> from klvae.experiments import variance_table
    >>> table = variance_table(repeats=50, ns=(2, 8), seed=0)
    >>> plot_estimators(table, Path(tempfile.mkdtemp()) / "est.png").name
    'est.png'
    """
    costs, ns = table["costs"], np.array(table["ns"])
    fig = new_figure(4.3 * len(costs), 8.0, layout="constrained")
    axes = fig.subplots(2, len(costs), squeeze=False)
    colours = {"pathwise": "tab:blue", "score": "tab:red", "score_baseline": "tab:green"}
    names = {
        "pathwise": "pathwise (reparameterization)",
        "score": "score function",
        "score_baseline": "score function, leave-one-out baseline",
    }
    for row in table["rows"]:
        j, i = costs.index(row["cost"]), ("mu", "sigma").index(row["param"])
        ax = axes[i, j]
        c = colours[row["estimator"]]
        ax.loglog(ns, np.array(row["measured_var"]) / ns, "o", color=c)
        ax.loglog(ns, np.array(row["exact_var"]) / ns, "-", color=c, label=names[row["estimator"]])
    for i, param in enumerate(("μ", "σ")):
        for j, cost in enumerate(costs):
            ax = axes[i, j]
            ax.set_title(f"f(x) = {_unicode_formula(cost)}: ∂/∂{param}", fontsize=10)
            ax.set_xlabel("samples n")
            ax.set_ylabel("variance of the n-sample estimate")
            ax.set_xticks(ns, [str(n) for n in ns])
            ax.minorticks_off()
    handles = [Line2D([], [], color=colours[k], label=names[k]) for k in colours]
    handles += [
        Line2D([], [], color="k", marker="o", ls="", label="measured"),
        Line2D([], [], color="k", ls="-", label="exact (numerical integration)"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(
        f"Gradient estimators of E[f(x)], x ~ N(μ={table['mu']:g}, σ²={table['sigma']:g}²): "
        "neither always has the lower variance"
    )
    return save_png(fig, path)


def _unicode_formula(text: str) -> str:
    """'exp(-10x^2)' → 'exp(−10x²)': the formulas as a reader writes them."""
    return text.replace("^2", "²").replace("-", "−").replace("*", "·")
