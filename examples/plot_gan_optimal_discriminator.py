"""
The GAN's optimal discriminator and V(D*, G) = 2·JSD − log 4
============================================================

For a fixed generator with density q and data density p, the discriminator maximizing
V(D, G) = E_p[log D] + E_q[log(1 − D)] is D* = p/(p + q), and the value at D* is
2·JSD(p ‖ q) − log 4 (Goodfellow et al. 2014, proposition 1 and theorem 1). This example checks
both on discrete distributions (:func:`klvae.optimal_discriminator`, :func:`klvae.optimal_value`,
:func:`klvae.js_divergence`) and on p = N(0, 1), q = N(μ, 1) by quadrature
(:func:`klvae.gan.gaussian_shift_theory`). Theory: :doc:`/theory/gan`.
"""

import math

import numpy as np

import klvae
from klvae.figures import new_figure
from klvae.gan import gaussian_shift_theory

p = np.array([0.1, 0.4, 0.3, 0.2])
q = np.array([0.25, 0.25, 0.25, 0.25])
d_star = klvae.optimal_discriminator(p, q)
assert np.allclose(d_star, p / (p + q))
value = float(klvae.optimal_value(p, q))
jsd = float(klvae.js_divergence(p, q))
print(f"V(D*, G) = {value:.6f}; 2·JSD − log 4 = {2 * jsd - math.log(4):.6f}")
assert abs(value - (2 * jsd - math.log(4))) < 1e-12

# any other discriminator does worse
rng = np.random.default_rng(0)
for _ in range(100):
    d = rng.uniform(0.01, 0.99, size=4)
    assert (p * np.log(d) + q * np.log(1 - d)).sum() <= value + 1e-12

# %%
# Shifting q away from p: the value climbs from −log 4 (q = p, D* = ½) towards 0, where
# JSD reaches its maximum log 2 and D* separates the two perfectly.

mus = np.linspace(0, 6, 25)
rows = [gaussian_shift_theory(float(mu)) for mu in mus]
for row in rows[::6]:
    print(f"μ = {row['mu']:.2f}: JSD {row['jsd']:.6f}, V(D*, G) {row['value']:.6f}")
assert all(abs(row["identity_gap"]) < 1e-9 for row in rows)

fig = new_figure(6.2, 3.6)
ax = fig.add_subplot()
ax.plot(mus, [r["value"] for r in rows], "o", label="V(D*, G), quadrature")
ax.plot(mus, [2 * r["jsd"] - math.log(4) for r in rows], "-", label="2·JSD(p ‖ q) − log 4")
ax.axhline(-math.log(4), color="0.6", lw=0.8, ls="--")
ax.axhline(0, color="0.6", lw=0.8, ls="--")
ax.set(xlabel="μ (q = N(μ, 1), p = N(0, 1))", ylabel="nats", title="The GAN's value at the optimal discriminator")
ax.legend(fontsize=8)
