"""The statuses `unmet` and `invalid`, the exit statuses, and the CLI's literal printing.

Spec: RPT-18, RPT-19, RPT-20, RPT-21, RPT-22, RPT-23. The comparison tests use hand-made
observations (no torch); the CLI tests run `python -m oracle` against torch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from oracle.compare import compare_observations
from oracle.observation import ErrorObs, Observation, ValueObs
from oracle.program import catalog_paths, load_program

ROOT = Path(__file__).resolve().parents[2]
MARKUP = "a\n[/bold]b [red]c[/red] :smile:"


def _doc(**extra) -> dict:
    doc = {
        "format": "effects-program/1",
        "name": "expects_an_error",
        "inputs": [{"name": "x", "shape": [2], "dtype": "float32", "fill": "ones"}],
        "body": [{"op": "aten::_print.default", "args": [MARKUP]},
                 {"op": "aten::sin.default", "args": [{"ref": "x"}], "outs": ["y"]}],
        "outputs": ["y"],
        "expect_error": {"type": "RuntimeError", "match": "boom"},
    }
    doc.update(extra)
    return doc


def _ran(side: str, values: list) -> Observation:
    return Observation(path="eager", side=side, outputs=[ValueObs((2,), "float32", values)])


# -- RPT-19: an expect_error neither side raised ------------------------------------------------

@pytest.mark.spec("RPT-19")
def test_an_expected_error_neither_side_raised_is_unmet():
    result = compare_observations(load_program(_doc()), _ran("torch", [0.5, 0.5]),
                                  _ran("refimpl", [0.5, 0.5]))
    assert result.status == "unmet", f"expected unmet, got {result.status}: {result.details}"
    assert result.kinds == ["expected error missing"], f"got kinds {result.kinds}"
    assert "RuntimeError" in result.details[0], f"expected the type named: {result.details}"


@pytest.mark.spec("RPT-19")
def test_an_unmet_expectation_with_another_difference_diverges():
    result = compare_observations(load_program(_doc()), _ran("torch", [0.5, 0.5]),
                                  _ran("refimpl", [0.5, 0.75]))
    assert result.status == "diverge", f"expected diverge, got {result.status}"
    assert result.kinds == ["expected error missing", "reference mismatch: values"], (
        f"expected both kinds, got {result.kinds}")


@pytest.mark.spec("RPT-19")
def test_an_expected_error_raised_on_both_sides_agrees():
    err = ErrorObs("RuntimeError", "it went boom")
    t, r = (Observation(path="eager", side=s, error=err) for s in ("torch", "refimpl"))
    result = compare_observations(load_program(_doc()), t, r)
    assert result.status == "agree", f"expected agree, got {result.status}: {result.details}"


# -- the CLI against torch ----------------------------------------------------------------------

def _oracle(*args: str, columns: int = 80) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": str(columns)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "oracle", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300)


@pytest.mark.torch
@pytest.mark.spec("RPT-18", "RPT-20", "RPT-23")
def test_a_batch_goes_on_past_invalid_programs(tmp_path):
    pytest.importorskip("torch")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_doc(name="bad", body=[{"op": "aten::nope.default", "args": []}],
                                   outputs=[])))
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes(b'{"name": "caf\xe9"}')
    good = str(catalog_paths()[0])
    out = tmp_path / "r.json"
    proc = _oracle("check", str(bad), good, str(latin1), "--paths", "eager,fake",
                   "--format", "json", "--output", str(out))
    assert proc.returncode == 2, f"expected exit 2, got {proc.returncode}: {proc.stderr}"
    assert "Traceback" not in proc.stderr, f"expected no traceback: {proc.stderr}"
    assert f"invalid program {bad}: $.body[0]" in proc.stderr, f"got stderr {proc.stderr}"
    report = json.loads(out.read_text())
    statuses = [(r["program"], r["path"], r["status"]) for r in report["results"]]
    assert statuses == [(str(bad), "eager", "invalid"), (str(bad), "fake", "invalid"),
                        ("print_one", "eager", "agree"), ("print_one", "fake", "agree"),
                        (str(latin1), "eager", "invalid"), (str(latin1), "fake", "invalid")], (
        f"expected the batch in order with the valid program run, got {statuses}")
    assert "$.body[0]" in report["results"][0]["details"][0], report["results"][0]["details"]
    assert report["summary"]["invalid"] == 4, f"got summary {report['summary']}"
    shown = _oracle("show", str(bad))
    assert shown.returncode == 2, f"expected show to exit 2, got {shown.returncode}"
    assert "$.body[0]" in shown.stderr, f"expected the JSON path: {shown.stderr}"


@pytest.mark.torch
@pytest.mark.spec("RPT-19", "RPT-20", "RPT-21", "RPT-22")
def test_an_unmet_program_with_markup_prints_literally_at_80_columns(tmp_path):
    pytest.importorskip("torch")
    program = tmp_path / "expects.json"
    program.write_text(json.dumps(_doc()))
    proc = _oracle("check", str(program), "--paths", "eager,fake,make_fx,functional,export")
    assert proc.returncode == 1, f"expected exit 1 (unmet), got {proc.returncode}: {proc.stderr}"
    assert "Traceback" not in proc.stderr, f"expected no traceback: {proc.stderr}"
    counts = "0 agree, 0 diverge, 0 error, 0 skip, 0 known, 5 unmet, 0 invalid"
    assert counts in proc.stdout, f"expected unmet on every path:\n{proc.stdout}"
    for literal in ("[/bold]b", "[red]c[/red]", ":smile:", "expects_an_error [eager]: unmet"):
        assert literal in proc.stdout, f"expected {literal!r} literally:\n{proc.stdout}"
    assert "😄" not in proc.stdout and "…" not in proc.stdout, proc.stdout
    shown = _oracle("show", str(program), "--path", "eager")
    assert shown.returncode == 1, f"expected exit 1, got {shown.returncode}: {shown.stderr}"
    assert shown.stdout.startswith("expects_an_error [eager]: unmet"), shown.stdout
    assert "[/bold]b" in shown.stdout and "[red]c[/red]" in shown.stdout, shown.stdout


@pytest.mark.torch
@pytest.mark.spec("RPT-21")
def test_catalog_programs_read_in_full_at_80_columns():
    pytest.importorskip("torch")
    programs = [str(p) for p in catalog_paths()[:8]]
    proc = _oracle("check", *programs, "--paths", "eager,fake,make_fx,functional,export")
    assert proc.returncode == 0, f"expected agreement, got {proc.returncode}: {proc.stderr}"
    names = [load_program(p).name for p in programs]
    lines = proc.stdout.splitlines()
    assert max(map(len, lines)) <= 80, f"expected 80 columns at most:\n{proc.stdout}"
    cut = [n for n in names if not any(n in line for line in lines)]
    assert not cut, f"expected every program name on one line, missing {cut}:\n{proc.stdout}"
    assert "…" not in proc.stdout, f"expected nothing cut:\n{proc.stdout}"
