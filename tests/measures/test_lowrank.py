"""klvae.measures.lowrank: low-rank-plus-diagonal Gaussian KL against torch and dense kl_mvn, O(d r²)."""

import numpy as np
import pytest
import torch
from torch.distributions import LowRankMultivariateNormal, kl_divergence

import klvae
from klvae.measures.lowrank import kl_lowrank_mvn

D = torch.float64


def lowrank(batch, d, r, seed):
    g = torch.Generator().manual_seed(seed)
    return LowRankMultivariateNormal(
        torch.randn(*batch, d, generator=g, dtype=D),
        torch.randn(*batch, d, r, generator=g, dtype=D) / r**0.5,
        0.2 + torch.rand(*batch, d, generator=g, dtype=D),
    )


def kl(p, q, **kw):
    return kl_lowrank_mvn(p.loc, p.cov_factor, p.cov_diag, q.loc, q.cov_factor, q.cov_diag, **kw)


@pytest.mark.parametrize("r1, r2", [(1, 1), (3, 5), (6, 2)])
def test_matches_torch_and_the_dense_form(r1, r2):
    p, q = lowrank((4,), 20, r1, 0), lowrank((4,), 20, r2, 1)
    torch.testing.assert_close(kl(p, q), kl_divergence(p, q), rtol=1e-12, atol=0)
    dense = klvae.kl_mvn(p.loc, p.covariance_matrix, q.loc, q.covariance_matrix)
    torch.testing.assert_close(kl(p, q), dense, rtol=1e-12, atol=0)
    via_kl_mvn = klvae.kl_mvn(
        p.loc, mu2=q.loc, cov_factor1=p.cov_factor, cov_diag1=p.cov_diag, cov_factor2=q.cov_factor, cov_diag2=q.cov_diag
    )
    torch.testing.assert_close(via_kl_mvn, kl(p, q), rtol=0, atol=0)
    one_side = klvae.kl_mvn(p.loc, mu2=q.loc, cov_factor1=p.cov_factor, cov_diag1=p.cov_diag, cov2=q.covariance_matrix)
    torch.testing.assert_close(one_side, kl(p, q), rtol=1e-12, atol=0)


def test_batch_shapes_broadcast_and_equal_sides_give_exactly_zero():
    p, q = lowrank((3, 1), 8, 2, 2), lowrank((5,), 8, 2, 3)
    out = kl(p, q)
    assert out.shape == (3, 5)
    torch.testing.assert_close(out, kl_divergence(p.expand((3, 5)), q.expand((3, 5))), rtol=1e-12, atol=0)
    assert (kl(p, p) == 0).all()


def test_no_d_by_d_factorization_at_d_1000(monkeypatch):
    sizes = []
    for name in ("cholesky", "solve_triangular", "eigh", "inv", "det", "slogdet"):
        real = getattr(torch.linalg, name)

        def spy(a, *args, _real=real, **kw):
            sizes.append(a.shape[-1] if a.shape[-2] == a.shape[-1] else 0)
            return _real(a, *args, **kw)

        monkeypatch.setattr(torch.linalg, name, spy)
    p, q = lowrank((2,), 1000, 10, 4), lowrank((2,), 1000, 10, 5)
    out = kl(p, q)
    assert max(sizes) == 10  # only r × r factors and solves
    monkeypatch.undo()
    torch.testing.assert_close(out, kl_divergence(p, q), rtol=1e-11, atol=0)


def test_gradients_and_errors():
    p, q = lowrank((), 6, 2, 6), lowrank((), 6, 3, 7)
    w = p.cov_factor.clone().requires_grad_(True)
    dg = p.cov_diag.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: kl_lowrank_mvn(p.loc, a, b, q.loc, q.cov_factor, q.cov_diag), (w, dg))
    with pytest.raises(ValueError, match="cov_diag2 must be positive"):
        kl_lowrank_mvn(np.zeros(2), np.ones((2, 1)), np.ones(2), np.zeros(2), np.ones((2, 1)), [1.0, -1.0])
    with pytest.raises(ValueError, match="event sizes do not match"):
        kl_lowrank_mvn(np.zeros(2), np.ones((3, 1)), np.ones(2), np.zeros(2), np.ones((2, 1)), np.ones(2))
    with pytest.raises(TypeError, match="cov_factor1 and cov_diag1 go together"):
        klvae.kl_mvn(np.zeros(2), mu2=np.zeros(2), cov_factor1=np.ones((2, 1)), cov2=np.eye(2))


def test_capacitance_factors_held_by_torch_give_the_same_kl():
    gen = torch.Generator().manual_seed(5)
    sides = [
        (
            torch.randn(3, 40, generator=gen, dtype=D),
            torch.randn(3, 40, 4, generator=gen, dtype=D),
            0.5 + torch.rand(3, 40, generator=gen, dtype=D),
        )
        for _ in range(2)
    ]
    p, q = (LowRankMultivariateNormal(*s) for s in sides)
    own = kl_lowrank_mvn(*sides[0], *sides[1])
    held = kl_lowrank_mvn(*sides[0], *sides[1], capacitance_trils=(p._capacitance_tril, q._capacitance_tril))
    assert torch.allclose(held, own, rtol=1e-13, atol=0)
    assert torch.allclose(klvae.kl_divergence(p, q), own, rtol=1e-13, atol=0)
