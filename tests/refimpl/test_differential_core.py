"""The same program twice: refimpl and the installed torch, compared, under that build's profile.

Models: the installed torch itself (2.13.0, 2.14.1 or 2.15.0), run in this process; each test
runs one small program through refimpl and through torch and compares one observable (error type
and message, return structure, effect registry, dtype, values, names, key sets).
Spec: EFF-2, EFF-3, EFF-5, EFF-6, EFF-7, EFF-10, EFF-11, EFF-12, EFF-14, EFF-15, EFF-19, EFF-23,
DSP-7, DSP-12, DSP-14, DSP-15, DSP-18, DSP-19, DSP-20.

Simplifications:
1. Every test is ``@pytest.mark.torch`` and the module skips when torch cannot be imported.
2. torch's effect registry is process-wide and other test modules share the process, so a
   fixture snapshots its entries and writes them back after each test (refimpl's likewise,
   through ``isolated_effects``); torch custom ops live in the ``diffcore`` namespace, defined
   once per session since torch cannot undefine them.
3. Known differences are ``xfail(strict=True)`` cases that name the refimpl function to fix.
"""

from __future__ import annotations

import typing

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import refimpl
import tests.strategies as st_
from refimpl import dtype as dtypes
from refimpl import effects as r_effects
from refimpl import ops as r_ops
from refimpl._library.custom_ops import infer_schema as r_infer_schema
from refimpl.aten import OPS as REFIMPL_OPS
from refimpl.dispatch_key import _RUNTIME_ORDER, DispatchKey
from refimpl.fake_tensor import FakeTensorMode as RFakeTensorMode
from refimpl.library import _scoped_library, custom_op
from refimpl.operator import HigherOrderOperator as RHop
from refimpl.operator import _higher_order_ops
from refimpl.operator import resolve_key as r_resolve_key
from refimpl.tensor import Tensor as RTensor

pytestmark = [pytest.mark.torch,
              pytest.mark.usefixtures("installed_torch_profile", "torch_effects")]

torch = pytest.importorskip("torch")

from torch._higher_order_ops import effects as t_effects  # noqa: E402
from torch._library import simple_registry as t_registry  # noqa: E402
from torch._subclasses.fake_tensor import FakeTensorMode as TFakeTensorMode  # noqa: E402

ORDERED_R = r_effects._EffectType.ORDERED
ORDERED_T = t_effects._EffectType.ORDERED
PROFILER_OP = "profiler::_record_function_exit._RecordFunction"


# -- the two adapters ------------------------------------------------------------------------------


class Side:
    """One implementation: its effects module, ops, tensor constructor and fake mode."""

    def __init__(self, name, effects, ops, tensor, fake_mode, ordered, namespace):
        self.name = name
        self.effects = effects
        self.ops = ops
        self.tensor = tensor
        self.FakeTensorMode = fake_mode
        self.ORDERED = ordered
        self.ns = namespace  # the custom ops of scenarios 01/07: ops.<ns>.one ...


REFIMPL = Side("refimpl", r_effects, r_ops, refimpl.tensor, RFakeTensorMode, ORDERED_R, None)
TORCH = Side("torch", t_effects, torch.ops, torch.tensor, TFakeTensorMode, ORDERED_T, None)
SIDES = (REFIMPL, TORCH)


def outcome(fn):
    """``("ok", value)`` or ``("error", type name, message)``."""
    try:
        return ("ok", fn())
    except Exception as error:  # noqa: BLE001 - the outcome is what is compared
        return ("error", type(error).__name__, str(error))


def assert_same_error(program):
    """Run ``program(side)`` on both sides; both must raise the same type and message."""
    came = {side.name: outcome(lambda s=side: program(s)) for side in SIDES}
    for name, result in came.items():
        assert result[0] == "error", f"expected {name} to raise, came {result!r}"
    assert came["refimpl"] == came["torch"], (
        f"expected refimpl's error to equal torch's\n  torch:   {came['torch'][1:]}\n"
        f"  refimpl: {came['refimpl'][1:]}"
    )


# -- fixtures: registries, custom ops --------------------------------------------------------------


