"""The program generator reaches refimpl's whole op table and every argument form (RPT-32).

Reachability is shown with `hypothesis.find` (generation only, no database): each test names a
form and fails when thousands of drawn programs never show it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings

from oracle import behaviors
from oracle import strategies as ps
from oracle.program import load_program
from oracle.refimpl_runner import run_refimpl

FIND = settings(phases=[Phase.generate], max_examples=4000, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))
DRAW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _calls(doc: dict) -> Iterator[tuple[dict, behaviors.Signature, dict[str, Any], set[str]]]:
    """Each statement with its signature, the values it gives by parameter name, and the
    names it gives by keyword."""
    custom = {c["name"] + ".default": c["schema"] for c in doc.get("custom_ops", [])}
    for stmt in doc["body"]:
        if stmt["op"] in custom:
            sig = behaviors.parse_signature(custom[stmt["op"]])
        else:
            sig = behaviors.op_signature(stmt["op"])
        kwargs = stmt.get("kwargs", {})
        given = {p.name: v for p, v in zip(sig.params, stmt["args"])} | kwargs
        yield stmt, sig, given, set(kwargs)


def _given_params(doc: dict) -> Iterator[tuple[dict, behaviors.Param, Any, bool]]:
    """(statement, parameter, value, by keyword) for every argument a statement gives."""
    for stmt, sig, values, keywords in _calls(doc):
        for param in sig.params:
            if param.name in values:
                yield stmt, param, values[param.name], param.name in keywords


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _rebinds(doc: dict) -> bool:
    bound = {i["name"] for i in doc["inputs"]}
    for stmt in doc["body"]:
        for name in stmt.get("outs", []):
            if name in bound:
                return True
            bound.add(name)
    return False


def _list_names(doc: dict) -> set[str]:
    custom = {c["name"] + ".default" for c in doc.get("custom_ops", [])
              if c["schema"].endswith("Tensor[]")}
    return {n for s in doc["body"] if s["op"] in custom for n in s.get("outs", [])}


FORMS: dict[str, Callable[[dict], bool]] = {
    "a positional-or-keyword parameter by keyword": lambda d: any(
        kw and not p.kwarg_only for _, p, _, kw in _given_params(d)),
    "a default given equal to the default": lambda d: any(
        p.has_default and v == p.default and type(v) is type(p.default)
        for _, p, v, _ in _given_params(d)),
    "a default given another value": lambda d: any(
        p.has_default and v != p.default for _, p, v, _ in _given_params(d)),
    "a number for a Tensor parameter": lambda d: any(
        p.type == "Tensor" and _is_number(v) for _, p, v, _ in _given_params(d)),
    "an int for a float parameter": lambda d: any(
        p.type == "float" and isinstance(v, int) for _, p, v, _ in _given_params(d)),
    "null for an optional": lambda d: any(
        p.type.endswith("?") and v is None for _, p, v, _ in _given_params(d)),
    "a tensor for an optional": lambda d: any(
        p.type == "Tensor?" and isinstance(v, dict) for _, p, v, _ in _given_params(d)),
    "a negative scalar": lambda d: any(
        p.type in ("Scalar", "float", "int") and _is_number(v) and v < 0
        for _, p, v, _ in _given_params(d)),
    "a zero scalar": lambda d: any(
        p.type in ("Scalar", "float", "int") and _is_number(v) and v == 0
        for _, p, v, _ in _given_params(d)),
    "a bool for a Scalar": lambda d: any(
        p.type == "Scalar" and isinstance(v, bool) for _, p, v, _ in _given_params(d)),
    "a float[] custom-op argument": lambda d: any(
        p.type == "float[]" for s, p, _, _ in _given_params(d) if s["op"].startswith("fz::")),
    "an int[] custom-op argument": lambda d: any(
        p.type == "int[]" for s, p, _, _ in _given_params(d) if s["op"].startswith("fz::")),
    "a keyword-only custom-op parameter": lambda d: any(
        p.kwarg_only for s, p, _, _ in _given_params(d) if s["op"].startswith("fz::")),
    "a rebound name": _rebinds,
    "a JSON list of refs as an output": lambda d: any(isinstance(o, list) for o in d["outputs"]),
    "a whole Tensor[] value as an output": lambda d: bool(
        _list_names(d) & {o for o in d["outputs"] if isinstance(o, str)}),
    "a factory call": lambda d: any(
        ps.drawable_ops().get(s["op"]) is not None and ps.drawable_ops()[s["op"]].kind
        == "factory" for s in d["body"]),
}


@pytest.mark.spec("RPT-32")
@pytest.mark.parametrize("op", sorted(ps.drawable_ops()))
def test_every_drawable_op_can_be_drawn(op: str) -> None:
    doc = find(ps.programs(), lambda d: any(s["op"] == op for s in d["body"]), settings=FIND)
    load_program(doc)


@pytest.mark.spec("RPT-32")
def test_drawable_ops_are_the_op_table_less_the_not_drawn() -> None:
    table = behaviors.aten_ops()
    assert set(ps.NOT_DRAWN) <= set(table), (
        f"expected NOT_DRAWN to name modelled ops, got {sorted(set(ps.NOT_DRAWN) - set(table))}")
    assert all(reason for reason in ps.NOT_DRAWN.values()), "expected a reason for each"
    with_results = {n for n, o in table.items() if o.signature.returns}
    assert set(ps.drawable_ops()) == with_results - set(ps.NOT_DRAWN) - {"aten::_print.default"}, (
        f"expected the op table less NOT_DRAWN, got {sorted(ps.drawable_ops())}")


@pytest.mark.spec("RPT-32")
@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_argument_form_can_be_drawn(form: str) -> None:
    doc = find(ps.programs(), FORMS[form], settings=FIND)
    load_program(doc)


@pytest.mark.spec("RPT-32")
@DRAW
@given(doc=ps.programs(forms=False))
def test_without_forms_every_call_is_plain(doc: dict) -> None:
    for stmt, param, value, keyword in _given_params(doc):
        assert not keyword or param.kwarg_only, f"expected {param.name} positional in {stmt}"
        assert not param.has_default or stmt["op"].startswith("fz::"), (
            f"expected the default of {param.name} left out in {stmt}")
        assert param.type != "Tensor" or isinstance(value, dict), (
            f"expected a ref for {param.name} in {stmt}")
    assert not _rebinds(doc), f"expected fresh names only, got {doc['body']}"
    load_program(doc)


@pytest.mark.spec("RPT-32")
@DRAW
@given(doc=ps.programs(max_ops=16))
def test_drawn_programs_load_and_run_eagerly(doc: dict) -> None:
    program = load_program(doc)
    run = run_refimpl(program, "eager")
    assert run.error is None, f"expected the drawn program to run, got {run.error}"


@pytest.mark.spec("RPT-32")
@DRAW
@given(doc=ps.programs(max_ops=16, raising=True))
def test_with_raising_only_the_last_call_may_raise(doc: dict) -> None:
    program = load_program(doc)
    run = run_refimpl(program, "eager")
    if run.error is not None:
        prefix = {**doc, "body": doc["body"][:-1], "outputs": []}
        again = run_refimpl(load_program(prefix), "eager")
        assert again.error is None, f"expected the body before the last call to run, got {again}"
