"""
KL between Gaussian mixtures
============================

The KL between two Gaussian mixtures has no closed form. :func:`klvae.kl_numerical` integrates
p·log(p/q) by adaptive quadrature and reports an error bound; :func:`klvae.mc_kl` estimates it
from samples of p with a standard error. The two agree within the Monte Carlo error, and the
quadrature is what ``klvae kl --density`` prints.
"""

import torch

import klvae
from klvae.figures import new_figure

p = klvae.gaussian_mixture([0.5, 0.5], [-3.0, 3.0], [1.0, 1.0])
q = klvae.gaussian_mixture([0.3, 0.7], [-2.0, 2.5], [1.0, 1.5])
quadrature = klvae.kl_numerical(p, q)
mc = klvae.mc_kl(p, q, 100_000, seed=0)
print(f"quadrature: {float(quadrature):.8f} nats; Monte Carlo: {float(mc.value):.4f} ± {float(mc.stderr):.4f}")
assert abs(float(mc.value) - float(quadrature)) < 4 * float(mc.stderr)
reverse = klvae.kl_numerical(q, p)
print(f"KL(q‖p) = {float(reverse):.6f}: the two directions differ")

# %%
# The KL is the area under the integrand p·log(p/q), negative where q > p and positive where
# p > q; the areas do not cancel because KL ≥ 0.

x = torch.linspace(-9, 10, 1201, dtype=torch.float64)
lp, lq = p.log_prob(x), q.log_prob(x)
integrand = lp.exp() * (lp - lq)
area = float(torch.trapezoid(integrand, x))
assert abs(area - float(quadrature)) < 1e-4
fig = new_figure(6.4, 4.2)
top, bottom = fig.subplots(2, 1, sharex=True)
top.plot(x, lp.exp(), label="p")
top.plot(x, lq.exp(), label="q")
top.legend(fontsize=8)
top.set(ylabel="density", title=f"KL(p‖q) = {float(quadrature):.4f} nats")
bottom.fill_between(x, integrand, color="C2", alpha=0.6)
bottom.axhline(0, color="k", lw=0.6)
bottom.set(xlabel="x", ylabel="p·log(p/q)")