@pytest.fixture
def torch_effects():
    """Snapshot torch's effect registry and write it back afterwards."""
    saved = {q: e.effect._effect for q, e in t_registry.singleton._data.items()}
    yield
    for qualname, entry in list(t_registry.singleton._data.items()):
        if qualname in saved:
            entry.effect._effect = saved[qualname]
        else:
            entry.effect._set_default_effect()


def _one(x):
    return x + 1


def _two(x):
    return x + 1, x * 2


def _lst(x):
    return [x + 1, x + 2, x + 3]


def _none(x):
    return None


def nofake(x):
    return x.clone()


def _named_otherwise(x):
    return x.clone()


# Scenario 01's ops (and 07's nofake), with explicit schemas so both sides read the same text.
CUSTOM_OPS = {
    "one": (_one, "(Tensor x) -> Tensor"),
    "two": (_two, "(Tensor x) -> (Tensor, Tensor)"),
    "lst": (_lst, "(Tensor x) -> Tensor[]"),
    "none": (_none, "(Tensor x) -> ()"),
    "nofake": (nofake, "(Tensor x) -> Tensor"),
    "renamed": (_named_otherwise, "(Tensor x) -> Tensor"),
}


@pytest.fixture(scope="session")
def torch_custom_ops():
    """``torch.ops.diffcore.*``, defined once (torch cannot undefine a custom_op)."""
    for name, (fn, schema) in CUSTOM_OPS.items():
        if _torch_op(f"diffcore::{name}") is None:
            torch.library.custom_op(f"diffcore::{name}", fn, mutates_args=(), schema=schema)
    return torch.ops.diffcore


@pytest.fixture
def refimpl_custom_ops():
    with _scoped_library("diffcore", "FRAGMENT") as lib:
        for name, (fn, schema) in CUSTOM_OPS.items():
            custom_op(f"diffcore::{name}", fn, mutates_args=(), schema=schema, lib=lib)
        yield r_ops.diffcore


@pytest.fixture
def custom_sides(torch_custom_ops, refimpl_custom_ops):
    """Both sides with ``side.ns`` set to their ``diffcore`` namespace, every op ORDERED."""
    sides = []
    for side, ns in ((REFIMPL, refimpl_custom_ops), (TORCH, torch_custom_ops)):
        copy = Side(
            side.name, side.effects, side.ops, side.tensor, side.FakeTensorMode, side.ORDERED, ns
        )
        for name in CUSTOM_OPS:
            side.effects._register_effectful_op(f"diffcore::{name}", side.ORDERED)
        sides.append(copy)
    return sides


# -- EFF-10: with_effects errors ----------------------------------------------------------------


@pytest.mark.spec("EFF-10", "EFF-11")
def test_with_effects_on_an_aliasing_op():
    assert_same_error(
        lambda s: s.effects.with_effects(
            s.tensor([]), s.ops.aten.absolute_.default, s.tensor([-1.0, 2.0])
        )
    )


@pytest.mark.spec("EFF-10")
@pytest.mark.parametrize("fn", [len, lambda x: x], ids=["builtin", "function"])
def test_with_effects_on_a_plain_function(fn):
    assert_same_error(lambda s: s.effects.with_effects(s.tensor([]), fn, s.tensor([1.0])))


@pytest.mark.spec("EFF-10")
def test_with_effects_on_an_op_overload_packet():
    assert_same_error(
        lambda s: s.effects.with_effects(
            s.tensor([]), s.ops.aten.add, s.tensor([1.0]), s.tensor([1.0])
        )
    )


# -- EFF-2, EFF-3, EFF-7: qualnames --------------------------------------------------------------


@pytest.mark.spec("EFF-2")
@pytest.mark.parametrize("which", ["int", "packet"])
@pytest.mark.parametrize("fn", ["_get_op_qualname", "_get_effect"])
def test_invalid_operator_inputs(which, fn):
    def program(side):
        bad = 123 if which == "int" else side.ops.aten.add
        return getattr(side.effects, fn)(bad)

    assert_same_error(program)


@pytest.mark.spec("EFF-3")
@pytest.mark.parametrize("qualname", ["not_a_qualname", "aten::add.Tensor.extra", "a::b::c"])
def test_malformed_qualnames(qualname):
    assert_same_error(lambda s: s.effects._get_effect(qualname))


