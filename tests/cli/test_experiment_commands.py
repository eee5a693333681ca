"""`klvae modes` and `klvae estimators` end to end through klvae.cli.main."""

import json
import math
import re

import numpy as np
import pytest
import torch
from scipy import integrate, optimize, stats

from klvae.cli import main


def reverse_kl(m, sd, d):
    """KL(N(m, sd²) ‖ ½N(−d,1)+½N(d,1)) by scipy quad."""

    def f(x):
        lp = np.logaddexp(np.log(0.5) + stats.norm.logpdf(x, -d), np.log(0.5) + stats.norm.logpdf(x, d))
        return stats.norm.pdf(x, m, sd) * (stats.norm.logpdf(x, m, sd) - lp)

    return integrate.quad(f, m - 14 * sd, m + 14 * sd, limit=200)[0]


@pytest.fixture(scope="module")
def modes_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("modes")
    assert main(["modes", "--out", str(out)]) == 0
    return out, json.loads((out / "modes.json").read_text())


def test_modes_default_writes_the_numbers_and_figure(modes_run):
    out, result = modes_run
    assert (out / "modes.png").stat().st_size > 10_000
    fwd = result["forward"]
    assert fwd["mean"] == pytest.approx(0.0, abs=1e-12)
    assert fwd["std"] == pytest.approx(math.sqrt(10), rel=1e-12)
    assert fwd["kl_forward"] == pytest.approx(0.462, abs=5e-4)
    rev = result["reverse"]
    assert len(rev) == 7
    assert [r["kl_reverse"] for r in rev] == sorted(r["kl_reverse"] for r in rev)
    best = rev[0]
    assert {math.copysign(1, r["mean"]) for r in rev if abs(r["mean"]) > 1} == {-1.0, 1.0}
    assert abs(best["mean"]) == pytest.approx(2.984, abs=1e-3)
    assert best["std"] == pytest.approx(1.023, abs=1e-3)
    assert best["kl_reverse"] == pytest.approx(reverse_kl(best["mean"], best["std"], 3.0), abs=1e-7)
    # the symmetric restart is reported as converged, at a worse optimum
    sym = rev[-1]
    assert sym["mean"] == pytest.approx(0.0, abs=1e-4) and sym["converged"]
    res = optimize.minimize_scalar(
        lambda s: reverse_kl(0.0, s, 3.0), bounds=(2, 3.5), method="bounded", options=dict(xatol=1e-7)
    )
    assert sym["std"] == pytest.approx(res.x, abs=1e-4)
    assert sym["kl_reverse"] == pytest.approx(res.fun, abs=1e-6)


