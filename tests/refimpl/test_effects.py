"""Tests for refimpl/effects.py and refimpl/_library/effects.py: the seed and its registry.

Models: the seed (``torch/_higher_order_ops/effects.py``) and torch 2.13.0's behaviour, observed
in /work/shared/reference/torch-2.13/scenarios (01 eager with_effects, 02 errors,
03 registration, 06 functionalization, 07 fake tensor mode, 12 mutating op).
Spec: EFF-1 .. EFF-25.

Each clause is checked under the profile it depends on: ``seed`` for the seed's behaviour,
``torch-2.13`` where 2.13 differs, and both where the clause holds for both. Expected values are
quoted from the spec clause or from a reference scenario (named in each test). Every test runs
with the effect registry and profile restored afterwards (``isolated_effects``, conftest.py).
"""

from __future__ import annotations

import contextlib
import enum

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

import refimpl
import tests.strategies as st_
from refimpl import ops
from refimpl._library import simple_registry
from refimpl._library.effects import EffectType, skip_classes
from refimpl._library.utils import RegistrationHandle
from refimpl.dispatch_key import DispatchKey, key_extractor
from refimpl.effect_log import record_effects
from refimpl.effects import (
    WithEffects,
    _EffectType,
    _get_effect,
    _get_op_qualname,
    _get_schema,
    _register_effectful_op,
    handle_effects,
    has_aliasing,
    has_effects,
    new_token_tensor,
    with_effects,
)
from refimpl.fake_tensor import FakeTensor, FakeTensorMode
from refimpl.functional_tensor import FunctionalTensor, FunctionalTensorMode, dispatch_functionalize
from refimpl.fx.node import _side_effectful_functions
from refimpl.library import _scoped_library, custom_op
from refimpl.operator import HigherOrderOperator
from refimpl.proxy_tensor import make_fx
from refimpl.tensor import Tensor
from refimpl.torchbind import _unregister_class, call_torchbind, register_class

pytestmark = pytest.mark.usefixtures("isolated_effects")

ORDERED = EffectType.ORDERED
PROFILER_OP = "profiler::_record_function_exit._RecordFunction"


# -- helpers -------------------------------------------------------------------------------------


def values(t):
    """A tensor's values as a Python list (unwrapping a FunctionalTensor)."""
    if isinstance(t, FunctionalTensor):
        t = t.elem
    return t.numpy().tolist()


def assert_fresh_token(token, old, *, cls=Tensor):
    """EFF-25: a new 0-element float32 tensor, not the input token."""
    assert isinstance(token, cls), f"expected a {cls.__name__} token, came {type(token)}"
    assert token is not old, "expected a fresh token object, came the input token"
    assert token.shape == (0,), f"expected token shape (0,), came {token.shape}"
    assert token.dtype is refimpl.float32, f"expected token dtype float32, came {token.dtype}"


def assert_bare_assert(excinfo):
    """The seed's bare ``assert``: an AssertionError without a message."""
    assert excinfo.value.args == (), f"expected a bare AssertionError, came {excinfo.value!r}"


# -- the custom ops of scenario 01 (cat01) and 07 (cat07) ----------------------------------------


def _one(x: Tensor) -> Tensor:
    return x + 1


def _two(x: Tensor) -> tuple[Tensor, Tensor]:
    return x + 1, x * 2


def _lst(x: Tensor) -> list[Tensor]:
    return [x + 1, x + 2, x + 3]


def _none(x: Tensor) -> None:
    LOG.append(("none", values(x)))


LOG: list = []


@pytest.fixture
def cat01():
    """Scenario 01's ORDERED custom ops: one (Tensor), two ((Tensor, Tensor)), lst (Tensor[]),
    none (())."""
    LOG.clear()
    with _scoped_library("cat01", "FRAGMENT") as lib:
        defs = {
            name: custom_op(f"cat01::{name}", fn, mutates_args=(), lib=lib)
            for name, fn in (("one", _one), ("two", _two), ("lst", _lst), ("none", _none))
        }
        for op in defs.values():
            _register_effectful_op(op, ORDERED)
        yield defs


def _rec(x: Tensor, tag: str) -> Tensor:
    LOG.append(("real", tag))
    return x + 1


def _rec_fake(x, tag):
    LOG.append(("fake", tag))
    return refimpl.ops.aten.empty_like.default(x, dtype=refimpl.float64)


def _noret(x: Tensor) -> None:
    LOG.append(("real", "noret"))


def nofake(x: Tensor) -> Tensor:  # named as in ref 07: torch's message names the function
    LOG.append(("real", "nofake"))
    return x.clone()


nofake_fn = nofake


@pytest.fixture
def cat07():
    """Scenario 07's ops: rec (fake impl returns float64), noret (fake impl), nofake (none)."""
    LOG.clear()
    with _scoped_library("cat07", "FRAGMENT") as lib:
        rec = custom_op("cat07::rec", _rec, mutates_args=(), lib=lib)
        rec.register_fake(_rec_fake)
        noret = custom_op("cat07::noret", _noret, mutates_args=(), lib=lib)
        noret.register_fake(lambda x: LOG.append(("fake", "noret")))
        nofake = custom_op("cat07::nofake", nofake_fn, mutates_args=(), lib=lib)
        for op in (rec, noret, nofake):
            _register_effectful_op(op, ORDERED)
        yield {"rec": rec, "noret": noret, "nofake": nofake}


@pytest.fixture
def script_class():
    """A script-object class ``effq.Counter`` with a tensor-free method ``bump(int n) -> int``."""
    cls = register_class("effq", "Counter")
    cls.def_method("bump(int n) -> int", lambda self, n: n + 1)
    yield cls
    _unregister_class("effq", "Counter")


# -- EFF-1 .. EFF-8: effect types and the registry ------------------------------------------------


@pytest.mark.spec("EFF-1")
def test_effect_type_is_one_enum_with_member_ordered():
    assert _EffectType is EffectType, "expected _EffectType to be EffectType itself"
    assert issubclass(EffectType, enum.Enum), "expected EffectType to be an Enum"
    assert list(EffectType) == [ORDERED], f"expected only ORDERED, came {list(EffectType)}"
    assert ORDERED.value == "Ordered", f"expected value 'Ordered', came {ORDERED.value!r}"
    assert str(ORDERED) == "EffectType.ORDERED", f"came {str(ORDERED)!r}"
    # ref 02_errors prints the tokens dict with this repr.
    assert repr(ORDERED) == "<EffectType.ORDERED: 'Ordered'>", f"came {repr(ORDERED)!r}"


