"""The `klvae` command line: one subcommand per job, each a thin layer over the library.

Each module in this package defines `register(subparsers)`, which adds its subcommands and sets
`func` on them; a `func` returns an exit code. Flags mean the same thing in every command
(`klvae.cli.common`). Errors a user can fix (bad input, a misspelled option or command, missing
or unreadable files, a full disk) print one line and exit 2; nothing runs at import time.

The command line answers at once: building the parser imports neither torch, NumPy, SciPy nor
Matplotlib, and each command imports the library layers it needs inside its function. This is
the one exception, in the `cli` layer only, to the rule that klvae imports stand at the top of
a module (tests/test_architecture.py); the imports still obey the layer rules.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import threading

from klvae._version import __version__
from klvae.cli import (
    compare_commands,
    experiment_commands,
    gan_commands,
    measure_commands,
    sample_commands,
    vae_commands,
)
from klvae.cli.common import UsageError

__all__ = ["main", "build_parser", "UsageError", "OneLineParser"]

# a comma list of numbers that starts with a minus sign ("-0.5,1.5") is a value, not an option
_NEGATIVE_VALUE = re.compile(r"^-(\d|\.\d)[\d.eE+\-,]*$")
_CHOICE = re.compile(r"argument (\S+): invalid choice: '(.*?)' \(choose from (.*)\)$")
_NUMBER = re.compile(r"argument (\S+): invalid (int|float) value: '(.*)'$")


def _did_you_mean(word: str, candidates) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: what was wrong, and a close spelling if any.

    Parameters
    ----------
    prog, usage, description, epilog : str, optional
        The texts of the help, as for `argparse.ArgumentParser`.
    parents : list of argparse.ArgumentParser
        Parsers whose arguments this one adds.
    formatter_class : type
        The help's formatter.
    prefix_chars, fromfile_prefix_chars : str, optional
        The characters that start an option, and a file of arguments.
    argument_default : object, optional
        The default of every argument.
    conflict_handler : str
        ``"error"`` or ``"resolve"``: two arguments of the same option string.
    add_help, allow_abbrev, exit_on_error : bool
        A ``-h/--help`` option; abbreviated long options; errors that exit (as
        `argparse.ArgumentParser`).

    Examples
    --------
    >>> import contextlib, io
    >>> parser = OneLineParser(prog="demo")
    >>> _ = parser.add_argument("--mode", choices=["fast", "exact"])
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     try:
    ...         parser.parse_args(["--mode", "exakt"])
    ...     except SystemExit as stop:
    ...         print(stop.code)
    2
    >>> print(err.getvalue().strip())
    demo: error: unknown --mode 'exakt'; did you mean exact? (one of fast, exact) (see demo --help)
    """

    def error(self, message: str):
        """Exit with status 2 and one line on stderr: argparse's message, reworded.

        Parameters
        ----------
        message : str
            argparse's message; an unknown choice gets its likely spelling, a bad number says
            what was expected.
        """
        if m := _CHOICE.match(message):
            name, value, choices = m.groups()
            what = "command" if name in ("COMMAND", "command") else name
            options = re.findall(r"'([^']*)'", choices)
            message = f"unknown {what} {value!r}{_did_you_mean(value, options)} (one of {', '.join(options)})"
        elif m := _NUMBER.match(message):
            name, kind, value = m.groups()
            message = f"{name}: expected {'a whole number' if kind == 'int' else 'a number'}, got {value!r}"
        elif message.startswith("argument "):
            message = message[len("argument ") :]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def unrecognized(self, extra: list[str]):
        """Exit with one line for the arguments the parser did not take: the first one, and its likely spelling.

        Parameters
        ----------
        extra : list of str
            The arguments left over.
        """
        word = extra[0].strip()
        if word.startswith("-"):
            flags = [s for a in self._actions for s in a.option_strings if a.help != argparse.SUPPRESS]
            guess = _did_you_mean(word.split("=")[0], flags)
            self.error(f"unrecognized option {word}{guess}")
        self.error(f"unrecognized argument{'s' if len(extra) > 1 else ''}: {' '.join(a.strip() for a in extra)}")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The ``klvae`` parser and each subcommand's parser by name.

    Building it imports none of torch, NumPy, SciPy or Matplotlib: each command imports what it
    needs when it runs.

    Returns
    -------
    parser : argparse.ArgumentParser
        The top-level parser (a `OneLineParser`); a parsed command's ``func`` runs it.
    commands : dict of str to argparse.ArgumentParser
        Each subcommand's parser, by the command's name.

    Examples
    --------
    >>> parser, commands = build_parser()
    >>> "kl" in commands and "train" in commands
    True
    >>> parser.parse_args(["kl", "0.5,0.5", "0.25,0.75"]).command
    'kl'
    """
    parser = OneLineParser(
        prog="klvae", allow_abbrev=False, description="Information measures, and the VAE and GAN built on them."
    )
    parser.add_argument("--version", action="version", version=f"klvae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (
        measure_commands,
        experiment_commands,
        vae_commands,
        sample_commands,
        compare_commands,
        gan_commands,
    ):
        module.register(sub)
    for command in sub.choices.values():
        command.allow_abbrev = False  # "--epoch" is a misspelling, not --epochs
    return parser, dict(sub.choices)


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run one ``klvae`` command, as the ``klvae`` executable does.

    Errors a user can fix (bad input, a misspelled option or command, a missing or unreadable
    file, a full disk) print one line to stderr and return 2; Ctrl-C (or SIGTERM, outside
    training) returns 130. A comma list that starts with a minus sign (``-0.5,1.5``) is read as a
    value, not an option.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``klvae``; None: ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit code: 0 on success, 2 for a usage error (or no command), 130 when interrupted.

    Examples
    --------
    >>> main(["kl", "0.5,0.5", "0.25,0.75", "--base", "2"])
    0.207518749639422 bits
    0
    """
    parser, commands = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    argv = [" " + a if _NEGATIVE_VALUE.match(a) else a for a in argv]  # float(" -0.5") reads it
    args, extra = parser.parse_known_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    if extra:  # the subcommand's message, not the top level's
        commands[args.command].unrecognized(extra)  # type: ignore[attr-defined]
    main_thread = threading.current_thread() is threading.main_thread()
    # SIGTERM outside training acts like Ctrl-C too (inside it, the loop saves a checkpoint first)
    old = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        return int(args.func(args) or 0)
    except (UsageError, ValueError, FileNotFoundError) as err:
        print(f"klvae {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a full disk, a read-only folder, a file where a folder should be
        where = f": {err.filename}" if err.filename else ""
        print(f"klvae {args.command}: error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"klvae {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, old)
