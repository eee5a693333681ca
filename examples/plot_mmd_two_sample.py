"""
A two-sample test with MMD
==========================

:func:`klvae.mmd2` estimates the squared maximum mean discrepancy between two samples with a
Gaussian kernel (median-heuristic bandwidth) and, with ``permutations``, a permutation
p-value. Samples from one distribution give p-values spread evenly on [0, 1]; a shift gives
small ones. The test's power grows with the shift.
"""

import torch

import klvae
from klvae.figures import new_figure

g = torch.Generator().manual_seed(0)
x = torch.randn(200, 2, generator=g)
same = klvae.mmd2(x, torch.randn(200, 2, generator=g), permutations=200)
shifted = klvae.mmd2(x, torch.randn(200, 2, generator=g) + 0.5, permutations=200)
print(f"same distribution: MMD² {same.mmd2:.4f}, p = {same.p_value:.3f}")
print(f"shifted by 0.5:    MMD² {shifted.mmd2:.4f}, p = {shifted.p_value:.3f}")
assert shifted.p_value < 0.01 and shifted.mmd2 > same.mmd2

# %%
# Over 30 repeats per shift, the share of tests rejecting at the 5 % level: about 5 % at
# shift 0 (the test's size), rising to 100 %.

shifts, repeats = [0.0, 0.1, 0.2, 0.3, 0.5], 30
power = []
for shift in shifts:
    rejected = 0
    for r in range(repeats):
        g = torch.Generator().manual_seed(100 + r)
        a, b = torch.randn(100, 2, generator=g), torch.randn(100, 2, generator=g) + shift
        rejected += klvae.mmd2(a, b, permutations=100, seed=r).p_value < 0.05
    power.append(rejected / repeats)
    print(f"shift {shift}: rejected {rejected} of {repeats}")
assert power[0] <= 0.2 and power[-1] >= 0.9

fig = new_figure(5.6, 3.4)
ax = fig.add_subplot()
ax.plot(shifts, power, "o-")
ax.axhline(0.05, color="0.5", ls="--", lw=0.8, label="5 % level")
ax.set(
    xlabel="shift of the mean (each axis)",
    ylabel="share rejected",
    ylim=(-0.02, 1.02),
    title="MMD test, n = 100 per sample",
)
ax.legend(fontsize=8)
