"""Effect programs (`effects-program/1`): dataclasses, loading, validation, JSON round trip.

Models: nothing upstream directly. A program is the JSON form of a small torch function: calls of
`torch.ops.<ns>.<name>.<overload>`, custom ops made with `torch.library.custom_op` and
`_register_effectful_op` (torch 2.13.0), and direct `torch.ops.higher_order.with_effects` calls.
Spec: specs/program.md, PRG-1 to PRG-22 (the loader), PRG-29 (the format string), PRG-31,
PRG-33, PRG-36, PRG-37 (the argument and value forms torch takes), PRG-39 to PRG-41 (limits
and hostile input, in oracle/program_reader.py), PRG-53 to PRG-58 (cond and while_loop).

Loading evaluates nothing. It runs two checks and stops at the first fault, which it reports as a
`ProgramError` naming the JSON path of the fault (`$.body[2].args[0].ref`):
1. the structure, with `jsonschema` against `program.schema.json` (PRG-1, PRG-2);
2. the semantics the schema cannot express, on the built `Program` (PRG-5 to PRG-22), walking it
   in document order with an environment of the values defined so far.

Simplifications:
1. A ref means the value its name is bound to at that point of the program: a later binding of
   the name shadows the earlier one for the statements after it (PRG-20), as Python assignment
   does; the checker's environment is updated in document order.
2. Only parameter types that have a JSON literal form take literals (PRG-16); `MemoryFormat?`,
   `ScalarType?`, `Layout?` and `Device?` parameters take only `null`.
3. Custom ops have one overload, `.default`, as `torch.library.custom_op` makes them.
4. A Python number for a `Tensor` parameter is accepted only where torch's argument parser wraps
   it (`refimpl.operator.allows_numbers_as_tensors`) and only for a parameter the op does not
   mutate (PRG-31); elsewhere torch raises its type error, which the loader reports up front.
"""

from __future__ import annotations

import json
import keyword
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from oracle.behaviors import (
    BEHAVIORS,
    KNOWN_ATEN_OPS,
    Signature,
    op_signature,
    parse_signature,
)
from oracle.program_reader import DEFAULT_LIMITS, Limits, read_document
from refimpl.operator import allows_numbers_as_tensors
from refimpl.schema import parse_schema

__all__ = [
    "CATALOG_DIR",
    "FORMAT",
    "FORMATS",
    "AutogradSpec",
    "BackwardSpec",
    "Block",
    "CustomOpSpec",
    "ExpectedError",
    "InputSpec",
    "Limits",
    "Program",
    "ProgramError",
    "Ref",
    "Stmt",
    "catalog_paths",
    "check_program",
    "dump_program",
    "json_path",
    "load_catalog",
    "load_program",
    "program_to_json",
    "walk_statements",
]

# PRG-29: what this loader writes, and every version it reads. 1.1 added numbers for Tensor
# parameters, `Tensor?` / `float[]` / `int[]` / `Scalar?` custom-op parameters, rebinding, list
# outputs, int32 inputs (PRG-31 to PRG-38) and the aliasing rule (PRG-43); 1.2 added autograd:
# `requires_grad` inputs, custom-op `autograd` formulas and `backward` (PRG-46 to PRG-52); 1.3
# added control flow: `cond` and `while_loop` statements (PRG-53 to PRG-57). An
# earlier version's document means the same under the later ones.
FORMAT = "effects-program/1.3"
FORMATS = ("effects-program/1", "effects-program/1.1", "effects-program/1.2", FORMAT)
SCHEMA_PATH = Path(__file__).with_name("program.schema.json")
CATALOG_DIR = Path(__file__).with_name("catalog")

RESERVED_NAMESPACES = frozenset({"aten", "prims", "prim", "profiler", "torch", "higher_order"})
MAX_INPUT_ELEMENTS = 1 << 20
MAX_TOTAL_INPUT_ELEMENTS = 1 << 22  # all inputs together (PRG-13)
# Parameter types a custom-op schema may use (PRG-7).
CUSTOM_PARAM_TYPES = frozenset(
    {"Tensor", "Tensor[]", "str", "int", "float", "bool", "Scalar", "int[]", "float[]"}
    | {"Tensor?", "str?", "int?", "float?", "bool?", "Scalar?"}
)

# ---------------------------------------------------------------------------------------------
# Errors and JSON paths
# ---------------------------------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*\Z")


def json_path(location: tuple | list) -> str:
    """`("body", 2, "args", 0)` -> `$.body[2].args[0]`, written as `jsonschema`'s `json_path`."""
    path = "$"
    for elem in location:
        if isinstance(elem, int):
            path += f"[{elem}]"
        elif _PLAIN_KEY.match(elem):
            path += "." + elem
        else:
            escaped = elem.replace("\\", "\\\\").replace("'", "\\'")
            path += f"['{escaped}']"
    return path


class ProgramError(ValueError):
    """A program that is not valid `effects-program/1` (PRG-3).

    `location` is the path as a tuple of keys and indices, `path` the same as a JSON path, and
    `reason` the message without the path; `str(error)` is `"<path>: <reason>"`.
    """

    def __init__(self, location: tuple | list, reason: str) -> None:
        self.location = tuple(location)
        self.path = json_path(self.location)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


