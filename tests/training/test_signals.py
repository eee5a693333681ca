"""Stop requests (`klvae.training.signals`): Ctrl-C and SIGTERM, however many and wherever they land,
stop at a step boundary with a whole-step checkpoint that resumes exactly."""

import io
import json
import os
import signal
import sys
import threading

import pytest
import torch

from klvae.runs.vae.job import train_vae
from klvae.runs.vae.task import VAETask
from klvae.training.checkpoint import load_checkpoint
from klvae.training.config import TrainConfig
from klvae.training.signals import StopSignals
from klvae.training.task import TrainingInterrupted
from klvae.vae import ELBOConfig, VAEConfig, load_run


def run(tmp, epochs=2, hooks=(), **train):
    return train_vae(
        VAEConfig(hidden=(32,), latent_dim=4),
        ELBOConfig(iw_k=5),
        TrainConfig(out=str(tmp), epochs=epochs, log_every=5, **train),
        hooks=hooks,
        figures=False,
    )


def same_weights(a, b):
    a, b = load_run(a).state_dict(), load_run(b).state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    return run(d)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_many_signals_inside_a_step_stop_after_it_and_resume_exactly(reference, tmp_path, monkeypatch, signum):
    step = VAETask.train_step
    calls = []

    def train_step(self, x, y, i, epoch):
        calls.append(i)
        if i == 6:  # three signals while step 6 runs, before and after its update
            os.kill(os.getpid(), signum)
            os.kill(os.getpid(), signum)
            out = step(self, x, y, i, epoch)
            os.kill(os.getpid(), signum)
            return out
        return step(self, x, y, i, epoch)

    monkeypatch.setattr(VAETask, "train_step", train_step)
    with pytest.raises(TrainingInterrupted, match="step 7"):
        run(tmp_path)
    monkeypatch.undo()
    assert calls[-1] == 6  # no step after the one the signals landed in
    _, meta = load_checkpoint(tmp_path / "checkpoint.safetensors")
    assert json.loads(meta["loop"])["step"] == 7
    run_dir, _ = train_vae(VAEConfig(), ELBOConfig(), TrainConfig(resume=str(tmp_path)), figures=False)
    assert same_weights(reference[0], run_dir)


def test_the_handlers_are_restored_and_flag_only_on_the_main_thread():
    before = {s: signal.getsignal(s) for s in StopSignals.SIGNALS}
    with StopSignals() as stop:
        assert signal.getsignal(signal.SIGTERM) == stop._handle
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.raised
    assert {s: signal.getsignal(s) for s in StopSignals.SIGNALS} == before
    seen = []
    t = threading.Thread(target=lambda: seen.append(StopSignals().__enter__()._old))
    t.start()
    t.join()
    assert seen == [{}]  # a worker thread cannot install handlers: it leaves them alone


class _Stderr(io.RawIOBase):
    """The bytes of a stand-in stderr; when armed, its next write brings a Ctrl-C, which so lands
    while the buffered writer above it is held (as when it lands in the progress bar's write)."""

    armed = False

    def writable(self):
        return True

    def write(self, data):
        if _Stderr.armed:
            _Stderr.armed = False
            os.kill(os.getpid(), signal.SIGINT)
        return len(data)


def test_a_second_ctrl_c_inside_a_write_to_stderr_right_after_a_step_still_stops_cleanly(
    reference, tmp_path, monkeypatch
):
    def hook(task, state):
        if state.step == 6:
            os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C: stop at the next boundary
            _Stderr.armed = True
            print("progress", file=sys.stderr)  # the second lands inside this write

    monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(io.BufferedWriter(_Stderr()), line_buffering=True))
    with pytest.raises(TrainingInterrupted, match="step 6"):
        run(tmp_path, hooks=(hook,))
    monkeypatch.undo()
    run_dir, _ = train_vae(VAEConfig(), ELBOConfig(), TrainConfig(resume=str(tmp_path)), figures=False)
    assert same_weights(reference[0], run_dir)


def test_a_ctrl_c_in_the_last_step_stops_before_the_evaluation_and_resume_finishes_the_run(
    reference, tmp_path, monkeypatch
):
    step = VAETask.train_step

    def train_step(self, x, y, i, epoch):
        out = step(self, x, y, i, epoch)
        if i == 17:  # the last of 2 × 9 steps: twice, right after its update
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(VAETask, "train_step", train_step)
    with pytest.raises(TrainingInterrupted, match="step 18"):
        run(tmp_path)
    monkeypatch.undo()
    assert not (tmp_path / "metrics.json").exists()  # not evaluated: the Ctrl-C was not swallowed
    run_dir, metrics = train_vae(VAEConfig(), ELBOConfig(), TrainConfig(resume=str(tmp_path)), figures=False)
    assert same_weights(reference[0], run_dir) and metrics["test_iw_nll"] == reference[1]["test_iw_nll"]
