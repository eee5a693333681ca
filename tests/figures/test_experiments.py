"""The experiments' figures (`klvae.figures.experiments`): each draws what its title claims, into a PNG, atomically."""

import json

import numpy as np
import pytest
from matplotlib.image import imread

from klvae.experiments.gaussian_fits import fit_forward, fit_reverse
from klvae.experiments.gradient_estimators import variance_table
from klvae.figures import experiments as plots
from klvae.gan.theory import disjoint_uniform_theory, gaussian_shift_theory, saturation_gradients
from klvae.measures.mixture import parse_mixture


def png(path):
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    return img


@pytest.fixture(scope="module")
def mixture_fits():
    p = parse_mixture("0.5:-3:1,0.5:3:1")
    return p, fit_forward(p), fit_reverse(p, n_restarts=3)


def test_modes_1d_draws_the_target_and_every_distinct_optimum(tmp_path, mixture_fits):
    p, forward, reverse = mixture_fits
    means = sorted(round(float(f.mean[0])) for f, _ in plots.distinct_fits(reverse))
    assert -3 in means and 3 in means  # both mode-seeking optima among the distinct fits
    path = plots.plot_modes_1d(p, forward, reverse, tmp_path / "modes.png")
    assert path == tmp_path / "modes.png" and png(path).shape[1] > png(path).shape[0]


def test_figures_get_their_png_suffix_and_leave_no_temporary(tmp_path, mixture_fits):
    p, forward, reverse = mixture_fits
    path = plots.plot_modes_1d(p, forward, reverse, tmp_path / "figure")
    assert path == tmp_path / "figure.png" and path.is_file()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["figure.png"]


def test_kl_integrand_returns_the_kl_it_draws(tmp_path):
    path, kl = plots.plot_kl_integrand([0.5, 0.5], [0.9, 0.1], tmp_path / "kl.png", base=2)
    assert kl == pytest.approx(0.5 * np.log2(0.5 / 0.9) + 0.5 * np.log2(0.5 / 0.1), rel=1e-12)
    png(path)
    _, inf = plots.plot_kl_integrand([0.5, 0.5], [1.0, 0.0], tmp_path / "inf.png")
    assert inf == float("inf")


def test_estimators_and_gan_theory_figures(tmp_path):
    table = variance_table(repeats=50, ns=(2, 8), seed=0)
    png(plots.plot_estimators(table, tmp_path / "est.png"))
    sweep = [gaussian_shift_theory(mu, points=801) for mu in (0.0, 1.0, 4.0)]
    png(plots.plot_value_vs_jsd(sweep, sweep[1:], tmp_path / "v.png"))
    png(plots.plot_saturation(saturation_gradients(np.linspace(-12, 12, 49)), tmp_path / "s.png"))
    rows = disjoint_uniform_theory([0.0, 0.5, 1.0, 2.0])
    png(plots.plot_disjoint_supports(rows, tmp_path / "d.png"))
    json.dumps(rows)  # the numbers the figure shows are plain JSON
