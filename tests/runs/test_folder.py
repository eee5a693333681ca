"""The run-folder protocol (`klvae.runs.folder`): nothing is overwritten, everything is checked
before the first write, a stopped run resumes, a damaged folder is named in one line."""

import fcntl
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from klvae.cli import main
from klvae.runs import folder
from klvae.runs.folder import EvaluationInterrupted, check_new_run_dir, loop_config, open_run, read_config, write_config
from klvae.runs.vae.job import train_vae
from klvae.training.config import TrainConfig
from klvae.training.loop import CHECKPOINT
from klvae.vae import ELBOConfig, VAEConfig

SMALL = ["--hidden", "16", "--latent-dim", "2", "--iw-k", "3", "--log-every", "5"]


def run(tmp, epochs=1, **train):
    return train_vae(
        VAEConfig(hidden=(16,), latent_dim=2),
        ELBOConfig(iw_k=3),
        TrainConfig(out=str(tmp), epochs=epochs, log_every=5, **train),
        figures=False,
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    d = tmp_path_factory.mktemp("finished")
    run(d)
    return d


@pytest.mark.parametrize("name", folder.RUN_FILES)
def test_a_folder_holding_any_run_file_is_refused(tmp_path, name):
    (tmp_path / name).write_text("{}")
    with pytest.raises(ValueError, match=f"already holds a run; .*choose another --out \\(it holds {name}\\)"):
        check_new_run_dir(tmp_path)


def test_a_finished_run_without_its_checkpoint_is_not_overwritten(finished, capsys):
    saved = {p.name: p.read_bytes() for p in finished.iterdir() if p.is_file() and p.name != CHECKPOINT}
    ckpt = (finished / CHECKPOINT).read_bytes()
    (finished / CHECKPOINT).unlink()  # the usual way to save space
    try:
        assert main(["train", "--out", str(finished), "--epochs", "1", *SMALL]) == 2
        assert "already holds a run; choose another --out" in capsys.readouterr().err
        assert {p.name: p.read_bytes() for p in finished.iterdir() if p.is_file()} == saved
    finally:
        (finished / CHECKPOINT).write_bytes(ckpt)


def test_out_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["train", "--out", str(tmp_path / "f"), "--epochs", "1", *SMALL]) == 2
    assert f"--out {tmp_path / 'f'} is a file, not a folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--seed", "-1"], "seed must be non-negative, got -1"),
        (["--lr", "0"], "lr must be positive and finite"),
        (["--adam-beta1", "1"], r"adam_beta1 must lie in [0, 1)"),
        (["--data", "no-such-data.npz"], "no-such-data.npz"),
    ],
)
def test_bad_settings_write_nothing(tmp_path, capsys, argv, match):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--epochs", "1", *SMALL, *argv]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
    assert not out.exists()


def test_a_torchrun_restart_resumes_the_folder_it_names(finished, monkeypatch):
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    run_dir, resume, train = open_run(TrainConfig(out=str(finished)))
    assert (run_dir, resume, train.resume) == (finished, True, str(finished))
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "0")
    with pytest.raises(ValueError, match="already holds a run"):
        open_run(TrainConfig(out=str(finished)))


def test_stale_temporaries_are_removed_when_a_run_starts(tmp_path):
    (tmp_path / "samples").mkdir()
    stale = [tmp_path / ".checkpoint.safetensors.a1b2c3d4.tmp", tmp_path / "samples" / ".epoch_001.png.x9y8z7w6.tmp"]
    for p in stale:
        p.write_bytes(b"half a file")
    (tmp_path / "notes.txt").write_text("mine")
    write_config(tmp_path, {"train": {}})
    assert not any(p.exists() for p in stale) and (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "text, match",
    [
        (None, "config.json is missing: not a klvae run folder"),
        ("{not json", "config.json is not valid JSON"),
        ('["a list"]', "is not a klvae run config"),
    ],
)
def test_a_damaged_config_is_named(tmp_path, text, match):
    if text is not None:
        (tmp_path / "config.json").write_text(text)
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        read_config(tmp_path)


