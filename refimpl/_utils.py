"""``render_call``: a call as torch's error messages print it.

Models: ``torch/_utils.py:render_call`` at torch 2.13.0, under
``torch._tensor_str.printoptions(threshold=0, edgeitems=0)``: an operator by its resolved name
(``aten.add.Tensor``; a higher-order op by its name), tensors summarised
(``tensor([...], size=(3,))``, ``FakeTensor(..., size=(0,))``), other values by ``repr``.
Spec: CF-7 (the message of a real tensor in a fake call).

Simplifications:
1. A zero-dim float prints as ``1.`` when integral and with four decimals otherwise (torch picks
   scientific notation for very large or small values).
"""

from __future__ import annotations

from typing import Any

from refimpl.tensor import Tensor

__all__ = ["render_call"]

# The dtypes torch's tensor repr leaves out (the defaults of their kind).
_UNSHOWN = frozenset({"float32", "int64", "bool"})


def _size(shape: tuple[int, ...]) -> str:
    return "(" + "".join(f"{d}, " for d in shape)[:-2] + ("," if len(shape) == 1 else "") + ")"


def _scalar(t: Tensor) -> str:
    value = t.item()
    if isinstance(value, bool):
        return str(value)
    if t.dtype.is_floating_point:
        return f"{int(value)}." if float(value).is_integer() else f"{value:.4f}"
    return str(value)


def _short(t: Any) -> str:
    fake_mode = getattr(t, "fake_mode", None)
    dtype = "" if t.dtype.name == "float32" else f", dtype=torch.{t.dtype.name}"
    if fake_mode is not None:
        return f"FakeTensor(..., size={_size(t.shape)}{dtype})"
    dtype = "" if t.dtype.name in _UNSHOWN else f", dtype=torch.{t.dtype.name}"
    if t.shape == ():
        return f"tensor({_scalar(t)}, size=(){dtype})"
    if t.numel() == 0 and len(t.shape) == 1:
        return f"tensor([]{dtype})"
    return f"tensor([...], size={_size(t.shape)}{dtype})"


def _repr(value: Any) -> str:
    if isinstance(value, Tensor):
        return _short(value)
    if isinstance(value, list):
        return "[" + ", ".join(_repr(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(_repr(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def render_call(fn: Any, args: tuple, kwargs: dict) -> str:
    """``aten.add.Tensor(tensor([...], size=(3,)), 1, alpha=2)``."""
    parts = [_repr(a) for a in args] + [f"{k}={_repr(v)}" for k, v in kwargs.items()]
    return f"{fn}({', '.join(parts)})"
