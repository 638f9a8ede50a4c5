"""The argument and value forms torch takes (specs/program.md PRG-20, PRG-21, PRG-31 to PRG-38).

- The loader accepts each form, and rejects each bad variant with a `ProgramError` at its JSON
  path (a table, one fault each, built on one valid program).
- refimpl runs each form as the spec says (expected values derived from the clauses); the tests
  marked `torch` observe torch 2.13 on the same calls, so the expected side of the comparison is
  torch itself, not a hand-typed copy of it.
- The catalog holds a program for each form (44 to 48); `tests/oracle/test_check.py` checks that
  they agree with torch on the structural paths.
"""

from __future__ import annotations

import copy
import re

import pytest

import refimpl
from oracle.behaviors import KNOWN_ATEN_OPS, make_event, op_signature, parse_signature
from oracle.program import Ref, catalog_paths, load_program, program_to_json
from oracle.program_source import write_program
from oracle.refimpl_runner import resolve, run_refimpl
from refimpl.effect_log import record_effects
from refimpl.effects import new_token_tensor, with_effects
from refimpl.operator import allows_numbers_as_tensors
from refimpl.profiles import profile_for_torch_version

CATALOG = {p.stem.split("_", 1)[1]: p for p in catalog_paths()}

# One valid program with every new form; the table below breaks it one way at a time.
FORMS = {
    "format": "effects-program/1",
    "name": "forms",
    "custom_ops": [
        {"name": "fz::rec", "schema": "rec(Tensor x, Tensor? y, float[] f, Scalar? s=None, "
                                     "Tensor? z=None) -> Tensor",
         "behavior": "record", "effect": "ORDERED"},
        {"name": "fz::lst", "schema": "lst(Tensor x) -> Tensor[]", "behavior": "chunks",
         "effect": None},
    ],
    "inputs": [
        {"name": "x", "shape": [4], "dtype": "float32"},
        {"name": "i", "shape": [4], "dtype": "int32"},
    ],
    "body": [
        {"op": "aten::mul.Tensor", "args": [{"ref": "x"}, 2], "outs": ["x"]},
        {"op": "aten::sub.Tensor", "args": [3, {"ref": "x"}], "outs": ["a"]},
        {"op": "fz::rec.default", "args": [{"ref": "a"}, None, [1, 2.5]], "outs": ["a"]},
        {"op": "fz::lst.default", "args": [{"ref": "a"}], "outs": ["cs"]},
        {"op": "aten::add_.Tensor", "args": [{"ref": "x"}, True]},
        {"op": "aten::add.Tensor", "args": [{"ref": "i"}, 2], "outs": ["j"]},
        {"op": "aten::_print.default", "args": ["p"]},
    ],
    "outputs": ["a", "cs", [{"ref": "x"}, {"ref": "cs", "index": 0}], "j"],
}


def _with(location: tuple, value: object) -> dict:
    doc = copy.deepcopy(FORMS)
    node = doc
    for step in location[:-1]:
        node = node[step]
    node[location[-1]] = value
    return doc


def _error(doc: dict) -> Exception:
    from oracle.program import ProgramError

    with pytest.raises(ProgramError) as info:
        load_program(doc)
    return info.value


def _program(body: list, inputs: list | None = None, outputs: list | None = None,
             custom_ops: list | None = None) -> object:
    return load_program({
        "format": "effects-program/1", "name": "t", "custom_ops": custom_ops or [],
        "inputs": inputs or [{"name": "x", "shape": [4], "dtype": "float32"}],
        "body": body, "outputs": outputs or [],
    })


# --------------------------------------------------------------------------------------------
# The loader accepts each form
# --------------------------------------------------------------------------------------------


@pytest.mark.spec("PRG-20", "PRG-21", "PRG-31", "PRG-33", "PRG-36", "PRG-37")
def test_every_form_loads_and_round_trips():
    program = load_program(FORMS)
    assert program.body[0].outs == ("x",), f"expected x rebound, got {program.body[0].outs}"
    assert program.body[1].args == (3, Ref("x")), f"expected a number for self: {program.body[1]}"
    assert program.outputs[2] == (Ref("x"), Ref("cs", 0)), f"got {program.outputs[2]}"
    again = load_program(program_to_json(program))
    assert again == program, f"expected a round trip, got {program_to_json(program)}"