# ---------------------------------------------------------------------------------------------
# The program as Python data
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A use of a value: `{"ref": name}` or, for an element of a list value, `{..., "index": i}`."""

    name: str
    index: int | None = None


@dataclass(frozen=True)
class AutogradSpec:
    """A custom op's autograd formula (PRG-47 to PRG-50): `setup_context` saves the parameters
    named in `save`; `backward` binds the incoming grads to `grad_outputs`, runs `body` and
    returns `grad_inputs`, one value name (or `None`) per parameter."""

    save: tuple[str, ...] = ()
    grad_outputs: tuple[str, ...] = ()
    body: tuple[Stmt, ...] = ()
    grad_inputs: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class CustomOpSpec:
    name: str  # "ns::name"
    schema: str  # "name(Tensor x, str tag) -> Tensor"
    behavior: str
    effect: str | None  # "ORDERED" or None
    autograd: AutogradSpec | None = None

    @property
    def overload(self) -> str:
        return f"{self.name}.default"


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str
    fill: str | dict = "arange"
    requires_grad: bool = False  # PRG-46


@dataclass(frozen=True)
class Block:
    """A subgraph's statements (PRG-53): a cond branch, a loop's condition or body. It sees only
    the names its statement hands it (the operands, the carried values); `outputs` are names it
    binds."""

    body: tuple[Stmt, ...] = ()
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stmt:
    """One body statement. `kind == "with_effects"`: call `with_effects(token, op, *args)`.
    `kind == "cond"`: `args` is `(pred, *operands)` as refs, `blocks` is `(true, false)`;
    `kind == "while_loop"`: `args` are the carried refs, `blocks` is `(cond, body)` and the loop
    runs `iterations` times (PRG-53 to PRG-57). `op` names the HOP for both."""

    op: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    outs: tuple[str, ...] = ()
    kind: str = "call"
    blocks: tuple[Block, ...] = ()
    iterations: int | None = None


@dataclass(frozen=True)
class BackwardSpec:
    """PRG-51: after the body, `loss = sum(outputs[i].sum() for i in loss)`, `loss.backward()`."""

    loss: tuple[int, ...]


@dataclass(frozen=True)
class ExpectedError:
    type: str
    match: str = ""


@dataclass(frozen=True)
class Program:
    name: str
    description: str = ""
    custom_ops: tuple[CustomOpSpec, ...] = ()
    register_effects: dict[str, str | None] = field(default_factory=dict)
    inputs: tuple[InputSpec, ...] = ()
    body: tuple[Stmt, ...] = ()
    outputs: tuple[Ref | str, ...] = ()
    backward: BackwardSpec | None = None
    expect_error: ExpectedError | None = None
    source: str | None = field(default=None, compare=False)
    format: str = field(default=FORMAT, compare=False)  # the version it was written in


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def load_program(
    source: str | os.PathLike | Mapping, *, limits: Limits = DEFAULT_LIMITS
) -> Program:
    """Load and check a program from a dict, a JSON text, or a path to a `.json` file.

    A str that starts with `{` or `[` is JSON text, any other str a path. Raises `ProgramError`
    for every invalid document, whatever its bytes (PRG-39 to PRG-42: `limits` bounds its size),
    and `OSError` when a file cannot be read.
    """
    doc, origin = read_document(source, limits, ProgramError)
    _check_structure(doc)
    program = _build_program(doc, origin)
    check_program(program, limits=limits)
    return program


def _is_strict_int(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


def _make_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine("integer", _is_strict_int)
    validator_class = jsonschema.validators.extend(base, type_checker=checker)
    validator_class.check_schema(schema)
    return validator_class(schema)


_VALIDATOR = _make_validator()


def _check_structure(doc: Any) -> None:
    """PRG-1, PRG-2: the format string first (for a clear message), then the JSON Schema."""
    if isinstance(doc, dict) and isinstance(doc.get("format"), str) \
            and doc["format"] not in FORMATS:
        raise ProgramError(
            ("format",), f"unsupported format {doc['format'][:80]!r} (this loader reads "
                         f"{', '.join(FORMATS[:-1])} and {FORMATS[-1]}; a later version may hold "
                         f"fields it does not know, PRG-29)"
        )
    error = best_match(_VALIDATOR.iter_errors(doc))
    if error is not None:
        message = error.message if len(error.message) <= 300 else error.message[:297] + "..."
        raise ProgramError(tuple(error.absolute_path), message)


def _arg_from_json(value: Any) -> Any:
    if isinstance(value, dict):
        return Ref(value["ref"], value.get("index"))
    if isinstance(value, list):
        return tuple(_arg_from_json(v) for v in value)
    return value


HOP_OPS = {"cond": "higher_order::cond", "while_loop": "higher_order::while_loop"}


def walk_statements(body: tuple[Stmt, ...]) -> Iterator[Stmt]:
    """Every statement of ``body``, those inside cond and while_loop blocks included, in
    document order (a control-flow statement before its blocks' statements)."""
    for stmt in body:
        yield stmt
        for block in stmt.blocks:
            yield from walk_statements(block.body)


def _block_from_json(doc: dict) -> Block:
    return Block(tuple(_stmt_from_json(s) for s in doc.get("body", [])),
                 tuple(doc.get("outputs", [])))


def _stmt_from_json(doc: dict) -> Stmt:
    if "cond" in doc:
        c = doc["cond"]
        return Stmt(op=HOP_OPS["cond"], args=tuple(Ref(n) for n in [c["pred"], *c["operands"]]),
                    outs=tuple(doc.get("outs", [])), kind="cond",
                    blocks=(_block_from_json(c["true"]), _block_from_json(c["false"])))
    if "while_loop" in doc:
        w = doc["while_loop"]
        return Stmt(op=HOP_OPS["while_loop"], args=tuple(Ref(n) for n in w["carried"]),
                    outs=tuple(doc.get("outs", [])), kind="while_loop",
                    blocks=(_block_from_json(w["cond"]), _block_from_json(w["body"])),
                    iterations=w["iterations"])
    kind = "with_effects" if "with_effects" in doc else "call"
    call = doc["with_effects"] if kind == "with_effects" else doc
    return Stmt(
        op=call["op"],
        args=tuple(_arg_from_json(a) for a in call.get("args", [])),
        kwargs={k: _arg_from_json(v) for k, v in call.get("kwargs", {}).items()},
        outs=tuple(doc.get("outs", [])),
        kind=kind,
    )


def _autograd_from_json(doc: dict | None) -> AutogradSpec | None:
    if doc is None:
        return None
    return AutogradSpec(
        save=tuple(doc.get("save", [])),
        grad_outputs=tuple(doc["grad_outputs"]),
        body=tuple(_stmt_from_json(s) for s in doc.get("body", [])),
        grad_inputs=tuple(doc["grad_inputs"]),
    )


def _build_program(doc: dict, origin: str | None) -> Program:
    backward = doc.get("backward")
    return Program(
        name=doc["name"],
        description=doc.get("description", ""),
        custom_ops=tuple(
            CustomOpSpec(c["name"], c["schema"], c["behavior"], c["effect"],
                         _autograd_from_json(c.get("autograd")))
            for c in doc.get("custom_ops", [])
        ),
        register_effects=dict(doc.get("register_effects", {})),
        inputs=tuple(
            InputSpec(i["name"], tuple(i["shape"]), i["dtype"],
                      _copy_fill(i.get("fill", "arange")), i.get("requires_grad", False))
            for i in doc.get("inputs", [])
        ),
        body=tuple(_stmt_from_json(s) for s in doc["body"]),
        outputs=tuple(
            o if isinstance(o, str) else _arg_from_json(o) for o in doc.get("outputs", [])
        ),
        backward=None if backward is None else BackwardSpec(tuple(backward["loss"])),
        expect_error=_expected_error(doc.get("expect_error")),
        source=origin,
        format=doc["format"],
    )


def _expected_error(doc: dict | None) -> ExpectedError | None:
    return None if doc is None else ExpectedError(doc["type"], doc.get("match", ""))


def _copy_fill(fill: str | dict) -> str | dict:
    return dict(fill) if isinstance(fill, dict) else fill


def catalog_paths() -> list[Path]:
    """The built-in catalog, `oracle/catalog/NN_name.json`, in file-name order."""
    return sorted(CATALOG_DIR.glob("*.json"))


def load_catalog() -> list[Program]:
    return [load_program(path) for path in catalog_paths()]


# ---------------------------------------------------------------------------------------------
# Semantic checks (PRG-4 to PRG-22)
# ---------------------------------------------------------------------------------------------

TENSOR, LIST, NONE, OTHER = "tensor", "list", "none", "other"


@dataclass(frozen=True)
class _Value:
    """What the checker knows about a bound value: its kind, a list's length, where it was bound."""

    kind: str
    length: int | None = None
    where: str = ""

    def describe(self) -> str:
        if self.kind == LIST:
            size = "" if self.length is None else f"{self.length} "
            return f"a list of {size}tensors"
        return {TENSOR: "a tensor", NONE: "None", OTHER: "a non-tensor value"}[self.kind]


@dataclass(frozen=True)
class _CustomOp:
    spec: CustomOpSpec
    signature: Signature


def check_program(program: Program, *, limits: Limits = DEFAULT_LIMITS) -> None:
    """Run the semantic checks on a built program; raise `ProgramError` at the first fault.

    Paths refer to `program_to_json(program)`. A program built in Python rather than loaded
    skips the structural check; `load_program(program_to_json(program))` runs both.
    """
    custom = _check_custom_ops(program.custom_ops)
    _check_register_effects(program.register_effects, custom)
    env = _check_inputs(program.inputs)
    for i, stmt in enumerate(program.body):
        _check_statement(stmt, ("body", i), custom, env)
    _check_outputs(program.outputs, env)
    _check_backward(program, env)
    _check_expect_error(program.expect_error, limits)
    _check_aliasing(program, custom)
    for i, spec in enumerate(program.custom_ops):
        if spec.autograd is not None:
            _check_autograd(spec, custom[spec.overload].signature, ("custom_ops", i, "autograd"),
                            custom)


# -- custom ops (PRG-5 to PRG-9) ---------------------------------------------------------------

_SCHEMA_SHAPE = re.compile(r"^\s*(?P<name>[^\s(]+)\s*\(.*\)\s*->\s*\S.*\Z", re.S)


def _check_custom_ops(specs: tuple[CustomOpSpec, ...]) -> dict[str, _CustomOp]:
    custom: dict[str, _CustomOp] = {}
    for i, spec in enumerate(specs):
        loc = ("custom_ops", i)
        namespace, short = spec.name.split("::")
        if namespace in RESERVED_NAMESPACES:
            raise ProgramError(loc + ("name",), f"custom op namespace {namespace!r} is reserved")
        if spec.overload in custom:
            raise ProgramError(loc + ("name",), f"duplicate custom op name {spec.name!r}")
        signature = _check_custom_schema(spec, short, loc + ("schema",))
        _check_behavior(spec, signature, loc)
        custom[spec.overload] = _CustomOp(spec, signature)
    return custom


def _check_custom_schema(spec: CustomOpSpec, short: str, loc: tuple) -> Signature:
    """PRG-6, PRG-7: `name(args) -> rets`, the op's own name, parseable, allowed types only."""
    shape = _SCHEMA_SHAPE.match(spec.schema)
    if not shape:
        raise ProgramError(loc, f"schema {spec.schema!r} is not of the form 'name(args) -> rets'")
    if shape.group("name") != short:
        raise ProgramError(
            loc, f"schema name {shape.group('name')!r} does not match op name {spec.name!r}"
        )
    try:
        signature = parse_signature(spec.schema)
    except ValueError as exc:
        raise ProgramError(loc, f"cannot parse schema: {exc}") from exc
    seen = set()
    for param in signature.params:
        _check_custom_param(param, seen, loc)
    if any(alias is not None for alias in signature.return_aliases):
        raise ProgramError(loc, "custom op returns may not carry alias annotations")
    return signature


def _check_custom_param(param: Any, seen: set, loc: tuple) -> None:
    if param.name in seen:
        raise ProgramError(loc, f"duplicate parameter name {param.name!r}")
    if keyword.iskeyword(param.name):
        raise ProgramError(loc, f"parameter name {param.name!r} is a Python keyword")
    seen.add(param.name)
    if param.alias is not None:
        raise ProgramError(loc, f"parameter {param.name!r} may not carry an alias annotation")
    if param.type not in CUSTOM_PARAM_TYPES:
        allowed = ", ".join(sorted(CUSTOM_PARAM_TYPES))
        raise ProgramError(loc, f"parameter type {param.type!r} not allowed (allowed: {allowed})")
    if param.kwarg_only and param.type.startswith("Tensor"):
        raise ProgramError(loc, f"tensor parameter {param.name!r} is keyword-only: torch's "
                                f"custom_op raises NotImplementedError \"custom_op with "
                                f"kwarg-only Tensor args\" (PRG-33)")
    if param.has_default:
        if param.type.startswith("Tensor") and not (param.type == "Tensor?"
                                                    and param.default is None):
            raise ProgramError(loc, f"tensor parameter {param.name!r} may not have a default "
                                    f"other than None on a Tensor? (PRG-33)")
        default = tuple(param.default) if isinstance(param.default, list) else param.default
        problem = _literal_problem(param.type, default)
        if problem:
            raise ProgramError(loc, f"default of parameter {param.name!r}: {problem}")


def _check_behavior(spec: CustomOpSpec, signature: Signature, loc: tuple) -> None:
    """PRG-8, PRG-9: a known behaviour and a schema of the shape it allows."""
    behavior = BEHAVIORS.get(spec.behavior)
    if behavior is None:
        known = ", ".join(BEHAVIORS)
        raise ProgramError(loc + ("behavior",), f"unknown behaviour {spec.behavior!r} ({known})")
    where = loc + ("schema",)
    if signature.returns != behavior.returns:
        raise ProgramError(
            where,
            f"behaviour {behavior.name!r} needs returns {_rets(behavior.returns)}, "
            f"the schema returns {_rets(signature.returns)}",
        )
    first = signature.params[0] if signature.params else None
    if behavior.tensor_first and (first is None or first.kwarg_only or first.type != "Tensor"):
        raise ProgramError(where, f"behaviour {behavior.name!r} needs a first Tensor parameter")
    if behavior.no_tensors and any(p.type.startswith("Tensor") for p in signature.params):
        raise ProgramError(where, f"behaviour {behavior.name!r} takes no tensor parameter")


def _rets(types: tuple[str, ...]) -> str:
    if len(types) == 1:
        return types[0]
    return "(" + ", ".join(types) + ")"


# -- register_effects and inputs (PRG-11, PRG-13) ------------------------------------------------


def _check_register_effects(register: dict, custom: dict[str, _CustomOp]) -> None:
    for key in register:
        if key not in KNOWN_ATEN_OPS and key not in custom:
            raise ProgramError(("register_effects", key), f"unknown op overload {key!r}")


def _check_inputs(inputs: tuple[InputSpec, ...]) -> dict[str, _Value]:
    env: dict[str, _Value] = {}
    total = 0
    for i, spec in enumerate(inputs):
        loc = ("inputs", i)
        _bind(env, spec.name, _Value(TENSOR, where=json_path(loc + ("name",))), loc + ("name",))
        if math.prod(spec.shape) > MAX_INPUT_ELEMENTS:
            raise ProgramError(
                loc + ("shape",),
                f"input has {math.prod(spec.shape)} elements (at most {MAX_INPUT_ELEMENTS})",
            )
        total = _check_total_elements(total, spec, loc)
        if spec.requires_grad and spec.dtype not in GRAD_DTYPES:
            raise ProgramError(  # PRG-46: torch's message for requires_grad_ on such a tensor
                loc + ("requires_grad",),
                f"a {spec.dtype} input cannot require grad: only Tensors of floating point and "
                f"complex dtype can require gradients (PRG-46)")
    return env


def _check_total_elements(total: int, spec: InputSpec, loc: tuple) -> int:
    """PRG-13: the inputs so far, this one included, hold at most MAX_TOTAL_INPUT_ELEMENTS."""
    total += math.prod(spec.shape)
    if total > MAX_TOTAL_INPUT_ELEMENTS:
        raise ProgramError(loc + ("shape",), f"the inputs up to this one have {total} elements "
                                             f"in all (at most {MAX_TOTAL_INPUT_ELEMENTS})")
    return total


def _bind(env: dict[str, _Value], name: str, value: _Value, loc: tuple, *,
          shadow: bool = False) -> None:
    """PRG-13: input names are unique; PRG-20: an `outs` name shadows an earlier binding."""
    if name in env and not shadow:
        raise ProgramError(
            loc, f"duplicate value name {name!r} (already bound at {env[name].where})"
        )
    env[name] = value


# -- statements (PRG-14 to PRG-19) ---------------------------------------------------------------


def _check_statement(stmt: Stmt, loc: tuple, custom: dict[str, _CustomOp], env: dict) -> None:
    if stmt.kind in HOP_OPS:
        _check_hop(stmt, loc, custom, env)
        return
    if isinstance(env, _Scope):
        _check_no_write_in_subgraph(stmt, loc, custom, env)
    call_loc = loc + ("with_effects",) if stmt.kind == "with_effects" else loc
    signature = _signature_of(stmt.op, custom, call_loc + ("op",))
    _check_call_args(stmt, signature, call_loc, env)
    results = _result_values(stmt, signature, custom)
    _check_outs(stmt, results, signature, loc)
    first: dict[str, int] = {}
    for k, name in enumerate(stmt.outs):
        where = loc + ("outs", k)
        if name in first:  # PRG-20: one statement binds a name at most once
            raise ProgramError(where, f"duplicate value name {name!r} in one statement's outs "
                                      f"(already at {json_path(loc + ('outs', first[name]))})")
        first[name] = k
    for k, name in enumerate(stmt.outs):
        where = loc + ("outs", k)
        _bind(env, name, _Value(results[k].kind, results[k].length, json_path(where)), where,
              shadow=True)


# -- control flow (PRG-53 to PRG-57) ----------------------------------------------------------


class _Scope(dict):
    """The names a block sees (PRG-54): its statement's operands or carried values only. A ref
    to a name of an enclosing scope is reported as such."""

    def __init__(self, names: dict[str, _Value], outer: dict, what: str) -> None:
        super().__init__(names)
        self.outer, self.what = outer, what

    def __setitem__(self, name: str, value: _Value) -> None:
        self.pop(name, None)  # a rebound name is bound last (PRG-58's order)
        super().__setitem__(name, value)


def _check_hop(stmt: Stmt, loc: tuple, custom: dict[str, _CustomOp], env: dict) -> None:
    """A cond (PRG-55) or while_loop (PRG-56) statement: its refs, then each block in a scope of
    its own, then its outs."""
    inner = loc + (stmt.kind,)
    if stmt.kind == "cond":
        keys = [("pred",)] + [("operands", i) for i in range(len(stmt.args) - 1)]
        names = [("true",), ("false",)]
        operand_refs = stmt.args[1:]
        kinds = {"true": "true branch", "false": "false branch"}
    else:
        keys = [("carried", i) for i in range(len(stmt.args))]
        names = [("cond",), ("body",)]
        operand_refs = stmt.args
        kinds = {"cond": "loop condition", "body": "loop body"}
    seen: dict[str, tuple] = {}
    for ref, key in zip(stmt.args, keys):
        where = inner + key
        value = env.get(ref.name)
        _check_in_scope(env, ref.name, where)
        if value is None:
            raise ProgramError(where, f"dangling ref {ref.name!r} (no value of that name is "
                                      f"bound before this statement)")
        if value.kind != TENSOR:
            raise ProgramError(where, f"{stmt.kind} takes tensors; {ref.name!r} is "
                                      f"{value.describe()}")
        if key != ("pred",):
            if ref.name in seen:
                raise ProgramError(where, f"{ref.name!r} is passed twice (already at "
                                          f"{json_path(seen[ref.name])}); pass each value once")
            seen[ref.name] = where
    _check_operands_as_dynamo_keeps_them(stmt, inner, keys, env)
    outputs = []
    if stmt.kind == "while_loop" and stmt.blocks[0].outputs:
        raise ProgramError(inner + ("cond", "outputs"),
                           "the loop condition returns nothing: the loader writes it as "
                           "`counter < iterations` after its statements (PRG-56)")
    for block, key in zip(stmt.blocks, names):
        where = inner + key
        scope = _Scope({r.name: _Value(TENSOR, where=json_path(where)) for r in operand_refs},
                       env, kinds[key[0]])
        for i, s in enumerate(block.body):
            _check_statement(s, where + ("body", i), custom, scope)
        for k, name in enumerate(block.outputs):
            out_loc = where + ("outputs", k)
            value = scope.get(name) if name in scope else None
            if value is None:
                raise ProgramError(out_loc, f"the {kinds[key[0]]} returns {name!r}, which it "
                                            f"does not bind")
            if any(r.name == name for r in operand_refs) and \
                    not _rebound(block, name):
                raise ProgramError(out_loc, f"the {kinds[key[0]]} returns its input {name!r} "
                                            f"itself; torch rejects a subgraph output that "
                                            f"aliases an input (return a clone)")
            if value.kind != TENSOR:
                raise ProgramError(out_loc, f"the {kinds[key[0]]} returns {name!r}, which is "
                                            f"{value.describe()}; it must return tensors")
        outputs.append(len(block.outputs))
    if stmt.kind == "cond":
        n = outputs[0]
        if n == 0 or outputs[1] != n:
            key = "false" if n else "true"
            raise ProgramError(inner + (key,) + (("outputs",) if outputs[key == "false"] else ()),
                               f"both branches must return the same number of tensors, at least "
                               f"one; the true branch returns {outputs[0]}, the false branch "
                               f"{outputs[1]}")
    else:
        n = len(stmt.args)
        if outputs[1] != n:
            raise ProgramError(inner + ("body",) + (("outputs",) if outputs[1] else ()),
                               f"the loop body must return one tensor per carried value ({n}), "
                               f"got {outputs[1]}")
    if stmt.outs and len(stmt.outs) != n:
        raise ProgramError(loc + ("outs",), f"{stmt.kind} returns {n} value(s); outs must name "
                                            f"0 or {n}, got {len(stmt.outs)}")
    first: dict[str, int] = {}
    for k, name in enumerate(stmt.outs):
        where = loc + ("outs", k)
        if name in first:
            raise ProgramError(where, f"duplicate value name {name!r} in one statement's outs "
                                      f"(already at {json_path(loc + ('outs', first[name]))})")
        first[name] = k
        _bind(env, name, _Value(TENSOR, where=json_path(where)), where, shadow=True)


def _check_operands_as_dynamo_keeps_them(stmt: Stmt, inner: tuple, keys: list,
                                         env: dict) -> None:
    """PRG-58: torch.cond runs through dynamo, which drops an operand no branch reads, passes
    the predicate once, passes first the operands the true branch reads (then those only the
    false branch reads, each group in the given order), and inside a subgraph passes them in
    the order its inputs were bound; a program must already have that form, so both worlds
    trace the same graph."""
    if stmt.kind != "cond":
        return
    pred, operands = stmt.args[0].name, [r.name for r in stmt.args[1:]]
    read_true = _names_read(stmt.blocks[0])
    read = read_true | _names_read(stmt.blocks[1])
    true_first = [n for n in operands if n in read_true] + \
        [n for n in operands if n not in read_true]
    if operands != true_first:
        raise ProgramError(inner + ("operands",),
                           f"list the operands the true branch reads first "
                           f"({', '.join(true_first)}): dynamo passes them in that order")
    for i, name in enumerate(operands):
        where = inner + keys[i + 1]
        if name == pred:
            raise ProgramError(where, f"the predicate {pred!r} is also an operand; dynamo "
                                      f"passes it once and reorders the operands (compute a value "
                                      f"from it for the branches to read)")
        if name not in read:
            raise ProgramError(where, f"no branch reads the operand {name!r}; dynamo drops an "
                                      f"operand no branch reads")
    if isinstance(env, _Scope):
        order = list(env)
        ranks = [order.index(n) for n in operands if n in env]
        if ranks != sorted(ranks):
            raise ProgramError(inner + ("operands",),
                               f"inside a subgraph, pass the operands in the order they were "
                               f"bound ({', '.join(sorted(operands, key=order.index))}): dynamo "
                               f"reorders them so")


def _names_read(block: Block) -> set[str]:
    """The names a block's statements read (nested blocks' reads of their own inputs too)."""
    names: set[str] = set()
    for stmt in block.body:
        for arg in (*stmt.args, *stmt.kwargs.values()):
            names.update(ref.name for ref, _ in _tensor_refs(arg, ()))
        for inner in stmt.blocks:
            names |= _names_read(inner)
    return names


def _rebound(block: Block, name: str) -> bool:
    """Whether a statement of ``block`` binds ``name`` again (then the output is that value)."""
    return any(name in s.outs for s in block.body)


def _check_no_write_in_subgraph(stmt: Stmt, loc: tuple, custom: dict[str, _CustomOp],
                                scope: _Scope) -> None:
    """PRG-57: no in-place op inside a block (torch auto-functionalizes a subgraph that writes
    its inputs; refimpl does not model it)."""
    call_loc = loc + ("with_effects",) if stmt.kind == "with_effects" else loc
    signature = _signature_of(stmt.op, custom, call_loc + ("op",))
    if any(p.alias and p.alias.endswith("!") for p in signature.params):
        raise ProgramError(call_loc + ("op",), f"{stmt.op} writes its argument; in-place ops "
                                               f"are not allowed in a {scope.what} (PRG-57)")


def _signature_of(op: str, custom: dict[str, _CustomOp], loc: tuple) -> Signature:
    """PRG-14: a modelled aten op or the `.default` overload of a declared custom op."""
    if op in custom:
        return custom[op].signature
    if op in KNOWN_ATEN_OPS:
        return op_signature(op)
    raise ProgramError(loc, f"unknown op {op!r} (not a modelled aten op nor a declared custom op)")


def _check_call_args(stmt: Stmt, signature: Signature, loc: tuple, env: dict) -> None:
    """PRG-15: arity and names; PRG-16: each value against its parameter's type."""
    positional = signature.positional
    if len(stmt.args) > len(positional):
        raise ProgramError(
            loc + ("args", len(positional)),
            f"too many positional arguments for {stmt.op}: "
            f"at most {len(positional)}, got {len(stmt.args)}",
        )
    for j, (param, value) in enumerate(zip(positional, stmt.args)):
        _check_arg(param, value, loc + ("args", j), env, stmt.op)
    by_name = {p.name: k for k, p in enumerate(signature.params)}
    for key, value in stmt.kwargs.items():
        if key not in by_name:
            raise ProgramError(
                loc + ("kwargs", key), f"unknown keyword argument {key!r} for {stmt.op}"
            )
        if by_name[key] < len(stmt.args):
            raise ProgramError(
                loc + ("kwargs", key), f"argument {key!r} given both by position and by keyword"
            )
        _check_arg(signature.params[by_name[key]], value, loc + ("kwargs", key), env, stmt.op)
    for param in signature.params[len(stmt.args) :]:
        if not param.has_default and param.name not in stmt.kwargs:
            raise ProgramError(loc, f"missing argument {param.name!r} ({param.type}) of {stmt.op}")


def _check_arg(param: Any, value: Any, loc: tuple, env: dict, op: str) -> None:
    what = f"parameter {param.name!r} ({param.type}) of {op}"
    if isinstance(value, Ref):
        _check_ref_arg(param.type, value, loc, env, what)
    elif isinstance(value, tuple):
        _check_list_arg(param.type, value, loc, env, what)
    elif param.type in ("Tensor", "Tensor?") and isinstance(value, (bool, int, float)):
        _check_number_for_tensor(param, value, loc, op, what)
    else:
        problem = _literal_problem(param.type, value)
        if problem:
            raise ProgramError(loc, f"{what}: {problem}")


def _check_ref_arg(type_: str, ref: Ref, loc: tuple, env: dict, what: str) -> None:
    value = _resolve(ref, loc, env, "not defined before this statement")
    wanted = LIST if type_ == "Tensor[]" else TENSOR
    if type_ not in ("Tensor", "Tensor?", "Tensor[]"):
        raise ProgramError(loc, f"{what} takes a literal, got a ref to {ref.name!r}")
    if value.kind != wanted:
        hint = " (select an element with index)" if value.kind == LIST else ""
        raise ProgramError(
            loc,
            f"{what} needs {_Value(wanted).describe()}, {ref.name!r} is {value.describe()}{hint}",
        )


@cache
def _numbers_as_tensors(op: str) -> bool:
    """Whether torch's argument parser wraps a number given for one of `op`'s tensors."""
    return op in KNOWN_ATEN_OPS and allows_numbers_as_tensors(parse_schema(KNOWN_ATEN_OPS[op]))


def _check_number_for_tensor(param: Any, value: Any, loc: tuple, op: str, what: str) -> None:
    """PRG-31: a number for a `Tensor` parameter where torch wraps it, and nowhere else."""
    if param.type == "Tensor" and _numbers_as_tensors(op):
        if param.alias is None or not param.alias.endswith("!"):
            return
        raise ProgramError(loc, f"{what}: the op writes to this tensor, so it takes a ref, got "
                                f"{value!r} (a number would be a temporary tensor, PRG-31)")
    expected = "Optional[Tensor]" if param.type == "Tensor?" else "Tensor"
    torch_name = op.rpartition(".")[0]
    raise ProgramError(
        loc, f"{what} needs a ref to a tensor, got {value!r}: torch raises RuntimeError "
             f"\"{torch_name}() Expected a value of type '{expected}' for argument "
             f"'{param.name}' but instead found type '{type(value).__name__}'.\" (PRG-31)")


def _check_list_arg(type_: str, items: tuple, loc: tuple, env: dict, what: str) -> None:
    if type_ == "Tensor[]":
        for k, item in enumerate(items):
            if not isinstance(item, Ref):
                raise ProgramError(
                    loc + (k,), f"{what}: list items must be refs to tensors, got {item!r}"
                )
            _check_ref_arg("Tensor", item, loc + (k,), env, what)
        return
    problem = _literal_problem(type_, items)
    if problem:
        raise ProgramError(loc, f"{what}: {problem}")


def _resolve(ref: Ref, loc: tuple, env: dict, missing: str) -> _Value:
    """PRG-17 (defined before use) and PRG-18 (index only on a list, within its length)."""
    value = env.get(ref.name)
    _check_in_scope(env, ref.name, loc + ("ref",))
    if value is None:
        raise ProgramError(loc + ("ref",), f"dangling ref {ref.name!r} ({missing})")
    if ref.index is None:
        return value
    if value.kind != LIST:
        raise ProgramError(
            loc + ("index",), f"index on non-list value {ref.name!r} ({value.describe()})"
        )
    if value.length is not None and ref.index >= value.length:
        raise ProgramError(
            loc + ("index",),
            f"index {ref.index} out of range for {ref.name!r} ({value.describe()})",
        )
    return _Value(TENSOR)


def _check_in_scope(env: dict, name: str, where: tuple) -> None:
    """PRG-54: a block reading a name of an enclosing scope is told so."""
    if name not in env and isinstance(env, _Scope) and _bound_outside(env, name):
        raise ProgramError(where, f"the {env.what} reads {name!r}, which is not one of its "
                                  f"inputs: a subgraph sees only the values its statement "
                                  f"passes it (PRG-54)")


def _bound_outside(scope: _Scope, name: str) -> bool:
    outer = scope.outer
    while True:
        if name in outer:
            return True
        if not isinstance(outer, _Scope):
            return False
        outer = outer.outer


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_LITERAL_CHECKS = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "int": (_is_int, "an integer"),
    "SymInt": (_is_int, "an integer"),
    "float": (_is_number, "a number"),
    "bool": (lambda v: isinstance(v, bool), "a boolean"),
    "Scalar": (lambda v: isinstance(v, (bool, int, float)), "a number or boolean"),
}


