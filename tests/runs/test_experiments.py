"""The teaching experiments as jobs (`klvae.runs.experiments`): numbers to JSON, figures to PNG."""

import json
import math

from klvae.runs.experiments import GAN_THEORY_FILES
from klvae.runs.experiments import write_gan_theory as write_theory


def test_write_theory_files(tmp_path):
    lines = []
    numbers = write_theory(tmp_path, echo=lines.append)
    for name in GAN_THEORY_FILES:
        assert (tmp_path / name).stat().st_size > 0
    saved = json.loads((tmp_path / "theory.json").read_text())
    assert [r["mu"] for r in saved["gaussian_shift"]] == [0.0, 1.0, 2.0, 4.0]
    assert saved == json.loads(json.dumps(numbers))
    assert any("0.111421" in line and "-1.163451" in line for line in lines)
    assert lines[1].split("│")[0].strip() == "μ"  # the table speaks the maths' symbols, in nats
    for row in saved["gaussian_shift"]:  # V(D*, G) = 2·JSD − log 4 on every printed row
        assert row["value"] == __import__("pytest").approx(2 * row["jsd"] - math.log(4), abs=1e-9)
