"""The examples of README.md run as shown.

Every ```console block of README.md is a short shell transcript: lines that start with `$ klvae ` are
commands, the lines under a command are what it prints on stdout. Each block runs, in order, in
a fresh temporary folder (the working directory, so run folders land there) through
`klvae.cli.main`, and every command must exit with code 0. What a command prints must equal what
the README shows, with numbers masked only where they vary by machine: in the output of the
commands that train (`train`, `eval`, `gan` and `compare` of trained runs) the losses, scores and
times (every number with a decimal point), the speed (samples/s) and the two counts that are
outcomes of training (active units, modes captured). Counts such as epochs, steps, parameters and
images, settings such as k, and the output of every other command (the information measures,
`modes`, `sample`, `encode`, `gan --theory`) are compared digit for digit. A line `...` stands
for any number of lines. Commands that need a GPU, torchrun or Fashion-MNIST are in ```sh blocks,
which are not run.

Every ```python block is a doctest (pytest runs README.md with --doctest-glob), and every call of a
klvae function written in the prose (`klvae.mc_kl(p, q, n, seed=0)`) fits that function's signature.
"""

from __future__ import annotations

import inspect
import re
import shlex
from pathlib import Path

import pytest

import klvae
from klvae.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
TRAINED = {"train", "eval", "gan", "compare"}  # their numbers come from training: losses, scores, times
DECIMAL = re.compile(r"[-−+]?\d+\.\d+(?:e[-+]?\d+)?")
OUTCOME = re.compile(r"(\d+)(?= samples/s)|(?<=active units)(\s+)(\d+)|(?<=modes captured)(\s+)(\d+)")


def console_blocks(text: str) -> list[tuple[int, list[tuple[str, list[str]]]]]:
    """(line number, [(command, expected output lines)]) for each ```console block with a klvae command."""
    blocks, inside, start, script = [], False, 0, []
    for number, line in enumerate(text.splitlines(), 1):
        if not inside and line.strip() == "```console":
            inside, start, script = True, number, []
        elif inside and line.strip() == "```":
            inside = False
            if script:
                blocks.append((start, script))
        elif inside and line.startswith("$ "):
            script.append((line[2:], []))
        elif inside and script:
            script[-1][1].append(line.rstrip())
    assert not inside, "README.md: a ```console block is not closed"
    return blocks


def trained(command: str) -> bool:
    argv = shlex.split(command)[1:]
    return argv[0] in TRAINED and argv[:2] != ["gan", "--theory"]


def masked(line: str) -> str:
    """`line` with the numbers that vary by machine replaced by <n>; every other number kept."""
    line = OUTCOME.sub(lambda m: (m.group(2) or m.group(4) or "") + "<n>", line)
    return DECIMAL.sub("<n>", line)


