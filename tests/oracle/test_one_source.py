"""One source of truth: each list the oracle needs is written once, and the others derive from it.

Models: nothing upstream. refimpl's op table (`refimpl.aten.OPS`, [NOTE: one op table]) is the
one list of modelled ops, torch's recorded schemas (`oracle/aten_schemas.json`) the check on it;
the profile says which ops are effectful; `oracle.observation.PATHS` names the paths every
per-path table must cover; `refimpl.export.SIGNATURE_FIELDS` the signature fields both runners
record. Only the last test needs torch.
Spec: PRG-14 (the modelled aten ops), RPT-11 (the effectful ops), EFF-8 (import registrations);
the path and signature-field tables are internal consistency, no clause.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

import refimpl
from oracle import behaviors, isolate, refimpl_runner
from oracle import strategies as ps
from oracle.compare import effectful_qualnames, program_features
from oracle.observation import PATHS, path_table
from oracle.program import ProgramError, load_program
from refimpl import aten as refimpl_aten
from refimpl.export import SIGNATURE_FIELDS
from refimpl.operator import define_schema, undefine_schema

FAKE_SCHEMA = "aten::fake_tan(Tensor self) -> Tensor"


def _program(body: list, **extra) -> object:
    doc = {
        "format": "effects-program/1",
        "name": "op_table",
        "inputs": [{"name": "x", "shape": [2], "dtype": "float32"}],
        "body": body,
        "outputs": [],
    }
    doc.update(extra)
    return load_program(doc)


@pytest.fixture
def profile_restored() -> Iterator[None]:
    """Whatever profile the test activates, the previous one is active again afterwards."""
    previous = refimpl.get_profile()
    try:
        yield
    finally:
        refimpl.set_profile(previous)


@pytest.fixture
def fake_op() -> Iterator[str]:
    """`aten::fake_tan`, added to refimpl's op table for one test and removed afterwards."""
    op = define_schema(FAKE_SCHEMA)
    refimpl_aten.OPS[op._name] = op
    try:
        yield "aten::fake_tan.default"
    finally:
        del refimpl_aten.OPS[op._name]
        undefine_schema("aten::fake_tan", "")


@pytest.mark.spec("PRG-14")
def test_modelled_ops_are_the_aten_ops_of_refimpls_table() -> None:
    aten_schemas = {s for s in refimpl_aten.SCHEMAS if s.startswith("aten::")}
    seed_only = {"aten::_async_error(str msg) -> ()"}
    assert set(behaviors.KNOWN_ATEN_OPS.values()) == aten_schemas - seed_only, (
        f"expected refimpl's aten schemas less _async_error, got "
        f"{sorted(set(behaviors.KNOWN_ATEN_OPS.values()) ^ (aten_schemas - seed_only))} apart")
    assert "aten::sum.default" in behaviors.KNOWN_ATEN_OPS, "expected sum among the modelled ops"
    assert "aten::_async_error.default" not in behaviors.KNOWN_ATEN_OPS, "torch 2.13 has none"


@pytest.mark.spec("PRG-14")
def test_an_op_added_to_refimpls_table_is_picked_up_everywhere(fake_op: str) -> None:
    assert behaviors.KNOWN_ATEN_OPS[fake_op] == FAKE_SCHEMA, (
        f"expected {fake_op} modelled with refimpl's schema, got {dict(behaviors.KNOWN_ATEN_OPS)}")
    assert ps.drawable_ops()[fake_op].kind == "pure", "expected the generator to draw it"
    program = _program([{"op": fake_op, "args": [{"ref": "x"}], "outs": ["y"]}], outputs=["y"])
    assert program.body[0].op == fake_op, f"expected the loader to accept {fake_op}"
    mismatches = behaviors.schema_mismatches()
    assert mismatches == [f"{fake_op}: modelled by refimpl, not in aten_schemas.json"], (
        f"expected the torch-recorded check to flag {fake_op} alone, got {mismatches}")


@pytest.mark.spec("PRG-14")
def test_an_op_removed_from_refimpls_table_is_unknown_to_the_loader() -> None:
    saved = refimpl_aten.OPS.pop("aten::sin")
    try:
        assert "aten::sin.default" not in behaviors.KNOWN_ATEN_OPS, "expected sin gone"
        with pytest.raises(ProgramError, match="unknown op 'aten::sin.default'"):
            _program([{"op": "aten::sin.default", "args": [{"ref": "x"}]}])
        assert "aten::sin.default: recorded from torch, not in refimpl's op table" in (
            behaviors.schema_mismatches()), f"got {behaviors.schema_mismatches()}"
    finally:
        refimpl_aten.OPS["aten::sin"] = saved


@pytest.mark.spec("PRG-14")
def test_refimpls_schemas_equal_torchs_recorded_ones() -> None:
    mismatches = behaviors.schema_mismatches()
    assert not mismatches, "expected no differences, got:\n" + "\n".join(mismatches)
    recorded = behaviors.recorded_aten_schemas()
    assert recorded["aten::add.Tensor"] == (
        "aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor"), (
        f"expected torch's add.Tensor schema, got {recorded['aten::add.Tensor']!r}")