# -- EFF-19: handle_effects errors ----------------------------------------------------------------


@pytest.mark.spec("EFF-19")
def test_handle_effects_with_discovery_off():
    assert_same_error(
        lambda s: s.effects.handle_effects(False, {}, s.ops.aten._print.default, ("hi",), {})
    )


@pytest.mark.spec("EFF-19")
def test_handle_effects_on_an_op_without_effect():
    def program(side):
        x = side.tensor([1.0])
        return side.effects.handle_effects(False, {}, side.ops.aten.add.Tensor, (x, x), {})

    assert_same_error(program)


@pytest.mark.spec("EFF-20", "EFF-23")
def test_handle_effects_discovery_outside_modes_stores_a_functional_token(capfd):
    came = {}
    for side in SIDES:
        tokens = {}
        out = side.effects.handle_effects(True, tokens, side.ops.aten._print.default, ("hi",), {})
        came[side.name] = (out, repr(tokens))
    assert came["refimpl"] == came["torch"], f"expected {came['torch']}, came {came['refimpl']}"


@pytest.mark.spec("EFF-11")
def test_has_aliasing_of_a_str():
    assert_same_error(lambda s: s.effects.has_aliasing("aten::_print"))


# -- DSP-15: fake mode without a fake impl ---------------------------------------------------------


@pytest.mark.spec("DSP-15", "EFF-15")
@pytest.mark.parametrize(
    ("via", "name"),
    [
        ("direct", "nofake"),
        ("with_effects", "nofake"),
        ("direct", "renamed"),
    ],
)
def test_custom_op_without_fake_impl_under_fake_mode(custom_sides, via, name):
    def program(side):
        with side.FakeTensorMode():
            x = side.tensor([1.0, 2.0])
            op = getattr(side.ns, name).default
            if via == "direct":
                return op(x)
            return side.effects.with_effects(side.tensor([]), op, x)

    refimpl_side, torch_side = custom_sides
    came = {s.name: outcome(lambda s=s: program(s)) for s in custom_sides}
    torch_first = came["torch"][:2] + (came["torch"][2].splitlines()[0],)
    assert came["refimpl"] == torch_first, f"expected {torch_first}, came {came['refimpl']}"


# -- EFF-14: eager return structure ----------------------------------------------------------------


def _describe(value):
    """A comparable picture of a with_effects result element."""
    if value is None:
        return None
    if isinstance(value, list):
        return ["list", [_describe(v) for v in value]]
    return ["tensor", tuple(value.shape), str(value.dtype), np.asarray(value.tolist()).tolist()]


@pytest.mark.spec("EFF-14", "EFF-25")
@pytest.mark.parametrize("name", ["_print", "one", "two", "lst", "none"])
def test_eager_with_effects_return_structure(custom_sides, name, capfd):
    came = {}
    for side in custom_sides:
        token = side.tensor([])
        if name == "_print":
            out = side.effects.with_effects(token, side.ops.aten._print.default, "x")
        else:
            op = getattr(side.ns, name).default
            out = side.effects.with_effects(token, op, side.tensor([1.0, 2.0]))
        came[side.name] = (
            type(out).__name__,
            len(out),
            out[0] is token,
            [_describe(o) for o in out],
        )
    assert came["refimpl"] == came["torch"], f"expected {came['torch']}, came {came['refimpl']}"


# -- EFF-5 .. EFF-7, EFF-12: the registry of scenario 03 -------------------------------------------


def _identifiers(side):
    return {
        "'aten::_print'": "aten::_print",
        "aten._print.default": side.ops.aten._print.default,
        "'aten::_print.default'": "aten::_print.default",
        "'aten::_linalg_check_errors'": "aten::_linalg_check_errors",
        "higher_order.call_torchbind": side.ops.higher_order.call_torchbind,
        "higher_order.with_effects": side.effects.with_effects,
        "'higher_order::print'": "higher_order::print",
        "'higher_order::invoke_leaf_function'": "higher_order::invoke_leaf_function",
        "profiler op": PROFILER_OP,
        "aten.add.Tensor": side.ops.aten.add.Tensor,
        "'nonexistent::op'": "nonexistent::op",
    }


def _effect_name(effect):
    return None if effect is None else effect.name


