"""klvae.measures.discrete against scipy, torch, scikit-learn and mpmath, plus Hypothesis properties."""

import math

import mpmath
import numpy as np
import pytest
import scipy.spatial.distance
import scipy.special
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import klvae
from klvae.measures import discrete as info
from reference import prob_rows, rel_err, rows

mpmath.mp.dps = 60


# --------------------------------------------------------------- references: scipy


@pytest.mark.parametrize("base", [None, 2, 10, 3.5])
@pytest.mark.parametrize("zeros", [False, True])
def test_entropy_matches_scipy(base, zeros):
    p = rows(np.random.default_rng(1), (7, 50), zeros)
    assert rel_err(klvae.entropy(p, base=base), scipy.stats.entropy(p, base=base, axis=-1)) <= 1e-12


@pytest.mark.parametrize("base", [None, 2, 10])
def test_kl_matches_scipy_rel_entr(base):
    rng = np.random.default_rng(2)
    p, q = rows(rng, (7, 50), zeros=True), rows(rng, (7, 50))
    want = scipy.special.rel_entr(p, q).sum(-1) / (1 if base is None else math.log(base))
    assert rel_err(klvae.kl_divergence(p, q, base=base), want) <= 1e-12
    assert rel_err(klvae.kl_divergence(p, q, base=base), scipy.stats.entropy(p, q, base=base, axis=-1)) <= 1e-12


def test_large_batches_take_the_chunked_path_and_agree_with_scipy():
    rng = np.random.default_rng(4)
    p, q = rows(rng, (40, 5000)), rows(rng, (40, 5000))  # 200k entries > one chunk
    assert rel_err(klvae.entropy(p), scipy.stats.entropy(p, axis=-1)) <= 1e-12
    assert rel_err(klvae.kl_divergence(p, q), scipy.stats.entropy(p, q, axis=-1)) <= 1e-12
    js = scipy.spatial.distance.jensenshannon(p, q, axis=-1)
    assert rel_err(klvae.js_distance(p, q), js) <= 1e-12
    # axis 0 chunks along the other dimension
    assert rel_err(klvae.kl_divergence(p.T, q.T, axis=0), scipy.stats.entropy(p, q, axis=-1)) <= 1e-12


def test_cross_entropy_is_minus_sum_p_log_q():
    rng = np.random.default_rng(5)
    p, q = rows(rng, (5, 20), zeros=True), rows(rng, (5, 20))
    want = -(p * np.log(q)).sum(-1)
    assert rel_err(klvae.cross_entropy(p, q), want) <= 1e-12


# --------------------------------------------------------------- the seeds' worked examples


def test_coin_example_has_one_and_a_half_bits():
    # X = 0 on heads, else toss again: P = (1/2, 1/4, 1/4); H = ½·1 + ¼·2 + ¼·2 = 3/2 bits
    assert klvae.entropy([0.5, 0.25, 0.25], base=2) == pytest.approx(1.5, rel=1e-15)
    # grouping: H(X) = H(½, ½) + ½ H(½, ½)
    assert klvae.entropy([0.5, 0.5], base=2) == pytest.approx(1.0, rel=1e-15)


def test_fair_and_loaded_die():
    fair = [mpmath.mpf(1) / 6] * 6
    loaded = [mpmath.mpf(1) / 2] + [mpmath.mpf(1) / 10] * 5
    h_fair = mpmath.log(6, 2)  # log₂ 6 bits
    ce = -sum(p * mpmath.log(q, 2) for p, q in zip(fair, loaded))  # (1 + 5 log₂ 10)/6 bits
    kl = sum(p * mpmath.log(p / q, 2) for p, q in zip(fair, loaded))
    f, l = [float(x) for x in fair], [float(x) for x in loaded]
    assert klvae.entropy(f, base=2) == pytest.approx(float(h_fair), rel=1e-14)
    assert klvae.cross_entropy(f, l, base=2) == pytest.approx(float(ce), rel=1e-14)
    assert klvae.kl_divergence(f, l, base=2) == pytest.approx(float(kl), rel=1e-14)
    # the surprise of the loaded model exceeds the fair die's entropy: CE = H + KL > H
    assert klvae.cross_entropy(f, l) == pytest.approx(klvae.entropy(f) + klvae.kl_divergence(f, l), rel=1e-14)
    assert klvae.cross_entropy(f, l) > klvae.entropy(f)


