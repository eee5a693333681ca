"""The KL integrand figure (`klvae.figures.integrands`): what it draws, read back from the Matplotlib
figure it saves, against scipy and mpmath-free references (scipy's quadrature and sums)."""

import math

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from scipy import integrate, special, stats
from torch.distributions import Beta, Binomial, Categorical, Gamma, Poisson, Uniform

from klvae.figures import integrands as plots

D = torch.float64


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
    return imread(str(path))


def _bars(ax):
    return np.array([r.get_height() for r in ax.patches])


def test_the_discrete_kl_integrand_bars_sum_to_the_kl(tmp_path, drawn):
    p, q = np.array([0.2, 0.5, 0.3]), np.array([0.4, 0.4, 0.2])
    path, kl = plots.plot_kl_integrand(p, q, tmp_path / "kl.png", base=2)
    assert kl == pytest.approx(stats.entropy(p, q, base=2), rel=1e-12) and png(path) is not None
    top, bottom = drawn[0].axes
    np.testing.assert_allclose(_bars(top), np.concatenate([p, q]))  # p's bars, then q's
    heights = _bars(bottom)  # the positive terms' bars, then the negative terms'
    terms = special.rel_entr(p, q) / math.log(2)
    np.testing.assert_allclose(heights[:3], np.maximum(terms, 0), rtol=1e-12)
    np.testing.assert_allclose(heights[3:6], np.minimum(terms, 0), rtol=1e-12)
    assert heights.sum() == pytest.approx(kl, rel=1e-12)
    assert bottom.get_title().endswith(f"= {kl:.4f} bits") and "bits" in bottom.get_ylabel()


def test_an_infinite_term_is_drawn_as_an_arrow(tmp_path, drawn):
    _, inf = plots.plot_kl_integrand([0.5, 0.5], [1.0, 0.0], tmp_path / "inf.png")
    assert inf == math.inf and drawn[0].axes[1].get_title().endswith("= +∞")
    assert [t.get_text() for t in drawn[0].axes[1].texts] == ["+∞ (q = 0)"]


def test_the_density_kl_integrand_has_the_kl_as_its_area(tmp_path, drawn):
    p = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0)
    q = torch.distributions.Normal(torch.tensor(1.0, dtype=torch.float64), 2.0)
    exact = math.log(2) + (1 + 1) / (2 * 4) - 0.5  # KL(N(0,1) ‖ N(1,4)) in nats
    _, kl = plots.plot_kl_integrand(p, q, tmp_path / "d.png", base=10)
    assert kl == pytest.approx(exact / math.log(10), rel=1e-9)
    top, bottom = drawn[0].axes
    curves = lines(top)
    x, py = curves["p"]
    np.testing.assert_allclose(py, stats.norm.pdf(x, 0, 1), rtol=1e-9)
    np.testing.assert_allclose(curves["q"][1], stats.norm.pdf(x, 1, 2), rtol=1e-9)
    xs, integrand = lines(bottom)["p(x)·log(p(x)/q(x))"]
    assert integrate.trapezoid(integrand, xs) == pytest.approx(kl, rel=1e-3)  # the shown range holds the mass
    assert "dits" in bottom.get_ylabel()


def test_a_bad_integrand_input_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="same length"):
        plots.plot_kl_integrand([0.5, 0.5], [0.2, 0.3, 0.5], tmp_path / "bad.png")
    with pytest.raises(ValueError, match="base"):
        plots.plot_kl_integrand([0.5, 0.5], [0.5, 0.5], tmp_path / "bad.png", base=1)
    assert not list(tmp_path.iterdir())