@pytest.mark.spec("EFF-2")
@pytest.mark.parametrize(
    ("op", "expected"),
    [
        (ops.aten._print.default, "aten::_print"),
        (ops.aten.add.Tensor, "aten::add.Tensor"),
        (call_torchbind, "higher_order::call_torchbind"),
        (with_effects, "higher_order::with_effects"),
        ("aten::_print.default", "aten::_print.default"),
        ("not_a_qualname", "not_a_qualname"),
    ],
    ids=["default-overload", "named-overload", "hop", "hop-with-effects", "str", "str-malformed"],
)
def test_get_op_qualname_of_each_identifier(op, expected):
    came = _get_op_qualname(op)
    assert came == expected, f"expected {expected!r}, came {came!r}"


@pytest.mark.spec("EFF-2")
def test_get_op_qualname_of_a_custom_op_is_its_qualname(cat01):
    came = _get_op_qualname(cat01["one"])
    assert came == "cat01::one", f"expected 'cat01::one', came {came!r}"


@pytest.mark.spec("EFF-2", "EFF-4", "EFF-7")
@pytest.mark.parametrize(
    ("bad", "shown"),
    [(123, "123"), (ops.aten.add, "aten.add"), (None, "None"), (3.5, "3.5")],
    ids=["int", "packet", "none", "float"],
)
@pytest.mark.parametrize("fn", ["_get_op_qualname", "_get_effect", "_register_effectful_op"])
def test_invalid_operator_input_is_a_value_error(fn, bad, shown):
    # ref 02_errors C1..C4: all three functions raise the same ValueError.
    call = {
        "_get_op_qualname": lambda: _get_op_qualname(bad),
        "_get_effect": lambda: _get_effect(bad),
        "_register_effectful_op": lambda: _register_effectful_op(bad, ORDERED),
    }[fn]
    with pytest.raises(ValueError) as excinfo:
        call()
    assert str(excinfo.value) == f"Invalid operator input {shown}", f"came {excinfo.value}"


@pytest.mark.spec("EFF-3", "EFF-7")
def test_registry_is_keyed_by_the_exact_qualname():
    # ref 03_registration: '_print' and '_print.default' are different entries.
    assert _get_effect("aten::_print") is ORDERED, "expected aten::_print ORDERED"
    assert _get_effect(ops.aten._print.default) is ORDERED, "expected the OpOverload ORDERED"
    assert _get_effect("aten::_print.default") is None, "expected 'aten::_print.default' None"
    first = simple_registry.singleton.get("aten::_print")
    second = simple_registry.singleton.get("aten::_print.default")
    assert first is not None and second is not None, "expected both entries to exist"
    assert first is not second, "expected two different entries"


@pytest.mark.spec("EFF-3", "EFF-7")
def test_find_creates_a_missing_entry_with_the_default():
    qualname = "nonexistent::op"
    simple_registry.singleton._data.pop(qualname, None)
    assert simple_registry.singleton.get(qualname) is None, "expected no entry before the call"
    assert _get_effect(qualname) is None, "expected 'nonexistent::op' None (ref 02_errors C6)"
    entry = simple_registry.singleton.get(qualname)
    assert entry is not None, "expected _get_effect to create the entry"
    assert simple_registry.singleton.find(qualname) is entry, "expected find to return it again"


NAMESPACE_MESSAGE = (
    'Expected `qualname` to be of the form "namespace::name", but got {q}. The qualname passed '
    "to the torch.library APIs must consist of a namespace and a name, e.g. aten::sin"
)


@pytest.mark.spec("EFF-3")
@pytest.mark.parametrize(
    ("qualname", "error", "message"),
    [
        ("not_a_qualname", ValueError, NAMESPACE_MESSAGE.format(q="not_a_qualname")),
        ("a::b::c", ValueError, NAMESPACE_MESSAGE.format(q="a::b::c")),
        (
            "aten::add.Tensor.extra",
            AssertionError,
            "Tried to split add.Tensor.extra based on '.' but found more than 1 '.'",
        ),
    ],
)
@pytest.mark.parametrize("via", ["_get_effect", "_register_effectful_op"])
def test_malformed_qualnames_raise_and_leave_no_entry(qualname, error, message, via):
    # ref 02_errors C5, C7.
    with pytest.raises(error) as excinfo:
        if via == "_get_effect":
            _get_effect(qualname)
        else:
            _register_effectful_op(qualname, ORDERED)
    assert str(excinfo.value) == message, f"expected {message!r}, came {str(excinfo.value)!r}"
    assert simple_registry.singleton.get(qualname) is None, "expected no entry left behind"


@pytest.mark.spec("EFF-3")
@st_.fast_settings(60)
@given(data=st.data())
def test_qualname_shape_decides_error_or_entry(data):
    namespace = data.draw(st.text("ab.:", min_size=0, max_size=4), label="namespace part")
    rest = data.draw(st.text("ab.:", min_size=0, max_size=6), label="rest")
    qualname = f"zz{namespace}::{rest}" if data.draw(st.booleans(), label="has ::") else rest
    parts = qualname.split("::")
    expected = None
    if len(parts) != 2:
        expected = ValueError
    elif len(parts[1].split(".")) > 2:
        expected = AssertionError
    simple_registry.singleton._data.pop(qualname, None)
    if expected is None:
        came = _get_effect(qualname)
        assert came is None, f"expected None for an unknown op {qualname!r}, came {came}"
        assert simple_registry.singleton.get(qualname) is not None, "expected an entry"
    else:
        with pytest.raises(expected):
            _get_effect(qualname)
        assert simple_registry.singleton.get(qualname) is None, f"no entry for {qualname!r}"


@pytest.mark.spec("EFF-4")
def test_register_returns_a_handle_and_sets_the_effect():
    handle = _register_effectful_op(ops.aten.add.Tensor, ORDERED)
    assert isinstance(handle, RegistrationHandle), f"expected a RegistrationHandle, {handle!r}"
    assert _get_effect("aten::add.Tensor") is ORDERED, "expected ORDERED after registering"
    _register_effectful_op("aten::add.Tensor", None)
    assert _get_effect(ops.aten.add.Tensor) is None, "expected None after registering None"


