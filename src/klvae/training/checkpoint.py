"""Checkpoints of the training loop: ONE safetensors file, no pickle.

The file holds module weights (`module/<name>/<param>`), optimizer state tensors
(`optim/<name>/<param index>/<key>`), RNG states (`rng/cpu`, `rng/cuda/<i>`, uint8) and the
partial-epoch sums (`loop/sums`); step, epoch, optimizer hyper-parameters and the run's config
are JSON in the header metadata. Resuming from it continues the exact random stream, so a
resumed run ends where an uninterrupted one with the same seed ends.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, fields
from pathlib import Path

import torch
from safetensors import safe_open

from klvae._io import atomic_save_safetensors
from klvae.training.task import LoopState, Task

__all__ = ["save_checkpoint", "load_checkpoint", "restore_checkpoint"]


def save_checkpoint(
    path: Path, task: Task, state: LoopState, keys: list[str], acc: torch.Tensor | None, config: dict | None = None
) -> Path:
    """Write model, optimizer, RNG and loop state to one safetensors file, atomically (no pickle).

    Parameters
    ----------
    path : pathlib.Path
        The file to write.
    task : Task
        Its modules' and optimizers' states are saved under their names.
    state : LoopState
        Where the loop stands.
    keys : list of str
        Names of the partial-epoch sums in `acc`.
    acc : torch.Tensor or None
        The partial-epoch sums (K,), or None.
    config : dict, optional
        The run's configuration, stored as JSON.

    Returns
    -------
    pathlib.Path
        The file written.

    See Also
    --------
    restore_checkpoint : the inverse.

    Notes
    -----
    Tensors are named ``module/<name>/<key>``, ``optim/<name>/<param id>/<key>``, ``rng/cpu``,
    ``rng/cuda/<i>`` and ``loop/sums``; the header holds ``format = "klvae-checkpoint-1"``, the
    loop state, the configuration and the optimizers' scalars and parameter groups as JSON.

    References
    ----------
    The safetensors format: https://huggingface.co/docs/safetensors.

    Examples
    --------
    >>> import tempfile
    >>> from klvae.training import LoopState
    >>> class One:
    ...     modules = {"m": torch.nn.Linear(2, 1)}
    ...     optimizers = {"m": torch.optim.SGD(modules["m"].parameters(), lr=0.1)}
    >>> path = save_checkpoint(Path(tempfile.mkdtemp()) / "checkpoint.safetensors", One(), LoopState(step=5), [], None)
    >>> tensors, meta = load_checkpoint(path)
    >>> sorted(k for k in tensors if k.startswith("module/")), meta["format"]
    (['module/m/bias', 'module/m/weight'], 'klvae-checkpoint-1')
    """
    tensors: dict[str, torch.Tensor] = {}
    meta = {
        "format": "klvae-checkpoint-1",
        "loop": json.dumps(asdict(state)),
        "config": json.dumps(config or {}),
        "sum_keys": json.dumps(keys),
    }
    for name, module in task.modules.items():
        for k, v in module.state_dict().items():
            tensors[f"module/{name}/{k}"] = v
    for name, opt in task.optimizers.items():
        sd = opt.state_dict()
        scalars = {}
        for pid, st in sd["state"].items():
            for key, val in st.items():
                if torch.is_tensor(val):
                    tensors[f"optim/{name}/{pid}/{key}"] = val
                else:
                    scalars[f"{pid}/{key}"] = val
        meta[f"optim/{name}"] = json.dumps({"param_groups": sd["param_groups"], "scalars": scalars})
    tensors["rng/cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    if acc is not None:
        tensors["loop/sums"] = acc
    return atomic_save_safetensors(tensors, path, metadata=meta)


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of a checkpoint file.

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Returns
    -------
    tensors : dict of str to torch.Tensor
        Every tensor, on the CPU.
    metadata : dict of str to str
        The header's entries.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        Naming the file, if it is not a readable safetensors file.

    See Also
    --------
    save_checkpoint, restore_checkpoint

    Examples
    --------
    >>> import tempfile
    >>> bad = Path(tempfile.mkdtemp()) / "checkpoint.safetensors"
    >>> _ = bad.write_bytes(b"not a checkpoint")
    >>> try:
    ...     load_checkpoint(bad)
    ... except ValueError as err:
    ...     print(str(err).startswith(f"{bad} is not a readable checkpoint"))
    True
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"no checkpoint {path}")
    try:
        with safe_open(str(path), "pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except Exception as err:
        raise ValueError(f"{path} is not a readable checkpoint ({err})") from None


def _loop_state(path: Path, meta: dict[str, str]) -> tuple[LoopState, list[str]]:
    """The loop state and sum names in the metadata, each field checked."""
    names = [f.name for f in fields(LoopState)]
    for entry in ("loop", "sum_keys"):
        if entry not in meta:
            raise ValueError(f"{path} is damaged: its metadata has no {entry!r} entry")
    try:
        loop, keys = json.loads(meta["loop"]), json.loads(meta["sum_keys"])
    except ValueError as err:
        raise ValueError(f"{path} is damaged: its loop metadata is not JSON ({err})") from None
    if not isinstance(loop, dict) or sorted(loop) != sorted(names):
        raise ValueError(f"{path} is damaged: the 'loop' metadata must hold {', '.join(names)}")
    for name, value in loop.items():
        if (
            not _is_number(value)
            or not 0 <= value < math.inf
            or (name != "train_seconds" and not isinstance(value, int))
        ):
            raise ValueError(f"{path} is damaged: loop {name} is {value!r}, not a count")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ValueError(f"{path} is damaged: 'sum_keys' must be a list of names")
    return LoopState(**loop), keys


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _same_kind(a, b) -> bool:
    """Whether hyper-parameter value `b` from a file can stand where the optimizer has `a`."""
    if _is_number(a):
        return _is_number(b)
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(_same_kind(x, y) for x, y in zip(a, b))
    return a is None or b is None or type(a) is type(b)


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _check_optimizer(
    path: Path,
    name: str,
    opt: torch.optim.Optimizer,
    meta: dict[str, str],
    tensors: dict[str, torch.Tensor],
    unused: set[str],
) -> dict:
    """The optimizer's state dict as stored, checked against `opt` (groups, sizes, parameters)."""
    misfit = f"{path} does not fit this model: optimizer {name}"
    try:
        info = json.loads(meta[f"optim/{name}"])
        saved_groups, scalars = info["param_groups"], info["scalars"]
        if (
            not isinstance(saved_groups, list)
            or not isinstance(scalars, dict)
            or not all(isinstance(g, dict) and isinstance(g.get("params"), list) for g in saved_groups)
        ):
            raise TypeError("param_groups must be a list of groups with params, scalars a dict")
    except KeyError as err:
        raise ValueError(f"{path} is damaged: no {err.args[0]!r} for optimizer {name}") from None
    except (ValueError, TypeError) as err:
        raise ValueError(f"{path} is damaged: the state of optimizer {name} is unreadable ({err})") from None
    if len(saved_groups) != len(opt.param_groups):
        raise ValueError(f"{misfit} has {len(saved_groups)} parameter groups, the model's has {len(opt.param_groups)}")
    params: dict[int, torch.Tensor] = {}  # saved parameter id → the parameter it stands for
    groups = []
    for i, (saved, group) in enumerate(zip(saved_groups, opt.param_groups)):
        if not all(isinstance(j, int) and not isinstance(j, bool) for j in saved["params"]) or len(
            set(saved["params"])
        ) != len(saved["params"]):
            raise ValueError(f"{path} is damaged: optimizer {name} group {i} params must be distinct ids")
        if len(saved["params"]) != len(group["params"]):
            raise ValueError(
                f"{misfit}: group {i} has {len(saved['params'])} parameters, the model's "
                f"has {len(group['params'])} (was config.json edited?)"
            )
        if "lr" not in saved:
            raise ValueError(f"{path} is damaged: optimizer {name} group {i} has no 'lr'")
        saved = dict(saved)
        for key, value in group.items():  # keys a newer torch added are filled in by the optimizer
            if key == "params" or key not in saved:
                continue
            if isinstance(value, tuple) and isinstance(saved[key], list) and len(saved[key]) == len(value):
                saved[key] = tuple(saved[key])  # JSON keeps (β1, β2) as a list
            if not _same_kind(value, saved[key]):
                raise ValueError(
                    f"{path} is damaged: optimizer {name} {key} is {saved[key]!r}, the optimizer's is {value!r}"
                )
        params.update(zip(saved["params"], group["params"]))
        groups.append(saved)
    state: dict[int, dict] = {}
    prefix = f"optim/{name}/"
    entries = [(k[len(prefix) :], tensors[k]) for k in sorted(unused) if k.startswith(prefix)]
    entries += list(scalars.items())
    for where, value in entries:
        pid, _, key = where.partition("/")
        if not (pid.isascii() and pid.isdigit()) or not key:
            raise ValueError(f"{path} is damaged: optimizer {name} state entry {where!r} is not <id>/<name>")
        if int(pid) not in params:
            raise ValueError(
                f"{misfit}: its state refers to parameter {pid}, which the optimizer does "
                f"not have ({len(params)} parameters)"
            )
        if torch.is_tensor(value):
            unused.discard(prefix + where)
            param = params[int(pid)]
            if value.dim() and _shape(value) != _shape(param):
                raise ValueError(
                    f"{misfit}: {prefix}{where} has shape {_shape(value)}, the parameter "
                    f"has {_shape(param)} (was config.json edited?)"
                )
            if not value.is_floating_point():
                raise ValueError(f"{path} is damaged: {prefix}{where} has dtype {value.dtype}")
        state.setdefault(int(pid), {})[key] = value
    return {"state": state, "param_groups": groups}


