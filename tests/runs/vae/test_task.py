"""The VAE as the loop's task (`klvae.runs.vae.task`): a step trains, the validation ELBO is the same
at every epoch for the same weights, and the per-epoch strip decodes what it says."""

import pytest
import torch

from klvae.runs.vae.task import VAETask
from klvae.training.config import TrainConfig
from klvae.vae import VAE, ELBOConfig, VAEConfig
from klvae.vae.objective import elbo_terms


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny networks: one torch thread is the fastest."""


def task(conditional=False, samples=1, epochs=1):
    torch.manual_seed(0)
    cfg = VAEConfig(hidden=(16,), latent_dim=3, image_shape=(1, 4, 4), conditional=conditional, n_classes=3)
    model = VAE(cfg)
    train = TrainConfig(lr=1e-2, adam_beta1=0.9, adam_beta2=0.95, batch_size=16, epochs=epochs)
    x_val = torch.rand(20, 1, 4, 4).round()
    y_val = torch.arange(20) % 3 if conditional else None
    return VAETask(model, ELBOConfig(binarize=True, samples=samples), train, x_val, y_val, n_data=100)


def test_a_step_trains_and_returns_the_loss_terms():
    t = task(samples=2)
    x = torch.rand(16, 1, 4, 4)
    before = [p.clone() for p in t.model.parameters()]
    out = t.train_step(x, None, step=0, epoch=0.0)
    assert {"loss", "recon", "kl"} <= set(out) and all(not v.requires_grad for v in out.values())
    assert out["loss"].item() == pytest.approx(out["recon"].item() + out["kl"].item(), rel=1e-6)  # β = 1
    assert any(not torch.equal(a, b) for a, b in zip(before, t.model.parameters()))


def test_the_validation_elbo_is_fixed_for_fixed_weights_and_leaves_the_random_state_alone():
    t = task()
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    first = t.end_epoch(1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert t.end_epoch(3) == first  # the same draws of z at every epoch
    assert first["val_elbo"] == pytest.approx(-(first["val_recon"] + first["val_kl"]), rel=1e-6)
    torch.manual_seed(0)
    recon, kl = elbo_terms(t.model, t.x_val)  # the ELBO at β = 1, one z per image, seed 0
    assert first["val_recon"] == pytest.approx(float(recon.mean()), rel=1e-6)
    assert first["val_kl"] == pytest.approx(float(kl.mean()), rel=1e-6)


def test_the_strip_is_kept_at_eight_epochs_evenly_spaced_and_decodes_prior_draws_and_reconstructions():
    t = task(conditional=True, epochs=20)
    for epoch in range(1, 21):
        t.end_epoch(epoch)
    kept = sorted(t.snapshots)
    gaps = [b - a for a, b in zip(kept, kept[1:])]
    assert len(kept) == 8 and kept[0] == 1 and kept[-1] == 20 and max(gaps) - min(gaps) <= 1
    images = t.snapshots[kept[3]]
    labels = torch.arange(8) % 3
    with torch.no_grad():
        z = t.model.sample_latent(8, torch.Generator().manual_seed(0), labels)
        torch.testing.assert_close(images[:8], t.model.mean(z, labels))
        torch.testing.assert_close(images[8:], t.model.mean(t.model.encode(t.x_val[:8], t.y_val[:8])[0], t.y_val[:8]))
    seen = []
    t.epoch_hooks.append(lambda epoch, record, images: seen.append((epoch, images.shape)))
    t.end_epoch(5)  # with a hook, every epoch
    assert seen == [(5, (16, 1, 4, 4))] and 5 in t.snapshots
