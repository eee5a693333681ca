"""What the training loop trains and how it ends (`klvae.training.task`): a `Task` written from the
protocol alone trains under `fit`, whose `LoopState` and `FitResult` count what happened."""

import math

import pytest
import torch

from klvae.training.config import TrainConfig
from klvae.training.loop import fit
from klvae.training.task import FitResult, LoopState, NonFiniteLossError, Task, TrainingInterrupted


class LeastSquares:
    """y = w·x by SGD: the smallest Task, written from the protocol."""

    def __init__(self, lr=0.1, poison_at=None):
        self.w = torch.nn.Linear(1, 1, bias=False)
        self.modules = {"w": self.w}
        self.optimizers = {"w": torch.optim.SGD(self.w.parameters(), lr=lr)}
        self.poison_at, self.epochs = poison_at, []

    def train_step(self, x, y, step, epoch):
        loss = (self.w(x[:, :1]) - x[:, 1:]).square().mean()
        if step == self.poison_at:
            loss = loss * math.nan
        self.optimizers["w"].zero_grad()
        loss.backward()
        self.optimizers["w"].step()
        return {"loss": loss.detach()}

    def end_epoch(self, epoch):
        self.epochs.append(epoch)
        return {"w": float(self.w.weight)}


def data(n=40):
    x = torch.linspace(-1, 1, n)[:, None]
    return torch.cat([x, 3 * x], 1)  # (n, 2): the input and its target, w = 3


def test_a_task_from_the_protocol_trains_and_the_state_counts_it(tmp_path):
    task = LeastSquares(lr=0.5)
    assert isinstance(task.modules, dict) and Task.__annotations__.keys() >= {"modules", "optimizers"}
    cfg = TrainConfig(epochs=3, batch_size=10, lr_schedule="constant", log_every=1, out=str(tmp_path))
    result = fit(task, data(), None, cfg, tmp_path)
    assert isinstance(result, FitResult) and result.stopped == "completed"
    assert (result.state.epoch, result.state.batch, result.state.step, result.state.samples) == (3, 0, 12, 120)
    assert task.epochs == [1, 2, 3] and [r["epoch"] for r in result.records] == [1, 2, 3]
    assert result.records[-1]["w"] == pytest.approx(3.0, abs=0.05)  # least squares found w = 3
    assert LoopState() == LoopState(0, 0, 0, 0, 0.0)


def test_a_non_finite_loss_stops_the_loop_with_a_runtime_error(tmp_path):
    cfg = TrainConfig(epochs=2, batch_size=10, log_every=1, out=str(tmp_path))
    with pytest.raises(
        NonFiniteLossError, match=r"loss became nan at epoch 2, step 6.*checkpoint \(epoch 1, step 4\)"
    ) as err:
        fit(LeastSquares(poison_at=5), data(), None, cfg, tmp_path)
    assert isinstance(err.value, RuntimeError)


def test_an_interruption_says_where_it_stopped_and_keeps_its_checkpoint(tmp_path):
    state = LoopState(epoch=2, batch=3, step=27, samples=270, train_seconds=1.5)
    err = TrainingInterrupted(tmp_path / "checkpoint.safetensors", state)
    assert str(err) == f"interrupted at epoch 3, step 27; checkpoint saved to {tmp_path / 'checkpoint.safetensors'}"
    assert err.state is state and err.checkpoint == tmp_path / "checkpoint.safetensors"
