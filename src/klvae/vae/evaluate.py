"""Honest evaluation of a trained VAE on held-out data, in nats per example.

- test ELBO with β = 1 (a lower bound on log p(x));
- each mean over examples with its standard error s/√N (s the examples' standard deviation):
  how far another draw of N test images would move it, so two models can be compared;
- the importance-weighted estimate of −log p(x) with k samples (Burda et al. 2016, "Importance
  Weighted Autoencoders", eq. 8): −log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x);
  it is an upper bound on −log p(x) in expectation, tightening as k grows;
- KL per latent dimension and active units (Var_x E_q[z_u] > 0.01, Burda et al. 2016, §5.2);
- reconstruction error: −E_q log p(x|z) and the MSE of E[x|z=μ].
"""

from __future__ import annotations

import math

import torch

from klvae.gaussian import kl_std_normal
from klvae.vae.objective import log_likelihood, log_normal

__all__ = ["iw_log_px", "evaluate_vae", "ACTIVE_UNIT_THRESHOLD"]

ACTIVE_UNIT_THRESHOLD = 0.01
_MAX_ELEMENTS = 1 << 22  # decoder outputs per chunk (≈16 MB in float32): bounds memory for any k


def _chunk(k: int, batch: int, n_pixels: int) -> int:
    return max(1, min(k, _MAX_ELEMENTS // max(1, batch * n_pixels)))


@torch.no_grad()
def iw_log_px(model, x: torch.Tensor, k: int = 1000, *, return_elbo: bool = False):
    """Importance-weighted estimate of log p(x) in nats: x (B, C, H, W) → (B,) float64.

    log p̂(x) = log (1/k) Σ_{i=1..k} w_i, log w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x),
    z_i ~ q(z|x). The log-mean-exp runs in float64 over chunks of samples, so memory stays bounded
    for any k. With `return_elbo=True` also returns the ELBO estimate from the same draws,
    (1/k) Σ_i log p(x|z_i) − KL(q‖p) (analytic KL), as a second (B,) tensor.

    >>> from klvae.vae.model import VAE, VAEConfig
    >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
    >>> x = torch.rand(3, 1, 4, 4).bernoulli()
    >>> tuple(iw_log_px(model, x, k=50).shape)
    (3,)
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    cfg = model.config
    mu, logvar = model.encode(x)  # (B, latent)
    zeros = torch.zeros_like(mu)
    lse = torch.full((x.shape[0],), -math.inf, dtype=torch.float64, device=x.device)  # (B,)
    recon_sum = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)  # (B,)
    chunk = _chunk(k, x.shape[0], cfg.n_pixels)
    done = 0
    while done < k:
        n = min(chunk, k - done)
        z = model.reparameterize(mu, logvar, n)  # (n, B, latent)
        log_px_z = log_likelihood(model.decode(z), x, cfg.likelihood, cfg.sigma)  # (n, B)
        log_w = log_px_z + log_normal(z, zeros, zeros) - log_normal(z, mu, logvar)  # (n, B)
        lse = torch.logaddexp(lse, torch.logsumexp(log_w.double(), dim=0))
        recon_sum += log_px_z.double().sum(0)
        done += n
    log_px = lse - math.log(k)
    if return_elbo:
        return log_px, recon_sum / k - kl_std_normal(mu, logvar).double()
    return log_px


def _standard_error(values: torch.Tensor) -> float | None:
    """s/√N of a mean over N examples (s with N − 1 in its denominator); None for one example."""
    n = values.numel()
    return float(values.double().std(correction=1) / math.sqrt(n)) if n > 1 else None


@torch.no_grad()
def evaluate_vae(model, x: torch.Tensor, *, k: int = 1000, batch_size: int = 100, seed: int = 0, progress=None) -> dict:
    """Test-set metrics of `model` on x (N, C, H, W), nats per example (see the module docstring).

    Draws come from a generator seeded by `seed` inside a forked RNG, so evaluating never changes
    the caller's random stream. `progress`, if given, is called with the number of examples of
    each batch done (e.g. a tqdm bar's `update`). Returns a JSON-ready dict.
    """
    was_training = model.training
    model.eval()
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        sums = dict(iw=0.0, elbo=0.0, recon=0.0, mse=0.0)
        mus, kls, per_iw, per_elbo = [], [], [], []  # per-example values, for the standard errors
        for xb in x.split(batch_size):
            log_px, elbo = iw_log_px(model, xb, k, return_elbo=True)
            mu, logvar = model.encode(xb)  # (b, latent)
            kl_dims = 0.5 * (mu.square() + torch.expm1(logvar) - logvar)  # (b, latent), KL per dimension
            mean = model.mean(mu)  # (b, C, H, W)
            sums["iw"] += float(log_px.sum())
            sums["elbo"] += float(elbo.sum())
            per_iw.append(log_px.cpu())
            per_elbo.append(elbo.cpu())
            sums["recon"] += float((-elbo - kl_dims.double().sum(-1)).sum())  # −E_q log p(x|z) = −ELBO − KL
            sums["mse"] += float((mean - xb).square().flatten(1).mean(1).double().sum())
            mus.append(mu.double().cpu())
            kls.append(kl_dims.double().sum(0).cpu())
            if progress is not None:
                progress(len(xb))
    if was_training:
        model.train()
    n = x.shape[0]
    mu_all = torch.cat(mus)  # (N, latent)
    unit_var = mu_all.var(0, correction=0) if n > 1 else torch.zeros(mu_all.shape[1], dtype=torch.float64)
    kl_per_dim = (torch.stack(kls).sum(0) / n).tolist()
    return {
        "test_elbo": sums["elbo"] / n,
        "test_elbo_se": _standard_error(torch.cat(per_elbo)),
        "test_iw_nll": -sums["iw"] / n,
        "test_iw_nll_se": _standard_error(torch.cat(per_iw)),
        "iw_k": k,
        "test_recon_nll": sums["recon"] / n,
        "test_kl": sum(kl_per_dim),
        "test_recon_mse": sums["mse"] / n,
        "kl_per_dim": kl_per_dim,
        "active_units": int((unit_var > ACTIVE_UNIT_THRESHOLD).sum()),
        "active_unit_variance": unit_var.tolist(),
        "n_test": n,
    }
