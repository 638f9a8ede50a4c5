"""The behaviour catalog, the modelled aten ops, and the helpers both worlds share.

Models: what torch 2.13.0 does when a `torch.library.custom_op` kernel runs (the Python function
receives every schema argument, defaults filled in) and the schemas of the aten ops the project
models (`OpOverload._schema`, recorded into `aten_schemas.json` by
`python3 -m oracle.tools.record_aten_schemas`).
Spec: specs/program.md (effects-program/1), sections "Statements", "Running a program" and
"Behaviours";
clauses PRG-9, PRG-14, PRG-26, PRG-27, PRG-28.

This module is world-neutral: it imports neither torch nor refimpl's tensors. A runner hands
`apply_behavior` an *ops adaptor* (`add_scalar(x, c)`, `mul_scalar(x, c)`, `empty_like(x)`) for
its world, so the torch runner and the refimpl runner compute custom-op results with the same code.

Simplifications:
1. Five behaviours (`record`, `split`, `chunks`, `observe`, `stamp`); each is built only from
   aten ops, so both worlds can model it exactly.
2. Schema strings are read through `parse_signature`, a flat view (`Signature`, `Param`) with
   alias annotations stripped from the types. It uses `refimpl.schema.parse_schema` when that
   module is importable and a small local parser otherwise; see [NOTE: two schema parsers].
3. `aten::_async_error.default` is not modelled: torch 2.13.0 has no such op.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

try:  # [NOTE: two schema parsers]
    from refimpl.schema import parse_schema as _refimpl_parse_schema
except ImportError:  # refimpl.schema not written yet: the local parser below stands in.
    _refimpl_parse_schema = None

__all__ = [
    "ATEN_OP_NAMES",
    "ATEN_SCHEMAS_PATH",
    "BEHAVIORS",
    "Behavior",
    "DTYPES",
    "KNOWN_ATEN_OPS",
    "Param",
    "Signature",
    "apply_behavior",
    "bind_arguments",
    "fill_values",
    "make_event",
    "op_signature",
    "parse_signature",
]

# [NOTE: two schema parsers]
# The oracle reads schema strings in two places: the aten schemas recorded from torch and the
# custom-op schemas a program declares. The project's parser is `refimpl.schema.parse_schema`;
# when it is importable it is used, and `_parse_signature_local` (enough of torch's schema
# grammar for the types effect programs use) is only a stand-in. Both are reduced to the same
# flat `Signature`, and tests/oracle/test_program.py checks that they agree on every schema of
# the catalog and of `KNOWN_ATEN_OPS`.

# ---------------------------------------------------------------------------------------------
# Modelled aten ops (the ONE list; `aten_schemas.json` holds their torch 2.13.0 schemas)
# ---------------------------------------------------------------------------------------------

ATEN_OP_NAMES: tuple[str, ...] = (
    "aten::_print.default",
    "aten::add.Tensor",
    "aten::add.Scalar",
    "aten::sub.Tensor",
    "aten::sub.Scalar",
    "aten::mul.Tensor",
    "aten::mul.Scalar",
    "aten::sin.default",
    "aten::cos.default",
    "aten::neg.default",
    "aten::clone.default",
    "aten::view.default",
    "aten::sum.default",
    "aten::empty_like.default",
    "aten::zeros_like.default",
    "aten::copy_.default",
    "aten::add_.Tensor",
    "aten::absolute_.default",
    "aten::_linalg_check_errors.default",
)

ATEN_SCHEMAS_PATH = Path(__file__).with_name("aten_schemas.json")


def _load_aten_schemas() -> dict[str, str]:
    """Read the recorded schemas; keep the order of `ATEN_OP_NAMES`.

    A missing file reads as empty, so that the recording tool can import this module to write it.
    """
    if not ATEN_SCHEMAS_PATH.exists():
        return {}
    recorded = json.loads(ATEN_SCHEMAS_PATH.read_text(encoding="utf-8"))["schemas"]
    return {name: recorded[name] for name in ATEN_OP_NAMES if name in recorded}


# Overload name (`ns::name.overload`) -> schema text exactly as torch 2.13.0 prints `op._schema`
# (`aten::_print(str s) -> ()`: torch omits `.default` there).
KNOWN_ATEN_OPS: dict[str, str] = _load_aten_schemas()

DTYPES: dict[str, type] = {
    "float32": np.float32,
    "float64": np.float64,
    "int64": np.int64,
    "bool": np.bool_,
}

# ---------------------------------------------------------------------------------------------
# Signatures: a flat view of a schema string
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One schema argument. `type` has alias annotations removed (`Tensor(a!)` -> `Tensor`)."""

    name: str
    type: str
    kwarg_only: bool = False
    has_default: bool = False
    default: Any = None
    alias: str | None = None  # the annotation as written, e.g. "a!"; None when there is none


