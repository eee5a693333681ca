"""Several processes on torch.distributed (gloo on CPU): the same answer as one process, restarts
after a killed worker, and the GPU settings as far as a CPU can check them.

Two real processes are started on 127.0.0.1 only. The data are the bundled digits with 1409
training images: 11 global batches of 128, then one of a single image, so the last step of
each epoch gives rank 1 an empty shard (the gradient weighting is tested at its edge).
"""

import json
import os
import re
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from ddp_worker import family_run
from klvae.cli import build_parser
from klvae.runs.vae.job import train_vae
from klvae.training import data_parallel, distributed
from klvae.training.config import TrainConfig
from klvae.training.hardware import resolve_device
from klvae.training.loop import fit
from klvae.vae import VAE, ELBOConfig, VAEConfig, load_run

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "tests" / "ddp_worker.py"
N_TRAIN = 1409  # = 11·128 + 1
TIMEOUT = 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(**extra) -> dict:
    e = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RESTART_COUNT"):
        e.pop(k, None)
    return {**e, **extra}


def epochs_of(run):
    return [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]


def check(proc):
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err.decode()[-3000:]
    return err.decode()


def torchrun(out, args, **extra) -> subprocess.Popen:
    """2 workers of WORKER under torchrun's agent, restarted once if one dies; checkpoints every 5 steps."""
    command = "--nnodes 1 --nproc-per-node 2 --max-restarts 1 --monitor-interval 0.1 --rdzv-backend c10d".split()
    command += ["--rdzv-endpoint", f"127.0.0.1:{free_port()}"]
    return subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", *command, str(WORKER), str(out), *args, "ckpt_steps=5"],
        env=env(**extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from klvae.data.datasets import load_dataset

    d = load_dataset("digits")
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    assert d.y_train is not None and d.y_test is not None  # the digits are labelled
    np.savez(
        path,
        x_train=d.x_train[:N_TRAIN].numpy(),
        x_test=d.x_test.numpy(),
        y_train=d.y_train[:N_TRAIN].numpy(),
        y_test=d.y_test.numpy(),
    )
    return path


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    """Starts both 2-process jobs at once (they wait on each other's imports, not on each other)."""
    root = tmp_path_factory.mktemp("runs")
    marks, save_marks = root / "marks", root / "save_marks"
    marks.mkdir()
    save_marks.mkdir()
    args = ["epochs=2", f"data={data}"]
    port = free_port()  # two processes with torchrun's variables, without its agent
    plain = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(root / "two"), *args],
            env=env(
                RANK=str(r),
                LOCAL_RANK=str(r),
                WORLD_SIZE="2",
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=str(port),
                KLVAE_TEST_UNSYNCED=str(root / "unsynced.txt"),
                KLVAE_TEST_FAMILY=str(root / "family_two"),
                KLVAE_TEST_GAN=str(root / "gan"),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for r in range(2)
    ]
    killed = torchrun(root / "killed", args, KLVAE_TEST_KILL_STEP="17", KLVAE_TEST_MARKS=str(marks))
    in_save = torchrun(root / "in_save", args, KLVAE_TEST_KILL_IN_SAVE="2", KLVAE_TEST_MARKS=str(save_marks))
    _, one = train_vae(
        VAEConfig(hidden=(32,), latent_dim=4),
        ELBOConfig(iw_k=20),
        TrainConfig(out=str(root / "one"), epochs=2, log_every=5, data=str(data), val_size=0.0),
        figures=False,
    )
    train_vae(*family_run(str(root / "family_one"), {"epochs": 2, "data": str(data)}), figures=False)
    for p in plain:
        check(p)
    log = check(killed)
    (root / "in_save.log").write_text(check(in_save))
    return root, log


def test_two_processes_match_one_process(runs):
    root, _ = runs
    one, two = root / "one", root / "two"
    a, b = epochs_of(one), epochs_of(two)
    assert [r["step"] for r in b] == [12, 24]  # 12 global batches per epoch, not 12 per process
    for ra, rb in zip(a, b):  # the loss curve, all-reduced over the ranks
        for key in ("train_loss", "train_recon", "train_kl"):
            assert rb[key] == pytest.approx(ra[key], rel=1e-6, abs=1e-7), key
    wa, wb = load_run(one).state_dict(), load_run(two).state_dict()
    for k in wa:  # a plain average of the two shards' gradients would be ~1e-3 off here
        torch.testing.assert_close(wb[k], wa[k], rtol=1e-5, atol=1e-6)
    ma, mb = (json.loads((r / "metrics.json").read_text()) for r in (one, two))
    assert mb["processes"] == 2 and ma["processes"] == 1
    assert mb["test_iw_nll"] == pytest.approx(ma["test_iw_nll"], rel=1e-5)
    assert mb["train_samples_per_second"] > 0 and mb["steps"] == 24


