"""Model files (`klvae.vae.files`): a model saved and read back is the same model; a file that is
not one, or that asks for more than it holds, is refused in one line before anything is built."""

import json

import pytest
import torch

from klvae.vae import VAE, VAEConfig, load_model, save_model


def test_save_and_load_round_trip(tmp_path):
    model = VAE(VAEConfig(hidden=(16,), latent_dim=2, likelihood="gaussian", sigma=0.2, image_shape=(1, 4, 4)))
    save_model(model, tmp_path / "m.safetensors")
    back = load_model(tmp_path / "m.safetensors")
    assert back.config == model.config and not back.training
    z = torch.randn(3, 2)
    assert torch.equal(back.decode(z), model.decode(z))
    assert b"pickle" not in (tmp_path / "m.safetensors").read_bytes()[:200]


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file"):
        load_model(tmp_path / "none.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(ValueError, match="bad.safetensors is not a readable safetensors file"):
        load_model(tmp_path / "bad.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="has no vae_config metadata"):
        load_model(tmp_path / "other.safetensors")


def test_tiny_file_asking_for_a_billion_hidden_units_is_refused_before_building(tmp_path, monkeypatch):
    tensors, meta = _small_model_file(tmp_path)
    cfg = json.loads(meta["vae_config"])
    meta["vae_config"] = json.dumps({**cfg, "hidden": [10**9]})
    p = _forge(tmp_path / "bomb.safetensors", tensors, meta)
    built = []
    monkeypatch.setattr(torch.nn.Linear, "reset_parameters", lambda self: built.append(self.weight.device))
    with pytest.raises(
        ValueError,
        match=r"bomb.safetensors does not fit its vae_config: "
        r"encoder.0.weight has shape \(16, 16\), the config gives "
        r"\(1000000000, 16\)$",
    ):
        load_model(p)
    assert all(d.type == "meta" for d in built)  # nothing was built with real memory


def test_config_with_a_million_layers_is_refused_by_count(tmp_path):
    tensors, meta = _small_model_file(tmp_path)
    meta["vae_config"] = json.dumps({**json.loads(meta["vae_config"]), "hidden": [16] * 10**6})
    p = _forge(tmp_path / "deep.safetensors", tensors, meta)
    with pytest.raises(
        ValueError,
        match=r"deep.safetensors does not fit its vae_config: the config "
        r"describes 4000004 tensors, the file holds 8$",
    ):
        load_model(p)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda t, m: m.update(vae_config="{not json"), r"its vae_config metadata is not JSON"),
        (
            lambda t, m: m.update(vae_config="[1, 2]"),
            r"its vae_config metadata is not a valid VAE configuration \(a JSON object was expected, found list\)",
        ),
        (
            lambda t, m: m.update(vae_config=json.dumps({"hidden": [16], "colour": "red"})),
            r"not a valid VAE configuration \(.*colour",
        ),
        (
            lambda t, m: m.update(vae_config=json.dumps({"hidden": [16], "latent_dim": 2})),
            r"not a valid VAE configuration \(image_shape is not set\)",
        ),
        (
            lambda t, m: m.update(vae_config=json.dumps({"likelihood": "poisson", "image_shape": [1, 4, 4]})),
            r"not a valid VAE configuration \(likelihood must be one of",
        ),
        (
            lambda t, m: m.update(vae_config='{"hidden": [1e400], "image_shape": [1, 4, 4]}'),
            r"not a valid VAE configuration \(cannot convert float infinity to integer\)",
        ),
        (
            lambda t, m: m.update(vae_config=json.dumps({"hidden": [16], "image_shape": [1, 10**10, 10**10]})),
            r"its vae_config describes a network that cannot be built",
        ),
        (lambda t, m: t.pop("decoder.2.bias"), r"does not fit its vae_config: tensor decoder.2.bias is missing$"),
        (lambda t, m: t.update(extra=torch.zeros(1)), r"does not fit its vae_config: unexpected tensor extra$"),
        (
            lambda t, m: t.update({"encoder.0.weight": torch.zeros(16, 16, dtype=torch.int32)}),
            r"encoder.0.weight has dtype I32, weights are floating point$",
        ),
    ],
)
def test_model_file_not_fitting_its_config_is_one_line(tmp_path, change, match):
    tensors, meta = _small_model_file(tmp_path)
    change(tensors, meta)
    p = _forge(tmp_path / "x.safetensors", tensors, meta)
    with pytest.raises(ValueError, match=r"x.safetensors.*" + match) as info:
        load_model(p)
    assert "\n" not in str(info.value)


def _forge(path, tensors, meta):
    from safetensors.torch import save_file

    save_file(tensors, str(path), metadata=meta)
    return path


def _small_model_file(tmp_path, name="m.safetensors"):
    model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
    save_model(model, tmp_path / name)
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(tmp_path / name), "pt") as f:
        return load_file(tmp_path / name), dict(f.metadata())


def test_the_model_of_a_config_and_of_a_run_folder(tmp_path):
    from klvae.vae import TwoLayerVAE, build_model, load_run

    two = build_model(VAEConfig(hidden=(8,), latent_dim=4, stochastic_layers=2, image_shape=(1, 4, 4)))
    assert isinstance(two, TwoLayerVAE) and type(build_model(VAEConfig(image_shape=(1, 4, 4)))) is VAE
    save_model(two, tmp_path / "model.safetensors", metadata={"epoch": "3"})
    back = load_run(tmp_path)
    assert isinstance(back, TwoLayerVAE) and back.config == two.config
    for (k, a), (_, b) in zip(two.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), k
    with pytest.raises(FileNotFoundError, match="run folder .* does not exist"):
        load_run(tmp_path / "elsewhere")
