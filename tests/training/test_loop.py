"""The training loop: resume is exact, Ctrl-C saves a resumable checkpoint, NaN stops cleanly."""

import hashlib
import json
import os
import signal
from dataclasses import replace

import pytest
import torch
from safetensors import safe_open

from klvae.runs.vae.job import train_vae
from klvae.training.checkpoint import load_checkpoint
from klvae.training.config import TrainConfig
from klvae.training.loop import fit
from klvae.training.task import NonFiniteLossError, TrainingInterrupted
from klvae.vae import ELBOConfig, VAEConfig, load_run, size_defaults


def small(tmp, epochs=3, **train):
    """A quick digits run: all 1437 images (no validation split), 12 steps per epoch, a 32-unit
    MLP, k = 20 for the final IW estimate."""
    return (
        VAEConfig(hidden=(32,), latent_dim=4),
        ELBOConfig(iw_k=20),
        TrainConfig(out=str(tmp), epochs=epochs, log_every=5, **{"val_size": 0.0, **train}),
    )


def run(tmp, epochs=3, hooks=(), **train):
    return train_vae(*small(tmp, epochs, **train), hooks=hooks, figures=False)


def weights(run_dir):
    return load_run(run_dir).state_dict()


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 3-epoch run."""
    d = tmp_path_factory.mktemp("ref")
    _, metrics = run(d)
    return d, metrics


def test_run_folder_and_metrics(reference):
    d, metrics = reference
    lines = [json.loads(s) for s in (d / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    assert lines[-1]["step"] == 3 * 12  # ⌈1437 / 128⌉ = 12 steps per epoch
    for key in ("train_loss", "train_recon", "train_kl"):
        assert all(isinstance(r[key], float) for r in lines)
    assert not any("val_elbo" in r or "test_elbo" in r for r in lines)  # no validation set, test read once
    assert lines[-1]["train_loss"] == pytest.approx(lines[-1]["train_recon"] + lines[-1]["train_kl"])
    for key in (
        "test_elbo",
        "test_iw_nll",
        "iw_k",
        "active_units",
        "kl_per_dim",
        "train_seconds",
        "train_samples_per_second",
        "epochs",
    ):
        assert key in metrics
    assert metrics["epochs"] == 3 and metrics["iw_k"] == 20
    assert json.loads((d / "metrics.json").read_text())["test_elbo"] == metrics["test_elbo"]
    assert {"vae", "objective", "train", "data"} <= json.loads((d / "config.json").read_text()).keys()


def test_checkpoint_is_one_safetensors_file_with_everything(reference):
    d, _ = reference
    with safe_open(str(d / "checkpoint.safetensors"), "pt") as f:
        keys, meta = set(f.keys()), f.metadata()
        rng = f.get_tensor("rng/cpu")
    assert rng.dtype == torch.uint8
    assert any(k.startswith("module/vae/") for k in keys)
    assert {"optim/vae/0/exp_avg", "optim/vae/0/exp_avg_sq", "optim/vae/0/step"} <= keys
    loop = json.loads(meta["loop"])
    assert loop["epoch"] == 3 and loop["step"] == 36
    group = json.loads(meta["optim/vae"])["param_groups"][0]
    assert group["initial_lr"] == size_defaults((1, 8, 8))["lr"]  # the digits' default rate
    assert group["lr"] == pytest.approx(group["initial_lr"] / 36)  # linear decay: the last of 36 steps
    assert json.loads(meta["config"])["vae"]["latent_dim"] == 4


def test_resume_with_more_epochs_ends_where_an_uninterrupted_run_ends(tmp_path):
    # (with a constant rate: a linear decay is planned over the epochs, so more epochs change it)
    d, metrics = run(tmp_path / "a", epochs=3, lr_schedule="constant")
    run(tmp_path / "b", epochs=2, lr_schedule="constant")
    _, resumed = train_vae(
        VAEConfig(), ELBOConfig(), TrainConfig(epochs=3, log_every=5, resume=str(tmp_path / "b")), figures=False
    )  # the configs of the run folder win over the ones passed
    d, tmp_path = tmp_path / "a", tmp_path / "b"
    assert same_weights(weights(d), weights(tmp_path))
    assert resumed["test_elbo"] == metrics["test_elbo"]
    assert resumed["test_iw_nll"] == metrics["test_iw_nll"]
    a = [json.loads(s) for s in (d / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(s) for s in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    strip = lambda r: {k: v for k, v in r.items() if k != "train_seconds"}  # noqa: E731
    assert [strip(r) for r in a] == [strip(r) for r in b]


def test_keyboard_interrupt_mid_epoch_saves_a_checkpoint_that_resumes_exactly(reference, tmp_path):
    d, metrics = reference

    def stop(task, state):
        if state.step == 17:  # in the middle of epoch 2
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted, match="interrupted at epoch 2, step 17"):
        run(tmp_path, hooks=(stop,))
    _, meta = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert json.loads(meta["loop"])["step"] == 17 and json.loads(meta["loop"])["batch"] == 5
    _, resumed = train_vae(
        VAEConfig(), ELBOConfig(), TrainConfig(epochs=3, log_every=5, resume=str(tmp_path)), figures=False
    )
    assert same_weights(weights(d), weights(tmp_path))
    assert resumed["test_elbo"] == metrics["test_elbo"]
    lines = [json.loads(s) for s in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    ref = [json.loads(s) for s in (d / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    assert lines[1]["train_loss"] == pytest.approx(ref[1]["train_loss"], rel=1e-12)  # partial sums kept


def test_sigint_stops_at_a_step_boundary(tmp_path):
    def ctrl_c(task, state):
        if state.step == 8:
            os.kill(os.getpid(), signal.SIGINT)  # the real signal, through the loop's handler

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted):
        run(tmp_path, hooks=(ctrl_c,))
    _, meta = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert json.loads(meta["loop"])["step"] == 8
    assert signal.getsignal(signal.SIGINT) is before  # the loop's handler is removed again


def test_nan_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    seen = {}

    def poison(task, state):
        if state.step == 15:  # in epoch 2, after the epoch-1 checkpoint
            seen["digest"] = digest(tmp_path / "checkpoint.safetensors")
            with torch.no_grad():
                next(iter(task.modules["vae"].parameters())).fill_(float("nan"))

    with pytest.raises(
        NonFiniteLossError,
        match=r"loss became nan at epoch 2, step 16; training stopped\. "
        r"The last good checkpoint \(epoch 1, step 12\) is kept",
    ):
        run(tmp_path, hooks=(poison,))
    assert digest(tmp_path / "checkpoint.safetensors") == seen["digest"]
    _, meta = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert json.loads(meta["loop"])["epoch"] == 1
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1


def test_huge_learning_rate_is_caught(tmp_path):
    with pytest.raises(NonFiniteLossError, match="training stopped.*Try a smaller --lr"):
        run(tmp_path, lr=1e30)


def test_max_seconds_stops_and_still_evaluates(tmp_path):
    _, metrics = run(tmp_path, epochs=10_000, max_seconds=0.5)
    assert metrics["stopped"] == "max_seconds" and metrics["epochs"] < 10_000
    assert (tmp_path / "model.safetensors").is_file() and "test_iw_nll" in metrics


class CountingTask:
    """A Task with no model at all: records the batches it is given."""

    def __init__(self):
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.modules = {"m": torch.nn.Module()}
        self.modules["m"].w = self.w
        self.optimizers = {"m": torch.optim.SGD([self.w], lr=0.1)}
        self.batches = []

    def train_step(self, x, y, step, epoch):
        self.batches.append((x.clone(), None if y is None else y.clone(), epoch))
        return {"loss": x.sum().detach()}

    def end_epoch(self, epoch):
        return {}


def test_each_epoch_visits_every_example_once_in_a_seeded_order(tmp_path):
    x = torch.arange(10.0)[:, None]
    y = torch.arange(10)
    a = CountingTask()
    fit(a, x, y, TrainConfig(epochs=2, batch_size=4, seed=7), tmp_path / "a")
    assert len(a.batches) == 6 and [len(b[0]) for b in a.batches[:3]] == [4, 4, 2]
    first = torch.cat([b[0][:, 0] for b in a.batches[:3]])
    second = torch.cat([b[0][:, 0] for b in a.batches[3:]])
    assert sorted(first.tolist()) == list(range(10)) and not torch.equal(first, second)
    assert all(torch.equal(b[0][:, 0].long(), b[1]) for b in a.batches)  # labels follow their images
    assert [b[2] for b in a.batches[:3]] == pytest.approx([0, 1 / 3, 2 / 3])
    b = CountingTask()
    fit(b, x, y, TrainConfig(epochs=2, batch_size=4, seed=7), tmp_path / "b")
    assert all(torch.equal(p[0], q[0]) for p, q in zip(a.batches, b.batches))


def test_resume_without_checkpoint_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint.safetensors is missing: nothing to resume"):
        train_vae(VAEConfig(), ELBOConfig(), TrainConfig(resume=str(tmp_path)), figures=False)


def test_damaged_checkpoint_is_named(tmp_path):
    (tmp_path / "checkpoint.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="checkpoint.safetensors is not a readable checkpoint"):
        load_checkpoint(tmp_path / "checkpoint.safetensors")


# --------------------------------------------------------------------------- progress bar


def test_the_losses_reach_the_listeners_every_sync_and_every_epoch(tmp_path):
    """12 steps an epoch with log_every = 50: the values still come at every epoch's end."""
    seen = {"values": [], "epochs": []}

    class Listener:
        def __call__(self, task, state):
            pass

        def log_values(self, step, values):
            seen["values"].append((step, sorted(values)))

        def log_epoch(self, epoch, record):
            seen["epochs"].append((epoch, "train_loss" in record))

    vae, objective, train = small(tmp_path, epochs=2)
    train_vae(vae, objective, replace(train, log_every=50), hooks=(Listener(),), figures=False)
    assert seen["values"] == [(12, ["kl", "loss", "recon"]), (24, ["kl", "loss", "recon"])]
    assert seen["epochs"] == [(1, True), (2, True)]
