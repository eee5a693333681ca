"""klvae.measures.results: MeasureResult behaves as a tensor and a number, and keeps its attributes."""

import copy
import pickle

import numpy as np
import pytest
import torch

from klvae.measures.results import MeasureResult


def test_a_result_is_a_tensor_a_number_and_carries_its_error():
    x = torch.tensor([0.5, 2.0], dtype=torch.float64, requires_grad=True)
    r = MeasureResult.wrap(x * 2, method="quadrature", error_bound=1e-12, n=30)
    assert isinstance(r, torch.Tensor) and r.method == "quadrature" and r.n == 30 and r.stderr is None
    assert r.error_bound.shape == (2,) and float(r.error_bound[1]) == 1e-12  # broadcast to the batch
    assert float(r[0]) == 1.0 and type(r * 3) is torch.Tensor and type(r.sum()) is torch.Tensor
    np.testing.assert_array_equal(r.detach().numpy(), [1.0, 4.0])
    assert torch.as_tensor(r) is r and type(r.value) is torch.Tensor
    r.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]  # the wrapper is transparent to autograd


def test_scaling_copying_and_pickling_keep_the_attributes():
    r = MeasureResult.wrap(torch.tensor(2.0), method="monte carlo", stderr=torch.tensor(0.1), n=100)
    bits = r.scaled(2.0)
    assert float(bits) == 1.0 and float(bits.stderr) == pytest.approx(0.05) and bits.method == "monte carlo"
    for other in (copy.deepcopy(r), pickle.loads(pickle.dumps(r))):
        assert isinstance(other, MeasureResult) and float(other) == 2.0 and float(other.stderr) == pytest.approx(0.1)
    assert repr(r) == "MeasureResult(2, method='monte carlo', stderr=0.1)"
