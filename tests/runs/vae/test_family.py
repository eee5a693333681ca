"""The report of a VAE run for every model of the family (`klvae.runs.vae.report`, `klvae.runs.vae.family`):
conditional, VampPrior, two stochastic layers, IWAE with DReG, β-TC; and the metrics of older runs."""

import dataclasses
import html
import math
import re

import pytest
import torch
from matplotlib.image import imread

import klvae.runs.vae.family as family
from klvae.data.datasets import load_dataset
from klvae.runs.vae.job import train_vae
from klvae.runs.vae.report import metric_rows, write_figures_and_report
from klvae.training.loop import TrainConfig
from klvae.vae import ELBOConfig, VAEConfig, build_model
from klvae.vae.evaluate import evaluate_vae

COMMON = ["reconstructions.png", "samples.png", "interpolations.png", "latent_map.png", "loss_curves.png"]


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny networks: one torch thread is the fastest."""


def run(tmp_path, objective=None, train=None, **vae):
    """One epoch on the bundled digits (a 32-unit MLP, 4 latents, IW k = 5), with the figures and report."""
    d, metrics = train_vae(
        VAEConfig(hidden=(32,), latent_dim=4, **vae),
        objective or ELBOConfig(iw_k=5),
        TrainConfig(epochs=1, batch_size=128, out=str(tmp_path / "r"), **(train or {})),
        figures=True,
    )
    return d, metrics, html.unescape((d / "report.html").read_text())


def rows(doc: str) -> dict[str, tuple[str, str]]:
    """The report's metric rows: {label: (value, explanation)}."""
    found = re.findall(r'<tr><th>(.*?)</th><td class="num">(.*?)</td><td class="why">(.*?)</td>', doc)
    return {label: (value, why) for label, value, why in found}


def check_pngs(d, names, doc):
    """Each figure exists, is a PNG that decodes to a plausible size, and is embedded in the report."""
    for name in names:
        path = d / name
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        h, w = imread(path).shape[:2]
        assert 100 <= h <= 3000 and 200 <= w <= 3000, (name, h, w)
    assert doc.count("data:image/png;base64,") == len(names)


def test_a_conditional_run_reports_samples_by_class(tmp_path):
    d, metrics, doc = run(tmp_path, conditional=True)
    names = [*COMMON, "traversal.png", "progress.png", "kl_per_dim.png", "active_units.png"]
    check_pngs(d, names, doc)
    assert "<h1>conditional VAE on digits</h1>" in doc and rows(doc)["model"][0] == "conditional VAE"
    assert "each row decodes the same 8 draws z ~ N(0, I) with the row's label y" in doc
    assert "pairs of test images of the same class, decoded with that label" in doc
    assert "the label held at y = " in doc
    h, w = imread(d / "samples.png").shape[:2]
    assert h > w  # ten rows of eight: one per digit class
    assert rows(doc)["objective"][0] == "ELBO" and rows(doc)["evaluated weights"][0] == "last epoch"


