"""The one figure layer: every PNG klvae writes is drawn and saved here.

Figures are `matplotlib.figure.Figure` objects (the object-oriented API on the Agg renderer:
no pyplot state, no backend switch, no display needed), drawn in one style (`new_figure`), saved
to memory and written atomically (`save_png`), so a reader never sees half a file. Image grids
are here; the charts of run metrics (`klvae.figures.charts`) and the experiments' figures (`klvae.figures.experiments`)
are drawn with the same two functions.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imread

from klvae._io import atomic_write_bytes

__all__ = [
    "new_figure",
    "save_png",
    "DPI",
    "FONT_PT",
    "TITLE_PT",
    "text_width_px",
    "fit_lines",
    "as_numpy",
    "save_image_grid",
    "save_png_row",
]

#: Dots per inch of every figure klvae draws.
DPI = 100
_MIN_CELL_PX = 48  # each image at least this many pixels wide, so 8×8 digits read at a glance
_GAP_PX = 2  # the thin grey line between images
_GAP_GREY = 0.55
#: The smallest text of a figure, in points: 9 pt or more as a report shows it (at its natural size).
FONT_PT = 9
TITLE_PT = 11  # a figure's heading
_LINE_SPACING = 1.25
_LINE_PX = round(_LINE_SPACING * FONT_PT * DPI / 72)  # one line of FONT_PT text
_MARGIN_PX = 8  # the least room left and right of a title


def new_figure(width_in: float = 6.4, height_in: float = 4.0, **kw) -> Figure:
    """A Figure in klvae's one style, drawn with the object-oriented API.

    Matplotlib's default fonts and colours (never changed globally), `DPI` dots per inch.
    Figure + savefig renders with Agg; pyplot is never involved.

    Parameters
    ----------
    width_in : float
        Width in inches.
    height_in : float
        Height in inches.
    **kw
        Passed to `matplotlib.figure.Figure`.

    Returns
    -------
    matplotlib.figure.Figure
        A new, empty figure.
    """
    return Figure(figsize=(width_in, height_in), dpi=DPI, **kw)


def text_width_px(texts: Iterable[str], fontsize: float) -> float:
    """The width in pixels of the widest of `texts` (one line each) at `fontsize` points, as drawn."""
    fig = new_figure()
    renderer = FigureCanvasAgg(fig).get_renderer()
    return max((fig.text(0, 0, t, fontsize=fontsize).get_window_extent(renderer).width for t in texts), default=0.0)


def fit_lines(text: str, width_px: float, fontsize: float) -> list[str]:
    """`text` broken at spaces into the fewest lines that are each at most `width_px` wide at
    `fontsize` points (a single word wider than that stays whole on its line)."""
    words, lines = text.split(), list[str]()
    for word in words:
        if lines and text_width_px([lines[-1] + " " + word], fontsize) <= width_px:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def save_png(fig: Figure, path: str | os.PathLike) -> Path:
    """Render `fig` to PNG in memory and write it atomically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or os.PathLike
        Where to write; ``.png`` is appended when missing.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        path = path.with_name(path.name + ".png")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return atomic_write_bytes(path, buf.getvalue())


def as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64 if x.is_floating_point() else torch.int64)
        return x.numpy()
    return np.asarray(x)


# --------------------------------------------------------------------------- image grid


