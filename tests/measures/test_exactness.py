"""The property suite: every measure's value and gradient against mpmath, in float64 and float32.

Hypothesis draws rows with zeros, subnormals, −inf logits, log-ratios near and past the points
where e^x overflows (709.8 in float64, 88.7 in float32) and nearly equal p and q. The value is
compared with the measure evaluated in mpmath at 50 digits, the gradient with mpmath's derivative
of that same function (`mpmath.diff`, exact to working precision), wherever the function is
differentiable; at a zero-mass entry, where the one-sided derivative is infinite, the documented
convention (0) is checked instead. A new measure is added here with its mpmath twin.

Tolerances: float64 values to 1e-12 relative and gradients to 1e-9 relative (of the largest
partial); float32 values to 2e-5 and gradients to 2e-3, the inputs being the float32 roundings
the mpmath twin also receives.
"""

import math

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import klvae

DPS = 500  # logits ±1000 put e^{-1000} beside 1: 435 digits tell them apart (other modules set mp.dps)
TOL = {torch.float64: (1e-12, 1e-9), torch.float32: (2e-5, 2e-3)}
FLOOR = {torch.float64: 1e-15, torch.float32: 1e-6}  # a gradient's rounding: ε of its O(1) parts


# ------------------------------------------------------------------ the mpmath twins


def _softmax(a):
    m = max(x for x in a if x != -mpmath.inf)
    e = [mpmath.exp(x - m) if x != -mpmath.inf else mpmath.mpf(0) for x in a]
    s = mpmath.fsum(e)
    return [x / s for x in e]


def _xlogy(x, y):
    return mpmath.mpf(0) if x == 0 else x * mpmath.log(y)


def mp_entropy(p):
    return -mpmath.fsum(_xlogy(x, x) for x in p)


def mp_cross_entropy(p, q):
    return -mpmath.fsum(_xlogy(x, y) for x, y in zip(p, q))


def mp_kl(p, q):
    """Σ p log(p/q) − p + q: the KL klvae defines for rows that sum to 1 only up to rounding."""
    if any(x > 0 and y == 0 for x, y in zip(p, q)):
        return mpmath.inf
    return mpmath.fsum((_xlogy(x, x / y) if x else 0) - x + y for x, y in zip(p, q))


def mp_js(p, q):
    m = [(x + y) / 2 for x, y in zip(p, q)]
    return (mp_kl(p, m) + mp_kl(q, m)) / 2


def _or_none(fn, *xs):
    return None if 0 in xs else fn(*xs)


def d_entropy(p):
    return [[_or_none(lambda x: -(mpmath.log(x) + 1), x) for x in p]]


def d_cross_entropy(p, q):  # at p = q = 0 the partial in p is +∞: not compared
    return [
        [_or_none(lambda y: -mpmath.log(y), y) for y in q],
        [_or_none(lambda x, y: -x / y, x, y) for x, y in zip(p, q)],
    ]


def d_kl(p, q):  # the gradient of Σ p log(p/q), p taken as free (as torch.distributions does)
    return [
        [_or_none(lambda x, y: mpmath.log(x / y) + 1, x, y) for x, y in zip(p, q)],
        [_or_none(lambda x, y: -x / y, x, y) for x, y in zip(p, q)],
    ]


def d_js(p, q):
    m = [(x + y) / 2 for x, y in zip(p, q)]
    return [
        [_or_none(lambda x, z: mpmath.log(x / z) / 2, x, z) for x, z in zip(p, m)],
        [_or_none(lambda y, z: mpmath.log(y / z) / 2, y, z) for y, z in zip(q, m)],
    ]


# the partial derivatives of the twins for probabilities, by hand: a difference quotient would need
# hundreds of digits at a subnormal entry
DERIVATIVES = {"entropy": d_entropy, "cross_entropy": d_cross_entropy, "kl_divergence": d_kl, "js_divergence": d_js}

MEASURES = {  # name: (klvae function, mpmath twin of the probabilities, arguments)
    "entropy": (klvae.entropy, mp_entropy, 1),
    "cross_entropy": (klvae.cross_entropy, mp_cross_entropy, 2),
    "kl_divergence": (klvae.kl_divergence, mp_kl, 2),
    "js_divergence": (klvae.js_divergence, mp_js, 2),
}


