"""`klvae train`, `klvae eval`, `klvae sample`, `klvae encode`: the VAE from the command line.

`eval` and `sample` given a GAN run (its config.json has a "gan" key) evaluate or sample its
generator instead.

Every `train` flag maps one-to-one onto a field of `VAEConfig`, `ELBOConfig` or `TrainConfig`
(`--latent-dim` → `latent_dim`); a flag not given keeps the dataclass default.
"""

from __future__ import annotations

import argparse
import functools
import sys
import warnings
from dataclasses import fields
from pathlib import Path

from klvae.cli.common import (
    Deprecated,
    add_loop_flags,
    check_resume_flags,
    check_resume_target,
    fixed,
    run_training,
    warn,
)

__all__ = ["register", "tensorboard_ready"]


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths like 512,256, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"widths must be positive, got {text!r}")
    return sizes


def register(subparsers) -> None:
    """Add `train` and `eval` to the `klvae` command line."""
    t = subparsers.add_parser(
        "train",
        help="train a VAE and write a run folder with its report",
        description="Train a VAE, evaluate it on the test set (ELBO, importance-"
        "weighted NLL, active units) and write a run folder with report.html. "
        "All losses are nats per example.",
    )
    _model_flags(t.add_argument_group("model (VAEConfig)"))
    _objective_flags(t.add_argument_group("objective (ELBOConfig)"))
    _training_flags(t.add_argument_group("training (TrainConfig)"))
    t.set_defaults(func=_train)
    _register_eval(subparsers)


def _model_flags(m) -> None:
    m.add_argument(
        "--arch", choices=["mlp", "conv"], help="encoder/decoder type; conv needs 28×28 images (default mlp)"
    )
    m.add_argument(
        "--hidden",
        type=_hidden,
        help="hidden widths, e.g. 400 or 512,256 "
        "(default 400 for images of up to 256 pixels such as the 8×8 digits, 1024 for larger ones)",
    )
    m.add_argument("--latent-dim", type=int, help="size of z (default 8 up to 256 pixels, 32 for larger images)")
    m.add_argument(
        "--likelihood", choices=["bernoulli", "gaussian", "gaussian-learned"], help="p(x|z) (default bernoulli)"
    )
    m.add_argument("--sigma", type=float, help="σ of the fixed-σ gaussian likelihood (default 0.1)")
    m.add_argument(
        "--prior",
        choices=["normal", "vamp"],
        help="p(z): N(0, I), or the VampPrior, a mixture of the encoder's posteriors at learned "
        "pseudo-inputs (Tomczak & Welling 2018; its KL is Monte Carlo) (default normal)",
    )
    m.add_argument("--pseudo-inputs", type=int, help="K, the VampPrior's pseudo-inputs (default 500)")
    m.add_argument(
        "--stochastic-layers", type=int, choices=[1, 2], help="1: x → z; 2: x → z1 → z2 (Burda et al. 2016) (default 1)"
    )
    m.add_argument("--latent-dim2", type=int, help="size of z2 with two layers (default half of --latent-dim)")
    m.add_argument("--hidden2", type=_hidden, help="widths of the z1 ↔ z2 networks (default 4·latent-dim, ≥ 64)")
    m.add_argument(
        "--conditional",
        action="store_true",
        default=None,
        help="conditional VAE: the label enters encoder and decoder, q(z|x, y), p(x|z, y); needs labelled data "
        "(default off)",
    )


def _objective_flags(o) -> None:
    o.add_argument("--samples", type=int, help="Monte Carlo samples of z per example, L (default 1)")
    o.add_argument("--beta", type=float, help="weight of the KL term (default 1.0)")
    o.add_argument("--kl", choices=["analytic", "mc"], help="closed-form or Monte Carlo KL (default analytic)")
    o.add_argument("--warmup-epochs", type=float, help="KL annealing: β ramps from 0 over this many epochs (default 0)")
    o.add_argument(
        "--binarize",
        action=argparse.BooleanOptionalAction,
        help="dynamic binarization of the pixels (default on for bernoulli, off otherwise)",
    )
    o.add_argument("--iw-k", type=int, help="importance samples for the final test −log p(x) (default 1000)")
    o.add_argument(
        "--objective",
        choices=["elbo", "iwae"],
        help="elbo, or the importance-weighted bound IWAE_k (Burda et al. 2016) (default elbo)",
    )
    o.add_argument("--k-train", type=int, help="IWAE: importance samples per image in training (default 5)")
    o.add_argument(
        "--dreg",
        action="store_true",
        default=None,
        help="IWAE: the doubly-reparameterized encoder gradient (Tucker et al. 2019) (default off)",
    )
    o.add_argument(
        "--tc-beta",
        type=float,
        help="β-TC-VAE: weight of the total correlation in the KL (Chen et al. 2018; 1 is the ELBO) (default off)",
    )


