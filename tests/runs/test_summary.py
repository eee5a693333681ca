"""What every run says about itself (`klvae.runs.summary`): counts and epochs said properly, the
undertrained warning, the command line, the report's list of figures."""

import subprocess
from pathlib import Path

import pytest


def test_counts_and_fractions_of_epochs_are_said_properly():
    from klvae.runs.summary import count, epochs_phrase, undertrained_warning

    assert [count(n, "epoch") for n in (0, 1, 2)] == ["0 epochs", "1 epoch", "2 epochs"]
    assert count(1, "bit") == "1 bit" and epochs_phrase(6, 12) == "0.5 of an epoch (6 of 12 steps)"
    assert epochs_phrase(18, 12) == "1.5 epochs" and epochs_phrase(36, 12) == "3 epochs"
    config = {"data": {"n_train": 1437}, "train": {"batch_size": 128}}
    warning = undertrained_warning({"stopped": "max_seconds", "epochs": 0, "steps": 6}, config)
    assert warning is not None and "0.5 of an epoch" in warning
    assert undertrained_warning({"stopped": "completed", "epochs": 1, "steps": 12}, config) is None
    assert undertrained_warning({"stopped": "max_seconds", "epochs": 9, "steps": 108}, config) is None


def test_the_command_line_makes_the_run_again():
    import shlex

    from klvae.runs.summary import command_line

    line = command_line("train", {"epochs": 3, "hidden": (48, 24), "binarize": False, "data": "my data", "seed": None})
    assert shlex.split(line) == [
        "klvae",
        "train",
        "--epochs",
        "3",
        "--hidden",
        "48,24",
        "--no-binarize",
        "--data",
        "my data",
    ]


def test_the_training_rows_and_the_summary_line_say_how_far_and_how_fast():
    from klvae.runs.summary import summary_line, training_rows

    config = {"data": {"n_train": 1437}, "train": {"batch_size": 128}}  # 12 steps an epoch
    metrics = {"steps": 30, "stopped": "max_seconds", "train_seconds": 2.0, "train_samples_per_second": 1900.0}
    rows = {label: (value, why) for label, value, why in training_rows(metrics, config)}
    assert rows["training"] == ("2.5 epochs, 30 steps", "stopped by the time budget (--max-seconds)")
    assert rows["training time"][0] == "2.0 s, 1900 samples/s"
    assert summary_line(metrics, config) == (
        "trained 2.5 epochs (30 steps) in 2.0 s, 1900 samples/s (stopped by --max-seconds)"
    )


def test_the_figures_drawn_and_the_notes_of_those_not_are_told_apart():
    from klvae.runs.summary import Figure, figures_and_notes

    drawn = [Figure("a.png", "A."), Figure.note("No b: why."), None, Figure("c.png", "C.")]
    assert figures_and_notes(iter(drawn)) == ([("a.png", "A."), ("c.png", "C.")], ["No b: why."])


def test_the_code_commit_is_the_checkouts_or_none_outside_one(tmp_path):
    import klvae.runs.summary as summary

    src = Path(summary.__file__).parent
    try:
        head = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True
        )
    except OSError:
        pytest.skip("no git")
    got = summary.code_commit()
    if head.returncode:  # an installed copy: nothing to say
        assert got is None
    else:
        assert got is not None and got.startswith(head.stdout.strip())
        assert ("code", f"git commit {got}") in summary.provenance({}, {})
    assert summary.code_commit(tmp_path) is None
