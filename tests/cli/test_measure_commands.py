"""`klvae entropy / kl / js / ce` end to end, through main() and once through `python -m klvae`."""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from scipy import integrate, stats

from klvae.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_entropy_of_the_coin_in_bits(capsys):
    code, out, err = run(capsys, "entropy", "0.5,0.25,0.25", "--base", "2")
    assert (code, out, err) == (0, "1.5 bits\n", "")


@pytest.mark.parametrize(
    "command, base, unit, want",
    [
        ("kl", None, "nats", 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)),
        ("ce", "10", "dits", -(0.5 * math.log10(0.25) + 0.5 * math.log10(0.75))),
        ("js", "2", "bits", None),
        ("kl", "3", "base-3 units", (0.5 * math.log(2) + 0.5 * math.log(2 / 3)) / math.log(3)),
    ],
)
def test_two_distribution_commands_print_value_and_unit(capsys, command, base, unit, want):
    argv = [command, "0.5,0.5", "0.25,0.75"] + (["--base", base] if base else [])
    code, out, _ = run(capsys, *argv)
    value, printed_unit = out.strip().split(" ", 1)
    if want is None:  # JS by hand: m = (3/8, 5/8)
        want = 0.5 * (0.5 * math.log2(0.5 / 0.375) + 0.5 * math.log2(0.5 / 0.625)) + 0.5 * (
            0.25 * math.log2(0.25 / 0.375) + 0.75 * math.log2(0.75 / 0.625)
        )
    assert code == 0 and printed_unit == unit
    assert float(value) == pytest.approx(want, rel=1e-13)


def test_batched_files_print_one_value_per_row(capsys, tmp_path):
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=3)
    q = rng.dirichlet(np.ones(5), size=3)
    np.save(tmp_path / "p.npy", p)
    np.savetxt(tmp_path / "q.csv", q, delimiter=",", fmt="%.17g")
    code, out, _ = run(capsys, "kl", str(tmp_path / "p.npy"), str(tmp_path / "q.csv"))
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3 and all(line.endswith(" nats") for line in lines)
    values = [float(line.split()[0]) for line in lines]
    assert np.allclose(values, scipy.stats.entropy(p, q, axis=-1), rtol=1e-13)


def test_normalize_flag(capsys):
    code, out, _ = run(capsys, "entropy", "1,1,2", "--normalize", "--base", "2")
    assert code == 0 and float(out.split()[0]) == pytest.approx(1.5, rel=1e-15)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["entropy", "0.5,0.6"], r"klvae entropy: error: p rows must sum to 1 \(max deviation 0\.1\)"),
        (["entropy", "0.5,x"], "klvae entropy: error: P: expected comma-separated numbers"),
        (["kl", "0.5,0.5", "0.2,0.3,0.5"], r"klvae kl: error: shapes do not broadcast: p \(2,\) and q \(3,\)"),
        (["js", "0.5,0.5", "missing.npy"], "klvae js: error: Q: no such file: missing.npy"),
        (["ce", "0.5,0.5", "0.5,0.5", "--base", "1"], "klvae ce: error: base must be a positive number other than 1"),
        (["entropy", "--", "-0.5,1.5"], "klvae entropy: error: p has negative entries"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.match(message, err)


def test_bad_csv_file(capsys, tmp_path):
    (tmp_path / "p.csv").write_text("0.5,abc\n")
    code, _, err = run(capsys, "entropy", str(tmp_path / "p.csv"))
    assert code == 2 and err.startswith("klvae entropy: error: P: cannot read")


def test_bad_base_text_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["entropy", "1", "--base", "two"])
    assert exc.value.code == 2
    assert "must be a number or 'e'" in capsys.readouterr().err


