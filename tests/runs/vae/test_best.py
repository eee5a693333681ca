"""`--keep best` (`klvae.runs.vae.best`): only a better validation ELBO replaces the kept weights,
a resumed run knows what to beat, and the kept weights come back into the model at the end."""

import math

import torch

from klvae.runs.vae.best import BEST, KeepBest
from klvae.vae import VAE, VAEConfig


def model():
    torch.manual_seed(0)
    return VAE(VAEConfig(hidden=(8,), latent_dim=2, image_shape=(1, 4, 4)))


def weights(m):
    return {k: v.clone() for k, v in m.state_dict().items()}


def test_only_a_better_validation_elbo_is_kept_and_restored(tmp_path):
    m = model()
    keep = KeepBest(m, tmp_path)
    kept = {}
    for epoch, score in enumerate([-30.0, -25.0, -27.0, math.nan, None, -25.0], start=1):
        with torch.no_grad():
            for p in m.parameters():
                p.add_(1.0)  # every epoch moves the weights
        keep(epoch, {} if score is None else {"val_elbo": score}, None)
        kept[epoch] = weights(m)
    assert (keep.epoch, keep.score) == (2, -25.0)  # ties, NaN and missing scores do not replace it
    assert keep.restore() == {"checkpoint": "best", "epoch": 2, "val_elbo": -25.0}
    for k, v in m.state_dict().items():
        assert torch.equal(v, kept[2][k]), k


def test_a_resumed_run_knows_what_to_beat(tmp_path):
    KeepBest(model(), tmp_path)(3, {"val_elbo": -20.0}, None)
    again = KeepBest(model(), tmp_path)
    assert (again.epoch, again.score) == (3, -20.0)
    again(4, {"val_elbo": -21.0}, None)
    assert again.epoch == 3


def test_without_a_validation_score_the_last_weights_stay_and_other_ranks_write_nothing(tmp_path):
    m = model()
    before = weights(m)
    assert KeepBest(m, tmp_path).restore()["checkpoint"] == "last"
    assert all(torch.equal(v, before[k]) for k, v in m.state_dict().items())
    silent = KeepBest(m, tmp_path, write=False)
    silent(1, {"val_elbo": -10.0}, None)
    assert silent.epoch == 1 and not (tmp_path / BEST).exists()
