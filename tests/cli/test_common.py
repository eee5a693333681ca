"""What every command shares (`klvae.cli.common`): one precision without "-0.000", the resume checks,
deprecated spellings, and the training call that turns interruptions into exit codes."""

import argparse
import json

import pytest
import torch
from safetensors.torch import save_file

from klvae.cli.common import (
    Deprecated,
    UsageError,
    add_loop_flags,
    check_resume_flags,
    check_resume_target,
    fixed,
    run_training,
)
from klvae.training.task import LoopState, NonFiniteLossError, TrainingInterrupted


@pytest.mark.parametrize(
    "value, digits, text",
    [
        (-1e-12, 3, "0.000"),
        (-0.0004999, 3, "0.000"),
        (-0.0005001, 3, "-0.001"),
        (2.0, 5, "2.00000"),
        (-0.0, 3, "0.000"),
    ],
)
def test_fixed_has_one_precision_and_no_negative_zero(value, digits, text):
    assert fixed(value, digits) == text


def test_check_resume_flags_names_the_first_fixed_flag():
    check_resume_flags({"epochs": 3, "resume": "r"})
    with pytest.raises(ValueError, match="--latent-dim cannot change when resuming"):
        check_resume_flags({"latent_dim": 4, "lr": 1.0, "resume": "r"})


def fake_run(folder, *, kind: str, epochs_done: int, epochs: int, finished: bool = True):
    folder.mkdir()
    config = {"train": {"epochs": epochs}, **({"gan": {}} if kind == "gan" else {"vae": {}})}
    (folder / "config.json").write_text(json.dumps(config))
    loop = {"epoch": epochs_done, "batch": 0, "step": 9 * epochs_done, "samples": 0, "train_seconds": 1.0}
    save_file({"x": torch.zeros(1)}, str(folder / "checkpoint.safetensors"), metadata={"loop": json.dumps(loop)})
    if finished:
        (folder / "metrics.json").write_text("{}")
    return folder


def test_resuming_a_finished_run_without_more_epochs_says_there_is_nothing_to_train(tmp_path):
    run = fake_run(tmp_path / "r", kind="vae", epochs_done=3, epochs=3)
    with pytest.raises(UsageError, match=r"^nothing to train: .* has finished 3 epochs \(--epochs 2\); give --epochs"):
        check_resume_target("train", str(run), 2)
    with pytest.raises(UsageError, match=r"\(--epochs 3\)"):
        check_resume_target("train", str(run), None)  # the run's own number
    check_resume_target("train", str(run), 4)  # more epochs: trains on


def test_a_run_stopped_before_its_evaluation_may_resume_to_finish(tmp_path):
    check_resume_target("train", str(fake_run(tmp_path / "r", kind="vae", epochs_done=3, epochs=3, finished=False)), 3)


@pytest.mark.parametrize(
    "kind, command, message",
    [
        ("vae", "gan", "is a VAE run: continue it with klvae train --resume"),
        ("gan", "train", "is a GAN run: continue it with klvae gan --resume"),
    ],
)
def test_resuming_the_other_kind_of_run_says_which_kind_it_is(tmp_path, kind, command, message):
    run = fake_run(tmp_path / "r", kind=kind, epochs_done=1, epochs=3)
    with pytest.raises(UsageError, match=message):
        check_resume_target(command, str(run), None)


def test_the_time_budget_is_documented_as_training_time_only():
    parser = argparse.ArgumentParser()
    add_loop_flags(parser, data_help="d", out_default="o", epochs="1", batch="1", lr="1", betas=("1", "1"), amp="a")
    text = next(a.help for a in parser._actions if "--max-seconds" in a.option_strings)
    assert "training steps" in text and "evaluation, figures and report come after it and are not counted" in text


def test_a_deprecated_flag_stores_the_new_field_and_warns(capsys):
    parser = argparse.ArgumentParser(prog="klvae x")
    parser.add_argument("--new", type=int)
    parser.add_argument("--old", dest="new", type=int, action=Deprecated, new="--new")
    assert parser.parse_args(["--old", "3"]).new == 3
    assert capsys.readouterr().err.strip() == "klvae x: warning: --old is deprecated; use --new"


def test_run_training_turns_interruptions_and_divergence_into_exit_codes(tmp_path, capsys):
    def interrupted():
        raise TrainingInterrupted(tmp_path / "checkpoint.safetensors", LoopState(epoch=1, batch=3, step=12))

    def diverged():
        raise NonFiniteLossError("the loss is nan at step 3")

    assert run_training("train", interrupted) == (130, None, None)
    assert f"interrupted at epoch 2, step 12; checkpoint saved. Resume with: klvae train --resume {tmp_path}" in (
        capsys.readouterr().err
    )
    boundary = TrainingInterrupted(tmp_path / "checkpoint.safetensors", LoopState(epoch=2, batch=0, step=18))
    assert run_training("train", lambda: (_ for _ in ()).throw(boundary)) == (130, None, None)
    assert "interrupted after epoch 2, step 18; checkpoint saved." in capsys.readouterr().err
    assert run_training("train", diverged) == (1, None, None)
    assert capsys.readouterr().err.strip() == "klvae train: error: the loss is nan at step 3"
    assert run_training("train", lambda: ("r", {"a": 1})) == (0, "r", {"a": 1})


def test_a_flag_file_gets_its_suffix_or_refuses_another():
    from klvae.cli.common import UsageError, suffixed_path

    assert str(suffixed_path("out/kl", ".png", "--plot", "the figure is a PNG")) == "out/kl.png"
    assert str(suffixed_path("out/KL.PNG", ".png", "--plot", "the figure is a PNG")) == "out/KL.PNG"
    with pytest.raises(UsageError, match=r"^--npz a\.csv: an archive; give a file name ending in \.npz$"):
        suffixed_path("a.csv", ".npz", "--npz", "an archive")