@pytest.mark.spec("EFF-4", "EFF-7")
def test_a_custom_op_reads_the_same_entry_through_every_identifier(cat01):
    # ref 03_registration: CustomOpDef, its OpOverload and 'ns::op' read ORDERED; 'ns::op.default'
    # reads None.
    one = cat01["one"]
    for ident in (one, ops.cat01.one.default, "cat01::one"):
        assert _get_effect(ident) is ORDERED, f"expected ORDERED through {ident!r}"
    assert _get_effect("cat01::one.default") is None, "expected 'cat01::one.default' None"


@pytest.mark.spec("EFF-4", "DSP-18")
def test_custom_op_register_effect():
    # ref 03_registration: register ORDERED, then foo.register_effect(None) -> None, then
    # foo.register_effect(ORDERED) -> ORDERED.
    with _scoped_library("cat03", "FRAGMENT") as lib:
        foo = custom_op(
            "cat03::foo",
            lambda x: x.clone(),
            mutates_args=(),
            lib=lib,
            schema="(Tensor x) -> Tensor",
        )
        assert _get_effect(foo) is None, "expected None before any registration"
        _register_effectful_op(foo, ORDERED)
        foo.register_effect(None)
        assert _get_effect(foo) is None, "expected None after register_effect(None)"
        foo.register_effect(ORDERED)
        assert _get_effect(foo) is ORDERED, "expected ORDERED after register_effect(ORDERED)"


@pytest.mark.spec("EFF-4", "DSP-17")
def test_library_register_effectful_op_is_undone_by_destroy():
    with _scoped_library("effq", "FRAGMENT") as lib:
        lib.define("lib_op(Tensor x) -> Tensor")
        lib._register_effectful_op("effq::lib_op", ORDERED)
        assert _get_effect("effq::lib_op") is ORDERED, "expected ORDERED while the lib lives"
        lib._register_effectful_op(ops.aten.add.Tensor, ORDERED)
    assert _get_effect("aten::add.Tensor") is None, "expected _destroy to undo the registration"


@pytest.mark.spec("EFF-5")
def test_destroy_restores_the_default_not_the_previous_value(cat01):
    # ref 03_registration.
    one = cat01["one"]  # registered ORDERED by the fixture; its default is None
    handle = _register_effectful_op(one, ORDERED)
    handle.destroy()
    assert _get_effect(one) is None, "expected the default None after destroy"
    handle.destroy()
    assert _get_effect(one) is None, "expected a second destroy to leave the default"

    handle = _register_effectful_op("aten::_print", None)
    handle.destroy()
    came = _get_effect("aten::_print")
    assert came is None, f"expected None (the default, not the import's ORDERED), came {came}"


@pytest.mark.spec("EFF-5", "EFF-6")
def test_destroy_on_a_hop_restores_none():
    # ref 03_registration: cond after register ORDERED -> ORDERED, after destroy -> None.
    handle = _register_effectful_op(with_effects, ORDERED)
    assert _get_effect(with_effects) is ORDERED, "expected ORDERED after registering"
    handle.destroy()
    assert _get_effect(with_effects) is None, "expected None after destroy"


@pytest.mark.spec("EFF-5", "EFF-6")
def test_profiler_op_default_is_ordered_after_destroy():
    # ref 03_registration: registered None at import; register + destroy -> ORDERED.
    assert _get_effect(PROFILER_OP) is None, "expected the import's None"
    _register_effectful_op(PROFILER_OP, ORDERED).destroy()
    came = _get_effect(PROFILER_OP)
    assert came is ORDERED, f"expected the schema default ORDERED, came {came}"


SCRIPT_CLASS = "__torch__.torch.classes.effq.Counter"


@pytest.mark.spec("EFF-6")
@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (f"with_obj({SCRIPT_CLASS} obj, Tensor x) -> ()", ORDERED),
        (f"obj_second(Tensor x, {SCRIPT_CLASS} obj) -> Tensor", ORDERED),
        ("plain(Tensor x, str tag) -> Tensor", None),
        (f"opt_obj({SCRIPT_CLASS}? obj) -> ()", None),
        (f"list_obj({SCRIPT_CLASS}[] objs) -> ()", None),
    ]
    + [(f"skip{i}({cls} p) -> ()", None) for i, cls in enumerate(skip_classes)]
    + [(f"skip_then_obj({skip_classes[0]} p, {SCRIPT_CLASS} obj) -> ()", ORDERED)],
)
def test_default_effect_from_the_schema(schema, expected):
    name = schema.split("(", 1)[0]
    with _scoped_library("effq", "FRAGMENT") as lib:
        lib.define(schema)
        came = _get_effect(f"effq::{name}")
        assert came is expected, f"expected {expected} for {schema!r}, came {came}"
        spelled = _get_effect(f"effq::{name}.default")
        assert spelled is None, f"expected 'effq::{name}.default' None (no such overload)"


@pytest.mark.spec("EFF-6")
def test_higher_order_namespace_defaults_to_none_and_so_do_unknown_ops():
    for qualname in ("higher_order::call_torchbind", "higher_order::anything", "ns::missing"):
        _register_effectful_op(qualname, ORDERED).destroy()
        came = _get_effect(qualname)
        assert came is None, f"expected default None for {qualname}, came {came}"


@pytest.mark.spec("EFF-6")
def test_entry_default_is_recomputed_when_the_op_goes_away():
    with _scoped_library("effq", "FRAGMENT") as lib:
        lib.define(f"gone({SCRIPT_CLASS} obj) -> ()")
        assert _get_effect("effq::gone") is ORDERED, "expected ORDERED while the op exists"
    assert _get_effect("effq::gone") is None, "expected None once the op is undefined"


@pytest.mark.spec("EFF-7")
@pytest.mark.parametrize(
    ("ident", "expected"),
    [
        ("nonexistent::op", None),
        ("aten::_print", ORDERED),
        (ops.aten._print.default, ORDERED),
        ("aten::_print.default", None),
        (ops.aten.add.Tensor, None),
        (call_torchbind, ORDERED),
        (with_effects, None),
        (PROFILER_OP, None),
    ],
    ids=str,
)
def test_get_effect_values(any_profile, ident, expected):
    # ref 02_errors C6, ref 03_registration "_get_effect".
    came = _get_effect(ident)
    assert came is expected, f"expected {expected} for {ident}, came {came}"


