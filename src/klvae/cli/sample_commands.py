"""`klvae sample` and `klvae encode`: draws from a trained VAE's prior (or a GAN's generator) and
its encoding (and reconstructions) of the test set.

Samples are made in batches of `BATCH`, so `-n` may be any number: `--npz` writes all of them as
arrays with memory bounded by one batch; a PNG grid shows at most `GRID_MAX` of them (a grid
stays readable up to 16 × 16 images), and a scatter of 2-D GAN samples at most `POINTS_MAX`.
"""

from __future__ import annotations

from pathlib import Path

from klvae.cli.common import Deprecated, suffixed_path

__all__ = ["register", "BATCH", "GRID_MAX", "POINTS_MAX"]

BATCH = 1024  # samples made at a time
GRID_MAX = 256  # images in one PNG grid (16 × 16)
POINTS_MAX = 20_000  # points in one scatter of 2-D samples


def register(subparsers) -> None:
    """Add `sample` and `encode` to the `klvae` command line."""
    s = subparsers.add_parser(
        "sample",
        help="draw samples from a trained VAE's prior (or a GAN) into a PNG grid or a .npz",
        description="Draw z from the prior, decode it with the run's VAE and write the decoder means "
        f"as one PNG grid (at most {GRID_MAX} images), into the run folder unless --png is given, and/or "
        "all of them as arrays with --npz. For a GAN run: samples G(z) (a scatter over the modes for "
        "2-D data). Samples are made in batches, so -n may be any number with --npz.",
    )
    s.add_argument("run", metavar="RUN", help="run folder")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument(
        "--png",
        metavar="FILE",
        help=f"PNG grid of the first {GRID_MAX} samples at most (default RUN/prior_samples_seed<SEED>.png, "
        "for a GAN run RUN/gan_samples_seed<SEED>.png; with --npz and no --png, no PNG)",
    )
    s.add_argument("--out", dest="png", action=Deprecated, new="--png")
    s.add_argument(
        "--npz",
        metavar="FILE",
        help="also write all N samples as arrays to this .npz: images (N, C, H, W) float32 in [0, 1] "
        "(for a 2-D GAN: x (N, 2)), z (N, latent) and, for a conditional VAE, labels (N,) (default none)",
    )
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--label", type=int, help="a conditional VAE: the class to draw (default: every class in turn)")
    s.set_defaults(func=_sample)

    c = subparsers.add_parser(
        "encode",
        help="encode a VAE run's test set: μ, log σ², labels (and reconstructions) into a .npz",
        description="Run the encoder of a trained VAE on its test set (binarized as in "
        "training) and write a .npz with arrays mu (N, latent), logvar (N, latent) "
        "and labels (N,) (−1 when the data has none), in test-set order; with --reconstructions also "
        "the decoder means at z = μ, reconstructions (N, C, H, W), and the inputs, images (N, C, H, W).",
    )
    c.add_argument("run", metavar="RUN", help="run folder")
    c.add_argument("--npz", metavar="FILE", help="the .npz to write (default RUN/latents.npz)")
    c.add_argument(
        "--reconstructions",
        action="store_true",
        help="also write the test images and their reconstructions E[x | z = μ] (default off)",
    )
    c.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where to encode; auto: cuda when present (default auto)",
    )
    c.set_defaults(func=_encode)


def _batches(n: int, size: int | None = None):
    """(start, count) of consecutive batches covering range(n), `BATCH` long unless `size` is given."""
    size = size or BATCH
    for start in range(0, n, size):
        yield start, min(size, n - start)


def _sample(args) -> int:
    from klvae.runs.gan.finished import is_gan_run

    if args.n < 1:
        raise ValueError(f"-n must be at least 1, got {args.n}")
    npz = _npz(args.npz)
    if is_gan_run(args.run):
        default = Path(args.run) / f"gan_samples_seed{args.seed}.png"
        return _sample_gan(args, _png(args, default), npz)
    return _sample_vae(args, npz)


