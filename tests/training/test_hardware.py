"""Precision and memory (`klvae.training.hardware`): `auto` precision, bf16 autocast training (matmuls in
bf16, the objective in fp32 and right), and freed memory reused instead of faulted in again."""

import json
import math
import time

import pytest
import torch

from klvae.cli import main
from klvae.runs.vae.job import train_vae
from klvae.training.config import TrainConfig
from klvae.training.hardware import resolve_amp
from klvae.vae import VAE, ELBOConfig, VAEConfig, load_run, vae_loss


def digits_run(tmp, amp, seed=0):
    return train_vae(
        VAEConfig(hidden=(64,), latent_dim=4),
        ELBOConfig(iw_k=50),
        TrainConfig(out=str(tmp), epochs=25, seed=seed, amp=amp, threads=1),
        figures=False,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return {amp: digits_run(tmp_path_factory.mktemp(amp), amp) for amp in ("none", "bf16")}


def test_bf16_training_matches_fp32_on_digits(runs):
    (d32, m32), (d16, m16) = runs["none"], runs["bf16"]
    w32, w16 = load_run(d32).state_dict(), load_run(d16).state_dict()
    assert all(w.dtype == torch.float32 for w in w16.values())  # fp32 master weights
    assert any(not torch.allclose(w32[k], w16[k], atol=1e-6) for k in w32)  # bf16 products really ran
    # the same seed gives the same test ELBO and IW-NLL (both evaluated in fp32) within 0.5 nat,
    # on models that learned: the ELBO improved by far more than that from its start
    assert abs(m16["test_elbo"] - m32["test_elbo"]) < 0.5
    assert abs(m16["test_iw_nll"] - m32["test_iw_nll"]) < 0.5
    assert m16["test_elbo"] > -30  # an untrained model of the 64 binarized pixels is near −44 nats


def test_under_autocast_the_matmuls_are_bf16_and_the_loss_fp32():
    torch.manual_seed(0)
    model = VAE(VAEConfig(hidden=(32,), latent_dim=3, image_shape=(1, 6, 6)))
    x = torch.rand(16, 1, 6, 6).bernoulli()
    seen = []
    model.encoder[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with torch.random.fork_rng():
        loss32, recon32, kl32 = vae_loss(model, x)
    with torch.random.fork_rng(), torch.autocast("cpu", dtype=torch.bfloat16):
        loss16, recon16, kl16 = vae_loss(model, x)
        mu, logvar = model.encode(x)
    assert seen == [torch.float32, torch.bfloat16, torch.bfloat16]
    assert loss16.dtype == recon16.dtype == kl16.dtype == mu.dtype == logvar.dtype == torch.float32
    # bf16 keeps 8 significant bits: the loss agrees with fp32 to a few parts in a thousand
    assert float(loss16.detach()) == pytest.approx(float(loss32.detach()), rel=1e-2)
    assert float(kl16.detach()) == pytest.approx(float(kl32.detach()), rel=5e-2, abs=1e-2)


def test_amp_flag_errors_and_is_recorded(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--amp", "fp16", "--out", str(tmp_path / "bad")])
    assert exc.value.code == 2 and "unknown --amp 'fp16'" in capsys.readouterr().err
    out = tmp_path / "r"
    assert main(["train", "--out", str(out), "--epochs", "1", "--hidden", "16", "--iw-k", "4", "--amp", "bf16"]) == 0
    assert json.loads((out / "config.json").read_text())["train"]["amp"] == "bf16"
    assert math.isfinite(json.loads((out / "metrics.json").read_text())["test_iw_nll"])


def test_auto_precision(monkeypatch):
    small = VAE(VAEConfig(image_shape=(1, 8, 8)))
    big = VAE(VAEConfig(image_shape=(1, 28, 28)))
    cpu = torch.device("cpu")
    assert resolve_amp("none", cpu, big) == "none" and resolve_amp("bf16", cpu, small) == "bf16"
    assert resolve_amp("auto", cpu, small) == "none"
    monkeypatch.setattr("klvae.training.hardware.cpu_has_bf16", lambda: True)
    assert resolve_amp("auto", cpu, big) == "bf16"
    monkeypatch.setattr("klvae.training.hardware.cpu_has_bf16", lambda: False)
    assert resolve_amp("auto", cpu, big) == "none"


def test_freed_memory_is_reused_instead_of_faulted_in_again():
    import platform
    import resource

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    from klvae.training.hardware import keep_freed_memory

    assert keep_freed_memory()
    torch.empty(4 << 20, dtype=torch.uint8).fill_(1)  # 4 MB: above glibc's default mmap threshold
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        torch.empty(4 << 20, dtype=torch.uint8).fill_(1)  # freed and allocated again, as in a training step
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 2000, faults  # each block's 1024 pages come back from the heap: not 20 × 1024 faults


def test_busy_cpus_counts_other_runnable_processes():
    import subprocess
    import sys

    from klvae.training.hardware import busy_cpus

    quiet = busy_cpus()
    loop = "import time\nend = time.time() + 3\nwhile time.time() < end: pass"
    spin = [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(2)]
    try:
        time.sleep(0.5)
        assert busy_cpus(samples=9) >= min(quiet + 1, 2)  # the two spinning processes are seen
    finally:
        for p in spin:
            p.kill()
            p.wait()


def test_large_models_leave_the_busy_cpus_alone(monkeypatch):
    import os

    import klvae.training.hardware as hardware

    big = torch.nn.Linear(1000, 300)  # 300 300 parameters
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(torch, "get_num_threads", lambda: cores)
    monkeypatch.setattr(hardware, "busy_cpus", lambda: 0)
    assert hardware.default_threads(big) == cores
    monkeypatch.setattr(hardware, "busy_cpus", lambda: cores - 1)
    assert hardware.default_threads(big) == 1
    monkeypatch.setattr(hardware, "busy_cpus", lambda: 3 * cores)
    assert hardware.default_threads(big) == 1  # never fewer than one
    assert hardware.default_threads(torch.nn.Linear(10, 10)) == 1  # small: one thread whatever the load