def restore_checkpoint(
    path: Path, task: Task, device: torch.device
) -> tuple[LoopState, list[str], torch.Tensor | None]:
    """Load a checkpoint into `task` and torch's RNG.

    Every tensor's name, shape and dtype and every metadata entry is checked against `task` before
    anything is loaded, so a checkpoint that does not fit leaves the task and the RNG as they were.

    Parameters
    ----------
    path : pathlib.Path
        The checkpoint file.
    task : Task
        The task to load into (its modules and optimizers, by name).
    device : torch.device
        Where the partial-epoch sums go.

    Returns
    -------
    state : LoopState
        Where the loop stood.
    keys : list of str
        The names of the partial-epoch sums.
    sums : torch.Tensor or None
        Those sums, (K,), on `device`; None if no step of the epoch was taken.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        Naming the file and the first problem, if it is not a klvae checkpoint or does not fit `task`.

    See Also
    --------
    save_checkpoint : the inverse.

    Examples
    --------
    >>> import tempfile
    >>> from klvae.training import LoopState
    >>> class One:
    ...     def __init__(self):
    ...         self.modules = {"m": torch.nn.Linear(2, 1)}
    ...         self.optimizers = {"m": torch.optim.SGD(self.modules["m"].parameters(), lr=0.1)}
    >>> a, b = One(), One()
    >>> path = save_checkpoint(Path(tempfile.mkdtemp()) / "ckpt.safetensors", a, LoopState(step=5), [], None)
    >>> state, keys, sums = restore_checkpoint(path, b, torch.device("cpu"))
    >>> state.step, bool(torch.equal(a.modules["m"].weight, b.modules["m"].weight))
    (5, True)
    """
    tensors, meta = load_checkpoint(path)
    if meta.get("format") != "klvae-checkpoint-1":
        raise ValueError(f"{path} is not a klvae checkpoint")
    state, keys = _loop_state(path, meta)
    unused = set(tensors)
    misfit = f"{path} does not fit this model"
    weights: dict[str, dict[str, torch.Tensor]] = {}
    for name, module in task.modules.items():
        prefix = f"module/{name}/"
        weights[name] = {}
        for k, want in module.state_dict().items():
            got = tensors.get(prefix + k)
            if got is None:
                raise ValueError(f"{misfit}: {prefix}{k} is missing")
            if _shape(got) != _shape(want):
                raise ValueError(
                    f"{misfit}: {prefix}{k} has shape {_shape(got)}, the model expects "
                    f"{_shape(want)} (was config.json edited?)"
                )
            if got.dtype != want.dtype:
                raise ValueError(f"{misfit}: {prefix}{k} has dtype {got.dtype}, the model expects {want.dtype}")
            weights[name][k] = got
            unused.discard(prefix + k)
    optim = {name: _check_optimizer(path, name, opt, meta, tensors, unused) for name, opt in task.optimizers.items()}
    rng = {"rng/cpu": torch.get_rng_state()}
    if device.type == "cuda":
        rng.update({f"rng/cuda/{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    for k in [k for k in tensors if k.startswith("rng/cuda/")]:
        unused.discard(k)  # saved on a machine with GPUs: used only when resuming on one
    for k, want in rng.items():
        got = tensors.get(k)
        if k == "rng/cpu" and got is None:
            raise ValueError(f"{path} is damaged: the random generator's state rng/cpu is missing")
        if got is not None and (got.dtype != torch.uint8 or _shape(got) != _shape(want)):
            raise ValueError(
                f"{path} is damaged: {k} holds {got.dtype} {_shape(got)}, a random "
                f"generator's state is uint8 {_shape(want)}"
            )
        unused.discard(k)
    acc = tensors.get("loop/sums")
    unused.discard("loop/sums")
    if acc is not None and (acc.dtype != torch.float64 or _shape(acc) != (len(keys),)):
        raise ValueError(
            f"{path} is damaged: loop/sums holds {acc.dtype} {_shape(acc)}, the "
            f"{len(keys)} sums it names are float64 ({len(keys)},)"
        )
    if unused:
        raise ValueError(
            f"{misfit}: unexpected tensor {sorted(unused)[0]} (is this checkpoint from another kind of run?)"
        )
    # Everything fits: from here on nothing is expected to fail.
    for name, module in task.modules.items():
        module.load_state_dict(weights[name])
    for name, opt in task.optimizers.items():
        opt.load_state_dict(optim[name])
    torch.set_rng_state(tensors["rng/cpu"])
    cuda = []  # the states of devices 0, 1, ... as far as the file has them
    for k in [k for k in rng if k.startswith("rng/cuda/")]:
        if k not in tensors:
            break
        cuda.append(tensors[k])
    if cuda:
        torch.cuda.set_rng_state_all(cuda)
    return state, keys, None if acc is None else acc.to(device)
