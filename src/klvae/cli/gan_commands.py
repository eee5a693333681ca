"""`klvae gan`: train a GAN (minimax, non-saturating, WGAN-GP, PacGAN) or print its theory.

`klvae gan --theory` writes the optimal-discriminator numbers and figures;
`klvae gan --data ring8 --loss nonsaturating --pack 2` trains on the shared loop. Every training
flag maps one-to-one onto a field of `GANConfig` or `TrainConfig`; a flag not given keeps the
default for the kind of data (`klvae.runs.gan.job.defaults`).
"""

from __future__ import annotations

import functools
import sys
from dataclasses import fields

from klvae.cli.common import Deprecated, add_loop_flags, check_resume_flags, check_resume_target, fixed, run_training
from klvae.cli.vae_commands import tensorboard_ready

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gan",
        help="train a GAN and write a run folder, or print the GAN theory (--theory)",
        description="Train a GAN on 2-D mixtures (ring8, grid25: modes captured, high-quality share, "
        "reverse KL) or images (digits, fashion-mnist, IDX folder, .npz: offline classifier scores, "
        "not FID), or with --theory write the optimal-discriminator identity V(D*, G) = 2·JSD − log 4, "
        "the saturation of the minimax loss and the disjoint-support figures.",
    )
    p.add_argument("--theory", action="store_true", help="write theory.json and figures into --out; no training")
    g = p.add_argument_group("game and networks (GANConfig)")
    g.add_argument(
        "--loss",
        choices=["minimax", "nonsaturating", "wasserstein"],
        help="generator loss; wasserstein = WGAN-GP critic (default nonsaturating)",
    )
    g.add_argument("--pack", type=int, help="PacGAN degree: D judges m samples together (default 1)")
    g.add_argument("--latent-dim", type=int, help="size of z (default 2 for 2-D data, 32 for images)")
    g.add_argument("--g-hidden", type=int, help="generator hidden width (default 128; images 256)")
    g.add_argument("--g-layers", type=int, help="generator hidden layers (default 3)")
    g.add_argument("--d-hidden", type=int, help="discriminator hidden width (default 128; images 256)")
    g.add_argument("--d-layers", type=int, help="discriminator hidden layers (default 3)")
    g.add_argument("--n-critic", type=int, help="D steps per G step (default 1; wasserstein 5)")
    g.add_argument("--gp-weight", type=float, help="gradient-penalty weight λ, wasserstein only (default 10)")
    r = p.add_argument_group("training (TrainConfig)")
    add_loop_flags(
        r,
        data_help="ring8, grid25, digits, fashion-mnist, an IDX folder or a .npz file (default ring8)",
        out_default="runs/gan-<date>-<time>; with --theory runs/gan-theory",
        epochs="2-D 8, digits 60, other images 10",
        batch="2-D 256, digits 32, other images 64",
        lr="2-D 1e-3, images 2e-4",
        betas=("0.5", "0.999; wasserstein 0.9"),
        amp="bf16: autocast each step to bfloat16; auto: the GAN's default, none (default auto)",
    )
    r.add_argument(
        "--tensorboard",
        action="store_true",
        default=None,
        help="also write TensorBoard logs to RUN/tensorboard: losses every --log-every steps, the "
        "epoch metrics and, for images, the samples each epoch; needs pip install 'klvae[tensorboard]' "
        "(default off)",
    )
    r.add_argument("--beta1", dest="adam_beta1", type=float, action=Deprecated, new="--adam-beta1")
    r.add_argument("--beta2", dest="adam_beta2", type=float, action=Deprecated, new="--adam-beta2")
    r.add_argument("--lr-decay", dest="lr_schedule", action=Deprecated, new="--lr-schedule linear", value="linear")
    r.add_argument(
        "--no-lr-decay", dest="lr_schedule", action=Deprecated, new="--lr-schedule constant", value="constant"
    )
    p.set_defaults(func=_gan)


def _configs(args):
    """(GANConfig or None on resume, TrainConfig) from the flags given."""
    from klvae.gan.model import GANConfig
    from klvae.training.config import TrainConfig

    given = {
        k: v for k, v in vars(args).items() if v is not None and k not in ("func", "command", "theory", "tensorboard")
    }
    pick = lambda cls: {f.name: given[f.name] for f in fields(cls) if f.name in given}  # noqa: E731
    if args.resume is not None:
        check_resume_flags(given)  # the run's config.json wins; only loop settings given here replace its own
        return None, TrainConfig(**pick(TrainConfig))
    return GANConfig(**pick(GANConfig)), TrainConfig(**{"data": "ring8", **pick(TrainConfig)})


def _gan(args) -> int:
    from klvae.runs.folder import read_config
    from klvae.runs.gan.job import train_gan
    from klvae.runs.summary import command_line, summary_line, undertrained_warning

    if args.theory:
        extra = sorted(
            k for k, v in vars(args).items() if v is not None and k not in ("func", "command", "theory", "out")
        )
        if extra:
            raise ValueError(f"--theory trains nothing and takes only --out, got --{extra[0].replace('_', '-')}")
        from klvae.runs.experiments import GAN_THEORY_FILES, write_gan_theory

        out = args.out or "runs/gan-theory"
        write_gan_theory(out)
        print(f"wrote {out}/: " + ", ".join(GAN_THEORY_FILES))
        return 0
    if args.resume is not None:
        check_resume_target("gan", args.resume, args.epochs)
    if args.tensorboard and not tensorboard_ready("gan"):
        return 2
    options = {k: v for k, v in vars(args).items() if k not in ("func", "command", "theory")}
    fn = functools.partial(
        train_gan, log=True, tensorboard=bool(args.tensorboard), command=command_line("gan", options)
    )
    code, run_dir, metrics = run_training("gan", fn, *_configs(args))
    if code:
        return code
    if not metrics:  # a rank other than 0 of a torchrun job: rank 0 reports
        return 0
    config = read_config(run_dir)
    print(summary_line(metrics, config))
    if "modes" in metrics:
        n_modes = {"ring8": 8, "grid25": 25}.get(metrics.get("data", ""))
        print(f"  modes captured      {metrics['modes']}" + (f" of {n_modes}" if n_modes else ""))
        print(f"  high-quality share  {metrics['high_quality']:.2%}")
        rkl = metrics["reverse_kl"]  # None when no sample is high quality
        print(
            "  reverse KL          "
            + (f"{fixed(rkl)} nats" if rkl is not None else "undefined (no high-quality sample)")
        )
    if "class_kl" in metrics:
        print(f"  class KL (gen ‖ data)  {fixed(metrics['class_kl'])} nats   (offline classifier, not FID)")
        print(f"  classifier confidence  {metrics['confidence']:.2%}")
        print(f"  classifier test acc.   {metrics['classifier_test_accuracy']:.2%}")
    if (warning := undertrained_warning(metrics, config)) is not None:
        print(f"klvae gan: warning: {warning}", file=sys.stderr)
    if args.tensorboard:
        print(f"TensorBoard: tensorboard --logdir {run_dir / 'tensorboard'}")
    print(f"report: {run_dir / 'report.html'}")
    return 0
