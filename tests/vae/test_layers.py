"""The networks' building blocks: the layers of an MLP, labels as one-hot inputs."""

import pytest
import torch
from torch import nn

from klvae.vae.layers import mlp, one_hot, with_label


def test_mlp_has_a_relu_between_linear_layers_and_none_after_the_last():
    net = mlp([5, 4, 3, 2])
    assert [type(m) for m in net] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert [(m.in_features, m.out_features) for m in net if isinstance(m, nn.Linear)] == [(5, 4), (4, 3), (3, 2)]


def test_one_hot_rows_take_the_dtype_of_like_and_refuse_bad_labels():
    code = one_hot(torch.tensor([2, 0]), 3, torch.zeros(1, dtype=torch.float64))
    assert code.dtype == torch.float64 and code.tolist() == [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    assert one_hot(None, 0, torch.zeros(1)) is None
    with pytest.raises(ValueError, match="give the labels"):
        one_hot(None, 3, torch.zeros(1))
    with pytest.raises(ValueError, match=r"labels must be integers in 0 … 2"):
        one_hot(torch.tensor([3]), 3, torch.zeros(1))
    with pytest.raises(ValueError, match="labels must be integers"):
        one_hot(torch.tensor([0.5]), 3, torch.zeros(1))


def test_with_label_appends_the_code_to_every_draw():
    h, code = torch.randn(4, 2, 5), torch.eye(3)[[1, 2]]  # (k, B, F), (B, n)
    out = with_label(h, code)
    assert out.shape == (4, 2, 8) and torch.equal(out[..., :5], h)
    assert torch.equal(out[3, :, 5:], code) and with_label(h, None) is h