# --------------------------------------------------------------- mpmath, hard cases


def mp_kl(p, q):
    """The generalized KL Σ p log(p/q) − p + q of the exact float values (see the module docs)."""
    total = mpmath.mpf(0)
    for a, b in zip(p, q):
        a, b = mpmath.mpf(a), mpmath.mpf(b)
        total += (a * mpmath.log(a / b) if a else 0) - a + b
    return total


def mp_js(p, q):
    total = mpmath.mpf(0)
    for a, b in zip(p, q):
        a, b = mpmath.mpf(a), mpmath.mpf(b)
        m = (a + b) / 2
        total += (a * mpmath.log(a / m) if a else 0) + (b * mpmath.log(b / m) if b else 0)
    return total / 2


def test_tiny_probabilities_near_1e_300():
    p = np.array([1e-300, 3e-300, 2e-310, 1.0])  # 2e-310 is subnormal
    q = np.array([4e-300, 1e-305, 5e-320, 1.0])
    mp_h = -sum(mpmath.mpf(a) * mpmath.log(mpmath.mpf(a)) for a in p)
    assert klvae.entropy(p) == pytest.approx(float(mp_h), rel=1e-12)
    assert klvae.kl_divergence(p, q) == pytest.approx(float(mp_kl(p, q)), rel=1e-12)
    assert klvae.js_divergence(p, q) == pytest.approx(float(mp_js(p, q)), rel=1e-12)


@pytest.mark.parametrize("eps", [1e-4, 1e-8, 1e-12])
def test_nearly_equal_distributions_keep_relative_accuracy(eps):
    rng = np.random.default_rng(6)
    p = rows(rng, 200)
    q = p * (1 + eps * rng.standard_normal(200))
    q /= q.sum()
    kl, js = klvae.kl_divergence(p, q), klvae.js_divergence(p, q)
    assert kl > 0 and js > 0
    assert kl == pytest.approx(float(mp_kl(p, q)), rel=1e-12)
    assert js == pytest.approx(float(mp_js(p, q)), rel=1e-12)
    # the textbook route, cross-entropy minus entropy, loses it
    naive = klvae.cross_entropy(p, q) - klvae.entropy(p)
    if eps <= 1e-8:
        assert abs(naive - float(mp_kl(p, q))) > 1e-3 * float(mp_kl(p, q))


def test_nearly_equal_logits():
    rng = np.random.default_rng(7)
    zp = rng.standard_normal(50)
    zq = zp + 1e-6 * rng.standard_normal(50)

    def mp_log_softmax(z):
        z = [mpmath.mpf(x) for x in z]
        lse = mpmath.log(sum(mpmath.exp(x) for x in z))
        return [x - lse for x in z]

    lp, lq = mp_log_softmax(zp), mp_log_softmax(zq)
    want = sum(mpmath.exp(a) * (a - b) for a, b in zip(lp, lq))
    # log_softmax rounds log p to ~1e-16 absolute, so log p − log q ~ 1e-6 is known to ~1e-10
    assert klvae.kl_divergence(zp, zq, logits=True) == pytest.approx(float(want), rel=1e-7)


# --------------------------------------------------------------- logits


def test_logits_match_probabilities():
    rng = np.random.default_rng(8)
    zp, zq = rng.standard_normal((4, 9)) * 3, rng.standard_normal((4, 9)) * 3
    p, q = scipy.special.softmax(zp, -1), scipy.special.softmax(zq, -1)
    for f in (klvae.entropy,):
        assert rel_err(f(zp, logits=True), scipy.stats.entropy(p, axis=-1)) <= 1e-12
    assert rel_err(klvae.kl_divergence(zp, zq, logits=True), scipy.stats.entropy(p, q, axis=-1)) <= 1e-12
    assert rel_err(klvae.cross_entropy(zp, zq, logits=True), -(p * np.log(q)).sum(-1)) <= 1e-12
    js = scipy.spatial.distance.jensenshannon(p, q, axis=-1)
    assert rel_err(klvae.js_distance(zp, zq, logits=True), js) <= 1e-12