@pytest.mark.spec("EFF-7", "EFF-8")
def test_get_effect_table():
    came = {
        side.name: {
            k: _effect_name(side.effects._get_effect(v)) for k, v in _identifiers(side).items()
        }
        for side in SIDES
    }
    assert came["refimpl"] == came["torch"], f"expected {came['torch']}, came {came['refimpl']}"


@pytest.mark.spec("EFF-11", "EFF-12")
def test_has_effects_and_has_aliasing_table():
    def table(side):
        aten, hop = side.ops.aten, side.ops.higher_order
        ops_ = {
            "_print": aten._print.default,
            "_linalg_check_errors": aten._linalg_check_errors.default,
            "profiler": side.ops.profiler._record_function_exit._RecordFunction,
            "add.Tensor": aten.add.Tensor,
            "add_.Tensor": aten.add_.Tensor,
            "absolute_": aten.absolute_.default,
            "view": aten.view.default,
            "copy_": aten.copy_.default,
            "call_torchbind": hop.call_torchbind,
            "with_effects": side.effects.with_effects,
        }
        return {
            k: (side.effects.has_effects(v), side.effects.has_aliasing(v)) for k, v in ops_.items()
        } | {"str": side.effects.has_effects("aten::_print")}

    came = {side.name: table(side) for side in SIDES}
    assert came["refimpl"] == came["torch"], f"expected {came['torch']}, came {came['refimpl']}"


@pytest.mark.spec("EFF-3", "EFF-4", "EFF-7")
def test_custom_op_qualname_keying(custom_sides):
    def keys(side):
        return {
            "OpOverload": _effect_name(side.effects._get_effect(side.ns.one.default)),
            "'diffcore::one'": _effect_name(side.effects._get_effect("diffcore::one")),
            "'diffcore::one.default'": _effect_name(
                side.effects._get_effect("diffcore::one.default")
            ),
            "has_effects": side.effects.has_effects(side.ns.one.default),
        }

    came = {side.name: keys(side) for side in custom_sides}
    assert came["refimpl"] == came["torch"], f"expected {came['torch']}, came {came['refimpl']}"


@pytest.mark.spec("EFF-5", "EFF-6", "EFF-12")
def test_destroy_restores_the_schema_default():
    def program(side):
        eff = side.effects
        seen = []
        handle = eff._register_effectful_op("aten::_print", None)
        handle.destroy()
        seen.append(("_print after destroy", _effect_name(eff._get_effect("aten::_print"))))
        handle.destroy()
        seen.append(("second destroy", _effect_name(eff._get_effect("aten::_print"))))
        eff._register_effectful_op(PROFILER_OP, side.ORDERED).destroy()
        profiler = side.ops.profiler._record_function_exit._RecordFunction
        seen.append(
            ("profiler", _effect_name(eff._get_effect(PROFILER_OP)), eff.has_effects(profiler))
        )
        hop = side.ops.higher_order.call_torchbind
        eff._register_effectful_op(hop, None).destroy()
        seen.append(("call_torchbind", _effect_name(eff._get_effect(hop))))
        return seen

    came = {side.name: program(side) for side in SIDES}
    assert came["refimpl"] == came["torch"], f"expected {came['torch']}, came {came['refimpl']}"


# -- DSP-20: promotion and values ----------------------------------------------------------------

TORCH_DTYPES = {name: getattr(torch, name) for name in st_.DTYPE_NAMES}
REFIMPL_DTYPES = {name: dtypes.get_dtype(name) for name in st_.DTYPE_NAMES}


def _torch_operand(kind, shape, value):
    if kind == "scalar":
        return value
    return torch.zeros((2,) if shape else (), dtype=TORCH_DTYPES[value])


@pytest.mark.spec("DSP-20")
@st_.fast_settings(100)
@given(data=st.data())
def test_result_type_matches_torch(data):
    from torch._prims_common import ELEMENTWISE_TYPE_PROMOTION_KIND, elementwise_dtypes

    operands = data.draw(st.lists(st_.operands(), min_size=1, max_size=4), label="operands")
    _, expected = elementwise_dtypes(
        *[_torch_operand(*o) for o in operands],
        type_promotion_kind=ELEMENTWISE_TYPE_PROMOTION_KIND.DEFAULT,
    )
    tiers = {"tensor": [], "zero_dim": [], "scalar": []}
    for kind, _, value in operands:
        tiers[kind].append(value if kind == "scalar" else REFIMPL_DTYPES[value])
    came = dtypes.result_type(tiers["tensor"], tiers["zero_dim"], tiers["scalar"])
    assert repr(came) == str(expected), f"{operands}: expected {expected}, came {came}"


