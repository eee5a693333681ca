"""klvae.experiments.mode_sweep against fits by scipy (quad and Nelder–Mead) in tests/reference.py."""

import math

import pytest

from klvae.experiments.mode_sweep import SweepRow, reverse_kl_sweep
from reference import ref_reverse_fit, ref_symmetric_fit

pytestmark = pytest.mark.usefixtures("one_thread")


def test_sweep_matches_scipy_at_d2_and_d4_and_finds_the_transition():
    sweep = reverse_kl_sweep([2.0, 2.3, 2.6, 2.9, 4.0], bisections=6)
    d2, d4 = 0, 4
    s2, kl2 = ref_symmetric_fit(2.0)
    assert s2 == pytest.approx(2.047, abs=1e-3)
    assert sweep["best_mean"][d2] == pytest.approx(0.0, abs=1e-6)
    assert sweep["best_std"][d2] == pytest.approx(s2, abs=1e-4)
    assert sweep["best_kl"][d2] == pytest.approx(kl2, abs=1e-6)
    assert sweep["off_mean"][d2] is None  # no off-centre optimum at d = 2
    m4, s4, kl4 = ref_reverse_fit(4.0, 3.9, 1.0)
    assert s4 == pytest.approx(1.001, abs=1e-3) and kl4 == pytest.approx(math.log(2), abs=1e-3)
    assert sweep["best_mean"][d4] == pytest.approx(m4, abs=1e-4)
    assert sweep["best_std"][d4] == pytest.approx(s4, abs=1e-4)
    assert sweep["best_kl"][d4] == pytest.approx(kl4, abs=1e-6)
    assert all(c > 0 for c in sweep["sym_curvature"])  # symmetric fit stays a local minimum
    # the off-centre optimum exists from d ≈ 2.41 and wins from d ≈ 2.80 (grid step 0.3 / 2⁶)
    assert 2.3 < sweep["d_appear"] < 2.6 and 2.6 < sweep["d_cross"] < 2.9
    for d, branch_exists in ((2.38, False), (2.45, True)):
        m, _, _ = ref_reverse_fit(d, 0.95 * d, 1.15)  # start near where the off-centre fit would be
        assert (abs(m) > 1e-2) == branch_exists
        assert (d > sweep["d_appear"]) == branch_exists
    for d in (2.78, 2.82):
        _, _, kl_off = ref_reverse_fit(d, d, 1.05)
        _, kl_sym = ref_symmetric_fit(d)
        assert (kl_off < kl_sym) == (d > sweep["d_cross"])
    # named results, as scipy's: the keys read as attributes, the rows' fields are the keys
    assert sweep.d_cross == sweep["d_cross"] and sweep.best_kl is sweep["best_kl"]
    assert set(sweep) == {*SweepRow._fields, "d_appear", "d_cross"}
    for best, sym, off in zip(sweep.best_kl, sweep.sym_kl, sweep.off_kl):
        assert best == (sym if off is None else min(sym, off))  # the global optimum is the lower branch


def test_too_few_separations_are_refused():
    with pytest.raises(ValueError, match="separations must be at least two non-negative numbers"):
        reverse_kl_sweep([1.0])