@pytest.mark.spec("RPT-11", "EFF-8")
@pytest.mark.parametrize(("profile", "effectful", "pure"), [
    ("torch-2.13", {"aten::_print", "aten::_linalg_check_errors"}, set()),
    ("seed", {"aten::_print", "aten::_async_error"}, {"aten::_linalg_check_errors"}),
])
def test_the_effectful_aten_ops_are_the_profiles(profile_restored, profile: str,
                                                  effectful: set, pure: set) -> None:
    refimpl.set_profile(profile)
    came = {q for q in effectful_qualnames(_program([])) if q.startswith("aten::")}
    assert came == effectful, f"expected {sorted(effectful)} effectful under {profile}, got {came}"
    flags = {name: op.effectful for name, op in behaviors.aten_ops().items()}
    assert all(flags[f"{q}.default"] for q in effectful if f"{q}.default" in flags), f"got {flags}"
    assert not any(flags[f"{q}.default"] for q in pure), f"expected {pure} pure, got {flags}"


@pytest.mark.spec("RPT-11", "EFF-8")
def test_the_refimpl_runners_effectful_targets_come_from_the_registry(profile_restored) -> None:
    refimpl.set_profile("torch-2.13")
    with refimpl_runner.registrations(_program([])) as effectful:
        assert {"aten::_print.default", "aten::_linalg_check_errors.default"} <= effectful, (
            f"expected the profile's import registrations, got {sorted(effectful)}")
    silenced = _program([], register_effects={"aten::_print.default": None,
                                              "aten::sin.default": "ORDERED"})
    with refimpl_runner.registrations(silenced) as effectful:
        assert "aten::_print.default" not in effectful, f"registered null, got {effectful}"
        assert "aten::sin.default" in effectful, f"registered ORDERED, got {effectful}"


@pytest.mark.spec("RPT-11", "EFF-8")
def test_an_op_the_profile_registers_is_effectful_and_not_pure(profile_restored, fake_op: str
                                                                ) -> None:
    base = refimpl.get_profile()
    refimpl.set_profile(dataclasses.replace(
        base, import_registrations=(*base.import_registrations, "aten::fake_tan")))
    program = _program([{"op": fake_op, "args": [{"ref": "x"}], "outs": ["y"]}], outputs=["y"])
    assert "aten::fake_tan" in effectful_qualnames(program), "expected it kept on compile paths"
    assert behaviors.aten_ops()[fake_op].effectful, "expected aten_ops() to mark it effectful"
    assert ps.drawable_ops()[fake_op].effectful, "expected the generator to count it an effect"
    assert "ordered_aten_op" not in program_features(program), (
        "an op effectful at import is not one the program made ordered")


@pytest.mark.spec("PRG-14", "RPT-32")
def test_the_generator_sorts_the_op_table_by_kind(profile_restored) -> None:
    refimpl.set_profile("torch-2.13")
    ops = ps.drawable_ops()
    for name in ("aten::_print.default", "aten::_linalg_check_errors.default"):
        assert name not in ops, f"expected {name} drawn as an effect of its own or not at all"
    for name in ("aten::copy_.default", "aten::add_.Tensor", "aten::mul_.Tensor",
                 "aten::absolute_.default"):
        assert ops[name].kind == "inplace", f"expected {name} in-place, got {ops[name]}"
    for name in ("aten::add.Scalar", "aten::sum.default", "aten::view.default",
                 "aten::absolute.default"):
        assert ops[name].kind == "pure", f"expected {name} pure, got {ops[name]}"
    assert ops["aten::arange.default"].kind == "factory", f"got {ops['aten::arange.default']}"
    sub = ops["aten::sub.Scalar"].signature
    assert [(p.name, p.type, p.has_default) for p in sub.params] == [
        ("self", "Tensor", False), ("other", "Scalar", False), ("alpha", "Scalar", True)], (
        f"expected sub.Scalar's signature, got {sub.params}")


# -- paths and signature fields --------------------------------------------------------------


def test_a_per_path_table_lacking_a_path_fails_naming_it() -> None:
    with pytest.raises(RuntimeError, match=r"demo table .*missing \['compile:inductor'\]"):
        path_table(dict.fromkeys(PATHS[:-1], 1.0), "demo table")
    with pytest.raises(RuntimeError, match=r"unknown \['compile:other'\]"):
        path_table({**dict.fromkeys(PATHS, 1.0), "compile:other": 1.0}, "demo table")
    table = dict.fromkeys(PATHS, 1.0)
    assert path_table(table, "demo table") is table, "expected a complete table back unchanged"


def test_the_per_path_tables_cover_the_paths() -> None:
    assert tuple(refimpl_runner.PATH_RUNNERS) == PATHS, f"got {list(refimpl_runner.PATH_RUNNERS)}"
    assert tuple(isolate.PATH_TIMEOUTS) == PATHS, f"got {list(isolate.PATH_TIMEOUTS)}"


def test_the_functional_signature_records_the_one_field_list() -> None:
    program = _program([{"op": "aten::sin.default", "args": [{"ref": "x"}], "outs": ["y"]}],
                       outputs=["y"])
    obs = refimpl_runner.run_refimpl(program, "functional")
    assert obs.error is None, f"expected the functional path to run, got {obs.error}"
    assert tuple(obs.signature) == SIGNATURE_FIELDS, (
        f"expected the fields {SIGNATURE_FIELDS}, got {tuple(obs.signature)}")
    assert SIGNATURE_FIELDS[:2] == ("input_tokens", "output_tokens"), f"got {SIGNATURE_FIELDS}"


@pytest.mark.torch
def test_the_torch_runner_uses_the_same_tables() -> None:
    from oracle import torch_runner  # noqa: PLC0415 - imports torch

    assert torch_runner.SIGNATURE_FIELDS is SIGNATURE_FIELDS, "expected one field list"
    assert tuple(torch_runner.PATH_RUNNERS) == PATHS, f"got {list(torch_runner.PATH_RUNNERS)}"
