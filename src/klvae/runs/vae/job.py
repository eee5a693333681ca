"""The VAE job: data + model + the loop + the report, written into a run folder.

`train_vae` loads the data, builds the `VAE`, trains it with `klvae.training.loop.fit` as a `VAETask`,
evaluates it on the test set (ELBO, importance-weighted −log p(x), active units) and writes the
run folder (`klvae.runs.folder`) with its figures and report (`klvae.runs.vae.report`).
`klvae.runs.vae.finished.evaluate_run` re-evaluates a finished run.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from klvae.data.datasets import Dataset, load_dataset
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
    write_per_image,
)
from klvae.runs.summary import command_line, evaluation_bar, startup_line, steps_per_epoch
from klvae.runs.vae.best import KeepBest
from klvae.runs.vae.report import write_figures_and_report
from klvae.runs.vae.task import VAETask
from klvae.training import distributed
from klvae.training.config import TrainConfig
from klvae.training.hardware import default_threads, resolve_amp, resolve_device, torch_threads
from klvae.training.loop import fit
from klvae.training.task import FitResult
from klvae.training.tensorboard import TensorBoardLogger, require_tensorboard
from klvae.vae.config import VAEConfig, size_defaults
from klvae.vae.evaluate import evaluate_vae_per_image
from klvae.vae.files import build_model, save_model
from klvae.vae.model import VAE
from klvae.vae.objective import ELBOConfig, binarize, check_objective, resolve_kl

__all__ = ["train_vae", "read_run_config", "test_set", "test_labels", "validation_split", "defaults"]

EPOCHS = 200
# Adam's β2: 0.95 rather than torch's 0.999 (benchmarks/README.md, "Why these defaults").
ADAM_BETAS = (0.9, 0.95)
TEST_BINARIZE_SEED = 1234  # the test set is binarized once, with this seed, in every run
VAL_SEED = 4321  # the validation split and its binarization: the same in every run of a data set
LARGE_DATA = 10_000  # training images from which a tenth, not a fifth, is held out for validation


def defaults(image_shape: tuple[int, ...], n_train: int = LARGE_DATA) -> dict:
    """The loop settings a VAE run uses unless given: epochs, batch, rate and β's by image size;
    the validation share by the number of training images (a tenth from 10 000, else a fifth)."""
    size = size_defaults(image_shape)
    return {
        "val_size": 0.1 if n_train >= LARGE_DATA else 0.2,
        "epochs": EPOCHS,
        "batch_size": size["batch_size"],
        "lr": size["lr"],
        "adam_beta1": ADAM_BETAS[0],
        "adam_beta2": ADAM_BETAS[1],
    }


def validation_split(x: torch.Tensor, share: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(training, validation) rows: `share` of x held out, chosen by a generator seeded with
    VAL_SEED (the same split in every run of a data set), both in their original order.
    Applied to the labels, the same split."""
    n_val = round(share * len(x)) if len(x) > 1 else 0
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(VAL_SEED))
    return x[perm[n_val:].sort().values], x[perm[:n_val].sort().values]


def binarized(x: torch.Tensor, objective: ELBOConfig, seed: int) -> torch.Tensor:
    """Held-out images binarized once with `seed` when training binarizes (so epochs compare)."""
    return binarize(x, torch.Generator().manual_seed(seed)) if objective.binarize else x


def test_set(dataset: Dataset, objective: ELBOConfig) -> torch.Tensor:
    """The evaluation images: binarized once with a fixed seed when training binarizes."""
    if objective.binarize:
        return binarize(dataset.x_test, torch.Generator().manual_seed(TEST_BINARIZE_SEED))
    return dataset.x_test


def test_labels(dataset: Dataset, vae: VAEConfig, device: torch.device | str = "cpu") -> torch.Tensor | None:
    """The test labels a conditional model is evaluated with (None for an unconditional one)."""
    if not vae.conditional:
        return None
    if dataset.y_test is None:
        raise ValueError(f"this run's VAE is conditional, and the {dataset.name} test set has no labels")
    return dataset.y_test.to(device)


