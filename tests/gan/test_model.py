"""klvae.gan.model: PacGAN packing, network shapes, settings validation."""

import pytest
import torch

from klvae.gan.model import Discriminator, GANConfig, Generator, build_gan, pack


def test_pack_groups_consecutive_samples_and_drops_the_remainder():
    x = torch.arange(14.0).reshape(7, 2)
    p = pack(x, 3)
    assert p.shape == (2, 3, 2)
    torch.testing.assert_close(p[1], x[3:6])


@pytest.mark.parametrize(
    "n, m, match",
    [
        (4, 0, "pack must be a positive integer, got 0"),
        (2, 3, "a batch of 2 samples cannot fill one pack of 3"),
    ],
)
def test_pack_errors(n, m, match):
    with pytest.raises(ValueError, match=match):
        pack(torch.zeros(n, 2), m)


def test_packed_discriminator_embeds_each_sample_then_judges_the_concatenation():
    torch.manual_seed(0)
    d = Discriminator((2,), hidden=8, layers=3, pack=3)
    x = torch.randn(4, 3, 2)  # 4 packs of 3 points
    # an independent forward pass: the same layers applied by hand, sample by sample
    lrelu = torch.nn.functional.leaky_relu
    e1, e2 = d.embed[0], d.embed[2]
    emb = [lrelu(e2(lrelu(e1(x[:, i]), 0.2)), 0.2) for i in range(3)]  # 3 × (4, 8)
    j, out = d.head[0], d.head[2]
    assert j.in_features == 3 * 8
    want = out(lrelu(j(torch.cat(emb, dim=1)), 0.2)).squeeze(1)
    torch.testing.assert_close(d(x), want)


def test_packed_discriminator_keeps_the_samples_apart_until_the_joint_layer():
    # the fix for a packed D stuck at chance on grid25: no embedding unit mixes two samples
    torch.manual_seed(1)
    d = Discriminator((2,), hidden=16, layers=3, pack=2)
    x = torch.randn(5, 2, 2, requires_grad=True)
    h = d.embed(x)  # (5, 2, 16)
    (grad,) = torch.autograd.grad(h[:, 0].sum(), x)
    assert torch.count_nonzero(grad[:, 1]) == 0 and torch.count_nonzero(grad[:, 0]) > 0
    (grad,) = torch.autograd.grad(d(x).sum(), x)
    assert (grad.abs().sum(dim=2) > 0).all()  # the logit still depends on every sample


def test_unpacked_discriminator_is_the_plain_mlp():
    torch.manual_seed(2)
    d = Discriminator((2,), hidden=8, layers=3, pack=1)
    linears = [m for m in d.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(2, 8), (8, 8), (8, 8), (8, 1)]
    x = torch.randn(6, 1, 2)
    h = x.flatten(1)
    for m in linears[:-1]:
        h = torch.nn.functional.leaky_relu(m(h), 0.2)
    torch.testing.assert_close(d(x), linears[-1](h).squeeze(1))


def test_one_layer_packed_discriminator_concatenates_the_raw_samples():
    d = Discriminator((2,), hidden=8, layers=1, pack=3)
    x = torch.randn(4, 3, 2)
    first = d.head[0]
    assert first.in_features == 6
    h = torch.nn.functional.leaky_relu(x.reshape(4, 6) @ first.weight.T + first.bias, 0.2)
    torch.testing.assert_close(d(x), d.head[2](h).squeeze(1))


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
    assert (cfg.n_critic, cfg.latent_dim, cfg.g_hidden) == (5, 2, 128)
    cfg = GANConfig(n_critic=2).resolved(image=True)
    assert (cfg.n_critic, cfg.latent_dim, cfg.d_hidden) == (2, 32, 256)
    g, d = build_gan(GANConfig(pack=2, g_hidden=8, d_hidden=8), (2,), image=False)
    assert d(pack(g.sample(6), 2)).shape == (3,)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"loss": "hinge"}, "loss must be one of minimax, nonsaturating, wasserstein; got 'hinge'"),
        ({"pack": 0}, "pack must be at least 1, got 0"),
        ({"n_critic": 0}, "n_critic must be at least 1, got 0"),
        ({"gp_weight": -1.0}, "gp_weight must be non-negative, got -1.0"),
    ],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GANConfig(**kwargs)