@pytest.mark.spec("DSP-20")
@st_.fast_settings(100)
@given(data=st.data())
def test_torch_result_type_of_two_operands(data):
    first = data.draw(st_.operands(allow_scalar=False), label="first (a tensor)")
    second = data.draw(st_.operands(), label="second")
    expected = torch.result_type(_torch_operand(*first), _torch_operand(*second))
    r_first = refimpl.zeros((2,) if first[1] else (), dtype=REFIMPL_DTYPES[first[2]])
    r_second = (
        second[2]
        if second[0] == "scalar"
        else refimpl.zeros(*((2,) if second[1] else ()), dtype=REFIMPL_DTYPES[second[2]])
    )
    came = r_ops.aten.add.Tensor(r_first, r_second).dtype
    assert repr(came) == str(expected), f"{first}, {second}: expected {expected}, came {came}"


def _values_outcome(fn):
    result = outcome(fn)
    if result[0] == "error":
        return result
    value = result[1]
    return ("ok", tuple(value.shape), str(value.dtype), np.asarray(value.tolist()))


def _same_values(t_out, r_out, what):
    assert t_out[:3] == r_out[:3] if t_out[0] == "ok" else t_out == r_out, (
        f"{what}: expected {t_out[:3]}, came {r_out[:3]}"
    )
    if t_out[0] == "ok":
        expected, came = t_out[3], r_out[3]
        close = np.allclose(came.astype(float), expected.astype(float), rtol=1e-5, atol=1e-5)
        assert close, f"{what}: expected {expected.tolist()}, came {came.tolist()}"


@pytest.mark.spec("DSP-20", "DSP-13")
@st_.fast_settings(80)
@given(data=st.data())
def test_elementwise_binary_values_match_torch(data):
    name = data.draw(st.sampled_from(["add", "sub", "mul"]), label="op")
    shape_a, shape_b = data.draw(st_.broadcast_shapes(), label="shapes")
    dtype_a = data.draw(st_.dtype_names(), label="self dtype")
    a = data.draw(st_.arrays(dtype_a, shape_a), label="self")
    if data.draw(st.booleans(), label="other is a Python scalar"):
        b = data.draw(st_.python_scalars(), label="other")
        bools = dtype_a == "bool" or isinstance(b, bool)
    else:
        b = data.draw(
            st_.arrays(data.draw(st_.dtype_names(), label="other dtype"), shape_b), label="other"
        )
        bools = dtype_a == "bool" or b.dtype == np.bool_
    # Bool subtraction: torch raises its own error, a known difference (test_tensor.py).
    assume(not (name == "sub" and bools))
    t_out = _values_outcome(
        lambda: getattr(torch.ops.aten, name).Tensor(
            torch.tensor(a), torch.tensor(b) if isinstance(b, np.ndarray) else b
        )
    )
    r_out = _values_outcome(
        lambda: getattr(r_ops.aten, name).Tensor(
            refimpl.tensor(a, dtype=REFIMPL_DTYPES[a.dtype.name]),
            refimpl.tensor(b, dtype=REFIMPL_DTYPES[b.dtype.name])
            if isinstance(b, np.ndarray)
            else b,
        )
    )
    _same_values(t_out, r_out, f"{name}({a!r}, {b!r})")


@pytest.mark.spec("DSP-13")
@st_.fast_settings(60)
@given(data=st.data())
def test_elementwise_unary_values_match_torch(data):
    name = data.draw(st.sampled_from(["sin", "cos", "neg", "sum", "clone", "absolute"]), label="op")
    dtype_name = data.draw(st_.dtype_names(), label="dtype")
    # Bool neg / absolute: torch raises, a known difference (test_bad_dtype_and_shape_inputs).
    assume(not (name in ("neg", "absolute") and dtype_name == "bool"))
    a = data.draw(st_.arrays(dtype_name, data.draw(st_.shapes(), label="shape")), label="input")
    t_out = _values_outcome(lambda: getattr(torch.ops.aten, name).default(torch.tensor(a)))
    r_out = _values_outcome(
        lambda: getattr(r_ops.aten, name).default(
            refimpl.tensor(a, dtype=REFIMPL_DTYPES[dtype_name])
        )
    )
    _same_values(t_out, r_out, f"{name}({a!r})")


