"""`klvae compare` (`klvae.cli.compare_commands`): metrics side by side, differences paired over the
same test images against an independent computation, the settings that differ, a figure and a report."""

import json
import math
import re

import numpy as np
import pytest
from safetensors.numpy import load_file

from klvae.cli import main

TINY = ["--epochs", "1", "--latent-dim", "2", "--iw-k", "2", "--log-every", "5"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    for name, hidden, extra in [("a", "16", []), ("b", "32", []), ("c", "16", ["--no-binarize"])]:
        assert main(["train", "--out", str(root / name), "--hidden", hidden, *TINY, *extra]) == 0
    return root


def paired(run, base, key):
    """mean and standard error of the per-image differences, by NumPy from the saved files."""
    d = (
        load_file(str(run / "test_per_image.safetensors"))[key]
        - load_file(str(base / "test_per_image.safetensors"))[key]
    )
    return d.mean(), d.std(ddof=1) / math.sqrt(len(d))


def test_compare_prints_metrics_paired_differences_and_the_settings_that_differ(runs, capsys):
    a, b, c = runs / "a", runs / "b", runs / "c"
    capsys.readouterr()
    assert main(["compare", str(a), str(b), str(c)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    metrics = {name: json.loads((runs / name / "metrics.json").read_text()) for name in "abc"}
    for name in "abc":
        row = next(line for line in lines if line.startswith(f"{name} "))
        assert f"{metrics[name]['test_elbo']:.3f} ± {metrics[name]['test_elbo_se']:.3f}" in row
    row_b = next(line for line in lines if line.startswith("b ") and "±" in line and lines.index(line) > 6)
    d_elbo, se_elbo = paired(b, a, "elbo")
    d_lpx, se_lpx = paired(b, a, "log_px")
    assert re.search(rf"{d_elbo:.3f} ± {se_elbo:.3f} +{-d_lpx:.3f} ± {se_lpx:.3f}$", row_b), row_b
    assert se_elbo < metrics["b"]["test_elbo_se"] / 2  # pairing removes the images' shared difficulty
    assert next(line for line in lines if line.startswith("c ") and "paired" in line).endswith(
        "other test images: not paired"
    )
    settings = out[out.index("settings that differ:") :].splitlines()
    assert [s.split()[0] for s in settings[2:]] == ["objective.binarize", "vae.hidden"]
    assert settings[3].split() == ["vae.hidden", "[16]", "[32]", "[16]"]


def test_compare_draws_the_curves_and_writes_a_report(runs, tmp_path, capsys):
    png, page = tmp_path / "c.png", tmp_path / "c.html"
    assert main(["compare", str(runs / "a"), str(runs / "b"), "--png", str(png), "--html", str(page)]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [f"wrote {png}", f"wrote {page}"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = page.read_text()
    assert "Comparison of a, b" in text and "data:image/png;base64," in text and "vae.hidden" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.html", "c.png"]  # no temporary left


@pytest.mark.parametrize(
    "argv, message",
    [
        (["{a}"], "compare needs two or more runs"),
        (["{a}", "{a}/nope"], "does not exist"),
        (["{a}", "{b}", "--png", "c.jpg"], "--png c.jpg: the figure is a PNG"),
    ],
)
def test_compare_errors_are_one_line(runs, capsys, argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["compare", *(a.format(a=runs / "a", b=runs / "b") for a in argv)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.splitlines()) == 1


def test_compare_refuses_a_gan_run(runs, tmp_path, capsys):
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "config.json").write_text(json.dumps({"gan": {}, "train": {}}))
    assert main(["compare", str(runs / "a"), str(tmp_path / "g")]) == 2
    assert "is a GAN run: compare takes VAE runs" in capsys.readouterr().err


def test_every_run_evaluated_on_the_same_images_has_the_same_count(runs):
    counts = {np.asarray(load_file(str(runs / n / "test_per_image.safetensors"))["elbo"]).shape for n in "ab"}
    assert counts == {(360,)}
