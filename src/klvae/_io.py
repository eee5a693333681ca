"""Files: atomic writes (a reader sees the old file or the new one, never half of one), the
JSON-lines metrics log, and safetensors headers checked before any tensor is loaded."""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

__all__ = [
    "safetensors_header",
    "check_tensors_fit",
    "read_jsonl",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_save_safetensors",
    "remove_stale_temporaries",
]

# The temporaries a writer killed mid-write leaves behind: ours, `.NAME.XXXXXXXX.tmp` (mkstemp's
# eight characters), and the one safetensors writes through before renaming it, `.tmpXXXXXX`.
_TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$|^\.tmp[A-Za-z0-9]{6}$")
_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process umask, read without changing it (Linux: /proc/self/status); elsewhere set and
    restored at once under a lock, so no file this module creates sees the interim value."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


@contextmanager
def _replacing(path: str | os.PathLike):
    """Yield a temporary path beside `path`; on success fsync it, give it the usual mode and
    rename it over `path`; on failure remove it and leave `path` as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; a finished file gets the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder, fsync, rename."""
    with _replacing(path) as tmp:
        Path(tmp).write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_save_safetensors(
    tensors: dict[str, torch.Tensor], path: str | os.PathLike, metadata: dict[str, str] | None = None
) -> Path:
    """Save tensors as safetensors atomically; `metadata` is a str → str dict kept in the header.

    A failed write (a full disk, say) raises OSError naming `path`, as the other writers do.
    """
    with _replacing(path) as tmp:
        try:
            save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=metadata)
        except SafetensorError as err:  # its I/O errors carry the OS error number in the text only
            found = re.search(r"os error (\d+)|code: (\d+)", str(err))
            code = int(found[1] or found[2]) if found else errno.EIO
            raise OSError(code, f"{os.strerror(code)} (writing safetensors: {err})", str(path)) from None
    return Path(path)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files a writer killed mid-write left in `folder` (not below it).

    Only regular files named like this module's temporaries (``.NAME.XXXXXXXX.tmp``, and
    safetensors' ``.tmpXXXXXX``) are removed; call it when no other writer works in `folder`.
    Returns the paths removed, sorted; a missing folder removes nothing.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for p in sorted(folder.iterdir()):
        if _TEMPORARY.match(p.name) and p.is_file() and not p.is_symlink():
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a JSON-lines log (``metrics.jsonl``): one JSON object per line, blank lines ignored.

    A last line that does not parse (a writer killed mid-line: a resume does not cover it) is
    skipped.

    Parameters
    ----------
    path : str or os.PathLike
        The log to read.

    Returns
    -------
    list of dict
        One dict per line, in the file's order.

    Raises
    ------
    ValueError
        When a line other than the last is not valid JSON, or a line is not a JSON object; the
        message names the file and the line number.
    FileNotFoundError
        When `path` does not exist.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "m.jsonl"
    >>> _ = p.write_text('{"epoch": 1}\\n{"epoch": 2}\\n{"epo')
    >>> read_jsonl(p)
    [{'epoch': 1}, {'epoch': 2}]
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    numbered = [(i + 1, s) for i, s in enumerate(lines) if s.strip()]
    rows = []
    for j, (lineno, text) in enumerate(numbered):
        try:
            row = json.loads(text)
        except json.JSONDecodeError as err:
            if j == len(numbered) - 1:
                break  # a partial last line
            raise ValueError(f"{path}: line {lineno} is not valid JSON: {err.msg}") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}: line {lineno} is not a JSON object")
        rows.append(row)
    return rows


def safetensors_header(path: str | os.PathLike) -> tuple[dict[str, str], dict[str, tuple[tuple[int, ...], str]]]:
    """(metadata, {name: (shape, dtype)}) of a safetensors file, read from its header alone: no
    tensor is loaded. A truncated or foreign file raises ValueError naming it."""
    try:
        with safe_open(str(path), "pt", device="cpu") as f:
            found = {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in f.keys()}
            return dict(f.metadata() or {}), found
    except Exception as err:  # a truncated or foreign file
        raise ValueError(f"{path} is not a readable safetensors file ({err})") from None


def check_tensors_fit(
    path: str | os.PathLike,
    expected: dict[str, torch.Tensor],
    found: dict[str, tuple[tuple[int, ...], str]],
    what: str,
) -> None:
    """Refuse a weights file whose tensors are not the network's: missing, unexpected, another
    shape, or not floating point where the network's are. `expected` is the network's state dict
    laid out on the meta device, so nothing is allocated before the file is known to fit; `what`
    names the config checked."""
    for key in [*expected, *sorted(set(found) - set(expected))]:  # in the network's order
        if key not in found:
            raise ValueError(f"{path} does not fit {what}: tensor {key} is missing")
        if key not in expected:
            raise ValueError(f"{path} does not fit {what}: unexpected tensor {key}")
        shape, dtype = found[key]
        if shape != tuple(expected[key].shape):
            raise ValueError(
                f"{path} does not fit {what}: {key} has shape {shape}, the config gives {tuple(expected[key].shape)}"
            )
        if expected[key].is_floating_point() and dtype not in ("F64", "F32", "F16", "BF16"):
            raise ValueError(f"{path}: {key} has dtype {dtype}, weights are floating point")
