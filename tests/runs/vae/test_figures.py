"""The pictures of a VAE run (`klvae.runs.vae.figures`): what each draws, read back from the
images or the Matplotlib figure it hands to the figure layer."""

import pytest
import torch
from matplotlib.image import imread

import klvae.runs.vae.figures as figures
from klvae.data.datasets import CLASS_NAMES
from klvae.vae import VAE, VAEConfig


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny networks: one torch thread is the fastest."""


def test_latent_map_names_fashion_mnist_classes(tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr(figures, "save_png", lambda fig, path: drawn.setdefault("fig", fig))
    labels = torch.arange(10).repeat(3)
    figures.latent_map(torch.randn(30, 4), labels, tmp_path / "m.png", "t", CLASS_NAMES["fashion-mnist"])
    legend = drawn["fig"].axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()][:2] == ["T-shirt/top", "Trouser"]
    assert legend.get_texts()[-1].get_text() == "Ankle boot"


def test_latent_map_places_two_dimensional_means_where_they_are(tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr(figures, "save_png", lambda fig, path: drawn.setdefault("fig", fig))
    mu = torch.randn(12, 2)
    labels = torch.tensor([0, 1, 2] * 4)
    figures.latent_map(mu, labels, tmp_path / "m.png", "t")
    ax = drawn["fig"].axes[0]
    for c, points in enumerate(ax.collections):  # one scatter per class, in label order
        torch.testing.assert_close(torch.as_tensor(points.get_offsets().data), mu[labels == c].double())
    assert ax.get_xlabel() == "μ₁" and ax.get_ylabel() == "μ₂"


def test_interpolations_end_at_the_two_posterior_means(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(figures, "save_image_grid", lambda images, path, **kw: seen.update(images=images, **kw))
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_shape=(1, 8, 8), hidden=(16,), latent_dim=3)).eval()
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        figures.interpolations(model, x, tmp_path / "i.png", pairs=2, steps=5)
        ends = model.mean(model.encode(x)[0])  # (4, 1, 8, 8)
    images = seen["images"].reshape(2, 2, 5, 1, 8, 8)  # (pair, linear/spherical, t, ...)
    for pair in range(2):
        for kind in range(2):
            torch.testing.assert_close(images[pair, kind, 0], ends[2 * pair], atol=1e-5, rtol=0)
            torch.testing.assert_close(images[pair, kind, -1], ends[2 * pair + 1], atol=1e-5, rtol=0)
    assert seen["row_labels"][:2] == ["pair 1, linear", "pair 1, spherical"]


def test_the_traversal_moves_the_dimensions_of_largest_kl_one_at_a_time(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(figures, "save_image_grid", lambda images, path, **kw: seen.update(images=images, **kw))
    torch.manual_seed(0)
    model = VAE(VAEConfig(image_shape=(1, 8, 8), hidden=(16,), latent_dim=3)).eval()
    figures.draw_traversal(model, [0.1, 2.0, 0.5], tmp_path)
    values = torch.linspace(-3, 3, 9)
    z = torch.zeros(3, 9, 3)
    for row, d in enumerate([1, 2, 0]):  # by KL, largest first
        z[row, :, d] = values
    with torch.no_grad():
        torch.testing.assert_close(seen["images"], model.mean(z.reshape(-1, 3)))
    assert seen["row_labels"] == ["d = 1 (KL 2.00 nats)", "d = 2 (KL 0.50 nats)", "d = 0 (KL 0.10 nats)"]


def test_the_loss_curves_have_a_tc_panel_only_for_a_tc_run(tmp_path):
    records = [{"epoch": 1, "train_loss": 30.0, "train_recon": 28.0, "train_kl": 2.0, "val_elbo": -31.0}]
    assert not figures.is_tc_run(records)
    figures.draw_loss_curves(records, tmp_path / "l.png", {}, "bernoulli")
    three = imread(tmp_path / "l.png")
    assert three.shape[1] == 960  # two panels a row of 4.8 in at 100 dpi: the width a report shows
    assert _blank(_fourth(three))  # three panels: the fourth place is empty
    with_tc = [{**records[0], "train_tc": 21.0}]
    assert figures.is_tc_run(with_tc)
    config = {"vae": {"latent_dim": 4}, "data": {"n_train": 1150}, "objective": {"tc_beta": 6.0}}
    figures.draw_loss_curves(with_tc, tmp_path / "t.png", config, "bernoulli")
    four = imread(tmp_path / "t.png")
    assert four.shape[1] == 960 and not _blank(_fourth(four))  # TC is the fourth


def _blank(region) -> bool:
    return bool((region[..., :3] > 0.99).all())


def _fourth(image):
    """The place of a 2 × 2 grid's fourth panel, below the first row's legends."""
    h, w = image.shape[:2]
    return image[int(0.62 * h) :, int(0.55 * w) :]


def test_the_loss_curves_draw_the_learning_rate_the_schedule_gave(tmp_path):
    records = [{"epoch": e, "lr_factor": 1 - e / 3, "train_loss": 30.0 - e, "val_elbo": -31.0 + e} for e in (1, 2, 3)]
    figures.draw_loss_curves(records, tmp_path / "n.png", {}, "bernoulli")  # no rate known: three panels
    assert _blank(_fourth(imread(tmp_path / "n.png")))
    figures.draw_loss_curves(records, tmp_path / "r.png", {"train": {"lr": 2e-3}}, "bernoulli")
    assert not _blank(_fourth(imread(tmp_path / "r.png")))


def evenly_spaced(shown, epochs):
    """The first and the last of `epochs` and 8 between, their gaps in positions differing by at most one."""
    at = [list(epochs).index(e) for e in shown]
    gaps = [b - a for a, b in zip(at, at[1:])]
    return (
        shown[0] == epochs[0]
        and shown[-1] == epochs[-1]
        and len(shown) == min(8, len(epochs))
        and (not gaps or max(gaps) - min(gaps) <= 1)
    )


@pytest.mark.parametrize("last", [1, 5, 8, 9, 16, 17, 20, 150])
def test_the_epochs_shown_are_evenly_spaced_with_the_last(last):
    epochs = list(range(1, last + 1))
    shown = figures.shown_epochs(epochs)
    assert evenly_spaced(shown, epochs) and shown == sorted(set(shown))


def test_the_progress_strip_puts_the_inputs_above_their_reconstructions(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(figures, "save_image_grid", lambda images, path, **kw: seen.update(images=images, **kw))
    snapshots = {e: torch.full((16, 1, 4, 4), e / 20) for e in range(1, 21)}
    inputs = torch.rand(8, 1, 4, 4)
    shown = figures.draw_progress(snapshots, inputs, tmp_path / "p.png")
    assert evenly_spaced(shown, list(range(1, 21)))
    assert seen["row_labels"] == ["input"] + [f"epoch {e}" for e in shown] and seen["nrow"] == 16
    grid = seen["images"].reshape(1 + len(shown), 16, 1, 4, 4)
    torch.testing.assert_close(grid[0, 8:], inputs)  # each input above its reconstructions' column
    assert seen["blank"] == list(range(8))  # nothing above the samples
    for row, e in enumerate(shown, 1):
        torch.testing.assert_close(grid[row], snapshots[e])
    figures.draw_progress(snapshots, None, tmp_path / "p.png")  # without the inputs: the epochs only
    assert seen["row_labels"][0] == "epoch 1" and seen["blank"] == []
