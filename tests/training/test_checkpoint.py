"""Checkpoints: a round trip restores everything; a checkpoint that does not fit is one line
naming the file and the first problem, and leaves the task and the random generator untouched."""

import copy
import json

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from klvae.training.checkpoint import load_checkpoint, restore_checkpoint, save_checkpoint
from klvae.training.task import LoopState

CPU = torch.device("cpu")
STATE = LoopState(epoch=1, batch=2, step=3, samples=300, train_seconds=1.5)


class Tiny:
    """A two-layer network and its Adam, as the loop sees a VAE task."""

    def __init__(self, hidden: int = 4, seed: int = 0):
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Linear(3, hidden), nn.Linear(hidden, 2))
        self.modules = {"vae": self.net}
        self.optimizers = {"vae": torch.optim.Adam(self.net.parameters(), lr=1e-2, betas=(0.9, 0.95))}

    def step(self):
        opt = self.optimizers["vae"]
        opt.zero_grad()
        self.net(torch.ones(5, 3)).pow(2).sum().backward()
        opt.step()

    def snapshot(self):
        return (
            copy.deepcopy(self.net.state_dict()),
            copy.deepcopy(self.optimizers["vae"].state_dict()),
            torch.get_rng_state(),
        )


def same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return torch.equal(a, b) if torch.is_tensor(a) else a == b


@pytest.fixture
def saved(tmp_path):
    task = Tiny()
    task.step()
    path = save_checkpoint(
        tmp_path / "checkpoint.safetensors",
        task,
        STATE,
        ["loss", "kl"],
        torch.tensor([1.0, 2.0], dtype=torch.float64),
        {"vae": {}},
    )
    return path, task


def test_round_trip_restores_weights_optimizer_rng_and_loop(saved):
    path, task = saved
    rng = torch.get_rng_state()  # what the checkpoint holds: nothing drew since saving
    torch.manual_seed(123)
    other = Tiny(seed=1)
    state, keys, acc = restore_checkpoint(path, other, CPU)
    assert (state, keys) == (STATE, ["loss", "kl"]) and acc.tolist() == [1.0, 2.0]
    assert same(other.net.state_dict(), task.net.state_dict())
    assert same(other.optimizers["vae"].state_dict(), task.optimizers["vae"].state_dict())
    assert torch.equal(torch.get_rng_state(), rng)
    other.step()  # the restored optimizer steps like the original
    task.step()
    assert same(other.net.state_dict(), task.net.state_dict())


def forge(path, change):
    """A copy of the checkpoint at `path`, with `change(tensors, meta)` applied."""
    tensors, meta = load_checkpoint(path)
    change(tensors, meta)
    out = path.with_name("forged.safetensors")
    save_file(tensors, str(out), metadata=meta)
    return out


def _edit_optim(meta, edit):
    info = json.loads(meta["optim/vae"])
    edit(info)
    meta["optim/vae"] = json.dumps(info)


def _rename(tensors, old, new):
    tensors[new] = tensors.pop(old)


