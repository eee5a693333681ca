"""klvae.mvn: full-covariance and low-rank Gaussian KL against torch.distributions and mpmath."""

import math

import mpmath
import numpy as np
import pytest
import torch
from torch.distributions import MultivariateNormal

import klvae
from klvae.mvn import kl_mvn

mpmath.mp.dps = 50


def random_spd(*shape, d, gen, dtype=torch.float64):
    a = torch.randn(*shape, d, d, generator=gen, dtype=dtype)
    return a @ a.mT / d + 0.3 * torch.eye(d, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("form", ["cov", "precision", "scale_tril", "var"])
def test_kl_of_a_distribution_with_itself_is_exactly_zero(form, dtype):
    gen = torch.Generator().manual_seed(0)
    for d in (1, 2, 5, 30):
        s = random_spd(4, d=d, gen=gen, dtype=dtype)
        mu = torch.randn(4, d, generator=gen, dtype=dtype)
        arg = {"cov": s, "precision": s, "scale_tril": torch.linalg.cholesky(s),
               "var": s.diagonal(dim1=-2, dim2=-1)}[form]
        out = kl_mvn(mu, mu2=mu, **{f"{form}1": arg, f"{form}2": arg.clone()})
        assert (out == 0).all(), (d, out)


def test_the_float32_examples_torch_tests_with():
    # torch's test_kl uses small float32 MultivariateNormals; its own KL(p, p) is not 0 on them
    gen = torch.Generator().manual_seed(1)
    cov = random_spd(5, d=3, gen=gen, dtype=torch.float32)
    p = MultivariateNormal(torch.randn(5, 3, generator=gen), cov)
    assert (kl_mvn(p.loc, p.covariance_matrix, p.loc, p.covariance_matrix) == 0).all()
    assert (kl_mvn(p.loc, None, p.loc, precision1=p.precision_matrix, precision2=p.precision_matrix) == 0).all()


def test_an_infinite_mean_gives_inf_on_every_path():
    eye, mu = np.eye(3), [0.0, math.inf, 0.0]
    assert kl_mvn(mu, eye, np.zeros(3), eye) == math.inf
    assert kl_mvn(mu, None, np.zeros(3), var1=np.ones(3), var2=np.ones(3)) == math.inf
    assert kl_mvn(mu, None, np.zeros(3), precision1=eye, scale_tril2=eye) == math.inf
    assert klvae.kl_normal(mu, 1.0, 0.0, 1.0, axis=-1) == math.inf
    batch = kl_mvn([[0.0, 0.0, 0.0], mu], eye, np.zeros(3), 2 * eye)  # the finite row is untouched
    assert batch[1] == math.inf and batch[0] == pytest.approx(1.5 * (0.5 - 1 + math.log(2)), rel=1e-14)
    with pytest.raises(ValueError, match=r"infinite values among mu1, mu2 cancel \(inf - inf\)"):
        kl_mvn(mu, eye, mu, eye)
    with pytest.raises(ValueError, match=r"infinite values among mu1, mu2 cancel"):
        kl_mvn(mu, None, mu, var1=np.ones(3), var2=np.ones(3))
