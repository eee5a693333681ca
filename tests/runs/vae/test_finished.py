"""A finished VAE run evaluated again (`klvae.runs.vae.finished`): the per-example values it keeps."""

import pytest

from klvae.runs.folder import EVAL_PER_IMAGE, read_per_image
from klvae.runs.vae.finished import evaluate_run
from klvae.runs.vae.job import train_vae
from klvae.training.config import TrainConfig
from klvae.vae import ELBOConfig, VAEConfig


def run(tmp, epochs=1):
    """A quick digits run (all 1437 images, no validation split, a 32-unit MLP)."""
    train = TrainConfig(out=str(tmp), epochs=epochs, log_every=5, val_size=0.0)
    return train_vae(VAEConfig(hidden=(32,), latent_dim=4), ELBOConfig(iw_k=5), train, figures=False)


def test_a_run_keeps_each_test_images_values_and_eval_its_own(tmp_path):
    d, metrics = run(tmp_path, epochs=1)
    kept = read_per_image(d)
    assert kept["log_px"].shape == kept["elbo"].shape == (metrics["n_test"],)
    assert -float(kept["log_px"].mean()) == pytest.approx(metrics["test_iw_nll"], rel=1e-12)
    assert float(kept["elbo"].mean()) == pytest.approx(metrics["test_elbo"], rel=1e-12)
    assert float(kept["log_px"].mean()) > float(kept["elbo"].mean())  # the IW bound is the tighter
    again = evaluate_run(d, k=3)
    redone = read_per_image(d, EVAL_PER_IMAGE)
    assert -float(redone["log_px"].mean()) == pytest.approx(again["test_iw_nll"], rel=1e-12)
    with pytest.raises(FileNotFoundError, match="per-example"):
        read_per_image(tmp_path / "elsewhere")
