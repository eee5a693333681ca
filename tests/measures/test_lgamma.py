"""klvae.measures._lgamma: the log-gamma Bregman divergence, against mpmath."""

import math

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from klvae.measures._lgamma import bregman_lgamma, bregman_rows, bregman_sum

mpmath.mp.dps = 60
D = torch.float64


def mp_bregman(y, d):
    with mpmath.workdps(140):  # B ~ δ²: the three terms cancel to 2 log10(y/δ) digits
        y, d = mpmath.mpf(y), mpmath.mpf(d)
        return +(mpmath.loggamma(y + d) - mpmath.loggamma(y) - mpmath.digamma(y) * d)


def mp_bregman_of(y, x):
    """B with x = y + δ as given (δ exact in mpmath)."""
    with mpmath.workdps(140):
        y, x = mpmath.mpf(y), mpmath.mpf(x)
        return +(mpmath.loggamma(x) - mpmath.loggamma(y) - mpmath.digamma(y) * (x - y))


@pytest.mark.parametrize("y", [1e-3, 0.3, 1.0, 3.7, 11.9, 12.0, 55.0, 1e4, 1e9])
@pytest.mark.parametrize("rel", [1e-14, 1e-9, 1e-4, -3e-3, 0.0099, 0.0101, -0.05, 0.5, 3.0])
def test_bregman_lgamma_against_mpmath_on_both_sides_of_the_switch(y, rel):
    d = y * rel
    want = mp_bregman(y, d)
    got = float(bregman_lgamma(torch.tensor(y, dtype=D), torch.tensor(d, dtype=D)))
    tol = 1e-14 if abs(rel) < 0.01 else 3e-11  # the direct form beyond |δ| = y/100
    assert got == pytest.approx(float(want), rel=tol, abs=1e-300)


@settings(max_examples=80, deadline=None)
@given(st.floats(1e-2, 1e3), st.floats(-0.0099, 0.0099).filter(lambda r: r == 0 or abs(r) > 1e-50))
def test_near_branch_is_accurate_everywhere(y, rel):
    want = float(mp_bregman(y, y * rel))
    got = float(bregman_lgamma(torch.tensor([y], dtype=D), torch.tensor([y * rel], dtype=D))[0])
    assert got == pytest.approx(want, rel=2e-14, abs=1e-300)


def test_gradient_of_the_near_branch():
    y = torch.tensor([2.0, 30.0], dtype=D, requires_grad=True)
    d = torch.tensor([1e-4, -2e-3], dtype=D, requires_grad=True)
    assert torch.autograd.gradcheck(bregman_lgamma, (y, d))


@pytest.mark.parametrize("rel", [1e-12, 1e-8, 1.4e-8, 1.5e-8, 1e-6, 1e-4, 3e-3, 0.0099])
def test_all_near_batch_takes_the_series_alone_and_matches_mpmath(rel):
    # every entry near: no direct form at all, and the number of terms follows max |δ|/y
    y = torch.tensor([1e-3, 0.3, 0.5, 1.0, 3.7, 9.99, 10.0, 55.0, 1e4, 1e9], dtype=D)
    d = y * torch.linspace(-rel, rel, y.numel(), dtype=D)
    got = bregman_lgamma(y, d)
    for g, yi, di in zip(got.tolist(), y.tolist(), d.tolist()):
        want = float(mp_bregman(yi, di))
        assert g == pytest.approx(want, rel=2e-14, abs=1e-300)


def test_mixed_batch_agrees_with_each_entry_alone():
    y = torch.tensor([0.7, 2.0, 2.0, 30.0, 0.05], dtype=D)
    d = torch.tensor([1e-9, 0.5, 1e-3, -0.2, 3.0], dtype=D)  # near, far, near, near, far
    batch = bregman_lgamma(y, d)
    alone = torch.stack([bregman_lgamma(yi[None], di[None])[0] for yi, di in zip(y, d)])
    assert torch.equal(batch.isfinite(), alone.isfinite())
    for g, yi, di in zip(batch.tolist(), y.tolist(), d.tolist()):
        assert g == pytest.approx(float(mp_bregman(yi, di)), rel=3e-11)


def test_empty_batch():
    assert bregman_lgamma(torch.zeros(0, dtype=D), torch.zeros(0, dtype=D)).shape == (0,)


