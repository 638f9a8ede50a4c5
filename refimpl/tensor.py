"""The tensor: an array (or no data), a shape, a dtype, a device and a dispatch key set.

Models: ``at::Tensor`` / ``torch.Tensor`` (``torch/_tensor.py``) at torch 2.13.0, as far as
dispatch sees it: the key set a tensor carries (``torch._C._dispatch_keys``).
Spec: DSP-14.

Simplifications:
1. No strides, storage sharing or views: ``view`` copies (see aten.py), and an in-place op
   replaces the array a tensor holds. Autograd metadata is one slot, ``_autograd_meta``, filled
   by ``refimpl.autograd`` (which also attaches ``requires_grad``, ``grad``, ``backward``...).
2. A tensor whose ``_data`` is ``None`` has metadata only (fake and meta tensors).
3. Operators (``+``, ``*``, ``.sin()``...) are attached by ``refimpl.aten`` once the ops exist,
   the way torch attaches C++ methods; this module cannot import the ops without a cycle.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refimpl.dispatch_key import DispatchKey, DispatchKeySet, key_bit
from refimpl.dtype import dtype

__all__ = ["Tensor", "dense_keys"]

K = DispatchKey


def _mask(*keys: DispatchKey) -> int:
    out = 0
    for key in keys:
        out |= key_bit(key)
    return out


# What torch reports for a plain tensor: DispatchKeySet(CPU, ADInplaceOrView, AutogradCPU,
# AutocastCPU); CUDA likewise; a meta tensor has no autocast key.
_DENSE_KEYS = {
    "cpu": _mask(K.CPU, K.ADInplaceOrView, K.AutogradCPU, K.AutocastCPU),
    "cuda": _mask(K.CUDA, K.ADInplaceOrView, K.AutogradCUDA, K.AutocastCUDA),
    "meta": _mask(K.Meta, K.ADInplaceOrView, K.AutogradMeta),
}
PYTHON_KEYS = _mask(K.Python, K.PythonTLSSnapshot)


def dense_keys(device: str) -> int:
    """Key mask of a plain tensor on ``device``."""
    try:
        return _DENSE_KEYS[device]
    except KeyError:
        raise ValueError(
            f"unknown device {device!r}; expected one of {', '.join(_DENSE_KEYS)}"
        ) from None


class Tensor:
    """A plain (dense or meta) tensor. Subclasses add ``DispatchKey.Python`` to their keys."""

    __slots__ = ("_data", "shape", "dtype", "device", "_keys", "_autograd_meta", "__weakref__")

    _data: Any
    shape: tuple[int, ...]
    dtype: dtype
    device: str
    _keys: int
    _autograd_meta: Any  # refimpl.autograd.variable.AutogradMeta or None

    @classmethod
    def _make(cls, data: Any, shape: tuple[int, ...], dtype_: dtype, device: str) -> Tensor:
        """Build without checks: the kernels' hot path."""
        t = object.__new__(cls)
        t._data = data
        t.shape = shape
        t.dtype = dtype_
        t.device = device
        t._keys = _DENSE_KEYS[device]
        t._autograd_meta = None
        return t

    # -- metadata ------------------------------------------------------------------------
    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return len(self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def dispatch_keys(self) -> DispatchKeySet:
        """``torch._C._dispatch_keys(t)``."""
        return DispatchKeySet(self._keys)

    @property
    def is_meta(self) -> bool:
        return self.device == "meta"

    # -- data ------------------------------------------------------------------------------
    def numpy(self):
        """The values as a numpy array (copied from the device when needed)."""
        if self._data is None:
            raise RuntimeError(f"{type(self).__name__} has no data (shape={self.shape})")
        return _to_numpy(self._data)

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def item(self) -> Any:
        if self.numel() != 1:
            raise RuntimeError(
                f"a Tensor with {self.numel()} elements cannot be converted to Scalar"
            )
        return self.numpy().reshape(()).item()

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        if self._data is None:
            return f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype!r}, " \
                   f"device={self.device})"
        body = _format_values(self.numpy())
        suffix = "" if self.dtype.name in ("float32", "int64", "bool") or self.numel() == 0 \
            else f", dtype={self.dtype!r}"
        if self.numel() == 0 and self.dtype.name != "float32":
            suffix = f", size={self.shape}, dtype={self.dtype!r}"
        return f"tensor({body}{suffix})"

    def __bool__(self) -> bool:
        if self.numel() > 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    __hash__ = object.__hash__


def _to_numpy(data: Any):
    if hasattr(data, "get") and type(data).__module__.startswith("cupy"):
        return data.get()
    return np.asarray(data)


def _format_values(arr) -> str:
    if arr.dtype == np.bool_:
        return str(arr.tolist())
    if arr.dtype.kind == "f":
        text = np.array2string(arr, separator=", ", precision=4, floatmode="maxprec_equal")
        return text
    return np.array2string(arr, separator=", ")