def test_iwae_with_dreg_on_a_conditional_vae_matches_one_process(runs):
    root, _ = runs
    one, two = root / "family_one", root / "family_two"
    for ra, rb in zip(epochs_of(one), epochs_of(two)):
        for key in ("train_loss", "train_recon", "train_kl"):
            assert rb[key] == pytest.approx(ra[key], rel=1e-6, abs=1e-7), key
    wa, wb = load_run(one).state_dict(), load_run(two).state_dict()
    for k in wa:
        torch.testing.assert_close(wb[k], wa[k], rtol=1e-5, atol=1e-6)


def test_a_task_that_does_not_synchronise_gradients_is_stopped(runs):
    root, _ = runs
    assert (root / "unsynced.txt").read_text() == (
        "the weights of m differ between processes after the first step: its task does not synchronise "
        "gradients (call the module through klvae.training.data_parallel.wrap)"
    )


def test_the_gan_trains_on_two_processes_and_all_ranks_stop_on_the_time_budget(runs):
    root, _ = runs
    metrics = json.loads((root / "gan" / "metrics.json").read_text())
    assert metrics["processes"] == 2 and metrics["stopped"] == "max_seconds"  # no rank left waiting
    assert metrics["steps"] % 20 == 0  # the stop is agreed at a host sync (every --log-every steps)
    assert 0 <= metrics["modes"] <= 8
    assert epochs_of(root / "gan") == []  # the epoch never finished


def test_a_killed_worker_restarts_from_the_checkpoint_and_ends_as_if_never_killed(runs):
    root, log = runs
    marks = sorted(p.name for p in (root / "marks").iterdir())
    assert marks == [
        "attempt0-rank0",
        "attempt0-rank1",
        "attempt1-rank0",
        "attempt1-rank1",
        "killed-attempt0-rank1-step17",
    ]
    # torchrun saw a worker die by a signal (the killed one, -9, or its peer aborting in gloo, -6) and restarted
    assert re.search(r"exitcode: -(9|6)\b", log)
    killed, two = root / "killed", root / "two"
    wk, w2 = load_run(killed).state_dict(), load_run(two).state_dict()
    assert all(torch.equal(wk[k], w2[k]) for k in w2)  # resumed from step 15, bit for bit
    mk, m2 = (json.loads((r / "metrics.json").read_text()) for r in (killed, two))
    for key in ("test_elbo", "test_iw_nll", "test_recon_nll", "test_kl", "active_units", "steps", "epochs"):
        assert mk[key] == m2[key], key
    a, b = epochs_of(killed), epochs_of(two)
    assert [r["epoch"] for r in a] == [1, 2]
    for ra, rb in zip(a, b):  # epoch 2's sums crossed the restart: same up to the order of additions
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-12)
    assert not [p.name for p in killed.iterdir() if p.name.endswith(".tmp")]  # writes are atomic


def test_a_worker_killed_inside_a_checkpoint_write_resumes_from_the_last_whole_one(runs):
    root, _ = runs
    assert "killed-attempt0-rank0-save2" in [p.name for p in (root / "save_marks").iterdir()]
    assert re.search(r"exitcode: -(9|6)\b", (root / "in_save.log").read_text())  # torchrun saw it and restarted
    in_save, two = root / "in_save", root / "two"
    wk, w2 = load_run(in_save).state_dict(), load_run(two).state_dict()
    assert all(torch.equal(wk[k], w2[k]) for k in w2)  # the torn write was never read
    mk, m2 = (json.loads((r / "metrics.json").read_text()) for r in (in_save, two))
    assert (mk["steps"], mk["test_elbo"]) == (m2["steps"], m2["test_elbo"])
    assert not [p.name for p in in_save.iterdir() if p.name.endswith(".tmp")]  # the restart removed it


class Recorder:
    """A Task that records the autocast state and the shard inside each step."""

    def __init__(self):
        self.w = torch.nn.Parameter(torch.zeros(3))
        self.modules = {"m": torch.nn.Module()}
        self.modules["m"].w = self.w
        self.optimizers = {"m": torch.optim.SGD([self.w], lr=0.1)}
        self.seen = []

    def train_step(self, x, y, step, epoch):
        s = data_parallel.current_shard()
        self.seen.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu"), s.size, s.step))
        return {"loss": (x.sum() * 0 + self.w.sum()).detach()}

    def end_epoch(self, epoch):
        return {}


def test_amp_bf16_autocasts_each_step_and_none_does_not(tmp_path):
    x = torch.rand(10, 3)
    for amp, enabled in (("bf16", True), ("none", False)):
        task = Recorder()
        fit(task, x, None, TrainConfig(epochs=1, batch_size=4, amp=amp), tmp_path / amp)
        assert [s[0] for s in task.seen] == [enabled] * 3
        assert [s[2:] for s in task.seen] == [(4, 0), (4, 1), (2, 2)]  # global batch sizes and steps
        if enabled:
            assert task.seen[0][1] == torch.bfloat16


