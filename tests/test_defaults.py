"""The VAE's defaults: the learning-rate schedule, the size-dependent settings, "auto" precision,
the decoder's starting bias and the training-time budget."""

import json
import math
import time

import pytest
import torch

from klvae.hardware import resolve_amp
from klvae.optim import lr_factor
from klvae.runs.vae import read_run_config, train_vae
from klvae.train import TrainConfig
from klvae.vae import VAE, ELBOConfig, VAEConfig, size_defaults


def run(tmp, hooks=(), epochs=2, **train):
    """A quick digits run (12 steps per epoch, a 32-unit MLP)."""
    return train_vae(VAEConfig(hidden=(32,), latent_dim=4), ELBOConfig(iw_k=5),
                     TrainConfig(out=str(tmp), epochs=epochs, log_every=5, **train), hooks=hooks, figures=False)


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


def test_under_a_time_budget_the_rate_decays_over_the_seconds(tmp_path):
    seen, hook = lr_log()

    def slow(task, state):
        time.sleep(0.01)
    _, metrics = run(tmp_path, hooks=(hook, slow), epochs=10_000, lr=1e-3, max_seconds=0.6)
    assert metrics["stopped"] == "max_seconds"
    assert all(a >= b for a, b in zip(seen, seen[1:]))  # never rises
    assert seen[0] > 0.9e-3  # the step share of 10 000 epochs is negligible: the seconds drive it
    assert seen[-1] < 0.3e-3  # the last step ran near the end of the budget


def test_the_budget_counts_the_whole_run_across_resumes(tmp_path):
    _, first = run(tmp_path, epochs=10_000, max_seconds=0.3)
    assert first["stopped"] == "max_seconds"
    _, again = train_vae(VAEConfig(), ELBOConfig(),
                         TrainConfig(resume=str(tmp_path), epochs=10_000, max_seconds=0.3), figures=False)
    assert again["stopped"] == "max_seconds" and again["steps"] == first["steps"]  # budget already spent


def test_lr_factor_formula():
    assert lr_factor("linear", 10 / 100, 50 / 100) == pytest.approx(0.5)  # seconds ahead of steps
    assert lr_factor("linear", 80 / 100, 50 / 100) == pytest.approx(0.2)  # steps ahead of seconds
    assert lr_factor("linear", 1.0, 5.0) == 0.0  # never negative
    assert lr_factor("constant", 0.99, 1e7) == 1.0
    for share in (0.0, 0.1, 0.37, 0.5, 0.9, 1.0, 3.0):  # cosine against its formula, capped at the end
        assert lr_factor("cosine", share) == pytest.approx(0.5 * (1 + math.cos(math.pi * min(share, 1.0))), abs=1e-15)
    with pytest.raises(ValueError, match="schedule must be one of"):
        lr_factor("step", 0.5)


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
    d, _ = run(tmp_path, hooks=(lambda task, state: betas.append(task.optimizers["vae"].param_groups[0]["betas"]),),
               epochs=1, adam_beta2=0.9)
    assert set(betas) == {(0.9, 0.9)}
    assert json.loads((d / "config.json").read_text())["train"]["adam_beta2"] == 0.9


def test_the_gan_takes_its_optimizer_settings_from_the_loop(tmp_path):
    from klvae.gan import GANConfig
    from klvae.runs.gan import train_gan

    seen = []
    hook = lambda task, state: seen.append(  # noqa: E731
        [(g["betas"], g["weight_decay"], g["lr"]) for opt in task.optimizers.values() for g in opt.param_groups])
    train_gan(GANConfig(g_hidden=8, d_hidden=8), TrainConfig(data="ring8", out=str(tmp_path), epochs=1,
              adam_beta2=0.9, weight_decay=1e-4, max_seconds=0.3), hooks=(hook,), figures=False)
    assert {b for step in seen for b, _, _ in step} == {(0.5, 0.9)}  # β1 the GAN's default, β2 as given
    assert {w for step in seen for _, w, _ in step} == {1e-4}
    rates = [step[0][2] for step in seen]
    assert rates[-1] < rates[0] <= 1e-3  # the loop's linear decay over the time budget
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["train"]["adam_beta1"] == 0.5 and "beta1" not in cfg["gan"] and "lr_decay" not in cfg["gan"]


def test_gan_runs_saved_with_their_own_betas_and_decay_read_into_the_loop(tmp_path):
    from klvae.runs.gan import read_run_config

    (tmp_path / "config.json").write_text(json.dumps({
        "gan": {"loss": "wasserstein", "beta1": 0.4, "beta2": None, "lr_decay": False},
        "train": {"data": "ring8", "epochs": 8, "lr_schedule": "constant", "adam_beta2": None}}))
    gan, train = read_run_config(tmp_path)
    assert gan.loss == "wasserstein" and (train.adam_beta1, train.adam_beta2) == (0.4, 0.9)
    assert train.lr_schedule == "constant"


def test_runs_saved_before_the_schedule_read_as_constant_rate_and_torch_beta2(tmp_path):
    d, _ = run(tmp_path, epochs=1)
    path = d / "config.json"
    cfg = json.loads(path.read_text())
    del cfg["train"]["lr_schedule"], cfg["train"]["adam_beta2"]
    path.write_text(json.dumps(cfg))
    assert read_run_config(d)[2].lr_schedule == "constant" and read_run_config(d)[2].adam_beta2 == 0.999


def test_auto_precision(monkeypatch):
    small = VAE(VAEConfig(image_shape=(1, 8, 8)))
    big = VAE(VAEConfig(image_shape=(1, 28, 28)))
    cpu = torch.device("cpu")
    assert resolve_amp("none", cpu, big) == "none" and resolve_amp("bf16", cpu, small) == "bf16"
    assert resolve_amp("auto", cpu, small) == "none"
    monkeypatch.setattr("klvae.hardware.cpu_has_bf16", lambda: True)
    assert resolve_amp("auto", cpu, big) == "bf16"
    monkeypatch.setattr("klvae.hardware.cpu_has_bf16", lambda: False)
    assert resolve_amp("auto", cpu, big) == "none"


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


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr_schedule="step"), "lr_schedule must be one of"),
    (dict(adam_beta1=-0.1), r"adam_beta1 must lie in \[0, 1\)"),
    (dict(weight_decay=-1.0), "weight_decay must be non-negative"),
    (dict(seed=-1), "seed must be non-negative"),
    (dict(amp="fp16"), "amp must be 'auto', 'none' or 'bf16'"),
    (dict(adam_beta2=1.0), r"adam_beta2 must lie in \[0, 1\)"),
])
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_freed_memory_is_reused_instead_of_faulted_in_again():
    import platform
    import resource

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    from klvae.hardware import keep_freed_memory

    assert keep_freed_memory()
    torch.empty(4 << 20, dtype=torch.uint8).fill_(1)  # 4 MB: above glibc's default mmap threshold
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        torch.empty(4 << 20, dtype=torch.uint8).fill_(1)  # freed and allocated again, as in a training step
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 2000, faults  # each block's 1024 pages come back from the heap: not 20 × 1024 faults
