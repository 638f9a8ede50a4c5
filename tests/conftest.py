"""Pytest plugin: spec clause ids, spec coverage, and the `torch` / `gpu` markers.

Models: nothing upstream; it follows array-api-tests, where the spec is the suite's source of truth.
Spec: specs/README.md ("Clause format", "Citing clauses from tests").

- `@pytest.mark.spec("EFF-3", ...)` cites clauses of `specs/*.md`. A test that cites an unknown or
  malformed id makes its module's collection fail, with the test and the id in the message.
- At the end of the run a "spec coverage" section counts the clauses the collected tests cite and
  lists those no collected test cites: a warning, or a failure when `SPEC_STRICT=1`.
- `@pytest.mark.torch` skips the test when torch cannot be imported; `@pytest.mark.gpu` skips it
  when cupy or a CUDA device is missing.

Simplifications:
1. Availability checks use `importlib.util.find_spec`, so the plugin never imports torch itself: a
   test that checks refimpl stays torch-free must not find torch in `sys.modules` because of us.
2. This file uses the standard library and pytest only, because tests/test_specs.py copies it into
   pytester's temporary projects. Fixtures that need refimpl or torch belong in a nested conftest.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
import re
from pathlib import Path

import pytest

pytest_plugins = ("pytester",)  # tests/test_specs.py runs this plugin in pytester projects

# [NOTE: clause line format]
# A clause starts with a line `- **<ID>** <text>` at the start of the line, where <ID> is an
# upper-case prefix of 2 to 5 letters, a dash and a number without leading zeros (`EFF-3`).
# Its text may continue on following lines indented by at least two spaces. Any other line that
# starts with `- **` outside a fenced code block is a malformed clause and an error, so a typo
# cannot silently drop a clause. specs/README.md is documentation and holds no clauses.
CLAUSE_ID = re.compile(r"[A-Z]{2,5}-[1-9][0-9]*")
CLAUSE_LINE = re.compile(r"- \*\*(?P<id>[A-Z]{2,5}-[1-9][0-9]*)\*\* (?P<text>\S.*)")
CLAUSE_START = "- **"
SPEC_DIR_NAME = "specs"
NOT_CLAUSE_FILES = {"README.md"}
STRICT_ENV = "SPEC_STRICT"

MARKERS = (
    "spec(*ids): the spec clauses (specs/*.md) this test checks; an unknown id fails collection",
    "torch: needs torch; skipped when torch cannot be imported",
    "gpu: needs cupy and a CUDA device; skipped otherwise",
)


class SpecError(Exception):
    """A spec file breaks the clause format, or two clauses share an id."""


@dataclasses.dataclass(frozen=True)
class Clause:
    id: str
    path: Path
    line: int
    text: str


@dataclasses.dataclass
class SpecState:
    """What the plugin knows during one run: the clauses, and what the collected tests cite."""

    spec_dir: Path
    clauses: dict[str, Clause]
    cited: set[str] = dataclasses.field(default_factory=set)
    n_items: int = 0


_STATE = pytest.StashKey[SpecState]()


# -- reading the spec files ----------------------------------------------------------------------


def parse_clauses(path: Path) -> list[Clause]:
    """Return the clauses of one spec file, in file order (see [NOTE: clause line format])."""
    clauses: list[Clause] = []
    current: list | None = None  # [id, line, [text parts]] of the clause being read
    in_fence = False
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            current = None
        elif in_fence:
            continue
        elif line.startswith(CLAUSE_START):
            match = CLAUSE_LINE.fullmatch(line.rstrip())
            if match is None:
                raise SpecError(
                    f"{path}:{lineno}: malformed clause line, expected "
                    f"'- **ABC-<n>** <text>', got {line!r}"
                )
            current = [match["id"], lineno, [match["text"]]]
            clauses.append(current)
        elif current is not None and line.startswith("  ") and line.strip():
            current[2].append(line.strip())
        else:
            current = None
    return [Clause(cid, path, lineno, " ".join(parts)) for cid, lineno, parts in clauses]


def load_clauses(spec_dir: Path) -> dict[str, Clause]:
    """Return every clause of `spec_dir/*.md` by id; a repeated id is a SpecError."""
    found: dict[str, Clause] = {}
    if not spec_dir.is_dir():
        return found
    for path in sorted(spec_dir.glob("*.md")):
        if path.name in NOT_CLAUSE_FILES:
            continue
        for clause in parse_clauses(path):
            first = found.setdefault(clause.id, clause)
            if first is not clause:
                raise SpecError(
                    f"spec id {clause.id} is defined twice: {first.path.name}:{first.line} "
                    f"and {clause.path.name}:{clause.line}"
                )
    return found


def clause_sort_key(clause_id: str) -> tuple[str, int]:
    """`EFF-2` before `EFF-10`."""
    prefix, number = clause_id.rsplit("-", 1)
    return prefix, int(number)


def strict_mode() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes"}


# -- pytest hooks: configuration and collection --------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    spec_dir = config.rootpath / SPEC_DIR_NAME
    try:
        clauses = load_clauses(spec_dir)
    except SpecError as error:
        raise pytest.UsageError(f"spec files: {error}") from error
    config.stash[_STATE] = SpecState(spec_dir, clauses)


def cited_ids(item: pytest.Item) -> list[object]:
    """Every argument of every `spec` marker on the item (module, class and function marks)."""
    return [arg for mark in item.iter_markers("spec") for arg in mark.args]


def citation_problems(item: pytest.Item, clauses: dict[str, Clause]) -> list[str]:
    """One message per bad `spec` citation of the item; empty when all are known clause ids."""
    test = item.nodeid.split("[", 1)[0]  # the test function, without its parameters
    problems = []
    for mark in item.iter_markers("spec"):
        if not mark.args or mark.kwargs:
            problems.append(f"{test}: spec marker needs clause ids as positional strings")
    for cid in cited_ids(item):
        if not isinstance(cid, str) or CLAUSE_ID.fullmatch(cid) is None:
            problems.append(f"{test}: malformed spec id {cid!r} (expected like 'EFF-3')")
        elif cid not in clauses:
            problems.append(f"{test}: unknown spec id {cid!r} (no such clause in specs/)")
    return problems


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """Turn a module's (or class's) collection into an error when its tests cite unknown ids."""
    report = yield
    state = collector.config.stash.get(_STATE, None)
    if state is None or not report.passed:
        return report
    items = [node for node in report.result if isinstance(node, pytest.Item)]
    # dict.fromkeys: one message per test function, not per parametrized case.
    problems = list(
        dict.fromkeys(msg for item in items for msg in citation_problems(item, state.clauses))
    )
    if problems:
        report.outcome = "failed"
        report.longrepr = "\n".join(problems)
        report.result = []  # a failed collection yields no tests
    return report


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    state = config.stash[_STATE]
    state.n_items += len(session.items)
    for item in session.items:
        state.cited.update(cid for cid in cited_ids(item) if isinstance(cid, str))
    workeroutput = getattr(config, "workeroutput", None)  # set on pytest-xdist workers only
    if workeroutput is not None:
        workeroutput["spec_cited"] = sorted(state.cited)
        workeroutput["spec_n_items"] = state.n_items


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """pytest-xdist controller: gather what each worker's collected tests cite."""
    state = node.config.stash[_STATE]
    output = getattr(node, "workeroutput", None) or {}
    state.cited.update(output.get("spec_cited", ()))
    state.n_items = max(state.n_items, output.get("spec_n_items", 0))


