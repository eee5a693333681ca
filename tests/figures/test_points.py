"""Sets of 2-D points on one frame (`klvae.figures.points`): the square around all of them, and the
panels that share it."""

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from klvae.figures.points import plot_point_panels, square_limits


def test_the_frame_is_one_square_around_every_set_and_the_means():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(1000, 2)), rng.normal(size=(1000, 2)) * [3.0, 0.5] + [5.0, 0.0]
    means = np.array([[-4.0, 6.0]])
    (x_lo, x_hi), (y_lo, y_hi) = square_limits([a, b], means)
    assert x_hi - x_lo == pytest.approx(y_hi - y_lo)
    for p in (a, b):  # the central 99 % of each set is inside
        lo, hi = np.quantile(p, [0.005, 0.995], axis=0)
        assert x_lo < lo[0] and hi[0] < x_hi and y_lo < lo[1] and hi[1] < y_hi
    assert x_lo < -4.0 and y_hi > 6.0
    with_nan = square_limits([np.vstack([a, [[np.nan, 1e9]]])])  # a non-finite point does not blow the frame up
    assert with_nan == square_limits([a])
    assert square_limits([]) == ((-1.0, 1.0), (-1.0, 1.0))


def test_panels_are_drawn_at_the_width_asked_and_refuse_a_wrong_shape(tmp_path):
    path = plot_point_panels([torch.randn(20, 2)] * 3, tmp_path / "p.png", titles=["a", "b", "c"], title="t")
    assert imread(path).shape[1] == 960
    with pytest.raises(ValueError, match="one title per set"):
        plot_point_panels([torch.randn(20, 3)], tmp_path / "q.png", titles=["a"], title="t")
    with pytest.raises(ValueError, match="one title per set"):
        plot_point_panels([torch.randn(20, 2)], tmp_path / "q.png", titles=[], title="t")
