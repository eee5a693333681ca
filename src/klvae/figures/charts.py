"""Charts of run metrics through the figure layer (`klvae.figures.png`): curves per epoch, bars per
latent dimension, 2-D points over mixture modes.

Each function draws on a `klvae.figures.png.new_figure` and writes with `save_png`, so every PNG has
the one style and is written atomically.
"""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from klvae.figures.png import DPI, FONT_PT, as_numpy, new_figure, save_png, text_width_px
from klvae.figures.points import legend_handles, scatter, square_limits

__all__ = ["Panel", "plot_panels", "plot_curves", "plot_bars", "plot_points"]


# --------------------------------------------------------------------------- curves and bars


def _number(v) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _series(records: Sequence[Mapping], key: str, x_key: str, log_y: bool) -> tuple[list[float], list[float]]:
    """The (x, y) points of `key`; rows without a finite value (≤ 0 on a log axis) are skipped."""
    raw = [(_number(row.get(x_key, i)), _number(row.get(key))) for i, row in enumerate(records)]
    pts = [(a, b) for a, b in raw if a is not None and b is not None and (b > 0 or not log_y)]
    return [a for a, _ in pts], [b for _, b in pts]


@dataclass
class Panel:
    """One axes of `plot_panels`: its lines, reference lines and y axis.

    Parameters
    ----------
    lines : sequence of tuple
        (metrics key, legend label, Line2D keywords such as ``{"ls": "--"}``) per line.
    ylabel : str
        The y axis label.
    title : str, optional
        The panel's title.
    hlines : sequence of tuple
        (y, label): dotted reference lines.
    log_y : bool
        A log axis; falls back to linear when a value is ≤ 0 (a density's −log).
    integer_y : bool
        A count: whole-number ticks only.
    """

    lines: Sequence[tuple[str, str, Mapping]]  # (metrics key, legend label, Line2D keywords, e.g. ls="--")
    ylabel: str = "value"
    title: str | None = None
    hlines: Sequence[tuple[float, str]] = ()  # (y, label): dotted reference lines
    log_y: bool = False  # a log axis; falls back to linear when a value is ≤ 0 (a density's −log)
    integer_y: bool = False  # a count: whole-number ticks only


def _legend_columns(labels: Sequence[str], width_px: float) -> int:
    """2 when the legend's entries fit in two columns within `width_px` (drawn at `FONT_PT`), else 1."""
    if len(labels) < 2:
        return 1
    entry = [text_width_px([t], FONT_PT) + 3.5 * FONT_PT * DPI / 72 for t in labels]  # the text and its handle
    half = -(-len(entry) // 2)  # Matplotlib fills the first column first
    return 2 if max(entry[:half]) + max(entry[half:]) + 2 * FONT_PT * DPI / 72 <= width_px else 1


def _draw_panel(ax, records: Sequence[Mapping], panel: Panel, x_key: str, width_px: float = 640) -> bool:
    """Draw one panel, its legend within `width_px`; True when it drew at least one point."""
    series = [(label, style, *_series(records, key, x_key, False)) for key, label, style in panel.lines]
    log_y = panel.log_y and all(y > 0 for *_, ys in series for y in ys)
    empty = [label for label, _, xs, _ in series if not xs]
    drawn = False
    for label, style, xs, ys in series:
        if xs:
            ax.plot(xs, ys, label=label, **{"marker": "o" if len(xs) <= 30 else None, "markersize": 3, **style})
            drawn = True
    for k, (y, label) in enumerate(panel.hlines):
        ax.axhline(y, color="0.35", ls=(":", "-.", (0, (1, 3)))[k % 3], lw=1, label=label)
    if log_y:
        ax.set_yscale("log")
    if panel.integer_y:  # a count: whole ticks, from 0, so a change of one does not fill the axis
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], *(y for y, _ in panel.hlines)) + 0.5)
    xs_all = [x for *_, xs, _ in series for x in xs]
    if xs_all and all(float(x).is_integer() for x in xs_all):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if len(set(xs_all)) == 1:  # one epoch: one tick, not a zoom on fractions of it
            ax.set_xticks([xs_all[0]])
            ax.set_xlim(xs_all[0] - 1, xs_all[0] + 1)
    if empty:  # a text-only legend entry, so the reader knows the key was asked for
        ax.plot([], [], " ", label="no values: " + ", ".join(empty))
    if panel.lines or panel.hlines:  # below the axes: a legend never covers the data
        ncol = _legend_columns(ax.get_legend_handles_labels()[1], width_px)
        ax.legend(fontsize=FONT_PT, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=ncol, frameon=False)
    if panel.title:
        ax.set_title(panel.title, fontsize=10)
    ax.set_ylabel(panel.ylabel)
    ax.grid(True, alpha=0.3)
    return drawn