@pytest.mark.parametrize("n", [1, 7, 300, 5000, 20000])
def test_the_series_in_numpy_and_in_torch_agree_and_gradients_take_torch(n):
    # a few near entries without gradient run in NumPy, the rest (or with gradient) in torch: the same sums
    g = torch.Generator().manual_seed(n)
    y = 10 ** (6 * torch.rand(n, generator=g, dtype=torch.float64) - 3)
    delta = y * 0.02 * (torch.rand(n, generator=g, dtype=torch.float64) - 0.5)
    plain = bregman_lgamma(y, delta)
    y_grad = y.clone().requires_grad_()
    with_grad = bregman_lgamma(y_grad, delta)
    torch.testing.assert_close(plain, with_grad.detach(), rtol=2e-15, atol=0.0)  # (sums in another order)
    (grad,) = torch.autograd.grad(with_grad.sum(), y_grad)  # ∂B/∂y = ψ(y + δ) − ψ(y) − ψ′(y) δ
    expected = torch.digamma(y + delta) - torch.digamma(y) - torch.polygamma(1, y) * delta
    assert torch.isfinite(grad).all() and float((grad - expected).abs().max()) < 1e-6 * float(expected.abs().max())


def test_far_entries_hold_their_digits_with_and_without_a_gradient():
    y = torch.tensor([0.7, 2.0, 30.0], dtype=D)
    d = torch.tensor([0.5, -0.9, 12.0], dtype=D)
    want = [float(mp_bregman(a, b)) for a, b in zip(y.tolist(), d.tolist())]
    assert bregman_lgamma(y, d).tolist() == pytest.approx(want, rel=3e-15)
    assert bregman_lgamma(y.float(), d.float()).dtype == torch.float32
    yg, dg = y.clone().requires_grad_(), d.clone().requires_grad_()
    assert torch.autograd.gradcheck(bregman_lgamma, (yg, dg))
    assert torch.autograd.gradcheck(lambda delta: bregman_lgamma(y, delta), (dg,))


