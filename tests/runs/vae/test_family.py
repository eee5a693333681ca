"""What a VAE's report says and draws differently for each model of the family (`klvae.runs.vae.family`):
the names of models and objectives, the family's own figures, and `Family`, which the report asks."""

import pytest
import torch

import klvae.runs.vae.family as family
from klvae.runs.vae.family import Family, same_class_pairs
from klvae.vae import VAEConfig, build_model


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny networks: one torch thread is the fastest."""


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


@pytest.mark.parametrize(
    "config, expected",
    [
        ({}, Family()),
        ({"conditional": True, "n_classes": 3}, Family(conditional=True)),
        ({"prior": "vamp", "pseudo_inputs": 4}, Family(vamp=True)),
        ({"stochastic_layers": 2, "likelihood": "gaussian"}, Family(two_layers=True, likelihood="gaussian")),
    ],
)
def test_the_family_is_read_from_the_models_config(config, expected):
    model = build_model(VAEConfig(hidden=(8,), latent_dim=2, image_shape=(1, 4, 4), **config))
    assert Family.of(model) == expected


def test_only_the_models_that_need_a_phrase_get_it():
    words = ("label", "pairs", "pairs layer", "samples label", "map", "units")
    plain = Family()
    assert all(plain.phrase(w) == "" for w in words)
    assert all(Family(conditional=True).phrase(w) for w in ("label", "pairs", "samples label", "map"))
    assert all(Family(two_layers=True).phrase(w) for w in ("pairs layer", "units"))
    assert Family(two_layers=True).z == "z₁" and plain.z == "z"
    assert "p(z₁ | z₂)" in Family(two_layers=True).prior_on_code and "VampPrior" in Family(vamp=True).prior_on_code
    assert Family(likelihood="gaussian").means == " (means of p(x|z))" and "σ(logits)" in plain.means


def test_same_class_pairs_take_the_first_two_of_each_class():
    x = torch.arange(7.0)[:, None]  # image i is the number i
    y = torch.tensor([2, 0, 2, 1, 0, 2, 1])
    xs, ys, names = same_class_pairs(x, y, 2, ("zero", "one"))
    assert xs.flatten().tolist() == [1.0, 4.0, 3.0, 6.0] and ys.tolist() == [0, 0, 1, 1]
    assert names == ["zero", "one"]
    _, _, names = same_class_pairs(x, y, 4)
    assert names == ["label 0", "label 1", "label 2"]  # only three classes have two images
    assert same_class_pairs(x[:3], torch.tensor([0, 1, 2]), 4) is None


def test_the_pairs_to_interpolate_follow_the_model():
    x, y = torch.arange(10.0)[:, None], torch.tensor([0, 1] * 5)
    xs, ys, names = Family().pairs(x, None, None)
    assert xs.flatten().tolist() == list(range(8)) and ys is None and names is None
    assert Family().pairs(x[:3], None, None) is None and Family().no_pairs is None  # too few: nothing said
    xs, ys, _ = Family(conditional=True).pairs(x, y, None)
    assert ys.tolist() == [0, 0, 1, 1] and xs.flatten().tolist() == [0.0, 2.0, 1.0, 3.0]
    assert Family(conditional=True).pairs(x[:2], y[:2], None) is None
    assert (
        Family(conditional=True).no_pairs.file is None and "No interpolations" in Family(conditional=True).no_pairs.text
    )


def test_the_samples_are_drawn_as_the_family_draws_them(tmp_path, monkeypatch):
    called = []
    monkeypatch.setattr(family, "class_samples", lambda model, path, names: called.append(("class", path.name)))
    monkeypatch.setattr(family, "prior_samples", lambda model, run_dir: called.append(("prior", run_dir)))
    monkeypatch.setattr(family, "pseudo_inputs", lambda model, path: ("pseudo", path.name))
    Family(conditional=True).samples(None, tmp_path, None)
    Family().samples(None, tmp_path, None)
    assert called == [("class", "samples.png"), ("prior", tmp_path)]
    assert Family(vamp=True).own_figures(None, tmp_path) == [("pseudo", "pseudo_inputs.png")]
    assert Family().own_figures(None, tmp_path) == []
