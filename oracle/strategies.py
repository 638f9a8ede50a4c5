"""Hypothesis strategies for effect programs (`effects-program/1`) and for graph schedules.

Models: nothing upstream; the programs are the JSON form of the small torch functions the oracle
runs (see `oracle/program.py`), drawn so that every one is valid by construction.
Spec: specs/program.md (the format); RPT-32 (what the generator draws); the properties that use
these strategies cite theirs.

[NOTE: statements resolved modulo the environment] A body is drawn as a list of *raw
statements*: small tuples of integers (which kind, which values, which argument forms) that are
resolved against the values defined so far, taking indices modulo the number of candidates.
Deleting any raw statement therefore leaves a valid program, so Hypothesis shrinks a body by
removing ops anywhere, not only at the end, and towards the first candidate value (an input).
The argument forms of a statement are read from its own list of small integers, 0 when the list
runs out, and 0 always means the plainest form (positional, defaults left out, a ref rather than
a number): a shrunk program keeps an unusual form only where the bug needs it.

[NOTE: one op table, drawn from its schemas] The aten ops drawn are refimpl's op table
(`oracle.behaviors.aten_ops()` under the active profile) less `NOT_DRAWN`; each call is built from
the op's schema: every parameter is bound or left to its default, a positional-or-keyword one
by position or by keyword, a default given explicitly or left out, numbers where torch wraps
them for a `Tensor` (PRG-31), ints for `float` and `Scalar`, `null` for optionals. What a call
returns (its shape and dtype) is learned by running it in refimpl on zero tensors, which also
says when it would raise (a dtype that cannot be cast back in place, shapes that do not
broadcast): such a statement is dropped unless `raising=True`, where it ends the body.

Simplifications:
1. Inputs share one shape and one dtype; computed values may differ (`sum` is 0-dim, `view`
   reshapes, factories take a suffix of the shape, `sin` of an integer tensor is a float).
2. `mul` takes its tensor factors other than the first from the inputs only, and numbers from a
   small set, so values grow at most geometrically and float32 programs stay finite.
3. Custom ops live in the namespace `fz`, one op per drawn spec (`fz::op0`, `fz::op1`, ...);
   the torch runner renames the namespace per run.
4. Tags (the `str` arguments that land in the effect log) are the statement's position
   (`s3`), so every event of a program is distinct and any reordering is visible.
5. Once a tensor is written (an input, an intermediate or a view: a write through a view is
   drawn, TRC-18), the other tensors of its storage are never read again (PRG-43), and an
   in-place op never reads another tensor of the storage it writes (PRG-45).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import strategies as st

from oracle import behaviors
from oracle.behaviors import Param, Signature
from oracle.program import FORMAT
from refimpl.fx.interpreter import random_topological_order

__all__ = [
    "BEHAVIOR_SCHEMAS",
    "DTYPES",
    "HUNT",
    "NOT_DRAWN",
    "control_flow_programs",
    "TRAINING",
    "drawable_ops",
    "programs",
    "schedules",
]

# Behaviour -> the schema its `fz::<name>` op gets ({} is the op's short name, {x} the extra
# parameters drawn for it, each with its leading comma).
BEHAVIOR_SCHEMAS = {
    "record": "{}(Tensor x, str tag{x}) -> Tensor",
    "observe": "{}(Tensor x, str tag{x}) -> ()",
    "split": "{}(Tensor x{x}) -> (Tensor, Tensor)",
    "chunks": "{}(Tensor x{x}) -> Tensor[]",
    "stamp": "{}(str tag{x}) -> ()",
}
# Extra custom-op parameters: (declaration, the values a call may give, the default or None).
# Tensor-typed ones are marked by their values being the string "ref".
EXTRA_PARAMS = (
    ("float scale", (2, 0.5, -1, 0), "0.5"),
    ("int n", (0, 3, -2), "2"),
    ("Tensor? other", ("ref", None), "None"),
    ("Scalar? s", (None, 2, 1.5, True), "None"),
    ("float[] f", ([1, 2.5], [], [0]), "[0.5, 1]"),
    ("int[] dims", ([0], [], [1, 2]), None),
    ("bool flag", (True, False), "False"),
    ("str? note", (None, "n"), "None"),
)
CHUNKS_LENGTH = 3
DTYPES = ("float32", "float64", "int64", "int32")
NAMESPACE = "fz"
PICK = st.integers(0, 63)  # an index resolved modulo the candidates (see the module NOTE)
# Modelled aten ops the generator never calls, and why.
NOT_DRAWN = {
    "aten::empty.memory_format": "its values are uninitialised: no two runs can be compared",
    "aten::empty_like.default": "its values are uninitialised: no two runs can be compared",
    "aten::_linalg_check_errors.default": "needs an info tensor of int32 zeros; the catalog "
                                          "covers it",
    "aten::lift_fresh.default": "a tracing-internal op (make_fx lifts constants with it)",
    "aten::lift_fresh_copy.default": "a tracing-internal op (make_fx lifts constants with it)",
    # Modelled for while_loop conditions (CF-9); bool values in generated bodies are not vetted
    # against torch yet (one unreproduced refimpl eager/make_fx disagreement on a training
    # program that negated a comparison's result).
    "aten::lt.Scalar": "a comparison (for loop conditions): bool values not vetted yet",
    "aten::lt.Tensor": "a comparison (for loop conditions): bool values not vetted yet",
    "aten::gt.Scalar": "a comparison (for loop conditions): bool values not vetted yet",
    "aten::gt.Tensor": "a comparison (for loop conditions): bool values not vetted yet",
}
# Numbers for Scalar parameters and for the Tensor parameters torch wraps numbers for.
NUMBERS = (2, -1, 0, 1.5, -0.5, 3, 1, True)
# Keyword arguments of `programs()` for campaigns with backward programs ([NOTE: training
# programs]): effects in forward and backward, shorter bodies (a backward doubles the work).
TRAINING = {
    "min_ops": 4, "max_ops": 20, "effect_density": 0.4, "min_custom_ops": 1,
    "max_custom_ops": 3, "custom_effects": ("ORDERED", "ORDERED", None), "pure_chains": True,
    "training": True,
}
# Keyword arguments of `programs()` that aim a campaign at effect-order bugs (issue: hunting):
# long bodies dense in effects, several ORDERED ops, pure chains between them, mutated inputs
# next to them.
HUNT = {
    "min_ops": 12, "max_ops": 40, "effect_density": 0.45, "min_custom_ops": 2, "max_custom_ops": 4,
    "custom_effects": ("ORDERED", "ORDERED", None), "pure_chains": True,
    "mutation_near_effects": True,
}


# ---------------------------------------------------------------------------------------------
# The op table as the generator sees it
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrawableOp:
    """A modelled aten op the generator calls: `kind` is `pure` (a new value), `inplace` (writes
    its first argument) or `factory` (no tensor argument)."""

    name: str
    signature: Signature
    kind: str
    effectful: bool


def drawable_ops() -> dict[str, DrawableOp]:
    """The modelled aten ops the generator draws under the active profile ([NOTE: one op table,
    drawn from its schemas]): `behaviors.aten_ops()` less `NOT_DRAWN` and `aten::_print`, which
    is an effect kind of its own."""
    ops = {}
    for name, op in behaviors.aten_ops().items():
        if name in NOT_DRAWN or name == "aten::_print.default" or not op.signature.returns:
            continue
        tensors = [p for p in op.signature.params if p.type.startswith("Tensor")]
        kind = "inplace" if op.mutates else ("pure" if tensors else "factory")
        ops[name] = DrawableOp(name, op.signature, kind, op.effectful)
    return ops


# ---------------------------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomSpec:
    behavior: str
    effect: str | None
    extras: tuple[tuple[int, bool, bool], ...] = ()  # (EXTRA_PARAMS index, kwarg-only, default)


def custom_op_specs(
    behaviors_: tuple[str, ...],
    max_custom_ops: int,
    effects: tuple[str | None, ...] = ("ORDERED", None),
    extra_params: bool = True,
    min_custom_ops: int = 0,
) -> st.SearchStrategy:
    """Lists of custom-op specs; op names are given by position later."""
    extra = st.tuples(st.integers(0, len(EXTRA_PARAMS) - 1), st.booleans(), st.booleans())
    extras = (st.lists(extra, max_size=3, unique_by=lambda e: e[0]) if extra_params
              else st.just([]))
    spec = st.builds(lambda b, e, x: CustomSpec(b, e, tuple(x)),
                     st.sampled_from(behaviors_), st.sampled_from(effects), extras)
    return st.lists(spec, min_size=min(min_custom_ops, max_custom_ops), max_size=max_custom_ops)


def _extra_declarations(spec: CustomSpec) -> list[tuple[str, bool, str | None]]:
    """(declaration with default, kwarg-only, default) of each extra parameter, in schema order:
    positional ones first, a parameter without default never after one with a default."""
    items = []
    for index, kwarg_only, with_default in spec.extras:
        decl, _, default = EXTRA_PARAMS[index]
        kwarg_only = kwarg_only and not decl.startswith("Tensor")  # PRG-33: never keyword-only
        items.append((decl, kwarg_only, default if with_default else None))
    positional = [i for i in items if not i[1]]
    # A positional parameter without a default may not follow one with a default.
    positional.sort(key=lambda i: i[2] is not None)
    return positional + [i for i in items if i[1]]


def _custom_op_json(index: int, spec: CustomSpec) -> dict:
    short = f"op{index}"
    extras = _extra_declarations(spec)
    text = ""
    star = False
    for decl, kwarg_only, default in extras:
        if kwarg_only and not star:
            text += ", *"
            star = True
        text += f", {decl}" + (f"={default}" if default is not None else "")
    schema = BEHAVIOR_SCHEMAS[spec.behavior].format(short, x=text)
    if spec.behavior == "stamp" and "Tensor" in text:  # PRG-9: stamp takes no tensor
        schema = BEHAVIOR_SCHEMAS["stamp"].format(short, x="")
    return {
        "name": f"{NAMESPACE}::{short}",
        "schema": schema,
        "behavior": spec.behavior,
        "effect": spec.effect,
    }


def fills(seed_max: int = 3) -> st.SearchStrategy:
    return st.one_of(
        st.sampled_from(("arange", "ones", "zeros")),
        st.builds(lambda s: {"randn": s}, st.integers(0, seed_max)),
    )


# A raw statement (see the module NOTE): (effect roll 0..99, kind pick, value pick a,
# value pick b, keep the result, the argument-form picks).
FORMS = st.lists(st.integers(0, 15), max_size=8)
RAW_STATEMENT = st.tuples(st.integers(0, 99), PICK, PICK, PICK, st.booleans(), FORMS)


class _Forms:
    """The form picks of one statement, read in order; 0 once they run out."""

    def __init__(self, picks: list[int], enabled: bool) -> None:
        self._picks: Iterator[int] = iter(picks if enabled else ())

    def __call__(self, n: int) -> int:
        """A choice among `n` alternatives, 0 the plainest."""
        return next(self._picks, 0) % n if n > 1 else 0


@dataclass
class _Value:
    """A tensor the body may use: its JSON ref, shape and dtype, whether it is a view, and which
    tensor object and storage it is (PRG-43: what an in-place write makes unreadable)."""

    ref: dict
    shape: tuple[int, ...]
    dtype: str
    view: bool = False
    writable: bool = True  # False for a view made by an op other than `view` (PRG-44)
    obj: int = field(default_factory=lambda: next(_IDS))
    storage: int = -1
    grad: bool = False  # it requires grad (a training program's input, or computed from one)

    def __post_init__(self) -> None:
        if self.storage < 0:
            self.storage = self.obj

    @property
    def name(self) -> str:
        return self.ref["ref"]


# ---------------------------------------------------------------------------------------------
# Evaluation on zero tensors (what a call returns, whether it raises)
# ---------------------------------------------------------------------------------------------


_IDS = itertools.count()


class _Raised(Exception):
    pass


def _zeros(value: _Value) -> Any:
    from refimpl import aten  # noqa: PLC0415 - refimpl loads lazily with the profile

    return aten.zeros(*value.shape, dtype=value.dtype)


def _evaluate(op: str, args: list, kwargs: dict, tensors: dict[int, _Value]) -> list[tuple]:
    """Run `op` in refimpl on zero tensors; `[(shape, dtype), ...]` of its tensor results."""
    from refimpl import aten  # noqa: PLC0415

    def real(x: Any) -> Any:
        if isinstance(x, dict):
            return _zeros(tensors[id(x)])
        if isinstance(x, list):
            return [real(v) for v in x]
        return x

    try:
        out = aten.OPS[op.removesuffix(".default")](*[real(a) for a in args],
                                                    **{k: real(v) for k, v in kwargs.items()})
    except Exception as exc:  # noqa: BLE001 - any error means the call raises
        raise _Raised(f"{type(exc).__name__}: {exc}") from exc
    outs = out if isinstance(out, (list, tuple)) else [out]
    return [(tuple(t.shape), t.dtype.name) for t in outs if t is not None]


def _broadcastable(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(x == y or x == 1 or y == 1 for x, y in zip(reversed(a), reversed(b)))


# ---------------------------------------------------------------------------------------------
# The builder
# ---------------------------------------------------------------------------------------------


@dataclass
class _Builder:
    """Resolves raw statements against the values defined so far."""

    shape: tuple[int, ...]
    inputs: list[_Value]
    custom: list[dict]
    specs: list[CustomSpec]
    aten_effects: list[str]
    ops: dict[str, DrawableOp]
    density: float
    input_mutation: bool
    forms: bool
    raising: bool
    pure_chains: bool
    mutation_near_effects: bool
    values: list[_Value] = field(default_factory=list)
    lists: list[str] = field(default_factory=list)  # names bound to whole Tensor[] values
    body: list[dict] = field(default_factory=list)
    ended: bool = False
    last_effect_inputs: list[str] = field(default_factory=list)
    _names: int = 0

    # -- values ---------------------------------------------------------------------------

    def pick(self, k: int, among: list[_Value] | None = None) -> _Value:
        pool = self.values if among is None else among
        return pool[k % len(pool)]

    def pick_first(self, a: int) -> _Value:
        """A pure op's first operand: with `pure_chains` an even pick takes the newest value,
        so that pure work piles up between effects."""
        if self.pure_chains and a % 2 == 0:
            return self.values[-1]
        return self.pick(a)

    def bound_inputs(self) -> list[_Value]:
        """The inputs whose names still denote them (not rebound)."""
        live = {id(v) for v in self.values}
        return [v for v in self.inputs if id(v) in live]

    def _fresh(self) -> str:
        self._names += 1
        return f"v{self._names}"

    def _out_name(self, form: _Forms) -> str:
        """A fresh name, or (form 1 of 4) a name already bound: the rebinding `x = f(x)`."""
        if self.values and form(4) == 1:
            return self.values[form(64) % len(self.values)].name
        return self._fresh()

    def _bind_value(self, name: str, shape: tuple, dtype: str, view: bool = False,
                    index: int | None = None, alias: _Value | None = None,
                    same: bool = False, writable: bool = True, grad: bool = False) -> None:
        """Bind `name` to a new tensor, to a view of `alias`'s storage, or (`same`) to the
        tensor `alias` itself (`y = x.add_(1)`)."""
        if index is None or index == 0:
            self._unbind(name)
        ref = {"ref": name} if index is None else {"ref": name, "index": index}
        value = _Value(ref, shape, dtype, view, writable,
                       grad=grad and dtype in ("float32", "float64"))
        if alias is not None:
            value.storage = alias.storage
            value.obj = alias.obj if same else value.obj
            value.writable = writable and alias.writable
        self.values.append(value)

    def _written(self, target: _Value) -> None:
        """After an in-place write of `target`: the other views of its storage are stale in
        refimpl, which models no aliasing (PRG-43), so the body never reads them again."""
        self.values = [v for v in self.values
                       if v.storage != target.storage or v.obj == target.obj]

    def _unbind(self, name: str) -> None:
        self.values = [v for v in self.values if v.name != name]
        self.lists = [n for n in self.lists if n != name]

    def _emit(self, stmt: dict) -> None:
        self.body.append(stmt)

    # -- statements -------------------------------------------------------------------------

    def effect_kinds(self) -> list[str]:
        kinds = ["print"] + ["custom"] * bool(self.custom)
        kinds += ["aten_effect"] * bool(self.aten_effects)
        return kinds + ["mutation"] * bool(self.input_mutation and self.inplace_ops())

    def inplace_ops(self) -> list[str]:
        return [n for n, o in self.ops.items() if o.kind == "inplace" and not o.effectful]

    def pure_ops(self) -> list[str]:
        return [n for n, o in self.ops.items()
                if o.kind in ("pure", "factory") and not o.effectful
                and (self.forms or o.kind == "pure")]

    def add(self, raw: tuple) -> None:
        if self.ended:
            return
        roll, kind, a, b, keep, form_picks = raw
        form = _Forms(form_picks, self.forms)
        tag = f"s{len(self.body)}"
        effectful = roll < round(self.density * 100)
        if not effectful:
            ops = self.pure_ops()
            self._call(ops[kind % len(ops)], a, b, keep=True, form=form)
            return
        kinds = self.effect_kinds()
        choice = kinds[kind % len(kinds)]
        before = len(self.body)
        getattr(self, "_" + choice)(tag, kind, a, b, keep, form)
        if len(self.body) > before and choice != "mutation":
            self._after_effect(b, form)

    def _after_effect(self, b: int, form: _Forms) -> None:
        """With `mutation_near_effects`, an input the effect read may be written right after."""
        if not (self.mutation_near_effects and self.input_mutation and self.last_effect_inputs):
            return
        if form(2) == 1:
            names = self.last_effect_inputs
            target = next((v for v in self.bound_inputs() if v.name == names[b % len(names)]),
                          None)
            if target is not None:
                self._mutation("", b, b, b, False, form, target=target)

    def _print(self, tag: str, kind: int, a: int, b: int, keep: bool, form: _Forms) -> None:
        self.last_effect_inputs = []
        self._emit({"op": "aten::_print.default", "args": [tag]})

    def _aten_effect(self, tag: str, kind: int, a: int, b: int, keep: bool,
                     form: _Forms) -> None:
        self._call(self.aten_effects[kind % len(self.aten_effects)], a, b, keep=True, form=form,
                   effect=True)

    def _mutation(self, tag: str, kind: int, a: int, b: int, keep: bool, form: _Forms,
                  target: _Value | None = None) -> None:
        if target is None:  # an input, or a view (of an input or not): a write through it
            inputs = self.bound_inputs()
            targets = inputs + [v for v in self.values
                                if v.view and v.writable and v not in inputs]
        else:
            targets = [target]
        if not targets:
            return
        ops = self.inplace_ops()
        op = ops[kind % len(ops)]
        self._call(op, a, b, keep=False, form=form, self_value=self.pick(a, targets))

    def _custom(self, tag: str, kind: int, a: int, b: int, keep: bool, form: _Forms) -> None:
        index = kind % len(self.custom)
        op_json, spec = self.custom[index], self.specs[index]
        sig = behaviors.parse_signature(op_json["schema"])
        args: list = []
        kwargs: dict = {}
        used: list[str] = []
        keyword = False
        for param in sig.params:
            if param.type == "Tensor":
                value = self.pick(a)
                used.append(value.name)
                literal: Any = dict(value.ref)
            elif param.type == "str" and param.name == "tag":
                literal = tag
            else:
                given, literal = self._extra_value(param, b, form)
                if not given:
                    keyword = True
                    continue
                if isinstance(literal, dict):
                    used.append(literal["ref"])
            if param.kwarg_only or keyword or (param.has_default and form(3) == 1):
                keyword = True
                kwargs[param.name] = literal
            else:
                args.append(literal)
        stmt: dict[str, Any] = {"op": op_json["name"] + ".default", "args": args}
        if kwargs:
            stmt["kwargs"] = kwargs
        self.last_effect_inputs = used if spec.effect == "ORDERED" else []
        x = next((v for v in self.values if used and v.name == used[0]), None)
        outs = self._custom_outs(spec.behavior, keep, x, form)
        if outs:
            stmt["outs"] = outs
        self._emit(stmt)

    def _extra_value(self, param: Param, b: int, form: _Forms) -> tuple[bool, Any]:
        """Whether an extra custom-op argument is given, and its literal."""
        choices = next(c for d, c, _ in EXTRA_PARAMS if d.split()[-1] == param.name)
        if param.has_default and form(3) == 0:
            return False, None
        value = choices[form(len(choices))]
        if value == "ref":
            other = self.pick(b)
            return True, dict(other.ref)
        return True, value

    def _custom_outs(self, behavior: str, keep: bool, x: _Value | None,
                     form: _Forms) -> list[str]:
        if not keep or behavior in ("observe", "stamp") or x is None:
            return []
        dtype = "int64" if x.dtype == "bool" else x.dtype
        if behavior == "record":
            name = self._out_name(form)
            self._bind_value(name, x.shape, dtype, grad=x.grad)
            return [name]
        if behavior == "split":
            first, second = self._fresh(), self._fresh()
            self._bind_value(first, x.shape, dtype, grad=x.grad)
            self._bind_value(second, x.shape, dtype, grad=x.grad)
            return [first, second]
        name = self._out_name(form)
        self._unbind(name)
        for i in range(CHUNKS_LENGTH):
            self._bind_value(name, x.shape, dtype, index=i)
        self.lists.append(name)
        return [name]

    # -- schema-driven aten calls -----------------------------------------------------------

    def _call(self, op: str, a: int, b: int, *, keep: bool, form: _Forms, effect: bool = False,
              self_value: _Value | None = None) -> None:
        drawable = self.ops.get(op)
        sig = drawable.signature if drawable else behaviors.op_signature(op)
        if not self.values and any(p.type == "Tensor" for p in sig.params):
            return
        first = self_value or self.pick_first(a)
        arguments = _Arguments(self, sig, first, b, form, mul=op.startswith("aten::mul"))
        args, kwargs, tensors = arguments.bind()
        if args is None:
            return
        try:
            results = _evaluate(op, args, kwargs, tensors)
        except _Raised:
            if not self.raising:
                return
            results, self.ended = [], True
        stmt: dict[str, Any] = {"op": op, "args": args}
        if kwargs:
            stmt["kwargs"] = kwargs
        if effect:
            self.last_effect_inputs = [t.name for t in tensors.values()]
        if self_value is not None:
            self._written(self_value)
        if results and keep and not self.ended:
            name = self._out_name(form)
            shape, dtype = results[0]
            stmt["outs"] = [name]
            aliased = sig.return_aliases[0] is not None
            inplace = bool(drawable and drawable.kind == "inplace")
            self._bind_value(name, shape, dtype, view=aliased and not inplace,
                             alias=first if aliased else None, same=inplace,
                             writable=inplace or not aliased or op == "aten::view.default",
                             grad=any(t.grad for t in tensors.values()))
        elif results and self_value is not None and form(2) == 1 and not self.ended:
            name = self._out_name(form)  # `y = x.add_(1)`: the result is its input
            stmt["outs"] = [name]
            self._bind_value(name, self_value.shape, self_value.dtype, view=True,
                             alias=self_value, same=True)
        self._emit(stmt)


class _Arguments:
    """Binds one aten call's parameters from its schema ([NOTE: one op table, drawn from its
    schemas])."""

    def __init__(self, builder: _Builder, sig: Signature, first: _Value, b: int, form: _Forms,
                 mul: bool) -> None:
        self.builder, self.sig, self.first, self.b, self.form, self.mul = (
            builder, sig, first, b, form, mul)
        self.tensors: dict[int, _Value] = {}
        self.numbers_ok = _numbers_as_tensors(sig.name)

    def bind(self) -> tuple[list | None, dict, dict[int, _Value]]:
        args: list = []
        kwargs: dict = {}
        keyword = False
        tensor_params = [p for p in self.sig.params if p.type == "Tensor"]
        refs_given = 0
        for i, param in enumerate(self.sig.params):
            if param.has_default:
                choice = self.form(3)  # 0: left out, 1: given equal to its default, 2: other
                if choice == 0:
                    keyword = True
                    continue
                literal = param.default if choice == 1 else self._other_than_default(param)
                if literal is _SKIP:
                    keyword = True
                    continue
            else:
                last_tensor = param is tensor_params[-1] if tensor_params else False
                literal = self._required(param, i, refs_given == 0 and last_tensor)
                if literal is None and param.type == "Tensor":
                    return None, {}, {}
                if isinstance(literal, dict):
                    refs_given += 1
            if param.kwarg_only or keyword or self.form(4) == 1:
                keyword = True
                kwargs[param.name] = literal
            else:
                args.append(literal)
        return args, kwargs, self.tensors

    def _ref(self, value: _Value) -> dict:
        ref = dict(value.ref)
        self.tensors[id(ref)] = value
        return ref

    def _required(self, param: Param, index: int, must_be_ref: bool) -> Any:
        builder, form = self.builder, self.form
        if param.type == "Tensor":
            if index == 0:
                if param.alias is None and self.numbers_ok and not must_be_ref and form(6) == 1:
                    return NUMBERS[form(len(NUMBERS))]
                return self._ref(self.first)
            if self.numbers_ok and not must_be_ref and form(3) == 1:
                return NUMBERS[form(len(NUMBERS))]
            pool = builder.bound_inputs() if self.mul else builder.values
            if self.sig.params[0].alias and self.sig.params[0].alias.endswith("!"):
                # PRG-45: an in-place op reads no other tensor of the storage it writes.
                pool = [v for v in pool if v.storage != self.first.storage
                        or v.obj == self.first.obj]
            pool = [v for v in pool if _broadcastable(v.shape, self.first.shape)] or [self.first]
            return self._ref(builder.pick(self.b, pool))
        if param.type == "Scalar":
            if self.sig.name.startswith("aten::arange"):
                return _arange_end(self.first.shape, form)
            return NUMBERS[form(len(NUMBERS))]
        if param.type in ("SymInt[]", "int[]"):
            if self.sig.name.startswith("aten::view"):
                return _view_size(self.first.shape, form)
            if self.sig.name.startswith("aten::expand"):
                return _expand_size(self.first.shape, form)
            return _factory_size(builder.shape, form)
        if param.type in ("int[1]?", "int[]?"):  # sum.dim_IntList: null and [] reduce all
            return _dims(self.first.shape, form)
        if param.type == "int" and self.sig.name.startswith("aten::unsqueeze"):
            return (0, -1, len(self.first.shape))[form(3)]
        if param.type == "int" and self.sig.name.startswith("aten::squeeze"):
            return (0, -1)[form(2)]  # in range for every rank, 0-dim included
        if param.type == "bool":
            return bool(form(2))
        raise AssertionError(f"no literal for required {param.type} {param.name} of "
                             f"{self.sig.name}")

    def _other_than_default(self, param: Param) -> Any:
        if param.type == "Scalar":
            return NUMBERS[self.form(len(NUMBERS))]
        if param.type == "bool":
            return not param.default
        return _SKIP  # MemoryFormat?, ScalarType?, Layout?, Device?, bool?: only null (PRG-16)


_SKIP = object()


def _functionalized_in_cpp(op: str) -> bool:
    """Ops torch functionalizes in C++ (`view`, `_to_copy`): registered ORDERED, functionalization
    refuses them (EFF-29), and on the export path torch raises it from inside
    `run_decompositions`' interpreter, whose message decoration refimpl does not model; the
    generator leaves them unregistered."""
    from refimpl import aten  # noqa: PLC0415
    from refimpl.dispatch_key import DispatchKey  # noqa: PLC0415
    from refimpl.operator import _dispatch_has_kernel_for_dispatch_key  # noqa: PLC0415

    name = aten.OPS[op.removesuffix(".default")].name()
    return _dispatch_has_kernel_for_dispatch_key(name, DispatchKey.Functionalize)


def _numbers_as_tensors(op: str) -> bool:
    """Whether torch wraps a number given for one of `op`'s Tensor parameters (PRG-31)."""
    from refimpl import aten  # noqa: PLC0415
    from refimpl.operator import allows_numbers_as_tensors  # noqa: PLC0415

    return allows_numbers_as_tensors(aten.OPS[op.removesuffix(".default")]._schema)