def read_run_config(run_dir: str | Path, given: TrainConfig | None = None) -> tuple[VAEConfig, ELBOConfig, TrainConfig]:
    """The three configs stored in a run folder's config.json (with `given`'s resume overrides)."""
    path = Path(run_dir) / CONFIG
    cfg = read_config(run_dir)
    try:
        vae, objective = VAEConfig(**cfg["vae"]), ELBOConfig(**cfg["objective"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path} is not a valid VAE run config ({err})") from None
    return vae, objective, loop_config(path, cfg["train"], given)


@dataclass
class _Run:
    """A VAE run between its phases: the data, the resolved configs, and the split of the training images."""

    dataset: Dataset
    vae: VAEConfig
    objective: ELBOConfig
    train: TrainConfig
    x_train: torch.Tensor
    x_val: torch.Tensor
    y_train: torch.Tensor | None
    y_val: torch.Tensor | None
    x_test: torch.Tensor | None = None  # set with the others on the device by `_on_device`
    y_test: torch.Tensor | None = None


def train_vae(
    vae: VAEConfig,
    objective: ELBOConfig,
    train: TrainConfig,
    *,
    hooks=(),
    figures: bool = True,
    epoch_hooks=(),
    log: bool = False,
    tensorboard: bool = False,
    command: str | None = None,
) -> tuple[Path, dict]:
    r"""Train a VAE, evaluate it on the test set and write the run folder.

    Under torchrun every process calls this; rank 0 evaluates and writes the folder. After a
    torchrun restart (TORCHELASTIC_RESTART_COUNT > 0) a run whose folder holds a checkpoint
    resumes from it. The evaluation reports the ELBO, the importance-weighted −log p(x) with
    `objective.iw_k` samples (each ± its standard error), the KL split and the active units.

    Parameters
    ----------
    vae : klvae.vae.VAEConfig
        The network and the likelihood; ignored when resuming.
    objective : klvae.vae.ELBOConfig
        The objective and the evaluation's k; ignored when resuming.
    train : klvae.training.TrainConfig
        The data, the loop's settings and the folder (`out`). With `resume` set, continues that
        run from its checkpoint with its config.json, except for the fields in
        `RESUME_OVERRIDES` (epochs, max_seconds, device, log_every, threads, ckpt_steps,
        compile), which come from `train`.
    hooks : sequence of callable
        ``hook(task, state)`` after each step (`klvae.training.fit`).
    figures : bool
        Draw the figures and report.html.
    epoch_hooks : sequence of callable
        ``hook(epoch, record, images)`` after each epoch's evaluation (images: 8 samples and 8
        reconstructions, (16, C, H, W)).
    log : bool
        Print a start-up line and the evaluation's progress (a bar only when stderr is a terminal).
    tensorboard : bool
        Write TensorBoard logs into RUN/tensorboard (`klvae.training.tensorboard`).
    command : str, optional
        The command line the report shows; None: this process's.

    Returns
    -------
    folder : pathlib.Path
        The run folder.
    metrics : dict
        What metrics.json holds, in nats per example; {} on the ranks other than 0.

    Raises
    ------
    ValueError
        For unknown data, ``keep="best"`` without a validation split, a conditional model of
        unlabelled data, a folder that holds another run or is in use, or a damaged run config.
    FileNotFoundError
        When resuming a folder that does not exist or holds no checkpoint.
    klvae.training.TrainingInterrupted
        On Ctrl-C or SIGTERM during training, after the checkpoint is saved.
    klvae.runs.EvaluationInterrupted
        On Ctrl-C during the final evaluation (the model is saved).

    Notes
    -----
    The importance-weighted bound with k samples,
    :math:`\log p(x) \ge \mathbb E\,\log \frac1k \sum_{i=1}^k p(x, z_i)/q(z_i|x)`, is at least
    the ELBO (k = 1) and tends to log p(x) as k grows.

    References
    ----------
    Kingma & Welling, "Auto-Encoding Variational Bayes" (2014); Burda et al., "Importance
    Weighted Autoencoders" (2016).

    Examples
    --------
    >>> import tempfile
    >>> from klvae.training import TrainConfig
    >>> from klvae.vae import ELBOConfig, VAEConfig
    >>> train = TrainConfig(data="digits", epochs=1, val_size=0.0, out=tempfile.mkdtemp(), threads=1)
    >>> folder, metrics = train_vae(VAEConfig(hidden=(32,), latent_dim=4), ELBOConfig(iw_k=5), train, figures=False)
    >>> (folder / "model.safetensors").exists(), metrics["epochs"], metrics["n_test"]
    (True, 1, 360)
    >>> bool(metrics["test_iw_nll"] <= -metrics["test_elbo"])  # the IW bound is the tighter
    True
    """
    if tensorboard:
        require_tensorboard()  # before any work: a missing extra is a one-line error
    started = time.time()
    with distributed.setup(resolve_device(train.device)) as (ctx, device), claim_run(train) as (run_dir, resume, train):
        if resume:
            vae, objective, train = read_run_config(run_dir, train)
        run = _resolve(vae, objective, train)
        model = _build(run, device, run_dir, resume, warn=ctx.is_main)
        config = _config(run, ctx.world)
        write_config(run_dir, config)
        with torch_threads((run.train.threads or default_threads(model)) if device.type == "cpu" else None):
            _on_device(run, device)
            task, keep = _task(run, model, run_dir, write=ctx.is_main)
            task.epoch_hooks.extend(epoch_hooks)
            if tensorboard and ctx.is_main:
                tb = TensorBoardLogger(run_dir / "tensorboard")
                hooks = (*hooks, tb)
                task.epoch_hooks.append(lambda e, _, images: tb.log_images("samples_then_reconstructions", images, e))
            if ctx.is_main and log:
                print(_startup(run, model, device), flush=True)
            result = fit(task, run.x_train, run.y_train, run.train, run_dir, config=config, resume=resume, hooks=hooks)
            if not ctx.is_main:
                return run_dir, {}
            made = {"command": command or command_line(), "started": started, "device": str(device)}
            try:
                metrics = _evaluate_and_write(run, model, keep, result, run_dir, log=log, processes=ctx.world)
                if figures:
                    _write_report(run, model, task, result, metrics, config, run_dir, made)
            except KeyboardInterrupt:
                raise EvaluationInterrupted(run_dir) from None
    return run_dir, metrics


def _resolve(vae: VAEConfig, objective: ELBOConfig, train: TrainConfig) -> _Run:
    """The data, the loop's defaults for it, the checks the configs need it for, and the validation split."""
    dataset = load_dataset(train.data)
    train = resolve_defaults(train, defaults(dataset.image_shape, len(dataset.x_train)))
    if train.keep == "best" and not train.val_size:
        raise ValueError("--keep best needs a validation split to choose by (--val-size above 0)")
    if vae.conditional and (dataset.y_train is None or dataset.y_test is None):
        raise ValueError(f"--conditional needs labels; the {dataset.name} data has none")
    x_train, x_val = validation_split(dataset.x_train, train.val_size or 0.0)
    y_train, y_val = (None, None)
    if vae.conditional:
        assert dataset.y_train is not None  # checked above
        y_train, y_val = validation_split(dataset.y_train, train.val_size or 0.0)
        if vae.n_classes is None:
            vae = replace(vae, n_classes=max(2, dataset.num_classes or 0))
    vae = replace(vae, image_shape=dataset.image_shape)  # validated against the data; fills hidden, latent_dim
    return _Run(dataset, vae, objective, train, x_train, x_val, y_train, y_val)


def _build(run: _Run, device: torch.device, run_dir: Path, resume: bool, *, warn: bool) -> VAE:
    """The model, seeded, its output bias and prior started from the training images (unless resumed);
    the objective and the loop settings that depend on it resolved into `run`."""
    vae, objective, train = run.vae, run.objective, run.train
    torch.manual_seed(train.seed)
    model = build_model(vae).to(device)
    if not resume:  # (a resumed run loads its weights)
        model.init_output_bias(run.x_train.mean(0))
        if model.prior is not None:
            model.prior.init_from(run.x_train, torch.Generator().manual_seed(train.seed))
    run.train = replace(train, amp=resolve_amp(train.amp, device, model), out=str(run_dir))
    if objective.binarize is None:
        objective = replace(objective, binarize=vae.likelihood == "bernoulli")
    check_objective(model, objective)
    run.objective = replace(objective, kl=resolve_kl(model, objective.kl))  # config.json says which
    x = run.dataset.x_train
    if warn and vae.likelihood == "bernoulli" and not run.objective.binarize and not bool(((x == 0) | (x == 1)).all()):
        warnings.warn(
            "the bernoulli likelihood on grey (non-binary) pixels without --binarize is not a "
            "likelihood of the data: the reported NLL and ELBO are not valid discrete likelihoods",
            stacklevel=3,
        )
    return model


def _config(run: _Run, processes: int) -> dict:
    """config.json: the three configs, the data's sizes and the number of processes."""
    return {
        "vae": asdict(run.vae),
        "objective": asdict(run.objective),
        "train": train_dict(run.train),
        "data": {
            "name": run.dataset.name,
            "n_train": int(run.x_train.shape[0]),
            "n_val": int(run.x_val.shape[0]),
            "n_test": int(run.dataset.x_test.shape[0]),
            "image_shape": list(run.dataset.image_shape),
        },
        "processes": processes,
    }


def _on_device(run: _Run, device: torch.device) -> None:
    """The images on `device`: training as they are, validation and test binarized once when training binarizes."""
    run.x_train = run.x_train.to(device)
    run.x_val = binarized(run.x_val, run.objective, VAL_SEED).to(device)
    run.x_test = test_set(run.dataset, run.objective).to(device)
    run.y_test = test_labels(run.dataset, run.vae, device)
    run.y_val = None if run.y_val is None else run.y_val.to(device)


def _task(run: _Run, model: VAE, run_dir: Path, *, write: bool) -> tuple[VAETask, KeepBest]:
    """The VAE as the loop's task, and the `--keep best` hook (among its epoch hooks when asked for)."""
    task = VAETask(model, run.objective, run.train, run.x_val, run.y_val, n_data=len(run.x_train))
    if not len(run.x_val):
        task.x_show = binarized(run.x_train[:8], run.objective, VAL_SEED)
        task.y_show = None if run.y_train is None else run.y_train[:8].to(run.x_train.device)
    keep = KeepBest(model, run_dir, write=write)
    if run.train.keep == "best":
        task.epoch_hooks.append(keep)
    return task, keep


def _startup(run: _Run, model: VAE, device: torch.device) -> str:
    """The start-up line: where, how fast, how big."""
    sizes = {"train": len(run.x_train), "validation": len(run.x_val), "test": len(run.dataset.x_test)}
    parameters = sum(p.numel() for p in model.parameters())
    return startup_line(device, torch.get_num_threads(), run.train.amp, parameters, sizes)


def _evaluate_and_write(
    run: _Run, model: VAE, keep: KeepBest, result: FitResult, run_dir: Path, *, log: bool, processes: int
) -> dict:
    """The weights kept, saved; the test set evaluated once; metrics.json and the per-image values written."""
    evaluated = keep.restore() if run.train.keep == "best" else {"checkpoint": "last"}
    save_model(model, run_dir / MODEL)
    assert run.x_test is not None  # on the device since `_on_device`
    metrics, per_image = _final_metrics(model, run.x_test, run.y_test, run.objective.iw_k, result, log)
    write_per_image(run_dir, per_image, run.objective.iw_k)
    metrics["processes"] = processes
    metrics["evaluated"] = evaluated
    write_metrics(run_dir, metrics)
    return metrics


def _write_report(
    run: _Run, model: VAE, task: VAETask, result: FitResult, metrics: dict, config: dict, run_dir: Path, made: dict
) -> None:
    """The figures and report.html, with a last snapshot of a run stopped within an epoch."""
    st, spe = result.state, steps_per_epoch(config)
    end = st.epoch if not st.batch else float(f"{st.step / max(spe, 1):.3g}")  # a partial epoch
    if end not in task.snapshots and st.step:
        task.snapshots[end] = task.snapshot()
    made = {**made, "wall_seconds": time.time() - made["started"]}
    assert run.x_test is not None  # on the device since `_on_device`
    write_figures_and_report(
        run_dir,
        model,
        run.dataset,
        run.x_test,
        result.records,
        metrics,
        config,
        made=made,
        snapshots=task.snapshots,
        inputs_shown=task.x_show,
    )


def _final_metrics(
    model: VAE,
    x_test: torch.Tensor,
    y_test: torch.Tensor | None,
    k: int,
    result: FitResult,
    log: bool = False,
) -> tuple[dict, dict[str, torch.Tensor]]:
    """The test-set metrics with the run's training figures, and the per-example values."""
    st = result.state
    with evaluation_bar(len(x_test), k, log) as bar:
        metrics, per_image = evaluate_vae_per_image(model, x_test, y=y_test, k=k, progress=bar.update)
    metrics.update(
        {
            "epochs": st.epoch,  # finished epochs (a --max-seconds stop may leave one partly done)
            "steps": st.step,
            "stopped": result.stopped,
            "train_seconds": st.train_seconds,
            "train_samples_per_second": st.samples / st.train_seconds if st.train_seconds > 0 else None,
            "threads": torch.get_num_threads(),
            "units": "nats per example",
        }
    )
    return metrics, per_image