def matches(expected: list[str], actual: list[str], mask=masked) -> bool:
    """Lines equal after `mask`; a line "..." matches any number of lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:], mask) for i in range(len(actual) + 1))
    return bool(actual) and mask(expected[0]) == mask(actual[0]) and matches(expected[1:], actual[1:], mask)


TEXT = README.read_text()
BLOCKS = console_blocks(TEXT)


def test_the_readme_has_runnable_examples():
    commands = [c for _, script in BLOCKS for c, _ in script]
    assert len(commands) >= 10
    assert all(c.startswith("klvae ") for c in commands), [c for c in commands if not c.startswith("klvae ")]
    names = {shlex.split(c)[1] for c in commands}
    assert {"train", "eval", "sample", "entropy", "kl", "js", "ce", "modes", "estimators", "gan", "compare"} <= names


def test_the_block_parser_reads_commands_and_their_output():
    text = "```console\n$ klvae entropy 1\n0 nats\n$ klvae js 1 1\n```\n```sh\n$ klvae train\n```\n"
    assert console_blocks(text) == [(1, [("klvae entropy 1", ["0 nats"]), ("klvae js 1 1", [])])]
    assert matches(
        ["trained 2 epochs (18 steps) in 0.1 s, 900 samples/s", "...", "report: r"],
        ["trained 2 epochs (18 steps) in 9.5 s, 12 samples/s", "a", "b", "report: r"],
    )
    assert not matches(["report: r"], ["report: s"]) and not matches(["a"], ["a", "b"])
    assert not matches(["trained 2 epochs"], ["trained 2 epochs (stopped)"])


def test_the_mask_hides_losses_times_and_outcomes_never_counts_or_settings():
    assert not matches(["trained 2 epochs (24 steps) in 0.1 s"], ["trained 2 epochs (18 steps) in 0.1 s"])
    assert not matches(["  test −log p(x), IW k = 100  27.0 nats"], ["  test −log p(x), IW k = 1000  27.0 nats"])
    assert not matches(["cpu, 61,680 parameters; train 1150"], ["cpu, 61,680 parameters; train 1151"])
    assert matches(
        ["  active units    5 of 8", "  modes captured  2 of 8"],
        ["  active units    7 of 8", "  modes captured  8 of 8"],
    )
    assert not matches(["  active units    5 of 8"], ["  active units    5 of 9"])
    assert matches(["  test ELBO (β = 1)  -27.154 ± 0.176 nats"], ["  test ELBO (β = 1)  -26.001 ± 0.201 nats"])


def test_every_printed_output_is_shown_and_checked():
    shown = [
        (c, out) for _, script in BLOCKS for c, out in script if not trained(c) and shlex.split(c)[1] != "estimators"
    ]
    assert {shlex.split(c)[1] for c, _ in shown} >= {
        "entropy",
        "kl",
        "js",
        "ce",
        "divergence",
        "gan",
        "modes",
        "sample",
    }
    assert all(out and "..." not in out for _, out in shown), [c for c, out in shown if not out or "..." in out]


@pytest.mark.parametrize("start, script", BLOCKS, ids=[f"README.md:{start}" for start, _ in BLOCKS])
def test_console_block(start, script, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for command, expected in script:
        argv = shlex.split(command)
        assert argv[0] == "klvae", f"README.md:{start}: only klvae commands run here: {command}"
        capsys.readouterr()
        code = main(argv[1:])
        out, err = capsys.readouterr()
        assert code == 0, f"README.md:{start}: `{command}` exited with {code}:\n{err}"
        lines = out.rstrip("\n").splitlines()
        if expected:
            mask = masked if trained(command) else (lambda line: line)
            assert matches(expected, lines, mask), f"README.md:{start}: `{command}` printed:\n{out}"


# ------------------------------------------------------------------ the Python in the prose

PROSE_CALL = re.compile(r"`(klvae\.[\w.]+|[a-z_]\w*)\(([^()`]*)\)`")


def prose_calls(text: str) -> list[tuple[str, str]]:
    """(name, arguments) of each call of a klvae function written inline in the prose."""
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    calls = []
    for name, arguments in PROSE_CALL.findall(prose):
        short = name.removeprefix("klvae.").split(".")[-1]
        if arguments.startswith("_"):  # `binary_cross_entropy(_with_logits)`: two names, not a call
            continue
        if name.startswith("klvae.") or short in dir(klvae):
            calls.append((name, arguments))
    return calls


def resolve(name: str):
    if not name.startswith("klvae."):
        return getattr(klvae, name)
    obj = klvae
    for part in name.split(".")[1:]:
        obj = getattr(obj, part) if hasattr(obj, part) else __import__(f"{obj.__name__}.{part}", fromlist=["_"])
    return obj


def test_the_prose_names_calls_that_fit_their_functions():
    calls = prose_calls(TEXT)
    assert ("klvae.mc_kl", "p, q, n, seed=0") in calls and len(calls) >= 5
    for name, arguments in calls:
        positional, keywords = [], {}
        for part in filter(None, (a.strip() for a in arguments.split(","))):
            if "=" in part:
                key, value = part.split("=", 1)
                keywords[key.strip()] = value
            else:
                positional.append(part)
        try:
            inspect.signature(resolve(name)).bind(*positional, **keywords)
        except TypeError as err:
            raise AssertionError(f"README.md: `{name}({arguments})` does not fit {name}: {err}") from None


def test_a_wrong_call_in_the_prose_is_caught():
    with pytest.raises(TypeError):
        inspect.signature(klvae.mc_kl).bind("p", "q", "n", "seed")


def test_every_python_block_is_a_doctest():
    blocks = re.findall(r"```python\n(.*?)```", TEXT, flags=re.S)
    assert blocks and all(b.lstrip().startswith(">>>") for b in blocks)
