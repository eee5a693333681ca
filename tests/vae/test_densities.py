"""The densities of the VAE (`klvae.vae.densities`): log p(x|z) of each likelihood and the diagonal
normal's log density, against torch.distributions."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Bernoulli, Normal

from klvae.vae import log_likelihood


def test_log_likelihoods_match_torch_distributions():
    torch.manual_seed(2)
    x = torch.rand(3, 1, 2, 2, dtype=torch.float64).bernoulli()
    logits = torch.randn(5, 3, 1, 2, 2, dtype=torch.float64)
    ref = Bernoulli(logits=logits).log_prob(x).sum((-3, -2, -1))
    assert torch.allclose(log_likelihood(logits, x, "bernoulli"), ref)
    xg, mean = torch.rand(3, 1, 2, 2, dtype=torch.float64), torch.rand(5, 3, 1, 2, 2, dtype=torch.float64)
    ref = Normal(mean, 0.3).log_prob(xg).sum((-3, -2, -1))
    assert torch.allclose(log_likelihood(mean, xg, "gaussian", 0.3), ref)
    log_sigma = torch.randn(5, 3, 1, 2, 2, dtype=torch.float64) - 1
    ref = Normal(mean, log_sigma.exp()).log_prob(xg).sum((-3, -2, -1))
    assert torch.allclose(log_likelihood((mean, log_sigma), xg, "gaussian-learned"), ref)


def test_bernoulli_likelihood_is_stable_for_huge_logits():
    x = torch.tensor([[[[1.0, 0.0]]]])
    ll = log_likelihood(torch.tensor([[[[200.0, -200.0]]]]), x, "bernoulli")
    assert torch.isfinite(ll) and float(ll) == pytest.approx(0.0, abs=1e-30)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(-30, 30), st.floats(0.01, 20))
def test_bernoulli_log_likelihood_properties(seed, shift, scale):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(4, 1, 3, 3, generator=g, dtype=torch.float64) * scale + shift
    x = (torch.rand(4, 1, 3, 3, generator=g, dtype=torch.float64) < 0.5).double()
    ll = log_likelihood(logits, x, "bernoulli")
    assert torch.isfinite(ll).all() and (ll <= 0).all()  # a probability of binary data
    ref = Bernoulli(logits=logits).log_prob(x).sum((-3, -2, -1))
    assert torch.allclose(ll, ref, rtol=1e-9, atol=1e-9)


def test_unknown_likelihood_error():
    with pytest.raises(ValueError, match="unknown likelihood 'poisson'"):
        log_likelihood(torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, 1), "poisson")


def test_log_likelihood_reduces_over_pixels_only():
    assert log_likelihood(torch.zeros(6, 5, 1, 2, 2), torch.zeros(5, 1, 2, 2), "bernoulli").shape == (6, 5)


def test_the_diagonal_normals_log_density_is_torchs():
    from torch.distributions import Independent, Normal

    from klvae.vae.densities import log_normal, log_normal_dims

    g = torch.Generator().manual_seed(0)
    z, mu, logvar = (torch.randn(3, 5, 4, generator=g, dtype=torch.float64) for _ in range(3))
    ref = Normal(mu, (0.5 * logvar).exp())
    torch.testing.assert_close(log_normal_dims(z, mu, logvar), ref.log_prob(z), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(log_normal(z, mu, logvar), Independent(ref, 1).log_prob(z), rtol=1e-12, atol=1e-12)