def mp_of(name, rows, logits):
    twin = MEASURES[name][1]

    def f(*flat):
        k = len(flat) // len(rows)
        args = [list(flat[i * k : (i + 1) * k]) for i in range(len(rows))]
        with mpmath.workdps(DPS):
            return twin(*[_softmax(a) if logits else a for a in args])

    return f


def mp_gradient(f, x, skip, floor=0.0):
    """∂f/∂xᵢ by central differences in mpmath at 560 digits, steps 1e-30 of max(|xᵢ|, floor) (1e-30
    at 0), at every i not in `skip` (None there): truncation ~1e-60, rounding ~1e-90."""
    out = []
    with mpmath.workdps(DPS + 60):
        x = [mpmath.mpf(v) for v in x]
        for i in range(len(x)):
            if i in skip:
                out.append(None)
                continue
            h = max(abs(x[i]), floor) * mpmath.mpf(10) ** -30 if x[i] else mpmath.mpf(10) ** -30
            up, down = list(x), list(x)
            up[i] += h
            down[i] -= h
            out.append((f(*up) - f(*down)) / (2 * h))
    return out


def _partials(name, rows):
    """The hand-derived partials; None where an entry without mass has no finite one."""
    return [g for part in DERIVATIVES[name](*rows) for g in part]


# ------------------------------------------------------------------ rows that make the edges


@st.composite
def prob_pairs(draw, dtype):
    k = draw(st.integers(2, 5))
    tiny = float(torch.finfo(dtype).tiny)
    entries = st.one_of(
        st.just(0.0),
        st.floats(1e-3, 1.0),
        st.sampled_from([tiny / 4, tiny, 1e-30, 1e-12]),  # subnormal and tiny masses
    )
    p = np.array(draw(st.lists(entries, min_size=k, max_size=k)))
    p[draw(st.integers(0, k - 1))] += 0.5
    p /= p.sum()
    if draw(st.booleans()):  # nearly equal q
        eps = draw(st.sampled_from([1e-3, 1e-7, 1e-11]))
        w = p * (1 + eps * np.sin(np.arange(1, k + 1)))
        w[w == 0] = 0.0
    else:
        w = np.array(draw(st.lists(entries, min_size=k, max_size=k)))
        w[draw(st.integers(0, k - 1))] += 0.5
    q = w / w.sum()
    return torch.tensor(p, dtype=dtype), torch.tensor(q, dtype=dtype)


@st.composite
def logit_pairs(draw, dtype):
    k = draw(st.integers(2, 5))
    far = 700.0 if dtype == torch.float64 else 85.0  # e^{far} is near the dtype's overflow
    entries = st.one_of(
        st.floats(-5, 5),
        st.sampled_from([-math.inf, -far, -1.2 * far, -1000.0, 3.0]),
    )
    a = draw(st.lists(entries, min_size=k, max_size=k))
    a[draw(st.integers(0, k - 1))] = 0.0  # not all −inf
    if draw(st.booleans()):
        b = [x + draw(st.sampled_from([1e-9, 1e-5, 0.03])) * math.cos(i) for i, x in enumerate(a)]
    else:
        b = draw(st.lists(entries, min_size=k, max_size=k))
    b[draw(st.integers(0, k - 1))] = 0.0
    return torch.tensor(a, dtype=dtype), torch.tensor(b, dtype=dtype)


# ------------------------------------------------------------------ the checks


def check(name, rows, logits, dtype):
    fn, _, arity = MEASURES[name]
    rows = rows[:arity]
    leaves = [r.clone().requires_grad_(True) for r in rows]
    value = fn(*leaves, logits=logits)
    value.backward()
    mp_rows = [[mpmath.mpf(float(x)) for x in r] for r in rows]
    f = mp_of(name, mp_rows, logits)
    flat = [x for r in mp_rows for x in r]
    want = f(*flat)
    rtol_v, rtol_g = TOL[dtype]
    if want == mpmath.inf:
        assert float(value) == math.inf
        for leaf in leaves:  # an infinite value still leaves a finite gradient
            assert bool(torch.isfinite(leaf.grad).all()), leaf.grad
        return
    assert float(value) == pytest.approx(float(want), rel=rtol_v, abs=_budget(rows, logits, dtype))
    zero = {i for i, x in enumerate(flat) if (x == -mpmath.inf if logits else x == 0)}
    got = torch.cat([leaf.grad for leaf in leaves])
    assert bool(torch.isfinite(got).all()), got
    if logits:
        grads = mp_gradient(f, flat, zero, floor=1.0)  # logits live on an O(1) scale
    else:
        with mpmath.workdps(DPS):
            grads = _partials(name, mp_rows)
    scale = max([abs(float(g)) for g in grads if g is not None] + [1e-300])
    for i, g in enumerate(grads):
        if g is None:
            if logits:  # a −inf logit: the limit of the gradient is 0
                assert float(got[i]) == 0.0
            continue
        assert float(got[i]) == pytest.approx(float(g), rel=rtol_g, abs=rtol_g * scale + FLOOR[dtype]), (i, got, grads)