def _tile(images: np.ndarray, nrow: int, scale: int, blank: Sequence[int] = ()) -> np.ndarray:
    """(N, C, H, W) in [0, 1] → one (rows·(sH+g)+g, nrow·(sW+g)+g, 3) RGB mosaic; the cells at the
    positions `blank` are left as the page, with no line above or left of them where that line
    touches only blank cells or the edge."""
    n, c, h, w = images.shape
    rgb = np.repeat(images, 3, axis=1) if c == 1 else images  # (N, 3, H, W)
    big = rgb.repeat(scale, axis=2).repeat(scale, axis=3).transpose(0, 2, 3, 1)  # (N, sH, sW, 3)
    rows = math.ceil(n / nrow)
    ch, cw = h * scale + _GAP_PX, w * scale + _GAP_PX  # a cell: the image, then a gap right/below
    cells = np.full((rows * nrow, ch, cw, 3), _GAP_GREY)
    cells[:n, : h * scale, : w * scale] = big
    cells[n:] = 1.0  # the unused end of the last row: blank like the page
    mosaic = cells.reshape(rows, nrow, ch, cw, 3).transpose(0, 2, 1, 3, 4).reshape(rows * ch, nrow * cw, 3)
    mosaic = np.pad(mosaic, ((_GAP_PX, 0), (_GAP_PX, 0), (0, 0)), constant_values=_GAP_GREY)
    empty = set(blank)
    for i in sorted(empty):
        r, k = divmod(i, nrow)
        top = r * ch + (0 if r == 0 or i - nrow in empty else _GAP_PX)
        left = k * cw + (0 if k == 0 or i - 1 in empty else _GAP_PX)
        mosaic[top : _GAP_PX + r * ch + h * scale, left : _GAP_PX + k * cw + w * scale] = 1.0
    return mosaic


def save_image_grid(
    images,
    path: str | os.PathLike,
    *,
    nrow: int | None = None,
    title: str | None = None,
    labels: Sequence | None = None,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    col_title: str | None = None,
    blank: Sequence[int] = (),
) -> Path:
    """Tile images into one PNG grid, left to right then top to bottom, row-major.

    Each image is enlarged by an integer factor with nearest-neighbour pixels so it is at least
    48 px wide, and images are separated by a thin grey line.

    Parameters
    ----------
    images : torch.Tensor or numpy.ndarray
        (N, C, H, W) with C = 1 (grey) or 3 (RGB), or (N, H, W); values in [0, 1] (0 = black).
    path : str or os.PathLike
        The PNG, written atomically.
    nrow : int, optional
        Images per row (default ⌈√N⌉).
    title : str, optional
        A heading above the grid.
    labels : sequence, optional
        N short texts drawn in each image's corner.
    row_labels : sequence of str, optional
        One per row, written left of the rows.
    col_labels : sequence of str, optional
        One per column, written above the columns.
    col_title : str, optional
        A heading over the column labels.
    blank : sequence of int
        Positions of cells left empty, as the page (their images are not drawn).

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile, torch
    >>> p = save_image_grid(torch.rand(6, 1, 8, 8), Path(tempfile.mkdtemp()) / "g.png", nrow=3)
    >>> p.name
    'g.png'
    """
    x = as_numpy(images).astype(np.float64)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[0] == 0:
        raise ValueError(
            f"images must have shape (N, C, H, W) with C in {{1, 3}} or (N, H, W) "
            f"with N ≥ 1, got {tuple(as_numpy(images).shape)}"
        )
    lo, hi = float(np.min(x)), float(np.max(x))
    if not (lo >= 0.0 and hi <= 1.0):  # also catches NaN
        raise ValueError(f"images must lie in [0, 1], found values in [{lo:g}, {hi:g}]")
    n, _, h, w = x.shape
    nrow = max(1, min(nrow or math.ceil(math.sqrt(n)), n))
    if isinstance(labels, (torch.Tensor, np.ndarray)):
        labels = labels.tolist()  # so a tensor label prints as 3, not tensor(3)
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels must have one entry per image: {len(labels)} labels, {n} images")
    rows = math.ceil(n / nrow)
    if row_labels is not None and len(row_labels) != rows:
        raise ValueError(f"row_labels must have one entry per row: {len(row_labels)} labels, {rows} rows")
    if col_labels is not None and len(col_labels) != nrow:
        raise ValueError(f"col_labels must have one entry per column: {len(col_labels)} labels, {nrow} columns")
    scale = max(1, math.ceil(_MIN_CELL_PX / max(h, w)))
    if any(not 0 <= i < n for i in blank):
        raise ValueError(f"blank must hold positions 0 … {n - 1} of the images, got {list(blank)}")
    mosaic = _tile(x, nrow, scale, blank)
    mh, mw = mosaic.shape[:2]
    left_px = 8 + text_width_px(map(str, row_labels), FONT_PT) if row_labels is not None else 0
    head_px = (_LINE_PX if col_labels is not None else 0) + (_LINE_PX if col_title else 0)
    fig_w = max(mw + left_px, 360 if title else 0)  # room for a short title
    lines = fit_lines(title, fig_w - 2 * _MARGIN_PX, TITLE_PT) if title else []
    title_px = 12 + round(_LINE_SPACING * TITLE_PT * DPI / 72) * len(lines) if lines else 0
    top_px = title_px + head_px
    fig_h = mh + top_px
    fig = new_figure(fig_w / DPI, fig_h / DPI)
    # An axes of exactly the mosaic's size in pixels: one array pixel is one PNG pixel.
    x0 = left_px + (fig_w - left_px - mw) / 2
    ax = fig.add_axes((x0 / fig_w, 0, mw / fig_w, mh / fig_h))
    ax.imshow(mosaic, interpolation="nearest", aspect="auto")
    ax.set_axis_off()
    cell_w, cell_h = w * scale + _GAP_PX, h * scale + _GAP_PX
    if lines:
        fig.text(0.5, 1 - title_px / 2 / fig_h, "\n".join(lines), ha="center", va="center", fontsize=TITLE_PT,
                 linespacing=_LINE_SPACING)  # fmt: skip
    if col_title:
        y = 1 - (title_px + _LINE_PX / 2) / fig_h
        fig.text((x0 + mw / 2) / fig_w, y, col_title, ha="center", va="center", fontsize=FONT_PT)
    if col_labels is not None:
        for k, text in enumerate(col_labels):
            cx = x0 + _GAP_PX + k * cell_w + w * scale / 2
            fig.text(cx / fig_w, (mh + _LINE_PX / 2) / fig_h, str(text), ha="center", va="center", fontsize=FONT_PT)
    if row_labels is not None:
        for r, text in enumerate(row_labels):
            cy = mh - (_GAP_PX + r * cell_h + h * scale / 2)
            fig.text((x0 - 4) / fig_w, cy / fig_h, str(text), ha="right", va="center", fontsize=FONT_PT)
    if labels is not None:
        for i, text in enumerate(labels):
            r, k = divmod(i, nrow)
            left, top = _GAP_PX + k * cell_w, _GAP_PX + r * cell_h
            ax.text(
                left + 1,
                top + 1,
                str(text),
                color="white",
                fontsize=FONT_PT,
                ha="left",
                va="top",
                bbox=dict(facecolor="black", alpha=0.6, pad=1, linewidth=0),
            )
    return save_png(fig, path)


