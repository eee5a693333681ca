"""klvae.gan.objective against the seed's formulas written with log σ directly (float64)."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from klvae.gan.objective import (
    LOSSES,
    critic_loss,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    value_function,
)

logit_lists = st.lists(st.floats(-15, 15, allow_nan=False), min_size=1, max_size=20)


def _direct_value(real, fake):
    # E_x log D(x) + E_z log(1 − D(G(z))), D = σ(ℓ), written naively (accurate to ~1e-9 for |ℓ| ≤ 15 in float64)
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    return torch.log(d_real).mean() + torch.log(1 - d_fake).mean()


@settings(max_examples=60, deadline=None)
@given(logit_lists, logit_lists)
def test_value_and_discriminator_loss_match_the_seed_formula(real, fake):
    real = torch.tensor(real, dtype=torch.float64)
    fake = torch.tensor(fake, dtype=torch.float64)
    expected = _direct_value(real, fake)
    torch.testing.assert_close(value_function(real, fake), expected, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(discriminator_loss(real, fake), -expected, rtol=1e-8, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(logit_lists)
def test_generator_losses_and_gradients_match_direct_forms(fake):
    fake = torch.tensor(fake, dtype=torch.float64)
    direct = {
        "minimax": lambda l: torch.log(1 - torch.sigmoid(l)).mean(),
        "nonsaturating": lambda l: -torch.log(torch.sigmoid(l)).mean(),
        "wasserstein": lambda l: -l.mean(),
    }
    for kind in LOSSES:
        a = fake.clone().requires_grad_(True)
        b = fake.clone().requires_grad_(True)
        ours, ref = generator_loss(a, kind), direct[kind](b)
        torch.testing.assert_close(ours, ref, rtol=1e-8, atol=1e-12)
        ours.backward()
        ref.backward()
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-7, atol=1e-15)


def test_saturation_gradients_at_logit_minus_10():
    l = torch.tensor([-10.0], dtype=torch.float64, requires_grad=True)
    generator_loss(l, "minimax").backward()
    assert l.grad.item() == pytest.approx(-1 / (1 + math.exp(10)), rel=1e-12)  # −σ(−10) ≈ −4.54e-5
    assert l.grad.item() == pytest.approx(-4.54e-5, rel=1e-3)
    l.grad = None
    generator_loss(l, "nonsaturating").backward()
    assert l.grad.item() == pytest.approx(-1 / (1 + math.exp(-10)), rel=1e-12)


def test_losses_stay_finite_where_the_naive_form_overflows():
    big = torch.tensor([1000.0, -1000.0])
    assert torch.isfinite(discriminator_loss(big, big))
    assert discriminator_loss(torch.tensor([1000.0]), torch.tensor([-1000.0])).item() == 0.0
    assert generator_loss(torch.tensor([-1000.0]), "nonsaturating").item() == pytest.approx(1000.0)
    assert generator_loss(torch.tensor([1000.0]), "minimax").item() == pytest.approx(-1000.0)


def test_unknown_generator_loss_is_rejected():
    with pytest.raises(ValueError, match="kind must be one of minimax, nonsaturating, wasserstein; got 'hinge'"):
        generator_loss(torch.zeros(2), "hinge")


def test_critic_loss_is_the_difference_of_means():
    real = torch.tensor([1.0, 2.0, 6.0])
    fake = torch.tensor([0.5, -0.5])
    assert critic_loss(real, fake).item() == pytest.approx(0.0 - 3.0)


def test_gradient_penalty_against_an_analytic_critic():
    # f(x) = ½‖A x‖² has ∇f = AᵀA x: the penalty is computable by hand at every x̂.
    torch.manual_seed(0)
    a = torch.randn(3, 3, dtype=torch.float64)
    real = torch.randn(16, 3, dtype=torch.float64)
    fake = torch.randn(16, 3, dtype=torch.float64)
    critic = lambda x: 0.5 * (x @ a.T).square().sum(dim=1)  # noqa: E731
    gen = torch.Generator().manual_seed(5)
    gp = gradient_penalty(critic, real, fake, weight=10.0, generator=gen)
    eps = torch.rand((16, 1), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    x_hat = eps * real + (1 - eps) * fake
    expected = 10.0 * ((x_hat @ (a.T @ a)).norm(dim=1) - 1).square().mean()
    torch.testing.assert_close(gp, expected, rtol=1e-10, atol=1e-12)


def test_gradient_penalty_trains_the_critic():
    lin = torch.nn.Linear(2, 1).double()
    real = torch.randn(8, 2, dtype=torch.float64)
    gp = gradient_penalty(lambda x: lin(x).squeeze(1), real, real + 1)
    gp.backward()
    # ‖∇f‖ = ‖w‖ for a linear critic: d/dw 10(‖w‖ − 1)² = 20(‖w‖ − 1) w/‖w‖
    w = lin.weight.detach()
    expected = 20 * (w.norm() - 1) * w / w.norm()
    torch.testing.assert_close(lin.weight.grad, expected, rtol=1e-8, atol=1e-12)


def test_gradient_penalty_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match=r"real and fake must have the same shape, got \(4, 2\) and \(3, 2\)"):
        gradient_penalty(lambda x: x.sum(1), torch.zeros(4, 2), torch.zeros(3, 2))
