"""What the Gaussian closed forms share: cancellation-free e^x − 1 − x, checks that name the input.

`klvae.gaussian` (univariate and diagonal normals), `klvae.mvn` (full and low-rank
covariances) and the Gaussian members of `klvae.divergences` read their arguments through
the checks here, so a bad argument gets the same message everywhere, and write their
variance terms with `ratio_term` / `expm1_minus_x`, which keep KL(p, p) = 0 exact and
KL ≥ 0 without cancellation.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "LOG_2PI_E",
    "expm1_minus_x",
    "series_expm1_minus_x",
    "ratio_term",
    "at_indices",
    "check_no_nan",
    "check_positive",
    "check_finite",
    "check_result",
    "broadcast_named",
    "div_fresh",
    "addsquare_fresh",
    "sum_over",
]

LOG_2PI_E = 1.0 + math.log(2.0 * math.pi)
# Below |x| = SERIES_AT, e^x - 1 - x is summed as a series (x²/2! + x³/3! + ... + x⁷/7!,
# truncation < 1e-17 relative); above it, expm1(x) - x or q - 1 - log q lose at most a
# few ulps / |x|, i.e. < 1e-13 relative. A small threshold keeps the series' subset small.
SERIES_AT = 0.01
SERIES = [1.0 / math.factorial(k) for k in range(2, 8)]


# ---------------------------------------------------------------------------------
# e^x - 1 - x without cancellation: the variance part of every Gaussian KL.
# ---------------------------------------------------------------------------------


def series_expm1_minus_x(x: torch.Tensor) -> torch.Tensor:
    """e^x - 1 - x = x² Σₖ xᵏ/(k+2)!, for |x| ≤ SERIES_AT (Horner)."""
    p = torch.full_like(x, SERIES[-1])
    for c in reversed(SERIES[:-1]):
        p = torch.addcmul(x.new_tensor(c), p, x)  # c + p·x
    return x * x * p


def expm1_minus_x(x: torch.Tensor) -> torch.Tensor:
    """e^x - 1 - x ≥ 0 to a few ulps for every x (small tensors: evaluates both branches)."""
    small = x.abs() < SERIES_AT
    x_small = torch.where(small, x, torch.zeros_like(x))  # keeps the unused branch finite
    x_large = torch.where(small, torch.ones_like(x), x)
    return torch.where(small, series_expm1_minus_x(x_small), torch.expm1(x_large) - x_large)


def ratio_term(a: torch.Tensor, b: torch.Tensor, power: int) -> torch.Tensor:
    """q - 1 - log q with q = (a/b)**power, i.e. e^x - 1 - x with x = power·log(a/b).

    One logarithm per element (the cost that dominates large diagonal batches). Its
    relative error is a few ulps divided by |x|, so the elements with |x| ≲ SERIES_AT are
    recomputed from log1p((a - b)/b), where a - b is exact, and the series.
    """
    if a.dim() == 0 and b.dim() == 0:
        return ratio_term(a[None], b[None], power)[0]
    r = a / b
    log_r = torch.log(r)  # not log q: (a/b)² underflows to 0 for a/b < 1e-154
    # q - 1 to a few ulps of itself: u = r - 1 is exact near r = 1 (r·r - 1 would not be),
    # r² - 1 = u (u + 2). In-place steps on fresh tensors save allocations; autograd
    # handles them.
    u = r - 1.0
    q_minus_1 = torch.add(u, 2.0).mul_(u) if power == 2 else u
    out = q_minus_1.sub_(log_r, alpha=power)
    near = (out.detach() < SERIES_AT**2 / 2).nonzero(as_tuple=True)  # |x| ≲ SERIES_AT
    if near[0].numel():
        a_near, b_near = a.expand_as(r)[near], b.expand_as(r)[near]
        x = power * torch.log1p((a_near - b_near) / b_near)
        out.index_put_(near, series_expm1_minus_x(x))
    return out


# ---------------------------------------------------------------------------------
# Validation: messages name the argument and the (batch) index at fault.
# ---------------------------------------------------------------------------------


def at_indices(mask: torch.Tensor, what: str = "index") -> str:
    """' at index (i, j)' naming the failing positions of a boolean mask (first four)."""
    if mask.dim() == 0:
        return ""
    bad = [tuple(i) for i in mask.nonzero().tolist()]
    label = what if len(bad) == 1 else what.replace("index", "indices")
    shown = ", ".join(str(i) for i in bad[:4])
    more = f" and {len(bad) - 4} more" if len(bad) > 4 else ""
    return f" at {label} {shown}{more}"


def check_no_nan(name: str, t: torch.Tensor) -> None:
    nan = torch.isnan(t.detach())
    if nan.any():
        raise ValueError(f"{name} contains NaN{at_indices(nan)}")


def check_positive(name: str, t: torch.Tensor) -> None:
    """Positive and finite (NaN fails too); one read-only pass when the data are fine."""
    t = t.detach()
    if t.numel() == 0:
        return
    lo, hi = torch.aminmax(t)
    if lo > 0 and hi < math.inf:
        return
    check_no_nan(name, t)
    bad = t <= 0
    if bad.any():
        raise ValueError(f"{name} must be positive, got {t[bad][0].item():g}{at_indices(bad)}")
    raise ValueError(f"{name} must be finite, got inf{at_indices(torch.isinf(t))}")


def check_result(result: torch.Tensor, inputs: dict[str, torch.Tensor]) -> None:
    """A NaN result means a NaN (or inf - inf) input: say which one."""
    if not torch.isnan(result.detach()).any():
        return
    for name, t in inputs.items():
        check_no_nan(name, t)
    names = ", ".join(inputs)
    raise ValueError(f"the result is NaN: infinite values among {names} cancel (inf - inf)")


def broadcast_named(shapes: dict[str, tuple[int, ...]], what: str = "shapes") -> torch.Size:
    try:
        return torch.broadcast_shapes(*shapes.values())
    except RuntimeError:
        listed = ", ".join(f"{n} {tuple(s)}" for n, s in shapes.items())
        raise ValueError(f"{what} do not broadcast: {listed}") from None


def div_fresh(fresh: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """fresh / other, in place when `fresh` (a temporary) already has the result's shape."""
    if fresh.shape == torch.broadcast_shapes(fresh.shape, other.shape):
        return fresh.div_(other)
    return fresh / other


def addsquare_fresh(fresh: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """fresh + z², in place when `fresh` (a temporary) already has the result's shape."""
    if fresh.shape == torch.broadcast_shapes(fresh.shape, z.shape):
        return fresh.addcmul_(z, z)
    return torch.addcmul(fresh, z, z)


def sum_over(t: torch.Tensor, axis) -> torch.Tensor:
    return t if axis is None else t.sum(axis)


def check_finite(name: str, t: torch.Tensor) -> None:
    """No NaN and no ±inf in `t`, else ValueError naming `name` and the first indices."""
    t = t.detach()
    bad = ~torch.isfinite(t)
    if bad.any():
        check_no_nan(name, t)
        raise ValueError(f"{name} must be finite, got {t[bad][0].item():g}{at_indices(bad)}")
