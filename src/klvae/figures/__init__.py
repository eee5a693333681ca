"""The figures layer: every PNG and the report go through here (object-oriented Matplotlib).

`png`: a new figure, atomic PNG writes, image grids. `charts`: curves, bars and points of a
run's metrics. `experiments`: the experiments' figures (forward vs reverse KL fits, estimator
variances); `gan_theory` those of the GAN theory. `integrands`: the KL integrand of two distributions. `report`: one
self-contained ``report.html``.
"""

from klvae.figures.charts import Panel, plot_bars, plot_curves, plot_panels, plot_points
from klvae.figures.experiments import plot_estimators, plot_modes_1d, plot_modes_2d, plot_sweep
from klvae.figures.gan_theory import plot_disjoint_supports, plot_saturation, plot_value_vs_jsd
from klvae.figures.integrands import plot_kl_integrand
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
    # the experiments' and the theory's figures
    "plot_modes_1d",
    "plot_modes_2d",
    "plot_sweep",
    "plot_estimators",
    "plot_value_vs_jsd",
    "plot_saturation",
    "plot_disjoint_supports",
    "plot_kl_integrand",
]
