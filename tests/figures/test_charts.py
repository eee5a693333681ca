"""The charts (`klvae.figures.charts`): curves, panels, bars and points, read back as pixels and
as the data of the Matplotlib artists they draw."""

import numpy as np
import pytest
import torch
from matplotlib import colors
from matplotlib.image import imread

import klvae.figures.charts as charts
from klvae.figures.charts import Panel, plot_bars, plot_curves, plot_panels, plot_points


def rgb(path):
    img = imread(path)  # (H, W, 4) float in [0, 1]
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    return img[..., :3]


def mask_of(img, color, tol=0.02):
    return (np.abs(img - np.asarray(colors.to_rgb(color))) < tol).all(axis=-1)


@pytest.fixture
def drawn(monkeypatch):
    """The figures the module saves, in order (each still written to its PNG)."""
    figures = []
    save = charts.save_png

    def keep(fig, path):
        figures.append(fig)
        return save(fig, path)

    monkeypatch.setattr(charts, "save_png", keep)
    return figures


def test_curves_draw_present_keys_only(tmp_path):
    rows = [
        {"epoch": 1, "loss": 3.0},
        {"epoch": 2},
        {"epoch": 3, "loss": 1.0, "kl": None},
        {"epoch": 4, "loss": float("nan")},
        {"epoch": 5, "loss": 0.5},
    ]
    p = plot_curves(rows, ["loss"], tmp_path / "c.png", title="Loss")
    img = rgb(p)
    assert img.shape[:2] == (440, 640)
    assert mask_of(img, "tab:blue", 0.05).sum() > 200  # the loss line
    q = plot_curves(rows, ["kl"], tmp_path / "k.png", title="KL")  # no values at all
    assert mask_of(rgb(q), "tab:blue", 0.05).sum() == 0
    two = rgb(plot_curves(rows, ["kl", "loss"], tmp_path / "t.png", title="both", log_y=True))
    assert mask_of(two, "tab:blue", 0.05).sum() > 100  # loss gets the first colour left free


def test_curve_points_follow_x_key_and_skip_missing():
    from klvae.figures.charts import _number, _series

    rows = [
        {"step": 10, "loss": 3.0},
        {"loss": 2.0},
        {"step": 30, "loss": None},
        {"step": 40, "loss": -1.0},
        {"step": 50, "loss": "n/a"},
        {"step": 60, "loss": 0.5},
    ]
    assert _series(rows, "loss", "step", False) == ([10, 1, 40, 60], [3.0, 2.0, -1.0, 0.5])
    assert _series(rows, "loss", "step", True) == ([10, 1, 60], [3.0, 2.0, 0.5])
    assert _series(rows, "kl", "step", False) == ([], [])
    assert _number(True) is None and _number("x") is None and _number(float("inf")) is None
    assert _number(np.float32(2.5)) == 2.5 and _number(torch.tensor(3)) == 3.0


def test_bars_colour_by_threshold(tmp_path):
    v = torch.tensor([0.05, 2.0, 1.5, 0.01])
    with_line = rgb(
        plot_bars(
            v,
            tmp_path / "b.png",
            title="KL per dimension",
            xlabel="latent dimension",
            ylabel="KL (nats)",
            threshold=0.1,
        )
    )
    plain = rgb(
        plot_bars(v, tmp_path / "p.png", title="KL per dimension", xlabel="latent dimension", ylabel="KL (nats)")
    )
    assert mask_of(with_line, "tab:red").sum() > 50 and mask_of(plain, "tab:red").sum() == 0
    # The two inactive bars are grey (anti-aliased text has a few grey pixels in both).
    assert mask_of(with_line, "tab:gray").sum() > mask_of(plain, "tab:gray").sum() + 300
    assert mask_of(plain, "tab:blue").sum() > mask_of(with_line, "tab:blue").sum()


def test_points_scatter_and_error(tmp_path):
    img = rgb(plot_points(torch.randn(500, 2), tmp_path / "s.png", title="x", means=torch.zeros(1, 2)))
    assert mask_of(img, "tab:red").sum() > 5
    with pytest.raises(ValueError, match=r"points must have shape \(N, 2\), got \(5, 3\)"):
        plot_points(np.zeros((5, 3)), tmp_path / "e.png", title="x")


def test_figures_are_written_atomically(tmp_path):
    plot_bars([1.0, 2.0], tmp_path / "sub" / "b.png", title="t", xlabel="x", ylabel="y")
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["b.png"]


