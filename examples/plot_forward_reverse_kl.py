"""
Forward vs reverse KL: mode covering and mode seeking
=====================================================

Fit one Gaussian q to p = ½N(−3, 1) + ½N(3, 1). The forward KL(p‖q) is minimized by matching
moments (:func:`klvae.fit_forward`): q covers both modes, mean 0 and variance 1 + 9 = 10. The
reverse KL(q‖p) (:func:`klvae.fit_reverse`, from several starts) is minimized by a q sitting on
one mode. Theory: :doc:`/theory/forward_reverse_kl`.
"""

import numpy as np
import torch

import klvae
from klvae.figures import new_figure

p = klvae.gaussian_mixture([0.5, 0.5], [-3.0, 3.0], [1.0, 1.0])
forward = klvae.fit_forward(p)
reverse = klvae.fit_reverse(p, seed=0)
best = min(reverse, key=lambda fit: fit.kl_reverse)
print(f"forward fit: mean {forward.mean[0]:.3f}, variance {forward.cov[0, 0]:.3f}")
print(f"reverse fit: mean {best.mean[0]:.3f}, variance {best.cov[0, 0]:.3f}")
print(f"KL(p‖q): forward fit {forward.kl_forward:.3f}, reverse fit {best.kl_forward:.3f} nats")
print(f"KL(q‖p): forward fit {forward.kl_reverse:.3f}, reverse fit {best.kl_reverse:.3f} nats")
assert abs(forward.mean[0]) < 1e-9 and abs(forward.cov[0, 0] - 10.0) < 1e-9  # moments of p
assert abs(abs(best.mean[0]) - 3.0) < 0.1  # on one mode
assert best.kl_reverse < forward.kl_reverse and forward.kl_forward < best.kl_forward

# %%
# Each fit wins its own objective and loses the other: the forward fit puts mass between the
# modes, where p has almost none (large reverse KL); the reverse fit ignores a mode (large
# forward KL).

x = torch.linspace(-9, 9, 601, dtype=torch.float64)
fig = new_figure(6.4, 3.6)
ax = fig.add_subplot()
ax.fill_between(x, p.log_prob(x).exp(), color="0.85", label="p")
for fit, name in ((forward, "forward KL(p‖q)"), (best, "reverse KL(q‖p)")):
    q = torch.distributions.Normal(float(fit.mean[0]), float(np.sqrt(fit.cov[0, 0])))
    ax.plot(x, q.log_prob(x).exp(), label=f"q minimizing {name}")
ax.set(xlabel="x", ylabel="density", title="One Gaussian fitted to two modes")
ax.legend(loc="upper left", fontsize=8)
