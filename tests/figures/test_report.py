"""report.html (`klvae.figures.report`): self-contained, escaped, every figure embedded; the metrics log it reads."""

import base64
import dataclasses
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import torch

from klvae.figures.charts import plot_bars
from klvae.figures.png import save_image_grid
from klvae.figures.report import load_metrics_jsonl, write_report

# --------------------------------------------------------------------------- metrics log


def test_jsonl_skips_a_truncated_last_line(tmp_path):
    p = tmp_path / "metrics.jsonl"
    rows = [{"epoch": 1, "loss": 2.5}, {"epoch": 2, "loss": float("nan")}]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    p.write_text(text + '{"epoch": 3, "lo')
    out = load_metrics_jsonl(p)
    assert len(out) == 2 and out[0] == rows[0] and np.isnan(out[1]["loss"])
    p.write_text(text + "\n\n" + '{"epoch": 3}')  # blank lines; a last line without newline
    assert [r["epoch"] for r in load_metrics_jsonl(p)] == [1, 2, 3]
    p.write_text("")
    assert load_metrics_jsonl(p) == []


def test_jsonl_corrupt_middle_line_is_an_error(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"epoch": 1}\n{"epoch": 2\n{"epoch": 3}\n')
    with pytest.raises(ValueError, match=r"m.jsonl: line 2 is not valid JSON"):
        load_metrics_jsonl(p)
    p.write_text('{"epoch": 1}\n[1, 2]\n{"epoch": 3}\n')
    with pytest.raises(ValueError, match=r"m.jsonl: line 2 is not a JSON object"):
        load_metrics_jsonl(p)


# --------------------------------------------------------------------------- report.html


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.text, self.cells = [], [], []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.imgs.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


@dataclasses.dataclass
class Model:
    latent: int = 2
    hidden: tuple = (400, 200)


def test_report_is_self_contained_and_escaped(tmp_path):
    grid = save_image_grid(torch.rand(4, 1, 8, 8), tmp_path / "samples.png")
    bars = plot_bars([0.5, 1.0], tmp_path / "kl.png", title="t", xlabel="x", ylabel="y")
    p = write_report(
        tmp_path,
        title="VAE <digits> & co",
        metrics={
            "elbo": -92.123456789,
            "kl_per_dim": list(range(20)),
            "active": torch.tensor(3),
            "test": {"nll": np.float32(1e-9)},
            "ok": True,
            "note": "<b>bold</b>",
        },
        figures=[
            ("samples.png", "Samples <from the prior>"),
            (str(bars), "KL per dimension"),
            ("Reversed order", "samples.png"),
            ("gone.png", "lost"),
        ],
        config={"lr": 0.001, "data": "digits", "model": Model(latent=16)},
        notes=["Trained for 3 epochs; x < y & z."],
    )
    assert p == tmp_path / "report.html"
    doc = p.read_text()
    assert "VAE &lt;digits&gt; &amp; co" in doc and "<digits>" not in doc
    assert "&lt;b&gt;bold&lt;/b&gt;" in doc and "x &lt; y &amp; z." in doc
    assert "Samples &lt;from the prior&gt;" in doc
    parsed = _Collect()
    parsed.feed(doc)
    assert len(parsed.imgs) == 3
    data = [base64.b64decode(i["src"].split(",", 1)[1], validate=True) for i in parsed.imgs]
    assert data[0] == grid.read_bytes() == data[2] and data[1] == bars.read_bytes()
    assert all(i["src"].startswith("data:image/png;base64,") for i in parsed.imgs)
    text = "".join(parsed.text)
    assert "gone.png: file not found" in text
    assert "-92.123" in text and "-92.1234" not in text  # 5 significant digits
    assert re.search(r"\[0, 1, 2, 3, 4, 5, 6, 7, … \(20 values\)\]", text)
    assert "test.nll" in text and "1e-09" in text and "model.latent" in text
    assert "active3" in text.replace(" ", "") and "model.hidden[400, 200]" in text
    assert [q.name for q in tmp_path.iterdir() if q.name.startswith(".")] == []


def test_report_without_metrics_or_figures(tmp_path):
    doc = write_report(tmp_path / "new", title="t", metrics={}, figures=[]).read_text()
    assert "none recorded" in doc and "<img" not in doc and "Configuration" not in doc


def test_rows_warnings_and_provenance(tmp_path):
    doc = write_report(
        tmp_path,
        title="t",
        metrics=[("active units", "8 of 8", "dimensions in use")],
        figures=[],
        warnings=["Undertrained: stopped after 0.5 of an epoch"],
        provenance=[("command", "klvae train --epochs 3")],
        raw_metrics={"active_units": 8},
    ).read_text()
    assert '<p class="warning">Undertrained: stopped after 0.5 of an epoch</p>' in doc
    assert '<th>active units</th><td class="num">8 of 8</td><td class="why">dimensions in use</td>' in doc
    assert "How this run was made" in doc and "klvae train --epochs 3" in doc
    assert "<details>" in doc and "active_units" in doc
    assert doc.index("warning") < doc.index("Metrics") < doc.index("How this run was made")
