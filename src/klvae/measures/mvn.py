"""Closed-form KL divergence and entropy of multivariate normals: full, precision, diagonal, low-rank.

All results are in nats. Inputs are torch tensors (any device, autograd kept), NumPy
arrays or lists; NumPy or lists in give NumPy out. Leading dimensions are batch
dimensions and broadcast against each other.

Full covariances go through Cholesky factors and triangular solves only: with
Σ = L Lᵀ, log det Σ = 2 Σᵢ log Lᵢᵢ and Σ₂⁻¹Σ₁ is never formed. For d = 1000 the textbook
formula (inverse and determinants) returns NaN because det Σ underflows or overflows;
the forms here stay accurate. Low-rank-plus-diagonal covariances Σ = W Wᵀ + D go through
the Woodbury identity and the matrix determinant lemma in O(d r²), without a d × d
factorization (`klvae.measures.lowrank`).

Reference: Murphy, *Machine Learning: A Probabilistic Perspective* (2012), §2.8.2.
"""

from __future__ import annotations

from typing import Any

import torch

from klvae.measures._checks import at_indices, broadcast_named, check_positive, check_result
from klvae.measures._kernels import LOG_2PI_E, expm1_minus_x, log_ratio, ratio_term
from klvae.measures._linalg import relative_factor
from klvae.measures.arrays import from_tensor, is_torch, to_tensors
from klvae.measures.lowrank import kl_lowrank_mvn

__all__ = ["kl_mvn", "entropy_mvn"]  # the factor helpers below are shared with klvae.measures.gaussian_divergences

# ---------------------------------------------------------------------------------
# Multivariate normals: each side becomes a triangular "factor"
#   ("L", L): Σ = L Lᵀ, L lower with positive diagonal   (cov, scale_tril)
#   ("W", W): Σ⁻¹ = Wᵀ W, W = L⁻¹ lower                   (precision)
#   ("D", v): Σ = diag(v)                                 (var)
# ---------------------------------------------------------------------------------

FORMS = ("cov", "scale_tril", "precision", "var")


def pick_form(side: str, given: dict[str, object]):
    named = [(f"{form}{side}", v) for form, v in given.items() if v is not None]
    if len(named) != 1:
        options = ", ".join(f"{f}{side}" for f in FORMS)
        got = ", ".join(n for n, _ in named) or "none"
        raise TypeError(f"give exactly one of {options} (got {got})")
    return named[0]


def check_matrix_shape(name: str, t: torch.Tensor) -> None:
    if t.dim() < 2 or t.shape[-1] != t.shape[-2]:
        raise ValueError(f"{name} must be a (..., d, d) matrix, got shape {tuple(t.shape)}")


def check_symmetric(name: str, a: torch.Tensor) -> None:
    a = a.detach()
    lo, hi = torch.aminmax(a - a.mT, dim=-1)
    asym = torch.maximum(hi.amax(-1), -lo.amin(-1))  # max |A - Aᵀ| per matrix
    scale = a.diagonal(dim1=-2, dim2=-1).abs().amax(-1)  # bounds |A_ij| when A is SPD
    bad = asym > scale * torch.finfo(a.dtype).eps ** 0.5
    if bad.any():
        raise ValueError(f"{name} is not symmetric{at_indices(bad, 'batch index')}")


def cholesky(name: str, a: torch.Tensor) -> torch.Tensor:
    factor, info = torch.linalg.cholesky_ex(a)
    bad = info != 0
    if bad.any():
        raise ValueError(f"{name} is not positive definite{at_indices(bad, 'batch index')}")
    return factor


