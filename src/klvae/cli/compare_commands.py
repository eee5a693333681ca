"""`klvae compare RUN RUN …`: VAE runs side by side.

The table holds each run's test metrics; below it, each run's difference from the first run
with the standard error of the *paired* difference, taken example by example over the same
test images (RUN/test_per_image.safetensors): the images' own difficulty, shared by both runs,
cancels, so a difference far smaller than either run's own ± can be told from noise. Runs are
paired only when their test images are the same (same data, same number of test images, the
same binarization). Then the settings in which the runs' config.json differ, and, with --png or
--html, one figure with their curves overlaid; --html writes a report like the run report.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from klvae.cli.common import UsageError, fixed

__all__ = ["register", "load_runs", "paired_rows", "differing_settings"]

_IGNORED = {"train.out", "train.resume"}  # where a run was written, not how


def register(subparsers) -> None:
    """Add `compare` to the `klvae` command line."""
    c = subparsers.add_parser(
        "compare",
        help="compare VAE runs: metrics, paired differences on the same test images, differing settings",
        description="Print the test metrics of two or more VAE runs, each run's difference from the first "
        "with the standard error of the paired difference over the same test images, and the settings "
        "in which their config.json differ; --png draws their curves in one figure, --html writes a report "
        "with all of it.",
    )
    c.add_argument("runs", metavar="RUN", nargs="+", help="two or more VAE run folders; the first is the baseline")
    c.add_argument(
        "--png", metavar="FILE", help="draw the runs' validation ELBO per epoch into this PNG (default none)"
    )
    c.add_argument("--html", metavar="FILE", help="write a comparison report to this .html file (default none)")
    c.set_defaults(func=_compare)


def _label(path: Path, paths: list[Path]) -> str:
    """The folder's name, or its path when two runs share a name."""
    names = [p.name for p in paths]
    return path.name if names.count(path.name) == 1 else str(path)


def load_runs(texts: list[str]) -> list[dict]:
    """{"label", "dir", "config", "metrics", "records", "per_image" (or None)} of each run folder."""
    from klvae.runs.folder import METRICS, PER_IMAGE, read_config, read_per_image
    from klvae.training.loop import METRICS_JSONL

    paths = [Path(t) for t in texts]
    if len(paths) < 2:
        raise UsageError("compare needs two or more runs")
    runs = []
    for path in paths:
        config = read_config(path)
        if "gan" in config:
            raise UsageError(f"{path} is a GAN run: compare takes VAE runs")
        if not (path / METRICS).is_file():
            raise UsageError(f"{path} has no {METRICS}: the run has not finished (resume it first)")
        metrics = json.loads((path / METRICS).read_text())
        log = path / METRICS_JSONL
        records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.is_file() else []
        per_image = read_per_image(path) if (path / PER_IMAGE).is_file() else None
        runs.append(
            {"label": _label(path, paths), "dir": path, "config": config, "metrics": metrics, "records": records}
            | {"per_image": per_image}
        )
    return runs


def _test_images(run: dict) -> tuple:
    """What decides which test images a run was evaluated on."""
    c = run["config"]
    return (c["train"].get("data"), c.get("data", {}).get("n_test"), c.get("objective", {}).get("binarize"))


def paired_rows(runs: list[dict]) -> list[tuple[str, str, str, str]]:
    """(run, Δ test ELBO ± SE, Δ −log p(x) ± SE, note) of each run against the first, paired over
    the same test images; the note says why a pair is missing."""
    from klvae.vae import paired_difference

    base, rows = runs[0], []
    for run in runs[1:]:
        why = ""
        if _test_images(run) != _test_images(base):
            why = "other test images: not paired"
        elif run["per_image"] is None or base["per_image"] is None:
            why = "no per-image values saved: not paired"
        if why:
            rows.append((run["label"], "—", "—", why))
            continue
        cells = []
        for key in ("elbo", "log_px"):
            diff, se = paired_difference(run["per_image"][key], base["per_image"][key])
            sign = 1 if key == "elbo" else -1  # −log p(x): lower is better
            cells.append(f"{fixed(sign * diff)} ± {fixed(se) if se is not None else '—'}")
        k = (run["metrics"].get("iw_k"), base["metrics"].get("iw_k"))
        note = "" if k[0] == k[1] else f"−log p(x) at IW k = {k[0]} against k = {k[1]}"
        rows.append((run["label"], *cells, note))
    return rows


def _flat(d: dict, prefix: str = "") -> dict:
    out: dict = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def differing_settings(runs: list[dict]) -> list[tuple[str, list]]:
    """(setting, [value per run]) for each config.json setting whose value differs between runs."""
    flats = [_flat(r["config"]) for r in runs]
    keys = sorted(set().union(*flats) - _IGNORED)
    return [(k, [f.get(k) for f in flats]) for k in keys if len({json.dumps(f.get(k)) for f in flats}) > 1]


