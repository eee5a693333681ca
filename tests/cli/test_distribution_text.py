"""Distributions as command-line text (`klvae.cli.distribution_text`): read, never evaluated."""

import pytest
import torch
from torch import distributions as D

from klvae.cli.distribution_text import FAMILIES, parse_distribution


@pytest.mark.parametrize(
    "text, kind, check",
    [
        ("Beta(2, 3)", D.Beta, lambda d: (float(d.concentration1), float(d.concentration0)) == (2.0, 3.0)),
        ("Normal(loc=-1.5, scale=[1, 2])", D.Normal, lambda d: d.batch_shape == (2,) and float(d.loc[0]) == -1.5),
        ("MultivariateNormal([0, 0], [[2, 0.5], [0.5, 1]])", D.MultivariateNormal, lambda d: d.event_shape == (2,)),
        ("Independent(Normal([0, 1], [1, 1]), 1)", D.Independent, lambda d: d.event_shape == (2,)),
        (
            "MixtureSameFamily(Categorical(probs=[0.3, 0.7]), Normal([-2, 2], [1, 1]))",
            D.MixtureSameFamily,
            lambda d: d.batch_shape == (),
        ),
        ("Binomial(total_count=10, probs=0.25)", D.Binomial, lambda d: float(d.mean) == 2.5),
        ("Dirichlet([1, 2, 3])", D.Dirichlet, lambda d: d.event_shape == (3,)),
        (" Poisson(+4) ", D.Poisson, lambda d: float(d.rate) == 4.0),
    ],
)
def test_families_are_built_in_float64(text, kind, check):
    d = parse_distribution(text)
    assert isinstance(d, kind) and check(d)
    assert all(t.dtype == torch.float64 for t in vars(d).values() if torch.is_tensor(t) and t.is_floating_point())


@pytest.mark.parametrize(
    "text, match",
    [
        ("__import__('os').system('true')", "is not a distribution klvae knows"),
        ("D.Normal(0, 1)", "'D.Normal' is not a distribution klvae knows"),
        ("Normal(0, 1).sample()", "is not a distribution klvae knows"),
        ("Normal(loc=x, scale=1)", "Normal loc: expected a number or a list of numbers, got 'x'"),
        ("Normal(0, 1 + 1)", "expected a number or a list of numbers, got '1 \\+ 1'"),
        ("Normal(0, 'one')", "got \"'one'\""),
        ("Normal(**{'loc': 0})", "\\*\\* arguments are not accepted"),
        ("Normal(0, [i for i in range(3)])", "expected a number"),
        ("lambda: 0", "is not a distribution such as 'Beta\\(2, 3\\)'"),
        ("Beta(2, 3", "cannot read"),
        ("Beta(-1, 2)", "^Beta\\(-1, 2\\): concentration1 = -1 is not > 0$"),
        ("Normal([0, 1], [1, -2])", "^Normal\\(\\[0, 1\\], \\[1, -2\\]\\): scale\\[1\\] = -2 is not > 0$"),
        ("Bernoulli(1.5)", "probs = 1.5 is not in \\[0, 1\\]$"),
        ("Uniform(2, 1)", "low = 2 is not below high = 1$"),
        ("Independent(Normal([0, 1], [1, -1]), 1)", "^Normal\\(\\[0, 1\\], \\[1, -1\\]\\): scale\\[1\\] = -1"),
        ("Normal(0, [1] * 3)", "expected a number"),
    ],
)
def test_anything_else_is_refused_with_what_was_found(text, match):
    with pytest.raises(ValueError, match=match):
        parse_distribution(text)


def test_only_distribution_families_are_reachable():
    assert all(isinstance(cls, type) and issubclass(cls, D.Distribution) for cls in FAMILIES.values())


def test_a_bad_value_names_the_family_the_argument_and_the_value_never_torch_internals():
    with pytest.raises(ValueError) as err:
        parse_distribution("Beta(-1, 3)", "P")
    text = str(err.value)
    assert text == "P: Beta(-1, 3): concentration1 = -1 is not > 0"
    assert "Dirichlet" not in text and "Constraint" not in text


def test_an_unknown_name_lists_the_families_once_and_suggests_the_closest():
    with pytest.raises(ValueError) as err:
        parse_distribution("Nromal(0, 1)")
    text = str(err.value)
    assert "did you mean Normal?" in text
    assert all(text.count(f" {name},") + text.endswith(name) == 1 for name in FAMILIES if name != "Normal")
    assert text.count("Beta") == 1