@pytest.mark.spec("PRG-31")
@pytest.mark.parametrize("op", sorted(KNOWN_ATEN_OPS))
def test_numbers_for_tensors_exactly_where_torch_wraps_them(op):
    """Per modelled op and Tensor parameter: the loader takes a number iff the op is one of
    refimpl's `allows_numbers_as_tensors` and the parameter is not written to."""
    from refimpl.schema import parse_schema

    sig = op_signature(op)
    wraps = allows_numbers_as_tensors(parse_schema(KNOWN_ATEN_OPS[op]))
    for k, param in enumerate(sig.params):
        if param.type != "Tensor":
            continue
        args = [_example(p) for p in sig.positional]
        kwargs = {p.name: _example(p) for p in sig.params if p.kwarg_only and not p.has_default}
        if param.kwarg_only:
            kwargs[param.name] = 2
        else:
            args[k] = 2
        doc = {"format": "effects-program/1", "name": "n",
               "inputs": [{"name": "x", "shape": [], "dtype": "int32"}],
               "body": [{"op": op, "args": args, "kwargs": kwargs}]}
        writes = param.alias is not None and param.alias.endswith("!")
        if wraps and not writes:
            load_program(doc)
            continue
        error = _error(doc)
        where = f"$.body[0].args[{k}]" if not param.kwarg_only else f"$.body[0].kwargs.{param.name}"
        assert error.path == where, f"{op} {param.name}: expected {where}, got {error}"
        fragment = "writes to this tensor" if wraps else "Expected a value of type 'Tensor'"
        assert fragment in str(error), f"{op} {param.name}: expected {fragment!r} in {error}"


def _example(param: object) -> object:
    if param.type.startswith("Tensor"):
        return {"ref": "x"}
    return {"str": "s", "bool": False, "Scalar": 1, "SymInt[]": [1], "int": 1}.get(param.type)


# (clause, location, value, expected path, message fragment)
BAD_FORMS = [
    ("PRG-31", ("body", 2, "args", 0), 3, "$.body[2].args[0]",
     "torch raises RuntimeError \"fz::rec() Expected a value of type 'Tensor' for argument 'x' "
     "but instead found type 'int'.\""),
    ("PRG-31", ("body", 2, "args", 1), 2.5, "$.body[2].args[1]",
     "Expected a value of type 'Optional[Tensor]' for argument 'y' but instead found type "
     "'float'"),
    ("PRG-31", ("body", 4, "args", 0), 1, "$.body[4].args[0]",
     "the op writes to this tensor, so it takes a ref, got 1"),
    ("PRG-31", ("body", 1), {"op": "aten::sin.default", "args": [3], "outs": ["a"]},
     "$.body[1].args[0]", "torch raises RuntimeError \"aten::sin() Expected a value of type "
     "'Tensor' for argument 'self' but instead found type 'int'.\""),
    ("PRG-33", ("custom_ops", 0, "schema"), "rec(Tensor x, Tensor? y, float[] f, *, "
     "Tensor? z=None) -> Tensor", "$.custom_ops[0].schema",
     "tensor parameter 'z' is keyword-only: torch's custom_op raises NotImplementedError"),
    ("PRG-33", ("custom_ops", 0, "schema"), "rec(Tensor x, Tensor? y, float[] f, "
     "Tensor z=None) -> Tensor", "$.custom_ops[0].schema",
     "tensor parameter 'z' may not have a default other than None on a Tensor?"),
    ("PRG-33", ("body", 2, "args", 2), [1, "a"], "$.body[2].args[2]",
     "list items must each be a number, got 'a'"),
    ("PRG-33", ("body", 2, "args", 1), "s", "$.body[2].args[1]",
     "parameter 'y' (Tensor?) of fz::rec.default: needs a ref to a tensor, got 's'"),
    ("PRG-33", ("body", 4, "args", 0), {"ref": "cs"}, "$.body[4].args[0]",
     "'cs' is a list of 3 tensors"),
    ("PRG-20", ("body", 3, "outs"), ["cs", "cs"], "$.body[3].outs",
     "outs must name 0 or 1, got 2"),
    ("PRG-36", ("outputs", 2, 0), "cs", "$.outputs[2][0]",
     "output 'cs' is a list of 3 tensors; an item of a list output must be a tensor"),
    ("PRG-36", ("outputs", 2, 1), [{"ref": "x"}], "$.outputs[2][1]", "is not of type"),
    ("PRG-36", ("outputs", 2, 1), {"ref": "q"}, "$.outputs[2][1].ref", "dangling ref 'q'"),
    ("PRG-37", ("inputs", 1, "dtype"), "int16", "$.inputs[1].dtype", "is not one of"),
]


