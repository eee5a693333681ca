"""klvae.measures._numpy_path: the CPU path gives the torch path's answers and verdicts, without torch."""

import subprocess
import sys

import numpy as np
import pytest
import torch

import klvae
from klvae.measures._checks import convert
from klvae.measures._numpy_kernels import entropy_rows, kl_rows
from klvae.measures._numpy_path import (
    array_inputs,
    check_axes,
    default_workers,
    discrete_torch,
    is_plain,
    log_base,
    numpy_rows,
    on_arrays,
    outcome_shape,
    probs_fault,
)


def rows(n=300, k=5000, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(k), size=n)
    q = rng.dirichlet(np.ones(k), size=n)
    p[0, : k // 2] = 0.0  # zeros in one row
    return p / p.sum(-1, keepdims=True), q


def test_rows_in_chunks_and_threads_agree_with_the_torch_terms():
    p, q = rows()
    got = numpy_rows(kl_rows, [p, q], ("p", "q"), 1, False)
    want = klvae.kl_divergence(torch.from_numpy(p).requires_grad_(True), torch.from_numpy(q)).detach()
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-13, atol=0)
    one = numpy_rows(entropy_rows, [p], ("p",), 1, False, workers=1)
    two = numpy_rows(entropy_rows, [p], ("p",), 1, False, workers=2)
    assert np.array_equal(one, two)


def test_a_bad_row_gets_the_torch_checks_words():
    p, q = rows(n=4, k=10)
    p[2, 3] = -0.1
    with pytest.raises(ValueError, match="p has negative entries"):
        numpy_rows(kl_rows, [p, q], ("p", "q"), 1, False)
    for bad, words in [(np.nan, "p has NaN entries"), (np.inf, "p has infinite entries"), (0.5, "p rows must sum")]:
        p, _ = rows(n=4, k=10)
        p[1, 0] = bad
        with pytest.raises(ValueError, match=words):
            numpy_rows(entropy_rows, [p], ("p",), 1, False)
        with pytest.raises(ValueError, match=words):
            klvae.entropy(torch.from_numpy(p).requires_grad_(True))  # the torch path: the same words


def test_probs_fault_reads_numpy_and_torch_alike():
    x = np.array([[0.5, 0.5], [0.0, 0.0]])
    for a in (x, torch.from_numpy(x)):
        sums = a.sum(-1)
        assert probs_fault("p", a, a.min(), sums, True, 1e-8) == "p has a row of zeros, which cannot be normalized"
        assert probs_fault("p", a, a.min(), sums, False, 1e-8).startswith("p rows must sum to 1 (max deviation 1)")
        assert probs_fault("p", a[:1], a[:1].min(), sums[:1], False, 1e-8) is None


def test_inputs_are_read_as_the_torch_path_reads_them():
    f32 = np.array([0.5, 0.5], dtype=np.float32)
    for values in [
        ([1, 0], f32),
        (f32, f32),
        (f32.astype(np.float16), f32),
        (np.array([1, 0], dtype=np.int8), [0.5, 0.5]),
    ]:
        inputs, torch_inputs = array_inputs(values, ("p", "q"), -1), convert(values, ("p", "q"), -1)
        assert str(inputs.out_dtype) == str(torch_inputs.out_dtype).removeprefix("torch.")
        assert inputs.tols == torch_inputs.tols and inputs.axis == torch_inputs.axis
        assert all(a.dtype == np.float64 for a in inputs.arrays)
    with pytest.raises(ValueError, match="p must be numeric, got an array of dtype <U1"):
        array_inputs((["a"],), ("p",), -1)
    with pytest.raises(ValueError, match="q has 1 outcomes along axis -1 where the others have 2"):
        outcome_shape([(2,), (3, 1)], ("p", "q"), -1)
    assert outcome_shape([(4, 2), (2,)], ("p", "q"), -1) == ((4, 2), 1)
    assert check_axes((0, -1), (2, 3)) == (0, 1) and log_base(None) == 1.0
    assert is_plain([0.5], np.ones(2), 1.0) and not is_plain(torch.ones(2))
    assert default_workers() >= 1


def test_the_module_and_numpy_measures_import_no_torch():
    code = (
        "import sys, numpy as np, klvae; "
        "klvae.entropy([0.5, 0.5]); klvae.kl_divergence(np.ones((3, 2)) / 2, [0.25, 0.75]); "
        "klvae.js_divergence([1, 0], [0, 1]); klvae.cross_entropy([0.5, 0.5], [0.25, 0.75]); "
        "klvae.js_distance([1, 0], [0, 1]); "
        "print(sorted(m for m in ('torch', 'scipy', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_on_arrays_measures_plain_input_and_leaves_the_rest_to_torch():
    value, dtype = on_arrays(kl_rows, ([0.5, 0.5], np.array([0.25, 0.75], np.float32)), ("p", "q"), -1, False, False)
    assert value == pytest.approx(0.5 * np.log(2.0) + 0.5 * np.log(0.5 / 0.75), rel=1e-6) and dtype == np.float64
    assert on_arrays(entropy_rows, ([0.5, 0.5],), ("p",), -1, False, True) is None  # logits: torch's
    assert on_arrays(entropy_rows, (torch.ones(2) / 2,), ("p",), -1, False, False) is None
    assert discrete_torch().__name__ == "klvae.measures._discrete_torch"
