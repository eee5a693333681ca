"""How the measure commands print (`klvae.cli.measure_output`): units, methods and the PNG name."""

import pytest
import torch

from klvae.cli.common import UsageError
from klvae.cli.measure_output import NO_UNIT, mc_line, png_path, result_lines, with_unit
from klvae.measures.results import MeasureResult


def test_a_value_with_its_unit():
    assert with_unit(1.0, "bits") == "1 bit" and with_unit(0.5, "bits") == "0.5 bits"
    assert with_unit(-0.0, "nats") == "0 nats" and with_unit(0.25, NO_UNIT) == "0.25 (no unit)"
    assert with_unit(1 / 3, "nats") == "0.333333333333333 nats"  # 15 significant digits


def test_each_method_says_how_the_value_was_got():
    closed = torch.tensor([0.5, 1.0], dtype=torch.float64)
    assert result_lines(closed, "nats") == ["0.5 nats (exact: closed form)", "1 nat (exact: closed form)"]
    assert result_lines(closed[:1], "nats", closed="torch") == ["0.5 nats (exact: torch)"]
    quad = MeasureResult.wrap(torch.tensor(0.25), method="quadrature", error_bound=torch.tensor(3e-13))
    assert result_lines(quad, NO_UNIT) == ["0.25 (no unit) (quadrature: absolute error ≤ 3.0e-13)"]
    assert result_lines(quad, "bits") == ["0.25 bits (quadrature: absolute error ≤ 3.0e-13 bits)"]
    total = MeasureResult.wrap(torch.tensor(2.0), method="summation", error_bound=torch.tensor(0.0))
    assert result_lines(total, "nats") == ["2 nats (exact: summation)"]
    mc = MeasureResult.wrap(torch.tensor([0.1234567]), method="monte carlo", stderr=torch.tensor([0.002]), n=500)
    assert result_lines(mc, "nats") == [mc_line(0.1234567, 0.002, "nats", 500)]
    assert (
        mc_line(0.1234567, 0.002, NO_UNIT, 500) == "0.123457 ± 0.002 (Monte Carlo, 500 samples: ± one standard error)"
    )


def test_the_png_name(tmp_path):
    assert png_path("a/kl.png").name == "kl.png" and png_path("a/kl").name == "kl.png"
    with pytest.raises(UsageError, match="give a file name ending in .png"):
        png_path("kl.jpg")
