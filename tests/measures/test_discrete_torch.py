"""klvae.measures._discrete_torch: tensors take the torch path and agree with the NumPy path and scipy."""

import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch

from klvae import measures
from klvae.measures import _discrete_torch as tp


def test_which_tensors_take_the_numpy_kernels():
    x = torch.ones(2, 3, dtype=torch.float64) / 3
    assert tp.numpy_path_ok([x], logits=False)
    assert not tp.numpy_path_ok([x], logits=True)
    assert not tp.numpy_path_ok([x.clone().requires_grad_(True)], logits=False)
    assert not tp.numpy_path_ok([x.to(torch.float16)], logits=False)


@pytest.mark.parametrize("grad", [False, True])
def test_tensors_agree_with_numpy_input_and_scipy(grad):
    rng = np.random.default_rng(1)
    p, q = rng.dirichlet(np.ones(7), size=5), rng.dirichlet(np.ones(7), size=5)
    p[0, :3] = 0.0
    p /= p.sum(-1, keepdims=True)
    t_p, t_q = torch.from_numpy(p).requires_grad_(grad), torch.from_numpy(q)
    for name, want in [
        ("entropy", scipy.stats.entropy(p, axis=-1)),
        ("kl_divergence", scipy.stats.entropy(p, q, axis=-1)),
        ("cross_entropy", -scipy.special.xlogy(p, q).sum(-1)),
    ]:
        args = (t_p,) if name == "entropy" else (t_p, t_q)
        got = getattr(tp, name)(*args).detach().numpy()
        np.testing.assert_allclose(got, want, rtol=1e-13)
        numpy_args = (p,) if name == "entropy" else (p, q)
        np.testing.assert_allclose(getattr(measures, name)(*numpy_args), got, rtol=1e-14)
    js = tp.js_divergence(t_p, t_q).detach().numpy()
    m = (p + q) / 2
    np.testing.assert_allclose(js, 0.5 * (scipy.stats.entropy(p, m, axis=-1) + scipy.stats.entropy(q, m, axis=-1)))


def test_binary_cross_entropy_against_torch():
    y, prob = torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64), torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)
    want = torch.nn.functional.binary_cross_entropy(prob, y, reduction="sum")
    assert torch.allclose(tp.binary_cross_entropy(y, prob, reduction="sum"), want, rtol=1e-14)
