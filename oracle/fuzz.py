"""``python -m oracle fuzz``: random effect programs through both worlds until a budget is spent.

Models: nothing upstream. The property is the differential test of
`tests/oracle/test_properties.py` without a bound: on every path asked for, torch and refimpl
agree (values, effect log, graph, errors), and `compile:*` paths keep eager's effect log.
Spec: RPT-1 (exit codes), RPT-14 (findings), RPT-28 (shrinking), RPT-29 (`repro.py`), RPT-30
(`signature.json`); docs/fuzzing.md (how to run campaigns).

How a campaign runs:
1. Rounds of a Hypothesis `@given` test over `oracle.strategies.programs()` (aimed, RPT-34:
   `programs(**HUNT)` with `hypothesis.target` on `oracle.analysis.analyse(...).separated_pairs`,
   by default when a compile path is fuzzed), each round with a fresh seed, sharing one
   `DirectoryBasedExampleDatabase` in `<findings>/.hypothesis`, so a campaign resumes where
   the last one stopped (the first round replays the database).
2. Each example runs its torch side in a worker process (`oracle.isolate.run_torch_isolated`),
   so a crash or a hang is a finding too, and its refimpl side in this process.
3. A failing example is written at once to `<findings>/<signature-hash>/` (`program.json`,
   `report.md`, both observations), as one unit ([NOTE: findings written as one unit], RPT-14);
   Hypothesis then shrinks it (one bug per path and kinds of
   divergence), and at the end of the round the shrunk example replaces it
   ([NOTE: finding signatures]), after `oracle.shrink` reduced it further with the oracle as
   the predicate, once per bug and campaign (RPT-28), replayed findings included.
4. `--jobs N` starts N worker processes of this command with seeds `seed, seed+1, ...`; they share
   the findings folder and its example database.

Simplifications:
1. The budget bounds the campaign's wall time (RPT-16): each torch case's timeout is cut to the
   time left, a case the budget cut short is dropped, and once the budget is spent the round is
   ended at once by `BudgetSpent`, a `BaseException` that Hypothesis does not catch (rejecting
   each further example with `assume` kept Hypothesis generating for seconds). A `WorkerCrash`
   or `Timeout` is re-run once, and is a finding only when it reproduces.
2. Known findings (`oracle/known_findings.json`, or `--known FILE`; none with `--no-known`)
   are not findings here either.
3. Ops in a signature are abstracted (`fz::op2` -> `fz:record/ORDERED`), so that the same bug
   found through differently numbered custom ops is one finding.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import itertools
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import hypothesis.core
from hypothesis import HealthCheck, Phase, Verbosity, given, settings, target
from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    MultiplexedDatabase,
)
from hypothesis.strategies import SearchStrategy
from rich.console import Console
from rich.live import Live
from rich.text import Text

from oracle import strategies
from oracle.analysis import analyse
from oracle.check import (
    CheckRun,
    KnownFindingsError,
    add_known_options,
    check_programs,
    known_from_args,
    load_known_findings,
    select_profile,
)
from oracle.compare import PathResult
from oracle.isolate import case_timeout
from oracle.observation import COMPILE_PATHS, PATHS, Observation, parse_paths
from oracle.program import Program, dump_program, load_program
from oracle.program_source import register_effects_source, write_program
from oracle.report import clip_details, summarise_observation
from oracle.repro import path_config, render_repro
from oracle.shrink import ShrinkResult, StopShrinking, shrink

__all__ = ["Finding", "Fuzzer", "main", "replace_finding", "shrink_folder", "signature",
           "signature_hash", "torch_observation"]

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
ROUND_EXAMPLES = 50
# What aimed rounds maximise with `hypothesis.target` (RPT-34).
TARGET_LABEL = "effect pairs only the token chain orders, with pure work between"
DEFAULT_FINDINGS = Path("findings")
FAILING = ("diverge", "error")


# Harness failures that may not reproduce (a stopped or killed worker): re-run once (RPT-16).
RECHECKED = ("WorkerCrash", "Timeout")


class BudgetSpent(BaseException):
    """The campaign's budget ran out: the example is dropped, not a finding, and the round ends.

    A `BaseException`, so that Hypothesis lets it through instead of shrinking it as a failure."""


def torch_observation(doc: dict, path: str, timeout: float) -> Observation:
    """The torch side of one case (a seam: tests replace it to plant a divergence).

    `timeout` bounds the whole case, a fresh worker's start-up included (RPT-16)."""
    from oracle.isolate import run_torch_isolated  # noqa: PLC0415 - starts a worker process

    return run_torch_isolated(doc, path, timeout, deadline=time.monotonic() + timeout)