def test_a_continuous_family_is_drawn_on_its_support_with_the_kl_as_its_area(tmp_path, drawn):
    p, q = Beta(torch.tensor(2.0, dtype=D), torch.tensor(3.0, dtype=D)), Beta(torch.tensor(4.0, dtype=D), 2.0)
    ref = integrate.quad(
        lambda x: stats.beta.pdf(x, 2, 3) * math.log(stats.beta.pdf(x, 2, 3) / stats.beta.pdf(x, 4, 2)), 0, 1
    )[0]
    path, kl = plots.plot_kl_integrand(p, q, tmp_path / "beta.png", labels=("P = Beta(2, 3)", "Q = Beta(4, 2)"))
    assert kl == pytest.approx(ref, rel=1e-9) and png(path) is not None
    top, bottom = drawn[0].axes
    x, py = lines(top)["P = Beta(2, 3)"]
    assert 0 < x.min() < 0.02 and 0.98 < x.max() < 1  # the support, open at its ends
    np.testing.assert_allclose(py, stats.beta.pdf(x, 2, 3), rtol=1e-9)
    xs, integrand = lines(bottom)["P(x)·log(P(x)/Q(x))"]
    assert integrate.trapezoid(integrand, xs) == pytest.approx(ref, rel=1e-3)
    assert bottom.get_title() == f"shaded area (green − red) = KL(P‖Q) = {ref:.4f} nats"


def test_a_support_q_does_not_cover_makes_the_kl_infinite_and_says_where(tmp_path, drawn):
    p, q = Beta(torch.tensor(2.0, dtype=D), torch.tensor(2.0, dtype=D)), Uniform(torch.tensor(0.2, dtype=D), 0.8)
    _, kl = plots.plot_kl_integrand(p, q, tmp_path / "inf.png")
    assert kl == math.inf and drawn[0].axes[1].get_title().endswith("= +∞")
    assert [t.get_text() for t in drawn[0].axes[1].texts] == ["+∞ where q = 0 < p"]


@pytest.mark.parametrize(
    "p, q, pmf_p, pmf_q",
    [
        (
            Poisson(torch.tensor(3.0, dtype=D)),
            Poisson(torch.tensor(5.0, dtype=D)),
            stats.poisson(3).pmf,
            stats.poisson(5).pmf,
        ),
        (
            Binomial(10, torch.tensor(0.3, dtype=D)),
            Binomial(10, torch.tensor(0.6, dtype=D)),
            stats.binom(10, 0.3).pmf,
            stats.binom(10, 0.6).pmf,
        ),
        (
            Categorical(torch.tensor([0.2, 0.5, 0.3], dtype=D)),
            Categorical(torch.tensor([0.4, 0.4, 0.2], dtype=D)),
            lambda k: np.array([0.2, 0.5, 0.3])[k.astype(int)],
            lambda k: np.array([0.4, 0.4, 0.2])[k.astype(int)],
        ),
    ],
)
def test_a_discrete_family_is_drawn_as_bars_over_its_outcomes(tmp_path, drawn, p, q, pmf_p, pmf_q):
    _, kl = plots.plot_kl_integrand(p, q, tmp_path / "d.png", base=2)
    k = np.arange(200 if isinstance(p, Poisson) else 11)
    k = k[k < (3 if isinstance(p, Categorical) else 200)]
    ref = special.rel_entr(pmf_p(k), pmf_q(k)).sum() / math.log(2)
    assert kl == pytest.approx(ref, rel=1e-9)
    top, bottom = drawn[0].axes
    heights = _bars(bottom)
    assert heights.sum() == pytest.approx(ref, rel=1e-6)  # the bars drawn hold all but 1e-6 of it
    n = len(heights) // 2
    np.testing.assert_allclose(_bars(top)[:n], pmf_p(np.arange(n)), rtol=1e-9)


def test_a_batch_or_a_mixed_pair_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match=r"batch shape \(2,\)"):
        plots.plot_kl_integrand(Gamma(torch.ones(2), 1.0), Gamma(torch.ones(2), 2.0), tmp_path / "b.png")
    with pytest.raises(ValueError, match="two discrete or two continuous"):
        plots.plot_kl_integrand(Poisson(torch.tensor(2.0)), Gamma(torch.tensor(2.0), 1.0), tmp_path / "m.png")
    assert not list(tmp_path.iterdir())
