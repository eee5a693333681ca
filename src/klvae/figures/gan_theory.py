"""Figures of the GAN theory (`klvae.gan.theory`): the game's value at the optimal discriminator,
the saturating generator loss, and JSD against Wasserstein on disjoint supports.

Every function draws through the figure layer (`klvae.figures.png`) into a PNG at `path` and
returns the path; none shows a window.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from klvae.figures.png import new_figure, save_png

__all__ = ["plot_value_vs_jsd", "plot_saturation", "plot_disjoint_supports"]


def plot_value_vs_jsd(sweep: list[dict], marked: list[dict], path) -> Path:
    r"""V(D*, G) against JSD(p ‖ q) along a sweep of p = N(0,1), q = N(μ,1), with 2·JSD − log 4.

    Parameters
    ----------
    sweep : list of dict
        Rows of `klvae.gan.gaussian_shift_theory` (keys ``"jsd"`` and ``"value"``), one a point.
    marked : list of dict
        Rows whose μ is written beside their point (they also need ``"mu"``).
    path : str or os.PathLike
        The PNG to write, atomically.

    Returns
    -------
    pathlib.Path
        The path written.

    Notes
    -----
    With the optimal discriminator :math:`D^* = p/(p + q)`, the game's value is
    :math:`V(D^*, G) = 2\,\mathrm{JSD}(p \,\|\, q) - \log 4`: every point lies on the line.

    References
    ----------
    Goodfellow et al., "Generative Adversarial Nets" (2014), Theorem 1.

    Examples
    --------
    >>> import tempfile
    >>> from klvae.gan import gaussian_shift_theory
    >>> sweep = [gaussian_shift_theory(mu, points=801) for mu in (0.0, 1.0, 4.0)]
    >>> plot_value_vs_jsd(sweep, sweep[1:], Path(tempfile.mkdtemp()) / "v.png").name
    'v.png'
    """
    fig = new_figure(5.5, 4, layout="constrained")
    ax = fig.subplots()
    js = np.array([r["jsd"] for r in sweep])
    ax.plot(js, [r["value"] for r in sweep], "o", ms=4, label="V(D*, G) from D* = p/(p+q)")
    line = np.linspace(0, math.log(2), 50)
    ax.plot(line, 2 * line - math.log(4), "-", lw=1, label="2·JSD − log 4")
    for row in marked:
        ax.annotate(
            f"μ={row['mu']:g}", (row["jsd"], row["value"]), textcoords="offset points", xytext=(6, -10), fontsize=8
        )
    ax.set(xlabel="JSD(p ‖ q) [nats]", ylabel="V(D*, G) [nats]", title="Optimal discriminator: p = N(0,1), q = N(μ,1)")
    ax.legend()
    return save_png(fig, path)


def plot_saturation(grads: dict, path) -> Path:
    r"""Generator-loss gradients against D's logit ℓ, linear and log scale.

    Parameters
    ----------
    grads : dict
        The result of `klvae.gan.saturation_gradients`: ``"logit"``, ``"minimax"`` and
        ``"nonsaturating"`` arrays.
    path : str or os.PathLike
        The PNG to write, atomically.

    Returns
    -------
    pathlib.Path
        The path written.

    Notes
    -----
    For the minimax loss :math:`\log(1 - \sigma(\ell))` the gradient is :math:`-\sigma(\ell)`,
    which vanishes when D rejects G(z) (ℓ → −∞); for the non-saturating loss
    :math:`-\log \sigma(\ell)` it is :math:`\sigma(\ell) - 1`, which tends to −1.

    References
    ----------
    Goodfellow et al., "Generative Adversarial Nets" (2014), §3.

    Examples
    --------
    >>> import tempfile
    >>> from klvae.gan import saturation_gradients
    >>> grads = saturation_gradients(np.linspace(-12, 12, 49))
    >>> plot_saturation(grads, Path(tempfile.mkdtemp()) / "s.png").name
    's.png'
    """
    fig = new_figure(10, 5, layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, log in zip(axes, (False, True)):
        for kind, label in (
            ("minimax", "minimax: d/dℓ log(1 − σ(ℓ))"),
            ("nonsaturating", "non-saturating: d/dℓ −log σ(ℓ)"),
        ):
            y = np.abs(grads[kind]) if log else grads[kind]
            ax.plot(grads["logit"], y, label=label)
        ax.axvline(-10, color="grey", ls=":", lw=1, label="ℓ = −10: D sure the sample is fake")
        ax.set(xlabel="discriminator logit ℓ on generated samples", ylabel="|dL/dℓ| (log scale)" if log else "dL/dℓ")
        if log:
            ax.set_yscale("log")
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    fig.suptitle("Generator-loss gradients: the minimax loss saturates when D rejects G(z)")
    return save_png(fig, path)


def plot_disjoint_supports(rows: list[dict], path) -> Path:
    r"""JSD and W1 between U[0,1] and U[θ, θ+1] against θ.

    Parameters
    ----------
    rows : list of dict
        Rows of `klvae.gan.disjoint_uniform_theory` (keys ``"shift"``, ``"jsd"`` and
        ``"wasserstein"``).
    path : str or os.PathLike
        The PNG to write, atomically.

    Returns
    -------
    pathlib.Path
        The path written.

    Notes
    -----
    :math:`\mathrm{JSD} = \min(\theta, 1)\log 2`, flat once the supports are disjoint (θ ≥ 1),
    while :math:`W_1 = \theta` keeps growing.

    References
    ----------
    Arjovsky, Chintala & Bottou, "Wasserstein GAN" (2017), Example 1.

    Examples
    --------
    >>> import tempfile
    >>> from klvae.gan import disjoint_uniform_theory
    >>> rows = disjoint_uniform_theory([0.0, 0.5, 1.0, 2.0])
    >>> plot_disjoint_supports(rows, Path(tempfile.mkdtemp()) / "d.png").name
    'd.png'
    """
    fig = new_figure(5.5, 4, layout="constrained")
    ax = fig.subplots()
    shifts = [r["shift"] for r in rows]
    ax.plot(shifts, [r["jsd"] for r in rows], "o-", label="JSD(p ‖ q) [nats]")
    ax.plot(shifts, [r["wasserstein"] for r in rows], "s-", label="Wasserstein-1 W(p, q)")
    ax.axhline(math.log(2), color="grey", ls=":", lw=1, label="log 2")
    ax.axvline(1.0, color="grey", ls="--", lw=0.8)
    ax.set(
        xlabel="shift θ: p = U[0,1], q = U[θ, θ+1]",
        ylabel="divergence / distance",
        title="Disjoint supports (θ ≥ 1): JSD is flat, W1 grows",
    )
    ax.legend()
    return save_png(fig, path)
