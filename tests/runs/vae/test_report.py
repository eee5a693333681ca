"""The report of a VAE run (`klvae.runs.vae.report`) for every model of the family: conditional,
VampPrior, two stochastic layers, IWAE with DReG, β-TC; its list of figures; the metrics of older runs."""

import dataclasses
import html
import math
import re

import pytest
import torch
from matplotlib.image import imread

import klvae.runs.vae.report as report
from klvae.data.datasets import load_dataset
from klvae.runs.summary import Figure
from klvae.runs.vae.family import Family
from klvae.runs.vae.job import train_vae
from klvae.runs.vae.report import RunFigures, metric_rows, write_figures_and_report
from klvae.training.config import TrainConfig
from klvae.vae import ELBOConfig, VAEConfig, build_model
from klvae.vae.evaluate import evaluate_vae
from report_figures import check_shown_at_size, record_figures

COMMON = ["reconstructions.png", "samples.png", "interpolations.png", "latent_map.png", "loss_curves.png"]


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny networks: one torch thread is the fastest."""


def run(tmp_path, objective=None, train=None, **vae):
    """One epoch on the bundled digits (a 32-unit MLP, 4 latents, IW k = 5), with the figures and report."""
    d, metrics = train_vae(
        VAEConfig(hidden=(32,), latent_dim=4, **vae),
        objective or ELBOConfig(iw_k=5),
        TrainConfig(**{"epochs": 1, "batch_size": 128, "out": str(tmp_path / "r"), **(train or {})}),
        figures=True,
    )
    return d, metrics, html.unescape((d / "report.html").read_text())


def rows(doc: str) -> dict[str, tuple[str, str]]:
    """The report's metric rows: {label: (value, explanation)}."""
    found = re.findall(r'<tr><th>(.*?)</th><td class="num">(.*?)</td><td class="why">(.*?)</td>', doc)
    return {label: (value, why) for label, value, why in found}


def settings(doc: str) -> set[str]:
    """The keys of the report's configuration table."""
    table = doc.split("<h2>Configuration</h2>")[1]
    return set(re.findall(r"<tr><th>((?:vae|objective|train|gan|data)\.[\w.]+)</th>", table))


def check_pngs(d, names, doc):
    """Each figure exists, is a PNG that decodes to a plausible size, and is embedded in the report."""
    for name in names:
        path = d / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        h, w = imread(path).shape[:2]
        assert 100 <= h <= 3000 and 200 <= w <= 3000, (name, h, w)
    assert doc.count("data:image/png;base64,") == len(names)


def test_a_conditional_run_reports_samples_by_class(tmp_path, monkeypatch):
    drawn = record_figures(monkeypatch)
    d, metrics, doc = run(tmp_path, conditional=True)
    names = [*COMMON, "traversal.png", "progress.png", "kl_per_dim.png", "active_units.png"]
    check_pngs(d, names, doc)
    assert sorted(check_shown_at_size(doc, drawn)) == sorted(names)  # at their size, no text under 9 pt
    assert "<h1>conditional VAE on digits</h1>" in doc and rows(doc)["model"][0] == "conditional VAE"
    assert "each row decodes the same 8 draws z ~ N(0, I) with the row's label y" in doc
    assert "pairs of test images of the same class, decoded with that label" in doc
    assert "the label held at y = " in doc
    h, w = imread(d / "samples.png").shape[:2]
    assert h > w  # ten rows of eight: one per digit class
    assert rows(doc)["objective"][0] == "ELBO" and rows(doc)["evaluated weights"][0] == "last epoch"
    # a Bernoulli likelihood has no σ, the N(0, I) prior no pseudo-inputs, the ELBO no IWAE settings
    used = settings(doc)
    assert {"vae.conditional", "vae.n_classes", "vae.likelihood", "vae.prior", "objective.samples"} <= used
    assert not {"vae.sigma", "vae.pseudo_inputs", "vae.latent_dim2", "objective.k_train", "objective.dreg"} & used


