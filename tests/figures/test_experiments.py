"""The experiments' figures (`klvae.figures.experiments`): each draws what its title claims, read
back from the Matplotlib figure it saves (the lines' and bars' data against scipy and the inputs),
into a PNG, atomically."""

import math

import numpy as np
import pytest
from matplotlib.image import imread
from scipy import stats

from klvae.experiments.gaussian_fits import fit_forward, fit_reverse
from klvae.experiments.gradient_estimators import variance_table
from klvae.figures import experiments as plots
from klvae.measures.mixture import parse_mixture


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


@pytest.fixture(scope="module")
def mixture_fits():
    p = parse_mixture("0.5:-3:1,0.5:3:1")
    return p, fit_forward(p), fit_reverse(p, n_restarts=3)


def test_modes_1d_draws_the_target_and_every_distinct_optimum(tmp_path, mixture_fits, drawn):
    p, forward, reverse = mixture_fits
    means = sorted(round(float(f.mean[0])) for f, _ in plots.distinct_fits(reverse))
    assert -3 in means and 3 in means  # both mode-seeking optima among the distinct fits
    path = plots.plot_modes_1d(p, forward, reverse, tmp_path / "modes.png")
    assert path == tmp_path / "modes.png" and png(path).shape[1] > png(path).shape[0]
    ax = drawn[0].axes[0]
    curves = lines(ax)
    x, target = ax.lines[0].get_xdata(), ax.lines[0].get_ydata()  # the target's outline
    np.testing.assert_allclose(target, 0.5 * stats.norm.pdf(x, -3, 1) + 0.5 * stats.norm.pdf(x, 3, 1), rtol=1e-9)
    ((fx, fy),) = [v for k, v in curves.items() if k.startswith("forward KL")]
    np.testing.assert_allclose(fy, stats.norm.pdf(fx, forward.mean[0], forward.std[0]), rtol=1e-9)
    reverse_curves = [v for k, v in curves.items() if k.startswith("reverse KL")]
    assert len(reverse_curves) == len(plots.distinct_fits(reverse))
    for (rx, ry), (fit, _) in zip(reverse_curves, plots.distinct_fits(reverse)):
        np.testing.assert_allclose(ry, stats.norm.pdf(rx, fit.mean[0], fit.std[0]), rtol=1e-9)
    starts = curves["restart initial means"][0]
    assert sorted(starts) == sorted(f.init_mean[0] for f in reverse)


def test_figures_get_their_png_suffix_and_leave_no_temporary(tmp_path, mixture_fits):
    p, forward, reverse = mixture_fits
    path = plots.plot_modes_1d(p, forward, reverse, tmp_path / "figure")
    assert path == tmp_path / "figure.png" and path.is_file()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["figure.png"]


def test_the_sweep_draws_both_branches_and_the_two_separations(tmp_path, drawn):
    sweep = {
        "d": [0.0, 1.0, 2.0, 3.0],
        "best_mean": [0.0, 0.0, 1.9, 2.3],
        "sym_kl": [0.0, 0.2, 0.5, 0.9],
        "off_mean": [None, None, 1.9, 2.3],
        "off_kl": [None, None, 0.45, 0.7],
        "d_appear": 1.5,
        "d_cross": 1.8,
    }
    plots.plot_sweep(sweep, tmp_path / "s.png")
    left, right = drawn[0].axes
    kl = lines(right)
    np.testing.assert_array_equal(kl["symmetric fit (μ = 0)"][1], sweep["sym_kl"])
    np.testing.assert_array_equal(kl["off-centre fit (one mode)"][1], [np.nan, np.nan, 0.45, 0.7])
    assert kl["log 2"][1][0] == math.log(2)
    assert (
        kl["off-centre optimum appears: d = 1.500"][0][0] == 1.5
        and kl["off-centre becomes global: d = 1.800"][0][0] == 1.8
    )
    best = lines(left)["global optimum |μ|"]
    assert [v for v in best[1] if not np.isnan(v)] == sweep["best_mean"]
    assert np.isnan(best[1]).sum() == 1  # the jump from the symmetric to the off-centre branch is not joined


def test_the_estimators_figure_draws_each_variance_over_n(tmp_path, drawn):
    table = variance_table(repeats=50, ns=(2, 8), seed=0)
    png(plots.plot_estimators(table, tmp_path / "est.png"))
    axes = drawn[0].axes
    ns = np.array(table["ns"], float)
    for row in table["rows"]:
        ax = axes[("mu", "sigma").index(row["param"]) * len(table["costs"]) + table["costs"].index(row["cost"])]
        ys = [ln.get_ydata() for ln in ax.lines]
        assert any(np.allclose(y, np.array(row["measured_var"]) / ns, rtol=1e-12) for y in ys)
        assert any(np.allclose(y, np.array(row["exact_var"]) / ns, rtol=1e-12) for y in ys)