@dataclass(frozen=True)
class Signature:
    """A parsed schema: `name` as written (`rec`, `aten::add.Tensor`), params, return types."""

    name: str
    params: tuple[Param, ...]
    returns: tuple[str, ...]
    return_aliases: tuple[str | None, ...] = ()

    @property
    def positional(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if not p.kwarg_only)


_ALIAS_RE = re.compile(r"\(([^)]*)\)")
_SCHEMA_RE = re.compile(
    r"^\s*(?P<name>[A-Za-z_]\w*(?:::[A-Za-z_]\w*)?(?:\.[A-Za-z_]\w*)?)\s*"
    r"\((?P<args>.*)\)\s*->\s*(?P<rets>.+?)\s*$",
    re.S,
)
_ARG_RE = re.compile(
    r"^(?P<type>[A-Za-z_][\w.]*(?:\([^)]*\))?(?:\[\d*\])?\??)\s+(?P<name>[A-Za-z_]\w*)"
    r"(?:\s*=\s*(?P<default>.+))?$",
    re.S,
)
_RET_RE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:\([^)]*\))?(?:\[\d*\])?\??)(?:\s+\w+)?$")


def _split_top_level(text: str) -> list[str]:
    """Split at commas outside brackets and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _normalize_type(text: str) -> tuple[str, str | None]:
    """`Tensor(a!)` -> (`Tensor`, `a!`); `int[2]` -> `int[]`; `Optional[int]` -> `int?`.

    The last form is how torch prints an `Argument.type` (`List[Tensor]`, `Optional[int]`).
    """
    alias = _ALIAS_RE.search(text)
    bare = _ALIAS_RE.sub("", text).replace(" ", "")
    bare = re.sub(r"\[\d+\]", "[]", bare)
    return _typing_to_schema(bare), (alias.group(1) if alias else None)


def _typing_to_schema(text: str) -> str:
    """`List[Optional[Tensor]]` -> `Tensor?[]`; other text unchanged."""
    match = re.fullmatch(r"(Optional|List)\[(.+)\]", text)
    if not match:
        return text
    return _typing_to_schema(match.group(2)) + ("?" if match.group(1) == "Optional" else "[]")


def _parse_default(text: str) -> Any:
    """Schema default literal -> Python value; unknown names (`contiguous_format`) stay text."""
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text.strip()


def _parse_signature_local(text: str) -> Signature:
    """Parse `name(args) -> rets` far enough for effect programs; raise ValueError otherwise."""
    match = _SCHEMA_RE.match(text)
    if not match:
        raise ValueError(f"not a schema of the form 'name(args) -> rets': {text!r}")
    params, kwarg_only = [], False
    for part in _split_top_level(match.group("args")):
        if part == "*":
            kwarg_only = True
            continue
        arg = _ARG_RE.match(part)
        if not arg:
            raise ValueError(f"cannot parse schema argument {part!r}")
        type_, alias = _normalize_type(arg.group("type"))
        has_default = arg.group("default") is not None
        default = _parse_default(arg.group("default")) if has_default else None
        params.append(Param(arg.group("name"), type_, kwarg_only, has_default, default, alias))
    returns = _parse_returns_local(match.group("rets"))
    return Signature(
        match.group("name"),
        tuple(params),
        tuple(t for t, _ in returns),
        tuple(a for _, a in returns),
    )


def _parse_returns_local(text: str) -> list[tuple[str, str | None]]:
    text = text.strip()
    if text.startswith("(") and text.endswith(")"):
        items = _split_top_level(text[1:-1])
    else:
        items = [text]
    out = []
    for item in items:
        ret = _RET_RE.match(item)
        if not ret:
            raise ValueError(f"cannot parse schema return {item!r}")
        out.append(_normalize_type(ret.group("type")))
    return out


def _from_refimpl_schema(schema: Any) -> Signature:
    """Reduce a `refimpl.schema.FunctionSchema` to the flat `Signature`."""
    params = []
    for arg in schema.arguments:
        type_, alias = _normalize_type(str(arg.type))
        alias = alias or _alias_text(getattr(arg, "alias_info", None))
        has_default = bool(arg.has_default_value())
        default = arg.default_value if has_default else None
        params.append(Param(arg.name, type_, bool(arg.kwarg_only), has_default, default, alias))
    returns = [_normalize_type(str(r.type)) for r in schema.returns]
    aliases = [
        a or _alias_text(getattr(r, "alias_info", None))
        for r, (_, a) in zip(schema.returns, returns)
    ]
    name = str(getattr(schema, "name", ""))
    overload = str(getattr(schema, "overload_name", "") or "")
    full = f"{name}.{overload}" if overload else name
    return Signature(full, tuple(params), tuple(t for t, _ in returns), tuple(aliases))


def _alias_text(alias_info: Any) -> str | None:
    if alias_info is None:
        return None
    text = str(alias_info)
    return text.strip("()") or None


def parse_signature(text: str) -> Signature:
    """Parse a schema string (see [NOTE: two schema parsers]); raise ValueError if it is bad."""
    if _refimpl_parse_schema is None:
        return _parse_signature_local(text)
    try:
        schema = _refimpl_parse_schema(text)
    except Exception as exc:  # any parser failure is "not a schema" to the program loader
        raise ValueError(f"cannot parse schema {text!r}: {exc}") from exc
    return _from_refimpl_schema(schema)


@cache
def op_signature(overload_name: str) -> Signature:
    """The signature of a modelled aten op, e.g. `op_signature("aten::add.Tensor")`."""
    return parse_signature(KNOWN_ATEN_OPS[overload_name])


def bind_arguments(sig: Signature, args: tuple | list, kwargs: dict) -> tuple:
    """All argument values in schema order, defaults filled in: what a custom op kernel receives.

    The program loader has already checked arity and names (PRG-15), so this only binds.
    """
    values = list(args)
    for param in sig.params[len(values) :]:
        if param.name in kwargs:
            values.append(kwargs[param.name])
        else:
            values.append(param.default)
    return tuple(values)


# ---------------------------------------------------------------------------------------------
# Behaviours
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Behavior:
    """A custom-op behaviour: the schema shapes it allows and what its kernel computes.

    `returns`: the exact return types the schema must declare. `tensor_first`: the first
    parameter must be a positional `Tensor` (the `x` the result is computed from).
    `no_tensors`: the schema may have no `Tensor`/`Tensor[]`/`Tensor?` parameter at all.
    `list_length`: the length of a `Tensor[]` result (None when the result is not a list).
    """

    name: str
    returns: tuple[str, ...]
    tensor_first: bool
    no_tensors: bool
    list_length: int | None
    doc: str


BEHAVIORS: dict[str, Behavior] = {
    b.name: b
    for b in (
        Behavior("record", ("Tensor",), True, False, None, "returns x + 1 (a new tensor)"),
        Behavior("split", ("Tensor", "Tensor"), True, False, None, "returns (x + 1, x * 2)"),
        Behavior("chunks", ("Tensor[]",), True, False, 3, "returns [x + 1, x + 2, x + 3]"),
        Behavior("observe", (), True, False, None, "returns nothing"),
        Behavior("stamp", (), False, True, None, "takes no tensor, returns nothing"),
    )
}


def _record_real(ops: Any, x: Any) -> Any:
    return ops.add_scalar(x, 1)


def _split_real(ops: Any, x: Any) -> tuple:
    return (ops.add_scalar(x, 1), ops.mul_scalar(x, 2))


def _chunks_real(ops: Any, x: Any) -> list:
    return [ops.add_scalar(x, k) for k in (1, 2, 3)]


def _nothing(ops: Any, x: Any) -> None:
    return None


_REAL_RULES: dict[str, Callable[[Any, Any], Any]] = {
    "record": _record_real,
    "split": _split_real,
    "chunks": _chunks_real,
    "observe": _nothing,
    "stamp": _nothing,
}


def _record_fake(ops: Any, x: Any) -> Any:
    return ops.empty_like(x)


def _split_fake(ops: Any, x: Any) -> tuple:
    return (ops.empty_like(x), ops.empty_like(x))


def _chunks_fake(ops: Any, x: Any) -> list:
    return [ops.empty_like(x) for _ in range(3)]


_FAKE_RULES: dict[str, Callable[[Any, Any], Any]] = {
    "record": _record_fake,
    "split": _split_fake,
    "chunks": _chunks_fake,
    "observe": _nothing,
    "stamp": _nothing,
}


def apply_behavior(name: str, ops: Any, args: tuple | list, *, fake: bool = False) -> Any:
    """Compute a custom op's result from its arguments in schema order (`bind_arguments`).

    `ops` is the world's adaptor (`add_scalar`, `mul_scalar`, `empty_like`); `fake=True` gives
    the fake (meta) impl: the same shapes and dtypes from `empty_like`.
    """
    behavior = BEHAVIORS[name]
    x = args[0] if behavior.tensor_first else None
    rules = _FAKE_RULES if fake else _REAL_RULES
    return rules[name](ops, x)


# ---------------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------------


def _param_type(param: Any) -> str:
    """The bare type of a schema argument: a `Param`, any object with `.type`, or a string."""
    return _normalize_type(str(getattr(param, "type", param)))[0]


def _freeze(value: Any) -> Any:
    """Lists become tuples so that events are hashable and compare the same in both worlds."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _shape(tensor: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in tensor.shape)