def factor(name: str, form: str, t: torch.Tensor, validate: bool) -> tuple[str, torch.Tensor]:
    """One side as ("L", L), ("W", W) or ("D", v); see the table above."""
    if form == "var":
        if t.dim() < 1:
            raise ValueError(f"{name} must have an event dimension, got shape ()")
        if validate:
            check_positive(name, t)
        return "D", t
    check_matrix_shape(name, t)
    if validate:
        nan = torch.isnan(t.detach()).flatten(-2).any(-1)
        if nan.any():
            raise ValueError(f"{name} contains NaN{at_indices(nan, 'batch index')}")
    if form == "scale_tril":
        if validate:
            if t.detach().triu(1).any():
                upper = t.detach().triu(1).flatten(-2).any(-1)
                raise ValueError(f"{name} is not lower triangular{at_indices(upper, 'batch index')}")
            diag = t.detach().diagonal(dim1=-2, dim2=-1)
            if not (diag > 0).all():
                bad = (diag <= 0).any(-1)
                raise ValueError(f"{name} must have a positive diagonal{at_indices(bad, 'batch index')}")
        return "L", t
    if validate:
        check_symmetric(name, t)
    if form == "cov":
        return "L", cholesky(name, t)
    # precision P: Cholesky of the reversed matrix gives P = U Uᵀ with U upper, so
    # Σ = U⁻ᵀ U⁻¹ and the lower Cholesky factor of Σ has the inverse W = Uᵀ.
    reversed_factor = cholesky(name, t.flip(-2, -1))
    return "W", reversed_factor.flip(-2, -1).mT


def log_diag(kind: str, f: torch.Tensor) -> torch.Tensor:
    """log Lᵢᵢ (…, d): ½ log det Σ = Σᵢ log Lᵢᵢ."""
    if kind == "D":
        return 0.5 * torch.log(f)
    log_d = torch.log(f.diagonal(dim1=-2, dim2=-1))
    return -log_d if kind == "W" else log_d


def log_diag_ratio(side1, side2) -> torch.Tensor:
    """log(L₁ᵢᵢ / L₂ᵢᵢ) (…, d), from log1p of the exact difference when the two are close."""
    l1, l2 = (f.sqrt() if k == "D" else f.diagonal(dim1=-2, dim2=-1) for k, f in (side1, side2))
    l1, l2 = (1.0 / l if k == "W" else l for l, (k, _) in zip((l1, l2), (side1, side2)))
    return log_ratio(l1, l2)