@pytest.mark.parametrize(
    ("clause", "location", "value", "path", "fragment"),
    [pytest.param(*row, marks=pytest.mark.spec(row[0]), id=f"{row[0]}:{row[3]}")
     for row in BAD_FORMS],
)
def test_bad_form_is_a_program_error_at_its_path(clause, location, value, path, fragment):
    error = _error(_with(location, value))
    assert error.path == path, f"expected path {path!r}, got {error.path!r} ({error})"
    assert fragment in str(error), f"expected {fragment!r} in the message, got {str(error)!r}"


@pytest.mark.spec("PRG-20")
def test_one_statement_binds_a_name_once():
    doc = {"format": "effects-program/1", "name": "t",
           "custom_ops": [{"name": "fz::two", "schema": "two(Tensor x) -> (Tensor, Tensor)",
                           "behavior": "split", "effect": None}],
           "inputs": [{"name": "x", "shape": [2], "dtype": "float32"}],
           "body": [{"op": "fz::two.default", "args": [{"ref": "x"}], "outs": ["x", "x"]}]}
    error = _error(doc)
    expected = ("$.body[0].outs[1]: duplicate value name 'x' in one statement's outs "
                "(already at $.body[0].outs[0])")
    assert str(error) == expected, f"expected {expected!r}, got {str(error)!r}"
    doc["body"][0]["outs"] = ["x", "y"]  # rebinding the input x is fine
    assert load_program(doc).body[0].outs == ("x", "y"), "expected x rebound next to y"


@pytest.mark.spec("PRG-20")
def test_a_ref_reads_the_binding_in_force():
    """`x = sin(x)` then `y = neg(x)`: y reads the sin result; a list rebinding a tensor name
    makes a later plain ref to it a fault naming the list."""
    program = _program([
        {"op": "aten::sin.default", "args": [{"ref": "x"}], "outs": ["x"]},
        {"op": "aten::neg.default", "args": [{"ref": "x"}], "outs": ["y"]},
    ], outputs=["x", "y"])
    obs = run_refimpl(program, "eager")
    sin = [float(v) for v in refimpl.ops.aten.sin.default(refimpl.arange(4.0)).numpy()]
    assert obs.error is None, f"expected a run, got {obs.error}"
    assert obs.outputs[0].values == pytest.approx(sin), f"expected sin(x), got {obs.outputs[0]}"
    assert obs.outputs[1].values == pytest.approx([-v for v in sin]), "expected -sin(x)"
    error = _error({
        "format": "effects-program/1", "name": "t",
        "custom_ops": [{"name": "fz::lst", "schema": "lst(Tensor x) -> Tensor[]",
                        "behavior": "chunks", "effect": None}],
        "inputs": [{"name": "x", "shape": [2], "dtype": "float32"}],
        "body": [{"op": "fz::lst.default", "args": [{"ref": "x"}], "outs": ["x"]},
                 {"op": "aten::sin.default", "args": [{"ref": "x"}]}]})
    assert error.path == "$.body[1].args[0]" and "'x' is a list of 3 tensors" in str(error), (
        f"expected the rebound list to be refused as a tensor, got {error}")


# --------------------------------------------------------------------------------------------
# refimpl runs each form
# --------------------------------------------------------------------------------------------

# (op, args, kwargs, expected dtype, shape, values) from PRG-32; the torch test below observes
# torch on the same calls.
NUMBERS_ONLY = [
    ("add.Tensor", (2, 3), {}, "int64", (), [5]),
    ("add.Scalar", (2, 3.5), {}, "float32", (), [5.5]),
    ("mul.Scalar", (2.5, 2), {}, "float32", (), [5.0]),
    ("mul.Tensor", (True, False), {}, "bool", (), [False]),
    ("add.Tensor", (True, True), {}, "bool", (), [True]),
    ("add.Tensor", (2.5, True), {}, "float32", (), [3.5]),
    ("sub.Tensor", (1, 2), {"alpha": 2}, "int64", (), [-3]),
    ("sub.Tensor", (True, 2), {}, "bool_arith_error", None, "Subtraction, the `-` operator, with a "
     "bool tensor is not supported"),
    ("add.Tensor", (2, 3), {"alpha": 1.5}, "RuntimeError", None, "For integral input tensors, "
     "argument alpha must not be a floating point number."),
]


