"""klvae.measures.mvn: full-covariance and low-rank Gaussian KL against torch.distributions and mpmath."""

import math

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import MultivariateNormal, kl_divergence

import klvae
from klvae.measures.mvn import entropy_mvn, kl_mvn
from reference import seeds_kl_gaussian_multivariate

F64 = torch.float64
mpmath.mp.dps = 50


def rel_err(a, b):
    a, b = torch.as_tensor(a, dtype=F64), torch.as_tensor(b, dtype=F64)
    return ((a - b).abs() / b.abs()).max().item()


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
        arg = {"cov": s, "precision": s, "scale_tril": torch.linalg.cholesky(s), "var": s.diagonal(dim1=-2, dim2=-1)}[
            form
        ]
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


@pytest.mark.parametrize("form1", ["cov", "scale_tril", "precision", "var"])
@pytest.mark.parametrize("form2", ["cov", "scale_tril", "precision", "var"])
def test_kl_mvn_matches_torch_in_every_form(form1, form2):
    gen = torch.Generator().manual_seed(2)
    d = 5
    mu1, mu2 = torch.randn(3, d, dtype=F64, generator=gen), torch.randn(d, dtype=F64, generator=gen)
    cov1, cov2 = random_spd(3, d=d, gen=gen), random_spd(d=d, gen=gen)
    if form1 == "var":
        cov1 = torch.diag_embed(cov1.diagonal(dim1=-2, dim2=-1))
    if form2 == "var":
        cov2 = torch.diag_embed(cov2.diagonal(dim1=-2, dim2=-1))
    expected = kl_divergence(MultivariateNormal(mu1, cov1), MultivariateNormal(mu2, cov2))

    def argument(form, cov):
        return {
            "cov": cov,
            "scale_tril": torch.linalg.cholesky(cov),
            "precision": torch.linalg.inv(cov),  # the reference's input, not our method
            "var": cov.diagonal(dim1=-2, dim2=-1),
        }[form]

    kwargs = {f"{form1}1": argument(form1, cov1), f"{form2}2": argument(form2, cov2)}
    ours = kl_mvn(mu1, mu2=mu2, **kwargs)
    assert ours.shape == (3,)
    assert rel_err(ours, expected) <= 1e-10


def test_kl_mvn_batch_shapes_broadcast():
    gen = torch.Generator().manual_seed(3)
    d = 4
    mu1 = torch.randn(5, d, dtype=F64, generator=gen)
    cov1 = random_spd(d=d, gen=gen)
    mu2 = torch.randn(d, dtype=F64, generator=gen)
    cov2 = random_spd(3, 1, d=d, gen=gen)
    ours = kl_mvn(mu1, cov1, mu2, cov2)
    expected = kl_divergence(MultivariateNormal(mu1, cov1), MultivariateNormal(mu2, cov2))
    assert ours.shape == expected.shape == (3, 5)
    assert rel_err(ours, expected) <= 1e-10


@pytest.mark.parametrize("a, b", [(0.1, 0.3), (3.0, 5.0), (0.5, 0.5 * (1 + 1e-6))])
def test_d_1000_where_the_textbook_formula_gives_nan(a, b):
    d = 1000
    rng = np.random.default_rng(7)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    cov1, cov2 = a * np.eye(d), b * np.eye(d)
    exact = mpmath.mpf(d) / 2 * (mpmath.mpf(a) / b - 1 - mpmath.log(mpmath.mpf(a) / b))
    exact += sum(mpmath.mpf(x) ** 2 for x in (mu2 - mu1)) / (2 * mpmath.mpf(b))
    exact = float(exact)
    if a != 0.5:  # det(a I) = a^1000 under- or overflows: 0/0 or inf/inf
        with np.errstate(all="ignore"):
            assert np.isnan(seeds_kl_gaussian_multivariate(mu1, cov1, mu2, cov2))
    assert rel_err(kl_mvn(mu1, cov1, mu2, cov2), exact) <= 1e-10
    assert rel_err(kl_mvn(mu1, None, mu2, scale_tril1=np.sqrt(a) * np.eye(d), precision2=np.eye(d) / b), exact) <= 1e-10
    assert rel_err(kl_mvn(mu1, None, mu2, var1=np.full(d, a), var2=np.full(d, b)), exact) <= 1e-10
    assert rel_err(entropy_mvn(cov1), d / 2 * np.log(2 * np.pi * np.e * a)) <= 1e-12


