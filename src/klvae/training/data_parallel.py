"""Several processes, one answer: each rank's shard of the global batch, its noise and its gradient.

Under `torchrun` (the process group: `klvae.training.distributed`) the answer does not depend on
the number of processes P:

- `--batch-size` is the GLOBAL batch B. Step s takes the same B examples as one process would
  (`epoch_permutation`), and rank r trains on rows r, r+P, r+2P, … of it (`perm[start:end][r::P]`),
  so the union over ranks is exactly the single-process batch.
- Gradients: rank r holds the gradient of its shard's mean loss, g_r. The DDP hook of `wrap` sums
  (n_r / B)·g_r over ranks, which is the gradient of the global batch mean (1/B) Σ_i ∇ℓ_i
  whether or not the shards are equal (the last batch of an epoch may not split evenly). With
  equal shards it is DDP's usual average.
- Noise: a task draws per-example randomness (binarization, reparameterization ε) through
  `current_shard()`, which draws it for the whole global batch from a generator seeded by
  (seed, step) and keeps the rank's rows. Example i of step s gets the same numbers at any P.
  Draws from torch's global generator inside a step are seeded by (seed, step, rank)
  (`rank_rng`): independent across ranks and reproducible, but they depend on P.

What is left is the order of floating-point sums (a mean over 64 rows twice vs 128 once), so
P processes match one process to float tolerance, not bit for bit.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import torch
import torch.distributed as dist

from klvae.training.distributed import context

__all__ = ["shard_rows", "Shard", "current_shard", "using_shard", "rank_rng", "wrap", "epoch_permutation"]


def shard_rows(size: int, rank: int, world: int) -> int:
    """How many rows of a global batch one rank gets.

    Parameters
    ----------
    size : int
        Rows of the global batch, B.
    rank, world : int
        The rank r and the number of processes P.

    Returns
    -------
    int
        n_r = len(range(r, B, P)), the rows r, r+P, … below B; 0 when r ≥ B.

    Examples
    --------
    >>> [shard_rows(5, r, 2) for r in range(2)]
    [3, 2]
    """
    return len(range(rank, size, world))


@dataclass
class Shard:
    r"""This process's part of one step's global batch: its rows r, r+P, … and their noise.

    Parameters
    ----------
    rank : int, default 0
        r, this process's rank.
    world : int, default 1
        P, the number of processes.
    size : int, optional
        B, the rows of the global batch; None outside `fit` (unknown).
    seed : int, optional
        With `step`, seeds the global batch's draws; None (outside `fit`): draws come from torch's
        global generator, local rows only.
    step : int, default 0
        The training step.

    See Also
    --------
    current_shard : the shard of the running step.

    Notes
    -----
    The draws of `randn` and `rand` are the rank's rows of one draw for the whole global batch,
    from a generator seeded by (seed, step): example i of a step gets the same numbers at any P.

    Examples
    --------
    >>> s = Shard(rank=1, world=2, size=5, seed=0, step=3)
    >>> s.rows, s.weight
    (2, 0.4)
    >>> full = Shard(rank=0, world=1, size=5, seed=0, step=3).randn(5, 2)  # one process: (5, 2)
    >>> bool(torch.equal(s.randn(2, 2), full[1::2]))  # rank 1 of 2 gets rows 1 and 3 of that draw
    True
    """

    rank: int = 0
    world: int = 1
    size: int | None = None
    seed: int | None = None
    step: int = 0
    _generators: dict = field(default_factory=dict, init=False, repr=False)

    @property
    def rows(self) -> int:
        """n_r, this rank's rows of the global batch (`shard_rows`); ValueError when B is unknown."""
        if self.size is None:
            raise ValueError("this shard's global batch size is not known (outside fit)")
        return shard_rows(self.size, self.rank, self.world)

    @property
    def weight(self) -> float:
        """n_r / B, this rank's share of the global batch mean (its gradient is scaled by it); 1 / P,
        DDP's plain average, when B is unknown (outside `fit`)."""
        return 1.0 / self.world if self.size is None else self.rows / self.size

    def _generator(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self._generators:  # one stream per step; draws follow in call order
            assert self.seed is not None  # _draw asks for a generator only when seeded
            state = np.random.SeedSequence([self.seed, self.step, 0x6B6C]).generate_state(2, np.uint64)[0]
            self._generators[key] = torch.Generator(device=device).manual_seed(int(state) & (2**63 - 1))
        return self._generators[key]

    def _draw(self, fn, shape, batch_dim, dtype, device) -> torch.Tensor:
        if self.seed is None:
            return fn(shape, dtype=dtype, device=device)
        if shape[batch_dim] != self.rows:
            raise ValueError(
                f"the batch axis {batch_dim} of {tuple(shape)} has {shape[batch_dim]} rows, "
                f"this rank's shard has {self.rows}"
            )
        full = list(shape)
        full[batch_dim] = self.size  # the whole global batch, the same on every rank
        draw = fn(full, dtype=dtype, device=device, generator=self._generator(torch.device(device)))
        return draw[(slice(None),) * batch_dim + (slice(self.rank, None, self.world),)]

    def randn(
        self, *shape: int, batch_dim: int = 0, dtype=torch.float32, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        """N(0, 1) draws of the LOCAL shape, taken as this rank's rows of a global-batch draw.

        Parameters
        ----------
        *shape : int
            The local shape: this rank's rows along `batch_dim`.
        batch_dim : int, default 0
            The batch axis.
        dtype : torch.dtype, default torch.float32
            The draws' dtype.
        device : torch.device or str, default "cpu"
            Where to draw.

        Returns
        -------
        torch.Tensor
            Of `shape`.

        Raises
        ------
        ValueError
            If `shape` does not have this rank's rows along `batch_dim`.
        """
        return self._draw(torch.randn, shape, batch_dim, dtype, device)

    def rand(
        self, *shape: int, batch_dim: int = 0, dtype=torch.float32, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        """U[0, 1) draws of the LOCAL shape, taken as this rank's rows of a global-batch draw.

        Parameters
        ----------
        *shape : int
            The local shape: this rank's rows along `batch_dim`.
        batch_dim : int, default 0
            The batch axis.
        dtype : torch.dtype, default torch.float32
            The draws' dtype.
        device : torch.device or str, default "cpu"
            Where to draw.

        Returns
        -------
        torch.Tensor
            Of `shape`.

        Raises
        ------
        ValueError
            If `shape` does not have this rank's rows along `batch_dim`.
        """
        return self._draw(torch.rand, shape, batch_dim, dtype, device)


_current: Shard | None = None


def current_shard() -> Shard:
    """The shard of the step `fit` is running.

    Returns
    -------
    Shard
        The running step's; outside `fit`, one without a known batch or seed (torch's global
        generator, local rows).

    Examples
    --------
    >>> current_shard().seed is None  # outside fit
    True
    """
    if _current is not None:
        return _current
    ctx = context()
    return Shard(rank=ctx.rank, world=ctx.world)


@contextlib.contextmanager
def using_shard(shard: Shard):
    """Make a shard the current one for the duration of one training step.

    Parameters
    ----------
    shard : Shard
        The step's shard.

    Yields
    ------
    Shard
        `shard`, which `current_shard` returns inside the block.

    Examples
    --------
    >>> with using_shard(Shard(size=4, seed=0, step=7)):
    ...     current_shard().step
    7
    """
    global _current
    old, _current = _current, shard
    try:
        yield shard
    finally:
        _current = old


@contextlib.contextmanager
def rank_rng(shard: Shard):
    """Under P > 1 processes, torch's global generator seeded by (seed, step, rank) for one step.

    Without it every rank, seeded alike, would draw the same numbers from torch's global
    generator (a GAN's z, dropout masks): duplicates instead of independent draws. Draws made
    this way are independent across ranks and reproducible (a resumed run repeats them), but
    they depend on P; `Shard.rand` and `Shard.randn` do not. One process (or no seed): nothing
    changes. The generator's state before the block is restored after it.

    Parameters
    ----------
    shard : Shard
        The step's shard: its seed, step, rank and world.

    Yields
    ------
    None
    """
    if shard.world == 1 or shard.seed is None:
        yield
        return
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        state = np.random.SeedSequence([shard.seed, shard.step, shard.rank, 0x726E67]).generate_state(1, np.uint64)[0]
        torch.manual_seed(int(state) & (2**63 - 1))
        yield


def _weighted_allreduce(state, bucket):
    """DDP comm hook: Σ_r (n_r / B)·g_r, the gradient of the global batch mean."""
    buffer = bucket.buffer()
    buffer.mul_(current_shard().weight)
    return dist.all_reduce(buffer, async_op=True).get_future().then(lambda fut: fut.value()[0])


def wrap(module: torch.nn.Module, *, compile: bool = False) -> torch.nn.Module:
    r"""The module a task calls in its step: DDP under torchrun (weighted by shard), compiled if asked.

    The module's forward must compute everything the loss needs (DDP synchronises the gradients
    of what runs through its forward). Its parameters stay those of `module`, so checkpoints
    keep the plain names.

    Parameters
    ----------
    module : torch.nn.Module
        The network (or loss module) of the step, on its device.
    compile : bool, default False
        Also ``torch.compile`` it.

    Returns
    -------
    torch.nn.Module
        `module` wrapped in DistributedDataParallel when a group of more than one process is
        open, then compiled if asked; otherwise `module` itself.

    Notes
    -----
    DDP's gradient all-reduce is replaced by the weighted sum

    .. math:: g = \sum_{r=0}^{P-1} \frac{n_r}{B}\, g_r = \nabla \frac1B \sum_{i=1}^{B} \ell_i,

    g_r the gradient of rank r's mean loss over its n_r rows (`Shard.weight`).

    References
    ----------
    Li et al., "PyTorch Distributed: experiences on accelerating data parallel training",
    VLDB 13 (2020).
    """
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        device = next(module.parameters()).device
        module = torch.nn.parallel.DistributedDataParallel(
            module, device_ids=[device.index] if device.type == "cuda" else None
        )
        module.register_comm_hook(None, _weighted_allreduce)
    if compile:
        module = cast(torch.nn.Module, torch.compile(module))  # a Module compiles to an OptimizedModule
    return module


def epoch_permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The order of an epoch: a permutation of n drawn from a generator seeded by (seed, epoch).

    The same on every rank and after a resume, so a run needs no data-loader state.

    Parameters
    ----------
    seed : int
        The run's seed.
    epoch : int
        The epoch's index.
    n : int
        The number of training examples.

    Returns
    -------
    torch.Tensor
        A permutation of 0 … n − 1 (int64).

    Examples
    --------
    >>> p = epoch_permutation(0, 3, 6)
    >>> sorted(p.tolist()), torch.equal(p, epoch_permutation(0, 3, 6))
    ([0, 1, 2, 3, 4, 5], True)
    """
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, np.uint64)[0]
    g = torch.Generator().manual_seed(int(state) & (2**63 - 1))
    return torch.randperm(n, generator=g)