BAD_INPUTS = [
    pytest.param(lambda s: s.tensor([1.0, 2.0]) + s.tensor([1.0, 2.0, 3.0]), id="add-shapes"),
    pytest.param(lambda s: s.ops.aten.mul.Tensor(s.ones(2, 3), s.ones(4, 3)), id="mul-shapes"),
    pytest.param(lambda s: s.ops.aten.view.default(s.tensor([1.0, 2.0]), [3]), id="view"),
    pytest.param(
        lambda s: s.ops.aten.view.default(s.tensor([1.0, 2.0]), [-1, -1]), id="view-two-infer"
    ),
    pytest.param(lambda s: s.ops.aten.add_.Tensor(s.ones(2), s.ones(2, 2)), id="add_-shape"),
    pytest.param(lambda s: s.ops.aten.add_.Tensor(s.tensor([1]), s.tensor([1.5])), id="add_-dtype"),
    pytest.param(lambda s: s.ops.aten.copy_.default(s.ones(2), s.ones(3)), id="copy_-shape"),
    pytest.param(lambda s: s.tensor([1.0, 2.0]).item(), id="item"),
    pytest.param(
        lambda s: s.ops.aten.sub.Tensor(s.tensor([True]), s.tensor([False])),
        id="sub-bool",
    ),
    pytest.param(
        lambda s: s.ops.aten.neg.default(s.tensor([True])),
        id="neg-bool",
    ),
    pytest.param(
        lambda s: s.ops.aten.add.Tensor(s.tensor([1]), s.tensor([1]), alpha=1.5),
        id="int-float-alpha",
    ),
    pytest.param(
        lambda s: s.ops.aten.add.Tensor(s.tensor([1.0]), "x"),
        id="add-str",
    ),
    pytest.param(
        lambda s: s.ops.aten._print.default(3),
        id="print-int",
    ),
    pytest.param(
        lambda s: s.zeros(-1),
        id="negative-size",
    ),
    pytest.param(
        lambda s: s.tensor([[1, 2], [3]]),
        id="ragged",
    ),
]


@pytest.mark.spec("DSP-20", "DSP-13")
@pytest.mark.parametrize("program", BAD_INPUTS)
def test_bad_dtype_and_shape_inputs(program):
    def run(side):
        lib = refimpl if side is REFIMPL else torch
        side.ones, side.zeros = lib.ones, lib.zeros
        return program(side)

    assert_same_error(run)


# -- DSP-12: op naming -----------------------------------------------------------------------------


def _torch_op(qualified):
    ns, rest = qualified.split("::")
    name, _, overload = rest.partition(".")
    try:
        return getattr(getattr(getattr(torch.ops, ns), name), overload or "default")
    except (AttributeError, RuntimeError):
        return None


SHARED_OPS = sorted(REFIMPL_OPS)


def _naming(op):
    packet = op.overloadpacket
    return {
        "str": str(op),
        "repr": repr(op),
        "name()": op.name(),
        "_name": op._name,
        "__name__": op.__name__,
        "__module__": op.__module__,
        "_overloadname": op._overloadname,
        "namespace": op.namespace,
        "schema": str(op._schema),
        "packet str": str(packet),
        "packet repr": repr(packet),
        "packet __name__": packet.__name__,
        "packet __module__": packet.__module__,
    }


@pytest.mark.spec("DSP-12", "DSP-16")
@pytest.mark.parametrize("qualified", SHARED_OPS)
def test_op_naming_matches_torch(qualified):
    t_op = _torch_op(qualified)
    if t_op is None:
        pytest.skip(f"torch {torch.__version__} has no {qualified} (refimpl keeps it for the "
                    f"seed)")
    came, expected = _naming(REFIMPL_OPS[qualified]), _naming(t_op)
    assert came == expected, f"expected {expected}, came {came}"