def _se(metrics: dict, key: str) -> str:
    return f" ± {fixed(metrics[key])}" if metrics.get(key) is not None else ""


def _metric_rows(runs: list[dict]) -> tuple[list[str], list[list[str]]]:
    header = ["run", "test ELBO", "−log p(x)", "IW k", "KL", "active units", "epochs", "train time"]
    rows = []
    for r in runs:
        m = r["metrics"]
        rows.append(
            [
                r["label"],
                f"{fixed(m['test_elbo'])}{_se(m, 'test_elbo_se')}",
                f"{fixed(m['test_iw_nll'])}{_se(m, 'test_iw_nll_se')}",
                str(m.get("iw_k", "—")),
                fixed(m["test_kl"]),
                f"{m['active_units']} of {m.get('latent_dim', '?')}",
                str(m.get("epochs", "—")),
                f"{m['train_seconds']:.1f} s" if m.get("train_seconds") is not None else "—",
            ]
        )
    return header, rows


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(x) for x in column) for column in zip(header, *rows)]
    for row in [header, *rows]:
        cells = (
            cell.ljust(w) if i in (0, len(row) - 1) else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))
        )
        print("  ".join(cells).rstrip())


def _value(v) -> str:
    return json.dumps(v) if not isinstance(v, str) else v


def _compare(args) -> int:
    runs = load_runs(args.runs)
    header, rows = _metric_rows(runs)
    print("test metrics, nats per example (± one standard error over the test images):")
    _print_table(header, rows)
    paired = paired_rows(runs)
    base = runs[0]["label"]
    print(f"\neach run − {base}, image by image over the same test images (± the SE of the paired difference):")
    _print_table(["run", "Δ test ELBO (↑ better)", "Δ −log p(x) (↓ better)", ""], [list(r) for r in paired])
    settings = differing_settings(runs)
    print("\nsettings that differ:" if settings else "\nno setting differs (other than the run folders)")
    if settings:
        _print_table(["setting", *(r["label"] for r in runs)], [[k, *map(_value, v)] for k, v in settings])
    if args.png:
        print(f"wrote {_curves(runs, Path(args.png))}")
    if args.html:
        print(f"wrote {_report(runs, Path(args.html), header, rows, paired, settings)}")
    return 0


def _curves(runs: list[dict], path: Path) -> Path:
    """One figure: each run's validation ELBO per epoch (its training loss when it held none out)."""
    from klvae.figures.charts import plot_curves

    if path.suffix.lower() != ".png":
        raise UsageError(f"--png {path}: the figure is a PNG; give a file name ending in .png")
    validated = all(any(r.get("val_elbo") is not None for r in run["records"]) for run in runs)
    key, what = ("val_elbo", "validation ELBO") if validated else ("train_loss", "training loss −ELBO")
    epochs: dict[float, dict] = {}
    for run in runs:
        for record in run["records"]:
            if record.get(key) is not None and "epoch" in record:
                epochs.setdefault(record["epoch"], {"epoch": record["epoch"]})[run["label"]] = record[key]
    rows = [epochs[e] for e in sorted(epochs)]
    labels = [r["label"] for r in runs]
    return plot_curves(rows, labels, path, title=f"{what} per epoch", ylabel=f"{what} (nats per example)")


def _report(runs, path: Path, header, rows, paired, settings) -> Path:
    """The comparison as one self-contained HTML file, the figure embedded."""
    import shutil
    import tempfile

    from klvae.figures.report import write_report

    if path.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--html {path}: give a file name ending in .html")
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".compare.", dir=path.parent))
    try:
        figure = _curves(runs, work.resolve() / "curves.png")
        table = [
            (
                row[0],
                f"ELBO {row[1]}",
                f"−log p(x) {row[2]} (IW k = {row[3]}); KL {row[4]}; {row[5]} active units; "
                f"{row[6]} epoch{'' if row[6] == '1' else 's'} in {row[7]}",
            )
            for row in rows
        ]
        table += [
            (
                f"{label} − {runs[0]['label']}",
                f"Δ ELBO {e}",
                f"Δ −log p(x) {n}; {note or 'paired over the same test images'}",
            )
            for label, e, n, note in paired
        ]
        config = {k: " | ".join(f"{r['label']}: {_value(v)}" for r, v in zip(runs, values)) for k, values in settings}
        written = write_report(
            work,
            title=f"Comparison of {', '.join(r['label'] for r in runs)}",
            metrics=table,
            figures=[(str(figure), "the runs' curves, overlaid")],
            notes=[
                "Differences are each run's minus the first run's, with the standard error of the difference "
                "taken image by image over the same test images (nats per example; higher is better for the "
                "ELBO, lower for −log p(x))."
            ],
            config=config or {"settings": "no setting differs"},
        )
        os.replace(written, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path