def _literal_problem(type_: str, value: Any) -> str | None:
    """PRG-16: why `value` (a literal or a tuple of literals) does not fit `type_`, or None."""
    base = type_.removesuffix("?")
    if value is None:
        return None if type_.endswith("?") else "is not optional, got null"
    if base.startswith("Tensor"):
        return f"needs a ref to {'tensors' if base.endswith('[]') else 'a tensor'}, got {value!r}"
    if base.endswith("[]"):
        check, noun = _LITERAL_CHECKS.get(base[:-2], (None, ""))
        if check is None or not isinstance(value, tuple):
            return (
                f"needs a list, got {value!r}" if check else "takes only null in effects-program/1"
            )
        bad = [v for v in value if not check(v)]
        return f"list items must each be {noun}, got {bad[0]!r}" if bad else None
    check, noun = _LITERAL_CHECKS.get(base, (None, ""))
    if check is None:
        return "takes only null in effects-program/1"
    return (
        None if (not isinstance(value, tuple) and check(value)) else f"needs {noun}, got {value!r}"
    )


def _result_values(stmt: Stmt, signature: Signature, custom: dict[str, _CustomOp]) -> list[_Value]:
    """The values a statement can bind: the op's returns, after the token for `with_effects`."""
    length = None
    if stmt.op in custom:
        length = BEHAVIORS[custom[stmt.op].spec.behavior].list_length
    kinds = {"Tensor": TENSOR, "Tensor[]": LIST}
    values = [
        _Value(kinds.get(t, OTHER), length if t == "Tensor[]" else None) for t in signature.returns
    ]
    if stmt.kind == "with_effects":
        return [_Value(TENSOR)] + (values or [_Value(NONE)])
    return values