def _view_size(shape: tuple[int, ...], form: _Forms) -> list[int]:
    numel = math.prod(shape)
    sizes = [list(shape), [-1], [numel], [1, numel]]
    if shape:
        sizes.append([*shape[:-1], -1])
    return sizes[form(len(sizes))]


def _factory_size(shape: tuple[int, ...], form: _Forms) -> list[int]:
    sizes = [list(shape[k:]) for k in range(len(shape) + 1)] + [[1]]
    return sizes[form(len(sizes))]


def _expand_size(shape: tuple[int, ...], form: _Forms) -> list[int]:
    sizes = [list(shape), [-1] * len(shape), [2, *shape], [1, *[-1] * len(shape)]]
    return sizes[form(len(sizes))]


def _dims(shape: tuple[int, ...], form: _Forms) -> list[int] | None:
    options: list[list[int] | None] = [None, [], [0], [-1]]
    if len(shape) > 1:
        options.append([0, -1])
    return options[form(len(options))]


def _arange_end(shape: tuple[int, ...], form: _Forms) -> Any:
    n = shape[-1] if shape else 1
    return (n, 1, n - 0.5, 0.5)[form(4)]


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
    min_custom_ops: int = 0,
    max_custom_ops: int = 3,
    behaviors: tuple[str, ...] = tuple(BEHAVIOR_SCHEMAS),
    custom_effects: tuple[str | None, ...] = ("ORDERED", None),
    aten_effects: bool = True,
    input_mutation: bool = True,
    max_inputs: int = 3,
    max_rank: int = 2,
    max_dim: int = 3,
    dtypes: tuple[str, ...] = DTYPES,
    forms: bool = True,
    raising: bool = False,
    pure_chains: bool = False,
    mutation_near_effects: bool = False,
    training: bool = False,
    name: str = "fuzz",
) -> dict:
    """A program JSON document that `load_program` accepts (valid by construction).

    Knobs:
    - `max_ops`, `min_ops`: body length in raw statements (Hypothesis shrinks no body below
      `min_ops`; `oracle.shrink` reduces findings further, RPT-26);
    - `effect_density`: 0..1, the share of effectful statements (prints, custom-op calls,
      registered aten effects, input mutations);
    - `min_custom_ops`, `max_custom_ops`, `behaviors`, `custom_effects` ("ORDERED" and/or
      None): the custom ops;
    - `aten_effects`: may register ORDERED on up to two modelled aten ops;
    - `input_mutation`: may write inputs with the modelled in-place ops;
    - `max_inputs`, `max_rank`, `max_dim`, `dtypes`: inputs, shapes and dtypes;
    - `forms`: draw every argument form of the schemas (keywords, explicit defaults, numbers
      for tensors, rebound names, factories, extra custom-op parameters, list outputs); False
      keeps the plainest form of each call;
    - `raising`: keep a call that raises in refimpl (the body ends there) instead of dropping it;
    - `pure_chains`: pure ops prefer the newest value, so chains of pure work sit between
      effects;
    - `mutation_near_effects`: an input an effectful call read may be written right after it;
    - `training`: a program that runs backward ([NOTE: training programs]).
    `HUNT` holds the settings campaigns aimed at effect-order bugs use, `TRAINING` the ones for
    backward programs.
    """
    if training:  # [NOTE: training programs]
        dtypes = tuple(d for d in dtypes if d in GRAD_DTYPES) or ("float32",)
        behaviors = tuple(b for b in behaviors if b in BACKWARD_BEHAVIORS) or ("record",)
        input_mutation = mutation_near_effects = False
    knobs = _draw_header(draw, max_inputs, max_rank, max_dim, dtypes)
    shape, dtype, n_inputs, input_fills = knobs
    ops = drawable_ops()
    if training:  # [NOTE: training programs]: ops whose history refimpl does not yet trace
        ops = {n: o for n, o in ops.items() if n not in NOT_DRAWN_IN_TRAINING}
    specs = draw(custom_op_specs(behaviors, max_custom_ops, custom_effects, forms,
                                 min_custom_ops), label="custom ops")
    if training:  # the op the backward formulas log through
        logger = draw(st.sampled_from(custom_effects), label="backward logger effect")
        specs = [*specs, CustomSpec("record", logger)]
    registered: list[str] = []
    if aten_effects:
        candidates = sorted(n for n, o in ops.items() if o.kind == "pure" and not o.effectful
                            and n != "aten::copy.default" and not _functionalized_in_cpp(n))
        registered = draw(st.lists(st.sampled_from(candidates), unique=True, max_size=2),
                          label="aten ops made ORDERED")
    raw = draw(st.lists(RAW_STATEMENT, min_size=min_ops, max_size=max_ops), label="body")
    custom = [_custom_op_json(i, s) for i, s in enumerate(specs)]
    grads = [False] * n_inputs
    if training:  # the first input requires grad, each other one may
        grads = [True, *draw(st.lists(st.booleans(), min_size=n_inputs - 1,
                                      max_size=n_inputs - 1), label="requires_grad")]
    inputs = [_Value({"ref": f"x{i}"}, tuple(shape), dtype, grad=g) for i, g in enumerate(grads)]
    pure = {n: replace(o, effectful=False) if n in registered else o for n, o in ops.items()}
    builder = _Builder(tuple(shape), inputs, custom, list(specs), registered,
                       {n: o for n, o in pure.items() if n not in registered},
                       effect_density, input_mutation, forms, raising, pure_chains,
                       mutation_near_effects)
    builder.values = list(inputs)
    for item in raw:
        builder.add(item)
    outputs = _outputs(draw, builder, forms and not training)
    doc = _document(name, custom, registered, inputs, shape, dtype, input_fills, builder,
                    outputs)
    if training:
        _draw_training(draw, doc, specs, builder, inputs)
    return doc