def save_png_row(
    sources: Sequence[str | os.PathLike],
    path: str | os.PathLike,
    *,
    titles: Sequence[str],
    title: str,
    width_px: int = 300,
) -> Path:
    """Earlier PNGs (e.g. one per epoch) side by side in one PNG, each under its title.

    Parameters
    ----------
    sources : sequence of str or os.PathLike
        The PNG files.
    path : str or os.PathLike
        The PNG to write, atomically.
    titles : sequence of str
        One title per source.
    title : str
        The figure's heading.
    width_px : int
        Width of each picture in pixels.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile, torch
    >>> d = Path(tempfile.mkdtemp())
    >>> a = save_image_grid(torch.rand(4, 1, 8, 8), d / "a.png")
    >>> save_png_row([a, a], d / "row.png", titles=["first", "last"], title="t").name
    'row.png'
    """
    images = [imread(os.fspath(p)) for p in sources]
    if not images or len(titles) != len(images):
        raise ValueError(f"need one title per image and at least one image, got {len(titles)} and {len(images)}")
    height = max(width_px * im.shape[0] / im.shape[1] for im in images)
    fig = new_figure(len(images) * width_px / DPI, (height + 60) / DPI, layout="constrained")
    for ax, im, text in zip(fig.subplots(1, len(images), squeeze=False)[0], images, titles):
        ax.imshow(im, interpolation="antialiased")
        ax.set_axis_off()
        ax.set_title(text, fontsize=9)
    fig.suptitle(title, fontsize=11)
    return save_png(fig, path)
