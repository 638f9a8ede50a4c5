"""oracle/shrink.py and `python -m oracle shrink`: the reduction pass, its order, the campaign.

Models: nothing upstream. The fast tests use predicates on the program text (no torch); the
campaign tests plant a divergence (refimpl with its effect log reversed stands in for torch);
one test shrinks the known inductor reorder (findings/001) with real torch.
Spec: RPT-26, RPT-27, RPT-28.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from oracle import cli, fuzz, shrink
from oracle.observation import Observation
from oracle.program import load_program, program_to_json
from oracle.refimpl_runner import run_refimpl

ROOT = Path(__file__).resolve().parents[2]
REC = {"name": "fz::rec", "schema": "rec(Tensor x, str tag) -> Tensor", "behavior": "record",
       "effect": "ORDERED"}
TWO = {"name": "fz::two", "schema": "two(Tensor x) -> (Tensor, Tensor)", "behavior": "split",
       "effect": "ORDERED"}

# 13 statements around two fz::rec calls with an aten::sum between them (findings/001 grown).
GROWN = {
    "format": "effects-program/1",
    "name": "grown",
    "custom_ops": [REC, TWO],
    "inputs": [{"name": "a", "shape": [2, 3], "dtype": "float64", "fill": "ones"},
               {"name": "b", "shape": [2, 3], "dtype": "float32"},
               {"name": "c", "shape": [3], "dtype": "float32", "fill": {"randn": 7}}],
    "body": [
        {"op": "aten::mul.Tensor", "args": [{"ref": "b"}, {"ref": "b"}], "outs": ["bb"]},
        {"op": "fz::rec.default", "args": [{"ref": "bb"}, "first"], "outs": ["ra"]},
        {"op": "aten::add.Tensor", "args": [{"ref": "ra"}, {"ref": "b"}], "outs": ["s"]},
        {"op": "aten::view.default", "args": [{"ref": "s"}, [3, 2]], "outs": ["v"]},
        {"op": "aten::_print.default", "args": ["hello"]},
        {"op": "aten::mul.Tensor", "args": [{"ref": "c"}, {"ref": "c"}], "outs": ["cc"]},
        {"op": "fz::two.default", "args": [{"ref": "cc"}], "outs": ["p", "q"]},
        {"op": "aten::sin.default", "args": [{"ref": "p"}], "outs": ["sp"]},
        {"op": "aten::sum.default", "args": [{"ref": "v"}], "outs": ["t"]},
        {"op": "aten::add.Scalar", "args": [{"ref": "sp"}, 2.5], "outs": ["sq"]},
        {"op": "fz::rec.default", "args": [{"ref": "sq"}, "second"], "outs": ["rb"]},
        {"op": "aten::cos.default", "args": [{"ref": "rb"}], "outs": ["w"]},
        {"op": "aten::neg.default", "args": [{"ref": "w"}], "outs": ["z"]},
    ],
    "outputs": ["t", "q", "z"],
}


def _ops(doc: dict) -> list[str]:
    return [s.get("with_effects", s)["op"] for s in doc["body"]]


def _two_recs_around_a_sum(doc: dict) -> bool:
    """The fake bug: two fz::rec calls in order with an aten::sum between them."""
    ops = _ops(doc)
    recs = [k for k, op in enumerate(ops) if op == "fz::rec.default"]
    return len(recs) >= 2 and "aten::sum.default" in ops[recs[0]:recs[1]]


class Recorder:
    """A predicate that records every program it was asked about."""

    def __init__(self, holds) -> None:
        self.holds = holds
        self.asked: list[dict] = []

    def __call__(self, doc: dict) -> bool:
        self.asked.append(json.loads(json.dumps(doc)))
        return self.holds(doc)


@pytest.mark.spec("RPT-26")
def test_a_13_statement_program_shrinks_to_its_core() -> None:
    assert len(GROWN["body"]) == 13 and _two_recs_around_a_sum(GROWN), "expected a failing start"
    result = shrink.shrink(GROWN, _two_recs_around_a_sum)
    doc = result.doc
    assert result.statements_before == 13, f"expected 13 statements before, got {result}"
    assert len(doc["body"]) <= 5, f"expected at most 5 statements, got {_ops(doc)}"
    assert _ops(doc) == ["fz::rec.default", "aten::sum.default", "fz::rec.default"], (
        f"expected exactly rec, sum, rec left, got {_ops(doc)}")
    assert [c["name"] for c in doc["custom_ops"]] == ["fz::rec"], (
        f"expected the unused fz::two deleted, got {doc['custom_ops']}")
    assert len(doc["inputs"]) == 1, f"expected one input left, got {doc['inputs']}"
    assert doc["inputs"][0]["shape"] == [] and doc["inputs"][0]["dtype"] == "float32", (
        f"expected a 0-d float32 input, got {doc['inputs'][0]}")
    assert [s["args"][1] for s in doc["body"] if s["op"] == "fz::rec.default"] == ["", ""], (
        f"expected the tags shortened to '', got {doc['body']}")
    assert "outputs" not in doc, f"expected the outputs deleted, got {doc.get('outputs')}"
    load_program(doc)


@pytest.mark.spec("RPT-26")
def test_a_deleted_statement_is_replaced_by_its_first_tensor_argument() -> None:
    doc = program_to_json(load_program(GROWN))
    smaller = shrink.delete_statements(doc, {3})  # v = view(s, [3, 2])
    sum_stmt = next(s for s in smaller["body"] if s["op"] == "aten::sum.default")
    assert sum_stmt["args"] == [{"ref": "s"}], f"expected sum(s) after deleting v, got {sum_stmt}"
    without_two = shrink.delete_statements(doc, {6})  # p, q = two(cc)
    assert without_two["outputs"] == ["t", "cc", "z"], (
        f"expected the output q to read two's argument cc, got {without_two['outputs']}")
    load_program(smaller)
    load_program(without_two)


@pytest.mark.spec("RPT-26")
def test_a_list_output_shrinks_item_by_item() -> None:
    """A list of tensors as an output (PRG-36): deleting statements, renaming and the refs pass
    reach its items (the campaign of 2026-12-06 crashed the reduction on one)."""
    doc = program_to_json(load_program({**GROWN, "outputs": ["t", [{"ref": "q"}, {"ref": "z"}]]}))
    without_two = shrink.delete_statements(doc, {6})  # p, q = two(cc)
    assert without_two["outputs"][1] == [{"ref": "cc"}, {"ref": "z"}], (
        f"expected q to read two's argument cc in the list, got {without_two['outputs']}")
    load_program(without_two)
    keeps_list = Recorder(lambda d: any(isinstance(o, list) for o in d.get("outputs", []))
                          and _two_recs_around_a_sum(d))
    result = shrink.shrink(doc, keeps_list)
    assert any(isinstance(o, list) for o in result.doc["outputs"]), (
        f"expected the list output kept, got {result.doc['outputs']}")
    assert result.statements_after <= 4, (
        f"expected the list program shrunk to its core, got {result.doc['body']}")
    load_program(result.doc)


@pytest.mark.spec("RPT-26")
def test_literals_inputs_and_dtypes_simplify() -> None:
    """A predicate that needs an input, an output and a print: everything else goes, and the
    input ends 0-d, float32, with the default fill; the print's message shortens to ''."""
    doc = dict(GROWN, body=GROWN["body"][4:5], outputs=["a"])

    def holds(d: dict) -> bool:
        return len(d.get("inputs", [])) >= 1 and len(d.get("outputs", [])) >= 1 and \
            "aten::_print.default" in _ops(d)

    result = shrink.shrink(doc, holds)
    inputs = [{k: v for k, v in spec.items() if k != "name"} for spec in result.doc["inputs"]]
    assert inputs == [{"shape": [], "dtype": "float32"}], (
        f"expected one 0-d float32 input with the default fill, got {result.doc['inputs']}")
    assert result.doc["body"] == [{"op": "aten::_print.default", "args": [""]}], (
        f"expected _print(''), got {result.doc['body']}")