def _check_outs(stmt: Stmt, results: list[_Value], signature: Signature, loc: tuple) -> None:
    """PRG-19: bind no result (unused) or every result."""
    count = len(stmt.outs)
    if count in (0, len(results)):
        return
    what = (
        f"with_effects({stmt.op}) returns (token, ...)" if stmt.kind == "with_effects" else stmt.op
    )
    if not results:
        message = f"{what} returns nothing (-> ()); outs must be empty, got {count} name(s)"
    else:
        message = (
            f"{what} returns {len(results)} value(s) ({_rets(signature.returns) or '()'}); "
            f"outs must name 0 or {len(results)}, got {count}"
        )
    raise ProgramError(loc + ("outs",), message)


# -- aliasing (PRG-43) ---------------------------------------------------------------------------


@dataclass
class _Alias:
    """A bound tensor as aliasing sees it: the tensor object and the storage it lives in, and
    where an in-place op last wrote another tensor of that storage."""

    obj: int
    storage: int
    stale: str | None = None
    through: str | None = None  # a view op other than `view` this tensor was made by (PRG-44)


def _check_aliasing(program: Program, custom: dict[str, _CustomOp]) -> None:
    """PRG-43: no read of a tensor after an in-place op wrote another view of its storage."""
    fresh = iter(range(1, 1 << 62))
    env: dict[str, _Alias] = {}
    for spec in program.inputs:
        n = next(fresh)
        env[spec.name] = _Alias(n, n)
    for i, stmt in enumerate(program.body):
        if stmt.kind in HOP_OPS:  # reads its refs; binds new values (blocks write nothing)
            for j, ref in enumerate(stmt.args):
                seen = env.get(ref.name)
                if seen is not None and seen.stale is not None:
                    _stale(ref.name, seen, ("body", i, stmt.kind, j))
            for name in stmt.outs:
                n = next(fresh)
                env[name] = _Alias(n, n)
            continue
        loc = ("body", i) + (("with_effects",) if stmt.kind == "with_effects" else ())
        sig = _signature_of(stmt.op, custom, loc + ("op",))
        given = [(p, v, loc + ("args", j)) for j, (p, v) in enumerate(zip(sig.params, stmt.args))]
        by_name = {p.name: p for p in sig.params}
        given += [(by_name[k], v, loc + ("kwargs", k)) for k, v in stmt.kwargs.items()]
        aliases: dict[str, _Alias] = {}
        for param, value, where in given:
            for ref, ref_loc in _tensor_refs(value, where):
                seen = env.get(ref.name) if ref.index is None else None
                if seen is not None and seen.stale is not None:
                    _stale(ref.name, seen, ref_loc)
                if seen is not None and param.alias:
                    aliases[param.alias.rstrip("!")] = seen
        for param, _, where in given:
            written = aliases.get(param.alias.rstrip("!")) if param.alias and \
                param.alias.endswith("!") else None
            if written is not None and written.through is not None:
                raise ProgramError(
                    where, f"{stmt.op} writes a view made by {written.through}; refimpl models "
                           f"the write through a view for `aten::view.default` only, so this "
                           f"write is outside the model (PRG-44)")
            if written is not None:
                for other_param, value, other_where in given:
                    if other_param is param:
                        continue
                    for ref, ref_loc in _tensor_refs(value, other_where):
                        seen = env.get(ref.name) if ref.index is None else None
                        if seen is not None and seen.storage == written.storage \
                                and seen.obj != written.obj:
                            raise ProgramError(
                                ref_loc, f"{stmt.op} writes {json_path(where)} and reads "
                                         f"{ref.name!r}, another tensor of the same storage; "
                                         f"torch checks their memory overlap by strides, which "
                                         f"refimpl does not model, so this call is outside the "
                                         f"model (PRG-45)")
                for other in env.values():
                    if other.storage == written.storage and other.obj != written.obj:
                        other.stale = f"{json_path(where)} ({stmt.op})"
        results = [_result_alias(a, aliases, fresh, stmt.op) for a in sig.return_aliases] or []
        if stmt.kind == "with_effects":
            results = [_Alias(next(fresh), next(fresh)), *results]
        for name, alias in zip(stmt.outs, results):
            env[name] = alias
    for k, output in enumerate(program.outputs):
        items = output if isinstance(output, tuple) else (output,)
        for j, item in enumerate(items):
            ref = Ref(item) if isinstance(item, str) else item
            where = ("outputs", k, j) if isinstance(output, tuple) else ("outputs", k)
            seen = env.get(ref.name) if ref.index is None else None
            if seen is not None and seen.stale is not None:
                _stale(ref.name, seen, where)


