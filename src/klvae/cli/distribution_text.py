"""Distributions given on the command line as text: `Beta(2, 3)`, `Normal(loc=0, scale=[1, 2])`.

The text is read by Python's parser into a syntax tree and only this is accepted: one call of a
`torch.distributions` class from `FAMILIES`, whose arguments are numbers, lists of numbers
(nested for matrices), `True`/`False`, or one nested call for `Independent(Normal(...), 1)` and
`MixtureSameFamily(Categorical(...), Normal(...))`. Nothing is evaluated: a name that is not a
family, an attribute, an operator other than a sign, or any other expression is refused with a
message that says what was found.

>>> parse_distribution("Beta(2, 3)")
Beta()
>>> parse_distribution("Normal(loc=0, scale=[1.0, 2.0])").batch_shape
torch.Size([2])
>>> parse_distribution("__import__('os')")
Traceback (most recent call last):
ValueError: '__import__' is not a distribution klvae knows; use one of Bernoulli, Beta, Binomial, ...
"""

from __future__ import annotations

import ast

import torch
from torch import distributions as D

__all__ = ["parse_distribution", "FAMILIES"]

FAMILIES = {
    name: getattr(D, name)
    for name in (
        "Bernoulli",
        "Beta",
        "Binomial",
        "Categorical",
        "Dirichlet",
        "Exponential",
        "Gamma",
        "Geometric",
        "Independent",
        "Laplace",
        "LowRankMultivariateNormal",
        "MixtureSameFamily",
        "MultivariateNormal",
        "Normal",
        "OneHotCategorical",
        "Poisson",
        "StudentT",
        "Uniform",
    )
}
_MAX_VALUES = 1_000_000  # numbers one argument may hold: text, not a data file


def _number(node: ast.AST, where: str):
    """A number, a sign applied to a number, or a nested list of them, as Python values."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool)):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _number(node.operand, where)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_number(e, where) for e in node.elts]
    raise ValueError(f"{where}: expected a number or a list of numbers, got {ast.unparse(node)!r}")


def _value(node: ast.AST, where: str):
    if isinstance(node, ast.Call):
        return _call(node)
    value = _number(node, where)
    if isinstance(value, bool):
        return value
    t = torch.tensor(value, dtype=torch.float64)
    if t.numel() > _MAX_VALUES:
        raise ValueError(f"{where}: more than {_MAX_VALUES} numbers")
    return t


def _call(node: ast.Call) -> D.Distribution:
    if not isinstance(node.func, ast.Name) or node.func.id not in FAMILIES:
        name = ast.unparse(node.func)
        raise ValueError(
            f"{name!r} is not a distribution klvae knows; use one of "
            f"{', '.join(sorted(FAMILIES)[:3])}, ... ({', '.join(sorted(FAMILIES))})"
        )
    family = node.func.id
    args = [_value(a, f"{family} argument {i + 1}") for i, a in enumerate(node.args)]
    kwargs = {k.arg: _value(k.value, f"{family} {k.arg}") for k in node.keywords if k.arg is not None}
    if len(kwargs) != len(node.keywords):
        raise ValueError(f"{family}: ** arguments are not accepted")
    if family == "Independent":  # its second argument counts dimensions
        args = [int(a) if torch.is_tensor(a) and a.dim() == 0 else a for a in args]
        kwargs = {k: int(v) if torch.is_tensor(v) and v.dim() == 0 else v for k, v in kwargs.items()}
    try:
        return FAMILIES[family](*args, **kwargs, validate_args=True)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{ast.unparse(node)}: {str(err).splitlines()[0]}") from None


def parse_distribution(text: str) -> D.Distribution:
    """The `torch.distributions` object that `text` names, in float64; see the module docstring."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"cannot read {text!r} as a distribution such as 'Beta(2, 3)'") from None
    if not isinstance(tree.body, ast.Call):
        raise ValueError(f"{text!r} is not a distribution such as 'Beta(2, 3)'")
    return _call(tree.body)