@pytest.mark.spec("RPT-27")
def test_only_smaller_valid_programs_reach_the_predicate_once_each() -> None:
    recorder = Recorder(_two_recs_around_a_sum)
    result = shrink.shrink(GROWN, recorder)
    texts = [json.dumps(d, sort_keys=True) for d in recorder.asked]
    assert len(texts) == len(set(texts)) == result.runs, (
        f"expected {result.runs} distinct programs asked about, got {len(texts)} "
        f"({len(set(texts))} distinct)")
    start = shrink.complexity(program_to_json(load_program(GROWN)))
    for doc in recorder.asked:
        load_program(doc)  # raises for an invalid candidate
        assert shrink.complexity(doc) < start, f"expected a smaller candidate, got {doc}"
    assert result.invalid > 0 or result.runs > 0, "expected candidates to be considered"


@pytest.mark.spec("RPT-27")
def test_the_reduction_is_deterministic() -> None:
    first = shrink.shrink(GROWN, Recorder(_two_recs_around_a_sum))
    again = shrink.shrink(GROWN, Recorder(_two_recs_around_a_sum))
    assert first.doc == again.doc and first.runs == again.runs, (
        f"expected the same result twice, got {first.doc} in {first.runs} runs and "
        f"{again.doc} in {again.runs} runs")


