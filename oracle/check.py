"""Run programs through both worlds on each path and compare: the conformance check.

Models: nothing upstream. For each program and path: the torch observation (in-process, or in a
worker with ``isolate=True``), the reference observation (refimpl), one ``PathResult``.
Spec: RPT-1 .. RPT-6, RPT-18 (invalid programs), RPT-20 (exit statuses) (specs/report.md).

Simplifications:
1. The reference profile is chosen from the torch version (``refimpl.profiles``), unless given.
2. Known findings (``known_findings.json``) turn a matching divergence into ``known``; an entry
   that matched nothing in a run with a result that could show it (its path, its ``requires``)
   is reported as stale. Entries are signatures, never program names (RPT-6).
3. A program file that does not load is an ``InvalidProgram`` in the batch: it becomes an
   ``invalid`` result on every path, and the programs after it still run (RPT-18).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import refimpl
from oracle.compare import PathResult, compare_observations
from oracle.observation import PATHS, Observation, unknown_path
from oracle.program import ProgramError, program_to_json
from oracle.program_reader import DEFAULT_LIMITS, Limits
from oracle.refimpl_runner import oversized_value, run_refimpl_paths
from refimpl.profiles import profile_for_torch_version

__all__ = [
    "FAILING", "STATUSES", "CheckRun", "InvalidProgram", "KnownFindingsError",
    "add_known_options", "check_programs", "known_finding_for", "known_from_args",
    "load_known_findings", "run_check", "select_profile",
]

# Every status a result can have (RPT-2, RPT-18, RPT-19), in the order reports count them.
STATUSES = ("agree", "diverge", "error", "skip", "known", "unmet", "invalid")
# The statuses that make `oracle check` exit 1 (RPT-20); `invalid` makes it exit 2.
FAILING = ("diverge", "error", "unmet")


@dataclass(frozen=True)
class InvalidProgram:
    """A program file of a batch that did not load: its name as given and the loader's message
    (naming the JSON path of the fault). It runs nowhere; it is reported (RPT-18)."""

    name: str
    message: str


@dataclass
class CheckRun:
    """Everything a report needs."""

    torch_version: str
    profile: str
    paths: list[str]
    results: list[PathResult] = field(default_factory=list)
    observations: dict[tuple[str, str], tuple[Observation, Observation]] = field(
        default_factory=dict)
    stale_known: list[dict] = field(default_factory=list)
    torch_seconds: float = 0.0
    refimpl_seconds: float = 0.0
    wall_seconds: float = 0.0

    @property
    def diverged(self) -> bool:
        """A result diverges or errs (fuzzing's findings)."""
        return any(r.status in ("diverge", "error") for r in self.results)

    @property
    def failed(self) -> bool:
        """A result needs a look: `oracle check` exits 1 (RPT-20)."""
        return any(r.status in FAILING for r in self.results)

    @property
    def invalid(self) -> bool:
        """A program of the batch did not load: `oracle check` exits 2 (RPT-20)."""
        return any(r.status == "invalid" for r in self.results)


def torch_version() -> str:
    import torch  # noqa: PLC0415 - the oracle only needs torch when it runs the torch side

    return torch.__version__


def select_profile(name: str | None, version: str) -> str:
    """``name``, or the profile matching the torch version (the nearest, with an
    ``UnprofiledTorchWarning``, for a torch no profile claims: RPT-7); activates it in refimpl."""
    profile = refimpl.set_profile(name) if name else refimpl.set_profile(
        profile_for_torch_version(version, nearest=True))
    return profile.name


FEATURES = ("with_effects", "ordered_custom_op", "ordered_aten_op", "print", "cond", "while_loop",
            "effect_in_subgraph")


class KnownFindingsError(ValueError):
    """A known-findings file that is not `known-findings/1` (RPT-33): the message names the
    file and the JSON path of the fault."""


def load_known_findings(path: Any = None) -> list[dict]:
    """The entries of a known-findings file (default: the packaged `known_findings.json`),
    checked (RPT-6, RPT-33)."""
    source = resources.files("oracle").joinpath("known_findings.json") if path is None else path
    where = "oracle/known_findings.json" if path is None else str(path)
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KnownFindingsError(f"{where}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != "known-findings/1":
        raise KnownFindingsError(f"{where}: $.format must be 'known-findings/1'")
    entries = doc.get("findings")
    if not isinstance(entries, list):
        raise KnownFindingsError(f"{where}: $.findings must be a list")
    for i, entry in enumerate(entries):
        _check_known_entry(entry, f"{where}: $.findings[{i}]")
    return entries


def add_known_options(parser: argparse.ArgumentParser) -> None:
    """`--known FILE` and `--no-known`, as `oracle check` and `oracle fuzz` take them (RPT-33)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--known", type=Path, metavar="FILE",
                       help="known findings to apply (default: the packaged "
                            "oracle/known_findings.json)")
    group.add_argument("--no-known", action="store_true",
                       help="apply no known finding: a cold start, every divergence is reported")


def known_from_args(args: argparse.Namespace) -> list[dict]:
    """The known findings `add_known_options`' arguments ask for."""
    return [] if args.no_known else load_known_findings(args.known)


def _check_known_entry(entry: Any, at: str) -> None:
    if not isinstance(entry, dict):
        raise KnownFindingsError(f"{at} must be an object")
    for key in ("id", "kind", "reason"):
        if not isinstance(entry.get(key), str):
            raise KnownFindingsError(f"{at}.{key} must be a string")
    paths = entry.get("paths", ["*"])
    if not isinstance(paths, list) or not all(p == "*" or p in PATHS for p in paths):
        raise KnownFindingsError(f"{at}.paths must list paths of {', '.join(PATHS)} or '*'")
    requires = entry.get("requires", [])
    if not isinstance(requires, list) or not set(requires) <= set(FEATURES):
        raise KnownFindingsError(f"{at}.requires must list features of {', '.join(FEATURES)}")
    if "match" in entry:
        try:
            re.compile(entry["match"])
        except (re.error, TypeError) as exc:
            raise KnownFindingsError(f"{at}.match is not a regular expression: {exc}") from None


def _covers(entry: dict, result: PathResult) -> bool:
    """A result could show the entry's symptom: its path is one of ``paths`` (``"*"`` for any)
    and its program has every feature in ``requires`` (``compare.program_features``). Entries
    are signatures, never program names (RPT-6)."""
    paths = entry.get("paths", ["*"])
    has = set(entry.get("requires", [])) <= set(result.features)
    return has and ("*" in paths or result.path in paths)


def _matches(entry: dict, result: PathResult) -> bool:
    if not _covers(entry, result):
        return False
    if "match" in entry and not re.search(entry["match"], "\n".join(result.details)):
        return False
    return any(kind.startswith(entry.get("kind", "")) for kind in result.kinds)


def known_finding_for(result: PathResult, known: list[dict] | None = None) -> dict | None:
    """The known-findings entry a divergent result matches, if any (fuzzing uses this)."""
    for entry in load_known_findings() if known is None else known:
        if _matches(entry, result):
            return entry
    return None


def _apply_known(run: CheckRun, known: list[dict]) -> None:
    for entry in known:
        hits = [r for r in run.results if r.status == "diverge" and _matches(entry, r)]
        for result in hits:
            result.status = "known"
            result.known.append(entry)
        relevant = any(_covers(entry, r) for r in run.results)
        if relevant and not hits:
            run.stale_known.append(entry)


def run_torch_side(program: Any, path: str, isolate: bool, timeout: float | None
                   ) -> Observation:
    if isolate:
        from oracle.isolate import run_torch_isolated  # noqa: PLC0415 - workers only if asked

        return run_torch_isolated(program_to_json(program), path, timeout)
    from oracle.torch_runner import run_torch  # noqa: PLC0415 - imports torch

    return run_torch(program, path)


def run_check(programs: Iterable[Any], paths: list[str], *, profile: str | None = None,
              isolate: bool = False, timeout: float | None = None,
              progress: Callable[[str], None] | None = None,
              known: list[dict] | None = None) -> CheckRun:
    """Run every program on every path in both worlds and compare; `known`: the known findings
    to apply (default: the packaged ones; `[]` applies none)."""
    for path in paths:
        if path not in PATHS:
            raise unknown_path(path)
    start = time.perf_counter()
    version = torch_version()
    run = CheckRun(version, select_profile(profile, version), list(paths))
    check_programs(run, programs, lambda p, path: run_torch_side(p, path, isolate, timeout),
                   load_known_findings() if known is None else known, progress)
    run.wall_seconds = time.perf_counter() - start
    return run


def check_programs(run: CheckRun, programs: Iterable[Any],
                   torch_side: Callable[[Any, str], Observation], known: list[dict],
                   progress: Callable[[str], None] | None = None, *,
                   limits: Limits = DEFAULT_LIMITS) -> CheckRun:
    """The one check loop (`oracle check` and `oracle fuzz`): each program on each of
    `run.paths` in both worlds, compared, then the known findings applied. An
    `InvalidProgram` among them is an `invalid` result on each path (RPT-18), and so is a
    program that would make a value over `limits.max_value_elements` elements, found before any
    path runs it (PRG-42)."""
    for program in programs:
        if not isinstance(program, InvalidProgram):
            oversized = oversized_value(program, limits.max_value_elements)
            if oversized is not None:
                program = InvalidProgram(program.name, str(ProgramError(*oversized)))
        if isinstance(program, InvalidProgram):
            run.results.extend(PathResult(program.name, path, "invalid", kinds=["invalid program"],
                                          details=[program.message]) for path in run.paths)
            continue
        references = run_refimpl_paths(program, list(run.paths))
        for path, r_obs in zip(run.paths, references):
            if progress is not None:
                progress(f"{program.name} [{path}]")
            t_obs = torch_side(program, path)
            run.torch_seconds += t_obs.seconds
            run.refimpl_seconds += r_obs.seconds
            run.observations[(program.name, path)] = (t_obs, r_obs)
            run.results.append(compare_observations(program, t_obs, r_obs))
    _apply_known(run, known)
    return run
