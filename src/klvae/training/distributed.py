"""The process group: where this process sits, joining the group torchrun describes, and collectives.

klvae does not invent a scheme: it runs on `torch.distributed` with DistributedDataParallel
(DDP), started by `torchrun`, which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
MASTER_PORT. The backend follows the device: gloo on CPU, NCCL on CUDA (LOCAL_RANK picks the
GPU). Without those variables everything here is a no-op and the code runs as one process.

How a step's global batch, its random numbers and its gradient are split over the processes, so
that the answer does not depend on their number, is `klvae.training.data_parallel`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import cast

import torch
import torch.distributed as dist

__all__ = ["Context", "context", "setup", "all_reduce_sum", "broadcast", "check_in_sync"]


@dataclass(frozen=True)
class Context:
    """Where this process sits in the job: its rank of the world, and its local rank on the machine.

    Parameters
    ----------
    rank : int, default 0
        0 … world − 1; rank 0 writes every file.
    world : int, default 1
        The number of processes.
    local_rank : int, default 0
        The rank on this machine; picks the GPU.

    See Also
    --------
    context : the context of this process.

    Examples
    --------
    >>> ctx = Context(rank=1, world=2)
    >>> ctx.is_main, ctx.distributed
    (False, True)
    """

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the process that writes the files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether the job has more than one process."""
        return self.world > 1


def _collective() -> bool:
    """Whether a process group of more than one process is open."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def context() -> Context:
    """The job's layout: from the open process group, else from torchrun's environment variables.

    Returns
    -------
    Context
        RANK, WORLD_SIZE and LOCAL_RANK; one process (0, 1, 0) when they are absent.

    Examples
    --------
    >>> context().world  # not started by torchrun
    1
    """
    if dist.is_available() and dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return Context(
        int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
    )


@contextlib.contextmanager
def setup(device: torch.device):
    """Join the process group torchrun describes, for the duration of the block.

    CPU → gloo; CUDA → NCCL on GPU ``LOCAL_RANK``. A group that is already initialised (by the
    caller) is used as is and left open; one made here is destroyed on exit.

    Parameters
    ----------
    device : torch.device
        The device asked for; under torchrun a CUDA device becomes GPU ``LOCAL_RANK``.

    Yields
    ------
    tuple of (Context, torch.device)
        This process's place in the job and its device.

    See Also
    --------
    context : the layout without joining.

    Examples
    --------
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
    except BaseException:
        if made:
            dist.destroy_process_group()
        raise
    if made:  # every rank at the end before any closes its connections: gloo aborts a peer still using one
        dist.barrier()
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """The sum over the ranks of a tensor, in place.

    Parameters
    ----------
    t : torch.Tensor
        This rank's tensor, of the same shape on every rank.

    Returns
    -------
    torch.Tensor
        `t` itself, holding Σ over ranks; unchanged with one process.

    Examples
    --------
    >>> all_reduce_sum(torch.tensor([1.0, 2.0]))  # one process
    tensor([1., 2.])
    """
    if _collective():
        dist.all_reduce(t)
    return t


def broadcast(value):
    """Rank 0's value on every rank, e.g. a timestamped run folder name.

    Parameters
    ----------
    value : object
        Any picklable object; only rank 0's is kept.

    Returns
    -------
    object
        Rank 0's `value`; `value` itself with one process.

    Examples
    --------
    >>> broadcast("runs/20260101-120000")
    'runs/20260101-120000'
    """
    if not _collective():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def check_in_sync(modules: dict[str, torch.nn.Module], where: str) -> None:
    """Raise if the ranks' weights differ, with one small all-reduce.

    A task that does not call its modules through `klvae.training.data_parallel.wrap` would
    otherwise train P separate models without a word. Nothing is checked with one process.

    Parameters
    ----------
    modules : dict of str to torch.nn.Module
        The task's networks by name; each has parameters.
    where : str
        When the check runs, for the message (``"after epoch 3"``).

    Raises
    ------
    RuntimeError
        If the sum of a module's weights differs between ranks by more than 10⁻⁶ (relative).
    """
    if not _collective():
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
                f"synchronise gradients (call the module through klvae.training.data_parallel.wrap)"
            )
