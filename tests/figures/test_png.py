"""The figure layer's PNGs (`klvae.figures.png`): image grids and rows of earlier figures, read back as pixels."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib import colors
from matplotlib.image import imread

from klvae.figures.png import save_image_grid


def rgb(path):
    img = imread(path)  # (H, W, 4) float in [0, 1]
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    return img[..., :3]


def mask_of(img, color, tol=0.02):
    return (np.abs(img - np.asarray(colors.to_rgb(color))) < tol).all(axis=-1)


def bbox(mask):
    rows, cols = np.nonzero(mask)
    return rows.min(), rows.max() + 1, cols.min(), cols.max() + 1


def test_white_square_lands_in_its_cell(tmp_path):
    x = torch.zeros(16, 1, 28, 28)
    x[5] = 1.0  # row 0, column 5 of an 8-wide grid
    img = rgb(save_image_grid(x, tmp_path / "g.png", nrow=8))
    h, w = img.shape[:2]
    white = mask_of(img, "white")
    r0, r1, c0, c1 = bbox(white)
    assert white[r0:r1, c0:c1].all() and white.sum() == (r1 - r0) * (c1 - c0)  # one rectangle
    assert r1 - r0 == c1 - c0 >= 48  # enlarged with square nearest-neighbour pixels
    cx, cy = (c0 + c1) / 2, (r0 + r1) / 2
    assert 5 / 8 < cx / w < 6 / 8 and 0 < cy / h < 1 / 2
    black = mask_of(img, "black")
    assert black.sum() == 15 * (r1 - r0) * (c1 - c0)  # the 15 other images, nothing else
    # The thin grey gap separates cells: the column just left of the white cell is not white.
    assert not white[r0:r1, c0 - 1].any() and not black[r0:r1, c0 - 1].any()


def test_tiny_digits_are_enlarged_and_grey_levels_kept(tmp_path):
    x = np.zeros((4, 8, 8))  # (N, H, W) NumPy input
    x[3] = 0.5
    img = rgb(save_image_grid(x, tmp_path / "d.png"))  # default nrow = 2
    grey = (np.abs(img - 0.5) < 0.01).all(axis=-1)
    r0, r1, c0, c1 = bbox(grey)
    assert r1 - r0 >= 48 and c1 - c0 >= 48
    assert (r0 + r1) / 2 > img.shape[0] / 2 and (c0 + c1) / 2 > img.shape[1] / 2  # bottom right


def test_rgb_images_keep_their_colour(tmp_path):
    x = torch.zeros(3, 3, 16, 16)
    x[2, 0] = 1.0  # pure red, the third image
    img = rgb(save_image_grid(x, tmp_path / "c.png", nrow=3))
    red = mask_of(img, "red")
    r0, r1, c0, c1 = bbox(red)
    assert red.sum() == (r1 - r0) * (c1 - c0) >= 48 * 48
    assert (c0 + c1) / 2 > 2 / 3 * img.shape[1]


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 7), st.integers(1, 4), st.integers(2, 9), st.integers(2, 9))
def test_each_image_lands_in_its_cell(n, nrow, h, w):
    from klvae.figures.png import _GAP_PX, _tile

    x = np.random.default_rng(n * 100 + nrow).random((n, 1, h, w))
    mosaic = _tile(x, nrow, scale=2)
    for i in range(n):
        r, k = divmod(i, nrow)
        top, left = _GAP_PX + r * (2 * h + _GAP_PX), _GAP_PX + k * (2 * w + _GAP_PX)
        cell = mosaic[top : top + 2 * h : 2, left : left + 2 * w : 2, 0]
        np.testing.assert_array_equal(cell, x[i, 0])
    rows, ch, cw = -(-n // nrow), 2 * h + _GAP_PX, 2 * w + _GAP_PX
    assert mosaic.shape == (_GAP_PX + rows * ch, _GAP_PX + nrow * cw, 3)
    for i in range(n, rows * nrow):  # cells past the last image are blank (white)
        top, left = _GAP_PX + (i // nrow) * ch, _GAP_PX + (i % nrow) * cw
        assert (mosaic[top : top + 2 * h, left : left + 2 * w] == 1.0).all()


def test_title_and_labels_are_drawn(tmp_path):
    x = torch.zeros(4, 1, 8, 8)
    plain = rgb(save_image_grid(x, tmp_path / "a.png", nrow=4))
    titled = rgb(save_image_grid(x, tmp_path / "b.png", nrow=4, title="Samples"))
    labelled = rgb(save_image_grid(x, tmp_path / "c.png", nrow=4, labels=[3, 1, 4, 1]))
    as_tensor = rgb(save_image_grid(x, tmp_path / "d.png", nrow=4, labels=torch.tensor([3, 1, 4, 1])))
    np.testing.assert_array_equal(labelled, as_tensor)  # "3", not "tensor(3)"
    assert titled.shape[0] > plain.shape[0] and titled.shape[1] >= 360
    assert (titled[:20].min(axis=-1) < 0.5).any()  # dark title text on the white strip
    assert plain.shape == labelled.shape
    assert (labelled.mean(axis=-1) > 0.7).sum() > 10  # white label text over black images
    assert (plain.mean(axis=-1) > 0.7).sum() == 0


def test_image_grid_errors(tmp_path):
    with pytest.raises(
        ValueError,
        match=r"images must have shape \(N, C, H, W\) with C in "
        r"\{1, 3\} or \(N, H, W\) with N ≥ 1, "
        r"got \(2, 2, 8, 8\)",
    ):
        save_image_grid(torch.zeros(2, 2, 8, 8), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"images must lie in \[0, 1\], found values in \[-1, 1\]"):
        save_image_grid(torch.linspace(-1, 1, 64).reshape(1, 8, 8), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"found values in \[nan"):
        save_image_grid(torch.full((1, 8, 8), float("nan")), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"labels must have one entry per image: 1 labels, 2 "):
        save_image_grid(torch.zeros(2, 8, 8), tmp_path / "x.png", labels=["a"])
    assert not (tmp_path / "x.png").exists()


def test_row_and_column_labels_widen_the_grid_but_keep_the_cells(tmp_path):
    x = torch.zeros(6, 1, 8, 8)
    plain = rgb(save_image_grid(x, tmp_path / "a.png", nrow=3))
    named = rgb(
        save_image_grid(
            x, tmp_path / "b.png", nrow=3, row_labels=["dim 0", "dim 1"], col_labels=["−1", "0", "1"], col_title="value"
        )
    )
    assert named.shape[1] > plain.shape[1] and named.shape[0] > plain.shape[0]
    r0, r1, c0, c1 = bbox(mask_of(plain, "black"))
    below = np.arange(named.shape[0])[:, None] >= named.shape[0] - plain.shape[0]
    right = np.arange(named.shape[1])[None, :] >= named.shape[1] - plain.shape[1]
    n0, n1, m0, m1 = bbox(mask_of(named, "black") & below & right)
    assert (n1 - n0, m1 - m0) == (r1 - r0, c1 - c0)  # the images, one array pixel per PNG pixel still
    assert (named[:, : named.shape[1] - plain.shape[1]].min(axis=-1) < 0.5).any()  # text left of the grid
    with pytest.raises(ValueError, match="row_labels must have one entry per row: 1 labels, 2 rows"):
        save_image_grid(x, tmp_path / "c.png", nrow=3, row_labels=["a"])


def test_png_row_puts_earlier_figures_side_by_side(tmp_path):
    from klvae.figures.png import save_png_row

    a = save_image_grid(torch.zeros(4, 1, 8, 8), tmp_path / "a.png")
    img = rgb(save_png_row([a, a, a], tmp_path / "r.png", titles=["1", "2", "3"], title="by epoch", width_px=100))
    assert img.shape[1] == 300
    with pytest.raises(ValueError, match="one title per image"):
        save_png_row([a], tmp_path / "x.png", titles=[], title="t")


def drawn_figures(monkeypatch):
    """The Matplotlib figures `klvae.figures.png` saves, as they are saved (drawn on Agg)."""
    import klvae.figures.png as png

    figures, save = [], png.save_png

    def keep(fig, path):
        figures.append(fig)
        return save(fig, path)

    monkeypatch.setattr(png, "save_png", keep)
    return figures


@pytest.mark.parametrize("n, nrow", [(64, 8), (4, 2), (10, 10)])
def test_a_long_title_is_wrapped_inside_the_figure(tmp_path, monkeypatch, n, nrow):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figures = drawn_figures(monkeypatch)
    title = "64 samples from the prior, classes 0 … 9 in turn (means σ(logits)) of a conditional VAE"
    save_image_grid(torch.rand(n, 1, 8, 8), tmp_path / "g.png", nrow=nrow, title=title, row_labels=None)
    (fig,) = figures
    renderer = FigureCanvasAgg(fig).get_renderer()
    box = fig.bbox
    (text,) = [t for t in fig.texts if t.get_text()]
    assert text.get_text().replace("\n", " ") == title  # every word kept
    extent = text.get_window_extent(renderer)
    assert box.x0 <= extent.x0 and extent.x1 <= box.x1 and box.y0 <= extent.y0 and extent.y1 <= box.y1
    assert extent.y0 >= fig.axes[0].get_window_extent(renderer).y1  # above the images, not over them
    short = save_image_grid(torch.rand(n, 1, 8, 8), tmp_path / "s.png", nrow=nrow, title="short")
    assert "\n" not in figures[1].texts[0].get_text() and imread(short).shape[0] < imread(tmp_path / "g.png").shape[0]


def test_blank_cells_are_left_as_the_page(tmp_path):
    x = torch.zeros(8, 1, 8, 8)  # black images: a blank cell is the only white
    img = rgb(save_image_grid(x, tmp_path / "b.png", nrow=4, blank=[0, 1]))
    white = mask_of(img, "white")
    r0, r1, c0, c1 = bbox(white)
    h, w = img.shape[:2]
    assert white[r0:r1, c0:c1].all() and white.sum() == (r1 - r0) * (c1 - c0)  # one rectangle, top left
    assert (r0, c0) == (0, 0) and 0.45 < (r1 / h) < 0.55 and 0.45 < c1 / w < 0.55  # the two cells of row 1
    black = mask_of(img, "black")
    assert black[r1 + 2 :, :].any() and black[:r1, c1 + 2 :].any()  # the other six images are drawn
    grey = (0.55, 0.55, 0.55)
    assert mask_of(img, grey)[2 : r1 - 2, c1].all()  # the line left of image 3 is kept
    with pytest.raises(ValueError, match="blank must hold positions 0 … 7"):
        save_image_grid(x, tmp_path / "b.png", blank=[8])
