"""The behaviour catalog, the modelled aten ops, and the helpers both worlds share.

Models: what torch 2.13.0 does when a `torch.library.custom_op` kernel runs (the Python function
receives every schema argument, defaults filled in) and the schemas of the aten ops the project
models (`OpOverload._schema`, recorded into `aten_schemas.json` by
`python3 -m oracle.tools.record_aten_schemas`).
Spec: specs/program.md (effects-program/1): PRG-9, PRG-14, PRG-26, PRG-27, PRG-28, PRG-34,
PRG-37 (int32 inputs).

This module is world-neutral: it never imports torch, and from refimpl only the schema parser
(`refimpl.schema`, itself torch-free). A runner hands
`apply_behavior` an *ops adaptor* (`add_scalar(x, c)`, `mul_scalar(x, c)`, `empty_like(x)`) for
its world, so the torch runner and the refimpl runner compute custom-op results with the same code.

Simplifications:
1. Five behaviours (`record`, `split`, `chunks`, `observe`, `stamp`); each is built only from
   aten ops, so both worlds can model it exactly.
2. Schema strings are parsed by `refimpl.schema.parse_schema` (torch's grammar, torch-free)
   and read through a flat view (`Signature`, `Param`) whose types have the alias annotation
   stripped (`Tensor(a!)` -> `Tensor`, kept apart in `Param.alias`).
3. `aten::_async_error.default` is not modelled: torch 2.13.0 has no such op.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from refimpl.schema import SchemaParseError, parse_schema

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
    "int32": np.int32,
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


def _alias_text(alias_info: Any) -> str | None:
    """`AliasInfo('(a!)')` -> `"a!"`; None when there is no annotation."""
    if alias_info is None:
        return None
    return str(alias_info).strip("()") or None


def _param_from_argument(arg: Any) -> Param:
    has_default = bool(arg.has_default_value())
    return Param(
        name=arg.name,
        type=_normalize_type(str(arg.type))[0],
        kwarg_only=bool(arg.kwarg_only),
        has_default=has_default,
        default=arg.default_value if has_default else None,
        alias=_alias_text(arg.alias_info),
    )


def parse_signature(text: str) -> Signature:
    """Parse a schema string with `refimpl.schema.parse_schema` (torch's grammar) and flatten it.

    Raises ValueError with the parser's message when the text is not a schema.
    """
    try:
        schema = parse_schema(text)
    except SchemaParseError as exc:
        raise ValueError(str(exc).splitlines()[0]) from exc
    name = schema.name + (f".{schema.overload_name}" if schema.overload_name else "")
    return Signature(
        name=name,
        params=tuple(_param_from_argument(arg) for arg in schema.arguments),
        returns=tuple(_normalize_type(str(r.type))[0] for r in schema.returns),
        return_aliases=tuple(_alias_text(r.alias_info) for r in schema.returns),
    )


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
    their shape, each element of a `Tensor[]` its own, a `None` for `Tensor?` stands as `None`
    in `shapes` (PRG-34); every other value is a literal.
    """
    literals, shapes = [], []
    for param, value in zip(schema_args, args, strict=True):
        kind = _param_type(param)
        if kind == "Tensor[]":
            shapes.extend(_shape(v) for v in value)
        elif kind in ("Tensor", "Tensor?"):
            shapes.append(None if value is None else _shape(value))  # PRG-34: None holds a place
        else:
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


# ---------------------------------------------------------------------------------------------
# Kernels (both worlds register these for a program's custom ops)
# ---------------------------------------------------------------------------------------------


def custom_op_kernels(spec: Any, ops: Any, on_event: Callable[[tuple], None]
                      ) -> tuple[Callable, Callable]:
    """The real kernel (reports its event, then computes the behaviour) and the fake impl.

    `ops` is the world's adaptor; `on_event` receives the event of each real run. The fake impl
    never reports: fake tensors must not cause side effects.
    """
    sig = parse_signature(spec.schema)

    def kernel(*args: Any, **kwargs: Any) -> Any:
        values = bind_arguments(sig, args, kwargs)
        on_event(make_event(spec.name, sig.params, values))
        return apply_behavior(spec.behavior, ops, values)

    def fake(*args: Any, **kwargs: Any) -> Any:
        values = bind_arguments(sig, args, kwargs)
        return apply_behavior(spec.behavior, ops, values, fake=True)

    return kernel, fake
