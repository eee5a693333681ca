"""klvae.measures.gaussian vs torch.distributions: Gaussian KL on batches, float64, CPU.

Two cases, each timed as a user pays for it (building the distributions, argument
validation on both sides, then the KL):
  full:     1024 pairs of full-covariance normals, d = 64 (torch: MultivariateNormal
            factors the covariance on construction, so construction is timed too);
  diagonal: 256 pairs of diagonal normals, d = 4096 (torch: Independent(Normal) KL).
The two libraries alternate, and each time is the median over the repeats.

Run: PYTHONPATH=src python benchmarks/bench_gaussian.py [--repeats N] [--threads T]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

from klvae.measures.gaussian import kl_normal
from klvae.measures.mvn import kl_mvn

DTYPE = torch.float64


def _random_spd(batch: int, d: int, gen: torch.Generator) -> torch.Tensor:
    a = torch.randn(batch, d, d, dtype=DTYPE, generator=gen) / d**0.5
    return a @ a.mT + 0.5 * torch.eye(d, dtype=DTYPE)  # (B, d, d)


def full_case(batch: int = 1024, d: int = 64):
    gen = torch.Generator().manual_seed(0)
    mu1, mu2 = (torch.randn(batch, d, dtype=DTYPE, generator=gen) for _ in range(2))
    cov1, cov2 = _random_spd(batch, d, gen), _random_spd(batch, d, gen)

    def torch_kl():
        return kl_divergence(MultivariateNormal(mu1, cov1), MultivariateNormal(mu2, cov2))

    def klvae_kl():
        return kl_mvn(mu1, cov1, mu2, cov2)

    return f"full covariance, {batch} pairs, d = {d}", torch_kl, klvae_kl


def diagonal_case(batch: int = 256, d: int = 4096):
    gen = torch.Generator().manual_seed(1)
    mu1, mu2 = (torch.randn(batch, d, dtype=DTYPE, generator=gen) for _ in range(2))
    # VAE-like scales: log σ² ~ N(0, 1)
    s1, s2 = (torch.exp(0.5 * torch.randn(batch, d, dtype=DTYPE, generator=gen)) for _ in range(2))

    def torch_kl():
        p, q = Independent(Normal(mu1, s1), 1), Independent(Normal(mu2, s2), 1)
        return kl_divergence(p, q)

    def klvae_kl():
        return kl_normal(mu1, s1, mu2, s2, axis=-1)

    return f"diagonal, {batch} pairs, d = {d}", torch_kl, klvae_kl


def time_pair(torch_fn, klvae_fn, repeats: int) -> tuple[float, float]:
    """Median seconds of each function, alternating the two to share the machine's noise."""
    err = (klvae_fn() - torch_fn()).abs().max() / torch_fn().abs().max()  # warm-up, agreement
    assert err < 1e-10, f"results disagree: {err}"
    times = {"torch": [], "klvae": []}
    for i in range(repeats):
        order = (("torch", torch_fn), ("klvae", klvae_fn))
        for name, fn in order if i % 2 == 0 else reversed(order):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["torch"]), statistics.median(times["klvae"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float64, median of {args.repeats}")
    print("| case | torch.distributions (ms) | klvae (ms) | torch / klvae |")
    print("| --- | ---: | ---: | ---: |")
    for case in (full_case, diagonal_case):
        label, torch_fn, klvae_fn = case()
        t_torch, t_klvae = time_pair(torch_fn, klvae_fn, args.repeats)
        print(f"| {label} | {1e3 * t_torch:.1f} | {1e3 * t_klvae:.1f} | {t_torch / t_klvae:.2f}× |")


if __name__ == "__main__":
    main()
