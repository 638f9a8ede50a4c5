"""Tests for the operator objects of refimpl/operator.py and refimpl/torchbind.py.

Models: ``torch/_ops.py`` (``OpOverload``, ``OpOverloadPacket``, ``_OpNamespace``,
``_HigherOrderNamespace``) and ``torch/_higher_order_ops/torchbind.py`` at torch 2.13.0.
Spec: DSP-12, DSP-19.

Names follow docs/architecture.md ("Contract: how operators look to the fx layer"); the
``AttributeError`` messages of unknown ops are the ones torch 2.13.0 raises (checked against torch
itself in test_differential_core.py).
"""

from __future__ import annotations

import copy

import pytest

import refimpl
from refimpl import ops
from refimpl._library.effects import EffectType
from refimpl.aten import OPS, SCHEMAS
from refimpl.effects import _get_effect, handle_effects, with_effects
from refimpl.functional_tensor import FunctionalTensorMode, dispatch_functionalize
from refimpl.fx.node import _side_effectful_functions
from refimpl.operator import (
    HigherOrderOperator,
    OpOverload,
    OpOverloadPacket,
    _get_operation_overload,
    _get_schema,
)
from refimpl.schema import FunctionSchema
from refimpl.torchbind import ScriptObject, _unregister_class, call_torchbind, register_class

pytestmark = pytest.mark.usefixtures("isolated_effects")


def _parts(qualified: str) -> tuple[str, str, str]:
    """``"aten::add.Tensor"`` -> ``("aten", "add", "Tensor")``; ``""`` for the default."""
    ns, rest = qualified.split("::")
    name, _, overload = rest.partition(".")
    return ns, name, overload


# -- DSP-12: OpOverload and OpOverloadPacket -------------------------------------------------------


@pytest.mark.spec("DSP-12")
def test_print_default_names():
    op = ops.aten._print.default
    expected = {
        "_name": "aten::_print",
        "name()": "aten::_print",
        "__name__": "_print.default",
        "__module__": "torch._ops.aten",
        "_overloadname": "default",
        "namespace": "aten",
        "str": "aten._print.default",
    }
    came = {
        "_name": op._name,
        "name()": op.name(),
        "__name__": op.__name__,
        "__module__": op.__module__,
        "_overloadname": op._overloadname,
        "namespace": op.namespace,
        "str": str(op),
    }
    assert came == expected, f"expected {expected}, came {came}"
    assert isinstance(op._schema, FunctionSchema), f"expected a FunctionSchema, {op._schema!r}"


@pytest.mark.spec("DSP-12")
def test_named_overload_and_packet_names():
    op = ops.aten.add.Tensor
    assert (op._name, op.name(), str(op)) == (
        "aten::add.Tensor",
        "aten::add.Tensor",
        "aten.add.Tensor",
    ), f"came {op._name}, {op}"
    assert (op.__name__, op._overloadname) == ("add.Tensor", "Tensor"), f"{op.__name__}"
    packet = ops.aten.add
    assert isinstance(packet, OpOverloadPacket), f"expected a packet, came {type(packet)}"
    assert (packet.__name__, str(packet)) == ("add", "aten.add"), f"came {packet.__name__}"
    assert op.overloadpacket is packet, "expected the overload to point at its packet"


@pytest.mark.spec("DSP-12", "DSP-16")
@pytest.mark.parametrize("schema_text", SCHEMAS)
def test_every_defined_op_is_named_from_its_schema(schema_text):
    qualified = schema_text.split("(", 1)[0]
    ns, name, overload = _parts(qualified)
    op = getattr(getattr(getattr(ops, ns), name), overload or "default")
    assert isinstance(op, OpOverload), f"expected an OpOverload for {qualified}"
    assert op is OPS[qualified], f"expected ops.{ns}.{name} to find the defined object"
    assert op._name == qualified and op.name() == qualified, f"came {op._name}"
    assert op.__name__ == f"{name}.{overload or 'default'}", f"came {op.__name__}"
    assert op.__module__ == f"torch._ops.{ns}", f"came {op.__module__}"
    assert str(op) == f"{ns}.{name}.{overload or 'default'}", f"came {op}"
    assert op.namespace == ns, f"came {op.namespace}"
    assert str(op._schema) == schema_text, f"expected {schema_text!r}, came {op._schema}"


@pytest.mark.spec("DSP-12")
def test_overloads_keep_their_identity():
    assert ops.aten.add.Tensor is ops.aten.add.Tensor, "expected one object per overload"
    assert copy.deepcopy(ops.aten.add.Tensor) is ops.aten.add.Tensor, "expected deepcopy self"
    assert {ops.aten.add.Tensor: 1}[ops.aten.add.Tensor] == 1, "expected a hashable overload"
    assert sorted(ops.aten.add.overloads()) == ["Scalar", "Tensor"], "expected the two overloads"


@pytest.mark.spec("DSP-12")
def test_default_overload_is_named_empty_in_the_registry():
    # [NOTE: overload "default"]: the C++ registry calls the default overload "".
    op = ops.aten._print.default
    assert _get_operation_overload("aten::_print", "") is op, "expected '' to find it"
    assert _get_operation_overload("aten::_print", "default") is None, "expected None"
    assert _get_schema("aten::add", "Tensor") is ops.aten.add.Tensor._schema, "schema lookup"
    assert _get_schema("aten::nonexist", "") is None, "expected None for an unknown op"