def test_loop_settings_read_back_with_resume_overrides(tmp_path):
    saved = {"data": "digits", "epochs": 5, "lr": 1e-3, "max_seconds": 30.0}
    train = loop_config(tmp_path / "config.json", saved, TrainConfig(epochs=9, resume=str(tmp_path)))
    assert (train.epochs, train.lr, train.max_seconds) == (9, 1e-3, 30.0)  # None given: the run's own budget
    assert (train.lr_schedule, train.adam_beta2) == ("constant", 0.999)  # saved before these existed
    assert train.val_size == 0.0  # a run saved before the validation split resumes on the same images
    with pytest.raises(ValueError, match="unknown train setting 'warp'"):
        loop_config(tmp_path / "config.json", {**saved, "warp": 9})


def test_a_torn_last_metrics_line_is_dropped_on_resume(tmp_path):
    run(tmp_path, epochs=1)
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 2, "train_lo')  # a kill mid-write
    _, metrics = train_vae(VAEConfig(), ELBOConfig(), TrainConfig(resume=str(tmp_path), epochs=2), figures=False)
    lines = [json.loads(s) for s in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2] and metrics["epochs"] == 2


def test_ctrl_c_during_the_final_evaluation_says_the_model_is_saved(tmp_path, monkeypatch, capsys):
    import klvae.runs.vae.job as runs_vae

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs_vae, "evaluate_vae_per_image", interrupted)
    with pytest.raises(EvaluationInterrupted, match="the trained model is saved in"):
        run(tmp_path / "a")
    assert (tmp_path / "a" / "model.safetensors").is_file()
    assert main(["train", "--out", str(tmp_path / "b"), "--epochs", "1", *SMALL]) == 130
    err = capsys.readouterr().err
    assert f"Evaluate it with: klvae eval {tmp_path / 'b'}" in err and "Traceback" not in err


def test_eval_of_a_read_only_run_prints_the_metrics_and_warns_it_could_not_save_them(finished, monkeypatch, capsys):
    import klvae.runs.folder as folder

    def read_only(run_dir, metrics, name):
        raise PermissionError(13, "Permission denied", str(run_dir / name))

    monkeypatch.setattr(folder, "write_metrics", read_only)
    assert main(["eval", str(finished), "--iw-k", "2"]) == 0
    out, err = capsys.readouterr()
    assert "test ELBO" in out and "wrote" not in out
    assert err.strip() == (
        f"klvae eval: warning: could not save the metrics (Permission denied: {finished / 'eval.json'}); "
        "they are printed above only"
    )


def test_a_small_test_set_trains_end_to_end_with_its_figures(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "small.npz"
    np.savez(data, x_train=rng.random((40, 8, 8)).astype(np.float32), x_test=rng.random((20, 8, 8)).astype(np.float32))
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(out), "--epochs", "2", *SMALL]) == 0
    assert (out / "report.html").is_file() and (out / "reconstructions.png").is_file()
    assert os.path.getsize(out / "reconstructions.png") > 0


def test_a_second_process_given_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with open(out / folder.LOCK, "w") as held:  # another process writing there holds this lock
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ValueError, match="is in use by another klvae process"):
            run(out)
    assert sorted(p.name for p in out.iterdir()) == [folder.LOCK]  # nothing written
    # two real commands at once: one trains, the other is refused
    first = subprocess.Popen(
        [sys.executable, "-m", "klvae", "train", "--out", str(out), "--epochs", "400", "--max-seconds", "6", *SMALL],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(200):  # until the first one holds the folder
            if (out / "config.json").exists():
                break
            first.poll()
            assert first.returncode is None, first.stderr.read()
            time.sleep(0.05)
        second = subprocess.run(
            [sys.executable, "-m", "klvae", "train", "--out", str(out), "--epochs", "1", *SMALL],
            capture_output=True,
            text=True,
        )
        assert second.returncode == 2 and (
            "in use by another klvae process" in second.stderr or "already holds a run" in second.stderr
        )
    finally:
        first.wait(60)
    assert first.returncode == 0


def test_a_failed_start_removes_the_folder_it_made(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(Exception, match="no-such"):
        train_vae(VAEConfig(), ELBOConfig(), TrainConfig(out=str(out), data="no-such.npz"), figures=False)
    assert not out.exists()


def test_only_rank_0_refuses_a_used_folder_so_other_ranks_do_not_race_its_first_write(tmp_path, monkeypatch):
    """Rank 0 writes config.json as soon as it has checked; rank 1, checking after it, must not fail."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert folder.open_run(TrainConfig(out=str(run)))[:2] == (run, False)
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ValueError, match="already holds a run"):
        folder.open_run(TrainConfig(out=str(run)))
