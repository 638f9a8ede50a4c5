"""``python -m refimpl explain PROGRAM [--mode dense|fake|proxy|functional] [--profile NAME]``.

Models: nothing upstream; the command line of ``refimpl.explain`` (see its docstring and
``docs/tutorial.md``).
Spec: the clauses ``refimpl.explain`` cites (DSP-4, DSP-8, DSP-13, EFF-16, EFF-21, TRC-1...).

PROGRAM is either a Python file that defines ``f`` (and may define ``inputs()``, returning the
example inputs; by default one ``refimpl.arange(4, dtype=refimpl.float32)`` per parameter), or
an effect program (``.json``, the oracle's ``effects-program/1`` format). Exit status: 0 when the
program ran, 1 when it raised (the trace up to the error is printed), 2 for bad input (a missing
or unreadable file, no ``f``, an unknown mode or profile), with a one-line message.

Simplifications:
1. A Python file is run as a script (``runpy.run_path``) and what it registers (custom ops,
   effects) stays registered for the rest of the process.
"""

from __future__ import annotations

import argparse
import contextlib
import runpy
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import refimpl
from refimpl.explain import MODES, explain, print_explanation

__all__ = ["main"]

PROG = "python -m refimpl"


class BadInput(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage block) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise BadInput(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="refimpl tools for learners.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    explain_cmd = commands.add_parser(
        "explain",
        help="trace what the dispatcher does with each call of a program",
        description="Run PROGRAM's f in one mode and print every dispatch: the keys computed, "
        "who handled each call, effect tokens; then the graph (proxy, functional).",
    )
    explain_cmd.add_argument(
        "program",
        metavar="PROGRAM",
        help="a Python file defining f (and optionally inputs()), or a program .json",
    )
    explain_cmd.add_argument(
        "--mode",
        choices=MODES,
        default="dense",
        help="dense (eager), fake (FakeTensorMode), proxy (make_fx, fake "
        "tracing) or functional (aot_export); default dense",
    )
    explain_cmd.add_argument(
        "--profile", default=None, help="refimpl version profile (default: REFIMPL_PROFILE or seed)"
    )
    return parser


@contextlib.contextmanager
def _python_program(path: Path) -> Iterator[tuple[Callable, list | None]]:
    try:
        namespace = runpy.run_path(str(path), run_name="__refimpl_explain__")
    except Exception as exc:
        raise BadInput(f"cannot run {path}: {type(exc).__name__}: {exc}") from exc
    fn = namespace.get("f")
    if not callable(fn):
        raise BadInput(f"{path} defines no function f")
    make_inputs = namespace.get("inputs")
    try:
        inputs = list(make_inputs()) if callable(make_inputs) else None
    except Exception as exc:
        raise BadInput(f"{path}: inputs() raised {type(exc).__name__}: {exc}") from exc
    yield fn, inputs


@contextlib.contextmanager
def _json_program(path: Path) -> Iterator[tuple[Callable, list | None]]:
    # Imported here, and only here: refimpl must never depend on the oracle at import time
    # (the oracle is built on refimpl), but the command line may read the oracle's programs.
    try:
        from oracle.program import load_program
        from oracle.program_source import write_program
        from oracle.refimpl_runner import make_inputs, registrations, resolve
    except ImportError as exc:
        raise BadInput(f"reading {path} needs the oracle package (with its extra): {exc}") from exc
    from refimpl.effects import new_token_tensor, with_effects

    try:
        program = load_program(path)
    except ValueError as exc:  # oracle.program.ProgramError
        raise BadInput(f"{path}: not a valid effect program: {exc}") from exc
    with registrations(program):
        src = write_program(program, resolve, with_effects=with_effects, new_token=new_token_tensor)
        yield src.fn, make_inputs(program)


def _program(text: str) -> contextlib.AbstractContextManager[tuple[Callable, list | None]]:
    path = Path(text)
    if not path.is_file():
        raise BadInput(f"no such file: {text}")
    return _json_program(path) if path.suffix == ".json" else _python_program(path)


def _explain(args: argparse.Namespace) -> int:
    if args.profile is not None:
        try:
            refimpl.set_profile(args.profile)
        except ValueError as exc:
            raise BadInput(str(exc)) from exc
    with _program(args.program) as (fn, inputs):
        try:
            explanation = explain(fn, inputs, mode=args.mode)
        except Exception as exc:
            partial = getattr(exc, "explanation", None)
            if partial is not None:
                print_explanation(partial)
            first = (str(exc).strip().splitlines() or [""])[0]
            print(
                f"{PROG} explain: {args.program} raised {type(exc).__name__}: {first}",
                file=sys.stderr,
            )
            return 1
        print_explanation(explanation)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
        commands: dict[str, Callable[[Any], int]] = {"explain": _explain}
        return commands[args.command](args)
    except BadInput as exc:
        message = " ".join(str(exc).split())  # one line, whatever the exception said
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