def _tensor_refs(value: Any, loc: tuple) -> Iterator[tuple[Ref, tuple]]:
    if isinstance(value, Ref):
        yield value, loc
    elif isinstance(value, tuple):
        for j, item in enumerate(value):
            yield from _tensor_refs(item, loc + (j,))


def _result_alias(annotation: str | None, aliases: dict[str, _Alias], fresh: Iterator[int],
                  op: str) -> _Alias:
    """A result's alias: the written tensor itself (`Tensor(a!)`), a new view of an argument's
    storage (`Tensor(a)`), or a new tensor."""
    source = aliases.get((annotation or "").rstrip("!"))
    if source is None:
        n = next(fresh)
        return _Alias(n, n)
    if annotation.endswith("!"):
        return _Alias(source.obj, source.storage, through=source.through)
    through = source.through or (None if op == "aten::view.default" else op)
    return _Alias(next(fresh), source.storage, through=through)


def _stale(name: str, alias: _Alias, loc: tuple) -> None:
    raise ProgramError(
        loc, f"{name!r} shares its storage with a tensor written at {alias.stale} after {name!r} "
             f"was made; refimpl models no aliasing between a view and the tensor it views, so "
             f"this read is outside the model (PRG-43)")


# -- autograd (PRG-46 to PRG-51) ------------------------------------------------------------------