def _call(lib: object, op: str, args: tuple, kwargs: dict) -> tuple:
    name, overload = op.split(".")
    try:
        out = getattr(getattr(lib.ops.aten, name), overload)(*args, **kwargs)
    except Exception as exc:  # the table records errors as (type, first line)
        return type(exc).__name__, None, str(exc).splitlines()[0]
    values = out.tolist() if hasattr(out, "tolist") else out.numpy().tolist()
    return str(out.dtype).removeprefix("torch."), tuple(out.shape), [values]


@pytest.mark.spec("PRG-32")
@pytest.mark.parametrize(("op", "args", "kwargs", "dtype", "shape", "values"), NUMBERS_ONLY)
def test_refimpl_numbers_only_calls(op, args, kwargs, dtype, shape, values):
    got = _call(refimpl, op, args, kwargs)
    if dtype == "bool_arith_error":  # its type is the profile's (DSP-24): 2.14 NotImplementedError
        dtype = refimpl.get_profile().bool_arith_error
    if dtype.endswith("Error"):
        assert got[0] == dtype and values in got[2], f"expected {dtype}: {values}, got {got}"
        return
    assert got == (dtype, shape, values), f"expected {(dtype, shape, values)}, got {got}"


@pytest.mark.spec("PRG-32")
def test_numbers_only_call_is_recorded_with_its_numbers_on_every_structural_path():
    program = _program([
        {"op": "aten::add.Tensor", "args": [2, 3], "outs": ["k"]},
        {"op": "aten::mul.Tensor", "args": [{"ref": "x"}, {"ref": "k"}], "outs": ["y"]},
    ], outputs=["y", "k"])
    for path in ("eager", "fake", "make_fx", "functional", "export"):
        obs = run_refimpl(program, path)
        assert obs.error is None, f"{path}: expected a run, got {obs.error}"
        shapes = [(v.shape, v.dtype) for v in obs.outputs]
        assert shapes == [((4,), "float32"), ((), "int64")], f"{path}: got {shapes}"
        if obs.code is not None:
            assert "torch.ops.aten.add.Tensor(2, 3)" in obs.code, f"{path}: got {obs.code}"


@pytest.mark.spec("PRG-33", "PRG-34")
def test_optional_and_list_arguments_reach_the_event_converted():
    program = load_program(CATALOG["optional_and_list_params"])
    obs = run_refimpl(program, "eager")
    assert obs.error is None, f"expected a run, got {obs.error}"
    expected = [
        ("c45::rec", ((1.0, 2.0), (3,), None, (0.5, 1.0)), ((4,), None, None)),
        ("c45::rec", ((1.5, 2.0), (), 2.5, ()), ((4,), (2, 2), (4,))),
        ("c45::rec", ((), (4, 5), True, (0.5, 1.0)), ((4,), None, None)),
        ("c45::obs", (None,), ((4,), None)),
        ("c45::obs", (3,), ((4,), (2, 2))),
    ]
    assert obs.effect_log == expected, f"expected {expected}, got {obs.effect_log}"
    floats = [type(v) for e in obs.effect_log[:2] for v in e[1][0]]
    assert floats == [float] * 4, f"expected float[] items as floats, got {floats}"


@pytest.mark.spec("PRG-34")
def test_none_for_an_optional_tensor_holds_its_place_in_shapes():
    sig = parse_signature("f(Tensor x, Tensor? a, Tensor? b) -> ()")
    x = refimpl.zeros(2)
    first = make_event("fz::f", sig.params, (x, None, x))
    second = make_event("fz::f", sig.params, (x, x, None))
    assert first == ("fz::f", (), ((2,), None, (2,))), f"got {first}"
    assert second == ("fz::f", (), ((2,), (2,), None)), f"got {second}"


@pytest.mark.spec("PRG-33")
def test_refimpl_custom_op_refuses_kwarg_only_tensors():
    from refimpl.library import custom_op

    text = "(Tensor x, *, Tensor? z=None) -> Tensor"
    with pytest.raises(NotImplementedError) as info:
        custom_op("fz_kw::rec", lambda x, *, z=None: x, schema=text)
    expected = ("custom_op with kwarg-only Tensor args. Please make your tensors not kwarg-only. "
                f"Got: rec{text}")
    assert str(info.value) == expected, f"expected {expected!r}, got {str(info.value)!r}"