@pytest.mark.spec("EFF-8")
@pytest.mark.parametrize(
    ("profile", "ordered", "not_ordered"),
    [
        (
            "seed",
            ["aten::_print", "aten::_async_error", "higher_order::call_torchbind"],
            [
                "aten::_linalg_check_errors",
                "higher_order::print",
                "higher_order::invoke_leaf_function",
            ],
        ),
        (
            "torch-2.13",
            [
                "aten::_print",
                "aten::_linalg_check_errors",
                "higher_order::call_torchbind",
                "higher_order::print",
                "higher_order::invoke_leaf_function",
            ],
            ["aten::_async_error"],
        ),
    ],
)
def test_import_registrations_follow_the_profile(profile, ordered, not_ordered):
    refimpl.set_profile(profile)
    for qualname in ordered:
        came = _get_effect(qualname)
        assert came is ORDERED, f"{profile}: expected {qualname} ORDERED, came {came}"
    for qualname in not_ordered + [PROFILER_OP]:
        came = _get_effect(qualname)
        assert came is None, f"{profile}: expected {qualname} None, came {came}"


class RegistryMachine(RuleBasedStateMachine):
    """Registrations and destroys in any order against a dict model (EFF-3, EFF-4, EFF-5).

    [NOTE: destroy model] ``destroy()`` sets the entry to its schema default (EFF-6), whatever
    was registered before or after; defaults come from EFF-6 and ref 03_registration.
    """

    DEFAULTS = {
        "aten::_print": None,
        "aten::_async_error": None,
        "aten::_linalg_check_errors": None,
        "aten::add.Tensor": None,
        "aten::_print.default": None,
        PROFILER_OP: ORDERED,
        "higher_order::call_torchbind": None,
        "higher_order::with_effects": None,
        "nonexistent::op": None,
    }
    # Op objects that name the same entries (EFF-2).
    OBJECTS = {
        "aten::_print": ops.aten._print.default,
        "aten::add.Tensor": ops.aten.add.Tensor,
        PROFILER_OP: ops.profiler._record_function_exit._RecordFunction,
        "higher_order::call_torchbind": call_torchbind,
        "higher_order::with_effects": with_effects,
    }

    handles = Bundle("handles")

    def __init__(self) -> None:
        super().__init__()
        self.model = {q: _get_effect(q) for q in self.DEFAULTS}

    @rule(
        target=handles,
        qualname=st_.qualnames(),
        effect=st.sampled_from([ORDERED, None]),
        as_object=st.booleans(),
    )
    def register(self, qualname, effect, as_object):
        ident = self.OBJECTS.get(qualname, qualname) if as_object else qualname
        handle = _register_effectful_op(ident, effect)
        self.model[qualname] = effect
        return qualname, handle

    @rule(entry=handles)
    def destroy(self, entry):
        qualname, handle = entry
        handle.destroy()
        self.model[qualname] = self.DEFAULTS[qualname]

    @rule(entry=consumes(handles))
    def destroy_and_forget(self, entry):
        self.destroy(entry)

    @invariant()
    def registry_matches_model(self):
        for qualname, expected in self.model.items():
            came = _get_effect(qualname)
            assert came is expected, f"{qualname}: expected {expected}, came {came}"


@pytest.mark.spec("EFF-3", "EFF-4", "EFF-5")
def test_registry_state_machine(any_profile):
    run_state_machine_as_test(
        RegistryMachine, settings=st_.fast_settings(40, stateful_step_count=15)
    )


# -- EFF-9 .. EFF-17: with_effects ---------------------------------------------------------------


@pytest.mark.spec("EFF-9")
def test_with_effects_is_the_single_with_effects_hop():
    assert isinstance(with_effects, WithEffects), f"came {type(with_effects)}"
    assert issubclass(WithEffects, HigherOrderOperator), "expected a HigherOrderOperator"
    assert with_effects.name() == "with_effects", f"came {with_effects.name()!r}"
    assert with_effects.__name__ == "with_effects", f"came {with_effects.__name__!r}"
    assert with_effects.__module__ == "torch.ops.higher_order", f"{with_effects.__module__!r}"
    assert ops.higher_order.with_effects is with_effects, "expected ops.higher_order to find it"
    assert _get_effect(with_effects) is None, "expected with_effects' own effect None"


@pytest.mark.spec("EFF-10")
@pytest.mark.parametrize(
    "op", [ops.aten.add, len, lambda x: x, 123], ids=["packet", "builtin", "function", "int"]
)
def test_seed_rejects_non_operators_with_a_bare_assert(seed_profile, op):
    # The first check; has_aliasing would raise AttributeError on these if it ran first.
    with pytest.raises(AssertionError) as excinfo:
        with_effects(new_token_tensor(), op, refimpl.tensor([1.0]))
    assert_bare_assert(excinfo)


@pytest.mark.spec("EFF-10")
@pytest.mark.parametrize(
    "op", [ops.aten.add, len, lambda x: x, 123], ids=["packet", "builtin", "function", "int"]
)
def test_torch_2_13_rejects_non_operators_with_a_message(torch_2_13_profile, op):
    # ref 02_errors B3, B4.
    with pytest.raises(AssertionError) as excinfo:
        with_effects(new_token_tensor(), op, refimpl.tensor([1.0]))
    expected = f"op must be HigherOrderOperator or OpOverload, got {type(op)}"
    assert str(excinfo.value) == expected, f"expected {expected!r}, came {excinfo.value}"


@pytest.mark.spec("EFF-10")
def test_torch_2_13_packet_message_is_torchs(torch_2_13_profile):
    # ref 02_errors B3, verbatim.
    with pytest.raises(AssertionError) as excinfo:
        with_effects(new_token_tensor(), ops.aten.add, refimpl.tensor([1.0]))
    expected = (
        "op must be HigherOrderOperator or OpOverload, got <class 'torch._ops.OpOverloadPacket'>"
    )
    assert str(excinfo.value) == expected, f"expected {expected!r}, came {excinfo.value}"


