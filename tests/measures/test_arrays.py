import numpy as np
import pytest
import torch

from klvae.measures.arrays import from_tensor, to_tensors


def test_lists_become_float64_and_come_back_as_numpy():
    (t,) = to_tensors([1, 2, 3], names=("p",))
    assert t.dtype == torch.float64
    out = from_tensor(t.sum(), torch_out=False)
    assert isinstance(out, np.float64) and out == 6.0


def test_dtypes_promote_and_device_follows_first_tensor():
    a = torch.ones(3, dtype=torch.float32, requires_grad=True)
    b = np.ones(3, dtype=np.float64)
    ta, tb = to_tensors(a, b, names=("a", "b"))
    assert ta.dtype == tb.dtype == torch.float64
    ta.sum().backward()  # the conversion keeps the autograd graph
    assert a.grad is not None


def test_read_only_numpy_is_accepted():
    a = np.arange(4.0)
    a.setflags(write=False)
    (t,) = to_tensors(a, names=("p",))
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_non_numeric_input_names_the_argument():
    with pytest.raises(ValueError, match="q must be numeric"):
        to_tensors([1.0], ["a"], names=("p", "q"))


def test_numbers_are_float64_alone_and_follow_the_arrays_dtype_otherwise():
    (t,) = to_tensors(0.1, names=("x",))
    assert t.dtype == torch.float64 and t.item() == 0.1
    a, b = to_tensors(torch.ones(2, dtype=torch.float32), 0.5, names=("a", "b"))
    assert a.dtype == b.dtype == torch.float32