@pytest.mark.spec("PRG-35")
def test_generated_source_gives_each_binding_a_fresh_variable():
    program = _program([
        {"op": "aten::sin.default", "args": [{"ref": "x"}], "outs": ["x"]},
        {"op": "aten::neg.default", "args": [{"ref": "x"}], "outs": ["y"]},
        {"op": "aten::add.Tensor", "args": [{"ref": "y"}, {"ref": "x"}], "outs": ["x"]},
    ], outputs=["x", "y"])
    src = write_program(program, resolve, with_effects=with_effects, new_token=new_token_tensor)
    body = [line.strip() for line in src.source.splitlines()[1:5]]
    expected = ["_v1 = _op0(x)", "_v2 = _op1(_v1)", "_v3 = _op2(_v2, _v1)", "return (_v3, _v2, )"]
    assert body == expected, f"expected {expected}, got {body}"


@pytest.mark.spec("PRG-35")
def test_in_place_on_a_rebound_input_name_mutates_the_new_value():
    program = _program([
        {"op": "aten::neg.default", "args": [{"ref": "x"}], "outs": ["x"]},
        {"op": "aten::add_.Tensor", "args": [{"ref": "x"}, 1]},
    ], outputs=["x"])
    obs = run_refimpl(program, "functional")
    assert obs.error is None, f"expected a run, got {obs.error}"
    assert obs.signature["user_inputs_to_mutate"] == {}, f"got {obs.signature}"
    assert obs.outputs[0].values == [1.0, 0.0, -1.0, -2.0], f"got {obs.outputs[0]}"


@pytest.mark.spec("PRG-36")
def test_list_outputs_flatten_in_the_exported_graph():
    program = load_program(CATALOG["list_outputs"])
    for path, listed in (("make_fx", True), ("functional", False), ("export", False)):
        obs = run_refimpl(program, path)
        assert obs.error is None, f"{path}: expected a run, got {obs.error}"
        assert len(obs.outputs) == 10, f"{path}: expected 10 flat outputs, got {obs.outputs}"
        returned = re.search(r"return (.*)", obs.code).group(1)
        assert ("[" in returned) == listed, f"{path}: expected lists kept={listed}: {returned}"


@pytest.mark.spec("PRG-37")
def test_int32_promotion():
    obs = run_refimpl(load_program(CATALOG["int32_inputs"]), "eager")
    assert obs.error is None, f"expected a run, got {obs.error}"
    dtypes = [v.dtype for v in obs.outputs]
    expected = ["int64", "int32", "int32", "float32", "float64", "int64", "float32", "int32",
                "int32"]
    assert dtypes == expected, f"expected {expected}, got {dtypes}"


@pytest.mark.spec("PRG-38")
def test_linalg_check_errors_logs_no_event():
    info = refimpl.zeros(2, dtype=refimpl.int32)
    with record_effects() as log:
        refimpl.ops.aten._linalg_check_errors.default(info, "linalg.inv", is_matrix=False)
        refimpl.ops.aten._print.default("seen")
    assert log == [("aten::_print", ("seen",), ())], f"expected only the print event, got {log}"


@pytest.mark.spec("PRG-20", "PRG-31", "PRG-33", "PRG-36", "PRG-37")
def test_catalog_has_a_program_for_each_form():
    programs = [load_program(p) for p in catalog_paths()]
    found = set()
    for p in programs:
        names = {i.name for i in p.inputs}
        for stmt in p.body:
            found.update("number-for-tensor" for a in stmt.args
                         if type(a) in (int, float, bool) and _is_tensor_arg(stmt, a))
            found.update("rebound" for out in stmt.outs if out in names)
            names.update(stmt.outs)
        found.update(f"param:{t}" for c in p.custom_ops for t in ("Tensor?", "float[]", "int[]",
                                                                   "Scalar?") if t in c.schema)
        found.update("list-output" for o in p.outputs if isinstance(o, tuple))
        found.update("dtype:int32" for i in p.inputs if i.dtype == "int32")
    wanted = {"number-for-tensor", "rebound", "list-output", "dtype:int32", "param:Tensor?",
              "param:float[]", "param:int[]", "param:Scalar?"}
    assert wanted <= found, f"expected the catalog to cover {sorted(wanted - found)}"