def test_class_samples_share_z_along_a_column_and_name_the_rows(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(family, "save_image_grid", lambda images, path, **kw: seen.update(images=images, **kw))
    torch.manual_seed(0)
    model = build_model(
        VAEConfig(hidden=(16,), latent_dim=3, conditional=True, n_classes=3, image_shape=(1, 8, 8))
    ).eval()
    draws = []
    sample = model.sample_latent
    monkeypatch.setattr(model, "sample_latent", lambda n, g, y: draws.append(sample(n, g, y)) or draws[-1])
    family.class_samples(model, tmp_path / "s.png", ("zero", "one"))
    assert len(draws) == 3 and all(torch.equal(z, draws[0]) for z in draws)
    assert seen["row_labels"] == ["zero", "one", "label 2"] and seen["nrow"] == 8
    with torch.no_grad():
        expected = torch.cat([model.mean(draws[0], torch.full((8,), c)) for c in range(3)])
    torch.testing.assert_close(seen["images"], expected)


def test_a_vamp_prior_run_shows_its_pseudo_inputs(tmp_path):
    d, metrics, doc = run(tmp_path, prior="vamp", pseudo_inputs=10)
    check_pngs(d, [*COMMON, "pseudo_inputs.png", "progress.png", "active_units.png"], doc)
    assert not (d / "traversal.png").exists() and not (d / "kl_per_dim.png").exists()
    assert "<h1>VAE with VampPrior (K = 10) on digits</h1>" in doc
    kl_value, kl_why = rows(doc)["KL(q(z|x) ‖ p(z))"]
    assert kl_why.startswith("Monte Carlo, 5 draws per image (no closed form with the VampPrior)")
    assert "The prior is the mixture p = (1/K) Σ_k q(z | u_k)" in doc
    assert "64 samples from the prior, z ~ the VampPrior" in doc
    assert "No latent traversal" in doc and "No KL-per-dimension chart" in doc
    assert rows(doc)["KL split (Chen et al. 2018)"][0] == "not computed"


def test_pseudo_inputs_figure_pairs_each_u_with_its_decoding(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(family, "save_image_grid", lambda images, path, **kw: seen.update(images=images, **kw))
    torch.manual_seed(0)
    model = build_model(VAEConfig(hidden=(16,), latent_dim=2, prior="vamp", pseudo_inputs=10, image_shape=(1, 8, 8)))
    name, caption = family.pseudo_inputs(model.eval(), tmp_path / "p.png")
    with torch.no_grad():
        u = model.prior.pseudo_inputs()
        decoded = model.mean(model.encode(u)[0])
    grid = seen["images"].reshape(2, 2, 5, 1, 8, 8)  # (group, u/decoded, column, ...): 10 as 2 rows of 5
    torch.testing.assert_close(grid[:, 0].reshape(10, 1, 8, 8), u)
    torch.testing.assert_close(grid[:, 1].reshape(10, 1, 8, 8), decoded)
    assert seen["row_labels"] == ["u1…u5", "decoded", "u6…u10", "decoded"] and "(all 10;" in caption


def test_prior_samples_come_from_the_models_prior(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(family, "save_image_grid", lambda images, path, **kw: seen.update(images=images, **kw))
    torch.manual_seed(0)
    model = build_model(VAEConfig(hidden=(16,), latent_dim=4, stochastic_layers=2, image_shape=(1, 8, 8))).eval()
    family.prior_samples(model, tmp_path)
    with torch.no_grad():
        z = model.sample_latent(64, torch.Generator().manual_seed(0))  # z₂ ~ N(0, I), then z₁ ~ p(z₁|z₂)
        torch.testing.assert_close(seen["images"], model.mean(z))


def test_a_two_layer_run_counts_units_per_layer_and_skips_the_traversal(tmp_path):
    d, metrics, doc = run(tmp_path, stochastic_layers=2)
    check_pngs(d, [*COMMON, "progress.png", "active_units.png"], doc)
    assert not (d / "traversal.png").exists() and not (d / "kl_per_dim.png").exists()
    assert "<h1>two-layer VAE (4 → 2) on digits</h1>" in doc
    a, b = metrics["active_units_per_layer"]
    assert rows(doc)["active units"][0] == f"{a} + {b} of 4 + 2"
    assert rows(doc)["KL(q(z₁, z₂|x) ‖ p(z₁, z₂))"][1].startswith("Monte Carlo")
    assert "with two stochastic layers z₁'s prior is p(z₁ | z₂), not N(0, I)" in doc
    assert "the KL has no closed form here (two stochastic layers)" in doc
    assert "z₂ ~ N(0, I), then z₁ ~ p(z₁ | z₂)" in doc and "μ₁(x) of the first layer" in doc


def test_an_iwae_run_with_dreg_and_keep_best_says_so(tmp_path):
    objective = ELBOConfig(iw_k=5, objective="iwae", k_train=3, dreg=True)
    d, metrics, doc = run(tmp_path, objective, {"keep": "best", "val_size": 0.2})
    r = rows(doc)
    assert r["objective"][0] == "IWAE, k = 3 (DReG gradient)" and "Tucker et al. 2019" in r["objective"][1]
    assert metrics["evaluated"]["checkpoint"] == "best"
    assert re.fullmatch(r"best validation ELBO \(epoch 1, −\d+\.\d{3} nats\)", r["evaluated weights"][0])
    assert r["KL(q(z|x) ‖ p(z))"][1].startswith("closed form")
    assert "train IWAE bound, k = 3" not in doc  # a legend entry: drawn in the PNG, not in the text
    assert "the ELBO panel's solid line is the bound trained on" in doc


def test_a_beta_tc_run_has_the_kl_split_and_a_tc_panel(tmp_path):
    d, metrics, doc = run(tmp_path, ELBOConfig(iw_k=5, tc_beta=6.0))
    r = rows(doc)
    assert r["objective"][0] == "β-TC-VAE, TC weight 6"
    for label, key in (
        ("index-code MI", "index_code_mi"),
        ("total correlation", "total_correlation"),
        ("dimension-wise KL", "dimwise_kl"),
    ):
        assert r[label][0] == f"{metrics[key]:.3f} nats".replace("-", "−")
    assert f"at most log N = {math.log(metrics['n_test']):.2f} nats" in r["index-code MI"][1]
    assert imread(d / "loss_curves.png").shape[1] == 1840  # four panels of 4.6 in at 100 dpi: TC is the fourth
    assert "minibatch-stratified estimate" in doc


def test_the_loss_curves_of_an_elbo_run_have_three_panels(tmp_path):
    records = [{"epoch": 1, "train_loss": 30.0, "train_recon": 28.0, "train_kl": 2.0, "val_elbo": -31.0}]
    caption = family.loss_curves(records, tmp_path / "l.png", {}, "bernoulli")
    assert imread(tmp_path / "l.png").shape[1] == 1380 and "total correlation" not in caption
    with_tc = [{**records[0], "train_tc": 21.0}]
    config = {"vae": {"latent_dim": 4}, "data": {"n_train": 1150}, "objective": {"tc_beta": 6.0}}
    caption = family.loss_curves(with_tc, tmp_path / "t.png", config, "bernoulli")
    assert "minibatch-stratified estimate" in caption
    assert imread(tmp_path / "t.png").shape[1] == 1840


@pytest.mark.parametrize(
    "objective, name",
    [
        ({"objective": "elbo", "beta": 1.0, "kl": "analytic"}, "ELBO"),
        ({"objective": "elbo", "beta": 4.0}, "ELBO, β = 4"),
        ({"objective": "elbo", "beta": 1.0, "samples": 3}, "ELBO, 3 draws of z per image"),
        ({"objective": "iwae", "k_train": 5, "dreg": False}, "IWAE, k = 5"),
        ({"objective": "iwae", "k_train": 5, "dreg": True}, "IWAE, k = 5 (DReG gradient)"),
        ({"objective": "elbo", "tc_beta": 6.0}, "β-TC-VAE, TC weight 6"),
        ({"objective": "elbo", "beta": 1.0, "warmup_epochs": 2.0}, "ELBO, KL warm-up over 2 epochs"),
    ],
)
def test_objectives_are_named(objective, name):
    assert family.objective_name(objective)[0] == name


@pytest.mark.parametrize(
    "vae, name",
    [
        ({}, "VAE"),
        ({"conditional": True}, "conditional VAE"),
        ({"prior": "vamp", "pseudo_inputs": 500}, "VAE with VampPrior (K = 500)"),
        ({"stochastic_layers": 2, "latent_dim": 32, "latent_dim2": 16}, "two-layer VAE (32 → 16)"),
    ],
)
def test_models_are_named(vae, name):
    assert family.model_name(vae) == name


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
