"""`klvae entropy / kl / js / ce / divergence --dist` (`klvae.cli.distribution_commands`): every measure
of two distributions written as text, each printed value against scipy's quadrature or its closed form,
with the method the line names."""

import math
import re

import numpy as np
import pytest
from matplotlib.image import imread
from scipy import integrate, stats

from klvae.cli import main

BETA, GAMMA = stats.beta(2, 3), stats.gamma(2, scale=1.0)  # 'Beta(2, 3)' and 'Gamma(2, 1)' (rate 1)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def over_beta(f):
    """∫₀¹ f(p(x), q(x)) dx for p = Beta(2, 3), q = Gamma(2, 1) (p has no mass past 1)."""
    return integrate.quad(lambda x: f(BETA.pdf(x), GAMMA.pdf(x)), 0, 1, epsabs=1e-14, epsrel=1e-13, limit=200)[0]


def over_both(f):
    """∫₀^∞ f(p(x), q(x)) dx, split at 1 where p's support ends."""
    tail = integrate.quad(lambda x: f(0.0, GAMMA.pdf(x)), 1, np.inf, epsabs=1e-14, epsrel=1e-13, limit=200)[0]
    return over_beta(f) + tail


def xlogy(x, y):
    return 0.0 if x == 0 else x * math.log(y)


def js_terms(p, q):
    m = p + q
    return 0.0 if m == 0 else 0.5 * xlogy(p, 2 * p / m) + 0.5 * xlogy(q, 2 * q / m)


REFERENCES = {
    "kl": lambda: over_beta(lambda p, q: xlogy(p, p / q)),
    "ce": lambda: -over_beta(lambda p, q: xlogy(p, q)),
    "js": lambda: over_both(js_terms),
    "hellinger": lambda: math.sqrt(1 - over_beta(lambda p, q: math.sqrt(p * q))),
    "tv": lambda: 0.5 * over_both(lambda p, q: abs(p - q)),
    "chi2": lambda: over_beta(lambda p, q: p * p / q) - 1,
    "renyi": lambda: math.log(over_beta(lambda p, q: p**0.5 * q**0.5)) / (0.5 - 1),
    "alpha": lambda: (over_beta(lambda p, q: p**2 / q) - 1) / (2 * (2 - 1)),
}


@pytest.mark.parametrize("measure", sorted(REFERENCES))
def test_every_measure_of_a_beta_and_a_gamma_against_scipy_quadrature(capsys, measure):
    if measure in ("kl", "ce", "js"):
        argv = [measure, "--dist", "Beta(2, 3)", "Gamma(2, 1)"]
    else:
        argv = ["divergence", "--dist", "Beta(2, 3)", "Gamma(2, 1)", "--measure", measure]
        argv += {"renyi": ["--alpha", "0.5"], "alpha": ["--alpha", "2"]}.get(measure, [])
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    value = float(out.split()[0])
    unit = "nats" if measure in ("kl", "ce", "js", "renyi") else "(no unit)"
    assert out.split(" ", 1)[1].startswith(unit + " (")
    want = REFERENCES[measure]()
    m = re.search(r"\((quadrature: absolute error ≤ ([0-9.e+-]+)|exact: closed form|exact: torch)", out)
    assert m, out
    bound = float(m[2]) if m[2] else 0.0
    assert abs(value - want) <= bound + 1e-9 * abs(want) + 1e-12, (value, want, out)


@pytest.mark.parametrize(
    "text, scipy_dist, method",
    [
        ("Poisson(3)", stats.poisson(3), "summation"),
        ("Beta(2, 3)", stats.beta(2, 3), "closed form"),
        ("Binomial(10, probs=0.3)", stats.binom(10, 0.3), "closed form"),
    ],
)
def test_entropy_of_one_distribution(capsys, text, scipy_dist, method):
    code, out, err = run(capsys, "entropy", "--dist", text, "--base", "2")
    assert code == 0, err
    value, unit, rest = out.split(" ", 2)
    assert float(value) == pytest.approx(scipy_dist.entropy() / math.log(2), rel=1e-12)
    assert unit == "bits" and rest == f"(exact: {method})\n"


def test_a_measure_without_closed_form_or_quadrature_is_monte_carlo_with_its_standard_error(capsys):
    # a mixture of two equal components is that component: KL(N((1, 0), I) ‖ N(0, diag(2, 1))) is the reference
    mix = "MixtureSameFamily(Categorical(probs=[0.5, 0.5]), Independent(Normal([[1., 0.], [1., 0.]], 1.), 1))"
    mvn = "MultivariateNormal([0., 0.], [[2., 0.], [0., 1.]])"
    code, out, _ = run(capsys, "kl", "--dist", mix, mvn, "--samples", "20000")
    m = re.fullmatch(r"(\S+) ± (\S+) nats \(Monte Carlo, 20000 samples: ± one standard error\)\n", out)
    assert code == 0 and m
    want = 0.5 * (1 / 2 + 1 / 2 - 1 + math.log(2)) + 0  # trace + mean term − d + log det ratio, over 2
    assert abs(float(m[1]) - want) < 4 * float(m[2])


def test_kl_dist_plot_draws_the_pair_and_prints_where(capsys, tmp_path):
    code, out, err = run(capsys, "kl", "--dist", "Poisson(3)", "Poisson(5)", "--plot", str(tmp_path / "k"))
    assert code == 0, err
    first, second = out.splitlines()
    assert float(first.split()[0]) == pytest.approx(3 * math.log(3 / 5) + 5 - 3, rel=1e-12)
    assert second == f"wrote {tmp_path / 'k.png'}" and imread(str(tmp_path / "k.png")).shape[2] in (3, 4)


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            [
                "kl",
                "--dist",
                "MultivariateNormal([0., 0.], [[1., 0.], [0., 1.]])",
                "MultivariateNormal([1., 0.], [[1., 0.], [0., 1.]])",
                "--plot",
                "x.png",
            ],
            "--plot: the figure draws one distribution of one variable",
        ),
        (["kl", "--dist", "Beta(2, 3)", "Beta(3, 3)", "--normalize"], "no --density or --normalize"),
        (["divergence", "--dist", "Beta(2, 3)", "Beta(3, 3)", "--measure", "tv", "--normalize"], "no --normalize"),
        (["js", "--dist", "Beta(2, 0)", "Beta(3, 3)"], "Beta(2, 0): concentration0 = 0 is not > 0"),
        (["divergence", "--dist", "Beta(2, 3)", "Beta(3, 3)", "--measure", "renyi"], "--measure renyi needs --alpha"),
    ],
)
def test_bad_requests_are_one_line_and_write_nothing(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert out == "" and not list(tmp_path.iterdir())
