"""The one figure layer: every PNG klvae writes is drawn and saved here.

Figures are `matplotlib.figure.Figure` objects (the object-oriented API on the Agg renderer:
no pyplot state, no backend switch, no display needed), drawn in one style (`new_figure`), saved
to memory and written atomically (`save_png`), so a reader never sees half a file. The run
figures (image grids, curves, bars, 2-D points) are here; the experiments' figures
(`klvae.plots`) are drawn with the same two functions.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from klvae._io import atomic_write_bytes

__all__ = ["new_figure", "save_png", "DPI", "save_image_grid", "plot_curves", "plot_bars", "plot_points"]

DPI = 100
_MIN_CELL_PX = 48  # each image at least this many pixels wide, so 8×8 digits read at a glance
_GAP_PX = 2  # the thin grey line between images
_GAP_GREY = 0.55


def new_figure(width_in: float = 6.4, height_in: float = 4.0, **kw) -> Figure:
    """A Figure in klvae's one style: matplotlib's default fonts and colours (never changed
    globally), `DPI` dots per inch. Figure + savefig renders with Agg; pyplot is never involved."""
    return Figure(figsize=(width_in, height_in), dpi=DPI, **kw)


def save_png(fig: Figure, path: str | os.PathLike) -> Path:
    """Render `fig` to PNG in memory and write it atomically; returns the path (with .png)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        path = path.with_name(path.name + ".png")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return atomic_write_bytes(path, buf.getvalue())


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64 if x.is_floating_point() else torch.int64)
        return x.numpy()
    return np.asarray(x)


# --------------------------------------------------------------------------- image grid


def _tile(images: np.ndarray, nrow: int, scale: int) -> np.ndarray:
    """(N, C, H, W) in [0, 1] → one (rows·(sH+g)+g, nrow·(sW+g)+g, 3) RGB mosaic."""
    n, c, h, w = images.shape
    rgb = np.repeat(images, 3, axis=1) if c == 1 else images  # (N, 3, H, W)
    big = rgb.repeat(scale, axis=2).repeat(scale, axis=3).transpose(0, 2, 3, 1)  # (N, sH, sW, 3)
    rows = math.ceil(n / nrow)
    ch, cw = h * scale + _GAP_PX, w * scale + _GAP_PX  # a cell: the image, then a gap right/below
    cells = np.full((rows * nrow, ch, cw, 3), _GAP_GREY)
    cells[:n, :h * scale, :w * scale] = big
    cells[n:] = 1.0  # the unused end of the last row: blank like the page
    mosaic = cells.reshape(rows, nrow, ch, cw, 3).transpose(0, 2, 1, 3, 4).reshape(rows * ch,
                                                                                 nrow * cw, 3)
    return np.pad(mosaic, ((_GAP_PX, 0), (_GAP_PX, 0), (0, 0)), constant_values=_GAP_GREY)


def save_image_grid(images, path: str | os.PathLike, *, nrow: int | None = None,
                    title: str | None = None, labels: Sequence | None = None) -> Path:
    """Tile images into one PNG grid, left to right then top to bottom, row-major.

    `images`: (N, C, H, W) with C = 1 (grey) or 3 (RGB), or (N, H, W); tensor or array with
    values in [0, 1] (0 = black). `nrow` images per row (default ⌈√N⌉). Each image is
    enlarged by an integer factor with nearest-neighbour pixels so it is at least 48 px
    wide, and images are separated by a thin grey line. `labels`, if given, are N short
    texts drawn in each image's corner. Returns the path written (atomically).

    >>> import tempfile, torch
    >>> p = save_image_grid(torch.rand(6, 1, 8, 8), Path(tempfile.mkdtemp()) / "g.png", nrow=3)
    >>> p.name
    'g.png'
    """
    x = _numpy(images).astype(np.float64)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[0] == 0:
        raise ValueError(f"images must have shape (N, C, H, W) with C in {{1, 3}} or (N, H, W) "
                         f"with N ≥ 1, got {tuple(_numpy(images).shape)}")
    lo, hi = float(np.min(x)), float(np.max(x))
    if not (lo >= 0.0 and hi <= 1.0):  # also catches NaN
        raise ValueError(f"images must lie in [0, 1], found values in [{lo:g}, {hi:g}]")
    n, _, h, w = x.shape
    nrow = max(1, min(nrow or math.ceil(math.sqrt(n)), n))
    if isinstance(labels, (torch.Tensor, np.ndarray)):
        labels = labels.tolist()  # so a tensor label prints as 3, not tensor(3)
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels must have one entry per image: {len(labels)} labels, {n} images")
    scale = max(1, math.ceil(_MIN_CELL_PX / max(h, w)))
    mosaic = _tile(x, nrow, scale)
    mh, mw = mosaic.shape[:2]
    title_px = 36 if title else 0
    fig_w = max(mw, 360 if title else 0)  # room for the title text
    fig = new_figure(fig_w / DPI, (mh + title_px) / DPI)
    # An axes of exactly the mosaic's size in pixels: one array pixel is one PNG pixel.
    ax = fig.add_axes(((fig_w - mw) / 2 / fig_w, 0, mw / fig_w, mh / (mh + title_px)))
    ax.imshow(mosaic, interpolation="nearest", aspect="auto")
    ax.set_axis_off()
    if title:
        fig.text(0.5, 1 - title_px / 2 / (mh + title_px), title, ha="center", va="center",
                 fontsize=11)
    if labels is not None:
        for i, text in enumerate(labels):
            r, k = divmod(i, nrow)
            left, top = _GAP_PX + k * (w * scale + _GAP_PX), _GAP_PX + r * (h * scale + _GAP_PX)
            ax.text(left + 1, top + 1, str(text), color="white", fontsize=7, ha="left", va="top",
                    bbox=dict(facecolor="black", alpha=0.6, pad=1, linewidth=0))
    return save_png(fig, path)


