"""A VAE's settings: every wrong field is refused with its name, the defaults follow the image size."""

import pytest

from klvae.vae import VAEConfig


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(arch="rnn"), "arch must be one of"),
        (dict(likelihood="poisson"), "likelihood must be one of"),
        (dict(hidden=()), "hidden must be one or more positive widths"),
        (dict(hidden=(0,)), "hidden must be one or more positive widths"),
        (dict(latent_dim=0), "latent_dim must be positive"),
        (dict(sigma=0.0), "sigma must be positive and finite"),
        (dict(image_shape=(8, 8)), r"image_shape must be \(C, H, W\)"),
        (dict(arch="conv", image_shape=(1, 8, 8)), "--arch conv needs 28×28 images, the data has 8×8"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VAEConfig(**kwargs)


def test_fields_left_unset_follow_the_image_size():
    small, large = VAEConfig(image_shape=(1, 8, 8)), VAEConfig(image_shape=(1, 28, 28))
    assert (small.hidden, small.latent_dim) == ((400,), 8) and (large.hidden, large.latent_dim) == ((1024,), 32)
    assert VAEConfig(hidden=(7,), image_shape=(1, 28, 28)).hidden == (7,)
    assert VAEConfig.from_json(large.to_json()) == large