def test_logits_minus_inf_is_a_zero_probability():
    zp = np.array([0.0, -np.inf, 1.0])
    zq = np.array([0.5, 0.0, -np.inf])
    p, q = scipy.special.softmax(zp), scipy.special.softmax(zq)
    assert klvae.entropy(zp, logits=True) == pytest.approx(scipy.stats.entropy(p), rel=1e-12)
    assert klvae.kl_divergence(zp, zq, logits=True) == math.inf
    assert klvae.kl_divergence(zq[:2], zp[:2], logits=True) == math.inf
    assert klvae.cross_entropy(zp, zq, logits=True) == math.inf
    js = scipy.spatial.distance.jensenshannon(p, q) ** 2
    assert klvae.js_divergence(zp, zq, logits=True) == pytest.approx(js, rel=1e-12)
    # zero where p is zero: KL(q‖p) on the shared support p>0 only when q ⊂ supp p
    zr = np.array([0.0, -np.inf, -np.inf])
    r = scipy.special.softmax(zr)
    assert klvae.kl_divergence(zr, zp, logits=True) == pytest.approx(scipy.stats.entropy(r, p), rel=1e-12)


# --------------------------------------------------------------- semantics: zeros, inf


def test_zero_log_zero_and_infinite_kl():
    assert klvae.entropy([1.0, 0.0]) == 0.0
    assert klvae.kl_divergence([0.0, 1.0], [0.5, 0.5]) == pytest.approx(math.log(2), rel=1e-15)
    assert klvae.kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert klvae.cross_entropy([0.5, 0.5], [1.0, 0.0]) == math.inf
    js = klvae.js_divergence([1.0, 0.0], [0.0, 1.0])
    assert js == pytest.approx(math.log(2), rel=1e-15) and math.isfinite(js)


def test_normalize_rescales_rows():
    p = np.array([[1.0, 2.0, 1.0], [3.0, 0.0, 1.0]])
    assert rel_err(klvae.entropy(p, normalize=True), scipy.stats.entropy(p, axis=-1)) <= 1e-12
    q = np.array([2.0, 1.0, 1.0])
    assert rel_err(klvae.kl_divergence(p, q, normalize=True), scipy.stats.entropy(p, q[None], axis=-1)) <= 1e-12


def test_broadcasting_and_axis():
    rng = np.random.default_rng(9)
    p = rows(rng, (3, 1, 6))
    q = rows(rng, (1, 4, 6))
    got = klvae.kl_divergence(p, q)
    assert got.shape == (3, 4)
    want = scipy.stats.entropy(np.broadcast_to(p, (3, 4, 6)), np.broadcast_to(q, (3, 4, 6)), axis=-1)
    assert rel_err(got, want) <= 1e-12
    assert rel_err(klvae.kl_divergence(np.moveaxis(p, -1, 0), np.moveaxis(q, -1, 0), axis=0), want) <= 1e-12


def test_list_input_gives_numpy_scalar():
    h = klvae.entropy([0.5, 0.5])
    assert isinstance(h, np.float64)


# --------------------------------------------------------------- Hypothesis properties


@settings(max_examples=60, deadline=None)
@given(prob_rows())
def test_kl_nonnegative_and_zero_only_for_equal(pq):
    p, q = pq
    kl = klvae.kl_divergence(p, q)
    assert kl >= 0
    assert klvae.kl_divergence(p, p) == 0
    if not np.allclose(p, q, rtol=0, atol=1e-6):
        assert kl > 0


@settings(max_examples=60, deadline=None)
@given(prob_rows(), st.sampled_from([2, 10, 0.5, 7.0]))
def test_entropy_bounds_and_base_change(pq, base):
    p = pq[0]
    h = klvae.entropy(p)
    assert -1e-15 <= h <= math.log(p.size) * (1 + 1e-14)
    assert klvae.entropy(p, base=base) == pytest.approx(h / math.log(base), rel=1e-14, abs=1e-300)
    assert klvae.kl_divergence(*pq, base=base) == pytest.approx(klvae.kl_divergence(*pq) / math.log(base), rel=1e-14)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 5), st.integers(2, 5), st.integers(0, 2**32 - 1))