def test_threshold_bars_on_a_log_axis_keep_the_line_and_both_legend_colours(tmp_path):
    v = [0.5, 0.8, 0.0, 0.001]  # a zero stays drawable on the log axis
    img = rgb(plot_bars(v, tmp_path / "b.png", title="t", xlabel="d", ylabel="var", threshold=0.01, log_y=True))
    assert mask_of(img, "tab:red").sum() > 50 and mask_of(img, "tab:gray").sum() > 300
    everything_above = rgb(
        plot_bars([1.0, 2.0], tmp_path / "c.png", title="t", xlabel="d", ylabel="v", threshold=0.01, log_y=True)
    )
    assert mask_of(everything_above, "tab:gray").sum() > 40  # the legend's grey patch, with no grey bar
    legend_rows = everything_above[int(0.9 * everything_above.shape[0]) :]
    assert mask_of(legend_rows, "tab:blue").sum() > 20  # the legend sits under the axes


def test_panels_draw_negative_values_on_a_log_request_and_say_why_when_empty(tmp_path):
    from klvae.figures.charts import Panel, plot_panels

    rows = [{"epoch": 1, "a": -3.0, "b": 2.0}, {"epoch": 2, "a": -2.0, "b": 1.0}]
    panel = Panel(
        [("a", "train", {"color": "tab:green"}), ("b", "test", {"color": "tab:green", "ls": "--"})], log_y=True
    )
    img = rgb(plot_panels(rows, [panel], tmp_path / "p.png", title="t"))
    assert mask_of(img, "tab:green", 0.05).sum() > 300  # the negative line is not dropped
    empty = rgb(plot_panels([], [panel], tmp_path / "e.png", title="t", empty_note="no finished epoch"))
    assert empty.shape[0] < img.shape[0] and mask_of(empty, "tab:red", 0.1).sum() > 20
    assert mask_of(empty, "black").sum() < 50  # no empty axes frame


def test_curves_and_panels_draw_the_records_values(tmp_path, drawn):
    rows = [{"epoch": 1, "loss": 3.0, "kl": 1.0}, {"epoch": 2, "loss": 2.0}, {"epoch": 3, "loss": 1.5, "kl": 0.5}]
    plot_curves(rows, ["loss", "kl"], tmp_path / "c.png", title="t", hlines=[(0.25, "floor")])
    ax = drawn[0].axes[0]
    got = {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax.lines}
    assert got["loss"] == ([1, 2, 3], [3.0, 2.0, 1.5]) and got["kl"] == ([1, 3], [1.0, 0.5])
    assert got["floor"][1][0] == 0.25
    panels = [Panel([("loss", "train", {})], title="a"), Panel([("kl", "kl", {})], title="b")]
    plot_panels(rows, panels, tmp_path / "p.png", title="t")
    left, right = drawn[1].axes
    assert list(left.lines[0].get_ydata()) == [3.0, 2.0, 1.5] and list(right.lines[0].get_ydata()) == [1.0, 0.5]


def test_bars_and_points_draw_their_values(tmp_path, drawn):
    v = [0.05, 2.0, 1.5]
    plot_bars(v, tmp_path / "b.png", title="t", xlabel="d", ylabel="v", threshold=0.1)
    assert sorted(r.get_height() for r in drawn[0].axes[0].patches) == sorted(v)
    x = torch.randn(50, 2)
    plot_points(x, tmp_path / "s.png", title="x")
    offsets = np.asarray(drawn[1].axes[0].collections[0].get_offsets())
    np.testing.assert_allclose(offsets, x.numpy(), rtol=1e-6)


def test_a_legend_too_wide_for_two_columns_takes_one_and_stays_inside_the_figure(tmp_path, monkeypatch):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    import klvae.figures.charts as charts

    seen = []
    monkeypatch.setattr(charts, "save_png", lambda fig, path: seen.append(fig))
    rows = [{"epoch": e, "a": e, "b": -e} for e in (1, 2, 3)]
    long = ("train ELBO, β = 1 (epoch mean)", "validation ELBO, β = 1 (end of epoch)")
    for labels in (long, ("train", "validation")):
        panel = charts.Panel([("a", labels[0], {}), ("b", labels[1], {"ls": "--"})], title="p")
        charts.plot_panels(rows, [panel, panel], tmp_path / "c.png", title="t")
    for fig, one_column in zip(seen, (True, False)):
        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.draw(renderer)
        for ax in fig.axes:
            texts = [t.get_window_extent(renderer) for t in ax.get_legend().get_texts()]
            assert all(0 <= b.x0 and b.x1 <= fig.bbox.x1 for b in texts)  # nothing cut by the edge
            assert (texts[0].y0 != texts[1].y0) == one_column  # one column: the second entry below the first