def test_kl_mvn_diagonal_variances_accurate_when_close():
    v1 = np.array([1e-4, 0.5, 1.0, 7.0, 1e4])
    for rel in (1e-12, 1e-7, 1e-3, 0.05):
        v2 = v1 * (1 + rel)
        q = [mpmath.mpf(a) / mpmath.mpf(b) for a, b in zip(v1, v2)]
        exact = sum((x - 1 - mpmath.log(x)) / 2 for x in q)
        assert rel_err(kl_mvn(np.zeros(5), None, np.zeros(5), var1=v1, var2=v2), float(exact)) <= 1e-13


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_kl_mvn_nonnegative_and_invariant_under_affine_maps(d, seed):
    gen = torch.Generator().manual_seed(seed)
    mu1, mu2 = torch.randn(d, dtype=F64, generator=gen), torch.randn(d, dtype=F64, generator=gen)
    cov1, cov2 = random_spd(d=d, gen=gen), random_spd(d=d, gen=gen)
    kl = kl_mvn(mu1, cov1, mu2, cov2)
    assert kl >= 0
    # KL is invariant under x -> A x + c for invertible A
    a = torch.randn(d, d, dtype=F64, generator=gen) + 3 * torch.eye(d, dtype=F64)
    c = torch.randn(d, dtype=F64, generator=gen)
    moved = kl_mvn(a @ mu1 + c, a @ cov1 @ a.T, a @ mu2 + c, a @ cov2 @ a.T)
    assert torch.isclose(moved, kl, rtol=1e-6, atol=1e-10)
    # and the entropy shifts by log |det A|
    shift = torch.linalg.slogdet(a).logabsdet
    assert torch.isclose(entropy_mvn(a @ cov1 @ a.T), entropy_mvn(cov1) + shift, rtol=1e-9)


@pytest.mark.parametrize(
    "form1, form2", [("cov", "cov"), ("precision", "scale_tril"), ("var", "precision"), ("var", "var")]
)
def test_gradcheck_kl_mvn(form1, form2):
    gen = torch.Generator().manual_seed(11)
    d = 3
    mu1, mu2 = (torch.randn(2, d, dtype=F64, generator=gen, requires_grad=True) for _ in range(2))
    a1, a2 = (torch.randn(2, d, d, dtype=F64, generator=gen, requires_grad=True) for _ in range(2))

    def param(form, a):  # unconstrained a -> a valid argument, so finite differences stay valid
        spd = a @ a.mT + torch.eye(d, dtype=F64)
        if form == "scale_tril":
            return a.tril(-1) + torch.diag_embed(a.diagonal(dim1=-2, dim2=-1).exp())
        if form == "var":
            return a.diagonal(dim1=-2, dim2=-1).exp()
        return spd

    def f(mu1, a1, mu2, a2):
        return kl_mvn(mu1, mu2=mu2, **{f"{form1}1": param(form1, a1), f"{form2}2": param(form2, a2)})

    assert torch.autograd.gradcheck(f, (mu1, a1, mu2, a2), fast_mode=True)


def _indefinite_at(batch, bad, d=3):
    cov = torch.eye(d, dtype=F64).repeat(batch, 1, 1)
    for i in bad:
        cov[i, 0, 0] = -1.0
    return cov


def test_not_positive_definite_names_the_batch_element():
    mu = torch.zeros(3, dtype=F64)
    with pytest.raises(ValueError, match=r"^cov2 is not positive definite at batch index \(3,\)$"):
        kl_mvn(mu, torch.eye(3, dtype=F64), mu, _indefinite_at(5, [3]))
    with pytest.raises(ValueError, match=r"cov1 is not positive definite at batch indices \(1,\), \(4,\)$"):
        kl_mvn(mu, _indefinite_at(5, [1, 4]), mu, torch.eye(3, dtype=F64))
    with pytest.raises(
        ValueError,
        match=r"cov1 is not positive definite at batch indices "
        r"\(0,\), \(1,\), \(2,\), \(3,\) and 2 more",
    ):
        kl_mvn(mu, _indefinite_at(6, range(6)), mu, torch.eye(3, dtype=F64))
    with pytest.raises(ValueError, match=r"^cov1 is not positive definite$"):
        kl_mvn(mu, _indefinite_at(1, [0])[0], mu, torch.eye(3, dtype=F64))
    with pytest.raises(ValueError, match=r"precision2 is not positive definite at batch index \(0, 1\)"):
        kl_mvn(mu, mu2=mu, cov1=torch.eye(3, dtype=F64), precision2=_indefinite_at(2, [1]).reshape(1, 2, 3, 3))
    with pytest.raises(ValueError, match=r"cov is not positive definite at batch index \(1,\)"):
        entropy_mvn(_indefinite_at(2, [1]))
    with pytest.raises(ValueError, match=r"cov2 is not positive definite"):  # even unvalidated
        kl_mvn(mu, torch.eye(3), mu, _indefinite_at(1, [0])[0], validate=False)


