"""`python -m oracle fuzz`: a bounded campaign end to end, signatures, and a planted divergence.

Models: nothing upstream.
Spec: RPT-1 (exit codes).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from oracle import fuzz
from oracle.compare import PathResult
from oracle.observation import ErrorObs, Observation
from oracle.program import load_program
from oracle.refimpl_runner import run_refimpl

ROOT = Path(__file__).resolve().parents[2]
PRINTS = {
    "format": "effects-program/1",
    "name": "two-prints",
    "inputs": [{"name": "x", "shape": [2], "dtype": "float32"}],
    "body": [
        {"op": "aten::_print.default", "args": ["a"]},
        {"op": "aten::_print.default", "args": ["b"]},
    ],
    "outputs": ["x"],
}


@pytest.mark.torch
@pytest.mark.spec("RPT-1")
def test_cli_runs_a_tiny_campaign(tmp_path: Path) -> None:
    findings = tmp_path / "findings"
    cmd = [
        sys.executable,
        "-m",
        "oracle.fuzz",
        "--max-examples",
        "3",
        "--paths",
        "eager",
        "--budget",
        "5m",
        "--findings",
        str(findings),
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (
        f"expected exit 0 (no finding on eager), got {done.returncode}:\n{done.stderr[-2000:]}"
    )
    assert "3 examples" in done.stderr, f"expected a summary of 3 examples, got {done.stderr!r}"


def _result(kinds: list[str], path: str = "eager") -> PathResult:
    return PathResult("p", path, "diverge", kinds=kinds)


def test_signature_is_stable() -> None:
    program = load_program(PRINTS)
    t = Observation("eager", "torch", effect_log=[("aten::_print", ("b",), ())])
    r = Observation("eager", "refimpl", effect_log=[("aten::_print", ("a",), ())])
    first = fuzz.signature(program, _result(["reference mismatch: effect log"]), t, r)
    again = fuzz.signature(program, _result(["reference mismatch: effect log"]), t, r)
    assert first == again, f"expected equal signatures, got {first} and {again}"
    assert fuzz.signature_hash(first) == fuzz.signature_hash(again), "expected equal hashes"
    assert first == {
        "path": "eager",
        "kinds": ["reference mismatch: effect log"],
        "ops": ["aten::_print"],
    }, f"expected path, kinds and the differing events' op, got {first}"
    other = fuzz.signature(program, _result(["error"], "export"), t, r)
    assert fuzz.signature_hash(other) != fuzz.signature_hash(first), (
        f"expected another path and kind to give another hash, got {other}"
    )


def test_signature_abstracts_custom_op_names() -> None:
    doc = dict(
        PRINTS,
        custom_ops=[
            {
                "name": "fz::op3",
                "schema": "op3(str tag) -> ()",
                "behavior": "stamp",
                "effect": "ORDERED",
            }
        ],
    )
    program = load_program(doc)
    t = Observation("eager", "torch", effect_log=[])
    r = Observation("eager", "refimpl", effect_log=[("fz::op3", ("s",), ())], error=None)
    sig = fuzz.signature(program, _result(["reference mismatch: effect log"]), t, r)
    assert sig["ops"] == ["fz:stamp/ORDERED"], f"expected the abstracted op, got {sig['ops']}"
    t_err = Observation("eager", "torch", error=ErrorObs("RuntimeError", "boom"))
    sig = fuzz.signature(program, _result(["error"]), t_err, r)
    assert "torch:RuntimeError" in sig["ops"], f"expected the error type, got {sig['ops']}"


@pytest.mark.spec("RPT-1")
def test_planted_divergence_becomes_a_finding(tmp_path: Path, monkeypatch) -> None:
    """The torch side is replaced by refimpl with its effect log reversed: every program with
    two events diverges, and the shrunk example is written as a loadable finding."""

    def wrong_torch(doc: dict, path: str, timeout: float) -> Observation:
        obs = run_refimpl(load_program(doc), path)
        obs.side = "torch"
        obs.effect_log = list(reversed(obs.effect_log))
        return obs

    monkeypatch.setattr(fuzz, "torch_observation", wrong_torch)
    findings = tmp_path / "findings"
    code = fuzz.main(
        [
            "--paths",
            "eager",
            "--max-examples",
            "200",
            "--budget",
            "60s",
            "--findings",
            str(findings),
            "--seed",
            "1",
        ]
    )
    assert code == 1, f"expected exit 1 (findings), got {code}"
    folders = [p for p in findings.iterdir() if not p.name.startswith(".")]
    assert folders, f"expected a finding folder in {findings}, got none"
    for folder in folders:
        program = load_program(folder / "program.json")
        report = (folder / "report.md").read_text()
        sig = json.loads((folder / "signature.json").read_text())
        assert folder.name == fuzz.signature_hash(sig), (
            f"expected the folder to be named by its signature hash, got {folder.name} for {sig}"
        )
        assert "torch" in report and sig["path"] in report, (
            f"expected the report to name the path and torch, got:\n{report}"
        )
        assert len(program.body) <= 4, (
            f"expected a shrunk program (at most 4 statements), got {len(program.body)}"
        )
    assert (findings / ".hypothesis").is_dir(), "expected the example database in the findings"


def _finding(statements: int, seed: int = 0) -> fuzz.Finding:
    body = [{"op": "aten::_print.default", "args": [f"p{k}"]} for k in range(statements)]
    program = load_program(dict(PRINTS, body=body))
    t = Observation("eager", "torch", effect_log=[("aten::_print", ("b",), ())])
    r = Observation("eager", "refimpl", effect_log=[("aten::_print", ("a",), ())])
    result = _result(["reference mismatch: effect log"])
    sig = {"path": "eager", "kinds": result.kinds, "ops": ["aten::_print"]}
    return fuzz.Finding(sig, program, result, t, r, "2.13.0", seed)


def _check_folders(findings: Path) -> list[Path]:
    """Every finding folder is one consistent unit; returns them."""
    folders = [p for p in findings.iterdir() if not p.name.startswith(".")]
    for folder in folders:
        names = sorted(p.name for p in folder.iterdir())
        assert names == ["program.json", "refimpl.json", "report.md", "repro.py",
                         "signature.json", "torch.json"], (
            f"expected exactly a finding's files in {folder}: {names}")
        program = load_program(folder / "program.json")
        report = (folder / "report.md").read_text()
        assert fuzz._program_source(program).rstrip() in report, (
            f"expected report.md of {folder.name} to show its program.json")
        sig = json.loads((folder / "signature.json").read_text())
        assert folder.name.split("-")[0] == fuzz.signature_hash(sig), (
            f"expected {folder.name} to be named by its signature hash")
    leftovers = [p for p in (findings / fuzz.STAGING).iterdir() if p.suffix != ".lock"]
    assert not leftovers, f"expected no staged files left, got {leftovers}"
    return folders


def _race(findings: Path, writers: list[fuzz.Finding]) -> list[BaseException]:
    """Each finding written by its own thread, all released at the same moment."""
    import threading

    barrier = threading.Barrier(len(writers))
    errors: list[BaseException] = []

    def write(finding: fuzz.Finding) -> None:
        barrier.wait()
        try:
            fuzz.write_finding(findings, finding)
        except BaseException as exc:  # reported by the caller with the others
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f,)) for f in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.spec("RPT-14")
def test_concurrent_writers_leave_consistent_folders(tmp_path: Path) -> None:
    """Threads write findings of one signature (programs of different sizes) into one folder
    at the same moment, as `--jobs` campaigns do; each folder stays one program's unit."""
    for k in range(30):
        findings = tmp_path / f"f{k}"
        findings.mkdir()
        writers = [_finding(statements, seed) for seed, statements in enumerate((5, 4, 4, 3, 6))]
        errors = _race(findings, writers)
        assert not errors, f"expected every writer to succeed, got {errors!r}"
        folders = _check_folders(findings)
        sizes = {len(load_program(f / "program.json").body) for f in folders}
        assert 3 in sizes, f"expected the smallest program to be kept, got sizes {sizes}"


