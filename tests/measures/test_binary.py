"""klvae.measures.binary against torch.nn.functional, at the edges and in its errors."""

import math

import pytest
import torch

import klvae


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_binary_cross_entropy_matches_torch(reduction):
    g = torch.Generator().manual_seed(0)
    y = torch.rand(6, 3, generator=g, dtype=torch.float64)
    z = torch.randn(6, 3, generator=g, dtype=torch.float64) * 5
    want = torch.nn.functional.binary_cross_entropy(torch.sigmoid(z), y, reduction=reduction)
    got = klvae.binary_cross_entropy(y, torch.sigmoid(z), reduction=reduction)
    assert torch.allclose(got, want, rtol=1e-12, atol=0)
    want = torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction=reduction)
    got = klvae.binary_cross_entropy_with_logits(y, z, reduction=reduction)
    assert torch.allclose(got, want, rtol=1e-12, atol=0)


def test_binary_cross_entropy_edges_and_bits():
    assert klvae.binary_cross_entropy(1.0, 0.0) == math.inf
    assert klvae.binary_cross_entropy(0.0, 1.0) == math.inf
    assert klvae.binary_cross_entropy([0.0, 1.0], [0.0, 1.0], reduction="sum") == 0.0
    # p = 1e-20: log(1 − p) must not round to log 1
    assert klvae.binary_cross_entropy(0.5, 1e-20) == pytest.approx(0.5 * (20 * math.log(10) + 1e-20), rel=1e-15)
    assert klvae.binary_cross_entropy_with_logits(1.0, -800.0) == pytest.approx(800.0, rel=1e-15)
    assert klvae.binary_cross_entropy(1.0, 0.25, base=2) == pytest.approx(2.0, rel=1e-15)


def test_bad_binary_inputs():
    with pytest.raises(ValueError, match=r"prob must lie in \[0, 1\] \(found values in \[0\.5, 1\.5\]\)"):
        klvae.binary_cross_entropy([1.0, 0.0], [0.5, 1.5])
    with pytest.raises(ValueError, match="target has NaN entries"):
        klvae.binary_cross_entropy([float("nan")], [0.5])
    with pytest.raises(ValueError, match="reduction must be one of 'none', 'sum', 'mean', got 'batchmean'"):
        klvae.binary_cross_entropy([1.0], [0.5], reduction="batchmean")
    with pytest.raises(ValueError, match="logits has NaN or infinite entries"):
        klvae.binary_cross_entropy_with_logits([1.0], [float("inf")])
    with pytest.raises(ValueError, match=r"shapes do not broadcast: target \(2,\) and prob \(3,\)"):
        klvae.binary_cross_entropy([1.0, 0.0], [0.5, 0.5, 0.5])
