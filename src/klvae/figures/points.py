"""2-D points over mixture modes, several sets side by side on the same axes (e.g. one per epoch).

`square_limits` is the frame `klvae.figures.charts.plot_points` and `plot_point_panels` share: equal
scales on a square fitted to the means and the central 99 % of the points.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from klvae.figures.png import DPI, FONT_PT, as_numpy, fit_lines, new_figure, save_png

__all__ = ["square_limits", "plot_point_panels"]


def square_limits(point_sets: Sequence[np.ndarray], means: np.ndarray | None = None) -> tuple[tuple[float, float], ...]:
    """One square frame around the means and the central 99 % of every set's finite points.

    Parameters
    ----------
    point_sets : sequence of numpy.ndarray
        Sets of 2-D points, each (N, 2); rows with a NaN or an infinity are left out.
    means : numpy.ndarray, optional
        Points (K, 2) the frame must hold too.

    Returns
    -------
    tuple of tuple of float
        ((x_lo, x_hi), (y_lo, y_hi)), of equal widths, with a margin of 8 %; ((-1, 1), (-1, 1))
        when there is nothing.

    Examples
    --------
    >>> (x_lo, x_hi), (y_lo, y_hi) = square_limits([], means=np.array([[0.0, 0.0], [2.0, 1.0]]))
    >>> print(f"{x_lo:.2f} {x_hi:.2f} {y_lo:.2f} {y_hi:.2f}")
    -0.08 2.08 -0.58 1.58
    """
    box = []
    for p in point_sets:
        finite = p[np.isfinite(p).all(1)]
        if len(finite):
            box.append(np.percentile(finite, [0.5, 99.5], axis=0))
    if means is not None and len(means):
        box.append(np.stack([means.min(0), means.max(0)]))
    if not box:
        return (-1.0, 1.0), (-1.0, 1.0)
    lo, hi = np.min([b[0] for b in box], 0), np.max([b[1] for b in box], 0)
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-6) * 1.08
    return tuple((float(c - half), float(c + half)) for c in centre)


def legend_handles(label: str, means: bool) -> list[Line2D]:
    """Legend proxies: the tiny translucent dots of a scatter would be invisible in a legend."""
    handles = [Line2D([], [], marker="o", linestyle="", color="tab:blue", label=label)]
    if means:
        handles.append(
            Line2D(
                [], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor="tab:red", label="mode means"
            )
        )
    return handles


def scatter(ax, p: np.ndarray, m: np.ndarray | None, size: float = 2) -> None:
    """The points (blue) over the mode means (open red circles, under the points)."""
    ax.scatter(p[:, 0], p[:, 1], s=size, alpha=0.4, color="tab:blue", linewidths=0, zorder=3)
    if m is not None:
        ax.scatter(
            m[:, 0], m[:, 1], s=60, marker="o", facecolors="none", edgecolors="tab:red", linewidths=1.2, zorder=2
        )


def plot_point_panels(
    point_sets: Sequence,
    path: str | os.PathLike,
    *,
    titles: Sequence[str],
    title: str,
    means=None,
    label: str = "samples",
    width_px: int = 960,
) -> Path:
    """Sets of 2-D points side by side in one figure: the same square frame and axes for every panel
    (`square_limits` over all the sets), one legend and one heading.

    Parameters
    ----------
    point_sets : sequence of array_like
        Each of shape (N, 2).
    path : str or os.PathLike
        The PNG to write, atomically.
    titles : sequence of str
        One per set, above its panel.
    title : str
        The figure's heading.
    means : array_like, optional
        Mixture means (K, 2), drawn in every panel as open red circles under the points.
    label : str
        The points' legend label.
    width_px : int
        The figure's width in pixels (a report shows up to 960 at their size).

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    ValueError
        When there is no set, the titles are not one per set, or a set is not of shape (N, 2).

    Examples
    --------
    >>> import tempfile, torch
    >>> plot_point_panels([torch.randn(50, 2), torch.randn(50, 2)], Path(tempfile.mkdtemp()) / "p.png",
    ...                   titles=["a", "b"], title="two sets").name
    'p.png'
    """
    sets = [as_numpy(p).astype(np.float64) for p in point_sets]
    if not sets or len(titles) != len(sets) or any(p.ndim != 2 or p.shape[1] != 2 for p in sets):
        shapes = [p.shape for p in sets]
        raise ValueError(f"need one title per set and sets of shape (N, 2), got {len(titles)} titles for {shapes}")
    m = None if means is None else as_numpy(means).astype(np.float64)
    (x_lo, x_hi), (y_lo, y_hi) = square_limits(sets, m)
    n = len(sets)
    panel_in = (width_px / DPI - 0.9) / n  # each square panel, after the y labels' room
    lines = fit_lines(title, width_px - 16, 11)
    fig = new_figure(width_px / DPI, panel_in + 1.25 + 0.2 * len(lines), layout="constrained")
    axes = fig.subplots(1, n, sharex=True, sharey=True, squeeze=False)[0]
    for ax, p, text in zip(axes, sets, titles):
        scatter(ax, p, m, size=1.5)
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylim(y_lo, y_hi)
        ax.set_aspect("equal", adjustable="box")
        ax.set_title(text, fontsize=FONT_PT + 1)
        ax.set_xlabel("x₁")
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=FONT_PT)
    axes[0].set_ylabel("x₂")
    fig.legend(handles=legend_handles(label, m is not None), loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle("\n".join(lines), fontsize=11)
    return save_png(fig, path)
