"""klvae.measures._partials: a value with its stated gradient, and second derivatives through it."""

import math

import torch

import klvae
from klvae.measures._partials import with_partials

D = torch.float64


def t(*xs):
    return torch.tensor(xs, dtype=D)


def test_with_partials_gives_the_value_and_the_stated_gradient():
    x = t(1.0, 2.0).requires_grad_(True)
    y = with_partials(t(5.0, 6.0), (t(3.0, -1.0), x))
    y.sum().backward()
    assert y.tolist() == [5.0, 6.0] and x.grad.tolist() == [3.0, -1.0]
    z = t(1.0).requires_grad_(True)
    with_partials(t(0.0), (t(math.inf), z)).backward()
    assert float(z.grad) == torch.finfo(D).max  # saturates, never inf or NaN


def test_second_derivatives_of_the_measures_are_those_of_the_textbook_formulas():
    # the partials given to backward are recomputed with their graph when a gradient of the
    # gradient is asked for: Hessians (the Fisher information) as autograd gives for the formula
    from torch.autograd.functional import hessian
    from torch.distributions import Bernoulli, Categorical

    p, q = t(0.2, 0.3, 0.5), t(0.3, 0.25, 0.45)

    def js_formula(a, b):
        m = (a + b) / 2
        return ((a * torch.log(a / m)).sum() + (b * torch.log(b / m)).sum()) / 2

    cases = [
        (lambda x: klvae.kl_divergence(x, q), lambda x: (x * torch.log(x / q)).sum(), p),
        (lambda x: klvae.kl_divergence(p, x), lambda x: (p * torch.log(p / x)).sum(), q),
        (lambda x: klvae.js_divergence(x, q), lambda x: js_formula(x, q), p),
        (lambda x: klvae.rel_entr(x, q).sum(), lambda x: (x * torch.log(x / q)).sum(), p),
        (lambda x: klvae.kl_div(x, q).sum(), lambda x: (x * torch.log(x / q) - x + q).sum(), p),
        (
            lambda x: klvae.kl_divergence(Bernoulli(x), Bernoulli(q)).sum(),
            lambda x: (x * torch.log(x / q) + (1 - x) * torch.log((1 - x) / (1 - q))).sum(),
            p,
        ),
        (
            lambda x: klvae.kl_divergence(Categorical(x), Categorical(q)),  # torch normalises the probabilities
            lambda x: (x / x.sum() * torch.log(x / x.sum() / q)).sum(),
            p,
        ),
    ]
    for ours, textbook, at in cases:
        torch.testing.assert_close(hessian(ours, at), hessian(textbook, at), rtol=1e-12, atol=1e-12)