@pytest.mark.spec("RPT-14")
def test_writer_processes_share_a_findings_folder(tmp_path: Path) -> None:
    import multiprocessing

    findings = tmp_path / "findings"
    findings.mkdir()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_many, args=(findings, seed)) for seed in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [p.exitcode for p in procs] == [0] * 4, "expected every writer process to succeed"
    _check_folders(findings)


def _write_many(findings: Path, seed: int) -> None:
    for statements in (6, 5, 4, 3, 2) * 4:
        fuzz.write_finding(findings, _finding(statements + seed % 2, seed))


@pytest.mark.spec("RPT-14")
def test_a_smaller_program_replaces_a_larger_one(tmp_path: Path) -> None:
    first = fuzz.write_finding(tmp_path, _finding(4))
    assert first == tmp_path / _finding(4).folder_name, f"expected the hash folder, got {first}"
    assert fuzz.write_finding(tmp_path, _finding(5)) is None, "expected a larger one refused"
    assert fuzz.write_finding(tmp_path, _finding(2)) == first, "expected a smaller one to win"
    (folder,) = _check_folders(tmp_path)
    assert len(load_program(folder / "program.json").body) == 2, "expected the 2-statement one"


def _fuzzer(tmp_path: Path, budget: float, timeout: float | None = None) -> fuzz.Fuzzer:
    return fuzz.Fuzzer(["eager"], tmp_path, fuzz.time.monotonic() + budget, "2.13.0", timeout)


