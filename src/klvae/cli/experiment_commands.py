"""`klvae modes` and `klvae estimators`: the teaching experiments, as figures and numbers.

modes       fit a Gaussian to a mixture by forward KL(p‖q) and reverse KL(q‖p) (restarts),
            write modes.json + modes.png; --sweep moves two modes apart (sweep.json/.png)
estimators  pathwise vs score-function gradient estimators: means beside the analytic
            gradient and variances over several sample counts (estimators.json/.png)
"""

from __future__ import annotations

import re
import time
import warnings
from pathlib import Path

from klvae.cli.common import fixed, warn

_KL_ACCURACY = re.compile(r"kl_numerical: \S+ nats has an estimated error of (\S+) ")

__all__ = ["register", "TARGETS_2D"]

DEFAULT_TARGET = "0.5:-3:1,0.5:3:1"


def _two():
    from klvae.measures.mixture import gaussian_mixture

    return gaussian_mixture([0.5, 0.5], [[-2.0, -2.0], [2.0, 2.0]], [1.0, 1.0])


def _ring():
    import numpy as np

    from klvae.measures.mixture import gaussian_mixture

    angles = np.arange(8) * 2 * np.pi / 8
    means = 4.0 * np.stack([np.cos(angles), np.sin(angles)], 1)  # (8, 2)
    return gaussian_mixture(np.full(8, 1 / 8), means, np.full(8, 0.5))


# name -> (description, constructor)
TARGETS_2D = {
    "two": ("½N((−2,−2), I) + ½N((2,2), I)", _two),
    "ring": ("eight N(·, 0.5² I) evenly on a circle of radius 4", _ring),
}


def _one_thread():
    """These tensors are small: one thread is faster than contending for cores."""
    from klvae.training.hardware import torch_threads

    return torch_threads(1)


def _out(args, name: str) -> Path:
    return Path(args.out or time.strftime(f"runs/{name}-%Y%m%d-%H%M%S"))


def _fmt(v, width=8):
    if hasattr(v, "__len__"):
        return "(" + ", ".join(fixed(x) for x in v) + ")"
    return f"{fixed(v):>{width}}"


def cmd_modes(args) -> int:
    import numpy as np

    from klvae._io import atomic_write_json
    from klvae.experiments.mode_sweep import reverse_kl_sweep
    from klvae.figures.experiments import plot_modes_1d, plot_modes_2d, plot_sweep
    from klvae.measures.mixture import parse_mixture

    out = _out(args, "modes")
    if args.restarts < 1:
        raise ValueError(f"--restarts must be at least 1, got {args.restarts}")
    with _one_thread():
        if args.target2d is not None:
            if args.target != DEFAULT_TARGET:
                raise ValueError("give either --target or --target2d, not both")
            description, make = TARGETS_2D[args.target2d]
            p = make()
            target = {"target2d": args.target2d, "description": description}
        else:
            p = parse_mixture(args.target)
            target = {"target": args.target}
        forward, reverse = _fits(p, args)
        result = {
            **target,
            "forward": forward.to_dict(),
            "reverse": [f.to_dict() for f in reverse],
            "kl_method": "numerical integration (Simpson, log-space integrand)",
        }
        atomic_write_json(out / "modes.json", result)
        if p.event_shape == ():
            plot_modes_1d(p, forward, reverse, out / "modes.png")
        else:
            plot_modes_2d(p, forward, reverse, out / "modes.png")
        print(f"target: {target.get('target') or target['description']} (KL in nats)")
        print(f"{'fit':<10}{'start':>22}  {'mean':>18}  {'std':>18}  {'KL(p‖q)':>8}  {'KL(q‖p)':>8}")
        rows = [("forward", None, forward)] + [("reverse", f.init_mean, f) for f in reverse]
        for name, start, fit in rows:
            start_s = "moment match" if start is None else _fmt(start if start.size > 1 else start[0])
            mean = fit.mean if fit.mean.size > 1 else fit.mean[0]
            std = fit.std if fit.std.size > 1 else fit.std[0]
            print(
                f"{name:<10}{start_s:>22}  {_fmt(mean):>18}  {_fmt(std):>18}  "
                f"{fit.kl_forward:8.3f}  {fit.kl_reverse:8.3f}"
            )
        if args.sweep:
            sweep = reverse_kl_sweep(np.round(np.arange(0, 5.0001, 0.1), 10))
            atomic_write_json(out / "sweep.json", sweep)
            plot_sweep(sweep, out / "sweep.png")
            print("\nreverse-KL optimum for ½N(−d,1) + ½N(d,1) (KL in nats):")
            print(f"{'d':>5}  {'|mean|':>7}  {'std':>7}  {'KL(q‖p)':>8}  {'symmetric KL':>12}  {'off-centre KL':>13}")
            for i, d in enumerate(sweep["d"]):
                if i % 5 and not 2.3 <= d <= 3.0:
                    continue
                off = sweep["off_kl"][i]
                print(
                    f"{d:5.1f}  {sweep['best_mean'][i]:7.3f}  {sweep['best_std'][i]:7.3f}  "
                    f"{sweep['best_kl'][i]:8.4f}  {sweep['sym_kl'][i]:12.4f}  "
                    f"{'—' if off is None else f'{off:.4f}':>13}"
                )
            print(
                f"off-centre optimum appears at d = {sweep['d_appear']:.3f}; "
                f"it becomes the global optimum at d = {sweep['d_cross']:.3f}"
            )
    print(f"wrote {out / 'modes.json'} and {out / 'modes.png'}" + (" (and sweep.*)" if args.sweep else ""))
    return 0