# [NOTE: training programs] With `training=True` a program runs backward (PRG-51): its inputs
# are floating point and each may require grad (the first one does), every custom op that
# returns tensors carries an autograd formula (PRG-47 to PRG-50) drawn as a short chain over
# its grad (scale, negate, multiply by the cosine of the saved input, print, pass through the
# backward logger, an extra op `fz::op<n>` the forward may call too) so that effectful ops run
# in the backward, and the loss sums a drawn non-empty set of the (tensor-only) outputs.
# Simplifications: no in-place op and no Tensor[] result in a training program (refimpl models
# no CopySlices, and no autograd through a custom op's Tensor[]); a grad goes to the op's first
# tensor parameter only.
GRAD_DTYPES = ("float32", "float64")
# torch's autograd kernel of sgn saves its result, and make_fx records that as
# `aten::detach(result)`; refimpl models no `aten::detach` yet (a known departure on make_fx).
NOT_DRAWN_IN_TRAINING = frozenset({"aten::sgn.default"})
BACKWARD_BEHAVIORS = ("record", "split", "observe", "stamp")
BACKWARD_STEPS = 6  # the kinds of step a drawn backward formula takes, see `_formula`


def _draw_training(draw: Any, doc: dict, specs: list[CustomSpec], builder: _Builder,
                   inputs: list[_Value]) -> None:
    for spec, value in zip(doc["inputs"], inputs):
        if value.grad:
            spec["requires_grad"] = True
    logger = doc["custom_ops"][-1]["name"] + ".default"
    for k, op in enumerate(doc["custom_ops"]):
        if specs[k].behavior in ("record", "split"):
            steps = draw(st.lists(st.integers(0, BACKWARD_STEPS - 1), max_size=5),
                         label=f"backward formula of {op['name']}")
            op["autograd"] = _formula(op, specs[k].behavior, steps, logger, k)
    live = {v.name: v for v in builder.values}
    with_grad = [i for i, name in enumerate(doc["outputs"])
                 if name in live and live[name].grad]
    candidates = [v.name for v in builder.values if v.grad]
    if not with_grad and candidates:  # the loss must reach an input that requires grad
        doc["outputs"].append(candidates[-1])
        with_grad = [len(doc["outputs"]) - 1]
    if not doc["outputs"]:
        doc["outputs"] = [builder.values[-1].name]
    n = len(doc["outputs"])
    picks = draw(st.lists(st.integers(0, n - 1), max_size=n, unique=True), label="loss")
    loss = list(dict.fromkeys([*with_grad[:1], *picks]))
    doc["backward"] = {"loss": loss or [0]}


