"""How the measure commands print a value: with its unit, with how it was got, and where a figure went.

>>> with_unit(1.0, "bits"), with_unit(-0.0, "nats"), with_unit(0.25, NO_UNIT)
('1 bit', '0 nats', '0.25 (no unit)')
>>> mc_line(0.0679002, 0.00068, "nats", 100000)
'0.0679002 ± 0.00068 nats (Monte Carlo, 100000 samples: ± one standard error)'
"""

from __future__ import annotations

from pathlib import Path

from klvae.cli.common import suffixed_path

__all__ = ["with_unit", "mc_line", "result_lines", "png_path", "NO_UNIT"]

NO_UNIT = "(no unit)"  # what a pure number (Hellinger, TV, χ², α) prints where a log prints its unit


def with_unit(value: float, unit: str) -> str:
    """`value` to 15 significant digits and its unit, singular for exactly one ("1 bit", "0.5 bits")."""
    if unit and value == 1.0 and unit in ("nats", "bits", "dits"):
        unit = unit[:-1]
    return f"{value + 0.0:.15g} {unit}".rstrip()  # + 0.0: never "-0"


def mc_line(value: float, se: float, unit: str, n: int) -> str:
    """A Monte Carlo value to 6 digits, ± its standard error, and how many samples it took."""
    shown = "" if unit == NO_UNIT else f" {unit}"
    return f"{value + 0.0:.6g} ± {se:.2g}{shown} (Monte Carlo, {n} samples: ± one standard error)"


def result_lines(result, unit: str, closed: str = "closed form") -> list[str]:
    """One line per value of a measure's result: the value, its unit and how it was got.

    `result`: a plain tensor (a closed form, named `closed`) or a `klvae.MeasureResult`
    (quadrature or summation with ``error_bound``; Monte Carlo with ``stderr`` and ``n``).
    """
    values = result.detach().reshape(-1).tolist()
    method = getattr(result, "method", None)
    if method is None or method == "closed form":
        return [f"{with_unit(v, unit)} (exact: {closed})" for v in values]
    if method == "monte carlo":
        errors = result.stderr.reshape(-1).tolist()
        return [mc_line(v, se, unit, result.n) for v, se in zip(values, errors)]
    bounds = result.error_bound.reshape(-1).tolist()
    shown = "" if unit == NO_UNIT else f" {unit}"
    return [
        f"{with_unit(v, unit)} (exact: {method})"
        if e == 0
        else f"{with_unit(v, unit)} ({method}: absolute error ≤ {e:.1e}{shown})"
        for v, e in zip(values, bounds)
    ]


def png_path(text: str) -> Path:
    """The --plot file: a PNG, so a name ending in .png; a name without a suffix gets one."""
    return suffixed_path(text, ".png", "--plot", "the figure is a PNG")
