"""A tensor's autograd metadata and the tensor methods that read it.

Models: ``torch/csrc/autograd/variable.h`` (``AutogradMeta``: ``requires_grad_``, ``grad_``,
``grad_fn_``, ``output_nr_``; the version counter), ``python_variable.cpp`` (the
``requires_grad`` / ``grad`` / ``grad_fn`` / ``is_leaf`` properties and their errors) and
``torch/_tensor.py`` (``Tensor.backward``) at torch 2.13.0.
Spec: AG-1, AG-5.

Simplifications:
1. The version counter lives in the metadata (torch's is shared by a storage's views); refimpl's
   dense tensors share no storage (``refimpl/tensor.py``, Simplification 1).
2. A tensor has no metadata (``_autograd_meta is None``) until it needs some: it requires grad,
   has a grad_fn, a grad, or was written in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from refimpl.tensor import Tensor

if TYPE_CHECKING:
    from refimpl.autograd.graph import Node

__all__ = ["AutogradMeta", "detach", "version_of"]


class AutogradMeta:
    __slots__ = ("requires_grad", "grad", "grad_fn", "output_nr", "version", "grad_accumulator",
                 "is_view")

    def __init__(self) -> None:
        self.requires_grad = False  # a leaf's own flag; a non-leaf requires grad by its grad_fn
        self.grad: Tensor | None = None
        self.grad_fn: Node | None = None
        self.output_nr = 0
        self.version = 0
        self.grad_accumulator: Node | None = None
        self.is_view = False  # made by a view op (an in-place op on it would need CopySlices)


def meta_of(t: Tensor) -> AutogradMeta:
    """The tensor's metadata, made on first use."""
    meta = t._autograd_meta
    if meta is None:
        meta = t._autograd_meta = AutogradMeta()
    return meta


def version_of(t: Tensor) -> int:
    """``t._version``."""
    meta = t._autograd_meta
    return 0 if meta is None else meta.version


def requires_grad(t: Tensor) -> bool:
    meta = t._autograd_meta
    return meta is not None and (meta.requires_grad or meta.grad_fn is not None)


def check_can_require_grad(t: Tensor, message: str) -> None:
    if not (t.dtype.is_floating_point or t.dtype.name.startswith("complex")):
        raise RuntimeError(message)


def detach(t: Tensor) -> Tensor:
    """``t.detach()``: the same tensor without history: a new tensor of the same type and
    metadata holding the same array (refimpl's kernels never write an array in place)."""
    out = object.__new__(type(t))
    for cls in type(t).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if name not in ("__weakref__", "_autograd_meta") and hasattr(t, name):
                setattr(out, name, getattr(t, name))
    out._autograd_meta = None
    return out


# -- the tensor properties ------------------------------------------------------------------

def _get_requires_grad(self: Tensor) -> bool:
    return requires_grad(self)


def _set_requires_grad(self: Tensor, value: bool) -> None:
    meta = self._autograd_meta
    if meta is not None and meta.grad_fn is not None:
        raise RuntimeError(
            "you can only change requires_grad flags of leaf variables. If you want to use a "
            "computed variable in a subgraph that doesn't require differentiation use "
            "var_no_grad = var.detach().")
    if value:
        check_can_require_grad(self, "only Tensors of floating point and complex dtype can "
                                     "require gradients")
    meta_of(self).requires_grad = bool(value)


def _requires_grad_(self: Tensor, requires_grad: bool = True) -> Tensor:
    """``Tensor.requires_grad_``: its error names the method (``python_variable_methods.cpp``)."""
    meta = self._autograd_meta
    if meta is not None and meta.grad_fn is not None and not requires_grad:
        raise RuntimeError(
            "you can only change requires_grad flags of leaf variables. If you want to use a "
            "computed variable in a subgraph that doesn't require differentiation use "
            "var_no_grad = var.detach().")
    if meta is not None and meta.grad_fn is not None:
        return self
    if requires_grad:
        check_can_require_grad(self, "only Tensors of floating point dtype can require "
                                     "gradients")
    meta_of(self).requires_grad = bool(requires_grad)
    return self


def _get_grad(self: Tensor) -> Tensor | None:
    meta = self._autograd_meta
    return None if meta is None else meta.grad


def _set_grad(self: Tensor, value: Tensor | None) -> None:
    if value is not None:
        if not isinstance(value, Tensor):
            raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of "
                            f"type {type(value).__name__}")
        if value.dtype is not self.dtype:
            raise RuntimeError("assigned grad has data of a different type")
        if tuple(value.shape) != tuple(self.shape):
            raise RuntimeError("assigned grad has data of a different size")
    meta_of(self).grad = value


def _get_grad_fn(self: Tensor) -> Node | None:
    meta = self._autograd_meta
    return None if meta is None else meta.grad_fn


def _is_leaf(self: Tensor) -> bool:
    return _get_grad_fn(self) is None


def _version(self: Tensor) -> int:
    return version_of(self)


def _backward(self: Tensor, gradient: Tensor | None = None, retain_graph: bool | None = None,
              create_graph: bool = False, inputs: Any = None) -> None:
    """``Tensor.backward``: ``torch.autograd.backward(self, gradient, ...)``."""
    from refimpl.autograd import backward  # noqa: PLC0415 - the package imports this module

    backward(self, gradient, retain_graph, create_graph, inputs=inputs)


def _detach_method(self: Tensor) -> Tensor:
    return detach(self)


Tensor.requires_grad = property(_get_requires_grad, _set_requires_grad)
Tensor.requires_grad_ = _requires_grad_
Tensor.grad = property(_get_grad, _set_grad)
Tensor.grad_fn = property(_get_grad_fn)
Tensor.is_leaf = property(_is_leaf)
Tensor._version = property(_version)
Tensor.backward = _backward
Tensor.detach = _detach_method
