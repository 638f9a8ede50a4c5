"""`alpha` checks of add and sub, dense and fake (DSP-25).

Each case is a call and the outcome in both modes. The refimpl-only test holds the outcomes
DSP-25 derives; the torch test runs the same calls through torch 2.13 (eager, and under its
FakeTensorMode) and demands refimpl's exception type and message equal torch's, so the
expected side there is torch itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from refimpl import aten
from refimpl.fake_tensor import FakeTensorMode
from tests.helpers import outcome, torch_outcomes

BOOL = "Boolean alpha only supported for Boolean results."
INTEGRAL = "For integral input tensors, argument alpha must not be a floating point number."
CAST = "alpha argument of type <class 'float'> cannot be safely cast to type <class 'int'>!"

# (name, op, self, other, alpha keyword or positional, dense outcome, fake outcome); operands
# are dtype names of 2-element tensors of ones, or Python numbers.
CASES = [
    ("float + float, alpha True", "add.Tensor", "float32", "float32", True,
     ("RuntimeError", BOOL), None),
    ("int - int, alpha True", "sub.Tensor", "int64", "int64", True, ("RuntimeError", BOOL), None),
    ("bool + bool, alpha True", "add.Tensor", "bool", "bool", True, None, None),
    ("bool + int, alpha True", "add.Tensor", "bool", "int64", True, ("RuntimeError", BOOL), None),
    ("int + int, alpha 1.5", "add.Tensor", "int64", "int64", 1.5,
     ("RuntimeError", INTEGRAL), ("ValueError", CAST)),
    ("int32 - int32, alpha 1.5", "sub.Tensor", "int32", "int32", 1.5,
     ("RuntimeError", INTEGRAL), ("ValueError", CAST)),
    ("2 + int, alpha 1.5", "add.Tensor", 2, "int64", 1.5,
     ("RuntimeError", INTEGRAL), ("ValueError", CAST)),
    ("int + float, alpha 1.5", "add.Tensor", "int64", "float32", 1.5, None, None),
    ("bool + bool, alpha 1.5", "add.Tensor", "bool", "bool", 1.5,
     ("RuntimeError", INTEGRAL), None),
    ("int + 2 (Scalar), alpha 1.5", "add.Scalar", "int64", 2, 1.5,
     ("RuntimeError", INTEGRAL), None),
    ("float + 2 (Scalar), alpha True", "add.Scalar", "float32", 2, True,
     ("RuntimeError", BOOL), None),
    ("int - 2 (Scalar), alpha 1.5", "sub.Scalar", "int64", 2, 1.5,
     ("RuntimeError", INTEGRAL), None),
    ("int += int, alpha 1.5", "add_.Tensor", "int64", "int64", 1.5,
     ("RuntimeError", INTEGRAL), None),
    ("float += float, alpha True", "add_.Tensor", "float32", "float32", True,
     ("RuntimeError", BOOL), None),
    ("2 + 3, alpha True", "add.Tensor", 2, 3, True, ("RuntimeError", BOOL), ("RuntimeError", BOOL)),
    ("2 + 3, alpha 1.5", "add.Tensor", 2, 3, 1.5,
     ("RuntimeError", INTEGRAL), ("RuntimeError", INTEGRAL)),
    ("int + int, alpha 2", "add.Tensor", "int64", "int64", 2, None, None),
]
IDS = [c[0] for c in CASES]



def _refimpl_call(op: str, a: Any, b: Any, alpha: Any) -> Callable[[], Any]:
    def make(x: Any) -> Any:
        return aten.ones(2, dtype=x) if isinstance(x, str) else x

    def call() -> Any:
        fn = aten.OPS[f"aten::{op.removesuffix('.default')}"]
        if op.endswith(".Scalar"):
            return fn(make(a), make(b), alpha)
        return fn(make(a), make(b), alpha=alpha)

    return call


@pytest.mark.spec("DSP-25")
@pytest.mark.parametrize(("name", "op", "a", "b", "alpha", "dense", "fake"), CASES, ids=IDS)
def test_alpha_checks_dense_and_fake(name, op, a, b, alpha, dense, fake) -> None:
    assert outcome(_refimpl_call(op, a, b, alpha)) == dense, f"dense {name}"
    with FakeTensorMode():
        assert outcome(_refimpl_call(op, a, b, alpha)) == fake, f"fake {name}"


@pytest.mark.torch
@pytest.mark.spec("DSP-25")
@pytest.mark.parametrize(("name", "op", "a", "b", "alpha", "dense", "fake"), CASES, ids=IDS)
def test_torch_checks_alpha_the_same_way(name, op, a, b, alpha, dense, fake) -> None:
    import torch  # noqa: PLC0415

    def call() -> Any:
        def make(x: Any) -> Any:
            return torch.ones(2, dtype=getattr(torch, x)) if isinstance(x, str) else x

        fn = getattr(getattr(torch.ops.aten, op.split(".")[0]), op.split(".")[1])
        if op.endswith(".Scalar"):
            return fn(make(a), make(b), alpha)
        return fn(make(a), make(b), alpha=alpha)

    torch_dense, torch_fake = torch_outcomes(call)
    assert outcome(_refimpl_call(op, a, b, alpha)) == torch_dense, f"dense {name}"
    with FakeTensorMode():
        assert outcome(_refimpl_call(op, a, b, alpha)) == torch_fake, f"fake {name}"