def test_a_vamp_prior_run_shows_its_pseudo_inputs(tmp_path, monkeypatch):
    drawn = record_figures(monkeypatch)
    d, metrics, doc = run(tmp_path, prior="vamp", pseudo_inputs=10, likelihood="gaussian")
    assert "pseudo_inputs.png" in check_shown_at_size(doc, drawn)
    assert {"vae.pseudo_inputs", "vae.sigma"} <= settings(doc) and "vae.n_classes" not in settings(doc)
    check_pngs(d, [*COMMON, "pseudo_inputs.png", "progress.png", "active_units.png"], doc)
    assert not (d / "traversal.png").exists() and not (d / "kl_per_dim.png").exists()
    assert "<h1>VAE with VampPrior (K = 10) on digits</h1>" in doc
    kl_value, kl_why = rows(doc)["KL(q(z|x) ‖ p(z))"]
    assert kl_why.startswith("Monte Carlo, 5 draws per image (no closed form with the VampPrior)")
    assert "The prior is the mixture p = (1/K) Σ_k q(z | u_k)" in doc
    assert "64 samples from the prior, z ~ the VampPrior" in doc
    assert "No latent traversal" in doc and "No KL-per-dimension chart" in doc
    assert rows(doc)["KL split (Chen et al. 2018)"][0] == "not computed"


def test_a_two_layer_run_counts_units_per_layer_and_skips_the_traversal(tmp_path, monkeypatch):
    drawn = record_figures(monkeypatch)
    d, metrics, doc = run(tmp_path, stochastic_layers=2)
    check_pngs(d, [*COMMON, "progress.png", "active_units.png"], doc)
    assert len(check_shown_at_size(doc, drawn)) == len(COMMON) + 2
    assert not (d / "traversal.png").exists() and not (d / "kl_per_dim.png").exists()
    assert "<h1>two-layer VAE (4 → 2) on digits</h1>" in doc
    a, b = metrics["active_units_per_layer"]
    assert rows(doc)["active units"][0] == f"{a} + {b} of 4 + 2"
    assert rows(doc)["KL(q(z₁, z₂|x) ‖ p(z₁, z₂))"][1].startswith("Monte Carlo")
    assert "with two stochastic layers z₁'s prior is p(z₁ | z₂), not N(0, I)" in doc
    assert "the KL has no closed form here (two stochastic layers)" in doc
    assert "z₂ ~ N(0, I), then z₁ ~ p(z₁ | z₂)" in doc and "μ₁(x) of the first layer" in doc


def test_an_iwae_run_with_dreg_and_keep_best_says_so(tmp_path, monkeypatch):
    drawn = record_figures(monkeypatch)
    objective = ELBOConfig(iw_k=5, objective="iwae", k_train=3, dreg=True)
    d, metrics, doc = run(tmp_path, objective, {"keep": "best", "val_size": 0.2})
    assert "loss_curves.png" in check_shown_at_size(doc, drawn)
    r = rows(doc)
    assert r["objective"][0] == "IWAE, k = 3 (DReG gradient)" and "Tucker et al. 2019" in r["objective"][1]
    assert metrics["evaluated"]["checkpoint"] == "best"
    assert re.fullmatch(r"best validation ELBO \(epoch 1, −\d+\.\d{3} nats\)", r["evaluated weights"][0])
    assert r["KL(q(z|x) ‖ p(z))"][1].startswith("closed form")
    assert "train IWAE bound, k = 3" not in doc  # a legend entry: drawn in the PNG, not in the text
    assert "the ELBO panel's solid line is the bound trained on" in doc