def _npz(text: str | None) -> Path | None:
    from klvae.cli.npz_output import npz_path

    return None if text is None else npz_path(text)


def _png(args, default: Path) -> Path | None:
    """The PNG to write: --png, else the default unless only --npz was asked for."""
    if args.png:
        return suffixed_path(args.png, ".png", "--png", "the grid is a PNG")
    return None if args.npz else default


def _say_capped(args, npz: Path | None, cap: int) -> None:
    """One line when the figure shows fewer samples than -n asked for."""
    if args.n > cap:
        more = f"all {args.n} are in {npz}" if npz else f"write all {args.n} as arrays with --npz FILE"
        print(f"the figure shows the first {cap} of the {args.n} samples, as many as stay readable; {more}")


def _sample_vae(args, npz: Path | None) -> int:
    import torch

    from klvae.cli.npz_output import NpzWriter
    from klvae.figures.png import save_image_grid
    from klvae.vae import load_run

    model = load_run(args.run)
    cfg = model.config
    labels, what = _sample_labels(args, cfg)
    suffix = "" if args.label is None else f"_label{args.label}"
    png = _png(args, Path(args.run) / f"prior_samples_seed{args.seed}{suffix}.png")
    n = args.n if npz is not None else min(args.n, GRID_MAX)  # without --npz only the grid's are made
    assert cfg.image_shape is not None
    shapes = {"images": ((n, *cfg.image_shape), "float32"), "z": ((n, cfg.latent_dim), "float32")}
    if labels is not None:
        shapes["labels"] = ((n,), "int64")
    grid = []
    writer = NpzWriter(npz, shapes) if npz is not None else None
    with torch.no_grad(), torch.random.fork_rng(), writer or _Nothing():  # the caller's random stream stays
        torch.manual_seed(args.seed)
        generator = torch.Generator().manual_seed(args.seed)
        for start, count in _batches(n):
            y = None if labels is None else labels(start, count)
            z = model.sample_latent(count, generator, y)  # (count, latent)
            images = model.mean(z, y)  # (count, C, H, W)
            if writer is not None:
                writer.write("images", start, images.float().numpy())
                writer.write("z", start, z.float().numpy())
                if y is not None:
                    writer.write("labels", start, y.numpy())
            if start < GRID_MAX and png is not None:
                grid.append(images[: GRID_MAX - start])
    note = "Bernoulli means σ(logits)" if cfg.likelihood == "bernoulli" else "means of p(x|z)"
    short = "means σ(logits)" if cfg.likelihood == "bernoulli" else "means"
    if npz is not None:
        arrays = ", ".join(f"{k} ({' × '.join(map(str, v[0]))})" for k, v in shapes.items())
        print(f"wrote {npz}: {n} samples from the prior{what}: {arrays}; images are the {note}")
    if png is not None:
        _say_capped(args, npz, GRID_MAX)
        images = torch.cat(grid)
        shown = len(images)
        path = save_image_grid(images, png, title=f"{shown} samples from the prior{what} ({short})")
        print(f"wrote {path}: {shown} samples from the prior{what}, showing the {note}")
    return 0


class _Nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _sample_labels(args, cfg):
    """A function (start, count) -> the labels of those samples (None for an unconditional VAE), and
    how the title says it; one-line errors for a wrong --label."""
    import torch

    if not cfg.conditional:
        if args.label is not None:
            raise ValueError(f"--label is for a conditional VAE; {args.run} was trained without --conditional")
        return None, ""
    n_classes = int(cfg.n_classes or 0)
    if args.label is None:
        return (lambda start, count: torch.arange(start, start + count) % n_classes), (
            f", classes 0 … {n_classes - 1} in turn"
        )
    if not 0 <= args.label < n_classes:
        raise ValueError(f"--label must lie in 0 … {n_classes - 1} for this run, got {args.label}")
    return (lambda start, count: torch.full((count,), args.label)), f" of class {args.label}"