def test_modes_prints_a_table(modes_run, tmp_path, capsys):
    assert main(["modes", "--target", "0.3:-2:0.5,0.7:2:1", "--restarts", "3", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "forward" in text and text.count("reverse") >= 3 and "KL(q‖p)" in text
    result = json.loads((tmp_path / "modes.json").read_text())
    # moment match of the written mixture
    m = 0.3 * -2 + 0.7 * 2
    var = 0.3 * (0.25 + 4) + 0.7 * (1 + 4) - m**2
    assert result["forward"]["mean"] == pytest.approx(m) and result["forward"]["std"] == pytest.approx(var**0.5)


def test_modes_2d_writes_contour_figure(tmp_path):
    assert main(["modes", "--target2d", "two", "--restarts", "2", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "modes.json").read_text())
    assert result["forward"]["mean"] == pytest.approx([0.0, 0.0], abs=1e-12)
    np.testing.assert_allclose(result["forward"]["cov"], [[5.0, 4.0], [4.0, 5.0]])  # I + Cov of (±2, ±2)
    assert len(result["reverse"]) == 2
    for r in result["reverse"]:
        assert np.linalg.eigvalsh(np.array(r["cov"])).max() < 9.0 - 0.5  # forward fit: eigenvalues 9, 1
    assert (tmp_path / "modes.png").stat().st_size > 10_000


def test_estimators_writes_table_and_figure(tmp_path, capsys):
    threads = torch.get_num_threads()
    assert main(["estimators", "--repeats", "100", "--out", str(tmp_path)]) == 0
    assert torch.get_num_threads() == threads  # the command restores the thread count
    table = json.loads((tmp_path / "estimators.json").read_text())
    assert table["gradient_flow"]["sample"]["grad_mu"] is None
    assert table["gradient_flow"]["rsample"]["requires_grad"] is True
    assert len(table["rows"]) == 18
    path_cos = next(
        r for r in table["rows"] if r["cost"] == "cos(5x)" and r["param"] == "mu" and r["estimator"] == "pathwise"
    )
    assert path_cos["exact_var"][0] == pytest.approx(12.5, abs=1e-3)
    assert (tmp_path / "estimators.png").stat().st_size > 10_000
    text = capsys.readouterr().out
    assert "requires_grad=False" in text and "score_baseline" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["modes", "--target", "0.5:0", "--out", "x"], "is not 'w:mu:sigma' with three numbers"),
        (["modes", "--target", "1:0:1", "--target2d", "ring", "--out", "x"], "either --target or --target2d"),
        (["modes", "--restarts", "0", "--out", "x"], "--restarts must be at least 1, got 0"),
        (["estimators", "--sigma", "-1", "--out", "x"], "--sigma must be positive, got -1"),
        (["estimators", "--repeats", "1", "--out", "x"], "--repeats must be at least 2, got 1"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


# ----------------------------------------------------------------- klvae kl --plot


def _ring_fits():
    """Eight restarts on the eight modes of the ring (one class of equal KL) and one stuck near the centre."""
    from klvae.experiments.gaussian_fits import GaussianFit

    angles = np.arange(8) * 2 * np.pi / 8
    on_modes = [
        GaussianFit(4 * np.array([np.cos(a), np.sin(a)]), 0.25 * np.eye(2), 60.0, 2.073, init_mean=np.zeros(2))
        for a in angles
    ]
    stuck = GaussianFit(np.array([0.47, 0.02]), 6.25 * np.eye(2), 1.5, 5.944, init_mean=np.zeros(2))
    forward = GaussianFit(np.zeros(2), 8.25 * np.eye(2), 1.423, 6.381)
    return forward, [*on_modes, stuck]


def test_the_2d_figure_calls_a_worse_restart_stuck_not_an_optimum(tmp_path, monkeypatch):
    import klvae.figures.experiments as figures
    from klvae.cli.experiment_commands import TARGETS_2D

    titles = []
    monkeypatch.setattr(figures, "save_png", lambda fig, path: titles.extend(ax.get_title() for ax in fig.axes))
    forward, reverse = _ring_fits()
    figures.plot_modes_2d(TARGETS_2D["ring"][1](), forward, reverse, tmp_path / "m.png")
    assert titles[1] == "(b) minimize KL(q‖p): 8 of 9 restarts reach\none of 8 equivalent optima, KL(q‖p) = 2.073 nats"
    assert (
        titles[2]
        == "(c) minimize KL(q‖p): 1 of 9 restarts get stuck at\na worse stationary point, KL(q‖p) = 5.944 nats"
    )


def test_modes_turns_integration_warnings_into_one_line_only_when_they_reach_the_printed_digits(
    tmp_path, capsys, monkeypatch
):
    import warnings

    import klvae.experiments.gaussian_fits as fits

    forward, reverse = _ring_fits()

    def warned(error):
        def fit(p, **kw):
            warnings.warn(
                f"kl_numerical: 6.38 nats has an estimated error of {error} (asked: 6e-06); use a finer n_grid",
                RuntimeWarning,
                stacklevel=1,
            )
            return reverse if kw else forward

        return fit

    monkeypatch.setattr(fits, "fit_reverse", warned("9.7e-05"))
    monkeypatch.setattr(fits, "fit_forward", warned("9.4e-06"))
    assert main(["modes", "--target2d", "ring", "--out", str(tmp_path / "a")]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.startswith("target: eight N(·, 0.5² I) evenly on a circle of radius 4 (KL in nats)\n")
    monkeypatch.setattr(fits, "fit_reverse", warned("0.002"))
    assert main(["modes", "--target2d", "ring", "--out", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().err == (
        "klvae modes: warning: the numerical KL of 2 fits is accurate to ±0.002 nats only: "
        "their last printed digit may be off\n"
    )


def test_estimators_label_x_squared_as_a_reader_writes_it(tmp_path, capsys):
    assert main(["estimators", "--repeats", "20", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\nx²  " in out and "(x-0)" not in out and "(x−0)" not in out and "exp(−10x²)" in out
    assert re.search(r"rsample +requires_grad=True   dμ=\d+\.\d{4}  dσ=\d+\.\d{4}\n", out)
