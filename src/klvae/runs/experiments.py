"""The teaching experiments as jobs: numbers to JSON, figures to PNG, in one output folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from klvae._io import atomic_write_json
from klvae.figures.gan_theory import plot_disjoint_supports, plot_saturation, plot_value_vs_jsd
from klvae.gan.theory import LOG4, gaussian_shift_theory, saturation_gradients, theory_numbers

__all__ = ["write_gan_theory", "GAN_THEORY_FILES"]

GAN_THEORY_FILES = ("theory.json", "value_vs_jsd.png", "saturation.png", "disjoint_supports.png")


def write_gan_theory(out_dir, *, echo=print) -> dict:
    """Write theory.json and three figures into `out_dir`; print the table; return the numbers.

    Figures: value_vs_jsd.png (V(D*, G) against JSD for N(0,1) vs N(μ,1), with the line
    2·JSD − log 4), saturation.png (generator-loss gradients against D's logit),
    disjoint_supports.png (JSD flat at log 2 while W1 grows).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    numbers = theory_numbers()
    echo("p = N(0, 1), q = N(μ, 1): optimal discriminator D* = p/(p + q); values in nats")
    echo(f"{'μ':>4} │ {'JSD(p ‖ q)':>10} │ {'V(D*, G)':>10} │ {'2·JSD − log 4':>13}")
    for row in numbers["gaussian_shift"]:
        echo(f"{row['mu']:>4g} │ {row['jsd']:>10.6f} │ {row['value']:>10.6f} │ {2 * row['jsd'] - LOG4:>13.6f}")
    sat = numbers["saturation_at_logit_minus_10"]
    echo(
        f"generator-loss gradient at logit ℓ = −10: minimax {sat['minimax']:.3e}, "
        f"non-saturating {sat['nonsaturating']:.6f}"
    )
    sweep = [gaussian_shift_theory(mu, points=8001) for mu in np.linspace(0, 8, 41)]
    plot_value_vs_jsd(sweep, numbers["gaussian_shift"], out / "value_vs_jsd.png")
    plot_saturation(saturation_gradients(np.linspace(-12, 12, 481)), out / "saturation.png")
    plot_disjoint_supports(numbers["disjoint_uniform"], out / "disjoint_supports.png")
    atomic_write_json(out / "theory.json", numbers)
    return numbers
