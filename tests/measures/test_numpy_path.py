"""klvae.measures._numpy_path: the CPU path without gradient gives the torch path's answers and verdicts."""

import numpy as np
import pytest
import torch

import klvae
from klvae.measures._kernels import entropy_rows, kl_rows
from klvae.measures._numpy_path import numpy_path_ok, numpy_rows


def rows(n=300, k=5000, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(k), size=n)
    q = rng.dirichlet(np.ones(k), size=n)
    p[0, : k // 2] = 0.0  # zeros in one row
    return p / p.sum(-1, keepdims=True), q


def test_it_takes_cpu_probabilities_without_gradient_only():
    x = torch.ones(2, 3, dtype=torch.float64) / 3
    assert numpy_path_ok([x], logits=False)
    assert not numpy_path_ok([x], logits=True)
    assert not numpy_path_ok([x.clone().requires_grad_(True)], logits=False)
    assert not numpy_path_ok([x.to(torch.float16)], logits=False)


def test_rows_in_chunks_and_threads_agree_with_the_torch_terms():
    p, q = rows()
    tp, tq = torch.from_numpy(p), torch.from_numpy(q)
    got = numpy_rows(kl_rows, [tp, tq], ("p", "q"), 1, False)
    want = klvae.kl_divergence(tp.clone().requires_grad_(True), tq).detach()
    torch.testing.assert_close(got, want, rtol=1e-13, atol=0)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = numpy_rows(entropy_rows, [tp], ("p",), 1, False)
        torch.set_num_threads(2)
        two = numpy_rows(entropy_rows, [tp], ("p",), 1, False)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)


def test_a_bad_row_gets_the_torch_checks_verdict():
    p, q = rows(n=4, k=10)
    p[2, 3] = -0.1
    with pytest.raises(ValueError, match="p has negative entries"):
        numpy_rows(kl_rows, [torch.from_numpy(p), torch.from_numpy(q)], ("p", "q"), 1, False)
    p, _ = rows(n=4, k=10)
    p[1] *= 1 + 1e-9  # within the tolerance's rounding: the fused check flags, torch's accepts
    out = numpy_rows(entropy_rows, [torch.from_numpy(p)], ("p",), 1, False)
    assert out is None or out.shape == (4,)
