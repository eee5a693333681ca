"""The one result type of a measure that was integrated or estimated rather than given in closed form.

A closed form comes back as a plain tensor. An answer from numerical quadrature, an exact or
truncated summation, or Monte Carlo comes back as a `MeasureResult`: a ``torch.Tensor`` of the
batch shape (so ``float()``, arithmetic, indexing, ``torch.as_tensor`` and ``.numpy()`` take it
as they take any tensor, and the result of arithmetic on it is a plain tensor) that also carries,
as attributes, how it was obtained and how far off it may be — the way SciPy's result objects
carry theirs:

==============  ===================================================================================
attribute       meaning
==============  ===================================================================================
``method``      "quadrature", "summation" or "monte carlo" (what the ``*_method`` functions say)
``error_bound`` quadrature: the integrator's estimate of the absolute error (QUADPACK's
                Gauss–Kronrod difference, summed over subintervals); summation: a bound on the
                truncated tail (0 for a finite support); a tensor of the batch shape, else None
``stderr``      Monte Carlo: the standard error of the estimate (batch shape), else None
``n``           Monte Carlo samples, quadrature subintervals or summed support points
==============  ===================================================================================

>>> import torch
>>> r = MeasureResult.wrap(torch.tensor([0.5, 1.0]), method="monte carlo", stderr=torch.tensor([0.01, 0.02]), n=100)
>>> float(r[0] * 2), r.method, type(r + 1).__name__
(1.0, 'monte carlo', 'Tensor')
"""

from __future__ import annotations

import torch

__all__ = ["MeasureResult"]


class MeasureResult(torch.Tensor):
    """A tensor (batch shape) with ``method``, ``error_bound``, ``stderr`` and ``n`` attributes.

    Build one with `MeasureResult.wrap`. Operations on it return plain tensors (the attributes
    describe this value only); autograd passes through it unchanged.

    See Also
    --------
    MCEstimate : a Monte Carlo value with its standard error.

    Notes
    -----
    For Monte Carlo, value ± 2·stderr covers the true value about 95% of the time; for
    quadrature, ``error_bound`` is QUADPACK's estimate of |value − integral|.

    References
    ----------
    Piessens et al., *QUADPACK* (1983); SciPy's result objects (``scipy.optimize.OptimizeResult``).

    Examples
    --------
    >>> r = MeasureResult.wrap(torch.tensor([0.5, 1.0]), method="quadrature", error_bound=torch.tensor([1e-9, 2e-9]))
    >>> r.method, tuple(r.error_bound.shape), type(r * 2).__name__
    ('quadrature', (2,), 'Tensor')
    """

    __torch_function__ = torch._C._disabled_torch_function_impl  # type: ignore[assignment]  # ops: plain tensors

    method: str
    error_bound: torch.Tensor | None
    stderr: torch.Tensor | None
    n: int | None

    @classmethod
    def wrap(cls, value, *, method: str, error_bound=None, stderr=None, n: int | None = None) -> MeasureResult:
        """`value` (a tensor, kept in the autograd graph) as a MeasureResult with these attributes.

        Parameters
        ----------
        value : array_like or torch.Tensor
            The value, batch shape.
        method : str
            ``"quadrature"``, ``"summation"`` or ``"monte carlo"``.
        error_bound : array_like or torch.Tensor, optional
            Quadrature's error estimate or summation's tail bound, broadcast to the value's shape.
        stderr : array_like or torch.Tensor, optional
            Monte Carlo's standard error, broadcast to the value's shape.
        n : int, optional
            Samples, subintervals or support points.

        Returns
        -------
        MeasureResult
            The value with the attributes.

        Examples
        --------
        >>> r = MeasureResult.wrap(0.25, method="summation", error_bound=0.0, n=10)
        >>> float(r), r.n, float(r.error_bound)
        (0.25, 10, 0.0)
        """
        value = torch.as_tensor(value)
        out = value.as_subclass(cls)
        out.method, out.n = method, n
        out.error_bound = None if error_bound is None else _like(error_bound, value)
        out.stderr = None if stderr is None else _like(stderr, value)
        return out

    @property
    def value(self) -> torch.Tensor:
        """The value as a plain tensor (as `MCEstimate.value`)."""
        return self.as_subclass(torch.Tensor)

    def scaled(self, factor: float) -> MeasureResult:
        r"""The value and its error attributes divided by `factor` (a change of logarithm base).

        Parameters
        ----------
        factor : float
            The divisor, e.g. log 2 for bits.

        Returns
        -------
        MeasureResult
            The scaled result, with the same method and n.

        Notes
        -----
        :math:`\mathrm{KL}_b = \mathrm{KL}_e / \log b`, and the same for its error.

        Examples
        --------
        >>> r = MeasureResult.wrap(torch.tensor(2.0), method="monte carlo", stderr=torch.tensor(0.25), n=100)
        >>> s = r.scaled(2.0)
        >>> float(s), float(s.stderr), s.method
        (1.0, 0.125, 'monte carlo')
        """
        plain = self.as_subclass(torch.Tensor)
        return MeasureResult.wrap(
            plain / factor,
            method=self.method,
            n=self.n,
            error_bound=None if self.error_bound is None else self.error_bound / factor,
            stderr=None if self.stderr is None else self.stderr / factor,
        )

    def __deepcopy__(self, memo):
        plain = self.as_subclass(torch.Tensor).detach().clone()
        return MeasureResult.wrap(plain, method=self.method, error_bound=self.error_bound, stderr=self.stderr, n=self.n)

    def __reduce_ex__(self, protocol):
        plain = self.as_subclass(torch.Tensor).detach()
        return (_rebuild, (plain, self.method, self.error_bound, self.stderr, self.n))

    def __repr__(self, *, tensor_contents=None) -> str:  # type: ignore[override]
        plain = self.as_subclass(torch.Tensor)
        extra = [f"method={self.method!r}"]
        if self.error_bound is not None:
            extra.append(f"error_bound={_short(self.error_bound)}")
        if self.stderr is not None:
            extra.append(f"stderr={_short(self.stderr)}")
        return f"MeasureResult({_short(plain)}, {', '.join(extra)})"


def _rebuild(value, method, error_bound, stderr, n):
    return MeasureResult.wrap(value, method=method, error_bound=error_bound, stderr=stderr, n=n)


def _like(x, value: torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=value.dtype, device=value.device).detach()
    return x.expand(value.shape).clone() if x.shape != value.shape else x


def _short(t: torch.Tensor) -> str:
    t = t.detach()
    return f"{float(t):.6g}" if t.numel() == 1 else f"tensor of shape {tuple(t.shape)}"
