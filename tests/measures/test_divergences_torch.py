"""klvae.measures._divergences_torch: tensors and distribution objects, against the NumPy path and references."""

import numpy as np
import pytest
import scipy.spatial.distance
import torch

from klvae import measures
from klvae.measures import _divergences_torch as td
from klvae.measures import divergences


def test_tensors_agree_with_numpy_input_and_scipy():
    rng = np.random.default_rng(2)
    p, q = rng.dirichlet(np.ones(6), size=3), rng.dirichlet(np.ones(6), size=3)
    tp, tq = torch.from_numpy(p).requires_grad_(True), torch.from_numpy(q)
    tv = td.total_variation(tp, tq)
    np.testing.assert_allclose(tv.detach().numpy(), 0.5 * np.abs(p - q).sum(-1), rtol=1e-14)
    h = td.hellinger_distance(tp, tq)
    want = scipy.spatial.distance.cdist(np.sqrt(p), np.sqrt(q)).diagonal() / np.sqrt(2)
    np.testing.assert_allclose(h.detach().numpy(), want, rtol=1e-12)
    for name, args in [("chi2_divergence", ()), ("renyi_divergence", (0.4,)), ("alpha_divergence", (0.8,))]:
        got = getattr(td, name)(tp, tq, *args).detach().numpy()
        np.testing.assert_allclose(getattr(measures, name)(p, q, *args), got, rtol=1e-13)
    h.sum().backward()
    assert torch.isfinite(tp.grad).all()


def test_objects_are_told_from_probabilities():
    n = torch.distributions.Normal(0.0, 1.0)
    assert td.objects(n, torch.distributions.Normal(1.0, 1.0), "hellinger_distance")
    assert not td.objects(torch.ones(2) / 2, torch.ones(2) / 2, "hellinger_distance")
    with pytest.raises(TypeError, match="f must be a function"):
        divergences.f_divergence([0.5, 0.5], [0.5, 0.5], 3)