def test_axis_transposition(a, k, seed):
    rng = np.random.default_rng(seed)
    p, q = rows(rng, (a, 3, k), zeros=True), rows(rng, (a, 3, k))
    for f in (klvae.kl_divergence, klvae.js_divergence, klvae.cross_entropy):
        assert np.allclose(f(np.moveaxis(p, -1, 1), np.moveaxis(q, -1, 1), axis=1), f(p, q), rtol=1e-14, atol=0)
    assert np.allclose(klvae.entropy(np.moveaxis(p, -1, 0), axis=0), klvae.entropy(p), rtol=1e-14, atol=0)


# --------------------------------------------------------------- torch: autograd, dtype


def interior(seed, shape):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=torch.float64) + 0.1
    return x / x.sum(-1, keepdim=True)


@pytest.mark.parametrize("fn", [klvae.kl_divergence, klvae.js_divergence, klvae.cross_entropy])
def test_gradcheck_on_interior_points(fn):
    p, q = interior(0, (3, 5)).requires_grad_(), interior(1, (3, 5)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: fn(a, b, normalize=True), (p, q))
    # near p = q the series branch is used; its gradient must match too
    r = p.detach() * (1 + 1e-3 * torch.randn(3, 5, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    r.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: fn(a, b, normalize=True), (p, r))


def test_gradcheck_logits_and_entropy():
    g = torch.Generator().manual_seed(3)
    zp = torch.randn(2, 4, generator=g, dtype=torch.float64, requires_grad=True)
    zq = torch.randn(2, 4, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: klvae.kl_divergence(a, b, logits=True), (zp, zq))
    assert torch.autograd.gradcheck(lambda a, b: klvae.js_divergence(a, b, logits=True), (zp, zq))
    assert torch.autograd.gradcheck(lambda a: klvae.entropy(a, logits=True), (zp,))


def test_kl_gradient_against_torch_distributions():
    zp = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    zq = torch.randn(3, 6, dtype=torch.float64)
    ours = klvae.kl_divergence(zp, zq, logits=True).sum()
    (g1,) = torch.autograd.grad(ours, zp)
    d = torch.distributions
    ref = d.kl_divergence(d.Categorical(logits=zp), d.Categorical(logits=zq)).sum()
    (g2,) = torch.autograd.grad(ref, zp)
    assert torch.allclose(ours, ref, rtol=1e-12) and torch.allclose(g1, g2, rtol=1e-10, atol=1e-14)


def test_float32_and_kind_are_kept():
    p = interior(4, (5, 8)).float()
    q = interior(5, (5, 8)).float()
    out = klvae.kl_divergence(p, q)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.device == p.device
    want = scipy.stats.entropy(p.double().numpy(), q.double().numpy(), axis=-1)
    assert np.allclose(out.numpy(), want, rtol=1e-5)
    h = klvae.entropy(p.numpy())
    assert isinstance(h, np.ndarray) and h.dtype == np.float32
    assert np.allclose(
        klvae.js_distance(p, q).numpy(),
        scipy.spatial.distance.jensenshannon(p.double(), q.double(), axis=-1),
        rtol=1e-5,
    )


def test_mixed_torch_and_numpy_returns_torch_with_grad():
    p = interior(6, (4,)).requires_grad_()
    out = klvae.kl_divergence(p, [0.25, 0.25, 0.25, 0.25])
    assert isinstance(out, torch.Tensor) and out.requires_grad
    out.backward()
    assert torch.allclose(p.grad, torch.log(p.detach() / 0.25) + 1, rtol=1e-12)


# --------------------------------------------------------------- NumPy path and torch path
#
# CPU inputs without autograd are computed by NumPy kernels over row chunks (on torch's
# thread count); tensors that require grad keep the torch code. Both must agree.


def torch_path(fn, *arrays, **kw):
    """fn on tensors that require grad, which keeps it on the torch code."""
    return fn(*(torch.tensor(a, requires_grad=True) for a in arrays), **kw).detach().numpy()


def hard_rows():
    """Several chunks of rows: zeros, q = 0 where p > 0, nearly equal rows, subnormal entries."""
    rng = np.random.default_rng(11)
    p, q = rows(rng, (30, 6000), zeros=True), rows(rng, (30, 6000), zeros=True)
    q[:5] = p[:5] * (1 + 1e-9 * rng.standard_normal((5, 6000)))
    q[:5] /= q[:5].sum(-1, keepdims=True)
    p[5, 1:4] = [1e-300, 2e-310, 5e-324]
    p[5] /= p[5].sum()
    return p, q


@pytest.mark.parametrize("fn", [klvae.entropy, klvae.kl_divergence, klvae.js_divergence, klvae.js_distance])
def test_numpy_path_agrees_with_torch_path(fn):
    p, q = hard_rows()
    args = (p,) if fn is klvae.entropy else (p, q)
    assert np.isinf(klvae.kl_divergence(p, q)).any()  # the q = 0 < p case is exercised
    for kw in ({}, {"base": 2}):
        np.testing.assert_allclose(fn(*args, **kw), torch_path(fn, *args, **kw), rtol=1e-13, atol=0)
    scaled = [3.0 * a[5:] for a in args]  # not the nearly equal rows: their KL, JS depend on the
    # last ulp of the normalized inputs, and the two paths round the row sums differently
    want = torch_path(fn, *scaled, normalize=True)
    np.testing.assert_allclose(fn(*scaled, normalize=True), want, rtol=1e-13, atol=0)
    transposed = [a.T for a in args]
    np.testing.assert_allclose(fn(*transposed, axis=0), torch_path(fn, *transposed, axis=0), rtol=1e-13, atol=0)
    if fn is not klvae.entropy:  # q broadcast from one row
        np.testing.assert_allclose(fn(p, q[7]), torch_path(fn, p, q[7]), rtol=1e-13, atol=0)
    p32 = [a.astype(np.float32) for a in args]
    got = fn(*p32)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, torch_path(fn, *p32), rtol=1e-5, atol=1e-7)