@pytest.mark.spec("EFF-10", "EFF-11")
@pytest.mark.parametrize(
    "op", [ops.aten.absolute_.default, ops.aten.add_.Tensor, ops.aten.view.default], ids=str
)
def test_aliasing_ops_are_rejected_with_a_message(any_profile, op):
    # ref 02_errors A1: the aliasing check carries its message in every profile, and it runs
    # before the seed's has_effects check (these ops have no effect).
    x = refimpl.tensor([-1.0, 2.0])
    args = {"absolute_.default": (x,), "add_.Tensor": (x, x), "view.default": (x, [2])}
    with pytest.raises(AssertionError) as excinfo:
        with_effects(new_token_tensor(), op, *args[op.__name__])
    assert str(excinfo.value) == "Ops with aliasing is not supported", f"came {excinfo.value}"


@pytest.mark.spec("EFF-10", "EFF-12")
def test_mutating_op_with_an_effect_is_rejected_as_aliasing(any_profile):
    # ref 12_mutating_op_with_effect: ORDERED but aliasing, so has_effects is False and
    # with_effects raises the aliasing error.
    with _scoped_library("cat12", "FRAGMENT") as lib:
        bump = custom_op(
            "cat12::bump",
            lambda x, tag: None,
            mutates_args=("x",),
            lib=lib,
            schema="(Tensor(a0!) x, str tag) -> ()",
        )
        _register_effectful_op(bump, ORDERED)
        op = ops.cat12.bump.default
        assert _get_effect(op) is ORDERED, "expected the registration to stick"
        assert has_aliasing(op) is True, "expected has_aliasing True"
        assert has_effects(op) is False, "expected has_effects False"
        with pytest.raises(AssertionError) as excinfo:
            with_effects(new_token_tensor(), op, refimpl.tensor([1.0]), "t")
        assert str(excinfo.value) == "Ops with aliasing is not supported", f"{excinfo.value}"


@pytest.mark.spec("EFF-10")
def test_seed_asserts_has_effects(seed_profile):
    x = refimpl.tensor([-1.0, 2.0])
    with pytest.raises(AssertionError) as excinfo:
        with_effects(new_token_tensor(), ops.aten.add.Tensor, x, x)
    assert_bare_assert(excinfo)


@pytest.mark.spec("EFF-10", "EFF-14")
def test_torch_2_13_runs_an_op_without_effect(torch_2_13_profile):
    # ref 02_errors B1: (tensor([]), tensor([-2., 4.])).
    x = refimpl.tensor([-1.0, 2.0])
    token = new_token_tensor()
    out = with_effects(token, ops.aten.add.Tensor, x, x)
    assert len(out) == 2, f"expected 2 results, came {len(out)}"
    assert_fresh_token(out[0], token)
    assert values(out[1]) == [-2.0, 4.0], f"expected [-2.0, 4.0], came {values(out[1])}"


@pytest.mark.spec("EFF-11")
@pytest.mark.parametrize(
    ("op", "expected"),
    [
        (ops.aten.add_.Tensor, True),
        (ops.aten.absolute_.default, True),
        (ops.aten.view.default, True),
        (ops.aten.copy_.default, True),
        (ops.aten.lift_fresh.default, True),
        (ops.aten.add.Tensor, False),
        (ops.aten._print.default, False),
        (ops.aten._linalg_check_errors.default, False),
        (ops.profiler._record_function_exit._RecordFunction, False),
    ],
    ids=str,
)
def test_has_aliasing_of_op_overloads(any_profile, op, expected):
    # ref 03_registration "has_effects / has_aliasing".
    came = has_aliasing(op)
    assert came is expected, f"expected has_aliasing({op}) {expected}, came {came}"


@pytest.mark.spec("EFF-11")
def test_has_aliasing_of_a_str_is_an_attribute_error(any_profile):
    with pytest.raises(AttributeError) as excinfo:
        has_aliasing("aten::_print")
    expected = "'str' object has no attribute '_schema'"
    assert str(excinfo.value) == expected, f"expected {expected!r}, came {excinfo.value}"


@pytest.mark.spec("EFF-11")
@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("seed", {"call_torchbind": False, "with_effects": True}),
        ("torch-2.13", {"call_torchbind": False, "with_effects": False}),
    ],
)
def test_has_aliasing_of_hops_follows_the_profile(profile, expected):
    refimpl.set_profile(profile)
    for hop in (call_torchbind, with_effects):
        came = has_aliasing(hop)
        assert came is expected[hop.name()], f"{profile}: has_aliasing({hop}) came {came}"


@pytest.mark.spec("EFF-12")
@pytest.mark.parametrize(
    ("op", "expected_2_13", "expected_seed"),
    [
        (ops.aten._print.default, True, True),
        (ops.aten._linalg_check_errors.default, True, False),
        (ops.profiler._record_function_exit._RecordFunction, False, False),
        (ops.aten.add.Tensor, False, False),
        (ops.aten.add_.Tensor, False, False),
        (ops.aten.absolute_.default, False, False),
        (ops.aten.view.default, False, False),
        (call_torchbind, True, True),
        (with_effects, False, False),
        ("aten::_print", False, False),
    ],
    ids=str,
)
def test_has_effects_values(any_profile, op, expected_2_13, expected_seed):
    # ref 03_registration (torch 2.13); the seed lacks _linalg_check_errors' registration.
    expected = expected_seed if any_profile.name == "seed" else expected_2_13
    came = has_effects(op)
    assert came is expected, f"{any_profile.name}: expected has_effects({op}) {expected}"


@pytest.mark.spec("EFF-12")
def test_has_effects_is_false_for_a_custom_op_def(cat01):
    # ref 03_registration: only OpOverload and HOP count.
    assert has_effects(cat01["one"]) is False, "expected False for the CustomOpDef"
    assert has_effects(ops.cat01.one.default) is True, "expected True for its OpOverload"


@pytest.mark.spec("EFF-12")
@pytest.mark.parametrize(("profile", "expected"), [("seed", False), ("torch-2.13", True)])
def test_profiler_skip_follows_the_profile(profile, expected):
    # ref 03_registration (2.13): after register + destroy the op is ORDERED, has_effects True.
    refimpl.set_profile(profile)
    op = ops.profiler._record_function_exit._RecordFunction
    _register_effectful_op(op, ORDERED).destroy()
    assert _get_effect(op) is ORDERED, "expected the schema default ORDERED"
    came = has_effects(op)
    assert came is expected, f"{profile}: expected has_effects {expected}, came {came}"


