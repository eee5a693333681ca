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
>>> parse_distribution("Beta(-1, 3)")
Traceback (most recent call last):
ValueError: Beta(-1, 3): concentration1 = -1 is not > 0
"""

from __future__ import annotations

import ast
import difflib
import inspect

import torch
from torch import distributions as D
from torch.distributions import constraints

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


def _describe(constraint) -> str:
    """What a torch constraint asks of a value, in words: 'is not > 0', 'is not in [0, 1]'."""
    low, high = getattr(constraint, "lower_bound", None), getattr(constraint, "upper_bound", None)
    kind = type(constraint).__name__
    if kind == "_GreaterThan":
        return f"is not > {low:g}"
    if kind == "_GreaterThanEq":
        return f"is not ≥ {low:g}"
    if kind == "_LessThan":
        return f"is not < {high:g}"
    if kind == "_Interval":
        return f"is not in [{low:g}, {high:g}]"
    if kind == "_HalfOpenInterval":
        return f"is not in [{low:g}, {high:g})"
    if kind == "_Simplex":
        return "is not a probability vector (non-negative, summing to 1)"
    if kind in ("_Real", "_IndependentConstraint") and "Real" in repr(constraint):
        return "is not finite"
    if kind == "_IndependentConstraint":
        return _describe(constraint.base_constraint)
    words = {"_PositiveDefinite": "positive definite", "_LowerCholesky": "a lower Cholesky factor"}
    return f"is not {words.get(kind, repr(constraint))}"


def _shown(value) -> str:
    if torch.is_tensor(value):
        return f"{value.item():g}" if value.numel() == 1 else str(value.tolist())
    return repr(value)


def _check_arguments(family: str, text: str, args: list, kwargs: dict) -> None:
    """Refuse an argument outside its family's support, naming the family, the argument and the value."""
    cls = FAMILIES[family]
    names = [n for n in inspect.signature(cls.__init__).parameters if n not in ("self", "validate_args")]
    given = {**dict(zip(names, args)), **kwargs}
    if family == "Uniform" and all(torch.is_tensor(given.get(k)) for k in ("low", "high")):
        low, high = torch.broadcast_tensors(given["low"], given["high"])
        if not bool((low < high).all()):
            raise ValueError(f"{text}: low = {_shown(given['low'])} is not below high = {_shown(given['high'])}")
    table = cls.arg_constraints if isinstance(cls.arg_constraints, dict) else {}  # a property: torch checks
    for name, value in given.items():
        constraint = table.get(name)
        if constraint is None or not torch.is_tensor(value) or isinstance(constraint, constraints._Dependent):
            continue
        try:
            ok = constraint.check(value)
        except (RuntimeError, IndexError):  # a shape the family refuses: said by torch below
            continue
        if bool(ok.all()):
            continue
        if ok.shape == value.shape and value.dim() > 0:  # elementwise: the first value that is wrong
            index = tuple(int(i) for i in (~ok).nonzero()[0])
            where = "".join(f"[{i}]" for i in index)
            raise ValueError(f"{text}: {name}{where} = {value[index].item():g} {_describe(constraint)}")
        raise ValueError(f"{text}: {name} = {_shown(value)} {_describe(constraint)}")


def _call(node: ast.Call) -> D.Distribution:
    if not isinstance(node.func, ast.Name) or node.func.id not in FAMILIES:
        name = ast.unparse(node.func)
        close = difflib.get_close_matches(name, list(FAMILIES), n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ValueError(f"{name!r} is not a distribution klvae knows; {hint}use one of {', '.join(sorted(FAMILIES))}")
    family = node.func.id
    args = [_value(a, f"{family} argument {i + 1}") for i, a in enumerate(node.args)]
    kwargs = {k.arg: _value(k.value, f"{family} {k.arg}") for k in node.keywords if k.arg is not None}
    if len(kwargs) != len(node.keywords):
        raise ValueError(f"{family}: ** arguments are not accepted")
    if family == "Independent":  # its second argument counts dimensions
        args = [int(a) if torch.is_tensor(a) and a.dim() == 0 else a for a in args]
        kwargs = {k: int(v) if torch.is_tensor(v) and v.dim() == 0 else v for k, v in kwargs.items()}
    _check_arguments(family, ast.unparse(node), args, kwargs)
    try:
        return FAMILIES[family](*args, **kwargs, validate_args=True)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{ast.unparse(node)}: {str(err).splitlines()[0]}") from None


def parse_distribution(text: str, name: str | None = None) -> D.Distribution:
    """The `torch.distributions` object that `text` names, in float64; see the module docstring.

    `name`: the argument's name (``"P"``), put before an error message when given."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(
            f"{name + ': ' if name else ''}cannot read {text!r} as a distribution such as 'Beta(2, 3)'"
        ) from None
    if not isinstance(tree.body, ast.Call):
        raise ValueError(f"{name + ': ' if name else ''}{text!r} is not a distribution such as 'Beta(2, 3)'")
    try:
        return _call(tree.body)
    except ValueError as err:
        raise ValueError(f"{name}: {err}" if name else str(err)) from None
