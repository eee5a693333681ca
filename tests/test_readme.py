"""The command lines of README.md run as shown.

Every ```console block of README.md is a short shell transcript: lines that start with `$ klvae ` are
commands, the lines under a command are what it prints on stdout. Each block runs, in order, in
a fresh temporary folder (the working directory, so run folders land there) through
`klvae.cli.main`, and every command must exit with code 0. The output of the information
measures (`entropy`, `kl`, `js`, `ce`) and of `gan --theory` is deterministic and must equal
what the README shows; for the other commands numbers vary with the machine (times, speeds,
losses), so their lines are compared with every number masked, and a line `...` stands for any
number of lines. Commands that need a GPU, torchrun or Fashion-MNIST are in ```sh blocks, which
are not run.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from klvae.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
EXACT = {"entropy", "kl", "js", "ce"}  # cheap and deterministic: the output must match to the digit
NUMBER = re.compile(r"[-−+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


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


def exact(command: str) -> bool:
    argv = shlex.split(command)[1:]
    return argv[0] in EXACT or argv[:2] == ["gan", "--theory"]


def masked(line: str) -> str:
    return NUMBER.sub("<n>", line)


def matches(expected: list[str], actual: list[str]) -> bool:
    """Lines equal with numbers masked; a line "..." matches any number of lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and masked(expected[0]) == masked(actual[0]) and matches(expected[1:], actual[1:])


BLOCKS = console_blocks(README.read_text())


def test_the_readme_has_runnable_examples():
    commands = [c for _, script in BLOCKS for c, _ in script]
    assert len(commands) >= 10
    assert all(c.startswith("klvae ") for c in commands), [c for c in commands if not c.startswith("klvae ")]
    names = {shlex.split(c)[1] for c in commands}
    assert {"train", "eval", "sample", "entropy", "kl", "js", "ce", "modes", "estimators", "gan"} <= names


def test_the_block_parser_reads_commands_and_their_output():
    text = "```console\n$ klvae entropy 1\n0 nats\n$ klvae js 1 1\n```\n```sh\n$ klvae train\n```\n"
    assert console_blocks(text) == [(1, [("klvae entropy 1", ["0 nats"]), ("klvae js 1 1", [])])]
    assert matches(
        ["trained 2 epochs in 0.1 s", "...", "report: r"], ["trained 3 epochs in 9 s", "a", "b", "report: r"]
    )
    assert not matches(["report: r"], ["report: s"]) and not matches(["a"], ["a", "b"])
    assert not matches(["trained 2 epochs"], ["trained 2 epochs (stopped)"])


def test_the_cheap_deterministic_outputs_are_compared_exactly():
    shown = [(c, out) for _, script in BLOCKS for c, out in script if exact(c)]
    assert {shlex.split(c)[1] for c, _ in shown} >= {"entropy", "kl", "js", "ce", "gan"}
    assert all(out for _, out in shown), [c for c, out in shown if not out]


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
        if exact(command):
            assert lines == expected, f"README.md:{start}: `{command}` printed:\n{out}"
        elif expected:
            assert matches(expected, lines), f"README.md:{start}: `{command}` printed:\n{out}"