PANELS_PER_ROW = 2


def plot_panels(
    records: Sequence[Mapping],
    panels: Sequence[Panel],
    path: str | os.PathLike,
    *,
    title: str,
    xlabel: str = "epoch",
    x_key: str = "epoch",
    empty_note: str | None = None,
) -> Path:
    """Panels of curves over the rows of a metrics log (one `Panel` each), two a row.

    Rows missing a key, or holding None/NaN/inf there, are skipped for that key only; the x
    value is ``row[x_key]`` (whole numbers get whole-number ticks), else the row's position.
    Legends sit under their panel.

    Parameters
    ----------
    records : sequence of mapping
        The metrics log's rows.
    panels : sequence of Panel
        One per axes, left to right and then down.
    path : str or os.PathLike
        The PNG to write, atomically.
    title : str
        The figure's heading.
    xlabel : str
        The x axis label.
    x_key : str
        The key of each row's x value.
    empty_note : str, optional
        Written across the figure when nothing at all is drawn (default "no values yet").

    Returns
    -------
    pathlib.Path
        The path written.
    """
    if not any(_series(records, key, x_key, False)[0] for panel in panels for key, _, _ in panel.lines):
        fig = new_figure(6.4, 1.6)  # no axes to mislead: only the reason
        fig.text(
            0.5,
            0.45,
            textwrap.fill(empty_note or "no values yet", 80),
            ha="center",
            va="center",
            fontsize=10,
            color="tab:red",
        )
        fig.suptitle(title)
        return save_png(fig, path)
    # two panels a row, 9.6 in wide: drawn at the 960 px a report shows it, so labels keep their size
    cols = min(PANELS_PER_ROW, len(panels))
    rows = -(-len(panels) // cols)
    fig = new_figure(max(6.4, 4.8 * cols), 0.6 + 3.8 * rows, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, panel in zip(axes, panels):
        _draw_panel(ax, records, panel, x_key, fig.get_figwidth() * DPI / cols)
        ax.set_xlabel(xlabel)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(title)
    return save_png(fig, path)


def plot_curves(
    records: Sequence[Mapping],
    keys: Sequence[str],
    path: str | os.PathLike,
    *,
    title: str,
    xlabel: str = "epoch",
    ylabel: str | None = None,
    x_key: str = "epoch",
    log_y: bool = False,
    labels: Mapping[str, str] | None = None,
    hlines: Sequence[tuple[float, str]] = (),
    integer_y: bool = False,
) -> Path:
    """One line per key over the rows of a metrics log (e.g. ``metrics.jsonl``): one `Panel`.

    Each row contributes a point to each key it holds as a finite number; rows missing a
    key, or holding None/NaN/inf there, are skipped for that key only. Keys with no values at
    all are named in the legend as having no values.

    Parameters
    ----------
    records : sequence of mapping
        The metrics log's rows.
    keys : sequence of str
        The metrics to draw.
    path : str or os.PathLike
        The PNG to write, atomically.
    title : str
        The figure's heading.
    xlabel : str
        The x axis label.
    ylabel : str, optional
        The y axis label.
    x_key : str
        The key of each row's x value; a row without it is placed at its position.
    log_y : bool
        A log scale (linear when a value is ≤ 0).
    labels : mapping, optional
        Legend labels by key.
    hlines : sequence of tuple
        (y, label): dotted reference lines.
    integer_y : bool
        Whole-number y ticks only.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile
    >>> rows = [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5, "kl": 0.3}]
    >>> plot_curves(rows, ["loss", "kl"], Path(tempfile.mkdtemp()) / "c.png", title="t").suffix
    '.png'
    """
    labels = labels or {}
    panel = Panel(
        [(k, labels.get(k, k), {}) for k in keys],
        log_y=log_y,
        hlines=hlines,
        integer_y=integer_y,
        ylabel=ylabel if ylabel is not None else (labels.get(keys[0], keys[0]) if len(keys) == 1 else "value"),
    )
    return plot_panels(records, [panel], path, title=title, xlabel=xlabel, x_key=x_key)


def plot_bars(
    values,
    path: str | os.PathLike,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    threshold: float | None = None,
    log_y: bool = False,
) -> Path:
    """A bar per entry of a 1-D `values` (e.g. KL per latent dimension, in nats).

    The legend sits under the axes.

    Parameters
    ----------
    values : array_like
        The bars' heights, 1-D.
    path : str or os.PathLike
        The PNG to write, atomically.
    title : str
        The figure's heading.
    xlabel : str
        The x axis label.
    ylabel : str
        The y axis label.
    threshold : float, optional
        Marked by a dashed line; bars at or above it are drawn in a second colour (for KL per
        dimension: the active units).
    log_y : bool
        A log axis (so a small threshold stays visible; zeros are drawn at the axis floor).

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile
    >>> plot_bars([0.01, 1.2, 0.5], Path(tempfile.mkdtemp()) / "b.png", title="KL",
    ...           xlabel="latent dimension", ylabel="KL (nats)", threshold=0.1).name
    'b.png'
    """
    v = as_numpy(values).astype(np.float64).reshape(-1)
    fig = new_figure(min(9.6, max(6.4, 0.18 * len(v) + 1.5)), 4.4, layout="constrained")  # ≤ a report's 960 px
    ax = fig.add_subplot()
    idx = np.arange(len(v))
    if log_y:
        positive = v[v > 0]
        floor = min([*positive.tolist(), *([threshold] if threshold else []), 1.0]) / 10
        ax.set_yscale("log")
        ax.set_ylim(bottom=floor, top=max(float(v.max(initial=0)), threshold or 0, floor * 10) * 2)
        v = np.maximum(v, floor)
    if threshold is None:
        ax.bar(idx, v, color="tab:blue")
    else:
        above = v >= threshold
        ax.bar(idx[above], v[above], color="tab:blue")
        ax.bar(idx[~above], v[~above], color="tab:gray")
        ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1.5, zorder=3)
        # explicit handles: an empty bar group would otherwise lend its legend the default colour
        handles = [
            Patch(color="tab:blue", label=f"≥ {threshold:g}: {above.sum()} of {len(v)}"),
            Patch(color="tab:gray", label=f"< {threshold:g}: {(~above).sum()} of {len(v)}"),
            Line2D([], [], color="tab:red", linestyle="--", label=f"threshold {threshold:g}"),
        ]
        ax.legend(
            handles=handles, fontsize=FONT_PT, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, frameon=False
        )
    ax.set_xticks(idx[:: math.ceil(len(v) / 20)] if len(v) else idx)  # at most ~20 labels: two-digit ones never touch
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    return save_png(fig, path)


def plot_points(
    points,
    path: str | os.PathLike,
    *,
    title: str,
    means=None,
    label: str = "samples",
    xlabel: str = "x₁",
    ylabel: str = "x₂",
) -> Path:
    """A scatter of 2-D points, with optional mixture means drawn under them.

    Equal axis scales on a square frame fitted to the means and the central 99 % of the
    points, so a ring looks round and a grid of modes fills the frame.

    Parameters
    ----------
    points : array_like or torch.Tensor
        Shape (N, 2).
    path : str or os.PathLike
        The PNG to write, atomically.
    title : str
        The figure's heading.
    means : array_like or torch.Tensor, optional
        Mixture means (K, 2), drawn as open red circles under the points (never hiding them).
    label : str
        The points' legend label.
    xlabel : str
        The x axis label.
    ylabel : str
        The y axis label.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile, torch
    >>> plot_points(torch.randn(100, 2), Path(tempfile.mkdtemp()) / "p.png", title="x").name
    'p.png'
    """
    p = as_numpy(points).astype(np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {p.shape}")
    m = None if means is None else as_numpy(means).astype(np.float64)
    fig = new_figure(5.0, 5.4)
    ax = fig.add_subplot()
    scatter(ax, p, m)
    handles = legend_handles(label, m is not None)
    (x_lo, x_hi), (y_lo, y_hi) = square_limits([p], m)
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_aspect("equal", adjustable="box")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, frameon=False)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path)