# -- pytest hooks: end of the run ----------------------------------------------------------------


def uncited_clauses(state: SpecState) -> list[str]:
    return sorted(set(state.clauses) - state.cited, key=clause_sort_key)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput") or not strict_mode():
        return
    if uncited_clauses(config.stash[_STATE]) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    state = config.stash[_STATE]
    tr = terminalreporter
    tr.section("spec coverage")
    if not state.clauses:
        tr.write_line(f"no spec clauses found in {state.spec_dir}")
        return
    known_cited = state.cited & set(state.clauses)
    share = 100 * len(known_cited) // len(state.clauses)
    tr.write_line(
        f"{len(state.clauses)} clauses, {len(known_cited)} cited by the "
        f"{state.n_items} collected tests ({share}%)"
    )
    for path, ids in clauses_by_file(state).items():
        tr.write_line(f"  {path}: {len(ids & state.cited)}/{len(ids)}")
    uncited = uncited_clauses(state)
    if uncited:
        tr.write_line(
            f"WARNING: {len(uncited)} clauses cited by no collected test: {', '.join(uncited)}",
            yellow=True,
        )
        if strict_mode():
            tr.write_line(f"FAILED: {STRICT_ENV}=1 and some clauses are uncited", red=True)


def clauses_by_file(state: SpecState) -> dict[str, set[str]]:
    by_file: dict[str, set[str]] = {}
    for clause in state.clauses.values():
        by_file.setdefault(clause.path.name, set()).add(clause.id)
    return by_file


# -- pytest hooks: the torch and gpu markers -----------------------------------------------------


@functools.cache
def torch_missing_reason() -> str | None:
    """None when torch can be imported, else why the test is skipped."""
    try:
        found = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        found = False
    return None if found else "needs torch, which cannot be imported here"


@functools.cache
def gpu_missing_reason() -> str | None:
    """None when cupy sees a CUDA device, else why the test is skipped."""
    try:
        if importlib.util.find_spec("cupy") is None:
            return "needs cupy, which is not installed"
    except (ImportError, ValueError):
        return "needs cupy, which cannot be imported here"
    try:
        import cupy  # only reached for a gpu-marked test on a machine with cupy

        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # any failure at all means "no usable GPU"
        return f"needs a CUDA device; cupy says: {type(error).__name__}: {error}"
    return None if count > 0 else "needs a CUDA device; cupy sees none"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("torch") is not None:
        reason = torch_missing_reason()
        if reason is not None:
            pytest.skip(reason)
    if item.get_closest_marker("gpu") is not None:
        reason = gpu_missing_reason()
        if reason is not None:
            pytest.skip(reason)
