"""klvae.gan.model: PacGAN packing, network shapes, settings validation."""

import pytest
import torch

from klvae.gan.model import Discriminator, GANConfig, Generator, build_gan, pack


def test_pack_groups_consecutive_samples_and_drops_the_remainder():
    x = torch.arange(14.0).reshape(7, 2)
    p = pack(x, 3)
    assert p.shape == (2, 3, 2)
    torch.testing.assert_close(p[1], x[3:6])


@pytest.mark.parametrize("n, m, match", [
    (4, 0, "pack must be a positive integer, got 0"),
    (2, 3, "a batch of 2 samples cannot fill one pack of 3"),
])
def test_pack_errors(n, m, match):
    with pytest.raises(ValueError, match=match):
        pack(torch.zeros(n, 2), m)


def test_packed_discriminator_sees_the_concatenation():
    torch.manual_seed(0)
    d = Discriminator((2,), hidden=8, layers=2, pack=3)
    x = torch.randn(4, 3, 2)  # 4 packs of 3 points
    first = d.net[0]
    # the first layer's input is [x_1, x_2, x_3] concatenated: check against a manual product
    h = x.reshape(4, 6) @ first.weight.T + first.bias
    torch.testing.assert_close(first(x.flatten(1)), h)
    assert d(x).shape == (4,)
    assert first.in_features == 6


def test_generator_shapes_and_ranges():
    g = Generator(4, (1, 8, 8), hidden=16, layers=2, out_range="unit")
    with torch.no_grad():
        x = g.sample(5)
        assert Generator(2, (2,), hidden=8).sample(3).shape == (3, 2)
    assert x.shape == (5, 1, 8, 8) and float(x.min()) >= 0 and float(x.max()) <= 1
    with pytest.raises(ValueError, match="out_range must be 'real' or 'unit', got 'tanh'"):
        Generator(2, (2,), out_range="tanh")


def test_build_gan_resolves_defaults_by_loss_and_data():
    cfg = GANConfig(loss="wasserstein").resolved(image=False)
    assert (cfg.n_critic, cfg.beta2, cfg.latent_dim, cfg.g_hidden) == (5, 0.9, 2, 128)
    cfg = GANConfig(n_critic=2).resolved(image=True)
    assert (cfg.n_critic, cfg.beta2, cfg.latent_dim, cfg.d_hidden) == (2, 0.999, 32, 256)
    g, d = build_gan(GANConfig(pack=2, g_hidden=8, d_hidden=8), (2,), image=False)
    assert d(pack(g.sample(6), 2)).shape == (3,)


@pytest.mark.parametrize("kwargs, match", [
    ({"loss": "hinge"}, "loss must be one of minimax, nonsaturating, wasserstein; got 'hinge'"),
    ({"pack": 0}, "pack must be at least 1, got 0"),
    ({"n_critic": 0}, "n_critic must be at least 1, got 0"),
    ({"beta1": 1.0}, r"Adam betas must lie in \[0, 1\), got 1.0 and None"),
    ({"gp_weight": -1.0}, "gp_weight must be non-negative, got -1.0"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GANConfig(**kwargs)