def kl_mvn(
    mu1,
    cov1=None,
    mu2=None,
    cov2=None,
    *,
    scale_tril1=None,
    scale_tril2=None,
    precision1=None,
    precision2=None,
    var1=None,
    var2=None,
    cov_factor1=None,
    cov_diag1=None,
    cov_factor2=None,
    cov_diag2=None,
    validate: bool = True,
):
    r"""KL(N(μ₁, Σ₁) ‖ N(μ₂, Σ₂)) in nats for d-dimensional normals, batched.

    Each Σ is given in exactly one form per side. Two low-rank sides cost O(d r²)
    (`kl_lowrank_mvn`), one low-rank side is formed as a matrix; both ``var``: O(d); otherwise
    O(d³) per batch element.

    Parameters
    ----------
    mu1 : array_like or torch.Tensor
        Mean of the first distribution, (…, d).
    cov1 : array_like or torch.Tensor, optional
        Its covariance Σ₁, (…, d, d).
    mu2 : array_like or torch.Tensor
        Mean of the second, (…, d); required.
    cov2 : array_like or torch.Tensor, optional
        Its covariance Σ₂.
    scale_tril1, scale_tril2 : array_like or torch.Tensor, optional
        Lower Cholesky factors L (Σ = L Lᵀ), instead of the covariance.
    precision1, precision2 : array_like or torch.Tensor, optional
        Σ⁻¹, instead of the covariance.
    var1, var2 : array_like or torch.Tensor, optional
        The diagonal (…, d) of a diagonal Σ.
    cov_factor1, cov_factor2 : array_like or torch.Tensor, optional
        W (…, d, r) of Σ = W Wᵀ + diag(D), with `cov_diag1` / `cov_diag2`.
    cov_diag1, cov_diag2 : array_like or torch.Tensor, optional
        D (…, d), positive, with the factor.
    validate : bool, default True
        Check for NaN, symmetry (``cov``, ``precision``; tolerance √eps of the largest diagonal
        entry), lower-triangular with positive diagonal (``scale_tril``), positive variances.
        Positive definiteness is always checked.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The broadcast batch shape (…); batch dimensions broadcast across all arguments.

    Raises
    ------
    ValueError
        Naming the argument (and the batch index for matrices that are not symmetric or not
        positive definite), or on shapes that do not match.
    TypeError
        Without `mu2`, or not exactly one covariance form per side.

    See Also
    --------
    kl_normal : univariate and diagonal.
    entropy_mvn : the entropy.

    Notes
    -----
    .. math::

        \mathrm{KL} = \tfrac12 \big[\operatorname{tr}(\Sigma_2^{-1}\Sigma_1)
        + (\mu_2 - \mu_1)^\top \Sigma_2^{-1} (\mu_2 - \mu_1) - d + \log\det\Sigma_2 - \log\det\Sigma_1\big].

    With L₁, L₂ the Cholesky factors and M = L₂⁻¹L₁ (a triangular solve) it is the sum of
    non-negative terms

    .. math::

        \mathrm{KL} = \tfrac12 \sum_i (M_{ii}^2 - 1 - 2\log M_{ii}) + \tfrac12 \sum_{i>j} M_{ij}^2
        + \tfrac12 \lVert L_2^{-1}(\mu_2 - \mu_1)\rVert^2,

    the first evaluated as :math:`e^x - 1 - x`, x = 2 log Mᵢᵢ, without cancellation: no inverse
    and no determinant is formed, so d = 1000 is as accurate as d = 2. KL(p, p) is exactly 0 when
    both sides are given in the same form with equal values.

    References
    ----------
    Murphy, *Machine Learning: A Probabilistic Perspective* (2012), §2.8.2; torch.distributions.kl
    for the Cholesky form.

    Examples
    --------
    >>> import numpy as np
    >>> mu, cov = np.zeros(2), np.eye(2)
    >>> round(float(kl_mvn(mu, cov, mu + 1, 2 * cov)), 12)  # ½ [2/2 + 2/2 − 2 + 2 log 2]
    0.69314718056
    >>> round(float(kl_mvn(mu, None, mu + 1, var1=[1.0, 1.0], var2=[2.0, 2.0])), 12)
    0.69314718056
    """
    if mu2 is None:
        raise TypeError("kl_mvn() missing the mean mu2")
    low1, low2 = (
        _low_rank(side, w, dg) for side, w, dg in (("1", cov_factor1, cov_diag1), ("2", cov_factor2, cov_diag2))
    )
    if low1 is not None and low2 is not None:
        if any(a is not None for a in (cov1, scale_tril1, precision1, var1, cov2, scale_tril2, precision2, var2)):
            raise TypeError("give exactly one covariance form per side (got cov_factor/cov_diag and another)")
        return kl_lowrank_mvn(mu1, *low1, mu2, *low2, validate=validate)
    if low1 is not None:
        cov1 = _dense(low1, mu1, mu2, cov2, scale_tril2, precision2, var2)
    if low2 is not None:
        cov2 = _dense(low2, mu1, mu2, cov1, scale_tril1, precision1, var1)
    form1, a1 = pick_form("1", dict(zip(FORMS, (cov1, scale_tril1, precision1, var1))))
    form2, a2 = pick_form("2", dict(zip(FORMS, (cov2, scale_tril2, precision2, var2))))
    names = ("mu1", form1, "mu2", form2)
    torch_out = is_torch(mu1, a1, mu2, a2)
    mu1, a1, mu2, a2 = ts = to_tensors(mu1, a1, mu2, a2, names=names)
    for name, mu in (("mu1", mu1), ("mu2", mu2)):
        if mu.dim() < 1:
            raise ValueError(f"{name} must have an event dimension (…, d), got shape ()")
    side1 = factor(form1, form1[:-1], a1, validate)  # "cov1" -> form "cov"
    side2 = factor(form2, form2[:-1], a2, validate)
    batch = event_and_batch(names, ts, side1, side2)
    delta = mu2 - mu1  # (…, d)
    if side1[0] == "D" and side2[0] == "D":
        v1, v2 = side1[1], side2[1]
        per_dim = torch.addcmul(ratio_term(v1, v2, 1), delta, delta / v2)  # (…, d)
        out = 0.5 * per_dim.sum(-1)
    else:
        # an infinite mean difference makes the KL +inf, as on the diagonal path; the
        # triangular solve would turn it into inf − inf
        far = torch.isinf(delta.detach()).any(-1)  # (…,)
        if bool(far.any()):
            delta = torch.where(torch.isinf(delta.detach()), 0.0, delta)
        m, z = relative_factor(side1, side2, delta)  # (…, d, d); L₂⁻¹(μ₂ − μ₁) (…, d)
        x = 2.0 * log_diag_ratio(side1, side2)  # x = 2 log Mᵢᵢ (…, d)
        below = torch.ones(m.shape[-2:], dtype=m.dtype, device=m.device).tril_(-1)
        off = torch.einsum("...ij,...ij,ij->...", m, m, below)  # Σ_{i>j} Mᵢⱼ², one pass
        out = 0.5 * (expm1_minus_x(x).sum(-1) + off + z.square().sum(-1))
        if bool(far.any()):
            out = torch.where(far, torch.inf, out)
    out = out.expand(batch).contiguous()  # a no-op unless every term broadcast
    if validate:
        check_result(out, {"mu1": mu1, "mu2": mu2})
    return from_tensor(out, torch_out)


