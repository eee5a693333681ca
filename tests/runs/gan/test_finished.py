"""A finished GAN run read back (`klvae.runs.gan.finished`): its generator, its mode means and its
evaluation again, checked against what the run wrote when it finished."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from klvae.data.mixtures import mode_mixture
from klvae.gan.model import GANConfig
from klvae.runs.gan.finished import evaluate_gan_run, is_gan_run, load_generator, mode_means
from klvae.runs.gan.job import train_gan
from klvae.training.config import TrainConfig


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    """Two epochs of a small GAN on ring8, figures skipped."""
    out = tmp_path_factory.mktemp("gan") / "run"
    gan = GANConfig(g_hidden=16, d_hidden=16, g_layers=2, d_layers=2)
    d, metrics = train_gan(gan, TrainConfig(data="ring8", epochs=2, batch_size=10_000, out=str(out)), figures=False)
    return d, metrics


def test_a_gan_run_is_told_from_a_vae_run(ring_run, tmp_path):
    assert is_gan_run(ring_run[0])
    (tmp_path / "config.json").write_text(json.dumps({"vae": {"latent_dim": 2}, "train": {}}))
    assert not is_gan_run(tmp_path)


def test_the_generator_read_back_has_the_saved_weights(ring_run):
    d, _ = ring_run
    generator = load_generator(d)
    saved = {k.removeprefix("generator."): v for k, v in load_file(str(d / "model.safetensors")).items()}
    own = generator.state_dict()
    assert set(own) <= set(saved) and not generator.training
    for k, v in own.items():
        assert torch.equal(v, saved[k]), k


def test_the_evaluation_again_equals_the_runs_own(ring_run):
    d, metrics = ring_run
    again = evaluate_gan_run(d)
    assert again["data"] == "ring8" and again["n_modes"] == 8
    for key in ("modes", "high_quality", "reverse_kl"):
        assert again[key] == pytest.approx(metrics[key], rel=1e-12, abs=1e-12), key


def test_mode_means_are_the_mixtures_for_a_mixture_run(ring_run, tmp_path):
    torch.testing.assert_close(mode_means(ring_run[0]), mode_mixture("ring8")[0])
    (tmp_path / "config.json").write_text(json.dumps({"gan": {}, "train": {}, "data": {"name": "digits"}}))
    assert mode_means(tmp_path) is None


def test_a_file_that_is_not_a_gan_model_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trained model"):
        load_generator(tmp_path)
    save_file({"w": torch.zeros(1)}, str(tmp_path / "model.safetensors"), metadata={"format": "klvae-vae-1"})
    with pytest.raises(ValueError, match="is not a klvae GAN model"):
        load_generator(tmp_path)
