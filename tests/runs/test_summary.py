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


def test_the_configuration_table_keeps_only_the_settings_the_model_reads():
    from klvae.runs.summary import used_settings

    vae = {"likelihood": "bernoulli", "sigma": 0.1, "prior": "normal", "pseudo_inputs": 500, "stochastic_layers": 1}
    vae |= {"latent_dim2": None, "hidden2": None, "conditional": False, "n_classes": None, "latent_dim": 8}
    objective = {"objective": "elbo", "samples": 1, "k_train": None, "dreg": False, "tc_beta": None, "beta": 1.0}
    config = {"vae": vae, "objective": objective, "train": {"val_size": 0.2, "keep": "last"}, "processes": 1}
    used = used_settings(config)
    assert set(used["vae"]) == {"likelihood", "prior", "stochastic_layers", "conditional", "latent_dim"}
    assert set(used["objective"]) == {"objective", "samples", "beta"} and used["train"] == config["train"]
    assert used["processes"] == 1 and config["vae"]["sigma"] == 0.1  # the run's own config is left as it was
    # each setting comes back with the model that reads it
    vae |= {"likelihood": "gaussian", "prior": "vamp", "stochastic_layers": 2, "conditional": True}
    objective |= {"objective": "iwae", "k_train": 5, "dreg": True}
    used = used_settings({"vae": vae, "objective": objective})
    assert {"sigma", "pseudo_inputs", "latent_dim2", "hidden2", "n_classes"} <= set(used["vae"])
    assert {"k_train", "dreg"} <= set(used["objective"]) and "samples" not in used["objective"]
    gan = {"loss": "nonsaturating", "gp_weight": 10.0, "n_critic": 1}
    used = used_settings({"gan": gan, "train": {"val_size": None, "keep": "last", "lr": 1e-3}})
    assert used == {"gan": {"loss": "nonsaturating", "n_critic": 1}, "train": {"lr": 1e-3}}
    assert "gp_weight" in used_settings({"gan": {**gan, "loss": "wasserstein"}})["gan"]