def _formula(op: dict, behavior: str, steps: list[int], logger: str, k: int) -> dict:
    """A custom op's autograd formula from drawn steps ([NOTE: training programs])."""
    params = behaviors.parse_signature(op["schema"]).params
    x = params[0].name
    grads = ["g"] if behavior == "record" else ["g0", "g1"]
    body: list[dict] = []
    current = grads[0]
    names = itertools.count()

    def bind(stmt: dict) -> str:
        out = f"b{next(names)}"
        body.append({**stmt, "outs": [out]})
        return out

    if behavior == "split":
        current = bind({"op": "aten::add.Tensor", "args": [{"ref": "g0"}, {"ref": "g1"}]})
    for j, step in enumerate(steps):
        tag = f"bw{k}_{j}"
        if step == 0:
            current = bind({"op": "aten::mul.Tensor", "args": [{"ref": current}, 2]})
        elif step == 1:
            body.append({"op": "aten::_print.default", "args": [tag]})
        elif step == 2:
            current = bind({"op": logger, "args": [{"ref": current}, tag]})
        elif step == 3:
            cos = bind({"op": "aten::cos.default", "args": [{"ref": x}]})
            current = bind({"op": "aten::mul.Tensor", "args": [{"ref": current}, {"ref": cos}]})
        elif step == 4:
            current = bind({"op": "aten::neg.default", "args": [{"ref": current}]})
        else:  # the logger's result unused: an effect whose value nothing reads
            body.append({"op": logger, "args": [{"ref": current}, tag]})
    saves = any(ref == {"ref": x} for stmt in body for ref in stmt["args"])
    grad_inputs = [current if p.name == x else None for p in params]
    return {"save": [x] if saves else [], "grad_outputs": grads, "body": body,
            "grad_inputs": grad_inputs}