def make_event(qualname: str, schema_args: Any, args: tuple | list) -> tuple:
    """The effect-log event of one real kernel run: `(qualname, literals, shapes)`.

    `schema_args` are the schema's arguments (`Param`s, torch `Argument`s, refimpl
    `Argument`s or type strings) and `args` their values in the same order. Tensor values give
    their shape, each element of a `Tensor[]` its own; every other value is a literal.
    """
    literals, shapes = [], []
    for param, value in zip(schema_args, args, strict=True):
        kind = _param_type(param)
        if kind == "Tensor[]":
            shapes.extend(_shape(v) for v in value)
        elif kind in ("Tensor", "Tensor?") and value is not None:
            shapes.append(_shape(value))
        elif kind != "Tensor?":
            literals.append(_freeze(value))
    return (qualname, tuple(literals), tuple(shapes))


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


def fill_values(fill: str | dict, shape: tuple | list, dtype: str) -> np.ndarray:
    """The values of a program input, identical in both worlds.

    `"arange"`: 0, 1, 2, ... in row-major order; `"ones"`, `"zeros"`; `{"randn": seed}`:
    `np.random.default_rng(seed).standard_normal(shape)`. Each is computed in float64 (int64
    for arange) and then cast with numpy's `astype` to `dtype` (bool: non-zero is True).
    """
    shape = tuple(int(d) for d in shape)
    if isinstance(fill, dict):
        values = np.random.default_rng(fill["randn"]).standard_normal(shape)
    elif fill == "arange":
        values = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)
    elif fill == "ones":
        values = np.ones(shape)
    elif fill == "zeros":
        values = np.zeros(shape)
    else:
        raise ValueError(f"unknown fill {fill!r}")
    return values.astype(DTYPES[dtype])
