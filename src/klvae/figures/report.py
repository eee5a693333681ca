"""One self-contained `report.html` per run folder, and the metrics log it reads.

`report.html` embeds each PNG (drawn by `klvae.figures.png`) as base64: it can be mailed or opened
anywhere. The report takes metrics, figures and the run's config, never a model.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import math
import os
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from klvae._io import atomic_write_text, read_jsonl
from klvae._version import __version__

__all__ = ["write_report", "load_metrics_jsonl", "PAGE_PX"]

load_metrics_jsonl = read_jsonl  # the metrics log a report reads: `klvae._io.read_jsonl`

# --------------------------------------------------------------------------- report.html


def _plain(v):
    if isinstance(v, torch.Tensor):
        return v.item() if v.numel() == 1 else v.tolist()
    if isinstance(v, np.ndarray):
        return v.item() if v.size == 1 else v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    return v


def _format(v, max_items: int = 8) -> str:
    """A value as a short cell text: 5 significant digits, long lists shortened."""
    v = _plain(v)
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.5g}" if math.isfinite(v) else str(v)
    if isinstance(v, (list, tuple)):
        items = [_format(u, max_items) for u in v[:max_items]]
        more = f", … ({len(v)} values)" if len(v) > max_items else ""
        return "[" + ", ".join(items) + more + "]"
    return str(v)


def _is_instance_of_dataclass(v) -> bool:
    return dataclasses.is_dataclass(v) and not isinstance(v, type)


def _flatten(d, prefix: str = "") -> list[tuple[str, object]]:
    if _is_instance_of_dataclass(d):
        d = dataclasses.asdict(d)
    out = []
    for k, v in d.items():
        if isinstance(v, Mapping) or _is_instance_of_dataclass(v):
            out += _flatten(v, f"{prefix}{k}.")
        else:
            out.append((f"{prefix}{k}", v))
    return out


def _table(d: Mapping | object) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_format(v))}</td></tr>" for k, v in _flatten(d))
    return f"<table>{rows}</table>"


_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".svg": "image/svg+xml"}

#: The width of the page's column in CSS pixels: a figure up to this wide is shown at its own size.
PAGE_PX = 960

_CSS = f"""
body {{ font-family: system-ui, sans-serif; max-width: {PAGE_PX}px; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }}
h1 {{ font-size: 1.6rem; }} h2 {{ font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }}
table {{ border-collapse: collapse; }} th, td {{ padding: .2rem .8rem; border-bottom: 1px solid #eee;
text-align: left; vertical-align: top; }} td {{ font-family: ui-monospace, monospace; }}
figure {{ margin: 1.5rem 0; }} img {{ max-width: 100%; height: auto; }}
figcaption {{ color: #555; font-size: .95rem; }} .missing {{ color: #a00; }}
.warning {{ background: #fff4e5; border-left: 4px solid #e67e00; padding: .5rem .8rem; }}
td.num {{ text-align: right; white-space: nowrap; }} td.why, p.why {{ font-family: inherit; color: #555; }}
details {{ margin-top: 1rem; }} summary {{ cursor: pointer; color: #555; }}
"""


def _rows_table(rows: Sequence[tuple[str, str, str]]) -> str:
    """(label, value with its unit, one line of explanation) rows."""
    body = "".join(
        f'<tr><th>{html.escape(label)}</th><td class="num">{html.escape(value)}</td>'
        f'<td class="why">{html.escape(why)}</td></tr>'
        for label, value, why in rows
    )
    return f"<table>{body}</table>"


def _figure_html(run_dir: Path, path: str, caption: str) -> str:
    if Path(path).suffix.lower() not in _MIME and Path(caption).suffix.lower() in _MIME:
        path, caption = caption, path  # accept (caption, path) too
    p = Path(path) if Path(path).is_absolute() else run_dir / path
    cap = html.escape(caption)
    mime = _MIME.get(p.suffix.lower())
    if mime is None or not p.is_file():
        why = "not an image file" if mime is None else "file not found"
        return f'<figure><p class="missing">{html.escape(str(path))}: {why}</p><figcaption>{cap}</figcaption></figure>'
    raw = p.read_bytes()
    size = ""
    if raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) >= 24:  # the header's width and height: shown at its size
        size = ' width="{}" height="{}"'.format(*struct.unpack(">II", raw[16:24]))
    data = base64.b64encode(raw).decode("ascii")
    return f'<figure><img src="data:{mime};base64,{data}"{size} alt="{cap}"><figcaption>{cap}</figcaption></figure>'


def write_report(
    run_dir: str | os.PathLike,
    *,
    title: str,
    metrics: Mapping | Sequence[tuple[str, str, str]],
    figures: Sequence[tuple[str, str]],
    config: Mapping | object | None = None,
    notes: Sequence[str] | None = None,
    warnings: Sequence[str] = (),
    provenance: Sequence[tuple[str, str]] = (),
    raw_metrics: Mapping | None = None,
    config_note: str | None = None,
) -> Path:
    """Write ``run_dir/report.html``: title, warnings, notes, metrics, figures, how it was made, config.

    Each image is embedded as base64, so the one file holds everything. Nested dicts and
    dataclasses of `config` become dotted keys; floats show 5 significant digits; lists longer
    than 8 are shortened. All text is HTML-escaped. A missing figure is reported in place
    rather than failing the report.

    Parameters
    ----------
    run_dir : str or os.PathLike
        The run folder.
    title : str
        The report's title.
    metrics : mapping or sequence of tuple
        A mapping (shown as a key/value table) or (label, value with its unit, one-line
        explanation) rows.
    figures : sequence of tuple
        (path, caption) pairs; a relative path is taken inside `run_dir`. (The order
        (caption, path) is accepted too when only the second names an image file.)
    config : mapping or dataclass, optional
        The run's settings.
    notes : sequence of str, optional
        Paragraphs under the title.
    warnings : sequence of str
        Shown highlighted at the top.
    provenance : sequence of tuple
        (label, text) rows saying when, how and with what the run was made.
    raw_metrics : mapping, optional
        Added as a folded key/value table.
    config_note : str, optional
        A line under the configuration's heading (e.g. what it leaves out).

    Returns
    -------
    pathlib.Path
        The path written (atomically).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> write_report(d, title="run <1>", metrics={"elbo": -92.123456}, figures=[]).name
    'report.html'
    >>> "-92.123" in (d / "report.html").read_text()
    True
    """
    run_dir = Path(run_dir)
    parts = [f"<h1>{html.escape(title)}</h1>"]
    parts += [f'<p class="warning">{html.escape(w)}</p>' for w in warnings]
    parts += [f"<p>{html.escape(n)}</p>" for n in notes or ()]
    if not metrics:
        table = "<p>none recorded</p>"
    else:
        table = _table(metrics) if isinstance(metrics, Mapping) else _rows_table(metrics)
    if raw_metrics:
        table += "<details><summary>every value of metrics.json</summary>" + _table(raw_metrics) + "</details>"
    parts.append("<h2>Metrics</h2>" + table)
    if figures:
        parts.append("<h2>Figures</h2>" + "".join(_figure_html(run_dir, p, c) for p, c in figures))
    if provenance:
        parts.append(
            "<h2>How this run was made</h2><table>"
            + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in provenance)
            + "</table>"
        )
    if config:
        note = f'<p class="why">{html.escape(config_note)}</p>' if config_note else ""
        parts.append("<h2>Configuration</h2>" + note + _table(config))
    parts.append(f'<p style="color:#888;font-size:.85rem">klvae {html.escape(__version__)}</p>')
    doc = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
    return atomic_write_text(run_dir / "report.html", doc)