# --------------------------------------------------------------------------- curves and bars


def _number(v) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _series(records: Sequence[Mapping], key: str, x_key: str,
            log_y: bool) -> tuple[list[float], list[float]]:
    """The (x, y) points of `key`; rows without a finite value (≤ 0 on a log axis) are skipped."""
    raw = [(_number(row.get(x_key, i)), _number(row.get(key))) for i, row in enumerate(records)]
    pts = [(a, b) for a, b in raw if a is not None and b is not None and (b > 0 or not log_y)]
    return [a for a, _ in pts], [b for _, b in pts]


def plot_curves(records: Sequence[Mapping], keys: Sequence[str], path: str | os.PathLike, *,
                title: str, xlabel: str = "epoch", ylabel: str | None = None,
                x_key: str = "epoch", log_y: bool = False) -> Path:
    """One line per key over the rows of a metrics log (e.g. ``metrics.jsonl``).

    Each row contributes a point to each key it holds as a finite number; rows missing a
    key, or holding None/NaN/inf there, are skipped for that key only. The x value is
    ``row[x_key]``, or the row's position when the row has no such key. `log_y` uses a
    log scale (non-positive values are then left out). Keys with no values at all are
    named in the legend as having no values. Returns the path written.

    >>> import tempfile
    >>> rows = [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5, "kl": 0.3}]
    >>> plot_curves(rows, ["loss", "kl"], Path(tempfile.mkdtemp()) / "c.png", title="t").suffix
    '.png'
    """
    fig = new_figure()
    ax = fig.add_subplot()
    empty = []
    for key in keys:
        xs, ys = _series(records, key, x_key, log_y)
        if not xs:
            empty.append(key)
            continue
        ax.plot(xs, ys, label=key, marker="o" if len(xs) <= 30 else None, markersize=3)
    if log_y:
        ax.set_yscale("log")
    if empty:  # a text-only legend entry, so the reader knows the key was asked for
        ax.plot([], [], " ", label="no values: " + ", ".join(empty))
    if keys:
        ax.legend()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel if ylabel is not None else (keys[0] if len(keys) == 1 else "value"))
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path)


def plot_bars(values, path: str | os.PathLike, *, title: str, xlabel: str, ylabel: str,
              threshold: float | None = None) -> Path:
    """A bar per entry of a 1-D `values` (e.g. KL per latent dimension, in nats).

    With `threshold`, a dashed horizontal line marks it and bars at or above it are drawn
    in a second colour (for KL per dimension: the active units). Returns the path written.

    >>> import tempfile
    >>> plot_bars([0.01, 1.2, 0.5], Path(tempfile.mkdtemp()) / "b.png", title="KL",
    ...           xlabel="latent dimension", ylabel="KL (nats)", threshold=0.1).name
    'b.png'
    """
    v = _numpy(values).astype(np.float64).reshape(-1)
    fig = new_figure(max(6.4, 0.18 * len(v) + 1.5), 4.0)
    ax = fig.add_subplot()
    idx = np.arange(len(v))
    if threshold is None:
        ax.bar(idx, v, color="tab:blue")
    else:
        above = v >= threshold
        ax.bar(idx[above], v[above], color="tab:blue", label=f"≥ {threshold:g} ({above.sum()})")
        ax.bar(idx[~above], v[~above], color="tab:gray",
               label=f"< {threshold:g} ({(~above).sum()})")
        ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label="threshold")
        ax.legend()
    ax.set_xticks(idx[::math.ceil(len(v) / 20)] if len(v) else idx)  # at most ~20 labels: two-digit ones never touch
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path)


def plot_points(points, path: str | os.PathLike, *, title: str, means=None,
                label: str = "samples", xlabel: str = "x₁", ylabel: str = "x₂") -> Path:
    """A scatter of 2-D points (N, 2), with optional mixture `means` (K, 2) marked as crosses.

    Equal axis scales, so a ring looks round. Returns the path written.

    >>> import tempfile, torch
    >>> plot_points(torch.randn(100, 2), Path(tempfile.mkdtemp()) / "p.png", title="x").name
    'p.png'
    """
    p = _numpy(points).astype(np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {p.shape}")
    fig = new_figure(5.0, 5.0)
    ax = fig.add_subplot()
    ax.scatter(p[:, 0], p[:, 1], s=2, alpha=0.4, color="tab:blue", linewidths=0)
    # Legend proxies: the tiny translucent dots of the scatter would be invisible there.
    handles = [Line2D([], [], marker="o", linestyle="", color="tab:blue", label=label)]
    if means is not None:
        m = _numpy(means).astype(np.float64)
        ax.scatter(m[:, 0], m[:, 1], s=40, marker="x", color="tab:red")
        handles.append(Line2D([], [], marker="x", linestyle="", color="tab:red",
                              label="mode means"))
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return save_png(fig, path)