def test_the_numpy_measures_start_neither_torch_scipy_nor_matplotlib(tmp_path):
    """Each command on numbers and on .npy/.csv files, in a fresh process: none of the heavy packages."""
    rng = np.random.default_rng(0)
    p, q = tmp_path / "p.npy", tmp_path / "q.csv"
    np.save(p, rng.dirichlet(np.ones(4), size=3))
    np.savetxt(q, rng.dirichlet(np.ones(4), size=3), delimiter=",")
    commands = [
        ["entropy", "0.5,0.25,0.25"],
        ["kl", "0.5,0.5", "0.25,0.75"],
        ["js", "0.5,0.5", "0.25,0.75", "--base", "2"],
        ["ce", "0.5,0.5", "0.25,0.75"],
        ["kl", str(p), str(q)],
        ["entropy", str(q), "--normalize"],
    ] + [["divergence", str(p), str(q), "--measure", m] for m in ("hellinger", "tv", "chi2")]
    commands += [["divergence", "0.5,0.5", "0.25,0.75", "--measure", m, "--alpha", "0.5"] for m in ("renyi", "alpha")]
    code = (
        "import sys; from klvae.cli import main; rc = main(sys.argv[1:]); "
        "print(rc, sorted(m for m in ('torch', 'scipy', 'matplotlib') if m in sys.modules))"
    )
    runs = [subprocess.Popen([sys.executable, "-c", code, *c], stdout=subprocess.PIPE, text=True) for c in commands]
    for command, run in zip(commands, runs):
        out, _ = run.communicate(timeout=120)
        assert out.splitlines()[-1] == "0 []", (command, out)


def test_python_dash_m_klvae_subprocess():
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    ok = subprocess.run(
        [sys.executable, "-m", "klvae", "js", "1,0", "0,1", "--base", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "1 bit\n", "")
    bad = subprocess.run(
        [sys.executable, "-m", "klvae", "kl", "0.5,0.5", "1,0,0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().count("\n") == 0 and "Traceback" not in bad.stderr


def _npy_with_header(path, shape, descr="<f8", data=b""):
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
        f.write(data)


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda p: np.save(p, np.array([0.5, 0.5], dtype=np.longdouble)),
            r"P: \S+p.npy: dtype float(96|128) is not supported: save the probabilities as float64",
        ),
        (lambda p: np.save(p, np.array([0.5 + 0j, 0.5])), r"P: \S+p.npy: dtype complex128 is not supported"),
        (lambda p: np.save(p, np.array(["a", "b"])), r"P: \S+p.npy: dtype <U1 is not supported"),
        (lambda p: np.save(p, np.zeros(0)), r"P: \S+p.npy holds no numbers$"),
        (lambda p: np.save(p, np.zeros((3, 0))), r"P: \S+p.npy holds no numbers$"),
        (lambda p: p.write_bytes(b""), r"P: \S+p.npy: the file is empty \(0 bytes\)$"),
        (lambda p: p.write_bytes(b"0.5,0.5\n"), r"P: \S+p.npy: not a .npy array: the magic string is not correct"),
        (
            lambda p: np.save(p, np.array([{"x": 1}, None], dtype=object), allow_pickle=True),
            r"P: \S+p.npy: holds Python objects \(dtype object\), which .npy stores pickled; klvae never loads",
        ),
        (
            lambda p: _npy_with_header(p, (100_000_000_000,), data=bytes(72)),
            r"P: \S+p.npy: truncated: expected 800000000000 data bytes for shape \(100000000000,\) of "
            r"float64, found 72$",
        ),
        (
            lambda p: _npy_with_header(p, (-1, 4), data=bytes(32)),
            r"P: \S+p.npy: the header's shape \(-1, 4\) has a negative size$",
        ),
        (
            lambda p: _npy_with_header(p, (2,), data=bytes(24)),
            r"P: \S+p.npy: 8 extra bytes after the data \(expected 16 data bytes",
        ),
    ],
)
def test_bad_npy_files_are_one_line(capsys, tmp_path, make, message):
    p = tmp_path / "p.npy"
    make(p)
    assert p.stat().st_size < 1000
    code, out, err = run(capsys, "entropy", str(p))
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert re.match(r"klvae entropy: error: " + message, err), err


def test_empty_csv_is_one_line_without_a_warning(capsys, tmp_path):
    import warnings

    for name, text in (("empty.csv", ""), ("blank.csv", "\n\n")):
        (tmp_path / name).write_text(text)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a leaked numpy warning would fail here
            code, out, err = run(capsys, "entropy", str(tmp_path / name))
        assert (code, out) == (2, "") and err.count("\n") == 1
        assert re.match(rf"klvae entropy: error: P: \S+{name} holds no numbers$", err), err