BAD = [
    (
        lambda t, m: t.update({"module/G/weight": torch.zeros(2)}),
        r"does not fit this model: unexpected tensor module/G/weight "
        r"\(is this checkpoint from another kind of run\?\)$",
    ),
    (lambda t, m: t.update({"stray": torch.zeros(2)}), r"does not fit this model: unexpected tensor stray"),
    (lambda t, m: m.pop("loop"), r"is damaged: its metadata has no 'loop' entry$"),
    (lambda t, m: m.pop("sum_keys"), r"is damaged: its metadata has no 'sum_keys' entry$"),
    (lambda t, m: m.update(loop="{epoch: 1"), r"is damaged: its loop metadata is not JSON"),
    (lambda t, m: m.update(loop='{"epoch": 1}'), r"is damaged: the 'loop' metadata must hold epoch, batch, step"),
    (
        lambda t, m: m.update(loop=m["loop"].replace('"step": 3', '"step": -3')),
        r"is damaged: loop step is -3, not a count$",
    ),
    (lambda t, m: m.update(sum_keys='"loss"'), r"is damaged: 'sum_keys' must be a list of names$"),
    (lambda t, m: m.update(format="other"), r"is not a klvae checkpoint$"),
    (
        lambda t, m: t.update({"rng/cpu": t["rng/cpu"][:100]}),
        r"is damaged: rng/cpu holds torch.uint8 \(100,\), a random generator's state is uint8 \(\d+,\)$",
    ),
    (lambda t, m: t.pop("rng/cpu"), r"is damaged: the random generator's state rng/cpu is missing$"),
    (lambda t, m: t.pop("module/vae/1.bias"), r"does not fit this model: module/vae/1.bias is missing$"),
    (
        lambda t, m: t.update({"module/vae/0.weight": t["module/vae/0.weight"].double()}),
        r"does not fit this model: module/vae/0.weight has dtype torch.float64, the model expects torch.float32$",
    ),
    (
        lambda t, m: _rename(t, "optim/vae/3/exp_avg", "optim/vae/7/exp_avg"),
        r"does not fit this model: optimizer vae: its state refers to parameter 7, which the optimizer "
        r"does not have \(4 parameters\)$",
    ),
    (
        lambda t, m: t.update({"optim/vae/0/exp_avg": torch.zeros(9)}),
        r"does not fit this model: optimizer vae: optim/vae/0/exp_avg has shape \(9,\), the parameter "
        r"has \(4, 3\) \(was config.json edited\?\)$",
    ),
    (
        lambda t, m: _rename(t, "optim/vae/0/exp_avg", "optim/vae/x/exp_avg"),
        r"is damaged: optimizer vae state entry 'x/exp_avg' is not <id>/<name>$",
    ),
    (lambda t, m: m.pop("optim/vae"), r"is damaged: no 'optim/vae' for optimizer vae$"),
    (lambda t, m: m.update({"optim/vae": "[]"}), r"is damaged: the state of optimizer vae is unreadable"),
    (
        lambda t, m: _edit_optim(m, lambda i: i["param_groups"][0]["params"].pop()),
        r"does not fit this model: optimizer vae: group 0 has 3 parameters, the model's has 4",
    ),
    (
        lambda t, m: _edit_optim(m, lambda i: i["param_groups"].append(i["param_groups"][0])),
        r"does not fit this model: optimizer vae has 2 parameter groups, the model's has 1$",
    ),
    (
        lambda t, m: _edit_optim(m, lambda i: i["param_groups"][0].update(betas=5)),
        r"is damaged: optimizer vae betas is 5, the optimizer's is \(0.9, 0.95\)$",
    ),
    (
        lambda t, m: _edit_optim(m, lambda i: i["param_groups"][0].update(lr="fast")),
        r"is damaged: optimizer vae lr is 'fast'",
    ),
    (
        lambda t, m: _edit_optim(m, lambda i: i["param_groups"][0].pop("lr")),
        r"is damaged: optimizer vae group 0 has no 'lr'$",
    ),
    (
        lambda t, m: _edit_optim(m, lambda i: i["scalars"].update({"9/step": 1})),
        r"does not fit this model: optimizer vae: its state refers to parameter 9",
    ),
    (
        lambda t, m: t.update({"loop/sums": torch.zeros(3, dtype=torch.float64)}),
        r"is damaged: loop/sums holds torch.float64 \(3,\), the 2 sums it names are float64 \(2,\)$",
    ),
]


@pytest.mark.parametrize("change, message", BAD)
def test_a_checkpoint_that_does_not_fit_is_one_line_and_changes_nothing(saved, change, message):
    path, _ = saved
    forged = forge(path, change)
    task = Tiny(seed=2)
    before = task.snapshot()
    with pytest.raises(ValueError, match=r"^\S*forged.safetensors " + message) as info:
        restore_checkpoint(forged, task, CPU)
    assert "\n" not in str(info.value)
    assert same(task.snapshot(), before)


def test_shapes_changed_by_an_edited_config_name_the_tensor(saved):
    path, _ = saved
    task = Tiny(hidden=5)  # config.json edited: 5 hidden units instead of 4
    before = task.snapshot()
    with pytest.raises(
        ValueError,
        match=r"checkpoint.safetensors does not fit this model: "
        r"module/vae/0.weight has shape \(4, 3\), the model expects "
        r"\(5, 3\) \(was config.json edited\?\)$",
    ):
        restore_checkpoint(path, task, CPU)
    assert same(task.snapshot(), before)


def test_a_cuda_rng_state_is_ignored_on_cpu(saved):
    path, task = saved
    forged = forge(path, lambda t, m: t.update({"rng/cuda/0": torch.zeros(16, dtype=torch.uint8)}))
    state, _, _ = restore_checkpoint(forged, Tiny(seed=3), CPU)
    assert state == STATE