@pytest.mark.spec("DSP-12", "EFF-9")
@pytest.mark.parametrize("name", ["with_effects", "call_torchbind"])
def test_hop_naming_matches_torch(name):
    def naming(hop):
        return (hop.__module__, hop.__name__, hop.name(), str(hop), hop.namespace)

    came = naming(getattr(r_ops.higher_order, name))
    expected = naming(getattr(torch.ops.higher_order, name))
    assert came == expected, f"expected {expected}, came {came}"


@pytest.mark.spec("DSP-12")
@pytest.mark.parametrize(
    "path",
    [
        ("aten", "nonexist"),
        ("cat99", "nonexist"),
        ("aten", "add", "nonexist"),
        ("higher_order", "nonexist"),
    ],
    ids=str,
)
def test_unknown_ops_raise_the_same_attribute_error(path):
    def program(side):
        obj = side.ops
        for part in path:
            obj = getattr(obj, part)
        return obj

    assert_same_error(program)


@pytest.mark.spec("DSP-19")
def test_unknown_script_class_error():
    def program(side):
        classes = refimpl.classes if side is REFIMPL else torch.classes
        return classes.diffcore.Missing

    assert_same_error(program)


# -- DSP-14: key sets -----------------------------------------------------------------------------

MODELLED = [k.name for k in _RUNTIME_ORDER if hasattr(torch._C.DispatchKey, k.name)]


def _torch_keys(t):
    keyset = torch._C._dispatch_keys(t)
    return {name for name in MODELLED if keyset.has(getattr(torch._C.DispatchKey, name))}


def _refimpl_keys(t):
    return {k.name for k in t.dispatch_keys() if k.name in MODELLED}


@pytest.mark.spec("DSP-14")
@pytest.mark.parametrize("dtype_name", st_.DTYPE_NAMES)
@pytest.mark.parametrize("kind", ["plain", "meta", "fake"])
def test_key_sets_match_torch(kind, dtype_name):
    def make(lib, mode_cls, dtype):
        if kind == "plain":
            return lib.zeros(2, dtype=dtype)
        if kind == "meta":
            return (
                torch.empty(2, dtype=dtype, device="meta")
                if lib is torch
                else r_ops.aten.zeros.default([2], dtype=dtype, device="meta")
            )
        return mode_cls().from_tensor(lib.zeros(2, dtype=dtype))

    expected = _torch_keys(make(torch, TFakeTensorMode, TORCH_DTYPES[dtype_name]))
    came = _refimpl_keys(make(refimpl, RFakeTensorMode, REFIMPL_DTYPES[dtype_name]))
    assert came == expected, f"{kind} {dtype_name}: expected {sorted(expected)}, {sorted(came)}"


# -- DSP-7: resolve_key ---------------------------------------------------------------------------

_hop_ids = iter(range(10**6))


class _THop(torch._ops.HigherOrderOperator):
    def __init__(self):
        super().__init__(f"diffcore_hop_{next(_hop_ids)}")

    def __call__(self, *args, **kwargs):
        return super().__call__(*args, **kwargs)


class _RHop(RHop):
    def __init__(self):
        super().__init__(f"diffcore_hop_{next(_hop_ids)}")


KERNEL_SETS = [
    (),
    ("CPU",),
    ("CompositeExplicitAutograd",),
    ("CompositeImplicitAutograd",),
    ("CompositeImplicitAutograd", "CPU"),
    ("Autograd",),
    ("CompositeExplicitAutograd", "CompositeImplicitAutograd"),
]
KEYS = ["CPU", "CUDA", "AutogradCPU", "AutogradOther", "Functionalize", "Undefined"]


def _torch_resolve(kernels, key):
    """``torch._ops.resolve_key`` on a fresh torch HOP with ``kernels`` registered."""
    t_hop = _THop()
    try:
        for name in kernels:
            t_hop.py_kernels[getattr(torch._C.DispatchKey, name)] = name
        return outcome(lambda: torch._ops.resolve_key(t_hop, getattr(torch._C.DispatchKey, key)))
    finally:
        torch._ops._higher_order_ops.pop(t_hop.name(), None)