def _draw_header(draw: Any, max_inputs: int, max_rank: int, max_dim: int,
                 dtypes: tuple[str, ...]) -> tuple:
    dtype = draw(st.sampled_from(dtypes), label="dtype")
    shape = draw(st.lists(st.integers(1, max_dim), max_size=max_rank), label="shape")
    n_inputs = draw(st.integers(1, max(1, max_inputs)), label="number of inputs")
    input_fills = draw(st.lists(fills(), min_size=n_inputs, max_size=n_inputs), label="fills")
    return shape, dtype, n_inputs, input_fills


def _outputs(draw: Any, builder: _Builder, forms: bool) -> list[Any]:
    picks = draw(st.lists(PICK, max_size=3), label="outputs")
    refs = _unique([builder.pick(k).ref for k in picks])
    if not forms:
        return refs
    shape = draw(st.integers(0, 3), label="output forms")
    if shape == 1 and len(refs) >= 2:  # a JSON list of refs (PRG-36)
        return [refs[0], [_as_ref(r) for r in refs[1:]]]
    if shape == 2 and builder.lists:  # a whole Tensor[] value
        return [*refs, builder.lists[-1]]
    return refs


def _as_ref(ref: Any) -> Any:
    return ref if isinstance(ref, dict) else {"ref": ref}


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
    inputs: list[_Value],
    shape: list,
    dtype: str,
    input_fills: list,
    builder: _Builder,
    outputs: list,
) -> dict:
    doc: dict[str, Any] = {"format": FORMAT, "name": name}
    if custom:
        doc["custom_ops"] = custom
    if registered:
        doc["register_effects"] = {op: "ORDERED" for op in registered}
    doc["inputs"] = [_input_json(v.name, shape, dtype, f) for v, f in zip(inputs, input_fills)]
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