@pytest.mark.parametrize(
    "array, argv",
    [
        (np.array([0.5, 0.25, 0.25], dtype=np.float32), []),
        (np.array([0.5, 0.25, 0.25], dtype=np.float16), []),
        (np.array([2, 1, 1], dtype=np.int32), ["--normalize"]),
        (np.array([2, 1, 1], dtype=np.uint8), ["--normalize"]),
    ],
)
def test_npy_of_other_real_dtypes_is_read_as_float64(capsys, tmp_path, array, argv):
    np.save(tmp_path / "p.npy", array)
    code, out, err = run(capsys, "entropy", str(tmp_path / "p.npy"), "--base", "2", *argv)
    assert (code, out, err) == (0, "1.5 bits\n", "")


def test_kl_plot_discrete_prints_the_kl_and_draws_it(tmp_path, capsys):
    from scipy.special import rel_entr

    png = tmp_path / "kl.png"
    assert main(["kl", "0.5,0.3,0.2,0", "0.25,0.25,0.25,0.25", "--base", "2", "--plot", str(png)]) == 0
    value, unit = capsys.readouterr().out.splitlines()[0].split()
    p, q = np.array([0.5, 0.3, 0.2, 0.0]), np.full(4, 0.25)
    assert float(value) == pytest.approx(rel_entr(p, q).sum() / math.log(2), rel=1e-12) and unit == "bits"
    assert png.stat().st_size > 10_000


def test_kl_plot_infinite_kl(tmp_path, capsys):
    assert main(["kl", "0.5,0.5", "0,1", "--plot", str(tmp_path / "kl.png")]) == 0
    assert capsys.readouterr().out.startswith("inf nats")