GRAD_DTYPES = frozenset({"float32", "float64"})
# The parameter types a saved value or a grad may have: what `save_for_backward` takes and what
# torch's custom-op autograd checks a grad against.
_GRAD_PARAM_TYPES = frozenset({"Tensor", "Tensor?"})


def _check_autograd(spec: CustomOpSpec, signature: Signature, loc: tuple,
                    custom: dict[str, _CustomOp]) -> None:
    """PRG-47 to PRG-50: what is saved, the incoming grads, the body, one grad per parameter."""
    formula = spec.autograd
    params = {p.name: p for p in signature.params}
    env: dict[str, _Value] = {}
    for k, name in enumerate(formula.save):
        where = loc + ("save", k)
        param = params.get(name)
        if param is None or param.type not in _GRAD_PARAM_TYPES:
            what = "not a parameter" if param is None else f"a {param.type} parameter"
            raise ProgramError(where, f"save names {name!r}, {what} of {spec.name}; setup_context "
                                      f"saves Tensor or Tensor? parameters (PRG-47)")
        _bind(env, name, _Value(TENSOR, where=json_path(where)), where)
    if len(formula.grad_outputs) != len(signature.returns):
        raise ProgramError(loc + ("grad_outputs",),
                           f"{len(formula.grad_outputs)} grad_outputs for the "
                           f"{len(signature.returns)} results of {spec.name}: backward receives "
                           f"one grad per result (PRG-48)")
    for k, name in enumerate(formula.grad_outputs):
        where = loc + ("grad_outputs", k)
        _bind(env, name, _Value(TENSOR, where=json_path(where)), where)
    for k, stmt in enumerate(formula.body):
        where = loc + ("body", k)
        _check_statement(stmt, where, custom, env)
        call_loc = where + ("with_effects",) if stmt.kind == "with_effects" else where
        mutated = [p.name for p in _signature_of(stmt.op, custom, call_loc + ("op",)).params
                   if p.alias and p.alias.endswith("!")]
        if mutated:
            raise ProgramError(call_loc + ("op",),
                               f"{stmt.op} writes its argument {mutated[0]!r}; a backward "
                               f"body calls no in-place op (PRG-49)")
    if len(formula.grad_inputs) != len(signature.params):
        raise ProgramError(loc + ("grad_inputs",),
                           f"{len(formula.grad_inputs)} grad_inputs for the "
                           f"{len(signature.params)} parameters of {spec.name}: backward returns "
                           f"one grad (or null) per parameter (PRG-50)")
    for k, (name, param) in enumerate(zip(formula.grad_inputs, signature.params)):
        if name is None:
            continue
        where = loc + ("grad_inputs", k)
        if param.type not in _GRAD_PARAM_TYPES:
            raise ProgramError(where, f"grad for the {param.type} parameter {param.name!r}: only "
                                      f"a Tensor or Tensor? parameter has a grad, the others "
                                      f"take null (PRG-50)")
        value = env.get(name)
        if value is None:
            raise ProgramError(where, f"grad {name!r} is not a value of the backward body "
                                      f"(PRG-50)")
        if value.kind != TENSOR:
            raise ProgramError(where, f"grad {name!r} is {value.describe()}; a grad is a tensor "
                                      f"(PRG-50)")