def test_a_beta_tc_run_has_the_kl_split_and_a_tc_panel(tmp_path, monkeypatch):
    drawn = record_figures(monkeypatch)
    d, metrics, doc = run(tmp_path, ELBOConfig(iw_k=5, tc_beta=6.0))
    assert "loss_curves.png" in check_shown_at_size(doc, drawn)
    r = rows(doc)
    assert r["objective"][0] == "β-TC-VAE, TC weight 6"
    for label, key in (
        ("index-code MI", "index_code_mi"),
        ("total correlation", "total_correlation"),
        ("dimension-wise KL", "dimwise_kl"),
    ):
        assert r[label][0] == f"{metrics[key]:.3f} nats".replace("-", "−")
    assert f"at most log N = {math.log(metrics['n_test']):.2f} nats" in r["index-code MI"][1]
    curves = imread(d / "loss_curves.png")  # two panels a row at 960 px: ELBO, recon, KL, TC, learning rate
    assert curves.shape[1] == 960 and curves.shape[0] == round(100 * (0.6 + 3.8 * 3))
    assert "minibatch-stratified estimate" in doc


OLD = {  # metrics.json of a run made before the family's keys existed
    "test_elbo": -30.0,
    "test_elbo_se": 0.2,
    "test_iw_nll": 29.0,
    "test_iw_nll_se": 0.2,
    "iw_k": 5,
    "test_recon_nll": 27.0,
    "test_kl": 3.0,
    "test_recon_mse": 0.05,
    "kl_per_dim": [1.0, 1.0, 0.5, 0.5],
    "active_units": 3,
    "active_unit_variance": [0.5, 0.4, 0.3, 0.001],
    "n_test": 360,
}


def test_metric_rows_of_an_old_run_still_render():
    r = dict((label, (value, why)) for label, value, why in metric_rows(OLD, "bernoulli", 4))
    assert r["KL(q(z|x) ‖ p(z))"] == ("3.000 nats per example", r["KL(q(z|x) ‖ p(z))"][1])
    assert r["KL(q(z|x) ‖ p(z))"][1].startswith("closed form") and r["active units"][0] == "3 of 4"
    assert not {"model", "objective", "evaluated weights", "index-code MI", "KL split (Chen et al. 2018)"} & set(r)
    old_config = {"vae": {"latent_dim": 4}, "objective": {"beta": 1.0, "samples": 1}}  # no objective field yet
    r = {label: value for label, value, _ in metric_rows(OLD, "bernoulli", 4, old_config)}
    assert r["model"] == "VAE" and r["objective"] == "ELBO"


def test_an_old_runs_metrics_render_a_whole_report(tmp_path):
    dataset = load_dataset("digits")
    torch.manual_seed(0)
    model = build_model(VAEConfig(hidden=(16,), latent_dim=4, image_shape=dataset.image_shape))
    x_test = dataset.x_test[:40]
    metrics = evaluate_vae(model, x_test, k=2)
    old = {k: v for k, v in metrics.items() if k in OLD}
    config = {"data": {"name": "digits", "n_train": 1437}, "train": {"batch_size": 128}, "vae": {"latent_dim": 4}}
    doc = html.unescape(write_figures_and_report(tmp_path, model, dataset, x_test, [], old, config).read_text())
    assert "<h1>VAE on digits</h1>" in doc and rows(doc)["active units"][0] == f"{old['active_units']} of 4"
    assert (tmp_path / "traversal.png").is_file() and (tmp_path / "kl_per_dim.png").is_file()


def test_a_conditional_report_without_two_images_of_a_class_skips_the_interpolations(tmp_path):
    dataset = load_dataset("digits")
    first = torch.stack([(dataset.y_test == c).nonzero()[0, 0] for c in range(10)])  # one test image per class
    one_each = dataclasses.replace(dataset, x_test=dataset.x_test[first], y_test=dataset.y_test[first])
    torch.manual_seed(0)
    cfg = VAEConfig(hidden=(16,), latent_dim=2, conditional=True, n_classes=10, image_shape=dataset.image_shape)
    model = build_model(cfg)
    metrics = evaluate_vae(model, one_each.x_test, y=one_each.y_test, k=2)
    config = {"data": {"name": "digits", "n_train": 1437}, "train": {"batch_size": 128}, "vae": dataclasses.asdict(cfg)}
    path = write_figures_and_report(tmp_path, model, one_each, one_each.x_test, [], metrics, config)
    doc = html.unescape(path.read_text())
    assert "No interpolations: no class has two test images" in doc and not (tmp_path / "interpolations.png").exists()
    assert (tmp_path / "samples.png").is_file() and "Samples of the conditional VAE" in doc


