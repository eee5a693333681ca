"""The machine and precision a run trains on: device, CPU threads, bf16 autocast, allocator."""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import time

import torch

from klvae.training import distributed

__all__ = [
    "resolve_device",
    "resolve_amp",
    "cpu_has_bf16",
    "default_threads",
    "busy_cpus",
    "torch_threads",
    "keep_freed_memory",
]

# Parameters below which one CPU thread is fastest (handing 128×400 activations to a second thread
# costs more than the arithmetic, far more on shared cores) and bf16 gains nothing measurable
# (benchmarks/README.md, "What the defaults do").
SMALL_MODEL = 200_000


def resolve_device(name: str) -> torch.device:
    """The device a name stands for: ``"auto"`` is cuda if available, else cpu.

    Parameters
    ----------
    name : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.

    Returns
    -------
    torch.device
        The device; under torchrun, cuda means GPU ``LOCAL_RANK``.

    Raises
    ------
    ValueError
        For ``"cuda"`` when no CUDA device is available.

    Notes
    -----
    Rank r of a job on one machine with G GPUs uses GPU ``LOCAL_RANK`` = r mod G as torchrun
    numbers them.

    References
    ----------
    PyTorch, "torchrun (Elastic Launch)": the environment variables RANK, WORLD_SIZE, LOCAL_RANK.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    ctx = distributed.context()
    if name == "cuda" and ctx.distributed:
        return torch.device("cuda", ctx.local_rank)
    return torch.device(name)


def busy_cpus(samples: int = 5, interval: float = 0.02) -> int:
    """CPUs other processes keep busy right now: the median count of runnable tasks in
    /proc/loadavg over `samples` readings `interval` s apart, this process excluded (0 where
    there is no /proc). Unlike the load average it does not lag a minute behind."""
    counts = []
    for i in range(samples):
        try:
            with open("/proc/loadavg") as f:
                counts.append(int(f.read().split()[3].split("/")[0]))
        except (OSError, ValueError, IndexError):
            return 0
        if i + 1 < samples:
            time.sleep(interval)
    return max(0, sorted(counts)[len(counts) // 2] - 1)


def default_threads(*modules: torch.nn.Module) -> int:
    """1 thread for small networks (their matrices are too small to split); else torch's default,
    less the CPUs other processes keep busy, at least 1.

    OpenMP's threads spin while they wait for each other: when another process holds one of their
    cores, every parallel region waits for a descheduled thread and throughput collapses (to ~1 %
    with 3 competing processes on 2 cores; benchmarks/README.md, "Under a loaded machine"). The
    count is read once, when the run starts; `--threads` fixes it (and with it bitwise resumes).
    """
    if sum(p.numel() for m in modules for p in m.parameters()) < SMALL_MODEL:
        return 1
    return max(1, min(torch.get_num_threads(), len(os.sched_getaffinity(0)) - busy_cpus()))


_MALLOC_KEEP = 64 << 20  # bytes: blocks up to this size come from (and go back to) the heap, not mmap


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with torch on `n` CPU threads (None: as it is); the caller's count comes back after.

    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed blocks of up to 64 MB in the process for reuse.

    Each training step frees and reallocates the same activation, gradient and bf16 weight
    buffers, megabytes each. By default glibc hands blocks above its mmap threshold back to
    the kernel on free, so the next step faults every page of them in again, zero-filled:
    about a thousand page faults per step for the 1024-unit VAE, a quarter of its step time.
    Raising the mmap and trim thresholds (mallopt M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, as the
    MALLOC_MMAP_THRESHOLD_ environment variable would) makes the next step reuse those pages.
    The process keeps up to its peak heap mapped. A no-op (False) where the C library is not glibc.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, _MALLOC_KEEP)) and bool(libc.mallopt(m_trim_threshold, 4 * _MALLOC_KEEP))


def cpu_has_bf16() -> bool:
    """True when this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX)."""
    return any(
        bool(getattr(torch.cpu, name, lambda: False)())
        for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    )


def resolve_amp(amp: str, device: torch.device, *modules: torch.nn.Module) -> str:
    """The precision ``"auto"`` stands for, given the hardware and the networks' size.

    Parameters
    ----------
    amp : str
        ``"auto"``, ``"none"`` or ``"bf16"``; the last two are returned as they are.
    device : torch.device
        The training device.
    *modules : torch.nn.Module
        The networks; their parameters are counted.

    Returns
    -------
    str
        ``"bf16"`` where the hardware multiplies bfloat16 natively (a CUDA GPU that supports it, a
        CPU with AVX512-BF16 or AMX) and the networks have at least 200k parameters (the matmuls
        dominate); ``"none"`` (float32) otherwise.

    Notes
    -----
    Under bf16 only the matmuls run in bfloat16 (8 bits of mantissa, relative rounding
    :math:`2^{-8}`): the weights, the optimizer, the loss and every evaluation stay float32.

    References
    ----------
    Kalamkar et al., "A Study of BFLOAT16 for Deep Learning Training" (2019).

    Examples
    --------
    >>> resolve_amp("auto", torch.device("cpu"), torch.nn.Linear(10, 10))  # 110 parameters: float32
    'none'
    >>> resolve_amp("bf16", torch.device("cpu"))
    'bf16'
    """
    if amp != "auto":
        return amp
    if sum(p.numel() for m in modules for p in m.parameters()) < SMALL_MODEL:
        return "none"
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "none"
    return "bf16" if device.type == "cpu" and cpu_has_bf16() else "none"