def _budget(rows, logits, dtype):
    """The absolute error a value may carry beyond its relative tolerance: the dtype's smallest
    normal number (a value below it is subnormal and keeps fewer digits)."""
    return float(torch.finfo(dtype).tiny)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", sorted(MEASURES))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_probabilities_value_and_gradient_against_mpmath(name, dtype, data):
    check(name, data.draw(prob_pairs(dtype)), False, dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", sorted(MEASURES))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_logits_value_and_gradient_against_mpmath(name, dtype, data):
    check(name, data.draw(logit_pairs(dtype)), True, dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_log_ratios_past_the_overflow_point_stay_finite(dtype):
    """KL of logits [0, −L] vs [−L, 0] is L(1 − e^{−L})/(1 + e^{−L}) → L: finite for every L the dtype holds."""
    for big in (100.0, 1000.0, 1e5):
        a = torch.tensor([0.0, -big], dtype=dtype, requires_grad=True)
        b = torch.tensor([-big, 0.0], dtype=dtype, requires_grad=True)
        kl = klvae.kl_divergence(a, b, logits=True)
        kl.backward()
        assert float(kl) == pytest.approx(big, rel=1e-6)
        assert bool(torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all())


# ------------------------------------------------------------------ the elementwise terms


def mp_rel_entr(x, y):
    return _xlogy(x, x / y) if x else mpmath.mpf(0)


def mp_kl_div(x, y):
    return mp_rel_entr(x, y) - x + y


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", ["rel_entr", "kl_div"])
@settings(max_examples=40, deadline=None)
@given(
    x=st.one_of(st.floats(1e-300, 1e3), st.sampled_from([0.0, 5e-324, 1e-310])),
    rel=st.one_of(st.floats(-0.9, 10.0), st.sampled_from([1e-12, -1e-9, 1e-6])),
)
def test_elementwise_terms_value_and_gradient_against_mpmath(name, dtype, x, rel):
    y = x * (1 + rel) if x > 0 else 0.5
    px, py = torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype)
    if float(py) == 0 or not math.isfinite(float(py)):
        return
    mx, my = mpmath.mpf(float(px)), mpmath.mpf(float(py))
    twin = mp_rel_entr if name == "rel_entr" else mp_kl_div
    tx, ty = px.clone().requires_grad_(True), py.clone().requires_grad_(True)
    value = getattr(klvae, name)(tx, ty)
    value.backward()
    with mpmath.workdps(DPS):
        want = twin(mx, my)
    rtol_v, rtol_g = TOL[dtype]
    tiny = float(torch.finfo(dtype).tiny)
    assert float(value) == pytest.approx(float(want), rel=rtol_v * 10, abs=tiny)
    assert bool(torch.isfinite(tx.grad) & torch.isfinite(ty.grad))
    if mx > 0 and float(px) > tiny:
        gx, gy = mp_gradient(twin, [mx, my], set())
        assert float(tx.grad) == pytest.approx(float(gx), rel=rtol_g, abs=rtol_g)
        assert float(ty.grad) == pytest.approx(float(gy), rel=rtol_g, abs=rtol_g)
    elif mx == 0:  # no mass: the documented gradient (0 for p; 1 − p/q = 1 for q of kl_div)
        assert float(tx.grad) == 0.0 and float(ty.grad) == (1.0 if name == "kl_div" else 0.0)


def test_entr_gradient_is_zero_at_zero_and_exact_elsewhere():
    p = torch.tensor([0.0, 1e-300, 0.3, 1.0], dtype=torch.float64, requires_grad=True)
    klvae.entr(p).sum().backward()
    want = [0.0] + [float(-(mpmath.log(mpmath.mpf(x)) + 1)) for x in (1e-300, 0.3, 1.0)]
    np.testing.assert_allclose(p.grad.numpy(), want, rtol=1e-14)


# ------------------------------------------------------------------ distributions


def test_categorical_with_a_minus_inf_logit_has_finite_exact_gradients():
    """The issue's case: value right, gradient NaN before; also at logits clipped to −10000."""
    for low in (-math.inf, -1e4):
        a = torch.tensor([0.0, 0.0, low], dtype=torch.float64, requires_grad=True)
        b = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64, requires_grad=True)
        kl = klvae.kl_divergence(torch.distributions.Categorical(logits=a), torch.distributions.Categorical(logits=b))
        kl.backward()
        p, q = torch.softmax(a.detach(), 0), torch.softmax(b.detach(), 0)
        want_b = q - p  # ∂KL/∂b = q − p; ∂KL/∂a = p (log p/q − KL), 0 where p = 0
        lr = torch.where(p > 0, torch.log(p / q), 0.0)
        want_a = p * (lr - kl.detach())
        torch.testing.assert_close(b.grad, want_b, rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(a.grad, want_a, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "make",
    [
        lambda t: (torch.distributions.Bernoulli(probs=t), torch.distributions.Bernoulli(probs=torch.tensor(0.3))),
        lambda t: (torch.distributions.Poisson(t), torch.distributions.Poisson(torch.tensor(2.0))),
        lambda t: (
            torch.distributions.Binomial(5, probs=t),
            torch.distributions.Binomial(5, probs=torch.tensor(0.4)),
        ),
        lambda t: (
            torch.distributions.Categorical(probs=torch.stack([t, 1 - t])),
            torch.distributions.Categorical(probs=torch.tensor([0.5, 0.5])),
        ),
    ],
    ids=["bernoulli", "poisson", "binomial", "categorical"],
)
def test_closed_forms_have_finite_gradients_at_zero_mass_and_match_finite_differences(make):
    for v in (0.0, 0.2, 1e-9):
        t = torch.tensor(v, dtype=torch.float64, requires_grad=True)
        kl = klvae.kl_divergence(*make(t))
        kl.backward()
        assert math.isfinite(float(kl)) and math.isfinite(float(t.grad))
        if v > 1e-6:
            h = 1e-6
            with torch.no_grad():
                up = float(klvae.kl_divergence(*make(torch.tensor(v + h, dtype=torch.float64))))
                down = float(klvae.kl_divergence(*make(torch.tensor(v - h, dtype=torch.float64))))
            assert float(t.grad) == pytest.approx((up - down) / (2 * h), rel=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda a: (torch.distributions.Beta(a, a + 1), torch.distributions.Beta(a * 1.5, a)),
        lambda a: (torch.distributions.Gamma(a, 2 * a), torch.distributions.Gamma(a + 0.5, 1.0)),
        lambda a: (
            torch.distributions.Dirichlet(torch.stack([a, 2 * a, a + 1])),
            torch.distributions.Dirichlet(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)),
        ),
        lambda a: (torch.distributions.Normal(a, a), torch.distributions.Normal(0.3, 2.0)),
        lambda a: (torch.distributions.Laplace(a, 1.0), torch.distributions.Laplace(0.0, a)),
        lambda a: (torch.distributions.Exponential(a), torch.distributions.Exponential(2.0)),
    ],
    ids=["beta", "gamma", "dirichlet", "normal", "laplace", "exponential"],
)
def test_continuous_closed_forms_gradients_match_finite_differences(make):
    for v in (0.7, 3.0):
        a = torch.tensor(v, dtype=torch.float64, requires_grad=True)
        kl = klvae.kl_divergence(*make(a))
        kl.backward()
        h = 1e-6
        with torch.no_grad():
            up = float(klvae.kl_divergence(*make(torch.tensor(v + h, dtype=torch.float64))))
            down = float(klvae.kl_divergence(*make(torch.tensor(v - h, dtype=torch.float64))))
        assert float(a.grad) == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-9)
