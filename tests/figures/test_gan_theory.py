"""The GAN theory's figures (`klvae.figures.gan_theory`): each draws the rows it is given, read back
from the Matplotlib figure it saves, into a PNG."""

import json
import math

import numpy as np
import pytest
from matplotlib.image import imread

from klvae.figures import gan_theory as plots
from klvae.gan.theory import disjoint_uniform_theory, gaussian_shift_theory, saturation_gradients


@pytest.fixture
def drawn(monkeypatch):
    """The figures the module saves, in order (each still written to its PNG)."""
    figures = []
    save = plots.save_png

    def keep(fig, path):
        figures.append(fig)
        return save(fig, path)

    monkeypatch.setattr(plots, "save_png", keep)
    return figures


def lines(ax) -> dict:
    """{label: (x, y)} of an axes' labelled lines."""
    return {ln.get_label(): (np.asarray(ln.get_xdata(), float), np.asarray(ln.get_ydata(), float)) for ln in ax.lines}


def png(path):
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    return img


def test_the_gan_theory_figures_draw_their_rows(tmp_path, drawn):
    sweep = [gaussian_shift_theory(mu, points=801) for mu in (0.0, 1.0, 4.0)]
    png(plots.plot_value_vs_jsd(sweep, sweep[1:], tmp_path / "v.png"))
    value = lines(drawn[0].axes[0])
    np.testing.assert_array_equal(value["V(D*, G) from D* = p/(p+q)"][1], [r["value"] for r in sweep])
    x, y = value["2·JSD − log 4"]
    np.testing.assert_allclose(y, 2 * x - math.log(4), rtol=1e-12)
    grads = saturation_gradients(np.linspace(-12, 12, 49))
    png(plots.plot_saturation(grads, tmp_path / "s.png"))
    linear, log = drawn[1].axes
    np.testing.assert_array_equal(lines(linear)["minimax: d/dℓ log(1 − σ(ℓ))"][1], grads["minimax"])
    np.testing.assert_array_equal(lines(log)["non-saturating: d/dℓ −log σ(ℓ)"][1], np.abs(grads["nonsaturating"]))
    rows = disjoint_uniform_theory([0.0, 0.5, 1.0, 2.0])
    png(plots.plot_disjoint_supports(rows, tmp_path / "d.png"))
    disjoint = lines(drawn[2].axes[0])
    np.testing.assert_array_equal(disjoint["JSD(p ‖ q) [nats]"][1], [r["jsd"] for r in rows])
    np.testing.assert_array_equal(disjoint["Wasserstein-1 W(p, q)"][1], [r["wasserstein"] for r in rows])
    json.dumps(rows)  # the numbers the figure shows are plain JSON
