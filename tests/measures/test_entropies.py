"""klvae.measures.entropies: the NumPy closed-form entropies, against scipy.stats, mpmath and torch."""

import math

import mpmath
import numpy as np
import pytest
import scipy.stats
import torch
from torch import distributions as td

import klvae
from klvae.measures.entropies import entropy_numpy

D = torch.float64


def _batch(seed=0, n=16):
    g = torch.Generator().manual_seed(seed)

    def u(lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(*(shape or (n,)), generator=g, dtype=D)

    m, s, a, b, r, pr = u(-1, 1), u(0.2, 3), u(0.3, 6), u(0.3, 6), u(0.2, 5), u(0.02, 0.98)
    probs = torch.softmax(3 * torch.randn(n, 4, generator=g, dtype=D), -1)
    tril = torch.linalg.cholesky(torch.eye(3, dtype=D) + 0.3 * torch.ones(3, 3, dtype=D)).expand(n, 3, 3)
    return {
        "Normal": (td.Normal(m, s), lambda i: scipy.stats.norm(m[i], s[i]).entropy()),
        "LogNormal": (td.LogNormal(m, s), lambda i: scipy.stats.lognorm(s[i], scale=math.exp(m[i])).entropy()),
        "Laplace": (td.Laplace(m, s), lambda i: scipy.stats.laplace(m[i], s[i]).entropy()),
        "Cauchy": (td.Cauchy(m, s), lambda i: scipy.stats.cauchy(m[i], s[i]).entropy()),
        "Exponential": (td.Exponential(r), lambda i: scipy.stats.expon(scale=1 / r[i]).entropy()),
        "Uniform": (td.Uniform(m, m + s), lambda i: scipy.stats.uniform(m[i], s[i]).entropy()),
        "Gamma": (td.Gamma(a, r), lambda i: scipy.stats.gamma(a[i], scale=1 / r[i]).entropy()),
        "Chi2": (td.Chi2(a), lambda i: scipy.stats.chi2(a[i]).entropy()),
        "Beta": (td.Beta(a, b), lambda i: scipy.stats.beta(a[i], b[i]).entropy()),
        "Dirichlet": (td.Dirichlet(probs * 8), lambda i: scipy.stats.dirichlet(probs[i].numpy() * 8).entropy()),
        "StudentT": (td.StudentT(a + 1, m, s), lambda i: scipy.stats.t(a[i] + 1, m[i], s[i]).entropy()),
        "Bernoulli": (td.Bernoulli(pr), lambda i: scipy.stats.bernoulli(pr[i]).entropy()),
        "Bernoulli (logits)": (td.Bernoulli(logits=m * 20), lambda i: _binary_of_logit(float(m[i] * 20))),
        "Geometric": (td.Geometric(pr), lambda i: scipy.stats.geom(pr[i]).entropy()),
        "Binomial": (td.Binomial(7, pr), lambda i: scipy.stats.binom(7, pr[i]).entropy()),
        "Categorical": (td.Categorical(probs), lambda i: scipy.stats.entropy(probs[i].numpy())),
        "OneHotCategorical": (td.OneHotCategorical(probs), lambda i: scipy.stats.entropy(probs[i].numpy())),
        "MultivariateNormal": (
            td.MultivariateNormal(torch.zeros(n, 3, dtype=D), scale_tril=tril * s[:, None, None]),
            lambda i: scipy.stats.multivariate_normal(np.zeros(3), (tril[i] @ tril[i].T * s[i] ** 2).numpy()).entropy(),
        ),
        "LowRankMultivariateNormal": (
            td.LowRankMultivariateNormal(
                torch.zeros(n, 3, dtype=D), tril[..., :2] * s[:, None, None], s[:, None].expand(n, 3)
            ),
            lambda i: scipy.stats.multivariate_normal(
                np.zeros(3), (tril[i, :, :2] @ tril[i, :, :2].T * s[i] ** 2 + torch.diag(s[i].expand(3))).numpy()
            ).entropy(),
        ),
        "Independent": (
            td.Independent(td.Normal(m[:, None].expand(n, 2), s[:, None].expand(n, 2)), 1),
            lambda i: 2 * scipy.stats.norm(m[i], s[i]).entropy(),
        ),
    }


def _binary_of_logit(logit):
    with mpmath.workdps(40):
        p, q = 1 / (1 + mpmath.exp(-logit)), 1 / (1 + mpmath.exp(logit))
        return float(-p * mpmath.log(p) - q * mpmath.log(q))


@pytest.mark.parametrize("name", list(_batch()))
def test_every_family_matches_scipy_and_torch(name):
    d, reference = _batch()[name]
    got = entropy_numpy(d)
    assert got is not None and got.dtype == D and got.shape == d.batch_shape
    want = np.array([float(reference(i)) for i in range(16)])
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(got.numpy(), d.entropy().numpy(), rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(klvae.entropy(d), got, rtol=0, atol=0)  # the measure takes this path


def test_float32_stays_float32():
    x = torch.linspace(0.2, 0.8, 8)
    for d in (
        td.Normal(x, x),
        td.Gamma(x * 3, x),
        td.Beta(x * 3, 1 - x),
        td.Bernoulli(x),
        td.Categorical(torch.stack([x, 1 - x], -1)),
        td.MultivariateNormal(torch.zeros(8, 2), scale_tril=torch.eye(2) * x[:, None, None]),
    ):
        got = entropy_numpy(d)
        assert got.dtype == torch.float32, type(d).__name__
        torch.testing.assert_close(got, d.entropy(), rtol=1e-5, atol=1e-6)


def test_zero_mass_outcomes_give_exact_zeros_where_torch_clamps():
    # 0 log 0 = 0: a certain outcome has entropy 0 exactly (torch's clamping gives ~1e-7 in float32)
    assert entropy_numpy(td.Bernoulli(torch.tensor([0.0, 1.0, 0.5]))).tolist() == pytest.approx([0, 0, math.log(2)])
    assert entropy_numpy(td.Binomial(5, torch.tensor([0.0, 1.0]))).tolist() == [0.0, 0.0]
    assert entropy_numpy(td.Categorical(torch.tensor([[1.0, 0, 0], [0.5, 0.5, 0]]))).tolist() == pytest.approx(
        [0, math.log(2)]
    )
    assert entropy_numpy(td.Geometric(torch.tensor([1.0, 0.5]))).tolist() == pytest.approx([0, 2 * math.log(2)])


def test_extreme_logits_keep_the_small_side():
    # logit 30: 1 − p = e⁻³⁰/(1 + e⁻³⁰) from its own sigmoid, H ≈ 31 e⁻³⁰ to full precision; −800: 0
    got = entropy_numpy(td.Bernoulli(logits=torch.tensor([-800.0, 30.0], dtype=D)))
    assert got[0] == 0
    assert float(got[1]) == pytest.approx(_binary_of_logit(30), rel=1e-14)


def test_other_cases_fall_back_to_torch():
    grad = td.Normal(torch.zeros(3), torch.ones(3, requires_grad=True))
    assert entropy_numpy(grad) is None
    h = klvae.entropy(grad)
    assert h.requires_grad  # torch's entropy, with its gradient
    scalar = td.Bernoulli(torch.tensor(1.0, dtype=D))  # no batch: the same exact value as a batch
    assert entropy_numpy(scalar).shape == () and float(klvae.entropy(scalar)) == 0.0
    assert entropy_numpy(td.Binomial(torch.tensor([3.0, 4.0]), torch.tensor([0.5, 0.5]))) is None
    assert entropy_numpy(td.Poisson(torch.ones(3))) is None


def test_a_shared_parameter_broadcasts_to_the_batch():
    d = td.MultivariateNormal(torch.zeros(5, 2), scale_tril=torch.eye(2))
    got = entropy_numpy(d)
    assert got.shape == (5,)
    torch.testing.assert_close(got, d.entropy())


def test_the_given_parameter_is_known_after_torch_computes_the_other():
    from klvae.measures.entropies import given_by_logits

    for d in (
        td.Bernoulli(logits=torch.zeros(2)),
        td.Geometric(logits=torch.zeros(2)),
        td.Categorical(logits=torch.zeros(2, 3)),
    ):
        assert d.probs is not None  # computed and cached beside the logits
        assert given_by_logits(d)
    for d in (td.Bernoulli(torch.full((2,), 0.5)), td.OneHotCategorical(torch.full((2, 3), 1 / 3))):
        assert d.logits is not None
        assert not given_by_logits(d)
