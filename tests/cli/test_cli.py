"""The command line as a whole (`klvae.cli`, `klvae.cli.common`): one vocabulary in every command,
a description and a stated default for every option, one line for every error a user can fix."""

import argparse
import errno
import json
import re

import pytest

from klvae.cli import build_parser, main

SMALL = ["--hidden", "16", "--latent-dim", "2", "--iw-k", "3", "--log-every", "5"]


def options(parser):
    return [
        a
        for a in parser._actions
        if a.option_strings
        and a.help != argparse.SUPPRESS
        and not isinstance(a, (argparse._HelpAction, argparse._VersionAction))
    ]


@pytest.mark.parametrize("command", sorted(build_parser()[1]))
def test_every_command_has_a_description_and_every_option_its_default(command):
    sub = build_parser()[1][command]
    assert sub.description, f"{command} has no description"
    for action in options(sub):
        text = action.help or ""
        assert "default" in text or action.option_strings[0] in ("--resume", "--theory"), (
            f"{command} {action.option_strings[0]}: the help does not state the default: {text!r}"
        )


def test_the_same_setting_has_the_same_flag_everywhere():
    commands = build_parser()[1]
    loop = {
        "--adam-beta1",
        "--adam-beta2",
        "--weight-decay",
        "--lr-schedule",
        "--amp",
        "--out",
        "--epochs",
        "--batch-size",
        "--lr",
        "--seed",
        "--device",
        "--max-seconds",
        "--log-every",
        "--threads",
        "--resume",
    }
    for name in ("train", "gan"):
        flags = {s for a in options(commands[name]) for s in a.option_strings}
        assert loop <= flags, f"{name} lacks {sorted(loop - flags)}"
    amp = {
        name: next(a.choices for a in commands[name]._actions if "--amp" in a.option_strings)
        for name in ("train", "gan")
    }
    assert amp["train"] == amp["gan"] == ["auto", "none", "bf16"]
    assert any("--iw-k" in a.option_strings for a in commands["eval"]._actions)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--epoch", "3"], "klvae train: error: unrecognized option --epoch; did you mean --epochs?"),
        (["train", "--epocs", "3"], "klvae train: error: unrecognized option --epocs; did you mean --epochs?"),
        (["kl", "0.5,0.5", "1,0", "--bse", "2"], "klvae kl: error: unrecognized option --bse; did you mean --base?"),
        (["trian"], "klvae: error: unknown command 'trian'; did you mean train?"),
        (["train", "--epochs", "abc"], "klvae train: error: --epochs: expected a whole number, got 'abc'"),
        (["train", "--lr", "fast"], "klvae train: error: --lr: expected a number, got 'fast'"),
        (["train", "--hidden", "400,abc"], "klvae train: error: --hidden: expected comma-separated widths"),
        (["train", "--arch", "mpl"], "klvae train: error: unknown --arch 'mpl'; did you mean mlp?"),
        (["divergence", "0.5,0.5", "0.5,0.5", "--measure", "helinger"], "did you mean hellinger?"),
    ],
)
def test_a_misspelled_option_command_or_number_is_one_line(capsys, argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "usage:" not in err
    assert message in err
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "old, new, field, value",
    [
        (["--beta1", "0.4"], "--adam-beta1", "adam_beta1", 0.4),
        (["--beta2", "0.8"], "--adam-beta2", "adam_beta2", 0.8),
        (["--no-lr-decay"], "--lr-schedule constant", "lr_schedule", "constant"),
    ],
)
def test_old_gan_spellings_still_work_and_say_so(tmp_path, capsys, old, new, field, value):
    out = tmp_path / "gan"
    assert (
        main(
            [
                "gan",
                "--data",
                "ring8",
                "--epochs",
                "1",
                "--max-seconds",
                "0.5",
                "--g-hidden",
                "8",
                "--d-hidden",
                "8",
                "--out",
                str(out),
                *old,
            ]
        )
        == 0
    )
    assert f"klvae gan: warning: {old[0]} is deprecated; use {new}" in capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["train"][field] == value


def test_old_eval_and_sample_spellings(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--epochs", "1", *SMALL]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--k", "2"]) == 0
    out, err = capsys.readouterr()
    assert "--k is deprecated; use --iw-k" in err and "IW k = 2" in out
    assert main(["sample", str(run), "-n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").is_file()
    assert main(["sample", str(run), "-n", "4"]) == 0
    assert (run / "prior_samples_seed0.png").is_file()


def test_a_full_disk_is_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    import klvae.training.checkpoint as checkpoint

    def full(tensors, path, metadata=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(checkpoint, "atomic_save_safetensors", full)
    assert main(["train", "--out", str(tmp_path / "run"), "--epochs", "1", *SMALL]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"klvae train: error: No space left on device: {tmp_path / 'run' / 'checkpoint.safetensors'}"


def test_an_unwritable_sample_file_is_one_line(tmp_path, capsys, monkeypatch):
    import klvae.figures.png as figures

    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--epochs", "1", *SMALL]) == 0

    def read_only(path, data):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(figures, "atomic_write_bytes", read_only)
    capsys.readouterr()
    assert main(["sample", str(run), "--png", str(tmp_path / "ro" / "s.png")]) == 2
    assert capsys.readouterr().err.strip() == f"klvae sample: error: Permission denied: {tmp_path / 'ro' / 's.png'}"


def test_resuming_after_config_json_was_edited_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), "--epochs", "1", *SMALL]) == 0
    config = json.loads((run / "config.json").read_text())
    config["vae"]["hidden"] = [20]
    (run / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert re.search(r"checkpoint.safetensors does not fit this model: .*shape", err) and "Traceback" not in err


def test_sigterm_outside_training_is_one_line_and_the_handler_comes_back(tmp_path, capsys, monkeypatch):
    import os
    import signal

    import klvae.runs.gan.finished as finished
    import klvae.runs.vae.finished as vae_finished

    def terminated(*a, **k):
        os.kill(os.getpid(), signal.SIGTERM)  # what a scheduler sends, here during evaluation
        raise AssertionError("not reached")

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(finished, "is_gan_run", lambda run: False)
    monkeypatch.setattr(vae_finished, "evaluate_run", terminated)
    assert main(["eval", str(tmp_path)]) == 130
    assert capsys.readouterr().err.strip() == "klvae eval: interrupted"
    assert signal.getsignal(signal.SIGTERM) is before