@pytest.mark.parametrize("n_near", [0, 3, 3000, 9000])
def test_a_mixed_batch_without_gradient_matches_mpmath_and_the_torch_path(n_near):
    # without a gradient the far entries take the shifted form and the near ones the series, in
    # NumPy (9000: two slices); with one, torch's direct form (11 digits) and series
    g = torch.Generator().manual_seed(n_near)
    n = n_near + 2000
    y = 10 ** (4 * torch.rand(n, generator=g, dtype=torch.float64) - 2)
    rel = torch.rand(n, generator=g, dtype=torch.float64) - 0.5
    rel[:n_near] *= 0.019  # |δ| < y/100: near
    rel[n_near:] = torch.where(rel[n_near:] < 0, rel[n_near:] - 0.02, rel[n_near:] + 0.02)
    delta = y * rel
    plain = bregman_lgamma(y, delta)
    torch_path = bregman_lgamma(y.clone().requires_grad_(), delta).detach()
    torch.testing.assert_close(plain, torch_path, rtol=3e-11, atol=0.0)
    for i in sorted({*range(0, n, n // 40), n_near - 1, n_near, n - 1}):
        if 0 <= i < n:
            want = float(mp_bregman(float(y[i]), float(delta[i])))
            assert float(plain[i]) == pytest.approx(want, rel=1e-14 if i < n_near else 6e-14)


@pytest.mark.parametrize(
    ("y", "x"),
    [
        (1e-300, 1.0),  # y + j tiny for j = 0: u₀ = 1e300
        (1.0, 1e-300),  # x ≪ y: log(1 + u₀) from log x − log y
        (5.0, 1e-9),
        (0.5, 0.49),  # |δ| just past y/100
        (9.99, 10.1),  # X crosses the asymptotic's threshold
        (10.0, 12.0),  # no shift
        (3.0, 1e6),
        (1e12, 3e12),
        (1e15, 10.0),
        (2.5, 1e300),
    ],
)
def test_the_shifted_form_holds_its_digits_at_the_edges(y, x):
    # B = Σ of non-negative parts: the relative error stays at a few ulps where the direct
    # difference of log Γ's loses up to 9 digits
    yt, xt = torch.tensor([y], dtype=D), torch.tensor([x], dtype=D)
    got = float(bregman_lgamma(yt, xt - yt, xt))
    want = mp_bregman_of(y, x)
    assert got == pytest.approx(float(want), rel=6e-14)


def test_the_shifted_form_overflows_to_inf_only_where_b_does():
    y = torch.tensor([1e-310, 1.0], dtype=D)  # δ/y = 1e310: B ≈ δ/y overflows; B(1, 1e308) ≈ 1e308·708
    x = torch.tensor([1.0, 1e308], dtype=D)
    assert bregman_lgamma(y, x - y, x).tolist() == [math.inf, math.inf]


@pytest.mark.parametrize("grad", [False, True])
def test_summed_groups_keep_full_precision_where_all_are_near_and_rounding_level_elsewhere(grad):
    # `summed`: the series only for groups (rows) whose every entry is near. An all-near row's sum
    # keeps full relative precision; a row with a far entry is within a few ε Σ|terms| of the
    # truth, the rounding of its far entries' direct form, whichever way its near ones go
    g = torch.Generator().manual_seed(7)
    rows, k = 40, 5
    y = 0.2 + 20 * torch.rand(rows, k, generator=g, dtype=D)
    rel = (torch.rand(rows, k, generator=g, dtype=D) - 0.5) * 0.018  # every entry near
    rel[rows // 2 :, 0] = 0.3  # the second half: one far entry per row
    delta = y * rel
    yy = y.clone().requires_grad_(grad)
    got = bregman_lgamma(yy, delta, summed=-1).sum(-1).detach()
    plain = bregman_lgamma(yy, delta).sum(-1).detach()
    assert torch.equal(got[: rows // 2], plain[: rows // 2])  # all near: as without `summed`
    for i in range(rows):
        want = mpmath.fsum(mp_bregman(float(a), float(b)) for a, b in zip(y[i], delta[i]))
        if i < rows // 2:
            assert float(got[i]) == pytest.approx(float(want), rel=1e-14)
        else:
            scale = sum(
                abs(math.lgamma(a + b)) + abs(math.lgamma(a)) + abs(float(mpmath.digamma(a)) * b) + 1e-300
                for a, b in zip(y[i].tolist(), delta[i].tolist())
            )
            assert abs(float(got[i]) - float(want)) <= 8 * 2.0**-52 * scale


@pytest.mark.parametrize("case", ["mixed", "all near", "none near", "one parameter shared"])
def test_bregman_sum_of_a_beta_kl_agrees_with_the_stacked_parts_and_with_mpmath(case):
    # B(a) + B(b) − B(a + b): the NumPy rows (the near entries' series, the far ones in the shifted
    # form) against mpmath, and the stacked torch path a gradient takes (the direct form where
    # far: 11 digits) against them
    g = torch.Generator().manual_seed(7)
    a1, b1 = (0.1 + 20 * torch.rand(64, generator=g, dtype=D) for _ in range(2))
    rel = {"mixed": torch.where(torch.arange(64) % 3 == 0, 1e-6, 0.3), "all near": torch.full((64,), 1e-7)}
    r = rel.get(case, torch.full((64,), 0.4))
    a2 = a1 * (1 + r * (2 * torch.rand(64, generator=g, dtype=D) - 1))
    b2 = b1 if case == "one parameter shared" else b1 * (1 + r * (2 * torch.rand(64, generator=g, dtype=D) - 1))
    parts = [(a1, a2 - a1, a2), (b1, b2 - b1, b2), (a1 + b1, a2 + b2 - a1 - b1, a2 + b2)]
    rows = [np.stack([part[i].numpy() for part in parts]) for i in range(3)]
    got = torch.from_numpy(bregman_rows(*rows, [1, 1, -1]))
    graded = [tuple(t.clone().requires_grad_() for t in part) for part in parts]
    stacked = bregman_sum(graded, [1, 1, -1])
    assert stacked.requires_grad
    torch.testing.assert_close(got, stacked.detach(), rtol=1e-13 if case == "all near" else 3e-10, atol=0)
    for i in range(0, 64, 3):
        want = sum(s * mp_bregman(float(y[i]), float(d[i])) for (y, d, _), s in zip(parts, [1, 1, -1]))
        assert float(got[i]) == pytest.approx(float(want), rel=1e-13)


def test_the_series_stacked_and_step_by_step_agree_with_mpmath():
    # a batch whose (N, J, s) powers pass 128 KB sums the recurrence a step at a time (no temporary
    # that malloc would map afresh on every call); a few entries stack them: the same sums
    from klvae.measures._lgamma import _series_numpy

    g = torch.Generator().manual_seed(11)
    y = (0.3 + 5 * torch.rand(6000, generator=g, dtype=D)).numpy()
    delta = y * 1e-3 * (torch.rand(6000, generator=g, dtype=D).numpy() - 0.5)
    whole = _series_numpy(y, delta)  # step by step: N · J · 6000 · 8 bytes > 128 KB
    pieces = np.concatenate([_series_numpy(y[i : i + 50], delta[i : i + 50]) for i in range(0, 6000, 50)])
    np.testing.assert_allclose(whole, pieces, rtol=2e-15, atol=0)
    for i in range(0, 6000, 997):
        assert whole[i] == pytest.approx(float(mp_bregman(float(y[i]), float(delta[i]))), rel=2e-15)