# ---------------------------------------------------------------------------------------------
# Signatures
# ---------------------------------------------------------------------------------------------

# [NOTE: finding signatures] A finding is named by (path, kinds of divergence, ops involved).
# "Ops involved" must survive shrinking, so it is read from the symptom, not from the program:
# the error types of a side that raised, else the events on which the two effect logs differ
# (by position); a value or graph mismatch involves no ops. Custom-op names are replaced by their
# behaviour and effect, because the generator numbers custom ops by position.


def _abstract_ops(program: Program) -> dict[str, str]:
    return {c.name: f"{c.name.split('::')[0]}:{c.behavior}/{c.effect}" for c in program.custom_ops}


def _involved(program: Program, t: Observation, r: Observation) -> list[str]:
    names = _abstract_ops(program)
    involved = set()
    for side, obs in (("torch", t), ("refimpl", r)):
        if obs.error is not None:
            involved.add(f"{side}:{obs.error.type}")
    if involved:  # a side that raised stopped its log early: the error is the symptom
        return sorted(involved)
    tl, rl = list(t.effect_log), list(r.effect_log)
    for k in range(max(len(tl), len(rl))):
        a = tl[k] if k < len(tl) else None
        b = rl[k] if k < len(rl) else None
        if a != b:
            involved.update(names.get(e[0], e[0]) for e in (a, b) if e is not None)
    return sorted(involved)


def signature(program: Program, result: PathResult, t: Observation, r: Observation) -> dict:
    """The dedup key of a failing result ([NOTE: finding signatures])."""
    kinds = sorted(result.kinds) or [result.status]
    return {"path": result.path, "kinds": kinds, "ops": _involved(program, t, r)}


SIGNATURE_KEYS = ("path", "kinds", "ops")


def signature_hash(sig: dict) -> str:
    """The first 12 hex digits of the SHA-256 of the signature's keys (`signature.json` also
    holds the torch build and the path configuration, which do not name the bug, RPT-30)."""
    text = json.dumps({k: sig[k] for k in SIGNATURE_KEYS if k in sig}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------
# Findings on disk
# ---------------------------------------------------------------------------------------------


@dataclass
class Finding:
    sig: dict
    program: Program
    result: PathResult
    torch_obs: Observation
    ref_obs: Observation
    torch_version: str
    seed: int
    torch_git: str = ""

    @property
    def folder_name(self) -> str:
        return signature_hash(self.sig)


def _size(doc: dict) -> tuple[int, int]:
    return len(doc.get("body", [])), len(json.dumps(doc, sort_keys=True))


def _program_source(program: Program) -> str:
    """The body as the Python both runners compile (operators are `_opK` globals)."""
    ops: list[str] = []

    def name(qualname: str) -> str:
        ops.append(qualname)
        return qualname

    text = write_program(program, name, with_effects=None, new_token=None).source
    legend = "".join(f"# _op{k} = {q}\n" for k, q in enumerate(ops))
    registrations = "".join(f"{line}\n" for line in register_effects_source(program))
    return legend + registrations + text


def _summary_text(obs) -> str:
    """One side's observation as finding JSON: large values summarised, never listed in full;
    inductor's generated code is in `inductor_code.py`, not repeated here."""
    data = obs.to_json(arrays=True)
    if data.get("generated_code"):
        data["generated_code"] = "see inductor_code.py"
    return json.dumps(summarise_observation(data), indent=1)


def _report(finding: Finding) -> str:
    t, r = finding.torch_obs, finding.ref_obs
    lines = [
        f"# Finding {finding.folder_name}",
        "",
        f"- signature: `{json.dumps(finding.sig, sort_keys=True)}`",
        f"- path: `{finding.result.path}`; status: {finding.result.status}",
        f"- kinds: {', '.join(finding.result.kinds) or '-'}",
        f"- torch {finding.torch_version}; campaign seed {finding.seed}",
        f"- reproduce: `python -m oracle show program.json --path {finding.result.path}`",
        "",
        "## Expected (refimpl) vs observed (torch)",
        "",
        "```",
        *clip_details(finding.result.details),
        "```",
        "",
        "## Effect logs",
        "",
        f"- refimpl: `{list(r.effect_log)}`",
        f"- torch:   `{list(t.effect_log)}`",
        f"- errors: refimpl {r.error}, torch {t.error}",
        "",
        "## Program",
        "",
        "```python",
        _program_source(finding.program).rstrip(),
        "```",
    ]
    for side, obs in (("torch", t), ("refimpl", r)):
        if obs.code:
            lines += [
                "",
                f"## Generated code ({side}, {obs.path})",
                "",
                "```python",
                obs.code.rstrip(),
                "```",
            ]
    return "\n".join(lines) + "\n"


# [NOTE: findings written as one unit] Several campaigns may write into one findings folder
# (`--jobs`, a shared folder). A finding's files are written into a fresh folder under
# `<findings>/.staging/`, each file through its own temporary name and `os.replace`, and the
# folder is then renamed into place in one step: a reader sees all of a finding's files or none.
# Comparing with the folder already there and replacing it happen under a `flock` on the name;
# when the name is taken anyway, the next free name (`<hash>-2`, ...) is used.
STAGING = ".staging"


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file of a unique name and one rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _finding_files(finding: Finding) -> dict[str, str]:
    files = _base_files(finding)
    code = finding.torch_obs.generated_code
    if code:  # RPT-35: what inductor generated for the failing path
        files["inductor_code.py"] = "\n\n# ---- next module ----\n\n".join(code)
    return files


def _base_files(finding: Finding) -> dict[str, str]:
    return {
        "report.md": _report(finding),
        "torch.json": _summary_text(finding.torch_obs),
        "refimpl.json": _summary_text(finding.ref_obs),
        "signature.json": json.dumps(_signature_file(finding), indent=1, sort_keys=True),
        "program.json": dump_program(finding.program),
        "repro.py": render_repro(finding.program, finding.result.path,
                                 torch_version=finding.torch_version,
                                 expected_log=finding.ref_obs.effect_log,
                                 observed_log=finding.torch_obs.effect_log),
    }


def _signature_file(finding: Finding) -> dict:
    """`signature.json`: the signature, the torch build and how the path ran it (RPT-30)."""
    torch_build = {"version": finding.torch_version, "git_version": finding.torch_git}
    return {**finding.sig, "torch": torch_build, "path_config": path_config(finding.sig["path"])}


def _stage(root: Path, finding: Finding) -> Path:
    (root / STAGING).mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=root / STAGING, prefix=finding.folder_name + "-"))
    for name, text in _finding_files(finding).items():
        write_atomic(staged / name, text)
    return staged