@pytest.mark.spec("EFF-13", "EFF-25")
def test_new_token_tensor_is_a_fresh_empty_float32_tensor():
    first, second = new_token_tensor(), new_token_tensor()
    assert_fresh_token(second, first)
    assert values(first) == [], f"expected no values, came {values(first)}"
    assert repr(first) == "tensor([])", f"expected repr 'tensor([])', came {first!r}"


@pytest.mark.spec("EFF-14", "EFF-25")
def test_eager_print_returns_token_and_none(any_profile, capsys):
    # ref 01_eager_with_effects: prints x, returns (tensor([]), None).
    token = new_token_tensor()
    with record_effects() as log:
        out = with_effects(token, ops.aten._print.default, "x")
    assert type(out) is tuple and len(out) == 2, f"expected a 2-tuple, came {out!r}"
    assert_fresh_token(out[0], token)
    assert out[1] is None, f"expected None, came {out[1]!r}"
    assert capsys.readouterr().out == "x\n", "expected the op to print 'x' once"
    assert log == [("aten::_print", ("x",), ())], f"expected one _print event, came {log}"


@pytest.mark.spec("EFF-14", "EFF-25")
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("one", [[2.0, 3.0]]),
        ("two", [[2.0, 3.0], [2.0, 4.0]]),
        ("lst", [[[2.0, 3.0], [3.0, 4.0], [4.0, 5.0]]]),
        ("none", [None]),
    ],
)
def test_eager_return_structure_of_custom_ops(any_profile, cat01, name, expected):
    # ref 01_eager_with_effects: a tuple result is spread, a list stays one element, and an op
    # returning nothing gives (token, None).
    token = new_token_tensor()
    out = with_effects(token, getattr(ops.cat01, name).default, refimpl.tensor([1.0, 2.0]))
    assert type(out) is tuple, f"expected a tuple, came {type(out)}"
    assert len(out) == 1 + len(expected), f"expected length {1 + len(expected)}, {len(out)}"
    assert_fresh_token(out[0], token)
    came = [
        None if o is None else [values(t) for t in o] if isinstance(o, list) else values(o)
        for o in out[1:]
    ]
    assert came == expected, f"expected {expected}, came {came}"
    if name == "lst":
        assert isinstance(out[1], list), f"expected the Tensor[] result as a list, {type(out[1])}"
    if name == "none":
        assert LOG == [("none", [1.0, 2.0])], f"expected the op body to run once, came {LOG}"


@pytest.mark.spec("EFF-15", "EFF-25", "DSP-15")
def test_fake_mode_runs_fake_impls_and_no_real_kernels(any_profile, cat07, capsys):
    # ref 07_fake_tensor_mode.
    with FakeTensorMode(), record_effects() as log:
        token = refimpl.tensor([])
        x = refimpl.empty(3, 4)
        out = with_effects(token, ops.aten._print.default, "hello from fake")
        assert len(out) == 2 and out[1] is None, f"expected (token, None), came {out!r}"
        assert_fresh_token(out[0], token, cls=FakeTensor)

        out = with_effects(token, ops.cat07.rec.default, x, "a")
        assert_fresh_token(out[0], token, cls=FakeTensor)
        assert isinstance(out[1], FakeTensor), f"expected a FakeTensor result, {type(out[1])}"
        assert (out[1].shape, out[1].dtype) == ((3, 4), refimpl.float64), (
            f"expected the fake impl's (3, 4) float64, came {out[1].shape} {out[1].dtype}"
        )
        out = with_effects(token, ops.cat07.noret.default, x)
        assert out[1] is None, f"expected None, came {out[1]!r}"
    assert capsys.readouterr().out == "", "expected nothing printed under FakeTensorMode"
    assert log == [], f"expected no effect events, came {log}"
    assert LOG == [("fake", "a"), ("fake", "noret")], f"expected fake impls only, came {LOG}"


@pytest.mark.spec("EFF-15", "DSP-15")
def test_fake_mode_without_fake_impl_raises(any_profile, cat07):
    # ref 07_fake_tensor_mode: cat07.nofake.
    with FakeTensorMode(), pytest.raises(RuntimeError) as excinfo:
        with_effects(refimpl.tensor([]), ops.cat07.nofake.default, refimpl.empty(3, 4))
    expected = (
        "There was no fake impl registered for <CustomOpDef(cat07::nofake)>. This is necessary "
        "for torch.compile/export/fx tracing to work. Please use `nofake.register_fake` to add "
        "an fake impl."
    )
    assert str(excinfo.value) == expected, f"expected {expected!r}, came {excinfo.value}"
    assert LOG == [], f"expected the real kernel not to run, came {LOG}"


@pytest.mark.spec("EFF-15")
def test_fake_rule_is_registered_for_fake_tensor_mode(any_profile):
    assert FakeTensorMode in with_effects.python_key_table, "expected a FakeTensorMode rule"


B2_CODE = """
def forward(self, t_1, a_1):
    with_effects = torch.ops.higher_order.with_effects(t_1, torch.ops.aten.add.Tensor, a_1, a_1);  t_1 = a_1 = None
    getitem = with_effects[0]
    getitem_1 = with_effects[1];  with_effects = None
    return (getitem, getitem_1)
"""  # noqa: E501 - ref 02_errors B2, verbatim


@pytest.fixture
def side_effect_set():
    """Restore ``_side_effectful_functions`` (tracing with_effects adds its op)."""
    saved = set(_side_effectful_functions)
    yield
    _side_effectful_functions.clear()
    _side_effectful_functions.update(saved)


@pytest.mark.spec("EFF-16")
def test_proxy_rule_emits_one_with_effects_node(torch_2_13_profile, side_effect_set):
    _side_effectful_functions.discard(ops.aten.add.Tensor)
    fn = lambda t, a: with_effects(t, ops.aten.add.Tensor, a, a)  # noqa: E731
    gm = make_fx(fn)(new_token_tensor(), refimpl.tensor([-1.0, 2.0]))
    assert gm.code.strip() == B2_CODE.strip(), f"expected ref 02 B2's code, came\n{gm.code}"
    calls = [n for n in gm.graph.nodes if n.op == "call_function" and n.target is with_effects]
    assert len(calls) == 1, f"expected one with_effects node, came {len(calls)}"
    assert calls[0].args[1] is ops.aten.add.Tensor, f"expected the op argument, {calls[0].args}"
    assert ops.aten.add.Tensor in _side_effectful_functions, "expected the op marked"
    assert with_effects not in _side_effectful_functions, "expected with_effects not marked"


