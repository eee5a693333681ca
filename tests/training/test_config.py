"""A training run's settings: every value out of range is refused, naming its field."""

import pytest

from klvae.training import TrainConfig


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(epochs=0), "epochs must be at least 1"),
        (dict(batch_size=0), "batch_size must be at least 1"),
        (dict(lr=0.0), "lr must be positive and finite"),
        (dict(max_seconds=-1.0), "max_seconds must be positive"),
        (dict(device="tpu"), "device must be auto, cpu or cuda"),
        (dict(threads=0), "threads must be at least 1"),
        (dict(val_size=1.0), r"val_size must lie in \[0, 1\)"),
        (dict(seed=-1), "seed must be non-negative"),
        (dict(amp="fp8"), "amp must be 'auto', 'none' or 'bf16'"),
        (dict(lr_schedule="step"), "lr_schedule must be one of"),
        (dict(adam_beta2=1.0), r"adam_beta2 must lie in \[0, 1\)"),
        (dict(weight_decay=-0.1), "weight_decay must be non-negative and finite"),
        (dict(keep="first"), "keep must be one of"),
    ],
)
def test_train_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)