def _fits(p, args):
    """The forward fit and the reverse restarts; the integration's accuracy warnings become one line,
    and only when they reach the printed digits (0.0005 nats)."""
    from klvae.experiments.gaussian_fits import fit_forward, fit_reverse

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        forward = fit_forward(p)
        reverse = fit_reverse(p, n_restarts=args.restarts, seed=args.seed)
    errors = []
    for w in caught:
        m = _KL_ACCURACY.search(str(w.message))
        if m is None:
            warn("modes", str(w.message).splitlines()[0])
        else:
            errors.append(float(m[1]))
    if errors and max(errors) >= 5e-4:
        warn(
            "modes",
            f"the numerical KL of {len(errors)} fit{'s' * (len(errors) > 1)} is accurate to ±{max(errors):.1g} "
            "nats only: their last printed digit may be off",
        )
    return forward, reverse


def cmd_estimators(args) -> int:
    from klvae._io import atomic_write_json
    from klvae.experiments.gradient_estimators import variance_table
    from klvae.experiments.gradient_theory import sampling_blocks_gradients
    from klvae.figures.experiments import plot_estimators

    if not args.sigma > 0:
        raise ValueError(f"--sigma must be positive, got {args.sigma}")
    if args.repeats < 2:
        raise ValueError(f"--repeats must be at least 2, got {args.repeats}")
    out = _out(args, "estimators")
    with _one_thread():
        demo = sampling_blocks_gradients(args.mu, args.sigma, seed=args.seed)
        table = variance_table(mu=args.mu, sigma=args.sigma, repeats=args.repeats, seed=args.seed)
    table["gradient_flow"] = demo
    atomic_write_json(out / "estimators.json", table)
    plot_estimators(table, out / "estimators.png")
    print(f"gradient of z² with respect to μ, σ for one draw z (μ={args.mu:g}, σ={args.sigma:g}):")
    for how, d in demo.items():
        grads = "  ".join(
            f"d{s}={'None' if d[k] is None else fixed(d[k], 4)}" for s, k in (("μ", "grad_mu"), ("σ", "grad_sigma"))
        )
        print(f"  {how:<18} requires_grad={d['requires_grad']!s:<5}  {grads}")
    ns = table["ns"]
    print(
        f"\nE[f(x)], x ~ N({args.mu:g}, {args.sigma:g}²); {args.repeats} repeats per n; "
        "var = n·Var of the n-sample estimate (measured / exact)"
    )
    cells = [[f"{m:.3g} / {e:.3g}" for m, e in zip(r["measured_var"], r["exact_var"])] for r in table["rows"]]
    width = 2 + max(len(c) for row in cells for c in [*row, *(f"var n={n}" for n in ns)])  # never touching
    symbol = {"mu": "μ", "sigma": "σ"}
    print(
        f"{'f':<13}{'∂':<3}{'estimator':<16}{'analytic':>9}{'mean ± se':>20}"
        + "".join(f"{f'var n={n}':>{width}}" for n in ns)
    )
    for r, row in zip(table["rows"], cells):
        ms = f"{r['mean']:.4f} ± {r['stderr']:.4f}"
        analytic = round(r["analytic"], 4) + 0.0  # no "-0.0000"
        print(
            f"{_formula(r['cost']):<13}{symbol.get(r['param'], r['param']):<3}{r['estimator']:<16}"
            f"{analytic:9.4f}{ms:>20}" + "".join(f"{c:>{width}}" for c in row)
        )
    print(f"wrote {out / 'estimators.json'} and {out / 'estimators.png'}")
    return 0