def _training_flags(r) -> None:
    add_loop_flags(
        r,
        data_help="digits (bundled), fashion-mnist, an IDX folder or a .npz file (default digits)",
        out_default="runs/<date>-<time>",
        epochs="200",
        batch="128 up to 256 pixels, 256 for larger images",
        lr="2e-3 up to 256 pixels, 3e-3 for larger images",
        betas=("0.9", "0.95"),
        amp="bf16: matmuls in bfloat16, weights and loss in float32; auto: bf16 where the hardware "
        "has native bfloat16 and the model has ≥ 200k parameters, else none (default auto)",
    )
    r.add_argument(
        "--val-size",
        type=float,
        help="share of the training images held out, with a fixed seed, for the per-epoch validation "
        "curves; 0: none (default 0.2, or 0.1 from 10 000 images); the test set is read once, at the end",
    )
    r.add_argument(
        "--keep",
        choices=["last", "best"],
        help="the weights the run keeps and evaluates: those of the last step, or those with the best "
        "validation ELBO (saved as RUN/best.safetensors when they appear) (default last)",
    )
    r.add_argument(
        "--tensorboard",
        action="store_true",
        default=None,
        help="also write TensorBoard logs to RUN/tensorboard: losses every --log-every steps, the "
        "epoch metrics and a grid of samples and reconstructions each epoch; needs "
        "pip install 'klvae[tensorboard]' (default off)",
    )


def _register_eval(subparsers) -> None:
    e = subparsers.add_parser(
        "eval",
        help="evaluate a trained VAE run on its test set (or a GAN run)",
        description="Test ELBO, importance-weighted −log p(x), KL per dimension, "
        "active units; prints them and writes RUN/eval.json. For a GAN run: its "
        "evaluation again (mode coverage, or the offline classifier scores).",
    )
    e.add_argument("run", metavar="RUN", help="run folder")
    e.add_argument("--iw-k", type=int, help="importance samples per test image (default: the run's, 1000)")
    e.add_argument("--k", dest="iw_k", type=int, action=Deprecated, new="--iw-k")
    e.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where to evaluate; auto: cuda when present (default auto)",
    )
    e.set_defaults(func=_eval)


def _configs(args):
    from klvae.training.config import TrainConfig
    from klvae.vae import ELBOConfig, VAEConfig

    given = {k: v for k, v in vars(args).items() if v is not None and k not in ("func", "command", "tensorboard")}
    pick = lambda cls: {f.name: given[f.name] for f in fields(cls) if f.name in given}  # noqa: E731
    if args.resume is not None:
        check_resume_flags(given)  # the run's config.json is used; only loop settings given here change
        return VAEConfig(), ELBOConfig(), TrainConfig(**pick(TrainConfig))
    return VAEConfig(**pick(VAEConfig)), ELBOConfig(**pick(ELBOConfig)), TrainConfig(**pick(TrainConfig))


def _se(metrics: dict, key: str) -> str:
    """' ± s' for a standard error in the metrics (runs saved before it was recorded have none)."""
    se = metrics.get(key)
    return f" ± {se:.3f}" if se is not None else ""


def _print_metrics(metrics: dict) -> None:
    rows = [
        ("test ELBO (β = 1)", f"{fixed(metrics['test_elbo'])}{_se(metrics, 'test_elbo_se')} nats"),
        (
            f"test −log p(x), IW k = {metrics['iw_k']}",
            f"{fixed(metrics['test_iw_nll'])}{_se(metrics, 'test_iw_nll_se')} nats",
        ),
        ("reconstruction −E_q log p(x|z)", f"{fixed(metrics['test_recon_nll'])} nats"),
        (f"KL(q(z|x) ‖ p(z)){_kl_note(metrics)}", f"{fixed(metrics['test_kl'])} nats"),
        ("reconstruction MSE (per pixel)", fixed(metrics["test_recon_mse"], 5)),
        ("active units", _active_units(metrics)),
    ]
    if metrics.get("total_correlation") is not None:
        rows += [
            ("  index-code MI", f"{fixed(metrics['index_code_mi'])} nats"),
            ("  total correlation", f"{fixed(metrics['total_correlation'])} nats"),
            ("  dimension-wise KL", f"{fixed(metrics['dimwise_kl'])} nats"),
        ]
    evaluated = metrics.get("evaluated", {})
    if evaluated.get("checkpoint") == "best":
        rows.append(("evaluated weights", f"best validation ELBO (epoch {evaluated['epoch']})"))
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def _kl_note(metrics: dict) -> str:
    estimate = metrics.get("kl_estimate", "closed form")
    return "" if estimate == "closed form" else f" ({estimate})"