def _low_rank(side: str, w, dg) -> tuple[Any, Any] | None:
    """(W, D) of a low-rank side, None when neither is given; TypeError for one alone."""
    if w is None and dg is None:
        return None
    if w is None or dg is None:
        raise TypeError(f"cov_factor{side} and cov_diag{side} go together (Σ = W Wᵀ + diag(D))")
    return w, dg


def _dense(low, *others):
    """W Wᵀ + diag(D) as a tensor (torch if any argument is), for a side paired with a dense one."""
    w, dg = to_tensors(*low, names=("cov_factor", "cov_diag"))
    cov = w @ w.mT + torch.diag_embed(dg)
    return cov if is_torch(*low, *others) else cov.numpy()


def event_and_batch(names, ts, side1, side2) -> torch.Size:
    """Check that event sizes agree and batch shapes broadcast; return the batch shape."""
    mu1, _, mu2, _ = ts
    shapes = dict(zip(names, (t.shape for t in ts)))
    d = {mu1.shape[-1], mu2.shape[-1], side1[1].shape[-1], side2[1].shape[-1]}
    if len(d) != 1:
        listed = ", ".join(f"{n} {tuple(s)}" for n, s in shapes.items())
        raise ValueError(f"event sizes do not match: {listed}")
    batch = {n: s[:-1] if n.startswith(("mu", "var")) else s[:-2] for n, s in shapes.items()}
    return broadcast_named(batch, "batch shapes")


def entropy_mvn(cov=None, *, scale_tril=None, precision=None, var=None, validate: bool = True):
    r"""Differential entropy of N(μ, Σ) in nats, batched over leading dimensions.

    Give exactly one of `cov`, `scale_tril`, `precision` or `var`, as in `kl_mvn`.

    Parameters
    ----------
    cov : array_like or torch.Tensor, optional
        Σ, (…, d, d).
    scale_tril : array_like or torch.Tensor, optional
        Its lower Cholesky factor L.
    precision : array_like or torch.Tensor, optional
        Σ⁻¹.
    var : array_like or torch.Tensor, optional
        The diagonal of a diagonal Σ, (…, d).
    validate : bool, default True
        The checks of `kl_mvn`.

    Returns
    -------
    numpy.ndarray or torch.Tensor
        The batch shape (…).

    Raises
    ------
    TypeError
        Unless exactly one form is given.
    ValueError
        As `kl_mvn`, naming the argument.

    See Also
    --------
    entropy_normal : univariate.

    Notes
    -----
    With L the Cholesky factor of Σ (no determinant is formed):

    .. math::

        H = \tfrac12 d (1 + \log 2\pi) + \tfrac12 \log\det\Sigma = \tfrac12 d (1 + \log 2\pi) + \sum_i \log L_{ii}.

    References
    ----------
    Cover & Thomas, *Elements of Information Theory* (2006), theorem 8.4.1.

    Examples
    --------
    >>> import numpy as np
    >>> bool(np.isclose(entropy_mvn(np.eye(3) * 4.0), 1.5 * np.log(2 * np.pi * np.e * 4.0)))
    True
    """
    form, a = pick_form("", dict(zip(FORMS, (cov, scale_tril, precision, var))))
    torch_out = is_torch(a)
    (a,) = to_tensors(a, names=(form,))
    kind, f = factor(form, form, a, validate)
    d = f.shape[-1]
    return from_tensor(0.5 * d * LOG_2PI_E + log_diag(kind, f).sum(-1), torch_out)