def test_amp_bf16_trains_the_vae_close_to_float32(runs, tmp_path):
    root, _ = runs
    data = json.loads((root / "one" / "config.json").read_text())["train"]["data"]
    _, _ = train_vae(
        VAEConfig(hidden=(32,), latent_dim=4),
        ELBOConfig(iw_k=5),
        TrainConfig(out=str(tmp_path), epochs=1, log_every=5, data=data, amp="bf16"),
        figures=False,
    )
    fp32, bf16 = epochs_of(root / "one")[0], epochs_of(tmp_path)[0]
    assert bf16["train_loss"] == pytest.approx(fp32["train_loss"], rel=2e-2)
    assert bf16["train_loss"] != fp32["train_loss"]  # bfloat16 really ran


def test_the_global_batch_must_split_evenly(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(
        ValueError, match="batch_size 127 is not divisible by the 2 processes: --batch-size is the global batch"
    ):
        fit(Recorder(), torch.rand(10, 3), None, TrainConfig(batch_size=127), tmp_path)


def test_an_empty_shard_gives_a_zero_finite_gradient():
    from klvae.runs.vae.task import TrainingLoss

    vae = VAE(VAEConfig(hidden=(8,), latent_dim=2, image_shape=(1, 4, 4)))
    for objective in (ELBOConfig(), ELBOConfig(objective="iwae", k_train=3, dreg=True), ELBOConfig(tc_beta=4.0)):
        model = TrainingLoss(vae, objective, n_data=10)
        model.zero_grad()
        k = objective.k_train or 1
        out = model(torch.zeros(0, 1, 4, 4), None, torch.tensor(1.0), torch.zeros(k, 0, 2))
        out["loss"].backward()  # its loss is the mean of nothing (NaN); the loop counts it with weight 0
        assert all(p.grad is None or torch.equal(p.grad, torch.zeros_like(p)) for p in model.parameters())


def test_cuda_means_the_gpu_of_local_rank_and_nccl(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(("set_device", d)))
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda backend: calls.append(("init", backend)))
    monkeypatch.setattr(torch.distributed, "destroy_process_group", lambda: calls.append(("destroy",)))
    monkeypatch.setattr(torch.distributed, "barrier", lambda: calls.append(("barrier",)))
    for k, v in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(k, v)
    assert resolve_device("cuda") == torch.device("cuda", 1)
    with distributed.setup(torch.device("cuda")) as (ctx, device):
        assert device == torch.device("cuda", 1) and ctx.rank == 1 and not ctx.is_main
    assert calls == [("set_device", torch.device("cuda", 1)), ("init", "nccl"), ("barrier",), ("destroy",)]
    calls.clear()
    with distributed.setup(torch.device("cpu")) as (ctx, device):
        assert device == torch.device("cpu")
    assert calls == [("init", "gloo"), ("barrier",), ("destroy",)]  # all ranks at the end before any closes
    calls.clear()
    with pytest.raises(RuntimeError, match="mid-run"), distributed.setup(torch.device("cpu")):
        raise RuntimeError("mid-run")
    assert calls == [("init", "gloo"), ("destroy",)]  # no barrier a failed peer would never reach


def test_compile_amp_and_ckpt_steps_flags_reach_the_configs(monkeypatch):
    from klvae.cli.vae_commands import _configs
    from klvae.runs.vae.task import TrainingLoss, VAETask

    args = build_parser()[0].parse_args(["train", "--compile", "--amp", "bf16", "--ckpt-steps", "7"])
    _, _, train = _configs(args)
    assert (train.compile, train.amp, train.ckpt_steps) == (True, "bf16", 7)
    _, _, default = _configs(build_parser()[0].parse_args(["train"]))
    assert (default.compile, default.amp, default.ckpt_steps) == (False, "auto", None)
    model = VAE(VAEConfig(hidden=(8,), latent_dim=2, image_shape=(1, 4, 4)))
    monkeypatch.setattr(torch, "compile", lambda m: ("compiled", m))  # wired, not run: compiling takes a minute
    train = TrainConfig(lr=1e-3, adam_beta1=0.9, adam_beta2=0.95)
    kind, module = VAETask(model, ELBOConfig(), replace(train, compile=True), torch.rand(3, 1, 4, 4)).loss
    assert kind == "compiled" and isinstance(module, TrainingLoss) and module.model is model
    assert isinstance(VAETask(model, ELBOConfig(), train, torch.rand(3, 1, 4, 4)).loss, TrainingLoss)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("ckpt_steps", 0, "ckpt_steps must be at least 1, got 0"),
        ("amp", "fp16", "amp must be 'auto', 'none' or 'bf16', got 'fp16'"),
    ],
)
def test_train_config_rejects(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})
