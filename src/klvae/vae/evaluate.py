"""Honest evaluation of a trained VAE on held-out data, in nats per example.

- test ELBO with β = 1 (a lower bound on log p(x));
- each mean over examples with its standard error s/√N (s the examples' standard deviation):
  how far another draw of N test images would move it, so two models can be compared;
- the importance-weighted estimate of −log p(x) with k samples (Burda et al. 2016, "Importance
  Weighted Autoencoders", eq. 8): −log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x);
  it is an upper bound on −log p(x) in expectation, tightening as k grows;
- KL per latent dimension (closed form, one layer with the N(0, I) prior) and active units
  (Var_x E_q[z_u] > 0.01, Burda et al. 2016, §5.2; for two layers, counted in each);
- the KL split in index-code MI, total correlation and dimension-wise KL (`klvae.vae.tc`);
- reconstruction error: −E_q log p(x|z) and the MSE of E[x|z=μ].

Every model goes through its `log_weights`, so the VAE, the VampPrior, two stochastic layers
and the conditional VAE (which estimates −log p(x | y)) are measured by the same code.
"""

from __future__ import annotations

import math

import torch

from klvae.measures.gaussian import kl_std_normal
from klvae.vae.tc import kl_split

__all__ = ["iw_log_px", "evaluate_vae", "evaluate_vae_per_image", "paired_difference", "ACTIVE_UNIT_THRESHOLD"]

ACTIVE_UNIT_THRESHOLD = 0.01
_MAX_ELEMENTS = 1 << 22  # decoder outputs per chunk (≈16 MB in float32): bounds memory for any k