# ---------------------------------------------------------------------------------------------
# control_flow_programs()
# ---------------------------------------------------------------------------------------------

# [NOTE: control-flow programs] Effects across the HOP boundary (issue: control flow): a body of
# segments, each a top-level effect, a pure op, a cond or a counted while_loop; a block holds
# effects (prints, an ORDERED op whose result is used or dropped, an ORDERED `observe`) and pure
# ops, may nest a cond whose predicate it computes (`gt(sum(v), 0)`), and returns fresh values.
# Every value is a float32 tensor of one shape, so branch outputs always agree in metadata and
# a loop body's outputs match its carries (CF-4, CF-10); operands have the form dynamo gives
# them (PRG-58). Draws are labelled; everything shrinks towards shorter bodies and fewer HOPs.
CF_NAMESPACE = "cf"
_CF_PURE = ("aten::cos.default", "aten::neg.default", "aten::sin.default")


class _Blocks:
    """Writes the statements of one scope; ``names`` are the tensors it may read, in binding
    order (a nested cond passes its operands in that order, PRG-58)."""

    def __init__(self, draw: Any, names: list[str], counter: itertools.count, depth: int) -> None:
        self.draw, self.names, self.counter, self.depth = draw, list(names), counter, depth
        self.body: list[dict] = []

    def fresh(self) -> str:
        return f"v{next(self.counter)}"

    def tag(self) -> str:
        return f"t{next(self.counter)}"

    def pick(self, label: str) -> str:
        return self.names[self.draw(st.integers(0, len(self.names) - 1), label=label)]

    def bind(self, stmt: dict) -> str:
        name = self.fresh()
        self.body.append({**stmt, "outs": [name]})
        self.names.append(name)
        return name

    def statement(self, allow_hops: bool) -> None:
        kinds = ["print", "log", "log_dropped", "observe", "pure"]
        if allow_hops and self.depth < 2:
            kinds += ["cond", "while_loop"]
        kind = self.draw(st.sampled_from(kinds), label="statement kind")
        src = self.pick("operand")
        if kind == "print":
            self.body.append({"op": "aten::_print.default", "args": [self.tag()]})
        elif kind == "log":
            self.bind({"op": f"{CF_NAMESPACE}::log.default", "args": [{"ref": src}, self.tag()]})
        elif kind == "log_dropped":
            self.body.append({"op": f"{CF_NAMESPACE}::log.default",
                              "args": [{"ref": src}, self.tag()]})
        elif kind == "observe":
            self.body.append({"op": f"{CF_NAMESPACE}::observe.default",
                              "args": [{"ref": src}, self.tag()]})
        elif kind == "pure":
            op = self.draw(st.sampled_from(_CF_PURE), label="pure op")
            self.bind({"op": op, "args": [{"ref": src}]})
        elif kind == "cond":
            self.cond()
        else:
            self.while_loop()

    def block(self, params: list[str], n_outputs: int, label: str) -> dict:
        """A block of ``params``; its outputs are fresh values (a pure op of an input when the
        drawn statements bound too few)."""
        inner = _Blocks(self.draw, params, self.counter, self.depth + 1)
        n = self.draw(st.integers(0, 4), label=f"{label} length")
        for _ in range(n):
            inner.statement(allow_hops=True)
        fresh = [v for v in inner.names if v not in params]
        outputs = []
        for k in range(n_outputs):
            if k < len(fresh) and self.draw(st.booleans(), label=f"{label} output {k} bound"):
                outputs.append(fresh[-1 - k])
            else:
                outputs.append(inner.bind({"op": "aten::cos.default",
                                           "args": [{"ref": inner.pick(f"{label} source")}]}))
        doc: dict[str, Any] = {"body": inner.body}
        if n_outputs:
            doc["outputs"] = _unique_names(outputs, inner)
        return doc

    def operands(self, label: str) -> list[str]:
        count = self.draw(st.integers(1, min(2, len(self.names))), label=f"{label} operands")
        picks = {self.pick(f"{label} operand") for _ in range(count)}
        return [n for n in self.names if n in picks]  # binding order (PRG-58)

    def cond(self) -> None:
        if self.depth == 0 and self.draw(st.booleans(), label="input pred"):
            pred = "p"  # the program's bool input, which no other statement reads
        else:  # a predicate computed here, kept out of the tensors the scope reads
            total, pred = self.fresh(), self.fresh()
            self.body.append({"op": "aten::sum.default",
                              "args": [{"ref": self.pick("pred source")}], "outs": [total]})
            self.body.append({"op": "aten::gt.Scalar", "args": [{"ref": total}, 0],
                              "outs": [pred]})
        operands = self.operands("cond")
        if self.depth:  # dynamo's order of a nested cond's operands is not modelled: one
            operands = operands[:1]
        n_out = self.draw(st.integers(1, 2), label="cond outputs")
        true, false = (self.block(operands, n_out, "true"), self.block(operands, n_out, "false"))
        _read_operands(true, false, operands, self.counter)
        reads = _block_reads(true)  # the true branch's operands first (PRG-58)
        operands = [n for n in operands if n in reads] + [n for n in operands if n not in reads]
        outs = [self.fresh() for _ in range(n_out)]
        self.body.append({"cond": {"pred": pred, "operands": operands, "true": true,
                                   "false": false}, "outs": outs})
        self.names += outs

    def while_loop(self) -> None:
        carried = self.operands("loop")
        iterations = self.draw(st.integers(0, 3), label="iterations")
        cond = self.block(carried, 0, "loop condition")
        body = self.block(carried, len(carried), "loop body")
        outs = [self.fresh() for _ in carried]
        self.body.append({"while_loop": {"carried": carried, "iterations": iterations,
                                         "cond": cond, "body": body}, "outs": outs})
        self.names += outs


