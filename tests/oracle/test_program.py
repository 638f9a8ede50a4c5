"""Tests for oracle/program.py, oracle/program.schema.json, oracle/behaviors.py and the catalog.

- Every catalog program loads, round-trips through `program_to_json` and is stored in the
  canonical text of `dump_program`; together the catalog covers what specs/program.md asks for.
- A table of invalid programs, one fault each, checks the error type, the exact JSON path and a
  message fragment for every validation rule (PRG-1 to PRG-22).
- Hypothesis mutates valid documents (drop a field, change a type, rename a string): loading
  either succeeds or raises `ProgramError` whose path exists in the mutated document.
- The world-neutral helpers (`apply_behavior`, `make_event`, `bind_arguments`, `fill_values`)
  run against a numpy ops adaptor.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oracle import behaviors
from oracle.behaviors import (
    BEHAVIORS,
    KNOWN_ATEN_OPS,
    apply_behavior,
    bind_arguments,
    fill_values,
    make_event,
    op_signature,
    parse_signature,
)
from oracle.program import (
    FORMATS,
    SCHEMA_PATH,
    Program,
    ProgramError,
    Ref,
    Stmt,
    catalog_paths,
    dump_program,
    json_path,
    load_catalog,
    load_program,
    program_to_json,
)

REPO = Path(__file__).resolve().parents[2]
CATALOG = catalog_paths()
CATALOG_IDS = [p.stem for p in CATALOG]

# A valid program that touches every part of the format; the invalid table mutates it.
BASE = {
    "format": "effects-program/1",
    "name": "base",
    "description": "every part of the format once",
    "custom_ops": [
        {
            "name": "fz::rec",
            "schema": "rec(Tensor x, str tag) -> Tensor",
            "behavior": "record",
            "effect": "ORDERED",
        },
        {
            "name": "fz::lst",
            "schema": "lst(Tensor x) -> Tensor[]",
            "behavior": "chunks",
            "effect": None,
        },
    ],
    "register_effects": {"aten::cos.default": "ORDERED"},
    "inputs": [
        {"name": "x", "shape": [4], "dtype": "float32"},
        {"name": "y", "shape": [4], "dtype": "float32", "fill": {"randn": 0}},
    ],
    "body": [
        {"op": "aten::_print.default", "args": ["start"]},
        {"op": "fz::rec.default", "args": [{"ref": "x"}, "a"], "outs": ["r"]},
        {"op": "fz::lst.default", "args": [{"ref": "r"}], "outs": ["cs"]},
        {
            "op": "aten::add.Tensor",
            "args": [{"ref": "cs", "index": 0}, {"ref": "y"}],
            "kwargs": {"alpha": 2},
            "outs": ["s"],
        },
        {
            "with_effects": {"op": "aten::_print.default", "args": ["we"]},
            "outs": ["tok", "nothing"],
        },
        {"op": "aten::view.default", "args": [{"ref": "s"}, [2, 2]], "outs": ["v"]},
    ],
    "outputs": ["v", {"ref": "cs", "index": 2}],
    "expect_error": None,
}

# The contract's own example (docs/architecture.md's oracle contract).
CONTRACT_EXAMPLE = {
    "format": "effects-program/1",
    "name": "rec-sin-rec",
    "description": "optional free text",
    "custom_ops": [
        {
            "name": "fz::rec",
            "schema": "rec(Tensor x, str tag) -> Tensor",
            "behavior": "record",
            "effect": "ORDERED",
        }
    ],
    "register_effects": {"aten::cos.default": "ORDERED"},
    "inputs": [{"name": "x", "shape": [4], "dtype": "float32", "fill": "arange"}],
    "body": [
        {"op": "aten::_print.default", "args": ["start"]},
        {"op": "fz::rec.default", "args": [{"ref": "x"}, "a"], "outs": ["y"]},
        {"op": "aten::sin.default", "args": [{"ref": "y"}], "outs": ["z"]},
        {"op": "aten::add.Tensor", "args": [{"ref": "z"}, {"ref": "x"}], "outs": ["w"]},
    ],
    "outputs": ["w"],
    "expect_error": None,
}


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def strip_defaults(doc: dict) -> dict:
    """`doc` with every field that equals its default left out (what `program_to_json` emits)."""
    out = {k: v for k, v in doc.items() if not _is_default(k, v)}
    out["inputs"] = [
        {k: v for k, v in i.items() if not (k == "fill" and v == "arange")}
        for i in doc.get("inputs", [])
    ]
    out["body"] = [_strip_stmt(s) for s in doc["body"]]
    if not out["inputs"]:
        del out["inputs"]
    if isinstance(out.get("expect_error"), dict) and out["expect_error"].get("match") == "":
        out["expect_error"] = {"type": out["expect_error"]["type"]}
    return out


def _is_default(key: str, value: object) -> bool:
    defaults = {"description": "", "custom_ops": [], "register_effects": {}, "outputs": []}
    return (key in defaults and value == defaults[key]) or (key == "expect_error" and value is None)


def _strip_stmt(stmt: dict) -> dict:
    out = {k: v for k, v in stmt.items() if v not in ([], {})}
    if "with_effects" in out:
        out["with_effects"] = {k: v for k, v in out["with_effects"].items() if v not in ([], {})}
    return out


def resolve(doc: object, location: tuple) -> object:
    """The value at `location`; raise LookupError when a step does not exist."""
    node = doc
    for step in location:
        in_list = isinstance(step, int) and isinstance(node, list) and 0 <= step < len(node)
        in_dict = isinstance(step, str) and isinstance(node, dict) and step in node
        if not (in_list or in_dict):
            raise LookupError(f"{json_path(location)}: no step {step!r}")
        node = node[step]
    return node


def load_error(doc: object) -> ProgramError:
    with pytest.raises(ProgramError) as info:
        load_program(doc)
    return info.value


class NumpyOps:
    """The ops adaptor of `apply_behavior`, over numpy arrays."""

    @staticmethod
    def add_scalar(x: np.ndarray, c: float) -> np.ndarray:
        return x + np.asarray(c, dtype=x.dtype)

    @staticmethod
    def mul_scalar(x: np.ndarray, c: float) -> np.ndarray:
        return x * np.asarray(c, dtype=x.dtype)

    @staticmethod
    def empty_like(x: np.ndarray) -> np.ndarray:
        return np.empty_like(x)


# --------------------------------------------------------------------------------------------
# The catalog
# --------------------------------------------------------------------------------------------


@pytest.mark.spec("PRG-1", "PRG-2", "PRG-3")
@pytest.mark.parametrize("path", CATALOG, ids=CATALOG_IDS)
def test_catalog_program_loads_and_round_trips(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    program = load_program(path)
    assert program.source == str(path), f"expected source {str(path)!r}, got {program.source!r}"
    assert program_to_json(program) == strip_defaults(doc), (
        f"expected program_to_json to give the document without defaults, got "
        f"{program_to_json(program)}"
    )
    again = load_program(program_to_json(program))
    assert again == program, f"expected a reload to give {program}, got {again}"
    assert dump_program(program) == text, f"expected {path.name} in dump_program's canonical form"


@pytest.mark.spec("PRG-1")
def test_catalog_files_are_numbered_named_described_and_small() -> None:
    assert len(CATALOG) >= 34, f"expected at least 34 catalog programs, got {len(CATALOG)}"
    for n, path in enumerate(CATALOG, start=1):
        match = re.fullmatch(r"(\d\d)_(.+)\.json", path.name)
        assert match, f"expected a file name NN_name.json, got {path.name}"
        assert int(match[1]) == n, f"expected number {n:02d} for {path.name}"
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["name"] == match[2], f"expected name {match[2]!r}, got {doc['name']!r}"
        assert doc.get("description"), f"expected a description in {path.name}"
        assert len(doc["body"]) <= 12, f"expected <= 12 statements in {path.name}"


def _catalog_facts(programs: list[Program]) -> set[str]:
    facts: set[str] = set()
    for p in programs:
        facts.update(f"behavior:{c.behavior}" for c in p.custom_ops)
        facts.update(f"register:{k}:{v}" for k, v in p.register_effects.items())
        facts.update("effect:null" for c in p.custom_ops if c.effect is None)
        facts.update(f"dtype:{i.dtype}" for i in p.inputs)
        facts.update(f"op:{s.op}" for s in p.body)
        facts.update(f"with_effects:{s.op}" for s in p.body if s.kind == "with_effects")
        facts.update(f"scenario:{p.name.split('_')[0]}" for _ in [0] if p.name.startswith("s0"))
        if not p.inputs:
            facts.add("zero-inputs")
        if p.expect_error is not None:
            facts.add(f"expect:{p.expect_error.type}")
        if any(isinstance(o, Ref) and o.index is not None for o in p.outputs):
            facts.add("output:index")
        if all(s.op == "aten::_print.default" for s in p.body):
            facts.add("prints-only")
        custom = {c.overload for c in p.custom_ops}
        if any(s.op in custom and not s.outs for s in p.body):
            facts.add("custom-result-unused")
        if any(o in {n for s in p.body if s.op in custom for n in s.outs} for o in p.outputs):
            facts.add("custom-result-is-output")
    return facts


@pytest.mark.spec("PRG-9", "PRG-12", "PRG-24", "PRG-25")
def test_catalog_covers_the_required_cases() -> None:
    facts = _catalog_facts(load_catalog())
    wanted = {
        *(f"behavior:{b}" for b in BEHAVIORS),
        "register:aten::cos.default:ORDERED",
        "register:aten::sin.default:ORDERED",
        "register:aten::add.Tensor:ORDERED",
        "effect:null",
        "dtype:float64",
        "dtype:int64",
        "op:aten::add_.Tensor",
        "op:aten::copy_.default",
        "with_effects:aten::absolute_.default",
        "with_effects:aten::_print.default",
        "expect:AssertionError",
        "zero-inputs",
        "prints-only",
        "output:index",
        "custom-result-unused",
        "custom-result-is-output",
        *(f"scenario:s{s}" for s in ("04", "05a", "05b", "05c", "05d", "05e", "05h", "08")),
    }
    missing = wanted - facts
    assert not missing, f"expected the catalog to cover every case, missing {sorted(missing)}"


# --------------------------------------------------------------------------------------------
# Valid documents and the API
# --------------------------------------------------------------------------------------------


@pytest.mark.spec("PRG-1", "PRG-3")
def test_load_from_dict_json_text_and_path(tmp_path: Path) -> None:
    from_dict = load_program(BASE)
    from_text = load_program(json.dumps(BASE))
    file = tmp_path / "base.json"
    file.write_text(json.dumps(BASE), encoding="utf-8")
    from_path = load_program(file)
    from_str_path = load_program(str(file))
    assert from_dict == from_text == from_path == from_str_path, "expected the same Program"
    assert from_dict.source is None, f"expected no source for a dict, got {from_dict.source!r}"
    assert from_path.source == str(file), f"expected source {file}, got {from_path.source!r}"


def test_base_program_as_dataclasses() -> None:
    p = load_program(BASE)
    assert p.body[3] == Stmt(
        "aten::add.Tensor", (Ref("cs", 0), Ref("y")), {"alpha": 2}, ("s",), "call"
    ), f"expected the add statement as a Stmt, got {p.body[3]}"
    assert p.body[4].kind == "with_effects", f"expected a with_effects Stmt, got {p.body[4]}"
    assert p.body[5].args[1] == (2, 2), f"expected the int list as a tuple, got {p.body[5].args}"
    assert p.outputs == ("v", Ref("cs", 2)), f"expected outputs ('v', Ref), got {p.outputs}"
    assert p.inputs[1].fill == {"randn": 0}, f"expected the randn fill, got {p.inputs[1].fill}"
    assert p.custom_ops[1].effect is None, f"expected effect None, got {p.custom_ops[1].effect}"


@pytest.mark.spec("PRG-1")
def test_contract_example_loads_and_round_trips() -> None:
    program = load_program(CONTRACT_EXAMPLE)
    assert program_to_json(program) == strip_defaults(CONTRACT_EXAMPLE), (
        f"expected a round trip, got {program_to_json(program)}"
    )


@pytest.mark.spec("PRG-11", "PRG-16", "PRG-19")
def test_valid_corner_cases() -> None:
    doc = copy.deepcopy(BASE)
    doc["register_effects"]["fz::rec.default"] = None  # a custom op overload is a known key
    doc["custom_ops"].append(
        {
            "name": "fz::obs",
            "schema": "obs(Tensor x, Tensor[] ys, *, str? tag=None, int[] n=[1, 2]) -> ()",
            "behavior": "observe",
            "effect": "ORDERED",
        }
    )
    doc["body"] += [
        {"op": "fz::obs.default", "args": [{"ref": "x"}, {"ref": "cs"}]},  # a whole list value
        {"op": "fz::obs.default", "args": [{"ref": "x"}, [{"ref": "y"}]], "kwargs": {"tag": None}},
        {"with_effects": {"op": "fz::lst.default", "args": [{"ref": "x"}]}, "outs": ["t2", "l2"]},
        {
            "op": "aten::add.Tensor",
            "args": [{"ref": "l2", "index": 2}],
            "kwargs": {"other": {"ref": "x"}},
        },
        {"op": "aten::clone.default", "args": [{"ref": "x"}], "kwargs": {"memory_format": None}},
        {"op": "aten::add.Scalar", "args": [{"ref": "x"}, True, 2.5]},
    ]
    program = load_program(doc)
    assert len(program.body) == len(doc["body"]), "expected every statement loaded"


@pytest.mark.spec("PRG-3")
def test_program_error_is_a_value_error_with_path_and_reason() -> None:
    doc = copy.deepcopy(BASE)
    doc["body"][1]["args"][0] = {"ref": "q"}
    error = load_error(doc)
    assert isinstance(error, ValueError), "expected ProgramError to be a ValueError"
    expected = "$.body[1].args[0].ref: dangling ref 'q' (not defined before this statement)"
    assert str(error) == expected, f"expected {expected!r}, got {str(error)!r}"
    assert error.location == ("body", 1, "args", 0, "ref"), f"got location {error.location}"
    assert error.reason.startswith("dangling ref"), f"got reason {error.reason!r}"


@pytest.mark.spec("PRG-3")
@pytest.mark.parametrize(
    "location",
    [
        (),
        ("a",),
        ("body", 2, "args", 0),
        ("register_effects", "aten::cos.default"),
        ("x y", "it's"),
    ],
)
def test_json_path_is_jsonschemas_json_path(location: tuple) -> None:
    error = jsonschema.exceptions.ValidationError("m", path=list(location))
    assert json_path(location) == error.json_path, (
        f"expected {error.json_path!r}, got {json_path(location)!r}"
    )


@pytest.mark.spec("PRG-2")
def test_schema_dtypes_are_the_behaviors_dtypes() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    dtypes = schema["$defs"]["input"]["properties"]["dtype"]["enum"]
    assert sorted(dtypes) == sorted(behaviors.DTYPES), f"expected {sorted(behaviors.DTYPES)}"
    assert schema["properties"]["format"]["enum"] == list(FORMATS), "expected the readable formats"
    jsonschema.Draft202012Validator.check_schema(schema)


# --------------------------------------------------------------------------------------------
# Invalid programs: one fault each
# --------------------------------------------------------------------------------------------


def _set(location: tuple, value: object):
    def mutate(doc: dict) -> None:
        parent = resolve(doc, location[:-1])
        parent[location[-1]] = value

    return mutate


def _drop(location: tuple):
    def mutate(doc: dict) -> None:
        del resolve(doc, location[:-1])[location[-1]]

    return mutate


def _schema(i: int, text: str):
    return _set(("custom_ops", i, "schema"), text)


def _add_op(name: str, schema: str, behavior: str):
    def mutate(doc: dict) -> None:
        doc["custom_ops"].append(
            {"name": name, "schema": schema, "behavior": behavior, "effect": "ORDERED"}
        )

    return mutate


def _append(stmt: dict):
    def mutate(doc: dict) -> None:
        doc["body"].append(stmt)

    return mutate


# (clause, mutation, expected JSON path, message fragment)
INVALID = [
    # PRG-1 / PRG-2: structure
    ("PRG-1", _set(("format",), "effects-program/2"), "$.format", "unsupported format"),
    (
        "PRG-29",
        _set(("format",), "effects-program/1.4"),
        "$.format",
        "this loader reads effects-program/1, effects-program/1.1, effects-program/1.2 and "
        "effects-program/1.3",
    ),
    ("PRG-1", _drop(("format",)), "$", "'format' is a required property"),
    ("PRG-2", _drop(("body",)), "$", "'body' is a required property"),
    ("PRG-2", _set(("extra",), 1), "$", "Additional properties are not allowed"),
    ("PRG-2", _set(("name",), "a b"), "$.name", "does not match"),
    ("PRG-2", _set(("body", 0, "extra"), 1), "$.body[0]", "Additional properties"),
    ("PRG-2", _set(("inputs", 0, "shape"), [2.0]), "$.inputs[0].shape[0]", "not of type 'integer'"),
    (
        "PRG-2",
        _set(("inputs", 0, "shape"), [True]),
        "$.inputs[0].shape[0]",
        "not of type 'integer'",
    ),
    ("PRG-2", _set(("inputs", 0, "shape"), [-1]), "$.inputs[0].shape[0]", "less than the minimum"),
    ("PRG-2", _set(("inputs", 0, "dtype"), "float16"), "$.inputs[0].dtype", "is not one of"),
    ("PRG-2", _set(("inputs", 0, "fill"), "random"), "$.inputs[0].fill", "is not one of"),
    ("PRG-2", _set(("inputs", 1, "fill"), {"randn": -1}), "$.inputs[1].fill.randn", "minimum"),
    ("PRG-2", _drop(("inputs", 0, "dtype")), "$.inputs[0]", "'dtype' is a required property"),
    ("PRG-2", _set(("body", 0, "op"), "aten::sin"), "$.body[0].op", "does not match"),
    ("PRG-2", _set(("custom_ops", 0, "name"), "rec"), "$.custom_ops[0].name", "does not match"),
    (
        "PRG-2",
        _set(("custom_ops", 0, "effect"), "UNORDERED"),
        "$.custom_ops[0].effect",
        "is not one of",
    ),
    ("PRG-2", _drop(("custom_ops", 0, "effect")), "$.custom_ops[0]", "'effect' is a required"),
    (
        "PRG-2",
        _set(("register_effects", "aten::cos.default"), "YES"),
        "$.register_effects['aten::cos.default']",
        "is not one of",
    ),
    ("PRG-2", _set(("register_effects", "cos"), None), "$.register_effects", "does not match"),
    ("PRG-2", _set(("body", 5, "args", 1), [[2], 2]), "$.body[5].args[1][0]", "not of type"),
    ("PRG-2", _set(("body", 1, "args", 0, "extra"), 1), "$.body[1].args[0]", "Additional"),
    ("PRG-2", _set(("body", 3, "args", 0, "index"), -1), "$.body[3].args[0].index", "minimum"),
    ("PRG-2", _set(("body", 1, "outs"), ["1r"]), "$.body[1].outs[0]", "does not match"),
    (
        "PRG-2",
        _drop(("body", 4, "with_effects", "op")),
        "$.body[4].with_effects",
        "'op' is a required",
    ),
    ("PRG-2", _set(("body", 4, "op"), "aten::sin.default"), "$.body[4]", "Additional properties"),
    ("PRG-2", _set(("outputs",), [3]), "$.outputs[0]", "not of type 'string'"),
    ("PRG-2", _set(("expect_error",), {"match": "x"}), "$.expect_error", "'type' is a required"),
    ("PRG-2", _set(("expect_error",), "AssertionError"), "$.expect_error", "not of type"),
    # PRG-5 to PRG-9: custom ops
    ("PRG-5", _set(("custom_ops", 0, "name"), "aten::rec"), "$.custom_ops[0].name", "reserved"),
    ("PRG-5", _set(("custom_ops", 1, "name"), "prims::lst"), "$.custom_ops[1].name", "reserved"),
    (
        "PRG-5",
        _add_op("fz::rec", "rec(Tensor x) -> Tensor", "record"),
        "$.custom_ops[2].name",
        "duplicate custom op",
    ),
    (
        "PRG-6",
        _schema(0, "foo(Tensor x, str tag) -> Tensor"),
        "$.custom_ops[0].schema",
        "does not match op name",
    ),
    (
        "PRG-6",
        _schema(0, "fz::rec(Tensor x, str tag) -> Tensor"),
        "$.custom_ops[0].schema",
        "does not match op name",
    ),
    (
        "PRG-6",
        _schema(0, "rec.default(Tensor x) -> Tensor"),
        "$.custom_ops[0].schema",
        "does not match op name",
    ),
    ("PRG-6", _schema(0, "rec(Tensor x, str tag)"), "$.custom_ops[0].schema", "not of the form"),
    (
        "PRG-6",
        _schema(0, "rec(Tensor, str tag) -> Tensor"),
        "$.custom_ops[0].schema",
        "cannot parse",
    ),
    (
        "PRG-7",
        _schema(0, "rec(Tensor x, Device d) -> Tensor"),
        "$.custom_ops[0].schema",
        "not allowed",
    ),
    (
        "PRG-7",
        _schema(0, "rec(Tensor x, Tensor?[] y) -> Tensor"),
        "$.custom_ops[0].schema",
        "not allowed",
    ),
    (
        "PRG-7",
        _schema(0, "rec(Tensor(a!) x, str tag) -> Tensor"),
        "$.custom_ops[0].schema",
        "alias annotation",
    ),
    (
        "PRG-7",
        _schema(0, "rec(Tensor(a) x) -> Tensor(a)"),
        "$.custom_ops[0].schema",
        "alias annotation",
    ),
    (
        "PRG-7",
        _schema(0, "rec(Tensor x, str lambda) -> Tensor"),
        "$.custom_ops[0].schema",
        "is a Python keyword",
    ),
    (
        "PRG-7",
        _schema(0, "rec(Tensor x, str x) -> Tensor"),
        "$.custom_ops[0].schema",
        "duplicate parameter",
    ),
    (
        "PRG-7",
        _schema(0, "rec(Tensor x, str tag=3) -> Tensor"),
        "$.custom_ops[0].schema",
        "default of parameter 'tag'",
    ),
    (
        "PRG-8",
        _set(("custom_ops", 0, "behavior"), "jump"),
        "$.custom_ops[0].behavior",
        "unknown behaviour 'jump'",
    ),
    (
        "PRG-9",
        _add_op("fz::two", "two(Tensor x) -> Tensor", "split"),
        "$.custom_ops[2].schema",
        "needs returns (Tensor, Tensor)",
    ),
    (
        "PRG-9",
        _add_op("fz::c", "c(Tensor x) -> Tensor", "chunks"),
        "$.custom_ops[2].schema",
        "needs returns Tensor[]",
    ),
    (
        "PRG-9",
        _add_op("fz::o", "o(Tensor x) -> Tensor", "observe"),
        "$.custom_ops[2].schema",
        "needs returns ()",
    ),
    (
        "PRG-9",
        _add_op("fz::r", "r(str t, Tensor x) -> Tensor", "record"),
        "$.custom_ops[2].schema",
        "first Tensor parameter",
    ),
    (
        "PRG-9",
        _add_op("fz::r", "r(Tensor? x) -> Tensor", "record"),
        "$.custom_ops[2].schema",
        "first Tensor parameter",
    ),
    (
        "PRG-9",
        _add_op("fz::o", "o() -> ()", "observe"),
        "$.custom_ops[2].schema",
        "first Tensor parameter",
    ),
    (
        "PRG-9",
        _add_op("fz::s", "s(str t, Tensor[] x) -> ()", "stamp"),
        "$.custom_ops[2].schema",
        "takes no tensor",
    ),
    # PRG-11, PRG-13: register_effects and inputs
    (
        "PRG-11",
        _set(("register_effects", "aten::tan.default"), "ORDERED"),
        "$.register_effects['aten::tan.default']",
        "unknown op overload 'aten::tan.default'",
    ),
    (
        "PRG-11",
        _set(("register_effects", "fz::rec.other"), "ORDERED"),
        "$.register_effects['fz::rec.other']",
        "unknown op overload",
    ),
    ("PRG-13", _set(("inputs", 1, "name"), "x"), "$.inputs[1].name", "duplicate value name 'x'"),
    ("PRG-13", _set(("inputs", 0, "shape"), [2048, 1024]), "$.inputs[0].shape", "elements"),
    # PRG-14: known ops
    (
        "PRG-14",
        _set(("body", 0, "op"), "aten::tan.default"),
        "$.body[0].op",
        "unknown op 'aten::tan.default'",
    ),
    ("PRG-14", _set(("body", 1, "op"), "fz::rec.foo"), "$.body[1].op", "unknown op"),
    ("PRG-14", _set(("body", 1, "op"), "zz::rec.default"), "$.body[1].op", "unknown op"),
    (
        "PRG-14",
        _set(("body", 4, "with_effects", "op"), "aten::_async_error.default"),
        "$.body[4].with_effects.op",
        "unknown op",
    ),
    # PRG-15: arity and names
    (
        "PRG-15",
        _append({"op": "aten::sin.default", "args": [{"ref": "x"}, {"ref": "x"}]}),
        "$.body[6].args[1]",
        "too many positional",
    ),
    (
        "PRG-15",
        _set(("body", 3, "args"), [{"ref": "x"}, {"ref": "x"}, 2]),
        "$.body[3].args[2]",
        "at most 2, got 3",
    ),
    (
        "PRG-15",
        _drop(("body", 1, "args", 1)),
        "$.body[1]",
        "missing argument 'tag' (str) of fz::rec.default",
    ),
    (
        "PRG-15",
        _drop(("body", 4, "with_effects", "args")),
        "$.body[4].with_effects",
        "missing argument 's'",
    ),
    (
        "PRG-15",
        _set(("body", 3, "kwargs", "beta"), 1),
        "$.body[3].kwargs.beta",
        "unknown keyword argument 'beta'",
    ),
    (
        "PRG-15",
        _set(("body", 3, "kwargs", "self"), {"ref": "x"}),
        "$.body[3].kwargs.self",
        "both by position and by keyword",
    ),
    # PRG-16: argument kinds
    (
        "PRG-16",
        _set(("body", 1, "args", 0), 3),
        "$.body[1].args[0]",
        "needs a ref to a tensor, got 3",
    ),
    ("PRG-16", _set(("body", 1, "args", 1), 3), "$.body[1].args[1]", "needs a string, got 3"),
    (
        "PRG-16",
        _set(("body", 1, "args", 1), None),
        "$.body[1].args[1]",
        "is not optional, got null",
    ),
    (
        "PRG-16",
        _set(("body", 1, "args", 1), {"ref": "x"}),
        "$.body[1].args[1]",
        "takes a literal, got a ref",
    ),
    ("PRG-16", _set(("body", 1, "args", 1), ["a"]), "$.body[1].args[1]", "needs a string"),
    (
        "PRG-16",
        _set(("body", 3, "kwargs", "alpha"), "two"),
        "$.body[3].kwargs.alpha",
        "needs a number or boolean",
    ),
    (
        "PRG-16",
        _set(("body", 5, "args", 1), [2, 2.5]),
        "$.body[5].args[1]",
        "must each be an integer, got 2.5",
    ),
    ("PRG-16", _set(("body", 5, "args", 1), 4), "$.body[5].args[1]", "needs a list, got 4"),
    (
        "PRG-16",
        _append(
            {"op": "aten::clone.default", "args": [{"ref": "x"}], "kwargs": {"memory_format": 0}}
        ),
        "$.body[6].kwargs.memory_format",
        "takes only null",
    ),
    (
        "PRG-16",
        _set(("body", 3, "args", 0), {"ref": "cs"}),
        "$.body[3].args[0]",
        "'cs' is a list of 3 tensors (select an element with index)",
    ),
    (
        "PRG-16",
        _set(("body", 5, "args", 0), {"ref": "nothing"}),
        "$.body[5].args[0]",
        "'nothing' is None",
    ),
    (
        "PRG-16",
        _set(("body", 3, "args", 0), [{"ref": "x"}]),
        "$.body[3].args[0]",
        "needs a ref to a tensor",
    ),
    # PRG-17: refs
    (
        "PRG-17",
        _set(("body", 1, "args", 0), {"ref": "q"}),
        "$.body[1].args[0].ref",
        "dangling ref 'q' (not defined before this statement)",
    ),
    (
        "PRG-17",
        _set(("body", 1, "args", 0), {"ref": "s"}),
        "$.body[1].args[0].ref",
        "dangling ref 's'",
    ),
    (
        "PRG-17",
        _set(("body", 1, "args", 0), {"ref": "r"}),
        "$.body[1].args[0].ref",
        "dangling ref 'r'",
    ),
    (
        "PRG-17",
        _set(("body", 4, "with_effects", "args"), [{"ref": "zz"}]),
        "$.body[4].with_effects.args[0].ref",
        "dangling ref",
    ),
    # PRG-18: index
    (
        "PRG-18",
        _set(("body", 1, "args", 0), {"ref": "x", "index": 0}),
        "$.body[1].args[0].index",
        "index on non-list value 'x' (a tensor)",
    ),
    (
        "PRG-18",
        _set(("body", 3, "args", 0, "index"), 3),
        "$.body[3].args[0].index",
        "index 3 out of range for 'cs'",
    ),
    # PRG-19: outs
    (
        "PRG-19",
        _set(("body", 0, "outs"), ["p"]),
        "$.body[0].outs",
        "returns nothing (-> ()); outs must be empty",
    ),
    (
        "PRG-19",
        _set(("body", 1, "outs"), ["r", "r2"]),
        "$.body[1].outs",
        "outs must name 0 or 1, got 2",
    ),
    (
        "PRG-19",
        _set(("body", 2, "outs"), ["c0", "c1", "c2"]),
        "$.body[2].outs",
        "outs must name 0 or 1, got 3",
    ),
    (
        "PRG-19",
        _set(("body", 4, "outs"), ["tok"]),
        "$.body[4].outs",
        "outs must name 0 or 2, got 1",
    ),
    # PRG-20: a rebound name shadows the earlier binding; one statement binds a name once
    (
        "PRG-20",
        _set(("body", 2, "outs"), ["r"]),
        "$.body[3].args[0].ref",
        "dangling ref 'cs'",
    ),
    (
        "PRG-20",
        _set(("body", 4, "outs"), ["tok", "tok"]),
        "$.body[4].outs[1]",
        "duplicate value name 'tok' in one statement's outs (already at $.body[4].outs[0])",
    ),
    # PRG-21: outputs
    ("PRG-21", _set(("outputs",), ["zz"]), "$.outputs[0]", "output 'zz' is not a defined value"),
    (
        "PRG-21",
        _set(("outputs", 1), {"ref": "zz"}),
        "$.outputs[1].ref",
        "dangling ref 'zz' (not defined by the program)",
    ),
    (
        "PRG-21",
        _set(("outputs", 0), "nothing"),
        "$.outputs[0]",
        "is None; an output must be a tensor or a list of tensors",
    ),
    (
        "PRG-21",
        _set(("outputs", 1), {"ref": "v", "index": 0}),
        "$.outputs[1].index",
        "index on non-list",
    ),
    # PRG-22: expect_error
    (
        "PRG-22",
        _set(("expect_error",), {"type": "AssertionError", "match": "("}),
        "$.expect_error.match",
        "not a regular expression",
    ),
]


@pytest.mark.parametrize(
    ("clause", "mutate", "path", "fragment"),
    [
        pytest.param(*row, marks=pytest.mark.spec(row[0]), id=f"{row[0]}:{row[3][:40]}")
        for row in INVALID
    ],
)
def test_invalid_program_is_rejected_at_its_path(clause, mutate, path, fragment) -> None:
    doc = copy.deepcopy(BASE)
    mutate(doc)
    error = load_error(doc)
    assert error.path == path, f"expected path {path!r}, got {error.path!r} ({error})"
    assert fragment in str(error), f"expected {fragment!r} in the message, got {str(error)!r}"
    assert str(error).startswith(path + ": "), "expected the message to start with the path"
    resolve(doc, error.location)  # the path exists in the document


@pytest.mark.spec("PRG-1", "PRG-2", "PRG-3")
@pytest.mark.parametrize(
    ("source", "path", "fragment"),
    [
        ("{not json", "$", "not JSON"),
        ("[1, 2]", "$", "is not of type 'object'"),
        ([1, 2], "$", "is not of type 'object'"),
        ("no/such/file.json", None, None),
    ],
    ids=["bad-json-text", "list-text", "list", "missing-file"],
)
def test_documents_that_are_not_programs(source, path, fragment) -> None:
    if path is None:  # a str not starting with "{" or "[" is a path
        with pytest.raises(OSError):
            load_program(source)
        return
    error = load_error(source)
    assert error.path == path and fragment in str(error), (
        f"expected {path}: {fragment}, got {error}"
    )


@pytest.mark.spec("PRG-4")
def test_first_fault_in_check_order_is_reported() -> None:
    doc = copy.deepcopy(BASE)
    doc["outputs"] = ["zz"]  # outputs are checked last
    doc["body"][1]["args"][0] = {"ref": "q"}  # statements before outputs
    doc["inputs"][1]["name"] = "x"  # inputs before statements
    assert load_error(copy.deepcopy(doc)).path == "$.inputs[1].name", "expected the input fault"
    doc["custom_ops"][0]["behavior"] = "jump"  # custom ops before inputs
    assert load_error(doc).path == "$.custom_ops[0].behavior", "expected the custom-op fault"


# --------------------------------------------------------------------------------------------
# Hypothesis: mutated documents load or fail with a path that exists
# --------------------------------------------------------------------------------------------

DOCUMENTS = [BASE, CONTRACT_EXAMPLE] + [json.loads(p.read_text(encoding="utf-8")) for p in CATALOG]
VALUES = [
    None,
    True,
    False,
    0,
    1,
    -1,
    2.5,
    "",
    "x",
    "q",
    "cs",
    "aten::sin.default",
    "fz::rec.default",
    "ORDERED",
    "float64",
    [],
    [1],
    [{"ref": "x"}],
    {},
    {"ref": "x"},
    {"ref": "cs", "index": 1},
    {"randn": 3},
    {"op": "aten::sin.default"},
]


def _nodes(doc: object, location: tuple = ()) -> list[tuple]:
    """Every location in the document, the root included."""
    found = [location]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _nodes(value, location + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            found += _nodes(value, location + (i,))
    return found


def _mutate(doc: dict, data: st.DataObject) -> dict:
    doc = copy.deepcopy(doc)
    location = data.draw(st.sampled_from(_nodes(doc)[1:]), label="location")
    parent = resolve(doc, location[:-1])
    kind = data.draw(st.sampled_from(["drop", "retype", "rename", "add-key"]), label="mutation")
    if kind == "drop":
        del parent[location[-1]]
    elif kind == "retype":
        parent[location[-1]] = copy.deepcopy(data.draw(st.sampled_from(VALUES), label="value"))
    elif kind == "rename":
        parent[location[-1]] = data.draw(
            st.sampled_from(["x", "y", "q", "r", "cs", "tok", "nothing", "w"])
            | st.text(max_size=6),
            label="name",
        )
    elif isinstance(parent, dict):
        parent[data.draw(st.sampled_from(["index", "ref", "op", "outs", "zz"]), label="key")] = 0
    return doc


@pytest.mark.spec("PRG-3")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_programs_load_or_raise_program_error_with_an_existing_path(data) -> None:
    doc = data.draw(st.sampled_from(DOCUMENTS), label="document")
    count = data.draw(st.integers(min_value=1, max_value=3), label="mutations")
    for _ in range(count):
        doc = _mutate(doc, data)
    try:
        program = load_program(doc)
    except ProgramError as error:
        resolve(doc, error.location)
        assert error.path == json_path(error.location), "expected path and location to agree"
        assert str(error).startswith(error.path + ": "), f"expected the path first in {error}"
    else:
        assert load_program(program_to_json(program)) == program, "expected a round trip"


# --------------------------------------------------------------------------------------------
# Known ops and schemas
# --------------------------------------------------------------------------------------------


@pytest.mark.spec("PRG-14")
def test_known_aten_ops_have_recorded_schemas() -> None:
    mismatches = behaviors.schema_mismatches()
    assert not mismatches, "expected refimpl's schemas to equal torch's recorded ones, got:\n" + (
        "\n".join(mismatches))
    assert "aten::_async_error.default" not in KNOWN_ATEN_OPS, "torch 2.13 has no _async_error"
    recorded = json.loads(behaviors.ATEN_SCHEMAS_PATH.read_text(encoding="utf-8"))
    assert recorded["torch_version"].startswith("2.13.0"), f"got {recorded['torch_version']}"
    expected = "aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor"
    assert KNOWN_ATEN_OPS["aten::add.Tensor"] == expected, "expected torch's add.Tensor schema"
    assert KNOWN_ATEN_OPS["aten::_print.default"] == "aten::_print(str s) -> ()", "print schema"


@pytest.mark.spec("PRG-14")
def test_op_signatures_are_flat_views_of_the_schemas() -> None:
    add = op_signature("aten::add.Tensor")
    assert [p.name for p in add.positional] == ["self", "other"], f"got {add.positional}"
    alpha = add.params[2]
    assert alpha.kwarg_only and alpha.has_default and alpha.default == 1, f"got {alpha}"
    copy_ = op_signature("aten::copy_.default")
    assert copy_.params[0].alias == "a!" and copy_.params[0].type == "Tensor", f"got {copy_}"
    view = op_signature("aten::view.default")
    assert view.params[1].type == "SymInt[]" and view.returns == ("Tensor",), f"got {view}"
    assert op_signature("aten::_print.default").returns == (), "expected no returns for _print"
    for name in KNOWN_ATEN_OPS:
        assert op_signature(name).name.split(".")[0] == name.split(".")[0], f"name of {name}"


def test_parse_signature_rejects_bad_text_with_value_error() -> None:
    with pytest.raises(ValueError, match="expected"):
        parse_signature("rec(Tensor) -> Tensor")
    chunks = parse_signature('c(Tensor x, *, str tag="t", int[] n=[1, 2]) -> Tensor[]')
    assert chunks.returns == ("Tensor[]",), f"got {chunks.returns}"
    assert [p.default for p in chunks.params[1:]] == ["t", [1, 2]], f"got {chunks.params}"


@pytest.mark.torch
@pytest.mark.spec("PRG-14")
def test_recorded_schemas_match_the_installed_torch() -> None:
    # In a subprocess, so that this test run never has torch in sys.modules.
    result = subprocess.run(
        [sys.executable, "-m", "oracle.tools.record_aten_schemas", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"expected aten_schemas.json up to date, got {result.stderr}"


# --------------------------------------------------------------------------------------------
# Behaviours, events, inputs
# --------------------------------------------------------------------------------------------


@pytest.mark.spec("PRG-27")
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_apply_behavior_real_and_fake(dtype: str) -> None:
    x = np.arange(3).astype(dtype)
    expected = {
        "record": x + 1,
        "split": (x + 1, x * 2),
        "chunks": [x + 1, x + 2, x + 3],
        "observe": None,
    }
    for name, want in expected.items():
        got = apply_behavior(name, NumpyOps, (x, "tag"))
        assert type(got) is type(want), f"{name}: expected {type(want)}, got {type(got)}"
        for w, g in zip(*(v if isinstance(v, (tuple, list)) else [v] for v in (want, got))):
            assert g is None or (g.dtype == x.dtype and np.array_equal(g, w)), f"{name}: {g}"
        fake = apply_behavior(name, NumpyOps, (x, "tag"), fake=True)
        flat = fake if isinstance(fake, (tuple, list)) else [fake]
        assert type(fake) is type(want), f"{name}: expected a fake {type(want)}, got {fake}"
        assert all(f is None or (f.shape, f.dtype) == (x.shape, x.dtype) for f in flat), name
    assert apply_behavior("stamp", NumpyOps, ("tag",)) is None, "expected stamp to return None"


@pytest.mark.spec("PRG-28")
def test_make_event_orders_literals_and_shapes_by_schema() -> None:
    sig = parse_signature(
        "obs(Tensor x, Tensor[] ys, str tag, *, int[] n=[1, 2], bool f=False) -> ()"
    )
    x, y = np.zeros((2, 3)), np.zeros(4)
    values = bind_arguments(sig, (x, [y, x], "t"), {"f": True})
    assert values[3:] == ([1, 2], True), f"expected defaults then kwargs, got {values[3:]}"
    event = make_event("fz::obs", sig.params, values)
    expected = ("fz::obs", ("t", (1, 2), True), ((2, 3), (4,), (2, 3)))
    assert event == expected, f"expected {expected}, got {event}"
    torch_style = ["Tensor", "List[Tensor]", "str", "List[int]", "bool"]
    assert make_event("fz::obs", torch_style, values) == expected, "torch type spellings"
    print_event = make_event("aten::_print", op_signature("aten::_print.default").params, ("hi",))
    assert print_event == ("aten::_print", ("hi",), ()), f"got {print_event}"


@pytest.mark.spec("PRG-26")
def test_fill_values() -> None:
    arange = fill_values("arange", (2, 3), "float32")
    assert arange.dtype == np.float32 and arange.tolist() == [[0, 1, 2], [3, 4, 5]], f"{arange}"
    assert fill_values("ones", [2], "int64").tolist() == [1, 1], "expected int64 ones"
    assert fill_values("zeros", [], "float64").shape == (), "expected a zero-dim array"
    assert fill_values("arange", [3], "bool").tolist() == [False, True, True], "bool arange"
    randn = fill_values({"randn": 5}, (4,), "float64")
    want = np.random.default_rng(5).standard_normal((4,))
    assert np.array_equal(randn, want), f"expected default_rng(5) values, got {randn}"
    again = fill_values({"randn": 5}, (4,), "float32")
    assert np.array_equal(again, want.astype(np.float32)), "expected the same draw, cast"


@pytest.mark.spec("PRG-13")
def test_total_input_elements_are_bounded():
    """600 inputs of 2**20 float64 each (4.8 GB) passed the per-input bound alone."""
    inputs = [{"name": f"x{i}", "shape": [1 << 20], "dtype": "float64"} for i in range(600)]
    doc = {"format": "effects-program/1", "name": "big", "inputs": inputs, "body": [],
           "outputs": []}
    with pytest.raises(ProgramError) as info:
        load_program(doc)
    assert info.value.path == "$.inputs[4].shape", f"expected the 5th input, got {info.value}"
    assert "in all" in info.value.reason, f"expected the total named, got {info.value.reason}"
    load_program(dict(doc, inputs=inputs[:4]))  # exactly at the bound: accepted


@pytest.mark.spec("PRG-29")
@pytest.mark.parametrize("version", ["effects-program/1", "effects-program/1.1",
                                     "effects-program/1.2"])
def test_every_version_up_to_this_loaders_is_read_and_kept(version: str) -> None:
    doc = {"format": version, "name": "v", "inputs": [{"name": "x", "shape": [2],
                                                       "dtype": "int32"}],
           "body": [{"op": "aten::mul.Tensor", "args": [2, {"ref": "x"}], "outs": ["x"]}],
           "outputs": ["x"]}
    program = load_program(doc)
    assert program_to_json(program)["format"] == version, "expected the version kept"
    assert program == load_program({**doc, "format": "effects-program/1.1"}), (
        "expected a 1 document to mean what the same 1.1 document means")


@pytest.mark.spec("PRG-29")
@pytest.mark.parametrize("version", ["effects-program/1.4", "effects-program/2"])
def test_a_later_version_is_refused_at_format(version: str) -> None:
    with pytest.raises(ProgramError) as info:
        load_program({"format": version, "name": "v", "body": []})
    reads = ("reads effects-program/1, effects-program/1.1, effects-program/1.2 and "
             "effects-program/1.3")
    assert info.value.path == "$.format" and reads in str(info.value), f"got {info.value}"
