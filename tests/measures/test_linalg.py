"""klvae.measures._linalg: the triangular solves against LAPACK's, in value and gradient."""

import pytest
import torch

from klvae.measures._linalg import solve_lower


@pytest.mark.parametrize("d", [1, 2, 3, 4, 6])
def test_many_small_systems_by_substitution_match_lapack_in_value_and_gradient(d):
    # a batch of 256·d or more small systems is solved by forward substitution over the batch
    # (d ≤ 4), else by LAPACK: the same values and the same gradients either way
    g = torch.Generator().manual_seed(d)
    n = 256 * d
    a = torch.randn(n, d, d, generator=g, dtype=torch.float64)
    low = torch.linalg.cholesky(a @ a.mT + 0.3 * torch.eye(d, dtype=torch.float64)).requires_grad_()
    rhs = torch.randn(n, d, d + 1, generator=g, dtype=torch.float64).requires_grad_()
    ours, theirs = solve_lower(low, rhs), torch.linalg.solve_triangular(low, rhs, upper=False)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    grads = [torch.autograd.grad((x * torch.cos(x)).sum(), (low, rhs)) for x in (ours, theirs)]
    for mine, lapack in zip(*grads):
        torch.testing.assert_close(mine, lapack, rtol=1e-10, atol=1e-10)