@pytest.mark.spec("EFF-16")
def test_proxy_rule_runs_the_op_untraced_once(any_profile, side_effect_set, capsys):
    fn = lambda t: with_effects(t, ops.aten._print.default, "traced")  # noqa: E731
    gm = make_fx(fn)(new_token_tensor())
    targets = [n.target for n in gm.graph.nodes if n.op == "call_function"]
    assert targets.count(with_effects) == 1, f"expected one with_effects node, came {targets}"
    assert ops.aten._print.default not in targets, "expected _print only inside with_effects"
    assert capsys.readouterr().out == "traced\n", "expected real tracing to run _print once"


@pytest.mark.spec("EFF-17")
def test_with_effects_falls_through_autograd():
    for key in (DispatchKey.AutogradCPU, DispatchKey.AutogradCUDA):
        assert not with_effects.non_fallthrough_keys.has(key), f"expected {key} to fall through"
    x = refimpl.tensor([1.0])
    keys = key_extractor([new_token_tensor(), x], with_effects.non_fallthrough_keys)
    came = keys.highestPriorityTypeId()
    assert came is DispatchKey.CPU, f"expected a dense call to reach CPU, came {came}"
    assert not with_effects.has_kernel_for_dispatch_key(DispatchKey.AutogradCPU), (
        "expected no autograd rule of its own"
    )


# -- EFF-18 .. EFF-24: handle_effects ------------------------------------------------------------


@pytest.mark.spec("EFF-18")
def test_get_schema_of_op_overload_and_call_torchbind(any_profile, script_class):
    op = ops.aten._print.default
    assert _get_schema(op, ("x",)) is op._schema, "expected op._schema for an OpOverload"
    obj = script_class()
    schema = _get_schema(call_torchbind, (obj, "bump", 1))
    assert schema is obj.bump.schema, f"expected the method's schema, came {schema}"
    assert str(schema) == f"bump({obj._type().qualified_name()} _0, int n) -> int", f"{schema}"


@pytest.mark.spec("EFF-18")
def test_get_schema_of_other_hops_is_a_runtime_error(any_profile):
    with pytest.raises(RuntimeError) as excinfo:
        _get_schema(with_effects, ())
    assert str(excinfo.value) == "Unable to get schema for op with_effects", f"{excinfo.value}"


@pytest.mark.spec("EFF-19")
def test_handle_effects_without_token_and_discovery_off(any_profile):
    # ref 02_errors D1: the message is the seed's too.
    with pytest.raises(AssertionError) as excinfo:
        handle_effects(False, {}, ops.aten._print.default, ("hi",), {})
    expected = (
        "Could not find a token for effect EffectType.ORDERED which came from the function "
        "aten._print.default"
    )
    assert str(excinfo.value) == expected, f"expected {expected!r}, came {excinfo.value}"


@pytest.mark.spec("EFF-19")
@pytest.mark.parametrize("profile", ["seed", "torch-2.13"])
def test_handle_effects_on_an_op_without_effect(profile):
    # ref 02_errors D2 (torch 2.13); the seed's bare assert.
    refimpl.set_profile(profile)
    x = refimpl.tensor([1.0])
    with pytest.raises(AssertionError) as excinfo:
        handle_effects(False, {}, ops.aten.add.Tensor, (x, x), {})
    if profile == "seed":
        assert_bare_assert(excinfo)
    else:
        expected = "effect key must not be None for op aten.add.Tensor"
        assert str(excinfo.value) == expected, f"expected {expected!r}, came {excinfo.value}"


@pytest.mark.spec("EFF-20", "EFF-23", "EFF-25")
def test_token_discovery_outside_modes(any_profile, capsys):
    # ref 02_errors D3: prints hi, returns None, and the dict holds a FunctionalTensor.
    tokens = {}
    out = handle_effects(True, tokens, ops.aten._print.default, ("hi",), {})
    assert out is None, f"expected None, came {out!r}"
    assert capsys.readouterr().out == "hi\n", "expected 'hi' printed once"
    assert list(tokens) == [ORDERED], f"expected one ORDERED token, came {tokens}"
    token = tokens[ORDERED]
    assert isinstance(token, FunctionalTensor), f"expected a FunctionalTensor, {type(token)}"
    assert repr(token) == "FunctionalTensor(_to_functional_tensor(tensor([])))", f"{token!r}"


@pytest.mark.spec("EFF-20")
def test_token_discovery_while_tracing_adds_tangents_token(any_profile, side_effect_set):
    # ref 06_functionalization_make_fx C: forward(self, arg0_1, tangents_token).
    def f(x):
        ops.aten._print.default("first")
        return x.sin()

    mode = FunctionalTensorMode(_allow_token_discovery=True)
    gm = make_fx(dispatch_functionalize(f, mode))(refimpl.tensor([1.0]))
    names = [n.name for n in gm.graph.nodes if n.op == "placeholder"]
    assert names == ["arg0_1", "tangents_token"], f"expected a tangents_token last, {names}"
    assert "def forward(self, arg0_1, tangents_token):" in gm.code, f"came\n{gm.code}"


@pytest.mark.spec("EFF-20")
def test_tracing_without_discovery_raises(any_profile):
    # ref 06_functionalization_make_fx B.
    def f(x):
        ops.aten._print.default("first")
        return x.sin()

    with pytest.raises(AssertionError) as excinfo:
        make_fx(dispatch_functionalize(f, FunctionalTensorMode()))(refimpl.tensor([1.0]))
    assert str(excinfo.value).startswith("Could not find a token for effect EffectType.ORDERED"), (
        f"came {excinfo.value}"
    )


def _seen_type(x: Tensor) -> Tensor:
    LOG.append(type(x))
    return x + 1