def _unique_names(outputs: list[str], inner: _Blocks) -> list[str]:
    """Distinct outputs: a repeated name is replaced by a fresh pure op of it."""
    seen: list[str] = []
    for name in outputs:
        if name in seen:
            name = inner.bind({"op": "aten::neg.default", "args": [{"ref": name}]})
        seen.append(name)
    return seen


def _read_operands(true: dict, false: dict, operands: list[str], counter: itertools.count
                   ) -> None:
    """Every operand read by a branch (PRG-58): an operand neither branch reads is added into
    the true branch's first output (a dead read would be dropped by dynamo with the operand)."""
    read = _block_reads(true) | _block_reads(false)
    for name in operands:
        if name in read:
            continue
        out = f"v{next(counter)}"
        true["body"].append({"op": "aten::add.Tensor",
                             "args": [{"ref": true["outputs"][0]}, {"ref": name}],
                             "outs": [out]})
        true["outputs"][0] = out


def _block_reads(block: dict) -> set[str]:
    names: set[str] = set()
    for stmt in block["body"]:
        hop = stmt.get("cond") or stmt.get("while_loop")
        if hop is not None:
            names.update([hop.get("pred"), *hop.get("operands", []), *hop.get("carried", [])])
            for key in ("true", "false", "cond", "body"):
                if key in hop:
                    names |= _block_reads(hop[key])
            continue
        names.update(a["ref"] for a in stmt.get("args", []) if isinstance(a, dict))
    return names