def _formula(text: str) -> str:
    """'exp(-10x^2)' → 'exp(−10x²)': a formula as a reader writes it."""
    return text.replace("^2", "²").replace("-", "−")


def register(sub) -> None:
    p = sub.add_parser(
        "modes",
        help="forward vs reverse KL Gaussian fits to a mixture (mode covering vs seeking)",
        description="Fit a Gaussian q to a Gaussian mixture p by minimizing KL(p‖q) (moment "
        "match) and KL(q‖p) (restarts from spread initial means). Writes "
        "modes.json and modes.png; KLs by numerical integration.",
    )
    p.add_argument(
        "--target", default=DEFAULT_TARGET, help=f"1-D mixture 'w:mu:sigma,w:mu:sigma,...' (default {DEFAULT_TARGET})"
    )
    p.add_argument(
        "--target2d",
        choices=sorted(TARGETS_2D),
        help="a 2-D target instead of --target (default none): "
        + "; ".join(f"{k}: {v[0]}" for k, v in TARGETS_2D.items()),
    )
    p.add_argument("--restarts", type=int, default=None, help="reverse-KL restarts (default 7 in 1-D, 9 in 2-D)")
    p.add_argument(
        "--sweep",
        action="store_true",
        help="also move two unit modes apart (±d, d = 0..5) and plot the reverse-KL optimum (default off)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the 2-D Monte Carlo objective (default 0)")
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/modes-<date>-<time>)")
    p.set_defaults(func=lambda a: cmd_modes(_default_restarts(a)))

    e = sub.add_parser(
        "estimators",
        help="pathwise vs score-function gradient estimators: bias and variance",
        description="Estimate d/dμ and d/dσ of E_N(μ,σ²)[f(x)] for f = x², exp(−10x²), "
        "cos(5x) by the pathwise, score-function and leave-one-out-baseline "
        "estimators; writes estimators.json and estimators.png.",
    )
    e.add_argument("--mu", type=float, default=1.0, help="mean μ (default 1)")
    e.add_argument("--sigma", type=float, default=1.0, help="standard deviation σ (default 1)")
    e.add_argument("--repeats", type=int, default=5000, help="independent estimates per sample count (default 5000)")
    e.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    e.add_argument("--out", metavar="DIR", help="output folder (default runs/estimators-<date>-<time>)")
    e.set_defaults(func=cmd_estimators)


def _default_restarts(args):
    if args.restarts is None:
        args.restarts = 9 if args.target2d else 7
    return args
