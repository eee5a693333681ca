"""`klvae train`, `klvae eval`, `klvae sample`: the VAE from the command line.

Every `train` flag maps one-to-one onto a field of `VAEConfig`, `ELBOConfig` or `TrainConfig`
(`--latent-dim` → `latent_dim`); a flag not given keeps the dataclass default.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import fields

__all__ = ["register"]


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated widths like 512,256, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"widths must be positive, got {text!r}")
    return sizes


def register(subparsers) -> None:
    t = subparsers.add_parser("train", help="train a VAE and write a run folder with its report",
                              description="Train a VAE, evaluate it on the test set (ELBO, importance-"
                              "weighted NLL, active units) and write a run folder with report.html. "
                              "All losses are nats per example.")
    m = t.add_argument_group("model (VAEConfig)")
    m.add_argument("--arch", choices=["mlp", "conv"], help="encoder/decoder type; conv needs 28×28 images (mlp)")
    m.add_argument("--hidden", type=_hidden, help="hidden widths, e.g. 400 or 512,256 "
                   "(400 for images of up to 256 pixels such as the 8×8 digits, 1024 for larger ones)")
    m.add_argument("--latent-dim", type=int, help="size of z (8 up to 256 pixels, 32 for larger images)")
    m.add_argument("--likelihood", choices=["bernoulli", "gaussian", "gaussian-learned"], help="p(x|z) (bernoulli)")
    m.add_argument("--sigma", type=float, help="σ of the fixed-σ gaussian likelihood (0.1)")
    o = t.add_argument_group("objective (ELBOConfig)")
    o.add_argument("--samples", type=int, help="Monte Carlo samples of z per example, L (1)")
    o.add_argument("--beta", type=float, help="weight of the KL term (1.0)")
    o.add_argument("--kl", choices=["analytic", "mc"], help="closed-form or Monte Carlo KL (analytic)")
    o.add_argument("--warmup-epochs", type=float, help="KL annealing: β ramps from 0 over this many epochs (0)")
    o.add_argument("--binarize", action=argparse.BooleanOptionalAction,
                   help="dynamic binarization of the pixels (on for bernoulli, off otherwise)")
    o.add_argument("--iw-k", type=int, help="importance samples for the final test −log p(x) (1000)")
    r = t.add_argument_group("training (TrainConfig)")
    r.add_argument("--data", help="digits (bundled), fashion-mnist, an IDX folder or a .npz file (digits)")
    r.add_argument("--out", help="run folder (runs/<timestamp>)")
    r.add_argument("--epochs", type=int, help="passes over the training set (200)")
    r.add_argument("--batch-size", type=int, help="examples per step, over all processes under torchrun "
                   "(128 up to 256 pixels, 256 for larger images)")
    r.add_argument("--lr", type=float, help="Adam learning rate (2e-3 up to 256 pixels, 3e-3 for larger images)")
    r.add_argument("--adam-beta2", type=float, help="Adam's β2, the memory of the squared gradients (0.95)")
    r.add_argument("--lr-schedule", choices=["linear", "constant"],
                   help="linear: the rate decays to 0 over the epochs, or over --max-seconds when that ends "
                   "first (linear)")
    r.add_argument("--seed", type=int, help="random seed (0)")
    r.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to train (auto)")
    r.add_argument("--max-seconds", type=float, help="training-time budget of the run in seconds "
                   "(resumes included): stop, evaluate and report after it")
    r.add_argument("--log-every", type=int, help="steps between NaN checks / progress updates (50)")
    r.add_argument("--threads", type=int, help="CPU threads for torch (default: 1 below 200k parameters, else torch's default)")
    r.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its checkpoint")
    r.add_argument("--ckpt-steps", type=int, metavar="K", help="also checkpoint every K steps (after each epoch only)")
    r.add_argument("--amp", choices=["auto", "none", "bf16"],
                   help="bf16: matmuls in bfloat16, weights and loss in float32; auto: bf16 where the hardware "
                   "has native bfloat16 and the model has ≥ 200k parameters, else none (auto)")
    r.add_argument("--compile", action="store_true", default=None,
                   help="torch.compile the model (off: slower for small models on CPU)")
    t.set_defaults(func=_train)

    e = subparsers.add_parser("eval", help="evaluate a trained VAE run on its test set",
                              description="Test ELBO, importance-weighted −log p(x), KL per dimension, "
                              "active units; prints them and writes RUN/eval.json.")
    e.add_argument("run", metavar="RUN", help="run folder")
    e.add_argument("--k", type=int, help="importance samples per test image (the run's iw_k, 1000)")
    e.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    e.set_defaults(func=_eval)

    s = subparsers.add_parser("sample", help="decode samples from the prior of a trained VAE into a PNG grid")
    s.add_argument("run", metavar="RUN", help="run folder")
    s.add_argument("-n", type=int, default=64, help="number of samples (64)")
    s.add_argument("--out", default="samples.png", help="PNG file to write (samples.png)")
    s.add_argument("--seed", type=int, default=0, help="random seed (0)")
    s.set_defaults(func=_sample)


def _configs(args):
    from klvae.cli import check_resume_flags
    from klvae.train import TrainConfig
    from klvae.vae import RESUME_OVERRIDES, ELBOConfig, VAEConfig

    given = {k: v for k, v in vars(args).items() if v is not None and k not in ("func", "command")}
    pick = lambda cls: {f.name: given[f.name] for f in fields(cls) if f.name in given}  # noqa: E731
    if args.resume is not None:
        check_resume_flags(given, RESUME_OVERRIDES)
        from klvae.vae import read_run_config

        _, _, saved = read_run_config(args.resume)  # a missing run folder fails here, with its name
        overrides = {k: getattr(saved, k) for k in RESUME_OVERRIDES} | pick(TrainConfig)
        return VAEConfig(), ELBOConfig(), TrainConfig(**overrides)
    return VAEConfig(**pick(VAEConfig)), ELBOConfig(**pick(ELBOConfig)), TrainConfig(**pick(TrainConfig))


def _print_metrics(metrics: dict) -> None:
    rows = [("test ELBO (β = 1)", f"{metrics['test_elbo']:.3f} nats"),
            (f"test −log p(x), IW k = {metrics['iw_k']}", f"{metrics['test_iw_nll']:.3f} nats"),
            ("reconstruction −E_q log p(x|z)", f"{metrics['test_recon_nll']:.3f} nats"),
            ("KL(q(z|x) ‖ p(z))", f"{metrics['test_kl']:.3f} nats"),
            ("reconstruction MSE (per pixel)", f"{metrics['test_recon_mse']:.5f}"),
            ("active units", f"{metrics['active_units']} of {len(metrics['kl_per_dim'])}")]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def _train(args) -> int:
    from klvae.cli import run_training
    from klvae.vae import train_vae

    vae, objective, train = _configs(args)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = lambda msg, *a, **k: print(f"klvae train: warning: {msg}", file=sys.stderr)
        code, run_dir, metrics = run_training("train", train_vae, vae, objective, train)
    if code:
        return code
    if not metrics:  # a rank other than 0 of a torchrun job: rank 0 reports
        return 0
    print(f"trained {metrics['epochs']} epochs ({metrics['steps']} steps) in {metrics['train_seconds']:.1f} s, "
          f"{metrics['train_samples_per_second']:.0f} samples/s" +
          (" (stopped by --max-seconds)" if metrics["stopped"] == "max_seconds" else ""))
    _print_metrics(metrics)
    print(f"report: {run_dir / 'report.html'}")
    return 0


def _eval(args) -> int:
    from klvae.train import resolve_device
    from klvae.vae import evaluate_run

    if args.k is not None and args.k < 1:
        raise ValueError(f"--k must be at least 1, got {args.k}")
    metrics = evaluate_run(args.run, args.k, resolve_device(args.device))
    _print_metrics(metrics)
    print(f"wrote {args.run.rstrip('/')}/eval.json")
    return 0


def _sample(args) -> int:
    import torch

    from klvae.report import save_image_grid
    from klvae.vae import load_run

    if args.n < 1:
        raise ValueError(f"-n must be at least 1, got {args.n}")
    model = load_run(args.run)
    torch.manual_seed(args.seed)
    with torch.no_grad():
        images = model.mean(torch.randn(args.n, model.config.latent_dim))  # (n, C, H, W)
    note = "Bernoulli means σ(logits)" if model.config.likelihood == "bernoulli" else "means of p(x|z)"
    short = "means σ(logits)" if model.config.likelihood == "bernoulli" else "means"
    save_image_grid(images, args.out, title=f"{args.n} samples from the prior ({short})")
    print(f"wrote {args.out}: {args.n} samples from the prior, showing the {note}")
    return 0