def _check_backward(program: Program, env: dict) -> None:
    """PRG-51: the loss sums distinct tensor outputs, named by position."""
    if program.backward is None:
        return
    loss = program.backward.loss
    if not loss:
        raise ProgramError(("backward", "loss"), "the loss sums no output; name at least one "
                                                 "output position (PRG-51)")
    for k, output in enumerate(program.outputs):
        value = None if isinstance(output, tuple) else _resolve(
            Ref(output) if isinstance(output, str) else output, ("outputs", k), env, "")
        if value is None or value.kind != TENSOR:
            raise ProgramError(("outputs", k), "a program with backward returns tensors only, "
                                               "no list output (PRG-51)")
    seen: dict[int, int] = {}
    for k, index in enumerate(loss):
        where = ("backward", "loss", k)
        if index >= len(program.outputs):
            raise ProgramError(where, f"output position {index} is out of range (the program "
                                      f"has {len(program.outputs)} outputs) (PRG-51)")
        if index in seen:
            raise ProgramError(where, f"output position {index} is in the loss twice (first at "
                                      f"{json_path(('backward', 'loss', seen[index]))}) (PRG-51)")
        seen[index] = k


# -- outputs and expect_error (PRG-21, PRG-22) ---------------------------------------------------


def _check_outputs(outputs: tuple, env: dict) -> None:
    """PRG-21: each output denotes a tensor or a list of tensors (PRG-36)."""
    for k, output in enumerate(outputs):
        if isinstance(output, tuple):
            for j, item in enumerate(output):
                _check_output(item, ("outputs", k, j), env, "an item of a list output")
        else:
            _check_output(output, ("outputs", k), env, "an output")


