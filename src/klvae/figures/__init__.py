"""The figures layer: every PNG and the report go through here (object-oriented Matplotlib).

`png`: a new figure, atomic PNG writes, image grids. `charts`: curves, bars and points of a
run's metrics. `experiments`: the experiments' figures (forward vs reverse KL fits, estimator
variances); `gan_theory` those of the GAN theory. `integrands`: the KL integrand of two distributions. `report`: one
self-contained ``report.html``.
"""

from klvae.figures.charts import Panel, plot_bars, plot_curves, plot_panels, plot_points
from klvae.figures.png import DPI, new_figure, save_image_grid, save_png, save_png_row
from klvae.figures.report import load_metrics_jsonl, write_report

__all__ = [
    "new_figure",
    "save_png",
    "DPI",
    "save_image_grid",
    "save_png_row",
    "Panel",
    "plot_panels",
    "plot_curves",
    "plot_bars",
    "plot_points",
    "write_report",
    "load_metrics_jsonl",
]
