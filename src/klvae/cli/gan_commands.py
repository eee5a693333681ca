"""`klvae gan`: train a GAN (minimax, non-saturating, WGAN-GP, PacGAN) or print its theory.

`klvae gan --theory --out DIR` writes the optimal-discriminator numbers and figures;
`klvae gan --data ring8 --loss nonsaturating --pack 2 --out DIR` trains on the shared loop.
Every training flag maps one-to-one onto a field of `GANConfig` or `TrainConfig`; a flag not
given keeps the default for the kind of data (see `klvae.gan.run.train_defaults`).
"""

from __future__ import annotations

import argparse
from dataclasses import fields, replace

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gan", help="train a GAN and write a run folder, or print the GAN theory (--theory)",
        description="Train a GAN on 2-D mixtures (ring8, grid25: modes captured, high-quality share, "
        "reverse KL) or images (digits, fashion-mnist, IDX folder, .npz: offline classifier scores, "
        "not FID), or with --theory write the optimal-discriminator identity V(D*,G) = 2 JSD - log 4, "
        "the saturation of the minimax loss and the disjoint-support figures.")
    p.add_argument("--theory", action="store_true", help="write theory.json and figures into --out; no training")
    g = p.add_argument_group("game and networks (GANConfig)")
    g.add_argument("--loss", choices=["minimax", "nonsaturating", "wasserstein"],
                   help="generator loss; wasserstein = WGAN-GP critic (nonsaturating)")
    g.add_argument("--pack", type=int, help="PacGAN degree: D judges m samples together (1)")
    g.add_argument("--latent-dim", type=int, help="size of z (2 for 2-D data, 32 for images)")
    g.add_argument("--g-hidden", type=int, help="generator hidden width (128; images 256)")
    g.add_argument("--g-layers", type=int, help="generator hidden layers (3)")
    g.add_argument("--d-hidden", type=int, help="discriminator hidden width (128; images 256)")
    g.add_argument("--d-layers", type=int, help="discriminator hidden layers (3)")
    g.add_argument("--n-critic", type=int, help="D steps per G step (1; wasserstein 5)")
    g.add_argument("--gp-weight", type=float, help="gradient-penalty weight λ, wasserstein only (10)")
    g.add_argument("--beta1", type=float, help="Adam β1 (0.5)")
    g.add_argument("--beta2", type=float, help="Adam β2 (0.999; wasserstein 0.9)")
    g.add_argument("--lr-decay", action=argparse.BooleanOptionalAction,
                   help="decay the learning rates linearly to 0 over the run (on)")
    r = p.add_argument_group("training (TrainConfig)")
    r.add_argument("--data", help="ring8, grid25, digits, fashion-mnist, an IDX folder or a .npz file (ring8)")
    r.add_argument("--out", help="run folder (runs/gan-<timestamp>; with --theory runs/gan-theory)")
    r.add_argument("--epochs", type=int, help="passes over the training set (2-D 8, digits 60, other images 10)")
    r.add_argument("--batch-size", type=int,
                   help="real samples per step, over all processes under torchrun (2-D 256, digits 32, other images 64)")
    r.add_argument("--lr", type=float, help="Adam learning rate of both players (2-D 1e-3, images 2e-4)")
    r.add_argument("--seed", type=int, help="random seed (0)")
    r.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to train (auto)")
    r.add_argument("--max-seconds", type=float, help="training-time budget of the run in seconds (resumes included): stop, evaluate and report after it")
    r.add_argument("--log-every", type=int, help="steps between NaN checks / progress updates (50)")
    r.add_argument("--threads", type=int,
                   help="CPU threads for torch (1 below 200k parameters, else torch's default)")
    r.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN from its checkpoint")
    r.add_argument("--ckpt-steps", type=int, metavar="K", help="also checkpoint every K steps (after each epoch only)")
    r.add_argument("--amp", choices=["none", "bf16"], help="bf16: autocast each step to bfloat16 (none)")
    r.add_argument("--compile", action="store_true", default=None, help="torch.compile D's and G's updates (off)")
    p.set_defaults(func=_gan)


def _configs(args):
    from klvae.cli import check_resume_flags
    from klvae.gan.model import GANConfig
    from klvae.gan.run import RESUME_OVERRIDES, read_run_config, train_defaults
    from klvae.train import TrainConfig

    given = {k: v for k, v in vars(args).items()
             if v is not None and k not in ("func", "command", "theory")}
    if args.resume is not None:
        check_resume_flags(given, RESUME_OVERRIDES)
        # the run's config.json wins; only the loop settings given here replace its own
        _, saved = read_run_config(args.resume)
        overrides = {k: given[k] for k in RESUME_OVERRIDES if k in given}
        return None, replace(saved, **overrides, resume=args.resume)
    pick = lambda cls: {f.name: given[f.name] for f in fields(cls) if f.name in given}  # noqa: E731
    train_args = {**train_defaults(given.get("data", "ring8")), **pick(TrainConfig)}
    return GANConfig(**pick(GANConfig)), TrainConfig(**train_args)


def _gan(args) -> int:
    if args.theory:
        from klvae.gan.theory import write_theory

        extra = sorted(k for k, v in vars(args).items()
                       if v is not None and k not in ("func", "command", "theory", "out"))
        if extra:
            raise ValueError(f"--theory trains nothing and takes only --out, got --{extra[0].replace('_', '-')}")

        out = args.out or "runs/gan-theory"
        write_theory(out)
        print(f"wrote {out}/theory.json, value_vs_jsd.png, saturation.png, disjoint_supports.png")
        return 0
    from klvae.gan.run import train_gan
    from klvae.cli import run_training

    code, run_dir, metrics = run_training("gan", train_gan, *_configs(args))
    if code:
        return code
    if not metrics:  # a rank other than 0 of a torchrun job: rank 0 reports
        return 0
    print(f"trained {metrics['epochs']} epochs ({metrics['steps']} steps) in {metrics['train_seconds']:.1f} s"
          + (" (stopped by --max-seconds)" if metrics["stopped"] == "max_seconds" else ""))
    if "modes" in metrics:
        print(f"  modes captured      {metrics['modes']}")
        print(f"  high-quality share  {metrics['high_quality']:.2%}")
        rkl = metrics["reverse_kl"]  # None when no sample is high quality
        print("  reverse KL          " + (f"{rkl:.4f} nats" if rkl is not None else "undefined (no high-quality sample)"))
    if "class_kl" in metrics:
        print(f"  class KL (gen ‖ data)  {metrics['class_kl']:.4f} nats   (offline classifier, not FID)")
        print(f"  classifier confidence  {metrics['confidence']:.4f}")
        print(f"  classifier test acc.   {metrics['classifier_test_accuracy']:.4f}")
    print(f"report: {run_dir / 'report.html'}")
    return 0
