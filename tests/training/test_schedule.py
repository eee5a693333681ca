"""The learning-rate schedule (`klvae.training.schedule.lr_factor`) and the loop settings that choose it."""

import math

import pytest

from klvae.training.config import TrainConfig
from klvae.training.schedule import lr_factor


def test_lr_factor_formula():
    assert lr_factor("linear", 10 / 100, 50 / 100) == pytest.approx(0.5)  # seconds ahead of steps
    assert lr_factor("linear", 80 / 100, 50 / 100) == pytest.approx(0.2)  # steps ahead of seconds
    assert lr_factor("linear", 1.0, 5.0) == 0.0  # never negative
    assert lr_factor("constant", 0.99, 1e7) == 1.0
    for share in (0.0, 0.1, 0.37, 0.5, 0.9, 1.0, 3.0):  # cosine against its formula, capped at the end
        assert lr_factor("cosine", share) == pytest.approx(0.5 * (1 + math.cos(math.pi * min(share, 1.0))), abs=1e-15)
    with pytest.raises(ValueError, match="schedule must be one of"):
        lr_factor("step", 0.5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(lr_schedule="step"), "lr_schedule must be one of"),
        (dict(adam_beta1=-0.1), r"adam_beta1 must lie in \[0, 1\)"),
        (dict(weight_decay=-1.0), "weight_decay must be non-negative"),
        (dict(seed=-1), "seed must be non-negative"),
        (dict(amp="fp16"), "amp must be 'auto', 'none' or 'bf16'"),
        (dict(adam_beta2=1.0), r"adam_beta2 must lie in \[0, 1\)"),
    ],
)
def test_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)