def _existing_size(folder: Path) -> tuple[int, int] | None:
    try:
        return _size(json.loads((folder / "program.json").read_text()))
    except (OSError, ValueError):
        return None


def _candidates(name: str) -> Iterator[str]:
    yield name
    for k in itertools.count(2):
        yield f"{name}-{k}"


@contextlib.contextmanager
def _name_lock(root: Path, name: str) -> Iterator[None]:
    """Serialise the compare-and-replace of one finding name among all writers (`flock`)."""
    with open(root / STAGING / f"{name}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _place(root: Path, name: str, staged: Path, size: tuple[int, int]) -> Path | None:
    """Rename `staged` to `name` (replacing a larger program there), else the next free name."""
    target = root / name
    with _name_lock(root, name):
        existing = _existing_size(target)
        if existing is not None and existing <= size:
            return None
        if existing is not None:  # a larger program: move it aside, then take its place
            _remove(root, target)
        for candidate in _candidates(name):
            try:
                os.rename(staged, root / candidate)  # fails where another folder is
                return root / candidate
            except OSError:
                continue
    return None  # unreachable: the candidates never run out


def _remove(root: Path, target: Path) -> None:
    """Move a finding folder aside (one rename) and delete it there."""
    trash = Path(tempfile.mkdtemp(dir=root / STAGING, prefix="old-"))
    with contextlib.suppress(FileNotFoundError):
        os.replace(target, trash / "finding")
    shutil.rmtree(trash, ignore_errors=True)


def replace_finding(folder: Path, finding: Finding) -> Path:
    """Rewrite `folder` with `finding`'s files as one unit, whatever program it held
    (`oracle shrink`, RPT-28): staged, then renamed into place under the name's lock."""
    root = folder.parent
    staged = _stage(root, finding)
    try:
        with _name_lock(root, folder.name):
            _remove(root, folder)
            os.rename(staged, folder)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return folder


def write_finding(root: Path, finding: Finding) -> Path | None:
    """Write (or improve) a finding's folder as one unit ([NOTE: findings written as one unit]).

    Returns the folder written, or None when a program no larger is already under its name.
    """
    size = _size(json.loads(json.dumps(_program_json(finding.program))))
    existing = _existing_size(root / finding.folder_name)
    if existing is not None and existing <= size:
        return None
    staged = _stage(root, finding)
    try:
        return _place(root, finding.folder_name, staged, size)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _program_json(program: Program) -> dict:
    from oracle.program import program_to_json  # noqa: PLC0415

    return program_to_json(program)


# ---------------------------------------------------------------------------------------------
# The property and the campaign
# ---------------------------------------------------------------------------------------------


@dataclass
class Fuzzer:
    """One campaign in this process: the property, the counters, the findings written."""

    paths: list[str]
    findings: Path
    deadline: float
    torch_version: str
    timeout: float | None = None  # None: each path's default (oracle.isolate.PATH_TIMEOUTS)
    examples: int = 0
    seed: int = 0
    new_findings: dict[str, dict] = field(default_factory=dict)
    round_last: dict[str, Finding] = field(default_factory=dict)
    provisional: dict[str, tuple[Path | None, str]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    known: list[dict] = field(default_factory=load_known_findings)
    shrink: bool = True  # reduce each bug's program once it is found (oracle.shrink, RPT-28)
    torch_git: str = field(default_factory=lambda: _torch_git_version())
    aim: bool = False  # draw `strategies.HUNT` programs and target separated pairs (RPT-34)
    training: bool = False  # draw `strategies.TRAINING` programs: they run backward (PRG-51)
    control_flow: bool = False  # draw `strategies.control_flow_programs` (PRG-53 to PRG-58)
    torch_seconds: float = 0.0  # time torch spent on its cases, as its workers measured it

    def strategy(self) -> SearchStrategy:
        """What the rounds draw: `control_flow_programs()` for cond/while_loop programs, else
        `programs(**TRAINING)` for backward programs, else
        `programs(**HUNT)` when aiming, else `programs(max_ops=20)`."""
        if self.control_flow:
            return strategies.control_flow_programs()
        if self.training:
            return strategies.programs(**strategies.TRAINING)
        return strategies.programs(**strategies.HUNT) if self.aim \
            else strategies.programs(max_ops=20)

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def check(self, doc: dict, paths: list[str] | None = None,
              known: list[dict] | None = None, program: Program | None = None) -> list[Finding]:
        """Run `doc` on every path (or `paths`) in both worlds; the failing results as findings.
        `known`: the known findings to leave out (default: the campaign's); `program`: `doc`
        already loaded."""
        program = load_program(doc) if program is None else program
        doc = _program_json(program)
        paths = list(self.paths if paths is None else paths)
        run = CheckRun(self.torch_version, "", paths)
        check_programs(run, [program], lambda _, path: self.torch_side(doc, path),
                       self.known if known is None else known)
        sides = {path: run.observations[(program.name, path)] for path in paths}
        return [
            Finding(
                signature(program, res, *sides[res.path]),
                program,
                res,
                *sides[res.path],
                self.torch_version,
                self.seed,
                self.torch_git,
            )
            for res in run.results
            if res.status in FAILING
        ]

    def reduce(self, finding: Finding) -> tuple[Finding, ShrinkResult]:
        """The finding with its program shrunk (`oracle.shrink`), the oracle as the predicate:
        a candidate holds when it still fails on the finding's path with the same signature
        (`same_bug`). Known findings are not left out, and a spent budget ends the reduction
        with the smallest program so far (RPT-28)."""
        smallest = [finding]
        path = finding.sig["path"]

        def still_fails(doc: dict) -> bool:
            try:
                hits = self.check(doc, paths=[path], known=[])
            except BudgetSpent:
                raise StopShrinking from None
            same = [hit for hit in hits if same_bug(finding.sig, hit.sig)]
            smallest[:] = same[:1] or smallest
            return bool(same)

        result = shrink(_program_json(finding.program), still_fails)
        return smallest[0], result

    def torch_side(self, doc: dict, path: str) -> Observation:
        """The torch case within the budget (RPT-16): the case timeout is cut to the time left;
        a harness failure is re-run once and stays only when it reproduces; a case the budget
        cut short raises `BudgetSpent`."""
        obs = self._bounded(doc, path)
        self.torch_seconds += obs.seconds
        if obs.error is not None and obs.error.type in RECHECKED:
            again = self._bounded(doc, path)
            self.torch_seconds += again.seconds
            if again.error is None or again.error.type not in RECHECKED:
                return again
        return obs

    def _bounded(self, doc: dict, path: str) -> Observation:
        left = self.time_left()
        if left <= 0:
            raise BudgetSpent
        limit = case_timeout(path, self.timeout)
        obs = torch_observation(doc, path, min(limit, left))
        if obs.error is not None and obs.error.type in RECHECKED and left < limit \
                and self.time_left() <= 0:
            raise BudgetSpent
        return obs

    def property(self, doc: dict) -> None:
        """The Hypothesis test body: records findings, fails with the first one's bug key."""
        if self.time_left() <= 0:
            raise BudgetSpent
        self.examples += 1
        program = load_program(doc)
        if self.aim:  # steer Hypothesis towards the shape effect-order bugs need (RPT-34)
            target(analyse(program).separated_pairs, label=TARGET_LABEL)
        found = self.check(doc, program=program)
        for finding in found:
            key = bug_key(finding)
            self.round_last[key] = finding
            if key not in self.provisional and key not in self.seen:
                written = write_finding(self.findings, finding)
                self.provisional[key] = (written, dump_program(finding.program))
                self.new_findings[(written or self.findings / finding.folder_name).name] = \
                    finding.sig
        if found:
            raise _failure_type(bug_key(found[0]))(
                "; ".join(json.dumps(f.sig, sort_keys=True) for f in found)
            )

    def end_round(self) -> None:
        """Write each bug's last failing example of the round: the one Hypothesis shrank to.

        A provisional folder (written when the bug was first seen) whose signature changed
        while shrinking is replaced by the shrunk one's ([NOTE: finding signatures]).
        """
        for key, finding in self.round_last.items():
            if self.shrink and key not in self.seen:
                finding = self.reduce(finding)[0]
            written = write_finding(self.findings, finding) or self.findings / finding.folder_name
            self.new_findings[written.name] = finding.sig
            first, text = self.provisional.get(key, (None, None))
            if first is not None and first != written and _holds(first, text):
                shutil.rmtree(first, ignore_errors=True)
                self.new_findings.pop(first.name, None)
            self.seen.add(key)
        self.round_last.clear()
        self.provisional.clear()


def _holds(folder: Path, program_text: str | None) -> bool:
    """Whether `folder` still holds the program this campaign wrote (no one improved it)."""
    try:
        return (folder / "program.json").read_text() == program_text
    except OSError:
        return False


def _error_ops(sig: dict) -> list[str]:
    """The `side:ErrorType` entries of a signature's ops (a side raised)."""
    return [op for op in sig.get("ops", [])
            if op.split(":")[0] in ("torch", "refimpl") and "/" not in op]


def same_bug(target: dict, sig: dict) -> bool:
    """The shrink predicate's test (RPT-28): the same path and kinds and, where the target's
    signature names errors, the same errors."""
    if (sig["path"], sig["kinds"]) != (target["path"], target["kinds"]):
        return False
    errors = _error_ops(target)
    return not errors or _error_ops(sig) == errors


def bug_key(finding: Finding) -> str:
    """What Hypothesis tells bugs apart by: the path and the kinds of divergence."""
    return signature_hash({"path": finding.sig["path"], "kinds": finding.sig["kinds"]})


class Divergence(AssertionError):
    """An example on which torch and refimpl disagree."""


_FAILURE_TYPES: dict[str, type] = {}


def _failure_type(key: str) -> type:
    """One exception class per bug key, so that Hypothesis shrinks each bug on its own."""
    if key not in _FAILURE_TYPES:
        _FAILURE_TYPES[key] = type(f"Divergence_{key}", (Divergence,), {})
    return _FAILURE_TYPES[key]


# [NOTE: seeding rounds] `@hypothesis.seed` would fix a round's seed, but Hypothesis then
# neither reads nor writes the example database. So the campaign seeds the generator Hypothesis
# draws each unseeded run's seed from (`hypothesis.core.threadlocal._hypothesis_global_random`,
# an internal of Hypothesis 6.x): rounds get fresh seeds, reproducibly from `--seed`, and the
# database keeps working. Where that attribute is missing, rounds are seeded by Hypothesis alone.
def seed_rounds(campaign_seed: int) -> None:
    local = getattr(hypothesis.core, "threadlocal", None)
    if local is not None and hasattr(local, "_hypothesis_global_random"):
        local._hypothesis_global_random = random.Random(campaign_seed)


def run_round(
    fuzzer: Fuzzer, db: ExampleDatabase, max_examples: int, first: bool
) -> None:
    """One `@given` run; its failures are already on disk, so its exception is swallowed.
    Under `--no-shrink` Hypothesis' own shrink phase is off too: nothing is reduced, and the
    campaign spends no time re-running variants of what it found."""
    phases = [Phase.generate, Phase.target] + ([Phase.shrink] if fuzzer.shrink else [])
    if first:
        phases.insert(0, Phase.reuse)

    @settings(
        database=db,
        deadline=None,
        max_examples=max_examples,
        phases=phases,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=True,
        print_blob=False,
        verbosity=Verbosity.quiet,  # findings are written by the campaign, not printed
    )
    @given(doc=fuzzer.strategy())
    def fuzz_effect_programs(doc: dict) -> None:
        fuzzer.property(doc)

    try:
        with contextlib.suppress(Exception):  # every finding is on disk once the round ends
            fuzz_effect_programs()
    except BudgetSpent:
        pass
    finally:
        fuzzer.end_round()


def _progress_text(examples: int, started: float, findings: int, left: float) -> str:
    elapsed = max(time.monotonic() - started, 1e-9)
    return (
        f"fuzz: {examples} examples, {examples / elapsed:.2f}/s, "
        f"{findings} finding(s), {max(left, 0):.0f} s left"
    )


def example_database(spec: str) -> ExampleDatabase:
    """A `redis://host:port/db` URL (the `fuzz` extra) or a folder, as a Hypothesis database."""
    if not spec.startswith(("redis://", "rediss://", "unix://")):
        return DirectoryBasedExampleDatabase(spec)
    try:
        import redis  # noqa: PLC0415 - the `fuzz` extra
        from hypothesis.extra.redis import RedisExampleDatabase  # noqa: PLC0415
    except ImportError as exc:
        raise SystemExit(f"--database {spec}: needs the redis package "
                         "(pip install 'effect-token-oracle[fuzz]')") from exc
    return RedisExampleDatabase(redis.Redis.from_url(spec), key_prefix=b"effects-oracle:")


def open_database(findings: Path, shared: str | None = None) -> ExampleDatabase:
    """The campaign's example database: `<findings>/.hypothesis`, and with `shared` also that
    database (`example_database`), which several machines' campaigns read and write together
    (RPT-25, docs/fuzzing.md)."""
    local = DirectoryBasedExampleDatabase(str(findings / ".hypothesis"))
    return MultiplexedDatabase(local, example_database(shared)) if shared else local


def campaign(args: argparse.Namespace, console: Console) -> int:
    version = _torch_version()
    select_profile(args.profile, version)
    args.findings.mkdir(parents=True, exist_ok=True)
    db = open_database(args.findings, args.database)
    started = time.monotonic()
    fuzzer = Fuzzer(
        args.paths, args.findings, started + args.budget, version, args.timeout, seed=args.seed,
        shrink=args.shrink, known=known_from_args(args), aim=_aim(args),
        training=args.training, control_flow=args.control_flow,
    )
    seed_rounds(args.seed)
    status = args.findings / ".workers" / f"{args.worker}.json" if args.worker is not None else None
    with _progress_display(console) as show:
        first = True
        while fuzzer.time_left() > 0 and fuzzer.examples < args.max_examples:
            remaining = args.max_examples - fuzzer.examples
            run_round(fuzzer, db, min(ROUND_EXAMPLES, remaining), first)
            first = False
            show(_progress_text(
                fuzzer.examples, started, len(fuzzer.new_findings), fuzzer.time_left()
            ))
            if status is not None:
                _write_status(status, fuzzer)
    _summary(console, fuzzer, started)
    return EXIT_FINDINGS if fuzzer.new_findings else EXIT_CLEAN


@contextlib.contextmanager
def _progress_display(console: Console, log_every: float = 30.0) -> Iterator[Callable[[str], None]]:
    """``show(text)``: one status line updated in place on a terminal; elsewhere (a CI log, a
    pipe) a printed line at most every ``log_every`` seconds, the summary following on its own
    line."""
    if console.is_terminal:
        with Live(console=console, transient=True, auto_refresh=False) as live:
            yield lambda text: live.update(text, refresh=True)
        return
    last = -math.inf

    def show(text: str) -> None:
        nonlocal last
        if time.monotonic() - last >= log_every:
            console.print(text)
            last = time.monotonic()

    yield show


def _write_status(path: Path, fuzzer: Fuzzer) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"examples": fuzzer.examples, "findings": sorted(fuzzer.new_findings)}
    write_atomic(path, json.dumps(data))


def _summary(console: Console, fuzzer: Fuzzer, started: float) -> None:
    elapsed = time.monotonic() - started
    share = fuzzer.torch_seconds / max(elapsed, 1e-9)
    console.print(
        f"{fuzzer.examples} examples in {elapsed:.0f} s "
        f"({fuzzer.examples / max(elapsed, 1e-9):.2f}/s), "
        f"{len(fuzzer.new_findings)} finding(s); torch's own work {share:.0%} of the wall time "
        f"(the rest: worker start-up, refimpl, comparing, generating, shrinking)"
    )
    for key, sig in sorted(fuzzer.new_findings.items()):
        console.print(f"  {fuzzer.findings / key}: {json.dumps(sig, sort_keys=True)}")


def _torch_version() -> str:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _torch_git_version() -> str:
    """`torch.version.git_version`, read from `torch/version.py` without importing torch (the
    campaign runs torch only in its workers)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return "unknown"
    try:
        text = (Path(spec.submodule_search_locations[0]) / "version.py").read_text()
    except OSError:
        return "unknown"
    match = re.search(r"^git_version\s*=\s*['\"]([^'\"]*)['\"]", text, re.M)
    return match.group(1) if match else "unknown"


# ---------------------------------------------------------------------------------------------
# python -m oracle shrink FINDING_DIR
# ---------------------------------------------------------------------------------------------


def shrink_target(folder: Path, path: str | None = None, kind: str | None = None) -> dict:
    """The signature a folder's program must keep while it shrinks (RPT-28): its
    `signature.json`, else the known finding that names the folder, with `path` and `kind`
    (one kind) given on the command line taking precedence."""
    sig_file = folder / "signature.json"
    target: dict = {"path": None, "kinds": None, "ops": []}
    if sig_file.exists():
        sig = json.loads(sig_file.read_text())
        target = {k: sig.get(k) for k in SIGNATURE_KEYS}
    else:
        for entry in load_known_findings():
            if Path(entry.get("finding", "")).name == folder.name and entry.get("paths"):
                target = {"path": entry["paths"][0], "kinds": [entry["kind"]], "ops": []}
    target["path"] = path or target["path"]
    target["kinds"] = [kind] if kind else target["kinds"]
    if not target["path"] or not target["kinds"]:
        raise ValueError(f"{folder}: no signature.json and no known finding names it; "
                         f"give --path and --kind")
    return target


def shrink_folder(folder: Path, console: Console, *, path: str | None = None,
                  kind: str | None = None, output: Path | None = None,
                  timeout: float | None = None, budget: float = math.inf,
                  profile: str | None = None) -> int:
    """Shrink the program of a finding folder and rewrite the folder (or write `output`) with
    the smallest one (RPT-28). Exit 0 when written, 1 when the program does not show its
    signature any more, 2 for a usage error."""
    if output is None and not (folder / "signature.json").exists():
        raise ValueError(f"{folder} has no signature.json (a hand-written finding): give "
                         f"--output to write the shrunk finding elsewhere")
    target = shrink_target(folder, path, kind)
    version = _torch_version()
    select_profile(profile, version)
    (folder.parent / STAGING).mkdir(exist_ok=True)
    fuzzer = Fuzzer([target["path"]], folder.parent, time.monotonic() + budget, version, timeout)
    doc = json.loads((folder / "program.json").read_text())
    first = [f for f in fuzzer.check(doc, known=[]) if same_bug(target, f.sig)]
    if not first:
        console.print(f"{folder}: the program does not show {json.dumps(target)} any more")
        return EXIT_FINDINGS
    finding, result = fuzzer.reduce(first[0])
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        (output.parent / STAGING).mkdir(exist_ok=True)
    written = replace_finding(output or folder, finding)
    console.print(
        f"{folder}: {result.statements_before} -> {result.statements_after} statements "
        f"({result.runs} runs, {result.invalid} invalid candidates skipped, "
        f"{result.seconds:.1f} s{', stopped by the budget' if result.stopped else ''}); "
        f"written to {written}"
    )
    return EXIT_CLEAN


# ---------------------------------------------------------------------------------------------
# --jobs N
# ---------------------------------------------------------------------------------------------


def run_jobs(args: argparse.Namespace, argv: list[str], console: Console) -> int:
    """N independent campaigns (this command, `--jobs 1`) sharing the findings folder."""
    base = _strip_jobs(argv)
    children = []
    for k in range(args.jobs):
        cmd = [
            sys.executable,
            "-m",
            "oracle.fuzz",
            *base,
            "--jobs",
            "1",
            "--seed",
            str(args.seed + k),
            "--worker",
            str(k),
        ]
        children.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL))
    started = time.monotonic()
    status_dir = args.findings / ".workers"
    with _progress_display(console) as show:
        while any(c.poll() is None for c in children):
            time.sleep(1.0)
            show(_jobs_text(status_dir, args.jobs, started, args.budget))
    codes = [c.returncode for c in children]
    console.print(_jobs_text(status_dir, args.jobs, started, args.budget))
    return EXIT_FINDINGS if EXIT_FINDINGS in codes else max(codes)


def _jobs_text(status_dir: Path, jobs: int, started: float, budget: float) -> str:
    examples, findings = 0, set()
    for k in range(jobs):
        try:
            data = json.loads((status_dir / f"{k}.json").read_text())
        except (OSError, ValueError):
            continue
        examples += data["examples"]
        findings.update(data["findings"])
    left = budget - (time.monotonic() - started)
    return f"{jobs} jobs: " + _progress_text(examples, started, len(findings), left)


def _strip_jobs(argv: list[str]) -> list[str]:
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item in ("--jobs", "--seed", "--worker"):
            skip = True
        elif not item.startswith(("--jobs=", "--seed=", "--worker=")):
            out.append(item)
    return out


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>[smh]?)$")


def parse_duration(text: str) -> float:
    """`90`, `90s`, `10m`, `2h` -> seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (like 90s, 10m, 2h)")
    scale = {"": 1, "s": 1, "m": 60, "h": 3600}[match["unit"]]
    return float(match["n"]) * scale


def _paths(text: str) -> list[str]:
    try:
        return parse_paths(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _aim(args: argparse.Namespace) -> bool:
    """`--aim`/`--no-aim`, else aim exactly when a compile path is fuzzed (RPT-34)."""
    return any(p in COMPILE_PATHS for p in args.paths) if args.aim is None else args.aim


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m oracle fuzz", description="Fuzz effect programs: torch against refimpl."
    )
    parser.add_argument(
        "--paths",
        type=_paths,
        default=list(PATHS),
        help=f"comma-separated subset of {','.join(PATHS)} (default: all)",
    )
    parser.add_argument(
        "--budget",
        type=parse_duration,
        default=600.0,
        help="wall-clock budget, e.g. 90s, 10m, 2h (default 10m)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the round seeds")
    parser.add_argument("--jobs", type=int, default=1, help="independent worker processes")
    parser.add_argument(
        "--findings",
        type=Path,
        default=DEFAULT_FINDINGS,
        help="findings folder (also holds the example database)",
    )
    parser.add_argument(
        "--max-examples",
        type=int,
        default=sys.maxsize,
        help="stop after this many examples (default: only the budget)",
    )
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per torch case (default: per path, 30 s for eager ... "
                             "600 s for compile:inductor; never past the budget)")
    parser.add_argument("--profile", help="refimpl profile (default: from the torch version)")
    parser.add_argument(
        "--database",
        metavar="URL",
        help="a shared example database besides <findings>/.hypothesis: redis://host:port/db "
             "(the fuzz extra) or a folder; campaigns on several machines replay each other's "
             "failures",
    )
    add_known_options(parser)
    parser.add_argument(
        "--aim", action=argparse.BooleanOptionalAction, default=None,
        help="draw long programs dense in effects and steer generation towards effect pairs "
             "only the token chain orders (default: on when a compile path is fuzzed)")
    parser.add_argument(
        "--training", action="store_true",
        help="draw programs that run backward: requires_grad inputs, custom ops whose autograd "
             "formulas print and call ORDERED ops, a loss (specs/program.md PRG-46 to PRG-52)")
    parser.add_argument(
        "--control-flow", action="store_true",
        help="draw programs with cond and while_loop statements and effects inside, before and "
             "after them (specs/program.md PRG-53 to PRG-58, specs/control_flow.md)")
    parser.add_argument("--no-shrink", dest="shrink", action="store_false",
                        help="write findings as first found: no oracle.shrink pass and no "
                             "Hypothesis shrink phase")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    console = Console(stderr=True)
    try:
        known_from_args(args)  # a bad --known file stops the campaign before it starts
    except KnownFindingsError as exc:
        console.print(Text(f"error: {exc}", style="red"), soft_wrap=True)
        return EXIT_USAGE
    if args.jobs > 1:
        return run_jobs(args, argv, console)
    return campaign(args, console)


if __name__ == "__main__":
    sys.exit(main())