def _active_units(metrics: dict) -> str:
    """'15 of 32', or per layer '15 + 3 of 32 + 16'."""
    sizes = metrics.get("latent_sizes") or [len(metrics.get("kl_per_dim") or [])]
    active = metrics.get("active_units_per_layer") or [metrics["active_units"]]
    return f"{' + '.join(map(str, active))} of {' + '.join(map(str, sizes))}"


def _train(args) -> int:
    from klvae.runs.folder import read_config
    from klvae.runs.summary import command_line, summary_line, undertrained_warning
    from klvae.runs.vae.job import train_vae

    vae, objective, train = _configs(args)
    if args.resume is not None:
        check_resume_target("train", args.resume, args.epochs)
    if args.tensorboard and not tensorboard_ready("train"):
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda msg, *a, **k: print(f"klvae train: warning: {msg}", file=sys.stderr)
        options = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
        fn = functools.partial(
            train_vae, log=True, tensorboard=bool(args.tensorboard), command=command_line("train", options)
        )
        code, run_dir, metrics = run_training("train", fn, vae, objective, train)
    if code:
        return code
    if not metrics:  # a rank other than 0 of a torchrun job: rank 0 reports
        return 0
    config = read_config(run_dir)
    print(summary_line(metrics, config))
    _print_metrics(metrics)
    if config["vae"]["likelihood"] != "bernoulli":
        print(
            "  (p(x|z) is a density over pixel values: log p(x|z) can exceed 0, so the ELBO can be positive "
            "and −log p(x) negative)"
        )
    if (warning := undertrained_warning(metrics, config)) is not None:
        print(f"klvae train: warning: {warning}", file=sys.stderr)
    if args.tensorboard:
        print(f"TensorBoard: tensorboard --logdir {run_dir / 'tensorboard'}")
    print(f"report: {run_dir / 'report.html'}")
    return 0


def tensorboard_ready(command: str) -> bool:
    """False, after a one-line message, when the optional TensorBoard package is missing."""
    from klvae.training.tensorboard import TensorBoardMissing, require_tensorboard

    try:
        require_tensorboard()
    except TensorBoardMissing as err:
        print(f"klvae {command}: error: {err}", file=sys.stderr)
        return False
    return True


def _eval(args) -> int:
    from klvae.runs.gan.finished import is_gan_run
    from klvae.runs.vae.finished import evaluate_run
    from klvae.training.hardware import resolve_device

    if args.iw_k is not None and args.iw_k < 1:
        raise ValueError(f"--iw-k must be at least 1, got {args.iw_k}")
    if is_gan_run(args.run):
        if args.iw_k is not None:
            raise ValueError("--iw-k is for VAE runs; a GAN has no likelihood to estimate")
        return _eval_gan(args)
    metrics = evaluate_run(args.run, args.iw_k, resolve_device(args.device), save=False)
    _print_metrics(metrics)
    _save_eval(args.run, metrics)  # after printing: a read-only run still shows them
    return 0


def _save_eval(run: str, metrics: dict) -> None:
    """Write RUN/eval.json; a run that cannot be written to (archived, read-only) gets a warning."""
    from klvae.runs.folder import EVAL, write_metrics

    try:
        path = write_metrics(Path(run), metrics, EVAL)
    except OSError as err:
        where = err.filename or Path(run) / EVAL
        warn("eval", f"could not save the metrics ({err.strerror or err}: {where}); they are printed above only")
        return
    print(f"wrote {path}")


def _eval_gan(args) -> int:
    from klvae.runs.gan.finished import evaluate_gan_run
    from klvae.training.hardware import resolve_device

    metrics = evaluate_gan_run(args.run, resolve_device(args.device))
    if "modes" in metrics:
        rkl = metrics["reverse_kl"]
        print(f"  modes captured      {metrics['modes']} of {metrics['n_modes']}")
        print(f"  high-quality share  {metrics['high_quality']:.2%}")
        print(
            "  reverse KL          "
            + (f"{fixed(rkl)} nats" if rkl is not None else "undefined (no high-quality sample)")
        )
    elif "class_kl" in metrics:
        print(f"  class KL (gen ‖ data)  {fixed(metrics['class_kl'])} nats   (offline classifier, not FID)")
        print(f"  classifier confidence  {metrics['confidence']:.2%}")
    else:
        print(
            "this GAN run has no evaluation (images without labels have no offline classifier); "
            f"look at its samples: klvae sample {args.run}"
        )
        return 0
    _save_eval(args.run, metrics)
    return 0