@pytest.mark.spec("DSP-12")
@pytest.mark.parametrize(
    ("get", "message"),
    [
        (lambda: ops.aten.nonexist, "'_OpNamespace' 'aten' object has no attribute 'nonexist'"),
        (lambda: ops.cat99.nonexist, "'_OpNamespace' 'cat99' object has no attribute 'nonexist'"),
        (
            lambda: ops.aten.add.nonexist,
            "The underlying op of 'aten.add' has no overload name 'nonexist'",
        ),
    ],
    ids=["aten-op", "namespace", "overload"],
)
def test_unknown_ops_raise_torchs_attribute_error(get, message):
    # Messages of torch 2.13.0 (run here; see test_differential_core.py).
    with pytest.raises(AttributeError) as excinfo:
        get()
    assert str(excinfo.value) == message, f"expected {message!r}, came {excinfo.value}"


@pytest.mark.spec("DSP-12")
def test_unknown_higher_order_op_raises_torchs_attribute_error():
    with pytest.raises(AttributeError) as excinfo:
        _ = ops.higher_order.nonexist
    expected = "'_HigherOrderNamespace' 'torch.ops.higher_order' object has no attribute 'nonexist'"
    assert str(excinfo.value) == expected, f"expected {expected!r}, came {excinfo.value}"


@pytest.mark.spec("DSP-12")
def test_packet_call_picks_an_overload_that_binds():
    x = refimpl.tensor([1.0, 2.0])
    came = ops.aten.add(x, x).numpy().tolist()
    assert came == [2.0, 4.0], f"expected the Tensor overload's [2.0, 4.0], came {came}"
    came = ops.aten.add(x, 2).numpy().tolist()
    assert came == [3.0, 4.0], f"expected [3.0, 4.0], came {came}"
    with pytest.raises(RuntimeError):
        ops.aten.add("x", x)


@pytest.mark.spec("DSP-12", "EFF-9")
@pytest.mark.parametrize("hop", [with_effects, call_torchbind], ids=str)
def test_higher_order_op_names(hop):
    name = hop.name()
    assert isinstance(hop, HigherOrderOperator), f"expected a HOP, came {type(hop)}"
    came = (hop.__module__, hop.__name__, str(hop), hop.namespace)
    expected = ("torch.ops.higher_order", name, name, "higher_order")
    assert came == expected, f"expected {expected}, came {came}"
    assert getattr(ops.higher_order, name) is hop, f"expected ops.higher_order.{name}"


# -- DSP-19: torchbind ----------------------------------------------------------------------------


@pytest.fixture
def queue_class():
    """``opq.Queue``: push(Tensor x) -> (), size() -> int, label(str prefix) -> str."""
    cls = register_class("opq", "Queue", init=lambda *items: {"items": list(items)})
    cls.def_method("push(Tensor x) -> ()", lambda self, x: self.state["items"].append(x))
    cls.def_method("size() -> int", lambda self: len(self.state["items"]))
    cls.def_method(
        "label(str prefix) -> str", lambda self, prefix: f"{prefix}{len(self.state['items'])}"
    )
    yield cls
    _unregister_class("opq", "Queue")


@pytest.mark.spec("DSP-19")
def test_script_class_names_and_method_schemas(queue_class):
    obj = refimpl.classes.opq.Queue()
    assert isinstance(obj, ScriptObject), f"expected a ScriptObject, came {type(obj)}"
    qualified = obj._type().qualified_name()
    assert qualified == "__torch__.torch.classes.opq.Queue", f"came {qualified}"
    came = str(obj.label.schema)
    expected = "label(__torch__.torch.classes.opq.Queue _0, str prefix) -> str"
    assert came == expected, f"expected {expected!r}, came {came!r}"
    assert obj._has_method("size") and not obj._has_method("pop"), "expected _has_method"


@pytest.mark.spec("DSP-19")
def test_unknown_class_raises_torchs_runtime_error():
    with pytest.raises(RuntimeError) as excinfo:
        _ = refimpl.classes.opq.Missing
    expected = (
        "Tried to instantiate class 'opq.Missing', but it does not exist! Ensure that it is "
        "registered via torch::class_"
    )
    assert str(excinfo.value) == expected, f"expected {expected!r}, came {excinfo.value}"


@pytest.mark.spec("DSP-19", "EFF-8")
def test_call_torchbind_calls_the_method_and_is_ordered(queue_class):
    obj = queue_class("a")
    assert call_torchbind(obj, "size") == 1, "expected the method's result"
    assert call_torchbind(obj, "label", prefix="n=") == "n=1", "expected kwargs passed on"
    assert _get_effect(call_torchbind) is EffectType.ORDERED, "expected call_torchbind ORDERED"


@pytest.mark.spec("DSP-19")
def test_call_torchbind_with_a_tensor_argument(queue_class):
    obj = queue_class()
    call_torchbind(obj, "push", refimpl.tensor([1.0]))
    assert call_torchbind(obj, "size") == 1, "expected the tensor pushed"


@pytest.mark.spec("DSP-19")
def test_call_torchbind_is_side_effectful_for_fx():
    assert call_torchbind in _side_effectful_functions, "expected call_torchbind marked"


@pytest.mark.spec("DSP-19", "EFF-19")
def test_call_torchbind_under_functionalization_threads_a_token(queue_class):
    obj = queue_class("a", "b")
    mode = FunctionalTensorMode(_allow_token_discovery=True)
    came = dispatch_functionalize(lambda: call_torchbind(obj, "size"), mode)()
    assert came == 2, f"expected the method's result 2, came {came!r}"
    assert list(mode._tokens) == [EffectType.ORDERED], f"expected one token, {mode._tokens}"
    with pytest.raises(AssertionError) as excinfo:
        dispatch_functionalize(lambda: call_torchbind(obj, "size"), FunctionalTensorMode())()
    assert "Could not find a token for effect EffectType.ORDERED" in str(excinfo.value), (
        f"expected the discovery-off error of handle_effects, came {excinfo.value}"
    )
    tokens = {}
    assert handle_effects(True, tokens, call_torchbind, (obj, "size"), {}) == 2, "direct"