def _check_output(output: Ref | str, loc: tuple, env: dict, what: str) -> None:
    ref = Ref(output) if isinstance(output, str) else output
    if isinstance(output, str) and output not in env:
        raise ProgramError(loc, f"output {output!r} is not a defined value")
    value = _resolve(ref, loc, env, "not defined by the program")
    if value.kind == TENSOR or (value.kind == LIST and what == "an output"):
        return
    wanted = "a tensor" if value.kind == LIST else "a tensor or a list of tensors"
    raise ProgramError(
        loc, f"output {ref.name!r} is {value.describe()}; {what} must be {wanted}"
    )


def _check_expect_error(expect: ExpectedError | None, limits: Limits) -> None:
    if expect is None:
        return
    if len(expect.match) > limits.max_pattern_chars:
        raise ProgramError(("expect_error", "match"),
                           f"match has {len(expect.match)} characters (at most "
                           f"{limits.max_pattern_chars}, Limits.max_pattern_chars)")
    try:
        re.compile(expect.match)
    except re.error as exc:
        raise ProgramError(
            ("expect_error", "match"), f"match is not a regular expression: {exc}"
        ) from exc


# ---------------------------------------------------------------------------------------------
# Back to JSON
# ---------------------------------------------------------------------------------------------


def _arg_to_json(value: Any) -> Any:
    if isinstance(value, Ref) and value.index is None:
        return {"ref": value.name}
    if isinstance(value, Ref):
        return {"ref": value.name, "index": value.index}
    if isinstance(value, tuple):
        return [_arg_to_json(v) for v in value]
    return value


def _block_to_json(block: Block) -> dict:
    doc: dict[str, Any] = {"body": [_stmt_to_json(s) for s in block.body]}
    if block.outputs:
        doc["outputs"] = list(block.outputs)
    return doc


def _hop_to_json(stmt: Stmt) -> dict:
    names = [a.name for a in stmt.args]
    if stmt.kind == "cond":
        inner = {"pred": names[0], "operands": names[1:],
                 "true": _block_to_json(stmt.blocks[0]), "false": _block_to_json(stmt.blocks[1])}
    else:
        inner = {"carried": names, "iterations": stmt.iterations,
                 "cond": _block_to_json(stmt.blocks[0]), "body": _block_to_json(stmt.blocks[1])}
    doc: dict[str, Any] = {stmt.kind: inner}
    if stmt.outs:
        doc["outs"] = list(stmt.outs)
    return doc


def _stmt_to_json(stmt: Stmt) -> dict:
    if stmt.kind in HOP_OPS:
        return _hop_to_json(stmt)
    call: dict[str, Any] = {"op": stmt.op}
    if stmt.args:
        call["args"] = [_arg_to_json(a) for a in stmt.args]
    if stmt.kwargs:
        call["kwargs"] = {k: _arg_to_json(v) for k, v in stmt.kwargs.items()}
    doc = {"with_effects": call} if stmt.kind == "with_effects" else call
    if stmt.outs:
        doc["outs"] = list(stmt.outs)
    return doc


def _input_to_json(spec: InputSpec) -> dict:
    doc = {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype}
    if spec.fill != "arange":
        doc["fill"] = _copy_fill(spec.fill)
    if spec.requires_grad:
        doc["requires_grad"] = True
    return doc


def _custom_op_to_json(spec: CustomOpSpec) -> dict:
    doc: dict[str, Any] = {"name": spec.name, "schema": spec.schema, "behavior": spec.behavior,
                           "effect": spec.effect}
    formula = spec.autograd
    if formula is not None:
        doc["autograd"] = {"save": list(formula.save), "grad_outputs": list(formula.grad_outputs),
                           "body": [_stmt_to_json(s) for s in formula.body],
                           "grad_inputs": list(formula.grad_inputs)}
    return doc


def program_to_json(program: Program) -> dict:
    """The program as a JSON document; fields equal to their default are left out."""
    doc: dict[str, Any] = {"format": program.format, "name": program.name}
    if program.description:
        doc["description"] = program.description
    if program.custom_ops:
        doc["custom_ops"] = [_custom_op_to_json(c) for c in program.custom_ops]
    if program.register_effects:
        doc["register_effects"] = dict(program.register_effects)
    if program.inputs:
        doc["inputs"] = [_input_to_json(i) for i in program.inputs]
    doc["body"] = [_stmt_to_json(s) for s in program.body]
    if program.outputs:
        doc["outputs"] = [o if isinstance(o, str) else _arg_to_json(o) for o in program.outputs]
    if program.backward is not None:
        doc["backward"] = {"loss": list(program.backward.loss)}
    if program.expect_error is not None:
        expect = {"type": program.expect_error.type}
        if program.expect_error.match:
            expect["match"] = program.expect_error.match
        doc["expect_error"] = expect
    return doc


def dump_program(program: Program) -> str:
    """The canonical text of a program: `program_to_json`, one list element per line.

    Catalog files and findings are written in this form.
    """
    doc = program_to_json(program)
    lines = ["{"]
    for n, (key, value) in enumerate(doc.items()):
        comma = "," if n < len(doc) - 1 else ""
        if isinstance(value, list) and any(isinstance(v, dict) for v in value):
            items = [f"    {json.dumps(v)}" for v in value]
            lines.append(f'  "{key}": [\n' + ",\n".join(items) + f"\n  ]{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"