def test_kl_density_integrates_the_mixtures(tmp_path, capsys):
    png = tmp_path / "kl.png"
    assert main(["kl", "0.5:-3:1,0.5:3:1", "1:0:2", "--density", "--plot", str(png)]) == 0
    value = float(capsys.readouterr().out.split()[0])

    def integrand(x):
        lp = np.logaddexp(np.log(0.5) + stats.norm.logpdf(x, -3), np.log(0.5) + stats.norm.logpdf(x, 3))
        return np.exp(lp) * (lp - stats.norm.logpdf(x, 0, 2))

    ref = integrate.quad(integrand, -20, 20, points=[-3, 3], limit=200)[0]
    assert value == pytest.approx(ref, abs=1e-8)
    assert png.stat().st_size > 10_000
    assert main(["kl", "0.5:-3:1,0.5:3:1", "1:0:2", "--density", "--base", "2"]) == 0
    assert float(capsys.readouterr().out.split()[0]) == pytest.approx(ref / math.log(2), abs=1e-8)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["kl", "0.5:0", "1:0:1", "--density"], "klvae kl: error: mixture component '0.5:0' is not 'w:mu:sigma'"),
        (["kl", "0.5,0.6", "0.5,0.5", "--plot", "x.png"], "klvae kl: error: p rows must sum to 1"),
    ],
)
def test_kl_plot_errors(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_kl_plot_rejects_a_table_of_rows(capsys, tmp_path):
    np.save(tmp_path / "p.npy", np.full((2, 2), 0.5))
    assert main(["kl", str(tmp_path / "p.npy"), str(tmp_path / "p.npy"), "--plot", str(tmp_path / "k.png")]) == 2
    assert "--plot draws one pair of distributions" in capsys.readouterr().err


def test_kl_plot_prints_the_path_it_wrote(tmp_path, capsys):
    assert main(["kl", "0.5,0.5", "0.9,0.1", "--plot", str(tmp_path / "figure")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {tmp_path / 'figure.png'}"
    assert (tmp_path / "figure.png").is_file() and not (tmp_path / "figure").exists()


def test_a_value_that_starts_with_a_minus_sign_is_a_value(capsys):
    code, out, err = run(capsys, "kl", "-0.5,1.5", "0.5,0.5")
    assert code == 2 and err.strip() == "klvae kl: error: p has negative entries"


# ----------------------------------------------------------------- kl --dist, divergence


def test_kl_dist_gives_the_closed_form_and_says_so(capsys):
    from scipy.special import betaln, digamma

    code, out, _ = run(capsys, "kl", "--dist", "Beta(2, 3)", "Beta(3.5, 1.5)")
    a1, b1, a2, b2 = 2.0, 3.0, 3.5, 1.5
    want = (
        betaln(a2, b2)
        - betaln(a1, b1)
        + (a1 - a2) * digamma(a1)
        + (b1 - b2) * digamma(b1)
        + (a2 - a1 + b2 - b1) * digamma(a1 + b1)
    )
    value, unit, *rest = out.split()
    assert code == 0 and float(value) == pytest.approx(want, rel=1e-13) and unit == "nats"
    assert " ".join(rest) == "(exact: closed form)"


def test_kl_dist_of_a_one_dimensional_mixture_is_quadrature_with_its_error_bound(capsys):
    mix = "MixtureSameFamily(Categorical(probs=[0.3, 0.7]), Normal([-2, 1.5], [0.6, 1]))"
    code, out, _ = run(capsys, "kl", "--dist", mix, "Normal(0, 2)")
    m = re.fullmatch(r"(\S+) nats \(quadrature: absolute error ≤ (\S+) nats\)\n", out)
    assert code == 0 and m

    def integrand(x):
        lp = np.logaddexp(np.log(0.3) + stats.norm.logpdf(x, -2, 0.6), np.log(0.7) + stats.norm.logpdf(x, 1.5, 1))
        return np.exp(lp) * (lp - stats.norm.logpdf(x, 0, 2))

    exact = integrate.quad(integrand, -15, 15, limit=200, epsabs=1e-13)[0]
    assert float(m[2]) < 1e-9 and abs(float(m[1]) - exact) < float(m[2]) + 1e-12


@pytest.mark.parametrize(
    "argv, want",
    [
        (
            ["0.5,0.5", "0.25,0.75", "--measure", "hellinger"],
            math.sqrt(0.5 * ((math.sqrt(0.5) - 0.5) ** 2 + (math.sqrt(0.5) - math.sqrt(0.75)) ** 2)),
        ),
        (["0.5,0.5", "0.25,0.75", "--measure", "tv"], 0.25),
        (["0.5,0.5", "0.25,0.75", "--measure", "chi2"], 0.25**2 / 0.25 + 0.25**2 / 0.75),
        (["0.5,0.5", "0.25,0.75", "--measure", "renyi", "--alpha", "2"], math.log(1 + 1 / 3)),  # log(1 + χ²)
        (["0.5,0.5", "0.25,0.75", "--measure", "alpha", "--alpha", "2"], (1 / 3) / 2),  # χ²/2 at α = 2
        (["--dist", "Normal(0, 1)", "Normal(1, 1)", "--measure", "tv"], 2 * stats.norm.cdf(0.5) - 1),
    ],
)
def test_divergence_command_against_the_formulas(capsys, argv, want):
    code, out, err = run(capsys, "divergence", *argv)
    assert code == 0, err
    assert float(out.split()[0]) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["0.5,0.5", "1,0", "--measure", "renyi"], "--measure renyi needs --alpha"),
        (["0.5,0.5", "1,0", "--measure", "tv", "--alpha", "2"], "--alpha applies to renyi and alpha, not tv"),
        (["0.5,0.5", "1,0", "--measure", "hellinger", "--base", "2"], "--base applies to renyi (a log), not hellinger"),
        (["0.5,0.6", "0.5,0.5", "--measure", "tv"], "p rows must sum to 1 (max deviation 0.1); pass --normalize"),
        (["--dist", "Poisson(3)", "Normal(0, 1)", "--measure", "hellinger"], "both be discrete or both continuous"),
    ],
)
def test_divergence_errors_are_one_line(capsys, argv, message):
    code, _, err = run(capsys, "divergence", *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_density_kl_says_how_exact_it_is(capsys):
    code, out, _ = run(capsys, "kl", "1:0:1e-06", "1:0:1", "--density")
    value = float(out.split()[0])
    assert value == pytest.approx(math.log(1e6) + 0.5 * (1e-12 - 1), rel=1e-14)  # KL(N(0,σ²)‖N(0,1)): 13.3155
    assert "(closed form: both are single Gaussians)" in out
    code, out, _ = run(capsys, "kl", "0.5:-3:1,0.5:3:1", "1:0:2", "--density")
    assert re.search(r"\(quadrature; absolute error ≤ \S+ nats\)", out)


def test_one_of_a_unit_is_singular(capsys):
    assert run(capsys, "entropy", "0.5,0.5", "--base", "2")[1] == "1 bit\n"


# ----------------------------------------------------------------- what a new user meets


def test_a_plot_name_with_another_suffix_is_refused_not_renamed(capsys, tmp_path):
    code, out, err = run(capsys, "kl", "0.5,0.5", "0.9,0.1", "--plot", str(tmp_path / "kl.jpg"))
    assert (
        code == 2
        and err.strip()
        == f"klvae kl: error: --plot {tmp_path / 'kl.jpg'}: the figure is a PNG; give a file name ending in .png"
    )
    assert not any(tmp_path.iterdir()) and out == ""


def test_density_with_a_plot_keeps_the_error_line(capsys, tmp_path):
    code, out, _ = run(capsys, "kl", "0.5:-3:1,0.5:3:1", "1:0:2", "--density", "--plot", str(tmp_path / "k.png"))
    lines = out.splitlines()
    assert code == 0 and re.fullmatch(r"  \(quadrature; absolute error ≤ \S+ nats\)", lines[1])
    assert lines[2] == f"wrote {tmp_path / 'k.png'}"


@pytest.mark.parametrize("command", ["kl", "divergence"])
def test_a_distribution_given_without_dist_suggests_it(capsys, command):
    extra = ["--measure", "tv"] if command == "divergence" else []
    code, _, err = run(capsys, command, "Normal(0,1)", "Normal(1,1)", *extra)
    assert code == 2 and err.strip() == (
        f"klvae {command}: error: P: 'Normal(0,1)' is a distribution, not probabilities: add --dist to read it as one"
    )


def test_a_bad_parameter_names_the_distribution_and_the_value(capsys):
    code, _, err = run(capsys, "kl", "--dist", "Beta(-1,3)", "Beta(3,2)")
    assert code == 2 and err.strip() == "klvae kl: error: P: Beta(-1, 3): concentration1 = -1 is not > 0"
    code, _, err = run(capsys, "kl", "--dist", "Beta(2,3)", "Gama(3,2)")
    assert (
        code == 2
        and err.count("Poisson") == 1
        and "did you mean Gamma?" in err
        and err.startswith("klvae kl: error: Q:")
    )


@pytest.mark.parametrize(
    "argv, unit",
    [
        (["--measure", "hellinger"], "(no unit)"),
        (["--measure", "tv"], "(no unit)"),
        (["--measure", "chi2"], "(no unit)"),
        (["--measure", "alpha", "--alpha", "0.5"], "(no unit)"),
        (["--measure", "renyi", "--alpha", "0.5"], "nats"),
        (["--measure", "renyi", "--alpha", "0.5", "--base", "2"], "bits"),
    ],
)
def test_every_divergence_says_its_unit_at_one_precision(capsys, argv, unit):
    code, out, _ = run(capsys, "divergence", "0.5,0.5", "0.25,0.75", *argv)
    value, printed = out.strip().split(" ", 1)
    assert code == 0 and printed == unit
    assert len(value.lstrip("0.").replace(".", "")) <= 15  # the 15 significant digits of every measure


def test_a_zero_is_never_negative(capsys):
    from klvae.cli.common import fixed
    from klvae.cli.measure_output import with_unit

    assert with_unit(-0.0, "nats") == "0 nats" and fixed(-1e-9) == "0.000" and fixed(-0.0004) == "0.000"
    assert fixed(-0.0006) == "-0.001"
