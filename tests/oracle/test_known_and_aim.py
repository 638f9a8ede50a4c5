"""Known-findings files on the command line (RPT-33) and aimed campaigns (RPT-34)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from oracle import fuzz
from oracle import strategies as ps
from oracle.analysis import analyse
from oracle.check import KnownFindingsError, load_known_findings
from oracle.program import load_program

ROOT = Path(__file__).resolve().parents[2]
ENTRY = {"id": "K9", "paths": ["eager"], "kind": "reference mismatch", "reason": "planted"}


def _file(tmp_path: Path, doc: object, name: str = "known.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


@pytest.mark.spec("RPT-33")
def test_a_known_findings_file_is_read_and_checked(tmp_path: Path) -> None:
    path = _file(tmp_path, {"format": "known-findings/1", "findings": [ENTRY]})
    assert load_known_findings(path) == [ENTRY], "expected the file's entries"
    assert [e["id"] for e in load_known_findings()][:1] == ["F001"], "expected the packaged file"


BAD = {
    "not JSON": ("{", "Expecting property name"),
    "another format": ({"format": "known/2", "findings": []}, "$.format must be"),
    "no findings list": ({"format": "known-findings/1"}, "$.findings must be a list"),
    "an entry without kind": (
        {"format": "known-findings/1", "findings": [{"id": "K", "reason": "r"}]},
        "$.findings[0].kind must be a string"),
    "an unknown path": (
        {"format": "known-findings/1", "findings": [{**ENTRY, "paths": ["compile:tvm"]}]},
        "$.findings[0].paths must list paths of"),
    "an unknown feature": (
        {"format": "known-findings/1", "findings": [{**ENTRY, "requires": ["loops"]}]},
        "$.findings[0].requires must list features of"),
    "a bad regular expression": (
        {"format": "known-findings/1", "findings": [{**ENTRY, "match": "("}]},
        "$.findings[0].match is not a regular expression"),
}


@pytest.mark.spec("RPT-33")
@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_known_findings_file_names_the_file_and_the_fault(tmp_path: Path, case: str) -> None:
    doc, fragment = BAD[case]
    path = _file(tmp_path, doc)
    with pytest.raises(KnownFindingsError) as info:
        load_known_findings(path)
    assert str(info.value).startswith(f"{path}: ") and fragment in str(info.value), (
        f"expected {path} and {fragment!r}, got {info.value}")


def _oracle(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oracle", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


PROGRAM = {"format": "effects-program/1", "name": "one-print",
           "inputs": [{"name": "x", "shape": [2], "dtype": "float32"}],
           "body": [{"op": "aten::_print.default", "args": ["a"]}], "outputs": ["x"]}


@pytest.mark.spec("RPT-33")
@pytest.mark.parametrize("command", ["check", "fuzz"])
def test_a_bad_known_file_stops_the_command_with_exit_2(tmp_path: Path, command: str) -> None:
    bad = _file(tmp_path, {"format": "known-findings/1", "findings": [{"id": "K"}]})
    args = [str(_file(tmp_path, PROGRAM, "p.json")), "--paths", "eager"] if command == "check" \
        else ["--paths", "eager", "--max-examples", "1", "--findings", str(tmp_path / "f")]
    done = _oracle(command, *args, "--known", str(bad))
    assert done.returncode == 2, f"expected exit 2, got {done.returncode}: {done.stderr[-800:]}"
    assert "$.findings[0].kind must be a string" in done.stderr, f"got {done.stderr[-800:]}"
    both = _oracle(command, *args, "--known", str(bad), "--no-known")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr, (
        f"expected argparse to refuse both, got {both.returncode}: {both.stderr[-400:]}")


@pytest.mark.torch
@pytest.mark.spec("RPT-33", "RPT-6")
def test_check_applies_the_given_file_and_no_other(tmp_path: Path) -> None:
    known = _file(tmp_path, {"format": "known-findings/1", "findings": [ENTRY]})
    program = _file(tmp_path, PROGRAM, "p.json")
    done = _oracle("check", str(program), "--paths", "eager", "--format", "json",
                   "--known", str(known))
    assert done.returncode == 0, f"expected the program to agree, got {done.stderr[-800:]}"
    stale = [e["id"] for e in json.loads(done.stdout)["stale_known_findings"]]
    assert stale == ["K9"], f"expected the given file's K9 alone to be stale, got {stale}"
    cold = _oracle("check", str(program), "--paths", "eager", "--format", "json", "--no-known")
    assert json.loads(cold.stdout)["stale_known_findings"] == [], "expected no entry applied"


@pytest.mark.spec("RPT-34")
@pytest.mark.parametrize(("argv", "aim"), [
    (["--paths", "compile:inductor"], True),
    (["--paths", "eager,compile:aot_eager"], True),
    (["--paths", "eager,fake,make_fx,functional,export"], False),
    (["--paths", "compile:inductor", "--no-aim"], False),
    (["--paths", "eager", "--aim"], True),
])
def test_campaigns_aim_where_effect_order_bugs_live(argv: list[str], aim: bool) -> None:
    assert fuzz._aim(fuzz._parser().parse_args(argv)) is aim, f"expected aim={aim} for {argv}"


@pytest.mark.spec("RPT-34", "TRC-15")
def test_an_aimed_example_targets_its_separated_pairs(tmp_path: Path, monkeypatch) -> None:
    seen: list[tuple[float, str]] = []
    monkeypatch.setattr(fuzz, "target", lambda value, label: seen.append((value, label)))
    fuzzer = fuzz.Fuzzer(["eager"], tmp_path, float("inf"), "2.13.0", aim=True,
                         known=[])
    monkeypatch.setattr(fuzzer, "check", lambda doc, **kwargs: [])
    docs: list[dict] = []

    @settings(max_examples=15, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(doc=fuzzer.strategy())
    def run(doc: dict) -> None:
        docs.append(doc)
        fuzzer.property(doc)

    run()
    want = [(analyse(load_program(d)).separated_pairs, fuzz.TARGET_LABEL) for d in docs]
    assert seen == want, f"expected one target per example with its separated pairs, got {seen}"
    assert not fuzz.Fuzzer(["eager"], tmp_path, 0.0, "2.13.0", known=[]).aim, "off by default"
    assert max(len(d["body"]) for d in docs) <= ps.HUNT["max_ops"] * 2, "HUNT bodies"