def _is_tensor_arg(stmt: object, value: object) -> bool:
    sig = op_signature(stmt.op) if stmt.op in KNOWN_ATEN_OPS else None
    if sig is None:
        return False
    k = next(k for k, a in enumerate(stmt.args) if a is value)
    return k < len(sig.positional) and sig.positional[k].type == "Tensor"


# --------------------------------------------------------------------------------------------
# torch 2.13 observed on the same forms
# --------------------------------------------------------------------------------------------


@pytest.mark.torch
@pytest.mark.spec("PRG-31")
@pytest.mark.parametrize("op", sorted(KNOWN_ATEN_OPS))
def test_torch_wraps_numbers_exactly_on_refimpls_ops(op):
    """torch takes a number for a not-written Tensor parameter iff refimpl says it wraps one,
    and refuses it with the message the loader quotes."""
    torch = pytest.importorskip("torch")
    from refimpl.schema import parse_schema

    sig = op_signature(op)
    wraps = allows_numbers_as_tensors(parse_schema(KNOWN_ATEN_OPS[op]))
    name, overload = op.removeprefix("aten::").split(".")
    torch_op = getattr(getattr(torch.ops.aten, name), overload)
    for k, param in enumerate(sig.params):
        if param.type != "Tensor" or (param.alias or "").endswith("!"):
            continue
        args = [torch.zeros((), dtype=torch.int32) if p.type.startswith("Tensor")
                else _example(p) for p in sig.positional]
        kwargs = {p.name: _example(p) for p in sig.params if p.kwarg_only and not p.has_default}
        args[k] = 2
        try:
            torch_op(*args, **kwargs)
            raised = None
        except RuntimeError as exc:
            raised = str(exc).splitlines()[0]
        if wraps:
            assert raised is None, f"{op} {param.name}: expected torch to wrap 2, got {raised}"
        else:
            expected = (f"{op.rpartition('.')[0]}() Expected a value of type 'Tensor' for "
                        f"argument '{param.name}' but instead found type 'int'.")
            assert raised == expected, f"{op} {param.name}: expected {expected!r}, got {raised!r}"


@pytest.mark.torch
@pytest.mark.spec("PRG-32")
@pytest.mark.parametrize(("op", "args", "kwargs", "dtype", "shape", "values"), NUMBERS_ONLY)
def test_torch_numbers_only_calls(op, args, kwargs, dtype, shape, values):
    torch = pytest.importorskip("torch")
    got = _call(torch, op, args, kwargs)
    previous = refimpl.get_profile()  # refimpl as the profile of the installed torch claims
    refimpl.set_profile(profile_for_torch_version(torch.__version__, nearest=True))
    try:
        want = _call(refimpl, op, args, kwargs)
    finally:
        refimpl.set_profile(previous)
    assert got == want, f"expected refimpl's {want} to be torch's, torch gave {got}"


@pytest.mark.torch
@pytest.mark.spec("PRG-33")
def test_torch_custom_op_refuses_kwarg_only_tensors():
    torch = pytest.importorskip("torch")
    text = "(Tensor x, *, Tensor? z=None) -> Tensor"
    with pytest.raises(NotImplementedError) as info:
        torch.library.custom_op("fz_kw::rec", lambda x, *, z=None: x, mutates_args=(),
                                schema=text)
    expected = ("custom_op with kwarg-only Tensor args. Please make your tensors not kwarg-only. "
                f"Got: rec{text}")
    assert str(info.value) == expected, f"expected {expected!r}, got {str(info.value)!r}"


@pytest.mark.torch
@pytest.mark.spec("PRG-34", "PRG-37")
@pytest.mark.parametrize("name", ["optional_and_list_params", "int32_inputs"])
def test_torch_eager_log_and_dtypes_are_refimpls(name):
    pytest.importorskip("torch")
    from oracle.torch_runner import run_torch

    program = load_program(CATALOG[name])
    t, r = run_torch(program, "eager"), run_refimpl(program, "eager")
    assert t.error is None and r.error is None, f"expected runs, got {t.error} / {r.error}"
    assert t.effect_log == r.effect_log, f"expected torch {t.effect_log}, got {r.effect_log}"
    t_dtypes, r_dtypes = [v.dtype for v in t.outputs], [v.dtype for v in r.outputs]
    assert t_dtypes == r_dtypes, f"expected torch's dtypes {t_dtypes}, got {r_dtypes}"