@pytest.mark.spec("RPT-16")
def test_a_hung_worker_never_outlasts_the_budget(tmp_path: Path, monkeypatch) -> None:
    """The torch side hangs for as long as it is allowed; each case's timeout is cut to the
    budget left, and the case the budget cut short is dropped, not a finding."""
    asked: list[float] = []

    def hung(doc: dict, path: str, timeout: float) -> Observation:
        asked.append(timeout)
        return Observation(path, "torch", error=ErrorObs("Timeout", f"no answer in {timeout}"))

    monkeypatch.setattr(fuzz, "torch_observation", hung)
    fuzzer = _fuzzer(tmp_path, budget=0.5, timeout=300.0)  # a 300 s timeout, 0.5 s left
    fuzzer.deadline = fuzz.time.monotonic() - 1  # the budget ran out during the case
    with pytest.raises(fuzz.BudgetSpent):
        fuzzer.torch_side(PRINTS, "eager")
    fuzzer.deadline = fuzz.time.monotonic() + 0.5
    fuzzer.torch_side(PRINTS, "eager")
    assert asked and all(t <= 0.5 for t in asked), f"expected timeouts within the budget: {asked}"


@pytest.mark.spec("RPT-16")
def test_a_spent_budget_ends_the_round_at_once(tmp_path: Path, monkeypatch) -> None:
    """Once the budget is spent, the next example ends the round: Hypothesis is not left
    generating examples that are all rejected (which cost seconds past the budget)."""
    fuzzer = _fuzzer(tmp_path, budget=-1.0)
    calls: list[dict] = []
    real = fuzz.Fuzzer.property

    def counted(self, doc: dict) -> None:
        calls.append(doc)
        real(self, doc)

    monkeypatch.setattr(fuzz.Fuzzer, "property", counted)
    db = fuzz.DirectoryBasedExampleDatabase(str(tmp_path / ".hypothesis"))
    fuzz.run_round(fuzzer, db, 200, first=True)
    assert len(calls) == 1, f"expected the round to end at the first example, ran {len(calls)}"
    assert fuzzer.examples == 0, f"expected no example counted, got {fuzzer.examples}"


@pytest.mark.spec("RPT-16")
def test_a_worker_crash_that_does_not_reproduce_is_no_finding(tmp_path: Path, monkeypatch):
    calls: list[str] = []

    def flaky(doc: dict, path: str, timeout: float) -> Observation:
        calls.append(path)
        obs = run_refimpl(load_program(doc), path)
        obs.side = "torch"
        if len(calls) == 1:
            return Observation(path, "torch", error=ErrorObs("WorkerCrash", "SIGKILL"))
        return obs

    monkeypatch.setattr(fuzz, "torch_observation", flaky)
    found = _fuzzer(tmp_path, budget=60).check(PRINTS)
    assert found == [], f"expected no finding after a good re-run, got {found}"
    assert len(calls) == 2, f"expected one re-run, got {len(calls)} calls"


@pytest.mark.spec("RPT-16")
def test_per_path_default_timeouts():
    from oracle.isolate import case_timeout

    assert case_timeout("eager") < 60 <= case_timeout("compile:inductor"), (
        "expected seconds for eager and minutes for inductor")
    assert case_timeout("eager", 5.0) == 5.0, "expected --timeout to win"
