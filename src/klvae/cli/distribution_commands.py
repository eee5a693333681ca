"""`klvae entropy / kl / js / ce / divergence --dist`: measures of distributions written as text.

``klvae kl --dist 'Beta(2, 3)' 'Gamma(2, 1)'`` reads both with
`klvae.cli.distribution_text.parse_distribution` and answers by the first method that applies
(`klvae.measures.distribution_measures`): a closed form, quadrature or summation with its error
bound, else Monte Carlo with its standard error. Each value is printed with its unit and how it
was got; ``kl --dist … --plot PNG`` also draws both distributions and the integrand p·log(p/q).
"""

from __future__ import annotations

import argparse

from klvae.cli.common import UsageError
from klvae.cli.measure_output import NO_UNIT, png_path, result_lines

# command (or --measure of divergence) -> the measure's name in klvae.measures.distribution_measures
MEASURES = {
    "entropy": "entropy",
    "kl": "kl",
    "js": "js",
    "ce": "cross_entropy",
    "hellinger": "hellinger",
    "tv": "tv",
    "chi2": "chi2",
    "renyi": "renyi",
    "alpha": "alpha",
}
_IN_UNITS = ("entropy", "kl", "js", "cross_entropy", "renyi")  # logarithms: printed in the --base unit


def run_dist(args: argparse.Namespace, measure: str, alpha: float | None = None) -> int:
    """`klvae COMMAND --dist P [Q]`: print `measure` of the distributions P (and Q), one line per value."""
    from klvae.cli.distribution_text import parse_distribution
    from klvae.measures import discrete
    from klvae.measures.distribution_kl import kl_method
    from klvae.measures.distribution_measures import distribution_measure
    from klvae.training.hardware import torch_threads

    png = png_path(args.plot) if getattr(args, "plot", None) else None  # refused before any work
    name = MEASURES[measure]
    p = parse_distribution(args.P, "P")
    q = None if name == "entropy" else parse_distribution(args.Q, "Q")
    in_units = name in _IN_UNITS
    unit = discrete.unit_name(args.base) if in_units else NO_UNIT
    with torch_threads(1):  # small batches: one thread is faster than contending for cores
        result = distribution_measure(
            name, p, q, alpha=alpha, base=args.base if in_units else None, n=args.samples, seed=0
        )
        closed = kl_method(p, q) if name == "kl" and getattr(result, "method", None) is None else "closed form"
        if png is not None:
            from klvae.figures.integrands import plot_kl_integrand

            try:
                path, _ = plot_kl_integrand(p, q, png, base=args.base, labels=(f"P = {args.P}", f"Q = {args.Q}"))
            except ValueError as err:
                raise UsageError(f"--plot: {err}") from None
    for line in result_lines(result, unit, closed):
        print(line)
    if png is not None:
        print(f"wrote {path}")
    return 0