def test_kl_mvn_input_errors():
    mu, eye = np.zeros(3), np.eye(3)
    skew = np.tile(eye, (2, 2, 1, 1))
    skew[0, 1, 0, 2] = 0.5
    with pytest.raises(ValueError, match=r"cov1 is not symmetric at batch index \(0, 1\)"):
        kl_mvn(mu, skew, mu, eye)
    nan_cov = np.tile(eye, (3, 1, 1))
    nan_cov[2, 1, 1] = np.nan
    with pytest.raises(ValueError, match=r"cov2 contains NaN at batch index \(2,\)"):
        kl_mvn(mu, eye, mu, nan_cov)
    with pytest.raises(ValueError, match=r"mu2 contains NaN at index \(1,\)"):
        kl_mvn(mu, eye, [0.0, np.nan, 0.0], eye)
    with pytest.raises(ValueError, match=r"scale_tril1 is not lower triangular$"):
        kl_mvn(mu, None, mu, eye, scale_tril1=eye + np.triu(np.ones((3, 3)), 1))
    with pytest.raises(ValueError, match=r"scale_tril2 must have a positive diagonal at batch index \(1,\)"):
        kl_mvn(mu, eye, mu, scale_tril2=np.stack([eye, -eye]))
    with pytest.raises(ValueError, match=r"var2 must be positive, got -1 at index \(0, 1\)"):
        kl_mvn(mu, eye, mu, var2=[[1.0, -1.0, 1.0]])
    with pytest.raises(ValueError, match=r"var1 must have an event dimension, got shape \(\)"):
        kl_mvn(mu, None, mu, eye, var1=1.0)
    with pytest.raises(ValueError, match=r"cov1 must be a \(\.\.\., d, d\) matrix, got shape \(3, 4\)"):
        kl_mvn(mu, np.ones((3, 4)), mu, eye)
    with pytest.raises(ValueError, match=r"mu1 must have an event dimension \(…, d\), got shape \(\)"):
        kl_mvn(0.0, eye, mu, eye)
    with pytest.raises(
        ValueError, match=r"event sizes do not match: mu1 \(4,\), cov1 \(3, 3\), mu2 \(3,\), cov2 \(3, 3\)"
    ):
        kl_mvn(np.zeros(4), eye, mu, eye)
    with pytest.raises(
        ValueError, match=r"batch shapes do not broadcast: mu1 \(2,\), cov1 \(\), mu2 \(5,\), cov2 \(\)"
    ):
        kl_mvn(np.zeros((2, 3)), eye, np.zeros((5, 3)), eye)
    with pytest.raises(TypeError, match=r"give exactly one of cov1, scale_tril1, precision1, var1 \(got cov1, var1\)"):
        kl_mvn(mu, eye, mu, eye, var1=np.ones(3))
    with pytest.raises(TypeError, match=r"give exactly one of cov2, scale_tril2, precision2, var2 \(got none\)"):
        kl_mvn(mu, eye, mu)
    with pytest.raises(TypeError, match="missing the mean mu2"):
        kl_mvn(mu, eye)


@pytest.mark.parametrize("d", [1, 2, 4])
def test_kl_of_a_batch_of_small_mvns_against_the_textbook_formula_in_mpmath(d):
    # the batched path (one solve for L₁ and μ₂ − μ₁, by substitution) on 1024 pairs, each
    # against tr(Σ₂⁻¹Σ₁) + Δᵀ Σ₂⁻¹ Δ − d + log det Σ₂/det Σ₁ at 50 digits
    g = torch.Generator().manual_seed(10 + d)
    n = 1024
    a, b = (torch.randn(n, d, d, generator=g, dtype=torch.float64) for _ in range(2))
    cov1, cov2 = (x @ x.mT + 0.5 * torch.eye(d, dtype=torch.float64) for x in (a, b))
    mu1, mu2 = (torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(2))
    got = klvae.kl_divergence(MultivariateNormal(mu1, cov1), MultivariateNormal(mu2, cov2))
    with mpmath.workdps(50):
        for i in range(0, n, 37):
            s1, s2 = (mpmath.matrix(c[i].tolist()) for c in (cov1, cov2))
            delta = mpmath.matrix((mu2[i] - mu1[i]).tolist())
            inv2 = s2**-1
            trace = sum((inv2 * s1)[j, j] for j in range(d))
            maha = (delta.T * inv2 * delta)[0, 0]
            want = (trace + maha - d + mpmath.log(mpmath.det(s2) / mpmath.det(s1))) / 2
            assert float(got[i]) == pytest.approx(float(want), rel=1e-13)
