"""The two `api`s of `autograd_cases.py` ([NOTE: autograd api]): torch's and refimpl's."""

from __future__ import annotations

import math
from typing import Any

from autograd_cases import VALUES


def _values(shape: tuple[int, ...]) -> Any:
    """Nested lists of `VALUES` in `shape`, so each world makes a fresh tensor (no view)."""
    flat = [VALUES[i % len(VALUES)] for i in range(math.prod(shape))]
    for size in reversed(shape[1:]):
        flat = [flat[i:i + size] for i in range(0, len(flat), size)]
    return flat if shape else flat[0]


_COUNTER = iter(range(1 << 30))


class TorchApi:
    def __init__(self) -> None:
        self.ns = f"agcase{next(_COUNTER)}"  # torch never forgets a custom op: a fresh namespace
        import torch  # noqa: PLC0415
        from torch.fx.experimental.proxy_tensor import make_fx  # noqa: PLC0415

        self.torch = torch
        self.make_fx = make_fx
        self.float64 = torch.float64
        self.no_grad = torch.no_grad
        self.detect_anomaly = torch.autograd.detect_anomaly
        self.Function = torch.autograd.Function

    def op(self, name: str) -> Any:
        ns, rest = name.split("::")
        op, _, overload = rest.partition(".")
        return getattr(getattr(getattr(self.torch.ops, ns), op), overload or "default")

    def plain(self, *shape: int, dtype: str = "float32") -> Any:
        return self.torch.tensor(_values(shape), dtype=getattr(self.torch, dtype))

    def leaf(self, *shape: int, dtype: str = "float32") -> Any:
        return self.plain(*shape, dtype=dtype).requires_grad_()

    def grad(self, outputs: Any, inputs: Any, **kw: Any) -> Any:
        return self.torch.autograd.grad(outputs, inputs, **kw)

    def backward(self, t: Any, **kw: Any) -> None:
        t.backward(**kw)

    def tolist(self, t: Any) -> Any:
        return t.detach().tolist()

    def custom_op(self, name: str, schema: str, fn: Any) -> Any:
        return self.torch.library.custom_op(f"{self.ns}::{name}", mutates_args=(),
                                            schema=schema)(fn)


class RefimplApi:
    def __init__(self) -> None:
        self.ns = f"agcase{next(_COUNTER)}"
        import refimpl  # noqa: PLC0415
        from refimpl import aten, autograd  # noqa: PLC0415

        self.aten = aten
        self.autograd = autograd
        self.make_fx = refimpl.make_fx
        self.float64 = refimpl.float64
        self.no_grad = refimpl.no_grad
        self.detect_anomaly = refimpl.autograd.detect_anomaly
        from refimpl.autograd.function import Function  # noqa: PLC0415

        self.Function = Function

    def op(self, name: str) -> Any:
        return self.aten.OPS[name]

    def plain(self, *shape: int, dtype: str = "float32") -> Any:
        return self.aten.tensor(_values(shape), dtype=dtype)

    def leaf(self, *shape: int, dtype: str = "float32") -> Any:
        return self.plain(*shape, dtype=dtype).requires_grad_()

    def grad(self, outputs: Any, inputs: Any, **kw: Any) -> Any:
        return self.autograd.grad(outputs, inputs, **kw)

    def backward(self, t: Any, **kw: Any) -> None:
        t.backward(**kw)

    def tolist(self, t: Any) -> Any:
        return t.tolist()

    def custom_op(self, name: str, schema: str, fn: Any) -> Any:
        from refimpl.library import custom_op  # noqa: PLC0415

        return custom_op(f"{self.ns}::{name}", mutates_args=(), schema=schema)(fn)
