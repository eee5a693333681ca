"""klvae.measures._checks: every check says what is wrong, in the same words for every measure."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from klvae.measures._checks import (
    at_indices,
    broadcast,
    broadcast_shapes,
    check_logits,
    check_positive,
    check_probs,
    check_result,
    convert,
)
from klvae.measures._numpy_path import check_axes, log_base

D = torch.float64


@pytest.mark.parametrize("base, want", [(None, 1.0), (2, math.log(2)), (10.0, math.log(10)), (math.e, 1.0)])
def test_log_base(base, want):
    assert log_base(base) == pytest.approx(want, rel=1e-15)


@pytest.mark.parametrize("base", [1, 0, -2, math.inf, math.nan, "two", [2]])
def test_log_base_refuses_what_is_not_a_base(base):
    with pytest.raises(ValueError, match="base must be a positive number other than 1"):
        log_base(base)


def test_check_axes():
    assert check_axes(-1, (3, 4)) == 1 and check_axes((0, -1), (3, 4)) == (0, 1) and check_axes(None, (2,)) is None
    with pytest.raises(ValueError, match=r"axis 2 is out of range for 2-d inputs of shape \(3, 4\)"):
        check_axes(2, (3, 4))
    with pytest.raises(ValueError, match="axis must be an integer, got True"):
        check_axes(True, (3,))


@pytest.mark.parametrize(
    "row, message",
    [
        ([0.5, math.nan], "p has NaN entries"),
        ([1.5, -0.5], "p has negative entries"),
        ([math.inf, 0.0], "p has infinite entries"),
        ([0.5, 0.4], r"p rows must sum to 1 \(max deviation 0.1\); pass normalize=True"),
    ],
)
def test_check_probs_names_the_argument_and_the_fault(row, message):
    with pytest.raises(ValueError, match=message):
        check_probs(torch.tensor([row], dtype=D), "p", 1, False)


def test_check_probs_normalizes_and_reports_zeros():
    rows, has_zero = check_probs(torch.tensor([[2.0, 0.0, 2.0]], dtype=D), "q", 1, True)
    assert rows.tolist() == [[0.5, 0.0, 0.5]] and has_zero
    with pytest.raises(ValueError, match="q has a row of zeros, which cannot be normalized"):
        check_probs(torch.zeros(1, 2, dtype=D), "q", 1, True)


def test_check_logits():
    logp, has_neg_inf = check_logits(torch.tensor([[0.0, -math.inf]], dtype=D), "p", 1)
    assert logp.tolist() == [[0.0, -math.inf]] and has_neg_inf
    with pytest.raises(ValueError, match=r"p logits have \+inf entries"):
        check_logits(torch.tensor([[0.0, math.inf]], dtype=D), "p", 1)
    with pytest.raises(ValueError, match="all -inf"):
        check_logits(torch.tensor([[-math.inf, -math.inf]], dtype=D), "p", 1)


def test_broadcast_and_convert():
    (a, b), axis = broadcast([torch.ones(3, 4), torch.ones(1, 4)], ("p", "q"), -1)
    assert a.shape == b.shape == (3, 4) and axis == 1
    with pytest.raises(ValueError, match="q has 1 outcomes along axis -1 where the others have 4"):
        broadcast([torch.ones(3, 4), torch.ones(3, 1)], ("p", "q"), -1)
    with pytest.raises(ValueError, match=r"shapes do not broadcast: p \(3,\) and q \(4,\)"):
        broadcast([torch.ones(3), torch.ones(4)], ("p", "q"), -1)
    inputs = convert((np.array([0.5, 0.5], dtype=np.float32), [0.25, 0.75]), ("p", "q"), -1)
    assert not inputs.torch_out and inputs.tensors[0].dtype == D and inputs.out_dtype == torch.float64


def test_parameter_checks_name_the_batch_index():
    with pytest.raises(ValueError, match=r"sigma must be positive, got -1 at index \(1,\)"):
        check_positive("sigma", torch.tensor([1.0, -1.0]))
    assert at_indices(torch.tensor([[False, True]])) == " at index (0, 1)"
    with pytest.raises(ValueError, match="infinite values among mu, sigma cancel"):
        check_result(torch.tensor([math.nan]), {"mu": torch.tensor([math.inf]), "sigma": torch.tensor([1.0])})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from([0, 1, 2, 3]), max_size=4), min_size=1, max_size=4))
def test_broadcast_shapes_agrees_with_torch_and_raises_where_it_does(shapes):
    try:
        want = torch.broadcast_shapes(*shapes)
    except RuntimeError:
        with pytest.raises(RuntimeError, match="do not broadcast"):
            broadcast_shapes(*shapes)
    else:
        assert broadcast_shapes(*shapes) == want
        assert isinstance(broadcast_shapes(*shapes), torch.Size)