@st.composite
def control_flow_programs(draw: Any, *, max_segments: int = 5, name: str = "cf") -> dict:
    """A program with cond and while_loop statements and effects inside and around them
    ([NOTE: control-flow programs]); valid by construction."""
    shape = draw(st.lists(st.integers(1, 3), max_size=2), label="shape")
    pred_fill = draw(st.sampled_from(["ones", "zeros"]), label="pred")
    counter = itertools.count()
    top = _Blocks(draw, ["x"], counter, 0)
    n = draw(st.integers(1, max_segments), label="segments")
    hops = 0
    for k in range(n):
        want_hop = draw(st.booleans(), label=f"segment {k} is control flow")
        if want_hop or (k == n - 1 and hops == 0):
            before = len(top.body)
            (top.cond if draw(st.booleans(), label="cond or loop") else top.while_loop)()
            hops += len(top.body) > before
        else:
            top.statement(allow_hops=False)
    outputs = top.names[-2:]
    return {
        "format": FORMAT, "name": name,
        "custom_ops": [
            {"name": f"{CF_NAMESPACE}::log", "schema": "log(Tensor x, str tag) -> Tensor",
             "behavior": "record", "effect": "ORDERED"},
            {"name": f"{CF_NAMESPACE}::observe", "schema": "observe(Tensor x, str tag) -> ()",
             "behavior": "observe", "effect": "ORDERED"},
        ],
        "inputs": [{"name": "p", "shape": [], "dtype": "bool", "fill": pred_fill},
                   {"name": "x", "shape": list(shape), "dtype": "float32"}],
        "body": top.body,
        "outputs": outputs,
    }