def test_chunked_path_with_zeros_matches_scipy():
    p, q = hard_rows()
    assert rel_err(klvae.entropy(p), scipy.stats.entropy(p, axis=-1)) <= 1e-12
    got = klvae.kl_divergence(p, q)
    assert np.array_equal(np.isinf(got), np.isinf(scipy.stats.entropy(p, q, axis=-1)))
    positive_q = rows(np.random.default_rng(12), p.shape)
    want = scipy.special.rel_entr(p, positive_q).sum(-1)
    assert rel_err(klvae.kl_divergence(p, positive_q), want) <= 1e-12
    # rows 0-4 are nearly equal: scipy returns rounding noise there, mpmath does not
    assert got[0] == pytest.approx(float(mp_kl(p[0], q[0])), rel=1e-12)
    assert klvae.js_divergence(p[1], q[1]) == pytest.approx(float(mp_js(p[1], q[1])), rel=1e-12)
    js = scipy.spatial.distance.jensenshannon(p[5:], q[5:], axis=-1)
    assert rel_err(klvae.js_distance(p[5:], q[5:]), js) <= 1e-12


def test_the_numpy_and_torch_paths_agree_on_hard_rows():
    """NumPy input (the NumPy path) and tensors that need a gradient (the torch path) give one answer."""
    p, q = hard_rows()
    for fn, args in ((klvae.entropy, (p,)), (klvae.kl_divergence, (p, q)), (klvae.js_divergence, (p, q))):
        fast = fn(*args)
        graph = fn(*(torch.tensor(a, requires_grad=True) for a in args)).detach().numpy()
        np.testing.assert_allclose(fast, graph, rtol=1e-13, atol=1e-300)


def test_chunk_workers_give_identical_results():
    p, q = hard_rows()
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = klvae.js_divergence(p, q), klvae.kl_divergence(p, q), klvae.entropy(p)
        torch.set_num_threads(2)
        two = klvae.js_divergence(p, q), klvae.kl_divergence(p, q), klvae.entropy(p)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(one, two):
        assert np.array_equal(a, b)


def spoil(a, where, value):
    a = a.copy()
    a[where] = value
    return a


