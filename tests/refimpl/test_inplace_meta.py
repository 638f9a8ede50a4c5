"""In-place checks, dense and fake (DSP-26), and in functionalization (TRC-17).

The refimpl-only tests hold the outcomes the clauses derive; the torch test runs the same
calls through torch 2.13 (eager, and under its FakeTensorMode) and demands refimpl's exception
type and first message line equal torch's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import refimpl
from refimpl import aten
from refimpl.export import Module, aot_export
from refimpl.fake_tensor import FakeTensorMode
from tests.helpers import outcome, torch_outcomes

CAST = "result type {} can't be cast to the desired output type {}"
INT_FLOAT = ("Promotion of int.add/sub_(float) in in-place ops are not possible due to element "
             "size change.")
BOOL_OTHER = ("Promotion of bool.add/sub_(others) in in-place ops are not possible due to "
              "element size change.")
META_SHAPE = "output with shape torch.Size([2]) doesn't match the broadcast shape (3, 2)"
SHAPE = "output with shape [2] doesn't match the broadcast shape [3, 2]"

# (op, self (dtype, shape), other (dtype, shape) or a number, dense outcome, fake outcome)
CASES = [
    ("add_.Tensor", ("int32", (2,)), ("float32", (2,)),
     ("RuntimeError", CAST.format("Float", "Int")), ("RuntimeError", INT_FLOAT)),
    ("add_.Tensor", ("int64", (2,)), 1.5,
     ("RuntimeError", CAST.format("Float", "Long")), ("RuntimeError", INT_FLOAT)),
    ("add_.Tensor", ("bool", (2,)), ("int64", (2,)),
     ("RuntimeError", CAST.format("Long", "Bool")), ("RuntimeError", BOOL_OTHER)),
    ("add_.Tensor", ("bool", (2,)), 1,
     ("RuntimeError", CAST.format("Long", "Bool")), ("RuntimeError", BOOL_OTHER)),
    ("add_.Tensor", ("bool", (2,)), True, None, None),
    ("add_.Tensor", ("float32", (2,)), ("float64", (2,)), None, None),
    ("add_.Tensor", ("float32", (2,)), ("float32", (3, 2)),
     ("RuntimeError", SHAPE), ("RuntimeError", META_SHAPE)),
    ("mul_.Tensor", ("int32", (2,)), ("float32", (2,)),
     ("RuntimeError", CAST.format("Float", "Int")), None),
    ("mul_.Tensor", ("int32", (2,)), 1.5, ("RuntimeError", CAST.format("Float", "Int")), None),
    ("mul_.Tensor", ("bool", (2,)), ("int64", (2,)),
     ("RuntimeError", CAST.format("Long", "Bool")), None),
    ("mul_.Tensor", ("int64", (2,)), ("int64", (3, 2)),
     ("RuntimeError", SHAPE), ("RuntimeError", META_SHAPE)),
    ("copy_.default", ("float32", (2,)), ("float32", (3, 2)),
     ("RuntimeError", SHAPE), ("RuntimeError", SHAPE)),
    ("copy_.default", ("int32", (2,)), ("float32", (2,)), None, None),
]
IDS = [f"{op} {a[0]}{list(a[1])} {b if not isinstance(b, tuple) else f'{b[0]}{list(b[1])}'}"
       for op, a, b, *_ in CASES]



def _refimpl(op: str, a: tuple, b: Any) -> Callable[[], Any]:
    def make(spec: Any) -> Any:
        return aten.ones(*spec[1], dtype=spec[0]) if isinstance(spec, tuple) else spec

    return lambda: aten.OPS[f"aten::{op.removesuffix('.default')}"](make(a), make(b))


@pytest.mark.spec("DSP-26")
@pytest.mark.parametrize(("op", "a", "b", "dense", "fake"), CASES, ids=IDS)
def test_inplace_checks_dense_and_fake(op, a, b, dense, fake) -> None:
    assert outcome(_refimpl(op, a, b)) == dense, "dense"
    with FakeTensorMode():
        assert outcome(_refimpl(op, a, b)) == fake, "fake"


@pytest.mark.spec("TRC-17", "DSP-26")
@pytest.mark.parametrize(("op", "a", "b", "dense", "fake"), CASES, ids=IDS)
def test_functionalization_raises_what_the_fake_inplace_op_raises(op, a, b, dense, fake) -> None:
    def make(spec: Any) -> Any:
        return aten.ones(*spec[1], dtype=spec[0]) if isinstance(spec, tuple) else spec

    other = make(b)
    module = Module()
    fn = aten.OPS[f"aten::{op.removesuffix('.default')}"]
    module.forward = (lambda x, y: (fn(x, y),)) if isinstance(other, refimpl.Tensor) \
        else (lambda x: (fn(x, other),))
    inputs = (make(a), other) if isinstance(other, refimpl.Tensor) else (make(a),)
    assert outcome(lambda: aot_export(module, inputs)) == fake, "functional"


@pytest.mark.spec("TRC-17")
def test_a_result_of_another_dtype_is_cast_back_with_to_copy() -> None:
    module = Module()
    module.forward = lambda x, y: (aten.OPS["aten::add_.Tensor"](x, y),)
    gm, sig = aot_export(module, (aten.ones(2, dtype="int32"), aten.ones(2, dtype="int64")))
    calls = [(str(n.target), n.kwargs) for n in gm.graph.nodes if n.op == "call_function"]
    assert [c[0] for c in calls] == ["aten.add.Tensor", "aten._to_copy.default"], f"got {calls}"
    assert calls[1][1] == {"dtype": refimpl.int32, "layout": refimpl.dtype.strided}, (
        f"expected dtype=torch.int32, layout=torch.strided, got {calls[1][1]}")


@pytest.mark.torch
@pytest.mark.spec("DSP-26")
@pytest.mark.parametrize(("op", "a", "b", "dense", "fake"), CASES, ids=IDS)
def test_torch_checks_inplace_ops_the_same_way(op, a, b, dense, fake) -> None:
    import torch  # noqa: PLC0415

    def call() -> Any:
        def make(spec: Any) -> Any:
            return torch.ones(spec[1], dtype=getattr(torch, spec[0])) \
                if isinstance(spec, tuple) else spec

        name, overload = op.split(".")
        return getattr(getattr(torch.ops.aten, name), overload)(make(a), make(b))

    torch_dense, torch_fake = torch_outcomes(call)
    assert outcome(_refimpl(op, a, b)) == torch_dense, "dense"
    with FakeTensorMode():
        assert outcome(_refimpl(op, a, b)) == torch_fake, "fake"
