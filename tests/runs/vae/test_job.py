"""The VAE job (`klvae.runs.vae.job`): its defaults by image size, the schedule and budget it trains
under, the settings it records, the decoder's starting bias, and runs saved by older versions."""

import json

import pytest
import torch

from klvae.runs.vae.job import read_run_config, train_vae
from klvae.training import loop
from klvae.training.config import TrainConfig
from klvae.vae import VAE, ELBOConfig, VAEConfig, size_defaults


def run(tmp, hooks=(), epochs=2, **train):
    """A quick digits run (all 1437 images, no validation split: 12 steps per epoch, a 32-unit MLP)."""
    return train_vae(
        VAEConfig(hidden=(32,), latent_dim=4),
        ELBOConfig(iw_k=5),
        TrainConfig(out=str(tmp), epochs=epochs, log_every=5, **{"val_size": 0.0, **train}),
        hooks=hooks,
        figures=False,
    )


def lr_log():
    seen = []

    def hook(task, state):  # runs after each step: the rate that step used is still set
        seen.append(task.optimizers["vae"].param_groups[0]["lr"])

    return seen, hook


def test_linear_schedule_decays_to_zero_over_the_steps(tmp_path):
    seen, hook = lr_log()
    d, _ = run(tmp_path, hooks=(hook,), epochs=2, lr=1e-3)
    total = 2 * 12
    assert seen == pytest.approx([1e-3 * (1 - s / total) for s in range(total)], rel=1e-12)
    records = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    assert [r["lr_factor"] for r in records] == pytest.approx([0.5, 0.0])


def test_constant_schedule_keeps_the_rate(tmp_path):
    seen, hook = lr_log()
    run(tmp_path, hooks=(hook,), epochs=1, lr=1e-3, lr_schedule="constant")
    assert seen == [1e-3] * 12


class FakeClock:
    """The loop's clock, moved only by the steps: each step takes `per_step` seconds (a power of 2,
    so the sums are exact), however busy the machine."""

    def __init__(self, per_step: float = 1 / 64):
        self.now, self.per_step = 1000.0, per_step

    def perf_counter(self) -> float:
        return self.now

    def hook(self, task, state):  # after each step
        self.now += self.per_step


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(loop, "time", fake)
    return fake


def test_under_a_time_budget_the_rate_decays_over_the_seconds(tmp_path, clock):
    seen, hook = lr_log()
    _, metrics = run(tmp_path, hooks=(hook, clock.hook), epochs=10_000, lr=1e-3, max_seconds=0.5)
    assert metrics["stopped"] == "max_seconds"
    assert metrics["steps"] == 33  # the first step boundary after 0.5 s: 33/64 s
    assert metrics["train_seconds"] == 33 / 64
    total = 10_000 * 12  # the step share of 10 000 epochs is negligible: the seconds drive the rate
    expected = [1e-3 * (1 - max(s / total, s / 64 / 0.5)) for s in range(33)]
    assert seen == pytest.approx(expected, rel=1e-12)


def test_the_budget_counts_the_whole_run_across_resumes(tmp_path, clock):
    _, first = run(tmp_path, hooks=(clock.hook,), epochs=10_000, max_seconds=0.25)
    assert first["stopped"] == "max_seconds" and first["steps"] == 17  # 17/64 s > 0.25 s
    _, again = train_vae(
        VAEConfig(), ELBOConfig(), TrainConfig(resume=str(tmp_path), epochs=10_000, max_seconds=0.25), figures=False
    )
    assert again["stopped"] == "max_seconds" and again["steps"] == first["steps"]  # budget already spent


def test_size_defaults_follow_the_number_of_pixels():
    assert VAEConfig(image_shape=(1, 8, 8)).hidden == (400,) and VAEConfig(image_shape=(1, 8, 8)).latent_dim == 8
    big = VAEConfig(image_shape=(1, 28, 28))
    assert big.hidden == (1024,) and big.latent_dim == 32
    assert VAEConfig(hidden=(64,), latent_dim=3, image_shape=(1, 28, 28)).hidden == (64,)  # given wins
    assert size_defaults((1, 16, 16))["batch_size"] == 128 and size_defaults((1, 16, 17))["batch_size"] == 256


