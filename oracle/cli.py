"""``python -m oracle``: check a torch build against the reference; show one program.

Models: nothing upstream.
Spec: RPT-1, RPT-20 (exit codes), RPT-4 (formats), RPT-18 (invalid programs in a batch),
RPT-22 (user strings printed literally).

Simplifications: none.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.text import Text

from oracle.check import add_known_options
from oracle.observation import PATHS, parse_paths
from oracle.program import ProgramError, load_catalog, load_program

if TYPE_CHECKING:
    from oracle.check import CheckRun

__all__ = ["main"]

EXIT_AGREE, EXIT_DIVERGE, EXIT_USAGE = 0, 1, 2


def _paths(text: str) -> list[str]:
    try:
        return parse_paths(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m oracle",
                                     description="Differential oracle for effect tokens.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="run programs (default: the built-in catalog)")
    check.add_argument("programs", nargs="*", type=Path, help="program files (JSON)")
    check.add_argument("--paths", type=_paths, default=list(PATHS),
                       help=f"comma-separated subset of {','.join(PATHS)}")
    check.add_argument("--format", choices=("table", "json", "junit", "html"), default="table")
    check.add_argument("--output", type=Path, help="write the report here instead of stdout")
    check.add_argument("--isolate", action="store_true",
                       help="run the torch side in a worker process with a timeout")
    check.add_argument("--timeout", type=float, default=None,
                       help="seconds per torch case with --isolate (default: per path)")
    check.add_argument("--profile", help="refimpl profile (default: from the torch version)")
    add_known_options(check)
    show = sub.add_parser("show", help="print both sides' graph and log for one program")
    show.add_argument("program", type=Path)
    show.add_argument("--path", choices=PATHS, default="functional")
    show.add_argument("--profile")
    side = sub.add_parser("report", help="JSON reports of several torch builds side by side, "
                                         "as one HTML page (RPT-24)")
    side.add_argument("reports", nargs="+", type=Path, help="`check --format json` reports")
    side.add_argument("--output", type=Path, help="write the page here instead of stdout")
    sub.add_parser("fuzz", help="fuzz effect orderings against torch (see --help there)",
                   add_help=False)
    shrink = sub.add_parser("shrink", help="shrink a finding folder's program (RPT-28)")
    shrink.add_argument("finding", type=Path, help="a finding folder (program.json)")
    shrink.add_argument("--path", choices=PATHS, help="default: from signature.json")
    shrink.add_argument("--kind", help="the kind to keep (default: from signature.json)")
    shrink.add_argument("--output", type=Path, help="write the shrunk finding here instead")
    shrink.add_argument("--timeout", type=float, default=None,
                        help="seconds per torch case (default: per path)")
    shrink.add_argument("--profile")
    return parser


def _load(paths: list[Path]) -> list:
    """The programs of the batch; a file that does not load is an `InvalidProgram` (RPT-18)."""
    from oracle.check import InvalidProgram  # noqa: PLC0415 - keeps `--help` fast

    if not paths:
        return load_catalog()
    programs: list = []
    for path in paths:
        try:
            programs.append(load_program(path))
        except (ProgramError, OSError, UnicodeDecodeError) as exc:
            programs.append(InvalidProgram(str(path), str(exc)))
    return programs


def _check(args: argparse.Namespace, console: Console) -> int:
    from oracle import report  # noqa: PLC0415 - keeps `--help` fast
    from oracle.check import InvalidProgram, known_from_args, run_check  # noqa: PLC0415

    known = known_from_args(args)
    programs = _load(args.programs)
    total = len(programs) * len(args.paths)
    with Progress(console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("checking", total=total)

        def tick(label: str) -> None:
            progress.update(task, advance=1, description=escape(label))

        run = run_check(programs, args.paths, profile=args.profile, isolate=args.isolate,
                        timeout=args.timeout, progress=tick, known=known)
    for program in programs:  # on stderr too, for a report that goes to a file or is JSON
        if isinstance(program, InvalidProgram):
            Console(stderr=True).print(Text(f"invalid program {program.name}: {program.message}",
                                            style="red"), soft_wrap=True)
    if args.format == "table":
        if args.output:
            buffer = io.StringIO()
            report.print_table(run, Console(file=buffer, width=160))
            _write_atomically(args.output, buffer.getvalue())
        else:
            report.print_table(run, console)
    else:
        if args.format == "json":
            text = json.dumps(report.to_json(run), indent=1, default=str)
        elif args.format == "html":
            from oracle.report_html import render_html  # noqa: PLC0415 - imports jinja2

            text = render_html([json.loads(json.dumps(report.to_json(run), default=str))])
        else:
            text = report.to_junit(run)
        if args.output:
            _write_atomically(args.output, text + "\n")
        else:
            sys.stdout.write(text + "\n")
    return _exit_status(run)


def _write_atomically(path: Path, text: str) -> None:
    """RPT-24: a unique temporary file beside `path`, renamed over it, so that two runs writing
    the same `--output` leave one whole report, never a torn one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent or Path("."), prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # as open() would make it, not mkstemp's 0600
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _report(args: argparse.Namespace) -> int:
    from oracle.report_html import render_html  # noqa: PLC0415 - imports jinja2

    reports = []
    for path in args.reports:
        try:
            reports.append(json.loads(path.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a JSON report ({exc})") from exc
        if not isinstance(reports[-1], dict) or "results" not in reports[-1]:
            raise ValueError(f"{path}: not an effects-oracle JSON report (no 'results')")
    page = render_html(reports)
    if args.output:
        _write_atomically(args.output, page)
    else:
        sys.stdout.write(page)
    return EXIT_AGREE


def _exit_status(run: CheckRun) -> int:
    """RPT-20: 2 when a program of the batch is invalid, else 1 when a result fails."""
    if run.invalid:
        return EXIT_USAGE
    return EXIT_DIVERGE if run.failed else EXIT_AGREE


def _show(args: argparse.Namespace, console: Console) -> int:
    from oracle import report  # noqa: PLC0415
    from oracle.check import run_check  # noqa: PLC0415

    run = run_check([load_program(args.program)], [args.path], profile=args.profile)
    result = run.results[0]
    console.print(Text(f"{result.program} [{result.path}]: {result.status}"))
    for detail in result.details:
        console.print(Text(detail))
    t_obs, r_obs = run.observations[(result.program, result.path)]
    report.show_sides(t_obs, r_obs, console)
    return _exit_status(run)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["fuzz"]:
        # The campaign runner owns its options (oracle/fuzz.py); pass them through untouched.
        from oracle.fuzz import main as fuzz_main  # noqa: PLC0415 - imports hypothesis

        return fuzz_main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    console = Console()
    try:
        if args.command == "check":
            return _check(args, console)
        if args.command == "report":
            return _report(args)
        if args.command == "shrink":
            from oracle.fuzz import shrink_folder  # noqa: PLC0415 - imports hypothesis

            return shrink_folder(args.finding, console, path=args.path, kind=args.kind,
                                 output=args.output, timeout=args.timeout, profile=args.profile)
        return _show(args, console)
    except ProgramError as exc:
        Console(stderr=True).print(Text(f"invalid program: {exc}", style="red"), soft_wrap=True)
        return EXIT_USAGE
    except (OSError, ValueError) as exc:
        Console(stderr=True).print(Text(f"error: {exc}", style="red"), soft_wrap=True)
        return EXIT_USAGE
