"""`klvae sample` and `klvae encode`: draws from a trained VAE's prior (or a GAN's generator) and
its encoding of the test set."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from klvae._io import atomic_write_bytes
from klvae.cli.common import Deprecated
from klvae.data.datasets import load_dataset
from klvae.figures.charts import plot_points
from klvae.figures.png import save_image_grid
from klvae.runs.gan.finished import is_gan_run, load_generator, mode_means
from klvae.runs.vae.job import read_run_config, test_labels, test_set
from klvae.training.hardware import resolve_device
from klvae.vae import load_run

__all__ = ["register"]


def register(subparsers) -> None:
    s = subparsers.add_parser(
        "sample",
        help="decode samples from the prior of a trained VAE (or a GAN) into a PNG",
        description="Draw z ~ N(0, I), decode it with the run's VAE and write the "
        "decoder means as one PNG grid, into the run folder unless --png is given. "
        "For a GAN run: samples G(z) (a scatter over the modes for 2-D data).",
    )
    s.add_argument("run", metavar="RUN", help="run folder")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument(
        "--png",
        metavar="FILE",
        help="PNG file to write (default RUN/prior_samples_seed<SEED>.png; "
        "for a GAN run RUN/gan_samples_seed<SEED>.png)",
    )
    s.add_argument("--out", dest="png", action=Deprecated, new="--png")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--label", type=int, help="a conditional VAE: the class to draw (default: every class in turn)")
    s.set_defaults(func=_sample)

    c = subparsers.add_parser(
        "encode",
        help="encode a VAE run's test set: μ, log σ² and labels into a .npz",
        description="Run the encoder of a trained VAE on its test set (binarized as in "
        "training) and write a .npz with arrays mu (N, latent), logvar (N, latent) "
        "and labels (N,) (−1 when the data has none), in test-set order.",
    )
    c.add_argument("run", metavar="RUN", help="run folder")
    c.add_argument("--npz", metavar="FILE", help="the .npz to write (default RUN/latents.npz)")
    c.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where to encode; auto: cuda when present (default auto)",
    )
    c.set_defaults(func=_encode)


def _sample_gan(args, path: Path) -> int:
    generator = load_generator(args.run)
    with torch.no_grad(), torch.random.fork_rng():  # the caller's random stream is left as it was
        torch.manual_seed(args.seed)
        x = generator.sample(args.n).cpu()
    if x.dim() == 4:
        path = save_image_grid(x, path, title=f"{args.n} samples G(z) of the GAN")
    else:
        path = plot_points(x, path, means=mode_means(args.run), label="G(z)", title=f"{args.n} samples G(z) of the GAN")
    print(f"wrote {path}: {args.n} samples of the GAN's generator")
    return 0


def _encode(args) -> int:
    if is_gan_run(args.run):
        raise ValueError(f"{args.run} is a GAN run: a GAN has no encoder (klvae sample {args.run} draws from it)")
    device = resolve_device(args.device)
    vae, objective, train = read_run_config(args.run)
    model = load_run(args.run, device)
    dataset = load_dataset(train.data)
    x, y = test_set(dataset, objective).to(device), test_labels(dataset, vae, device)
    with torch.no_grad():
        parts = [
            model.encode(b, None if y is None else y[i : i + 1000])
            for i, b in zip(range(0, len(x), 1000), x.split(1000))
        ]
        mu, logvar = map(torch.cat, zip(*parts))  # (N, latent) each
    labels = dataset.y_test if dataset.y_test is not None else torch.full((len(x),), -1)
    out = Path(args.npz) if args.npz else Path(args.run) / "latents.npz"
    if out.suffix != ".npz":
        out = out.with_name(out.name + ".npz")
    buf = io.BytesIO()
    np.savez(buf, mu=mu.cpu().numpy(), logvar=logvar.cpu().numpy(), labels=labels.numpy())
    atomic_write_bytes(out, buf.getvalue())  # written whole, then renamed: never a half file
    print(f"wrote {out}: mu and logvar ({len(x)} × {mu.shape[1]}), labels ({len(x)}) of the {dataset.name} test set")
    return 0


def _sample(args) -> int:
    if args.n < 1:
        raise ValueError(f"-n must be at least 1, got {args.n}")
    if is_gan_run(args.run):
        return _sample_gan(args, Path(args.png) if args.png else Path(args.run) / f"gan_samples_seed{args.seed}.png")
    model = load_run(args.run)
    cfg = model.config
    labels, what = _sample_labels(args, cfg)
    suffix = "" if args.label is None else f"_label{args.label}"
    path = Path(args.png) if args.png else Path(args.run) / f"prior_samples_seed{args.seed}{suffix}.png"
    with torch.no_grad(), torch.random.fork_rng():  # the caller's random stream is left as it was
        torch.manual_seed(args.seed)
        z = model.sample_latent(args.n, torch.Generator().manual_seed(args.seed), labels)  # (n, latent)
        images = model.mean(z, labels)  # (n, C, H, W)
    note = "Bernoulli means σ(logits)" if cfg.likelihood == "bernoulli" else "means of p(x|z)"
    short = "means σ(logits)" if cfg.likelihood == "bernoulli" else "means"
    path = save_image_grid(images, path, title=f"{args.n} samples from the prior{what} ({short})")
    print(f"wrote {path}: {args.n} samples from the prior{what}, showing the {note}")
    return 0


def _sample_labels(args, cfg) -> tuple[torch.Tensor | None, str]:
    """The labels to draw with and how the title says it; one-line errors for a wrong --label."""
    if not cfg.conditional:
        if args.label is not None:
            raise ValueError(f"--label is for a conditional VAE; {args.run} was trained without --conditional")
        return None, ""
    n_classes = int(cfg.n_classes or 0)
    if args.label is None:
        return torch.arange(args.n) % n_classes, f", classes 0 … {n_classes - 1} in turn"
    if not 0 <= args.label < n_classes:
        raise ValueError(f"--label must lie in 0 … {n_classes - 1} for this run, got {args.label}")
    return torch.full((args.n,), args.label), f" of class {args.label}"