@pytest.mark.spec("RPT-27")
def test_stop_shrinking_keeps_the_smallest_so_far() -> None:
    calls = []

    def stops(doc: dict) -> bool:
        calls.append(doc)
        if len(calls) > 3:
            raise shrink.StopShrinking
        return _two_recs_around_a_sum(doc)

    result = shrink.shrink(GROWN, stops)
    assert result.stopped, "expected the reduction to report that it was stopped"
    assert _two_recs_around_a_sum(result.doc), f"expected a failing program, got {result.doc}"
    assert result.doc in [program_to_json(load_program(GROWN)), *calls[:3]], (
        "expected the start or a program the predicate accepted")
    limited = shrink.shrink(GROWN, _two_recs_around_a_sum, max_runs=2)
    assert limited.runs == 2 and limited.stopped, f"expected 2 runs, got {limited}"


# ---------------------------------------------------------------------------------------------
# The oracle as the predicate (a planted divergence)
# ---------------------------------------------------------------------------------------------


def _reversed_torch(doc: dict, path: str, timeout: float) -> Observation:
    """refimpl with its effect log reversed: a program with two different events diverges."""
    obs = run_refimpl(load_program(doc), path)
    obs.side = "torch"
    obs.effect_log = list(reversed(obs.effect_log))
    return obs


def _grown_finding(fuzzer: fuzz.Fuzzer) -> fuzz.Finding:
    (finding,) = fuzzer.check(GROWN)
    return finding


