"""Hostile input: the loader answers every document with a Program or a ProgramError, and each
limit is checked before the work it bounds (no torch needed).

Spec: PRG-39, PRG-40, PRG-41, PRG-42.
"""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracle.check import CheckRun, check_programs
from oracle.program import Limits, ProgramError, load_catalog, load_program
from oracle.refimpl_runner import oversized_value
from oracle.tools.malformed_programs import catalog_texts, mutate

SOURCES = catalog_texts()
BASE = {
    "format": "effects-program/1",
    "name": "p",
    "inputs": [{"name": "x", "shape": [2], "dtype": "float32"}],
    "body": [{"op": "aten::_print.default", "args": ["hi"]}],
    "outputs": ["x"],
}


def _fault(source, **limits) -> ProgramError:
    with pytest.raises(ProgramError) as info:
        load_program(source, limits=Limits(**limits))
    return info.value


@pytest.mark.spec("PRG-39", "PRG-40", "PRG-41")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(SOURCES) - 1), rng=st.randoms(use_true_random=False))
def test_a_mutated_catalog_file_is_a_program_or_a_program_error(tmp_path_factory, index, rng):
    path = tmp_path_factory.mktemp("mutant") / "m.json"
    path.write_bytes(mutate(SOURCES[index], rng))
    with contextlib.suppress(ProgramError):
        load_program(path)


@pytest.mark.spec("PRG-39")
def test_non_utf8_bytes_name_the_offset(tmp_path: Path):
    path = tmp_path / "p.json"
    text = json.dumps(BASE).encode()
    path.write_bytes(text[:10] + b"\xff" + text[10:])
    assert "byte 0xff at offset 10" in str(_fault(path)), "expected the byte and its offset"


@pytest.mark.spec("PRG-39")
def test_a_file_over_the_size_limit_is_not_read(tmp_path: Path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(BASE))
    error = _fault(path, max_file_bytes=20)
    assert "max_file_bytes" in str(error), f"expected the limit named, got {error}"


@pytest.mark.spec("PRG-39")
def test_a_lone_surrogate_is_rejected_at_its_path():
    text = json.dumps(BASE).replace('"hi"', '"h\\ud800"')
    error = _fault(text)
    assert error.path == "$.body[0].args[0]" and "surrogate" in error.reason, str(error)


@pytest.mark.spec("PRG-40")
@pytest.mark.parametrize("depth", [65, 100_000])
def test_deep_nesting_in_text_is_a_program_error(depth):
    text = '{"format": "effects-program/1", "name": "p", "description": ' + "[" * depth
    error = _fault(text)
    assert "max_depth" in error.reason and "line 1 column" in error.reason, str(error)


@pytest.mark.spec("PRG-40")
def test_deep_nesting_in_python_data_is_a_program_error():
    doc = copy.deepcopy(BASE)
    cycle: dict = {}
    cycle["a"] = cycle
    doc["description"] = cycle
    assert "max_depth" in _fault(doc).reason, "expected the depth limit for a cyclic dict"


@pytest.mark.spec("PRG-40")
def test_a_long_number_is_rejected_before_decoding():
    text = json.dumps(BASE).replace('"shape": [2]', '"shape": [' + "9" * 5000 + "]")
    error = _fault(text)
    assert "max_number_chars" in error.reason and "line 1" in error.reason, str(error)
    doc = copy.deepcopy(BASE)
    doc["inputs"][0]["shape"] = [1 << 20000]
    assert _fault(doc).path == "$.inputs[0].shape[0]", "expected the big int's JSON path"


@pytest.mark.spec("PRG-41")
def test_a_duplicate_key_is_named_with_its_path():
    text = json.dumps(BASE).replace('"dtype": "float32"', '"dtype": "float32", "dtype": "int64"')
    error = _fault(text)
    assert error.path == "$.inputs[0].dtype" and "duplicate key 'dtype'" in error.reason, str(error)


@pytest.mark.spec("PRG-41")
def test_long_strings_and_patterns_are_bounded():
    doc = copy.deepcopy(BASE)
    doc["body"][0]["args"] = ["x" * 100]
    assert _fault(doc, max_string_chars=99).path == "$.body[0].args[0]"
    doc = copy.deepcopy(BASE)
    doc["expect_error"] = {"type": "RuntimeError", "match": "a" * 5000}
    error = _fault(doc)
    assert error.path == "$.expect_error.match" and "max_pattern_chars" in error.reason, str(error)


@pytest.mark.spec("PRG-42")
def test_a_huge_broadcast_is_rejected_before_any_path_runs():
    program = load_program({
        "format": "effects-program/1", "name": "big",
        "inputs": [{"name": "a", "shape": [65536, 1], "dtype": "float32"},
                   {"name": "b", "shape": [1, 65536], "dtype": "float32"}],
        "body": [{"op": "aten::_print.default", "args": ["x"]},
                 {"op": "aten::add.Tensor", "args": [{"ref": "a"}, {"ref": "b"}], "outs": ["c"]}],
        "outputs": ["c"],
    })
    calls: list = []
    run = check_programs(CheckRun("", "", ["eager", "fake"]), [program],
                         lambda p, path: calls.append(path), [])
    statuses = [(r.path, r.status) for r in run.results]
    assert statuses == [("eager", "invalid"), ("fake", "invalid")], f"got {statuses}"
    detail = run.results[0].details[0]
    assert detail.startswith("$.body[1]:") and "[65536, 65536]" in detail, detail
    assert calls == [], f"expected no torch path to run, got {calls}"


@pytest.mark.spec("PRG-42")
def test_the_value_limit_leaves_the_catalog_alone():
    flagged = [p.name for p in load_catalog() if oversized_value(p, Limits().max_value_elements)]
    assert flagged == [], f"expected no catalog program over the limit, got {flagged}"
