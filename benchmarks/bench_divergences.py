"""klvae vs torch.distributions.kl_divergence, and klvae's k-NN estimators vs scikit-learn and scipy.

Part 1, closed forms (float64, CPU; both libraries get the same distribution objects):
  Beta, 4096 pairs, concentrations uniform in [0.5, 3.5]; and the same pairs made
      near-equal (a₂ = a₁ (1 + 1e-8));
  Dirichlet K = 100, 4096 pairs, random; and near-equal (α₂ = α₁ (1 + 1e-6 u), u ~ U(0, 1));
  LowRankMultivariateNormal d = 1000, r = 10, 64 pairs.
Each row gives the median time of each library (the two alternate, so load on the machine
hits both alike) and the largest relative error of each against mpmath at 50 digits on
a subset of the pairs.

Part 2, estimators from n = 10 000 samples in d = 5 (Gaussians, so the truth is known):
  KSG mutual information of each coordinate xⱼ with y (5 values) against scikit-learn's
      ``mutual_info_regression`` (the same algorithm);
  k-NN (Kozachenko–Leonenko) entropy of the 5-d sample against
      ``scipy.stats.differential_entropy`` summed over the 5 independent coordinates.

Part 3 (--beta-errors N): the error distribution of N random Beta KLs against mpmath: klvae
  without a gradient (its far log Γ terms as sums of non-negative parts), klvae with one
  (the direct difference of log Γ's, as torch), and torch.

Run: PYTHONPATH=src python benchmarks/bench_divergences.py [--repeats N] [--threads T] [--cpu-time]
     [--beta-errors N]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import mpmath
import numpy as np
import scipy.stats
import torch
from sklearn.feature_selection import mutual_info_regression
from torch.distributions import Beta, Dirichlet, LowRankMultivariateNormal, kl_divergence

import klvae

DTYPE = torch.float64
mpmath.mp.dps = 50


# ------------------------------------------------------------------ mpmath references


def mp_lbeta(values):
    return sum(mpmath.loggamma(v) for v in values) - mpmath.loggamma(sum(values))


def mp_dirichlet(a, b):
    a, b = [mpmath.mpf(x) for x in a], [mpmath.mpf(x) for x in b]
    a0 = sum(a)
    return mp_lbeta(b) - mp_lbeta(a) + sum((x - y) * (mpmath.digamma(x) - mpmath.digamma(a0)) for x, y in zip(a, b))


def mp_lowrank(p, q, i):
    """KL of pair i at 50 digits: Woodbury and the determinant lemma in mpmath."""
    m = lambda t: mpmath.matrix(t[i].tolist())  # noqa: E731
    wp, wq, dp, dq = m(p.cov_factor), m(q.cov_factor), p.cov_diag[i].tolist(), q.cov_diag[i].tolist()
    delta = [float(v) for v in (q.loc[i] - p.loc[i])]
    d, r = len(dp), wq.cols
    g = mpmath.matrix(r, d)  # Wqᵀ Dq⁻¹
    for a in range(r):
        for j in range(d):
            g[a, j] = wq[j, a] / dq[j]
    cq, cp = mpmath.eye(r) + g * wq, mpmath.eye(wp.cols)
    for a in range(wp.cols):
        for b in range(wp.cols):
            cp[a, b] += mpmath.fsum(wp[j, a] * wp[j, b] / dp[j] for j in range(d))
    gdg = mpmath.matrix(r, r)
    for a in range(r):
        for b in range(r):
            gdg[a, b] = mpmath.fsum(g[a, j] * dp[j] * g[b, j] for j in range(d))
    gw = g * wp
    inner = mpmath.inverse(cq) * (gdg + gw * gw.T)
    trace = (
        mpmath.fsum(mpmath.mpf(x) / y for x, y in zip(dp, dq))
        + mpmath.fsum(wp[j, a] ** 2 / dq[j] for j in range(d) for a in range(wp.cols))
        - mpmath.fsum(inner[a, a] for a in range(r))
    )
    gdelta = g * mpmath.matrix(delta)
    maha = mpmath.fsum(mpmath.mpf(x) ** 2 / y for x, y in zip(delta, dq)) - (gdelta.T * mpmath.inverse(cq) * gdelta)[0]
    logdet = (
        mpmath.fsum(mpmath.log(y) - mpmath.log(x) for x, y in zip(dp, dq))
        + mpmath.log(mpmath.det(cq))
        - mpmath.log(mpmath.det(cp))
    )
    return (trace + maha - d + logdet) / 2


def rel_errors(value, ref_idx, refs):
    got = value.detach().reshape(-1)[ref_idx].tolist()
    return max(float(abs(mpmath.mpf(g) - r) / abs(r)) for g, r in zip(got, refs))


# ------------------------------------------------------------------ cases


def beta_case(near: bool, batch=4096):
    gen = torch.Generator().manual_seed(0)
    a1, b1, a2, b2 = (0.5 + 3 * torch.rand(batch, generator=gen, dtype=DTYPE) for _ in range(4))
    if near:
        a2, b2 = a1 * (1 + 1e-8), b1
    p, q = Beta(a1, b1), Beta(a2, b2)
    idx = list(range(0, batch, batch // 32))
    refs = [mp_dirichlet([a1[i].item(), b1[i].item()], [a2[i].item(), b2[i].item()]) for i in idx]
    label = f"Beta, {batch} pairs" + (", near-equal (a·(1 + 1e-8))" if near else ", random")
    return label, p, q, idx, refs


def dirichlet_case(near: bool, batch=4096, k=100):
    gen = torch.Generator().manual_seed(1)
    a = 0.5 + 3 * torch.rand(batch, k, generator=gen, dtype=DTYPE)
    b = (
        a * (1 + 1e-6 * torch.rand(batch, k, generator=gen, dtype=DTYPE))
        if near
        else 0.5 + 3 * torch.rand(batch, k, generator=gen, dtype=DTYPE)
    )
    p, q = Dirichlet(a), Dirichlet(b)
    idx = list(range(0, batch, batch // 8))
    refs = [mp_dirichlet(a[i].tolist(), b[i].tolist()) for i in idx]
    label = f"Dirichlet K = {k}, {batch} pairs" + (", near-equal (α·(1 + 1e-6 u))" if near else ", random")
    return label, p, q, idx, refs


def lowrank_case(batch=64, d=1000, r=10):
    gen = torch.Generator().manual_seed(2)

    def make():
        return LowRankMultivariateNormal(
            torch.randn(batch, d, generator=gen, dtype=DTYPE),
            torch.randn(batch, d, r, generator=gen, dtype=DTYPE) / r**0.5,
            0.5 + torch.rand(batch, d, generator=gen, dtype=DTYPE),
        )

    p, q = make(), make()
    idx = [0, batch // 2]
    refs = [mp_lowrank(p, q, i) for i in idx]
    return f"LowRankMultivariateNormal d = {d}, r = {r}, {batch} pairs", p, q, idx, refs


CLOCK = time.perf_counter  # --cpu-time: time.thread_time, the CPU time of this thread (1 thread)


def timed(fn, repeats):
    fn()
    out = []
    for _ in range(repeats):
        t0 = CLOCK()
        fn()
        out.append(CLOCK() - t0)
    return out


def closed_forms(repeats: int):
    cases = [beta_case(False), beta_case(True), dirichlet_case(False), dirichlet_case(True), lowrank_case()]
    print("| case | klvae (ms) | torch (ms) | torch / klvae | klvae max rel. error | torch max rel. error |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, p, q, idx, refs in cases:
        ours, theirs = [], []
        for _ in range(repeats):  # alternate, one call each
            ours += timed(lambda p=p, q=q: klvae.kl_divergence(p, q), 1)
            theirs += timed(lambda p=p, q=q: kl_divergence(p, q), 1)
        t_ours, t_theirs = statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3
        e_ours = rel_errors(klvae.kl_divergence(p, q), idx, refs)
        e_theirs = rel_errors(kl_divergence(p, q), idx, refs)
        print(f"| {label} | {t_ours:.3g} | {t_theirs:.3g} | {t_theirs / t_ours:.2f} | {e_ours:.1e} | {e_theirs:.1e} |")


# ------------------------------------------------------------------ estimators


def estimators(n=10_000):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, 5))
    c = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    y = x @ c + 0.5 * rng.standard_normal(n)
    rho = c / math.sqrt(c @ c + 0.25)
    truth = -0.5 * np.log1p(-(rho**2))
    t0 = time.perf_counter()
    sk = mutual_info_regression(x, y, n_neighbors=3, random_state=0)
    t_sk = time.perf_counter() - t0
    t0 = time.perf_counter()
    ys = y / y.std(ddof=1)
    ours = np.array([float(klvae.ksg_mutual_information(x[:, j] / x[:, j].std(ddof=1), ys)) for j in range(5)])
    t_ours = time.perf_counter() - t0
    print("| estimator (n = 10 000, d = 5) | time (s) | value | truth | max abs. error |")
    print("| --- | ---: | --- | --- | ---: |")
    fmt = lambda v: "[" + ", ".join(f"{u:.4f}" for u in v) + "]"  # noqa: E731
    print(
        f"| klvae.ksg_mutual_information, k = 3 (5 MIs, nats) | {t_ours:.3f} | {fmt(ours)} | {fmt(truth)} "
        f"| {np.abs(ours - truth).max():.4f} |"
    )
    print(
        f"| sklearn mutual_info_regression, k = 3 | {t_sk:.3f} | {fmt(sk)} | {fmt(truth)} "
        f"| {np.abs(sk - truth).max():.4f} |"
    )
    sigmas = np.array([0.5, 1.0, 2.0, 3.0, 0.25])
    z = rng.standard_normal((n, 5)) * sigmas
    h_true = float(np.sum(0.5 * np.log(2 * np.pi * np.e * sigmas**2)))
    t0 = time.perf_counter()
    h_ours = float(klvae.knn_entropy(z, k=3))
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    h_scipy = float(sum(scipy.stats.differential_entropy(z[:, j]) for j in range(5)))
    t_scipy = time.perf_counter() - t0
    print(
        f"| klvae.knn_entropy, k = 3 (joint, nats) | {t_ours:.3f} | {h_ours:.4f} | {h_true:.4f} "
        f"| {abs(h_ours - h_true):.4f} |"
    )
    print(
        f"| scipy differential_entropy, Σ of 5 marginals | {t_scipy:.3f} | {h_scipy:.4f} | {h_true:.4f} "
        f"| {abs(h_scipy - h_true):.4f} |"
    )


def beta_errors(n: int):
    gen = torch.Generator().manual_seed(5)
    a1, b1, a2, b2 = (0.5 + 3 * torch.rand(n, generator=gen, dtype=DTYPE) for _ in range(4))
    p, q = Beta(a1, b1), Beta(a2, b2)
    refs = np.array([float(mp_dirichlet([a1[i].item(), b1[i].item()], [a2[i].item(), b2[i].item()])) for i in range(n)])
    graded = Beta(a1.clone().requires_grad_(), b1)
    rows = {
        "klvae, no gradient": klvae.kl_divergence(p, q),
        "klvae, with a gradient": klvae.kl_divergence(graded, q).detach(),
        "torch": kl_divergence(p, q),
    }
    print(f"| Beta, {n} random pairs | max rel. error | 99th percentile | median |")
    print("| --- | ---: | ---: | ---: |")
    for label, value in rows.items():
        err = np.abs(value.numpy() - refs) / refs
        print(f"| {label} | {err.max():.1e} | {np.quantile(err, 0.99):.1e} | {np.median(err):.1e} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15, help="timed calls per library and case (median reported)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument(
        "--cpu-time",
        action="store_true",
        help="time the closed forms by this thread's CPU time, on 1 thread: steadier on a busy machine",
    )
    ap.add_argument("--beta-errors", type=int, default=0, metavar="N", help="also the errors of N random Beta KLs")
    args = ap.parse_args(argv)
    if args.cpu_time:
        global CLOCK
        CLOCK, args.threads = time.thread_time, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float64, CPU\n")
    closed_forms(args.repeats)
    print()
    if args.beta_errors:
        beta_errors(args.beta_errors)
        print()
    estimators()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