@pytest.mark.parametrize(
    "which, where, value, match",
    [
        ("p", (-1, 7), np.nan, "p has NaN entries"),
        ("q", (-1, 7), -1e-3, "q has negative entries"),
        ("q", (-1, 7), np.inf, "q has infinite entries"),
        ("p", (-1, slice(0, 600)), 0.0, r"p rows must sum to 1 \(max deviation 0\.\d+\); pass normalize=True"),
    ],
)
def test_errors_found_in_a_later_chunk(which, where, value, match):
    p, q = hard_rows()
    p, q = (spoil(p, where, value), q) if which == "p" else (p, spoil(q, where, value))
    for fn in (klvae.kl_divergence, klvae.js_divergence, klvae.js_distance):
        with pytest.raises(ValueError, match=match):
            fn(p, q)
    if which == "p":
        with pytest.raises(ValueError, match=match):
            klvae.entropy(p)


def test_p_is_reported_before_q_and_zero_rows_with_normalize():
    p, q = hard_rows()
    with pytest.raises(ValueError, match="p has NaN entries"):
        klvae.kl_divergence(spoil(p, (-1, 0), np.nan), spoil(q, (0, 0), -1.0))
    with pytest.raises(ValueError, match="q has a row of zeros, which cannot be normalized"):
        klvae.js_distance(p, spoil(q, -1, 0.0), normalize=True)


def test_empty_batch_gives_empty_result():
    assert klvae.entropy(np.zeros((0, 5))).shape == (0,)
    assert klvae.kl_divergence(np.zeros((0, 5)), np.full(5, 0.2)).shape == (0,)


# --------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "p, match",
    [
        ([0.5, -0.1, 0.6], "p has negative entries"),
        ([0.5, float("nan"), 0.5], "p has NaN entries"),
        ([0.5, float("inf")], "p has infinite entries"),
        ([0.5, 0.8], r"p rows must sum to 1 \(max deviation 0\.3\); pass normalize=True"),
        ([1e308, 1e308], "p rows overflow when summed"),
    ],
)
def test_bad_probabilities(p, match):
    with pytest.raises(ValueError, match=match):
        klvae.entropy(p)


def test_bad_q_is_named():
    with pytest.raises(ValueError, match=r"q rows must sum to 1 \(max deviation 0\.3\)"):
        klvae.kl_divergence([0.5, 0.5], [0.5, 0.2])
    with pytest.raises(ValueError, match="q has negative entries"):
        klvae.js_divergence([0.5, 0.5], [1.5, -0.5])


def test_float32_tolerance_is_looser():
    p32 = np.array([0.5, 0.5 + 1e-5], dtype=np.float32)
    assert np.isfinite(klvae.entropy(p32))
    with pytest.raises(ValueError, match="p rows must sum to 1"):
        klvae.entropy(p32.astype(np.float64))


@pytest.mark.parametrize("base", [1, 0, -2, float("inf"), float("nan"), "two"])
def test_bad_base(base):
    with pytest.raises(ValueError, match="base must be a positive number other than 1"):
        klvae.entropy([0.5, 0.5], base=base)