def _run_figures(tmp_path, records, config, likelihood="bernoulli"):
    return RunFigures(
        tmp_path, None, Family(likelihood=likelihood), torch.zeros(1), None, None, None, records, {}, config
    )


def test_the_loss_curves_caption_says_what_the_run_trained(tmp_path):
    records = [{"epoch": 1, "train_loss": 30.0, "train_recon": 28.0, "train_kl": 2.0, "val_elbo": -31.0}]
    drawn = report.loss_curves(_run_figures(tmp_path, records, {}))
    assert drawn.file == "loss_curves.png" and (tmp_path / "loss_curves.png").is_file()
    assert "with the training β" in drawn.text and "total correlation" not in drawn.text
    tc = report.loss_curves(_run_figures(tmp_path, [{**records[0], "train_tc": 21.0}], {}, "gaussian"))
    assert "the ELBO's at β = 1" in tc.text and "minibatch-stratified estimate" in tc.text
    assert "nats per example (densities)" in tc.text
    iwae = report.loss_curves(_run_figures(tmp_path, records, {"objective": {"objective": "iwae", "k_train": 3}}))
    assert "the bound trained on" in iwae.text
    assert "No finished epoch" in report.loss_curves(_run_figures(tmp_path, [], {})).text


def test_the_report_is_its_list_of_figures(tmp_path, monkeypatch):
    """A figure in `FIGURES` is drawn and captioned in the list's order, a note is said, None says nothing."""
    dataset = load_dataset("digits")
    torch.manual_seed(0)
    model = build_model(VAEConfig(hidden=(16,), latent_dim=2, image_shape=dataset.image_shape))
    x_test = dataset.x_test[:40]
    metrics = evaluate_vae(model, x_test, k=2)
    config = {"data": {"name": "digits", "n_train": 1437}, "train": {"batch_size": 128}, "vae": {"latent_dim": 2}}

    def extra(r):
        (r.run_dir / "extra.png").write_bytes((r.run_dir / "samples.png").read_bytes())
        return Figure("extra.png", "An extra figure, drawn last.")

    figures = (report.samples, lambda r: Figure.note("A note on a figure not drawn."), lambda r: None, extra)
    monkeypatch.setattr(report, "FIGURES", figures)
    doc = html.unescape(write_figures_and_report(tmp_path, model, dataset, x_test, [], metrics, config).read_text())
    assert doc.count("data:image/png;base64,") == 2
    assert doc.index("64 samples from the prior") < doc.index("An extra figure, drawn last.")
    assert "A note on a figure not drawn." in doc and not (tmp_path / "reconstructions.png").exists()


def test_the_progress_strip_shows_the_epochs_the_run_saved(tmp_path, monkeypatch):
    import klvae.runs.vae.job as job

    saved, write = {}, job.write_figures_and_report

    def keep(*args, snapshots, **kw):
        saved.update(snapshots)
        return write(*args, snapshots=snapshots, **kw)

    monkeypatch.setattr(job, "write_figures_and_report", keep)
    d, metrics, doc = run(tmp_path, train={"epochs": 10, "batch_size": 512})
    epochs = sorted(saved)  # 8 of the 10, evenly spaced, the last included
    assert len(epochs) == 8 and epochs[0] == 1 and epochs[-1] == 10
    assert max(b - a for a, b in zip(epochs, epochs[1:])) - min(b - a for a, b in zip(epochs, epochs[1:])) <= 1
    assert f"After epochs {', '.join(map(str, epochs))} (rows)" in doc and ", shown in the top row" in doc
