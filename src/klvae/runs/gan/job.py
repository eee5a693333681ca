"""The GAN job: data + networks + the loop + the report, written into a run folder.

Besides the files of every run (`klvae.runs.folder`), a GAN run holds samples/epoch_NNN.png (a
scatter over the modes for 2-D data, an image grid otherwise) with the samples drawn in it
(samples/epoch_NNN.safetensors, key "x", for the report's progress.png) and, for labelled images,
classifier.safetensors (the offline scorer).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
from safetensors.torch import load_file

from klvae._io import atomic_save_safetensors
from klvae.data.datasets import Dataset, load_dataset
from klvae.data.mixtures import mode_mixture
from klvae.figures.charts import plot_points
from klvae.figures.png import save_image_grid
from klvae.gan.evaluate import (
    EVAL_SAMPLES,
    IMAGE_EVAL_SAMPLES,
    classifier_scores,
    mode_coverage,
    sample_fixed,
    train_classifier,
)
from klvae.gan.model import Classifier, GANConfig, build_gan, save_classifier, save_gan
from klvae.runs.folder import (
    CONFIG,
    MODEL,
    EvaluationInterrupted,
    claim_run,
    loop_config,
    read_config,
    resolve_defaults,
    train_dict,
    write_config,
    write_metrics,
)
from klvae.runs.gan.report import write_figures_and_report
from klvae.runs.gan.task import GANTask
from klvae.runs.summary import command_line, startup_line
from klvae.training import distributed
from klvae.training.config import TrainConfig
from klvae.training.hardware import default_threads, resolve_device, torch_threads
from klvae.training.loop import fit
from klvae.training.tensorboard import TensorBoardLogger, require_tensorboard

__all__ = ["Evaluator", "train_gan", "read_run_config", "load_classifier", "defaults", "MIXTURES"]

MIXTURES = ("ring8", "grid25")


def defaults(data: str, loss: str = "nonsaturating") -> dict:
    """Loop settings a GAN run uses unless given: they depend on the kind of data and the loss.

    2-D mixtures (100000 points): 8 epochs of batches of 256 (3128 steps), lr 1e-3;
    digits (1437 images): 60 epochs of 32 (2700 steps), lr 2e-4; other images: 10 epochs of 64.
    Adam's β1 is 0.5 (DCGAN, WGAN-GP), β2 0.999 (0.9 for WGAN-GP); float32 throughout.
    """
    betas = {"adam_beta1": 0.5, "adam_beta2": 0.9 if loss == "wasserstein" else 0.999, "amp": "none"}
    key = data.strip().lower()
    if key in MIXTURES:
        return {"epochs": 8, "batch_size": 256, "lr": 1e-3, **betas}
    if key == "digits":
        return {"epochs": 60, "batch_size": 32, "lr": 2e-4, **betas}
    return {"epochs": 10, "batch_size": 64, "lr": 2e-4, **betas}


class Evaluator:
    """Per-epoch evaluation and the per-epoch samples figure of one run."""

    def __init__(self, run_dir: Path, dataset, classifier=None):
        self.run_dir, self.dataset, self.classifier = run_dir, dataset, classifier
        self.image_hooks: list = []  # hook(epoch, images (64, C, H, W)) for image data (TensorBoard)
        self.image = dataset.is_image
        if not self.image:
            self.means, self.sigma = mode_mixture(dataset.name)

    def __call__(self, generator, epoch: int, *, figure: bool = True) -> dict:
        path = self.run_dir / "samples" / f"epoch_{epoch:03d}.png"
        if not self.image:
            x = sample_fixed(generator, EVAL_SAMPLES).cpu()  # (2500, 2)
            cov = mode_coverage(x, self.means, self.sigma)
            if figure:
                atomic_save_safetensors({"x": x.float()}, path.with_suffix(".safetensors"))  # progress.png's
                plot_points(
                    x,
                    path,
                    means=self.means,
                    label="G(z)",
                    title=(
                        f"{self.dataset.name}, epoch {epoch}: {cov.modes} modes, {cov.high_quality:.1%} high quality"
                    ),
                )
            rkl = cov.reverse_kl if math.isfinite(cov.reverse_kl) else None  # JSON has no NaN
            return {"modes": cov.modes, "high_quality": cov.high_quality, "reverse_kl": rkl}
        x = sample_fixed(generator, IMAGE_EVAL_SAMPLES)
        for hook in self.image_hooks if figure else ():
            hook(epoch, x[:64].cpu())
        if figure:
            atomic_save_safetensors({"x": x[:64].float()}, path.with_suffix(".safetensors"))  # progress.png's
            save_image_grid(x[:64].cpu(), path, nrow=8, title=f"{self.dataset.name}: G(z), epoch {epoch}")
        out = {}
        if self.classifier is not None:
            s = classifier_scores(self.classifier, x, self.dataset.y_train.to(x.device), self.classifier.num_classes)
            out = {"class_kl": s["class_kl"], "confidence": s["confidence"]}
        return out


def read_run_config(run_dir: str | Path, given: TrainConfig | None = None) -> tuple[GANConfig, TrainConfig]:
    """The (GANConfig, TrainConfig) stored in a run folder's config.json (with `given`'s resume overrides).

    Runs saved before the loop owned the optimizer kept Adam's β's and the decay in the GAN's
    settings (beta1, beta2, lr_decay): they are read into the loop's.
    """
    path = Path(run_dir) / CONFIG
    cfg = read_config(run_dir)
    gan, train = dict(cfg.get("gan", {})), dict(cfg["train"])
    if "beta1" in gan or "lr_decay" in gan:
        beta2 = gan.pop("beta2", None)
        train.update(
            adam_beta1=gan.pop("beta1", 0.5),
            adam_beta2=beta2 if beta2 is not None else (0.9 if gan.get("loss") == "wasserstein" else 0.999),
            lr_schedule="linear" if gan.pop("lr_decay", True) else "constant",
        )
    try:
        gan_config = GANConfig(**gan)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path} is not a valid GAN run config ({err})") from None
    return gan_config, loop_config(path, train, given)


def train_gan(
    gan: GANConfig | None,
    train: TrainConfig,
    *,
    hooks=(),
    figures: bool = True,
    log: bool = False,
    tensorboard: bool = False,
    command: str | None = None,
) -> tuple[Path, dict]:
    """Train a GAN on `train.data`, evaluate it and write the run folder.

    2-D mixtures (ring8, grid25, drawn with `train.seed`) get mode coverage (modes,
    high_quality, reverse_kl) on 2500 samples; labelled images get class_kl and confidence from
    a classifier trained here (not FID). Under torchrun every process calls this (DDP on D's and
    G's updates; see `klvae.training.data_parallel`); rank 0 evaluates and writes the folder. After
    a torchrun restart a run whose folder holds a checkpoint resumes from it. The GAN matches one
    process in distribution, not exactly: z is drawn per rank and G's batch normalization uses
    each rank's shard. The caller's configs are not modified.

    Parameters
    ----------
    gan : klvae.gan.GANConfig or None
        The networks and the loss; ignored (None allowed) when resuming.
    train : klvae.training.TrainConfig
        The data, the loop's settings and the folder (`out`). With `resume` set, continues that
        run from its checkpoint with its config.json, except for the fields in
        `RESUME_OVERRIDES` (epochs, max_seconds, device, log_every, threads, ckpt_steps,
        compile), which come from `train`; more epochs stretch the learning-rate decay to the new
        end.
    hooks : sequence of callable
        ``hook(task, state)`` after each step (`klvae.training.fit`).
    figures : bool
        Draw the figures and report.html.
    log : bool
        Print a start-up line.
    tensorboard : bool
        Write TensorBoard logs into RUN/tensorboard.
    command : str, optional
        The command line the report shows; None: this process's.

    Returns
    -------
    folder : pathlib.Path
        The run folder.
    metrics : dict
        What metrics.json holds; {} on the ranks other than 0.

    Raises
    ------
    ValueError
        For unknown data, 2-D data other than ring8 and grid25, a batch smaller than a pack, a
        folder that holds another run or is in use, or a damaged run config.
    FileNotFoundError
        When resuming a folder that does not exist or holds no checkpoint.
    klvae.training.TrainingInterrupted
        On Ctrl-C or SIGTERM during training, after the checkpoint is saved.
    klvae.runs.EvaluationInterrupted
        On Ctrl-C during the final evaluation (the model is saved).

    Examples
    --------
    >>> import tempfile
    >>> from klvae.gan import GANConfig
    >>> from klvae.training import TrainConfig
    >>> train = TrainConfig(data="ring8", epochs=1, batch_size=10000, out=tempfile.mkdtemp(), threads=1)
    >>> small = GANConfig(g_hidden=16, d_hidden=16, g_layers=2, d_layers=2)
    >>> folder, metrics = train_gan(small, train, figures=False)
    >>> (folder / "model.safetensors").exists(), metrics["epochs"]
    (True, 1)
    """
    if tensorboard:
        require_tensorboard()  # before any work: a missing extra is a one-line error
    made = {"command": command or command_line(), "started": time.time()}
    with (
        distributed.setup(resolve_device(train.device)) as (ctx, device),
        claim_run(train, prefix="gan-") as (run_dir, resume, train),
    ):
        if resume:
            gan, train = read_run_config(run_dir, train)
        gan = gan or GANConfig()
        train = resolve_defaults(train, defaults(train.data, gan.loss))
        dataset = load_dataset(train.data, seed=train.seed)  # the 2-D mixtures are drawn with the seed
        if not dataset.is_image and dataset.name not in MIXTURES:
            raise ValueError(
                f"2-D data must be ring8 or grid25 (its modes are needed for evaluation), got {dataset.name!r}"
            )
        gan = gan.resolved(image=dataset.is_image)
        assert train.batch_size is not None  # set by the defaults
        if train.batch_size < gan.pack * ctx.world:
            raise ValueError(
                f"batch_size ({train.batch_size}) must be at least pack ({gan.pack})"
                + (f" times the {ctx.world} processes" if ctx.distributed else "")
            )
        if 0 < len(dataset.x_train) % train.batch_size < ctx.world:
            raise ValueError(
                f"the last batch of each epoch ({len(dataset.x_train) % train.batch_size} "
                f"examples) would leave a process without examples; choose another --batch-size"
            )
        train = replace(train, out=str(run_dir), resume=None)
        config = {
            "gan": asdict(gan),
            "train": train_dict(train),
            "data": {
                "name": dataset.name,
                "n_train": int(dataset.x_train.shape[0]),
                "shape": list(dataset.image_shape),
            },
        }
        write_config(run_dir, config)
        made.update(device=str(device), log=log, tensorboard=tensorboard)
        return _train(run_dir, resume, gan, train, dataset, ctx, device, config, hooks, figures, made)


def _train(
    run_dir: Path,
    resume: bool,
    gan: GANConfig,
    train: TrainConfig,
    dataset: Dataset,
    ctx,
    device,
    config: dict,
    hooks,
    figures: bool,
    made: dict,
) -> tuple[Path, dict]:
    log, tensorboard = made.pop("log"), made.pop("tensorboard")
    classifier, metrics_extra = None, {}
    if ctx.is_main and dataset.is_image and dataset.y_train is not None:  # rank 0 evaluates
        classifier, metrics_extra = _classifier(run_dir, dataset, device, train.seed, resume)
    torch.manual_seed(train.seed)
    generator, discriminator = build_gan(gan, dataset.image_shape, image=dataset.is_image)
    generator, discriminator = generator.to(device), discriminator.to(device)
    threads = (train.threads or default_threads(generator, discriminator)) if device.type == "cpu" else None
    with torch_threads(threads):
        evaluate = Evaluator(run_dir, dataset, classifier)
        if tensorboard and ctx.is_main:
            tb = TensorBoardLogger(run_dir / "tensorboard")
            hooks = (*hooks, tb)
            evaluate.image_hooks.append(lambda e, images: tb.log_images("samples", images, e))
        if log and ctx.is_main:
            parameters = sum(p.numel() for m in (generator, discriminator) for p in m.parameters())
            print(
                startup_line(
                    device,
                    torch.get_num_threads(),
                    train.amp,
                    parameters,
                    {"train": len(dataset.x_train), "test": len(dataset.x_test)},
                ),
                flush=True,
            )
        task = GANTask(generator, discriminator, gan, train, evaluate)
        result = fit(task, dataset.x_train.to(device), None, train, run_dir, config=config, resume=resume, hooks=hooks)
        if not ctx.is_main:
            return run_dir, {}
        generator.eval()
        save_gan(generator, discriminator, gan, run_dir / MODEL)
        st = result.state
        try:
            metrics = {
                **evaluate(generator, st.epoch, figure=False),
                **metrics_extra,
                "epochs": st.epoch,
                "steps": st.step,
                "stopped": result.stopped,
                "train_seconds": st.train_seconds,
                "train_samples_per_second": st.samples / st.train_seconds if st.train_seconds > 0 else None,
                "threads": torch.get_num_threads(),
                "data": dataset.name,
                "loss": gan.loss,
                "pack": gan.pack,
                "processes": ctx.world,
            }
            write_metrics(run_dir, metrics)
            if figures:
                made["wall_seconds"] = time.time() - made["started"]
                write_figures_and_report(
                    run_dir, generator, dataset, evaluate, result.records, metrics, config, made=made
                )
        except KeyboardInterrupt:
            raise EvaluationInterrupted(run_dir) from None
    return run_dir, metrics


def load_classifier(path: Path, dataset: Dataset, device) -> Classifier:
    """A run's offline scorer, in eval mode; a damaged file, or one that does not fit the data's
    classifier, is one line naming it."""
    model = Classifier(dataset.image_shape, int(dataset.num_classes or 0)).to(device)
    try:
        model.load_state_dict(load_file(str(path), device=str(device)))
    except Exception as err:
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise ValueError(f"{path} is not this run's classifier ({first}); delete it to train a new one") from None
    return model.eval()


def _classifier(run_dir: Path, dataset: Dataset, device, seed: int, resume: bool):
    """Train (or, on resume, load) the offline scorer; returns it and its test accuracy."""
    path = run_dir / "classifier.safetensors"
    k, y_train, y_test = dataset.num_classes, dataset.y_train, dataset.y_test
    assert k is not None and y_train is not None and y_test is not None  # labelled images only
    if resume and path.is_file():
        model = load_classifier(path, dataset, device)
    else:
        model = train_classifier(dataset.x_train.to(device), y_train.to(device), k, seed=seed)
        save_classifier(model, path)
    with torch.no_grad():
        pred = torch.cat([model(b).argmax(1) for b in dataset.x_test.to(device).split(1000)])
    accuracy = float(pred.cpu().eq(y_test).double().mean())
    return model, {"classifier_test_accuracy": accuracy}
