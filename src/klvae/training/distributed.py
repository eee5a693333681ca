"""Several processes, one answer: `torch.distributed` set-up, batch shards, per-sample noise, DDP.

klvae does not invent a scheme: it runs on `torch.distributed` with DistributedDataParallel
(DDP), started by `torchrun`, which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
MASTER_PORT. The backend follows the device: gloo on CPU, NCCL on CUDA (LOCAL_RANK picks the
GPU). Without those variables everything here is a no-op and the code runs as one process.

Why the answer does not depend on the number of processes P:

- `--batch-size` is the GLOBAL batch B. Step s takes the same B examples as one process would,
  and rank r trains on rows r, r+P, r+2P, … of it (`perm[start:end][r::P]`), so the union over
  ranks is exactly the single-process batch.
- Gradients: rank r holds the gradient of its shard's mean loss, g_r. DDP's hook here sums
  (n_r / B)·g_r over ranks, which is the gradient of the global batch mean
  (1/B) Σ_i ∇ℓ_i whether or not the shards are equal (the last batch of an epoch may not split
  evenly). With equal shards it is DDP's usual average.
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
import os
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "epoch_permutation",
    "Context",
    "Shard",
    "context",
    "setup",
    "current_shard",
    "using_shard",
    "wrap",
    "all_reduce_sum",
    "broadcast",
    "shard_rows",
    "check_in_sync",
    "rank_rng",
]


@dataclass(frozen=True)
class Context:
    """Where this process sits in the job: rank of world, and its local rank on the machine."""

    rank: int = 0  # 0 … world − 1; rank 0 writes every file
    world: int = 1  # number of processes
    local_rank: int = 0  # rank on this machine; picks the GPU

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def context() -> Context:
    """The job's layout from torchrun's environment variables (one process when they are absent)."""
    if dist.is_available() and dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return Context(
        int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
    )


@contextlib.contextmanager
def setup(device: torch.device):
    """Join the process group torchrun describes; yields (Context, device of this rank).

    CPU → gloo; CUDA → NCCL on GPU `LOCAL_RANK`. A group that is already initialised (by the
    caller) is used as is and left open; one made here is destroyed on exit.

    >>> with setup(torch.device("cpu")) as (ctx, device):  # no torchrun: one process
    ...     (ctx.world, ctx.is_main, str(device))
    (1, True, 'cpu')
    """
    ctx = context()
    if device.type == "cuda" and ctx.distributed:
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    made = False
    if ctx.distributed and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT")
        if attempt is None:
            dist.init_process_group(backend)
        else:  # torchrun keeps one store across restarts (pytorch#135712): keep each attempt's keys apart
            store, rank, world = next(dist.rendezvous("env://"))
            dist.init_process_group(
                backend, store=dist.PrefixStore(f"klvae/attempt{attempt}", store), rank=rank, world_size=world
            )
        made = True
        ctx = context()
    try:
        yield ctx, device
    finally:
        if made:
            dist.destroy_process_group()


def shard_rows(size: int, rank: int, world: int) -> int:
    """How many of a global batch's `size` rows rank `rank` gets: len(range(rank, size, world))."""
    return len(range(rank, size, world))


@dataclass
class Shard:
    """This process's part of one step's global batch: its rows r, r+P, … and their noise.

    With `seed` None (outside `fit`) draws come from torch's global generator, local rows only.

    >>> s = Shard(rank=1, world=2, size=5, seed=0, step=3)
    >>> s.rows, s.weight
    (2, 0.4)
    >>> full = Shard(rank=0, world=1, size=5, seed=0, step=3).randn(5, 2)  # one process: (5, 2)
    >>> bool(torch.equal(s.randn(2, 2), full[1::2]))  # rank 1 of 2 gets rows 1 and 3 of that draw
    True
    """

    rank: int = 0
    world: int = 1
    size: int | None = None  # rows of the global batch
    seed: int | None = None  # None: use torch's global generator for local rows
    step: int = 0
    _generators: dict = field(default_factory=dict, repr=False)

    @property
    def rows(self) -> int:
        if self.size is None:
            raise ValueError("this shard's global batch size is not known (outside fit)")
        return shard_rows(self.size, self.rank, self.world)

    @property
    def weight(self) -> float:
        """n_r / B: this rank's share of the global batch mean (its gradient is scaled by it).

        Unknown batch (outside `fit`): 1 / P, DDP's plain average.
        """
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
        """N(0, 1) draws of the LOCAL `shape`, taken as this rank's rows of a global-batch draw."""
        return self._draw(torch.randn, shape, batch_dim, dtype, device)

    def rand(
        self, *shape: int, batch_dim: int = 0, dtype=torch.float32, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        """U[0, 1) draws of the LOCAL `shape`, taken as this rank's rows of a global-batch draw."""
        return self._draw(torch.rand, shape, batch_dim, dtype, device)


_current: Shard | None = None


def current_shard() -> Shard:
    """The shard of the step `fit` is running (outside `fit`: one process, global RNG)."""
    if _current is not None:
        return _current
    ctx = context()
    return Shard(rank=ctx.rank, world=ctx.world)


@contextlib.contextmanager
def using_shard(shard: Shard):
    """Make `shard` the current one for the duration of one training step."""
    global _current
    old, _current = _current, shard
    try:
        yield shard
    finally:
        _current = old


@contextlib.contextmanager
def rank_rng(shard: Shard):
    """Under P > 1 processes, torch's global generator is seeded by (seed, step, rank) for one step.

    Without it every rank, seeded alike, would draw the same numbers from torch's global
    generator (a GAN's z, dropout masks): duplicates instead of independent draws. Draws made
    this way are independent across ranks and reproducible (a resumed run repeats them), but
    they depend on P; `Shard.rand` / `Shard.randn` do not. One process: nothing changes.
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
    """The module a task calls in its step: DDP under torchrun (weighted by shard), compiled if asked.

    The module's forward must compute everything the loss needs (DDP synchronises gradients
    of what runs through its forward). Its parameters stay those of `module`, so checkpoints
    keep the plain names.
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


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Σ over ranks of `t` (in place; returned). One process: `t` unchanged."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t)
    return t


def broadcast(value):
    """Rank 0's `value` (any picklable object) on every rank, e.g. a timestamped run folder name."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def check_in_sync(modules: dict[str, torch.nn.Module], where: str) -> None:
    """Raise if the ranks' weights differ: a task that does not call its modules through `wrap`
    would otherwise train P separate models without a word. One small all-reduce."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return
    # sum() starts at 0, but every module here has parameters, so each sum is a tensor
    sums = torch.stack(
        [cast(torch.Tensor, sum(p.detach().double().sum() for p in m.parameters())) for m in modules.values()]
    )  # (M,)
    lo, hi = sums.clone(), sums.clone()
    dist.all_reduce(lo, op=dist.ReduceOp.MIN)
    dist.all_reduce(hi, op=dist.ReduceOp.MAX)
    for name, a, b in zip(modules, lo.tolist(), hi.tolist()):
        if abs(b - a) > 1e-6 * max(1.0, abs(a)):
            raise RuntimeError(
                f"the weights of {name} differ between processes {where}: its task does not "
                f"synchronise gradients (call the module through klvae.training.distributed.wrap)"
            )


def epoch_permutation(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The order of epoch `epoch`: a permutation of n drawn from a generator seeded by (seed, epoch)."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, np.uint64)[0]
    g = torch.Generator().manual_seed(int(state) & (2**63 - 1))
    return torch.randperm(n, generator=g)
