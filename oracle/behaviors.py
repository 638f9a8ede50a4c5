"""The behaviour catalog, the modelled aten ops, and the helpers both worlds share.

Models: what torch 2.13.0 does when a `torch.library.custom_op` kernel runs (the Python function
receives every schema argument, defaults filled in) and the aten ops the project models: refimpl's
op table (`refimpl.aten.OPS`, [NOTE: one op table] there) is the one list; `KNOWN_ATEN_OPS`,
`aten_ops()` derives from it, and `import_effects()` from the active
profile. torch's own schemas are recorded into `aten_schemas.json` by
`python3 -m oracle.tools.record_aten_schemas`, and a test checks that refimpl's equal them.
Spec: specs/program.md (effects-program/1): PRG-9, PRG-14, PRG-26, PRG-27, PRG-28, PRG-34,
PRG-37 (int32 inputs).

This module is world-neutral: it never imports torch; from refimpl (torch-free) it reads the
schema parser, the op table and the active profile. A runner hands
`apply_behavior` an *ops adaptor* (`add_scalar(x, c)`, `mul_scalar(x, c)`, `empty_like(x)`) for
its world, so the torch runner and the refimpl runner compute custom-op results with the same code.

Simplifications:
1. Five behaviours (`record`, `split`, `chunks`, `observe`, `stamp`); each is built only from
   aten ops, so both worlds can model it exactly.
2. Schema strings are parsed by `refimpl.schema.parse_schema` (torch's grammar, torch-free)
   and read through a flat view (`Signature`, `Param`) whose types have the alias annotation
   stripped (`Tensor(a!)` -> `Tensor`, kept apart in `Param.alias`).
3. `aten::_async_error.default` is not modelled: torch 2.13.0 has no such op
   (`refimpl.aten.SEED_ONLY_OPS`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from refimpl import aten as refimpl_aten
from refimpl.profiles import get_profile
from refimpl.schema import SchemaParseError, parse_schema

__all__ = [
    "ATEN_SCHEMAS_PATH",
    "BEHAVIORS",
    "AtenOp",
    "Behavior",
    "DTYPES",
    "KNOWN_ATEN_OPS",
    "Param",
    "Signature",
    "apply_behavior",
    "aten_ops",
    "bind_arguments",
    "fill_values",
    "import_effects",
    "make_event",
    "op_signature",
    "parse_signature",
    "recorded_aten_schemas",
    "registry_qualname",
    "schema_mismatches",
]

# ---------------------------------------------------------------------------------------------
# Modelled aten ops: derived from refimpl's op table ([NOTE: one op table] in refimpl/aten.py)
# ---------------------------------------------------------------------------------------------

# A package data file (pyproject.toml's package-data), read through importlib.resources (RPT-17).
ATEN_SCHEMAS_PATH = resources.files("oracle") / "aten_schemas.json"


def _overload_name(op: Any) -> str:
    """`aten::add.Tensor`, `aten::cos.default`: the overload name programs use (PRG-14)."""
    return f"{op.namespace}::{op.__name__}"


class _ModelledAtenOps(Mapping):
    """Overload name -> schema text (`str(op._schema)`) of every modelled aten op.

    A live view of `refimpl.aten.OPS`: its `aten` ops less `refimpl.aten.SEED_ONLY_OPS`, in
    table order, so an op added to refimpl's table is a modelled op here (loader, generator,
    effect set, schema recording) with nothing else to edit. The schema text is refimpl's, which
    a test checks against torch's recorded one (`recorded_aten_schemas`). torch omits `.default`
    in the text: `aten::_print(str s) -> ()`.
    """

    _cache: tuple[tuple, dict[str, str]] = ((), {})

    def _table(self) -> dict[str, str]:
        # Rebuilt only when refimpl's table changes (an op or its schema object replaced):
        # printing every schema on each lookup made the generator spend most of its time here.
        key = tuple((q, id(op), id(op._schema)) for q, op in refimpl_aten.OPS.items())
        if key != self._cache[0]:
            table = {
                _overload_name(op): str(op._schema)
                for qualname, op in refimpl_aten.OPS.items()
                if op.namespace == "aten" and qualname not in refimpl_aten.SEED_ONLY_OPS
            }
            type(self)._cache = (key, table)
        return self._cache[1]

    def __getitem__(self, name: str) -> str:
        return self._table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __repr__(self) -> str:
        return f"KNOWN_ATEN_OPS({self._table()!r})"


KNOWN_ATEN_OPS: Mapping[str, str] = _ModelledAtenOps()


def recorded_aten_schemas() -> dict[str, str]:
    """The torch-observed schemas in `aten_schemas.json` (`{}` when the file is missing, so that
    the recording tool can import this module to write it)."""
    if not ATEN_SCHEMAS_PATH.is_file():
        return {}
    return dict(json.loads(ATEN_SCHEMAS_PATH.read_text(encoding="utf-8"))["schemas"])


def schema_mismatches() -> list[str]:
    """Where refimpl's op table and torch's recorded schemas disagree, one line each: a modelled
    op torch's recording lacks or prints differently, or a recorded op refimpl does not model.
    Empty when they agree (a test asserts it; rerun the recording tool after adding an op)."""
    recorded = recorded_aten_schemas()
    lines = []
    for name, schema in KNOWN_ATEN_OPS.items():
        if name not in recorded:
            lines.append(f"{name}: modelled by refimpl, not in {ATEN_SCHEMAS_PATH.name}")
        elif recorded[name] != schema:
            lines.append(f"{name}: refimpl {schema!r}, torch {recorded[name]!r}")
    lines.extend(f"{name}: recorded from torch, not in refimpl's op table"
                 for name in recorded if name not in KNOWN_ATEN_OPS)
    return lines


@dataclass(frozen=True)
class AtenOp:
    """One modelled aten op as the oracle sees it under the active profile.

    `effectful`: the profile registers an effect on it at import (`import_registrations`).
    `mutates`: the schema writes one of its arguments (an `(a!)` annotation).
    """

    name: str
    schema: str
    signature: Signature
    effectful: bool
    mutates: bool


def aten_ops() -> dict[str, AtenOp]:
    """Every modelled aten op (`KNOWN_ATEN_OPS`) with its signature and effect, in table order."""
    effectful = import_effects()
    ops = {}
    for name, schema in KNOWN_ATEN_OPS.items():
        sig = op_signature(name)
        mutates = any(a is not None and a.endswith("!")
                      for a in (*(p.alias for p in sig.params), *sig.return_aliases))
        ops[name] = AtenOp(name, schema, sig, registry_qualname(name) in effectful, mutates)
    return ops


def registry_qualname(overload: str) -> str:
    """The key torch's effect registry uses for an overload name (PRG-12, EFF-2).

    `aten::cos.default` -> `aten::cos`; `aten::add.Tensor` stays `aten::add.Tensor`.
    """
    return overload.removesuffix(".default")


def import_effects() -> dict[str, str]:
    """Registry qualname -> `"ORDERED"` for each op the active profile registers at import
    (`Profile.import_registrations`, EFF-8): what is effectful before a program registers
    anything."""
    return dict.fromkeys(get_profile().import_registrations, "ORDERED")


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


def op_signature(overload_name: str) -> Signature:
    """The signature of a modelled aten op, e.g. `op_signature("aten::add.Tensor")`."""
    return _cached_signature(KNOWN_ATEN_OPS[overload_name])


@cache
def _cached_signature(text: str) -> Signature:
    return parse_signature(text)


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