@pytest.mark.spec("EFF-21", "EFF-23", "EFF-25")
def test_handle_effects_unwraps_inputs_and_wraps_outputs(any_profile):
    LOG.clear()
    with _scoped_library("effq", "FRAGMENT") as lib:
        seen = custom_op("effq::seen", _seen_type, mutates_args=(), lib=lib)
        _register_effectful_op(seen, ORDERED)
        mode = FunctionalTensorMode()
        old = FunctionalTensor._wrap(new_token_tensor(), mode)
        tokens = {ORDERED: old}
        x = FunctionalTensor._wrap(refimpl.tensor([1.0, 2.0]), mode)
        out = handle_effects(False, tokens, ops.effq.seen.default, (x,), {})
    assert [Tensor] == LOG, f"expected the op to see a plain Tensor, came {LOG}"
    assert isinstance(out, FunctionalTensor), f"expected a wrapped output, came {type(out)}"
    assert values(out) == [2.0, 3.0], f"expected [2.0, 3.0], came {values(out)}"
    new = tokens[ORDERED]
    assert isinstance(new, FunctionalTensor), f"expected a wrapped token, came {type(new)}"
    assert_fresh_token(new.elem, old.elem)
    assert new is not old, "expected tokens[key] to be replaced"


@pytest.mark.spec("EFF-22")
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("one", [2.0, 3.0]),
        ("two", [[2.0, 3.0], [2.0, 4.0]]),
        ("lst", [[2.0, 3.0], [3.0, 4.0], [4.0, 5.0]]),
        ("none", None),
    ],
)
def test_handle_effects_normalises_outputs_by_schema_returns(any_profile, cat01, name, expected):
    tokens = {ORDERED: new_token_tensor()}
    out = handle_effects(
        False, tokens, getattr(ops.cat01, name).default, (refimpl.tensor([1.0, 2.0]),), {}
    )
    if expected is None:
        assert out is None, f"expected None for a -> () op, came {out!r}"
        return
    if name == "one":
        assert isinstance(out, FunctionalTensor), f"expected the single output, came {out!r}"
        came = values(out)
    else:
        assert isinstance(out, list), f"expected a list, came {type(out)}"
        came = [values(o) for o in out]
    assert came == expected, f"expected {expected}, came {came}"


@pytest.mark.spec("EFF-22")
@pytest.mark.parametrize(
    ("schema", "result", "message"),
    [
        ("(Tensor x) -> (Tensor, Tensor)", 3, "expected 2 outputs but got 3"),
        ("(Tensor x) -> Tensor", 2, "expected 1 output but got 2"),
        ("(Tensor x) -> ()", 1, "expected no outputs but got "),
    ],
)
@pytest.mark.parametrize("profile", ["seed", "torch-2.13"])
def test_handle_effects_output_count_mismatch(profile, schema, result, message):
    refimpl.set_profile(profile)

    def body(x):
        outs = tuple(x + i for i in range(result))
        return outs[0] if result == 1 else outs

    with _scoped_library("effq", "FRAGMENT") as lib:
        op = custom_op("effq::miscount", body, mutates_args=(), lib=lib, schema=schema)
        _register_effectful_op(op, ORDERED)
        with pytest.raises(AssertionError) as excinfo:
            handle_effects(
                False,
                {ORDERED: new_token_tensor()},
                ops.effq.miscount.default,
                (refimpl.tensor([1.0]),),
                {},
            )
    if profile == "seed":
        assert_bare_assert(excinfo)
    else:
        assert str(excinfo.value).startswith(message), f"expected {message!r}, {excinfo.value}"


@pytest.mark.spec("EFF-19", "EFF-22", "DSP-19")
def test_handle_effects_threads_a_token_through_call_torchbind(any_profile, script_class):
    tokens = {}
    obj = script_class()
    out = handle_effects(True, tokens, call_torchbind, (obj, "bump", 41), {})
    assert out == 42, f"expected the method's 42, came {out!r}"
    assert isinstance(tokens.get(ORDERED), FunctionalTensor), f"expected a token, {tokens}"


@pytest.mark.spec("EFF-24")
@pytest.mark.parametrize(("profile", "has_rule"), [("seed", False), ("torch-2.13", True)])
def test_functionalize_rule_follows_the_profile(profile, has_rule):
    refimpl.set_profile(profile)
    came = FunctionalTensorMode in with_effects.python_key_table
    assert came is has_rule, f"{profile}: expected a FunctionalTensorMode rule: {has_rule}"

    def f(token):
        return with_effects(token, ops.aten._print.default, "functional")

    run = dispatch_functionalize(f, FunctionalTensorMode())
    if has_rule:
        out = run(new_token_tensor())
        assert len(out) == 2 and out[1] is None, f"expected (token, None), came {out!r}"
        assert_fresh_token(out[0], None)
    else:
        # DSP-8: a mode without a rule for the HOP.
        with pytest.raises(NotImplementedError) as excinfo:
            run(new_token_tensor())
        prefix = "There was no rule registered for HigherOrderOperator with_effects and mode"
        assert str(excinfo.value).startswith(prefix), f"came {excinfo.value}"


@pytest.mark.spec("EFF-25")
@st_.fast_settings(30)
@given(data=st.data())
def test_every_token_is_fresh(torch_2_13_profile, data):
    n = data.draw(st.integers(1, 4), label="number of chained calls")
    fake = data.draw(st.booleans(), label="under FakeTensorMode")
    seen = []
    with FakeTensorMode() if fake else contextlib.nullcontext():
        token = refimpl.tensor([])
        seen.append(token)
        for _ in range(n):
            out = with_effects(token, ops.aten.add.Tensor, refimpl.empty(2), refimpl.empty(2))
            assert_fresh_token(out[0], token, cls=FakeTensor if fake else Tensor)
            assert all(out[0] is not s for s in seen), "expected a token never seen before"
            token = out[0]
            seen.append(token)


@pytest.mark.spec("EFF-25")
def test_discovered_and_advanced_tokens_are_fresh(any_profile):
    tokens = {}
    handle_effects(True, tokens, ops.aten._print.default, ("a",), {})
    first = tokens[ORDERED]
    handle_effects(False, tokens, ops.aten._print.default, ("b",), {})
    second = tokens[ORDERED]
    assert second is not first, "expected a new token after the second call"
    assert_fresh_token(second.elem, first.elem)


@pytest.mark.spec("EFF-14")
def test_eager_with_effects_output_dtypes_match_the_op(torch_2_13_profile):
    x = refimpl.tensor([1, 2])
    out = with_effects(new_token_tensor(), ops.aten.mul.Tensor, x, x)
    assert out[1].dtype is refimpl.int64, f"expected int64, came {out[1].dtype}"
    assert np.array_equal(out[1].numpy(), np.array([1, 4])), f"came {values(out[1])}"