@pytest.mark.spec("RPT-28")
def test_a_campaign_shrinks_a_replayed_finding(tmp_path: Path, monkeypatch) -> None:
    """A failing example replayed from the database ends the round in `round_last`; the end of
    the round shrinks it before writing it."""
    monkeypatch.setattr(fuzz, "torch_observation", _reversed_torch)
    fuzzer = fuzz.Fuzzer(["eager"], tmp_path, time.monotonic() + 120, "2.13.0")
    finding = _grown_finding(fuzzer)
    assert len(finding.program.body) == 13, "expected the 13-statement finding"
    fuzzer.round_last[fuzz.bug_key(finding)] = finding
    fuzzer.end_round()
    (folder,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    program = load_program(folder / "program.json")
    assert len(program.body) <= 2, f"expected two differing events left, got {program.body}"
    sig = json.loads((folder / "signature.json").read_text())
    assert (sig["path"], sig["kinds"]) == ("eager", finding.sig["kinds"]), (
        f"expected the signature kept, got {sig}")


@pytest.mark.spec("RPT-28")
def test_no_shrink_writes_the_finding_as_it_came(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(fuzz, "torch_observation", _reversed_torch)
    fuzzer = fuzz.Fuzzer(["eager"], tmp_path, time.monotonic() + 120, "2.13.0", shrink=False)
    finding = _grown_finding(fuzzer)
    fuzzer.round_last[fuzz.bug_key(finding)] = finding
    fuzzer.end_round()
    (folder,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    body = load_program(folder / "program.json").body
    assert len(body) == 13, f"expected the program unchanged, got {len(body)} statements"


@pytest.mark.spec("RPT-28")
def test_cli_shrink_rewrites_a_finding_folder(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(fuzz, "torch_observation", _reversed_torch)
    fuzzer = fuzz.Fuzzer(["eager"], tmp_path, time.monotonic() + 120, "2.13.0", shrink=False)
    folder = fuzz.write_finding(tmp_path, _grown_finding(fuzzer))
    before = json.loads((folder / "signature.json").read_text())
    code = cli.main(["shrink", str(folder)])
    out = capsys.readouterr().out
    assert code == 0, f"expected exit 0, got {code}: {out}"
    assert "13 -> 2 statements" in " ".join(out.split()), f"expected before/after, got {out!r}"
    assert sorted(p.name for p in folder.iterdir()) == [
        "program.json", "refimpl.json", "report.md", "repro.py", "signature.json", "torch.json"
    ], f"expected a whole finding in {folder}"
    program = load_program(folder / "program.json")
    assert len(program.body) == 2, f"expected 2 statements written, got {program.body}"
    assert fuzz._program_source(program).rstrip() in (folder / "report.md").read_text(), (
        "expected report.md to describe the shrunk program")
    after = json.loads((folder / "signature.json").read_text())
    assert (after["path"], after["kinds"]) == (before["path"], before["kinds"]), (
        f"expected the same path and kinds, got {after} for {before}")
    leftovers = [p for p in (tmp_path / fuzz.STAGING).iterdir() if p.suffix != ".lock"]
    assert not leftovers, f"expected nothing left in staging, got {leftovers}"


@pytest.mark.spec("RPT-28")
def test_cli_shrink_refuses_a_hand_written_folder_without_output(tmp_path: Path) -> None:
    folder = tmp_path / "001-hand-written"
    folder.mkdir()
    (folder / "program.json").write_text(json.dumps(GROWN))
    code = cli.main(["shrink", str(folder)])
    assert code == 2, f"expected a usage error (2) without --output, got {code}"
    assert (folder / "program.json").read_text() == json.dumps(GROWN), "expected it untouched"


@pytest.mark.spec("RPT-28")
def test_target_of_a_curated_folder_comes_from_the_known_finding() -> None:
    target = fuzz.shrink_target(ROOT / "findings" / "001-inductor-reorders-ordered-ops")
    assert target == {"path": "compile:inductor", "kinds": ["effect-order violation"],
                      "ops": []}, f"expected known finding F001's path and kind, got {target}"


@pytest.mark.torch
@pytest.mark.inductor
@pytest.mark.slow
@pytest.mark.spec("RPT-28")
def test_the_known_inductor_reorder_shrinks(tmp_path: Path, capsys) -> None:
    """findings/001 (6 statements, 3 inputs) on compile:inductor with real torch."""
    source = ROOT / "findings" / "001-inductor-reorders-ordered-ops"
    folder = tmp_path / source.name
    folder.mkdir()
    (folder / "program.json").write_text((source / "program.json").read_text())
    output = tmp_path / "shrunk"
    code = cli.main(["shrink", str(folder), "--output", str(output)])
    out = capsys.readouterr().out
    assert code == 0, f"expected exit 0, got {code}: {out}"
    program = load_program(output / "program.json")
    assert len(program.body) <= 5, f"expected at most 5 statements, got {program.body}"
    sig = json.loads((output / "signature.json").read_text())
    assert sig["kinds"] == ["effect-order violation"], f"expected the reorder kept, got {sig}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, str(output / "repro.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    logs = {name: ast.literal_eval(log) for name, sep, log in
            (line.partition(": effect log ") for line in done.stdout.splitlines()) if sep}
    eager, inductor = logs.get("eager"), logs.get("compile:inductor")
    assert eager != inductor and sorted(eager) == sorted(inductor), (
        f"expected the repro to show the same events reordered, got eager {eager}, "
        f"inductor {inductor}:\n{done.stderr[-2000:]}")