def test_bad_axis_and_shapes():
    with pytest.raises(ValueError, match=r"axis 2 is out of range for 2-d inputs of shape \(2, 2\)"):
        klvae.entropy([[0.5, 0.5], [0.5, 0.5]], axis=2)
    with pytest.raises(ValueError, match="axis must be an integer"):
        klvae.entropy([0.5, 0.5], axis=0.5)
    with pytest.raises(ValueError, match=r"shapes do not broadcast: p \(2,\) and q \(3,\)"):
        klvae.kl_divergence([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="p must have at least 1 dimension"):
        klvae.entropy(1.0)
    with pytest.raises(ValueError, match="axis 0 has length 0"):
        klvae.entropy(np.zeros(0))
    with pytest.raises(ValueError, match="p must be numeric"):
        klvae.entropy(["a", "b"])


def test_normalize_rejects_zero_rows():
    with pytest.raises(ValueError, match="p has a row of zeros, which cannot be normalized"):
        klvae.entropy([[0.0, 0.0], [1.0, 1.0]], normalize=True)


def test_bad_logits():
    with pytest.raises(ValueError, match="p logits have NaN entries"):
        klvae.entropy([0.0, float("nan")], logits=True)
    with pytest.raises(ValueError, match=r"q logits have \+inf entries"):
        klvae.kl_divergence([0.0, 1.0], [0.0, float("inf")], logits=True)
    with pytest.raises(ValueError, match="p logits have a row that is all -inf"):
        klvae.entropy([-math.inf, -math.inf], logits=True)


def test_unit_names():
    assert [info.unit_name(b) for b in (None, 2, 10, math.e, 3)] == ["nats", "bits", "dits", "nats", "base-3 units"]
    with pytest.raises(ValueError, match="base must be a positive number other than 1, got 1"):
        info.unit_name(1)


# --------------------------------------------------------------- subnormal q, dtypes


SUBNORMALS = [2.0**-k for k in range(1022, 1075)]  # every power of two from the smallest normal down


@pytest.mark.parametrize("kind", ["numpy", "torch", "torch-grad"])
def test_kl_is_finite_for_every_subnormal_q(kind):
    for s in SUBNORMALS + [5.55e-309, 1e-310, 3e-320]:
        p, q = np.array([1.0, 0.0]), np.array([s, 1.0])
        if kind != "numpy":
            p, q = torch.tensor(p, requires_grad=kind == "torch-grad"), torch.tensor(q)
        got = float(klvae.kl_divergence(p, q))
        want = float(-mpmath.log(mpmath.mpf(s)))  # KL = log(1/s)
        assert got == pytest.approx(want, rel=1e-15), s
        logits = klvae.kl_divergence([0.0, -math.inf], [math.log(s), 0.0], logits=True)
        assert float(logits) == pytest.approx(want, rel=1e-15)


def test_kl_of_the_reported_pair_matches_scipy():
    assert klvae.kl_divergence([1, 0], [5.55e-309, 1.0]) == pytest.approx(709.7849958074017, rel=1e-15)
    assert scipy.stats.entropy([1, 0], [5.55e-309, 1.0]) == pytest.approx(709.7849958074017, rel=1e-15)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 2**52 - 1), st.floats(0.05, 0.95))
def test_random_subnormal_q_with_mass_spread(mantissa, a):
    s = float(np.frombuffer(np.int64(mantissa).tobytes(), dtype=np.float64)[0])  # a subnormal
    p, q = np.array([a, 1 - a, 0.0]), np.array([s, 0.5, 0.5 - s])
    want = mpmath.mpf(a) * mpmath.log(mpmath.mpf(a) / mpmath.mpf(s)) + mpmath.mpf(1 - a) * mpmath.log(
        mpmath.mpf(1 - a) / mpmath.mpf(0.5)
    )
    for pp, qq in ((p, q), (torch.tensor(p), torch.tensor(q))):
        assert float(klvae.kl_divergence(pp, qq)) == pytest.approx(float(want), rel=1e-14)


def test_each_argument_is_checked_at_its_own_dtype():
    p32 = np.full(10, 0.1, dtype=np.float32)  # sums to 1 in float32, to 1 + 1.5e-8 in float64
    q64 = np.full(10, 0.1)
    assert abs(float(p32.astype(np.float64).sum()) - 1) > np.sqrt(np.finfo(np.float64).eps) * 0.99
    for fn in (klvae.kl_divergence, klvae.js_divergence, klvae.cross_entropy):
        fn(p32, q64)
        fn(torch.tensor(p32), torch.tensor(q64))
    with pytest.raises(ValueError, match="q rows must sum to 1"):  # q's tolerance stays float64's
        klvae.kl_divergence(p32, q64 * (1 + 1e-7))


def test_numpy_float32_is_accumulated_in_float64():
    rng = np.random.default_rng(5)
    p, q = rows(rng, (50, 300)).astype(np.float32), rows(rng, (50, 300)).astype(np.float32)
    for fn, ref in ((klvae.entropy, lambda a: scipy.stats.entropy(a.astype(np.float64), axis=-1)),):
        got = fn(p)
        assert got.dtype == np.float32
        assert rel_err(got, ref(p)) <= 6e-8  # the float32 rounding of the float64 answer
    kl = klvae.kl_divergence(p, q)
    assert kl.dtype == np.float32
    want = scipy.special.rel_entr(p.astype(np.float64), q.astype(np.float64)).sum(-1)
    want += q.astype(np.float64).sum(-1) - p.astype(np.float64).sum(-1)  # the generalized KL of these floats
    assert rel_err(kl, want) <= 6e-8
    assert klvae.entropy(torch.tensor(p)).dtype == torch.float32  # torch keeps torch's dtype