def test_a_run_records_the_settings_it_chose(tmp_path):
    d, _ = train_vae(VAEConfig(), ELBOConfig(iw_k=2), TrainConfig(out=str(tmp_path), epochs=1), figures=False)
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["vae"]["hidden"] == [400] and cfg["vae"]["latent_dim"] == 8
    assert cfg["train"]["batch_size"] == 128 and cfg["train"]["lr"] == 2e-3
    assert cfg["train"]["amp"] == "none"  # 8×8 digits: a small network stays float32
    assert cfg["train"]["lr_schedule"] == "linear" and cfg["train"]["adam_beta2"] == 0.95


def test_adam_beta2_reaches_the_optimizer_and_the_checkpoint(tmp_path):
    betas = []
    d, _ = run(
        tmp_path,
        hooks=(lambda task, state: betas.append(task.optimizers["vae"].param_groups[0]["betas"]),),
        epochs=1,
        adam_beta2=0.9,
    )
    assert set(betas) == {(0.9, 0.9)}
    assert json.loads((d / "config.json").read_text())["train"]["adam_beta2"] == 0.9


def test_runs_saved_before_the_schedule_read_as_constant_rate_and_torch_beta2(tmp_path):
    d, _ = run(tmp_path, epochs=1)
    path = d / "config.json"
    cfg = json.loads(path.read_text())
    del cfg["train"]["lr_schedule"], cfg["train"]["adam_beta2"]
    path.write_text(json.dumps(cfg))
    assert read_run_config(d)[2].lr_schedule == "constant" and read_run_config(d)[2].adam_beta2 == 0.999


def test_decoder_starts_at_the_mean_image():
    model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
    mean = torch.linspace(0.0, 1.0, 16).reshape(1, 4, 4)
    model.init_output_bias(mean)
    with torch.no_grad():
        for layer in model.decoder:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.zero_()
        p = model.mean(torch.zeros(1, 2))[0]
    assert torch.allclose(p, mean.clamp(1e-3, 1 - 1e-3), atol=1e-6)


def test_learned_sigma_decoder_gets_the_mean_half_only():
    model = VAE(VAEConfig(hidden=(8,), latent_dim=2, likelihood="gaussian-learned", image_shape=(1, 2, 2)))
    before = model.decoder[-1].bias.detach().clone()
    model.init_output_bias(torch.full((1, 2, 2), 0.5))
    after = model.decoder[-1].bias.detach()
    assert torch.allclose(after[:4], torch.zeros(4), atol=1e-7) and torch.equal(after[4:], before[4:])


def test_the_validation_split_is_fixed_disjoint_and_the_test_set_is_read_once(tmp_path, monkeypatch):
    import klvae.runs.vae.job as runs_vae
    from klvae.data.datasets import load_dataset
    from klvae.runs.vae.job import validation_split

    x = load_dataset("digits").x_train
    a_train, a_val = validation_split(x, 0.2)
    b_train, b_val = validation_split(x, 0.2)
    assert torch.equal(a_val, b_val) and (len(a_train), len(a_val)) == (1150, 287)  # the same in every run
    rows = {tuple(r.tolist()) for r in x.flatten(1)}
    assert {tuple(r.tolist()) for r in torch.cat([a_train, a_val]).flatten(1)} == rows  # nothing lost
    assert validation_split(x, 0.0)[1].shape[0] == 0
    reads = []
    evaluate = runs_vae.evaluate_vae_per_image

    def counted(m, xt, **k):
        reads.append(len(xt))
        return evaluate(m, xt, **k)

    monkeypatch.setattr(runs_vae, "evaluate_vae_per_image", counted)
    d, metrics = run(tmp_path, epochs=2, val_size=None)  # the default share: a fifth of the digits
    lines = [json.loads(s) for s in (d / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [9, 18] and all("val_elbo" in r and "test_elbo" not in r for r in lines)
    assert reads == [360]  # the test set, once, at the end
    data = json.loads((d / "config.json").read_text())["data"]
    assert (data["n_train"], data["n_val"], data["n_test"]) == (1150, 287, 360)
    with pytest.raises(ValueError, match=r"val_size must lie in \[0, 1\)"):
        TrainConfig(val_size=1.0)