def _sample_gan(args, png: Path | None, npz: Path | None) -> int:
    import torch

    from klvae.cli.npz_output import NpzWriter
    from klvae.figures.charts import plot_points
    from klvae.figures.png import save_image_grid
    from klvae.runs.gan.finished import load_generator, mode_means

    generator = load_generator(args.run)
    first = generator.sample(1, torch.Generator().manual_seed(0)).detach()  # the shape of one sample
    images = first.dim() == 4
    cap = GRID_MAX if images else POINTS_MAX
    n = args.n if npz is not None else min(args.n, cap)
    name = "images" if images else "x"
    shapes = {name: ((n, *first.shape[1:]), "float32")}
    shown = []
    writer = NpzWriter(npz, shapes) if npz is not None else None
    with torch.no_grad(), torch.random.fork_rng(), writer or _Nothing():  # the caller's random stream stays
        torch.manual_seed(args.seed)
        for start, count in _batches(n):
            x = generator.sample(count).cpu()
            if writer is not None:
                writer.write(name, start, x.float().numpy())
            if start < cap and png is not None:
                shown.append(x[: cap - start])
    if npz is not None:
        print(f"wrote {npz}: {n} samples G(z) of the GAN: {name} ({' × '.join(map(str, shapes[name][0]))})")
    if png is None:
        return 0
    _say_capped(args, npz, cap)
    x = torch.cat(shown)
    title = f"{len(x)} samples G(z) of the GAN"
    if images:
        path = save_image_grid(x, png, title=title)
    else:
        path = plot_points(x, png, means=mode_means(args.run), label="G(z)", title=title)
    print(f"wrote {path}: {len(x)} samples of the GAN's generator")
    return 0


def _encode(args) -> int:
    import torch

    from klvae.cli.npz_output import NpzWriter
    from klvae.data.datasets import load_dataset
    from klvae.runs.gan.finished import is_gan_run
    from klvae.runs.vae.job import read_run_config, test_labels, test_set
    from klvae.training.hardware import resolve_device
    from klvae.vae import load_run

    if is_gan_run(args.run):
        raise ValueError(f"{args.run} is a GAN run: a GAN has no encoder (klvae sample {args.run} draws from it)")
    out = _npz(args.npz) or Path(args.run) / "latents.npz"
    device = resolve_device(args.device)
    vae, objective, train = read_run_config(args.run)
    model = load_run(args.run, device)
    dataset = load_dataset(train.data)
    x, y = test_set(dataset, objective), test_labels(dataset, vae, device)
    n, latent = len(x), vae.latent_dim
    shapes = {"mu": ((n, latent), "float32"), "logvar": ((n, latent), "float32"), "labels": ((n,), "int64")}
    if args.reconstructions:
        shapes |= {"images": ((n, *x.shape[1:]), "float32"), "reconstructions": ((n, *x.shape[1:]), "float32")}
    labels = dataset.y_test if dataset.y_test is not None else torch.full((n,), -1)
    with torch.no_grad(), NpzWriter(out, shapes) as writer:
        writer.write("labels", 0, labels.numpy())
        for start, count in _batches(n, 1000):
            xb = x[start : start + count].to(device)
            yb = None if y is None else y[start : start + count]
            mu, logvar = model.encode(xb, yb)  # (count, latent) each
            writer.write("mu", start, mu.float().cpu().numpy())
            writer.write("logvar", start, logvar.float().cpu().numpy())
            if args.reconstructions:
                writer.write("images", start, xb.float().cpu().numpy())
                writer.write("reconstructions", start, model.mean(mu, yb).float().cpu().numpy())
    extra = f", images and reconstructions ({n} × {' × '.join(map(str, x.shape[1:]))})" if args.reconstructions else ""
    print(f"wrote {out}: mu and logvar ({n} × {latent}), labels ({n}){extra} of the {dataset.name} test set")
    return 0
