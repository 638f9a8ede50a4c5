"""Hypothesis strategies for effect programs (`effects-program/1`) and for graph schedules.

Models: nothing upstream; the programs are the JSON form of the small torch functions the oracle
runs (see `oracle/program.py`), drawn so that every one is valid by construction.
Spec: specs/program.md (the format); the properties that use these strategies cite theirs.

[NOTE: statements resolved modulo the environment] A body is drawn as a list of *raw
statements*: small tuples of integers (which kind, which values) that are resolved against the
values defined so far, taking indices modulo the number of candidates. Deleting any raw
statement therefore leaves a valid program, so Hypothesis shrinks a body by removing ops
anywhere, not only at the end, and towards the first candidate value (an input).

Simplifications:
1. All tensors of one program share one shape and one dtype, so that any two values can be
   added; `int64` programs use only `add`/`mul` among the pure ops and no aten effects.
2. `mul` takes its second factor from the inputs only, so values grow at most geometrically
   with the input range (shapes are small) and float32 programs stay finite.
3. Custom ops live in the namespace `fz`, one op per drawn spec (`fz::op0`, `fz::op1`, ...);
   the torch runner renames the namespace per run.
4. Tags (the `str` arguments that land in the effect log) are the statement's position
   (`s3`), so every event of a program is distinct and any reordering is visible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from refimpl.fx.interpreter import random_topological_order

__all__ = [
    "BEHAVIOR_SCHEMAS",
    "DTYPES",
    "PURE_OPS",
    "programs",
    "schedules",
]

# Behaviour -> the schema its `fz::<name>` op gets ({} is the op's short name).
BEHAVIOR_SCHEMAS = {
    "record": "{}(Tensor x, str tag) -> Tensor",
    "observe": "{}(Tensor x, str tag) -> ()",
    "split": "{}(Tensor x) -> (Tensor, Tensor)",
    "chunks": "{}(Tensor x) -> Tensor[]",
    "stamp": "{}(str tag) -> ()",
}
CHUNKS_LENGTH = 3
DTYPES = ("float32", "float64", "int64")
# Pure ops: name -> arity. int64 programs use the ones in INT_OPS only.
PURE_OPS = {
    "aten::add.Tensor": 2,
    "aten::mul.Tensor": 2,
    "aten::sin.default": 1,
    "aten::cos.default": 1,
    "aten::neg.default": 1,
}
INT_OPS = ("aten::add.Tensor", "aten::mul.Tensor")
ATEN_EFFECT_OPS = ("aten::cos.default", "aten::sin.default")
FILLS = ("arange", "ones", "zeros")
NAMESPACE = "fz"
PICK = st.integers(0, 63)  # an index resolved modulo the candidates (see the module NOTE)


# ---------------------------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------------------------


def custom_op_specs(
    behaviors: tuple[str, ...],
    max_custom_ops: int,
    effects: tuple[str | None, ...] = ("ORDERED", None),
) -> st.SearchStrategy:
    """Lists of `(behavior, effect)` pairs; op names are given by position later."""
    spec = st.tuples(st.sampled_from(behaviors), st.sampled_from(effects))
    return st.lists(spec, min_size=0, max_size=max_custom_ops)


def _custom_op_json(index: int, behavior: str, effect: str | None) -> dict:
    short = f"op{index}"
    return {
        "name": f"{NAMESPACE}::{short}",
        "schema": BEHAVIOR_SCHEMAS[behavior].format(short),
        "behavior": behavior,
        "effect": effect,
    }


def fills(seed_max: int = 3) -> st.SearchStrategy:
    return st.one_of(
        st.sampled_from(FILLS), st.builds(lambda s: {"randn": s}, st.integers(0, seed_max))
    )


# A raw statement (see the module NOTE): (effect roll 0..99, kind pick, value pick a,
# value pick b, keep the result).
RAW_STATEMENT = st.tuples(st.integers(0, 99), PICK, PICK, PICK, st.booleans())


@dataclass
class _Builder:
    """Resolves raw statements against the values defined so far."""

    dtype: str
    inputs: list[str]
    custom: list[dict]
    aten_effects: list[str]
    density: float
    input_mutation: bool
    values: list[Any] = field(default_factory=list)  # JSON refs of tensor values, in order
    body: list[dict] = field(default_factory=list)

    def pure_ops(self) -> tuple[str, ...]:
        return INT_OPS if self.dtype == "int64" else tuple(PURE_OPS)

    def effect_kinds(self) -> list[str]:
        kinds = ["print"] + ["custom"] * bool(self.custom)
        kinds += ["aten_effect"] * bool(self.aten_effects and self.dtype != "int64")
        return kinds + ["mutation"] * bool(self.input_mutation and self.inputs)

    def pick(self, k: int) -> Any:
        return self.values[k % len(self.values)]

    def add(self, raw: tuple) -> None:
        roll, kind, a, b, keep = raw
        tag = f"s{len(self.body)}"
        effectful = roll < round(self.density * 100)
        if not self.values:  # nothing to compute with yet: only a print or a stamp
            effectful = True
        if not effectful:
            self._pure(kind, a, b)
            return
        kinds = self.effect_kinds()
        choice = kinds[kind % len(kinds)]
        if not self.values and choice != "custom":
            choice = "print"
        getattr(self, "_" + choice)(tag, kind, a, b, keep)

    def _bind(self, stmt: dict, outs: list[str]) -> None:
        if outs:
            stmt["outs"] = outs
        self.body.append(stmt)

    def _fresh(self, k: int = 0) -> str:
        return f"v{len(self.body)}" + (f"_{k}" if k else "")

    def _pure(self, kind: int, a: int, b: int) -> None:
        ops = self.pure_ops()
        op = ops[kind % len(ops)]
        args = [self.pick(a)]
        if PURE_OPS[op] == 2:
            second = (
                {"ref": self.inputs[b % len(self.inputs)]}
                if op == "aten::mul.Tensor"
                else self.pick(b)
            )
            args.append(second)
        name = self._fresh()
        self._bind({"op": op, "args": args}, [name])
        self.values.append({"ref": name})

    def _print(self, tag: str, kind: int, a: int, b: int, keep: bool) -> None:
        self._bind({"op": "aten::_print.default", "args": [tag]}, [])

    def _aten_effect(self, tag: str, kind: int, a: int, b: int, keep: bool) -> None:
        op = self.aten_effects[kind % len(self.aten_effects)]
        name = self._fresh()
        self._bind({"op": op, "args": [self.pick(a)]}, [name])
        self.values.append({"ref": name})

    def _mutation(self, tag: str, kind: int, a: int, b: int, keep: bool) -> None:
        target = {"ref": self.inputs[a % len(self.inputs)]}
        self._bind({"op": "aten::add_.Tensor", "args": [target, self.pick(b)]}, [])

    def _custom(self, tag: str, kind: int, a: int, b: int, keep: bool) -> None:
        spec = self.custom[kind % len(self.custom)]
        behavior = spec["behavior"]
        if behavior != "stamp" and not self.values:
            self._print(tag, kind, a, b, keep)
            return
        op = spec["name"] + ".default"
        args = {
            "record": lambda: [self.pick(a), tag],
            "observe": lambda: [self.pick(a), tag],
            "split": lambda: [self.pick(a)],
            "chunks": lambda: [self.pick(a)],
            "stamp": lambda: [tag],
        }[behavior]()
        outs = self._custom_outs(behavior, keep)
        self._bind({"op": op, "args": args}, outs)

    def _custom_outs(self, behavior: str, keep: bool) -> list[str]:
        if not keep or behavior in ("observe", "stamp"):
            return []
        if behavior == "record":
            names = [self._fresh()]
            self.values.append({"ref": names[0]})
        elif behavior == "split":
            names = [self._fresh(1), self._fresh(2)]
            self.values.extend({"ref": n} for n in names)
        else:
            names = [self._fresh()]
            self.values.extend({"ref": names[0], "index": i} for i in range(CHUNKS_LENGTH))
        return names


# ---------------------------------------------------------------------------------------------
# programs()
# ---------------------------------------------------------------------------------------------


@st.composite
def programs(
    draw: Any,
    *,
    max_ops: int = 12,
    min_ops: int = 0,
    effect_density: float = 0.5,
    max_custom_ops: int = 3,
    behaviors: tuple[str, ...] = tuple(BEHAVIOR_SCHEMAS),
    custom_effects: tuple[str | None, ...] = ("ORDERED", None),
    aten_effects: bool = True,
    input_mutation: bool = True,
    max_inputs: int = 3,
    max_rank: int = 2,
    max_dim: int = 3,
    dtypes: tuple[str, ...] = DTYPES,
    name: str = "fuzz",
) -> dict:
    """A program JSON document that `load_program` accepts (valid by construction).

    Knobs:
    - `max_ops`, `min_ops`: body length (keep `min_ops` 0 so shrinking can remove ops);
    - `effect_density`: 0..1, the share of effectful statements (prints, custom-op calls,
      registered aten effects, input mutations);
    - `max_custom_ops`, `behaviors`, `custom_effects` ("ORDERED" and/or None): the custom ops;
    - `aten_effects`: may register ORDERED on cos/sin;
    - `input_mutation`: may use `aten::add_.Tensor` on an input;
    - `max_inputs`, `max_rank`, `max_dim`, `dtypes`: inputs, shapes and dtypes.
    """
    dtype = draw(st.sampled_from(dtypes), label="dtype")
    shape = draw(st.lists(st.integers(1, max_dim), max_size=max_rank), label="shape")
    n_inputs = draw(st.integers(1, max(1, max_inputs)), label="number of inputs")
    input_fills = draw(st.lists(fills(), min_size=n_inputs, max_size=n_inputs), label="fills")
    specs = draw(custom_op_specs(behaviors, max_custom_ops, custom_effects), label="custom ops")
    registered = []
    if aten_effects:
        registered = draw(
            st.lists(st.sampled_from(ATEN_EFFECT_OPS), unique=True, max_size=2),
            label="aten ops made ORDERED",
        )
    raw = draw(st.lists(RAW_STATEMENT, min_size=min_ops, max_size=max_ops), label="body")
    custom = [_custom_op_json(i, b, e) for i, (b, e) in enumerate(specs)]
    inputs = [f"x{i}" for i in range(n_inputs)]
    builder = _Builder(dtype, inputs, custom, registered, effect_density, input_mutation)
    builder.values = [{"ref": n} for n in inputs]
    for item in raw:
        builder.add(item)
    picks = draw(st.lists(PICK, max_size=3), label="outputs")
    outputs = _unique([builder.pick(k) for k in picks])
    return _document(name, custom, registered, inputs, shape, dtype, input_fills, builder, outputs)


def _unique(refs: list[dict]) -> list[Any]:
    seen, out = set(), []
    for ref in refs:
        key = (ref["ref"], ref.get("index"))
        if key not in seen:
            seen.add(key)
            out.append(ref["ref"] if ref.get("index") is None else ref)
    return out


def _document(
    name: str,
    custom: list,
    registered: list,
    inputs: list,
    shape: list,
    dtype: str,
    input_fills: list,
    builder: _Builder,
    outputs: list,
) -> dict:
    doc: dict[str, Any] = {"format": "effects-program/1", "name": name}
    if custom:
        doc["custom_ops"] = custom
    if registered:
        doc["register_effects"] = {op: "ORDERED" for op in registered}
    doc["inputs"] = [_input_json(n, shape, dtype, f) for n, f in zip(inputs, input_fills)]
    doc["body"] = builder.body
    doc["outputs"] = outputs
    return doc


def _input_json(name: str, shape: list, dtype: str, fill: Any) -> dict:
    doc = {"name": name, "shape": list(shape), "dtype": dtype}
    if fill != "arange":
        doc["fill"] = fill
    return doc


# ---------------------------------------------------------------------------------------------
# schedules()
# ---------------------------------------------------------------------------------------------


def schedules(graph: Any) -> st.SearchStrategy:
    """Random topological orders of `graph`'s compute nodes (`Interpreter.run(schedule=...)`).

    Drawn through `random_topological_order` with a drawn seed; the seed shrinks to 0.
    """
    return st.integers(0, 2**32 - 1).map(
        lambda seed: random_topological_order(graph, random.Random(seed))
    )