def _chunk(k: int, batch: int, n_pixels: int) -> int:
    return max(1, min(k, _MAX_ELEMENTS // max(1, batch * n_pixels)))


@torch.no_grad()
def iw_terms(model, x: torch.Tensor, k: int = 1000, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-example estimates from k draws z_i ~ q(z|x), in nats, each (B,) float64:

    - "log_px": log (1/k) Σ_i w_i, log w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x);
    - "recon": −(1/k) Σ_i log p(x|z_i);
    - "kl": KL(q(z|x) ‖ p(z)), closed-form where the model has it, else (1/k) Σ_i log q(z_i|x) − log p(z_i);
    - "elbo": −(recon + kl).

    The log-mean-exp runs in float64 over chunks of samples, so memory stays bounded for any k.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    b = x.shape[0]
    components = model.prior_components()  # the VampPrior's, once for all chunks
    lse = torch.full((b,), -math.inf, dtype=torch.float64, device=x.device)  # (B,)
    recon_sum = torch.zeros(b, dtype=torch.float64, device=x.device)  # (B,)
    kl_sum = torch.zeros(b, dtype=torch.float64, device=x.device)  # (B,)
    chunk = _chunk(k, b, model.config.n_pixels)
    done = 0
    while done < k:
        n = min(chunk, k - done)
        draw = model.log_weights(x, y, n, components=components)  # (n, B) terms
        lse = torch.logaddexp(lse, torch.logsumexp(draw.log_w().double(), dim=0))
        recon_sum += draw.log_px_z.double().sum(0)
        kl_sum += (draw.log_qz - draw.log_pz).double().sum(0)
        done += n
    kl = kl_std_normal(draw.mu, draw.logvar).double() if model.analytic_kl else kl_sum / k
    recon = -recon_sum / k
    return {"log_px": lse - math.log(k), "recon": recon, "kl": kl, "elbo": -(recon + kl)}


@torch.no_grad()
def iw_log_px(model, x: torch.Tensor, k: int = 1000, *, y: torch.Tensor | None = None, return_elbo: bool = False):
    r"""Importance-weighted estimate of log p(x) in nats, one per example.

    Parameters
    ----------
    model : VAE or TwoLayerVAE
        The model.
    x : torch.Tensor
        Images, (B, C, H, W).
    k : int, default 1000
        Importance samples per example.
    y : torch.Tensor, optional
        Labels (B,) of a conditional model: then log p(x | y).
    return_elbo : bool, default False
        Also return the ELBO estimate from the same draws.

    Returns
    -------
    log_px : torch.Tensor
        (B,) float64.
    elbo : torch.Tensor
        (B,) float64, (1/k) Σ_i log p(x|z_i) − KL(q ‖ p) (the KL closed-form where the model has
        it); only with `return_elbo`.

    Raises
    ------
    ValueError
        If `k` is below 1.

    See Also
    --------
    evaluate_vae : every test metric, with standard errors.

    Notes
    -----
    .. math::

        \log \hat p(x) = \log \frac1k \sum_{i=1}^k w_i,\qquad
        \log w_i = \log p(x|z_i) + \log p(z_i) - \log q(z_i|x),\quad z_i \sim q(z|x),

    a lower bound on log p(x) in expectation, tightening as k grows. The log-mean-exp runs in
    float64 over chunks of samples, so memory stays bounded for any k.

    References
    ----------
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (2016), eq. 8.

    Examples
    --------
    >>> from klvae.vae import VAE, VAEConfig
    >>> _ = torch.manual_seed(0)
    >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
    >>> x = torch.rand(3, 1, 4, 4).bernoulli()
    >>> log_px, elbo = iw_log_px(model, x, k=50, return_elbo=True)
    >>> tuple(log_px.shape), bool((log_px >= elbo).all())  # log-mean-exp ≥ mean of logs
    ((3,), True)
    """
    terms = iw_terms(model, x, k, y)
    return (terms["log_px"], terms["elbo"]) if return_elbo else terms["log_px"]


def _standard_error(values: torch.Tensor) -> float | None:
    """s/√N of a mean over N examples (s with N − 1 in its denominator); None for one example."""
    n = values.numel()
    return float(values.double().std(correction=1) / math.sqrt(n)) if n > 1 else None


@torch.no_grad()
def evaluate_vae(
    model,
    x: torch.Tensor,
    *,
    y: torch.Tensor | None = None,
    k: int = 1000,
    batch_size: int = 100,
    seed: int = 0,
    progress=None,
) -> dict:
    r"""Test-set metrics of `model`, nats per example.

    Parameters
    ----------
    model : VAE or TwoLayerVAE
        The trained model (put in eval mode for the call, then back).
    x : torch.Tensor
        Test images, (N, C, H, W).
    y : torch.Tensor, optional
        Labels (N,) of a conditional model (which then estimates −log p(x | y)).
    k : int, default 1000
        Importance samples per example.
    batch_size : int, default 100
        Examples per forward pass.
    seed : int, default 0
        Seeds the draws, inside a forked RNG: the caller's random stream is left unchanged.
    progress : callable, optional
        Called with the number of examples of each batch done (e.g. a tqdm bar's ``update``).

    Returns
    -------
    dict
        JSON-ready: ``test_elbo`` and ``test_iw_nll`` each with its standard error (``_se``),
        ``test_recon_nll``, ``test_kl``, ``test_recon_mse``, ``kl_per_dim``, ``active_units``,
        the KL split (``index_code_mi``, ``total_correlation``, ``dimwise_kl``), ``n_test`` and
        more (the module docstring).

    Raises
    ------
    ValueError
        If `k` is below 1.

    See Also
    --------
    evaluate_vae_per_image : the same, with the per-example values.
    iw_log_px : the importance-weighted estimate alone.

    Notes
    -----
    Each mean over N examples comes with its standard error :math:`s/\sqrt N`. The test ELBO
    uses β = 1; −log p(x) is :math:`-\log \frac1k \sum_i w_i`; a unit u is active when
    :math:`\operatorname{Var}_x \mathbb E_{q(z|x)}[z_u] > 0.01`.

    References
    ----------
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (2016), eq. 8 and §5.2.

    Examples
    --------
    >>> from klvae.vae import VAE, VAEConfig
    >>> _ = torch.manual_seed(0)
    >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
    >>> m = evaluate_vae(model, torch.rand(20, 1, 4, 4).bernoulli(), k=10)
    >>> m["n_test"], m["test_iw_nll"] <= -m["test_elbo"]
    (20, True)
    """
    return evaluate_vae_per_image(model, x, y=y, k=k, batch_size=batch_size, seed=seed, progress=progress)[0]


@torch.no_grad()
def evaluate_vae_per_image(
    model,
    x: torch.Tensor,
    *,
    y: torch.Tensor | None = None,
    k: int = 1000,
    batch_size: int = 100,
    seed: int = 0,
    progress=None,
) -> tuple[dict, dict[str, torch.Tensor]]:
    r"""`evaluate_vae`'s metrics and the values they average, one per example.

    Parameters
    ----------
    model : VAE or TwoLayerVAE
        The trained model (put in eval mode for the call, then back).
    x : torch.Tensor
        Test images, (N, C, H, W).
    y : torch.Tensor, optional
        Labels (N,) of a conditional model (which then estimates −log p(x | y)).
    k : int, default 1000
        Importance samples per example.
    batch_size : int, default 100
        Examples per forward pass.
    seed : int, default 0
        Seeds the draws, inside a forked RNG: the caller's random stream is left unchanged.
    progress : callable, optional
        Called with the number of examples of each batch done (e.g. a tqdm bar's ``update``).

    Returns
    -------
    metrics : dict
        `evaluate_vae`'s metrics (the same draws for the same seed).
    per_image : dict of str to torch.Tensor
        ``"log_px"`` and ``"elbo"``, (N,) float64 each, in x's order: for paired comparisons of
        two models on the same examples (`paired_difference`).

    Raises
    ------
    ValueError
        If `k` is below 1.

    See Also
    --------
    paired_difference : the mean difference of two models and its standard error.

    Notes
    -----
    ``metrics["test_iw_nll"]`` is :math:`-\frac1N \sum_n \log \hat p(x_n)` of ``per_image["log_px"]``.

    References
    ----------
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders" (2016), eq. 8.

    Examples
    --------
    >>> from klvae.vae import VAE, VAEConfig
    >>> _ = torch.manual_seed(0)
    >>> model = VAE(VAEConfig(hidden=(16,), latent_dim=2, image_shape=(1, 4, 4)))
    >>> metrics, per = evaluate_vae_per_image(model, torch.rand(20, 1, 4, 4).bernoulli(), k=10)
    >>> abs(metrics["test_iw_nll"] + float(per["log_px"].mean())) < 1e-12
    True
    """
    was_training = model.training
    model.eval()
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        per: dict[str, list[torch.Tensor]] = {"log_px": [], "elbo": [], "recon": [], "kl": []}
        means: list[list[torch.Tensor]] = []  # per batch, each layer's posterior means
        kls, mse = [], 0.0
        for i, xb in _batches(x, batch_size):
            yb = None if y is None else y[i : i + len(xb)]
            for key, value in iw_terms(model, xb, k, yb).items():
                per[key].append(value.cpu())
            layers = model.layer_means(xb, yb)  # [(b, latent), …]
            means.append([m.double().cpu() for m in layers])
            if model.analytic_kl:
                mu, logvar = model.encode(xb, yb)
                kls.append((0.5 * (mu.square() + torch.expm1(logvar) - logvar)).double().sum(0).cpu())  # KL per dim
            mse += float((model.mean(layers[0], yb) - xb).square().flatten(1).mean(1).double().sum())
            if progress is not None:
                progress(len(xb))
        split = kl_split(model, x, y, seed=seed)
    if was_training:
        model.train()
    n = x.shape[0]
    values = {key: torch.cat(v) for key, v in per.items()}
    variances = [_unit_variance(torch.cat([m[j] for m in means])) for j in range(len(means[0]))]
    active = [int((v > ACTIVE_UNIT_THRESHOLD).sum()) for v in variances]
    kl_per_dim = (torch.stack(kls).sum(0) / n).tolist() if kls else None
    metrics = {
        "test_elbo": float(values["elbo"].mean()),
        "test_elbo_se": _standard_error(values["elbo"]),
        "test_iw_nll": -float(values["log_px"].mean()),
        "test_iw_nll_se": _standard_error(values["log_px"]),
        "iw_k": k,
        "test_recon_nll": float(values["recon"].mean()),
        "test_kl": float(values["kl"].mean()),
        "kl_estimate": "closed form" if model.analytic_kl else f"Monte Carlo, {k} draws per image",
        "test_recon_mse": mse / n,
        "latent_dim": [int(v.numel()) for v in variances][0],
        "kl_per_dim": kl_per_dim,
        "index_code_mi": split["index_code_mi"],
        "total_correlation": split["total_correlation"],
        "dimwise_kl": split["dimwise_kl"],
        "active_units": sum(active),
        "active_units_per_layer": active,
        "latent_sizes": [int(v.numel()) for v in variances],
        "active_unit_variance": variances[0].tolist(),
        "n_test": n,
    }
    return metrics, {"log_px": values["log_px"], "elbo": values["elbo"]}


def paired_difference(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float | None]:
    r"""mean(a − b) and its standard error, for two models' values on the same examples.

    Far tighter than either mean's own standard error when the examples' difficulty, shared by
    both models, dominates the spread.

    Parameters
    ----------
    a, b : torch.Tensor
        Per-example values of two models, 1-D, of one length (e.g. ``per_image["log_px"]`` of
        `evaluate_vae_per_image`).

    Returns
    -------
    mean : float
        The mean difference.
    se : float or None
        Its standard error; None for one example.

    Raises
    ------
    ValueError
        If `a` and `b` are not two 1-D tensors of one length.

    Notes
    -----
    With :math:`d_n = a_n - b_n`, :math:`\bar d \pm s_d / \sqrt N`, :math:`s_d` the sample
    standard deviation (N − 1 in its denominator).

    References
    ----------
    Student, "The Probable Error of a Mean", Biometrika 6 (1908) (the paired comparison).

    Examples
    --------
    >>> a = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    >>> paired_difference(a, torch.tensor([0.5, 1.0, 2.5], dtype=torch.float64))
    (0.6666666666666666, 0.16666666666666666)
    """
    if a.shape != b.shape or a.dim() != 1:
        shapes = f"{tuple(a.shape)} and {tuple(b.shape)}"
        raise ValueError(f"paired values must be two 1-D tensors of one length, got {shapes}")
    diff = a.double() - b.double()
    return float(diff.mean()), _standard_error(diff)


def _unit_variance(mu: torch.Tensor) -> torch.Tensor:
    """Var over examples of each unit's posterior mean (N, d) → (d,); zeros for one example."""
    return mu.var(0, correction=0) if mu.shape[0] > 1 else torch.zeros(mu.shape[1], dtype=torch.float64)


def _batches(x: torch.Tensor, size: int):
    for i in range(0, len(x), size):
        yield i, x[i : i + size]