@pytest.mark.spec("DSP-7")
@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("kernels", KERNEL_SETS, ids=lambda k: "+".join(k) or "none")
def test_resolve_key_matches_torch(request, kernels, key):
    t_result = _torch_resolve(kernels, key)
    r_hop = _RHop()
    try:
        for name in kernels:
            r_hop.py_kernels[DispatchKey[name]] = name
        r_result = outcome(lambda: r_resolve_key(r_hop, DispatchKey[key]))
    finally:
        _higher_order_ops.pop(r_hop.name(), None)
    expected = (t_result[0], str(t_result[1])) if t_result[0] == "ok" else t_result[:2]
    came = (r_result[0], str(r_result[1])) if r_result[0] == "ok" else r_result[:2]
    assert came == expected, f"{kernels} at {key}: expected {expected}, came {came}"


# -- DSP-18: schema inference ----------------------------------------------------------------------


def _annotated(fn, annotations):
    """``fn`` with real (not string) annotations, so both infer_schema see the same types."""
    fn.__annotations__ = annotations
    return fn


def _schema_fns(tensor):
    optional = typing.Optional[tensor]  # noqa: UP045 - the typing form both sides accept
    return {
        "all_types": (
            _annotated(
                lambda x, tag, n, a, b, xs, o: None,
                {
                    "x": tensor,
                    "tag": str,
                    "n": int,
                    "a": float,
                    "b": bool,
                    "xs": list[tensor],
                    "o": optional,
                    "return": tuple[tensor, tensor],
                },
            ),
            (),
        ),
        "defaults": (
            _annotated(
                lambda x, n=3, flag=True: None,
                {"x": tensor, "n": int, "flag": bool, "return": list[tensor]},
            ),
            (),
        ),
        "nothing": (_annotated(lambda x: None, {"x": tensor, "return": None}), ()),
        "str_default": (
            _annotated(lambda x, s="a": None, {"x": tensor, "s": str, "return": tensor}),
            (),
        ),
        "mutates": (
            _annotated(lambda x, y: None, {"x": tensor, "y": tensor, "return": None}),
            ("x", "y"),
        ),
    }


@pytest.mark.spec("DSP-18")
@pytest.mark.parametrize(
    "name",
    [
        "all_types",
        "defaults",
        "nothing",
        "str_default",
        "mutates",
    ],
)
def test_infer_schema_matches_torch(name):
    t_fn, t_mutates = _schema_fns(torch.Tensor)[name]
    r_fn, r_mutates = _schema_fns(RTensor)[name]
    expected = torch.library.infer_schema(t_fn, mutates_args=set(t_mutates))
    came = r_infer_schema(r_fn, r_mutates)
    assert came == expected, f"expected {expected!r}, came {came!r}"


# -- DSP-15: real inputs under fake mode -----------------------------------------------------------


@pytest.mark.spec("DSP-15")
def test_real_input_under_fake_mode():
    came = {}
    for side in SIDES:
        lib = refimpl if side is REFIMPL else torch
        real = lib.ones(2)
        with side.FakeTensorMode():
            result = outcome(lambda real=real, lib=lib: real + lib.ones(2))
        came[side.name] = (
            result[1],
            result[2].split(" Found in ")[0]
            + " Found in "
            + result[2].split(" Found in ")[1].split("(")[0],
        )
    assert came["refimpl"] == came["torch"], f"expected {came['torch']}, came {came['refimpl']}"


# -- devices as graph code prints them (DSP-21, [NOTE: tensor options]) ----------------------------


@pytest.mark.spec("DSP-21")
@pytest.mark.parametrize("name", ["cpu", "cuda", "cuda:1", "meta"])
def test_device_prints_and_compares_as_torch_device(name):
    from refimpl.backend import device

    came, expected = device(name), torch.device(name)
    assert (repr(came), str(came)) == (repr(expected), str(expected)), (
        f"expected repr/str {repr(expected)!r}/{str(expected)!r}, came {repr(came)!r}/{str(came)!r}"
    )
    assert came == name and hash(came) == hash(name), "expected the device to act as its string"
    assert (came.type, came.index) == (expected.type, expected.index), (
        f"expected type/index {(expected.type, expected.index)}, came {(came.type, came.index)}"
    )
