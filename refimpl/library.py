"""The public library API: ``Library``, scoped libraries, ``custom_op``, ``EffectType``.

Models: ``torch/library.py`` at torch 2.13.0 (``Library``, ``_scoped_library``, ``custom_op``).
Spec: DSP-17, DSP-18.

Simplifications:
1. ``Library.impl`` takes a dispatch key name (``"CPU"``, ``"Meta"``,
   ``"CompositeExplicitAutograd"``...; ``""`` means ``CompositeImplicitAutograd``) and a Python
   function; no boxed kernels, no ``with_keyset``.
2. The "only one DEF library per namespace" rule of C++ is not enforced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from refimpl._library import simple_registry
from refimpl._library.custom_ops import CustomOpDef
from refimpl._library.custom_ops import custom_op as _custom_op
from refimpl._library.effects import EffectType
from refimpl._library.utils import RegistrationHandle
from refimpl.dispatch_key import DispatchKey
from refimpl.operator import OpOverload, _get_operation_overload, define_schema, undefine_schema

__all__ = ["CustomOpDef", "EffectType", "Library", "_scoped_library", "custom_op"]

_KINDS = ("DEF", "IMPL", "FRAGMENT")


class Library:
    """A set of operator definitions and kernels in one namespace, removable as a whole."""

    def __init__(self, ns: str, kind: str, dispatch_key: str = "") -> None:
        if kind not in _KINDS:
            raise ValueError(f"Unsupported kind: {kind}")
        if ns in ("torch", "prim", "prims", "aten", "profiler") and kind == "DEF":
            raise ValueError(ns, " is a reserved namespace. Please try creating a library with "
                                 "another name.")
        self.ns = ns
        self.kind = kind
        self.dispatch_key = dispatch_key
        self._op_defs: list[tuple[str, str]] = []
        self._op_impls: list[tuple[OpOverload, DispatchKey]] = []
        self._registration_handles: list[RegistrationHandle] = []
        self._custom_ops: list[CustomOpDef] = []

    def __repr__(self) -> str:
        return f"Library(kind={self.kind}, ns={self.ns}, dispatch_key={self.dispatch_key})>"

    def define(self, schema: str, alias_analysis: str = "", *, tags: Any = ()) -> str:
        """Define an operator from a schema string (``"foo(Tensor x) -> Tensor"``)."""
        head = schema.split("(", 1)[0]
        full = schema if "::" in head else f"{self.ns}::{schema}"
        op = define_schema(full)
        self._op_defs.append((op._schema.name, op._schema.overload_name))
        return op._schema.name.split("::")[1]

    def impl(self, op_name: str | OpOverload, fn: Callable, dispatch_key: str = "") -> None:
        """Register ``fn`` as the kernel of ``op_name`` for ``dispatch_key``."""
        op = self._lookup(op_name)
        key = _parse_key(dispatch_key or self.dispatch_key or "CompositeImplicitAutograd")
        if key in op.py_kernels:
            raise RuntimeError(
                f"This is not allowed since there's already a kernel registered from python "
                f"overriding {op._name}'s behavior for {key.name} dispatch key and "
                f"{self.ns} namespace."
            )
        op.py_kernels[key] = fn
        op._dispatch_cache.clear()
        self._op_impls.append((op, key))

    def _register_fake(self, op_name: str | OpOverload, fn: Callable) -> None:
        op = self._lookup(op_name)
        entry = simple_registry.singleton.find(op._name)
        self._registration_handles.append(entry.fake_impl.register(fn))

    def _register_effectful_op(self, op_name: str | OpOverload | CustomOpDef,
                               effect: EffectType | None) -> None:
        """Set an op's effect until this library is destroyed (``torch.library.Library``)."""
        if isinstance(op_name, OpOverload):
            qualname = op_name._name
        elif isinstance(op_name, CustomOpDef):
            qualname = op_name._qualname
        else:
            qualname = op_name
        entry = simple_registry.singleton.find(qualname)
        self._registration_handles.append(entry.effect.register(effect))

    def _lookup(self, op_name: str | OpOverload) -> OpOverload:
        if isinstance(op_name, OpOverload):
            return op_name
        qualified = op_name if "::" in op_name else f"{self.ns}::{op_name}"
        name, _, overload = qualified.partition(".")
        op = _get_operation_overload(name, overload)
        if op is None:
            raise RuntimeError(f"operator {qualified} does not exist (Library.impl)")
        return op

    def _destroy(self) -> None:
        """Remove every definition and registration this library made."""
        for custom in reversed(self._custom_ops):
            custom._destroy()
        for handle in reversed(self._registration_handles):
            handle.destroy()
        for op, key in reversed(self._op_impls):
            op.py_kernels.pop(key, None)
            op._dispatch_cache.clear()
        for name, overload in reversed(self._op_defs):
            qualname = name + (f".{overload}" if overload else "")
            simple_registry.singleton._data.pop(qualname, None)
            undefine_schema(name, overload)
        self._custom_ops.clear()
        self._registration_handles.clear()
        self._op_impls.clear()
        self._op_defs.clear()


def _parse_key(name: str) -> DispatchKey:
    try:
        return DispatchKey[name]
    except KeyError:
        raise ValueError(
            f"unknown dispatch key {name!r}; expected one of "
            f"{', '.join(k.name for k in DispatchKey if k is not DispatchKey.Undefined)}"
        ) from None


@contextmanager
def _scoped_library(ns: str, kind: str, dispatch_key: str = "") -> Iterator[Library]:
    """A ``Library`` that removes its ops and every registration when the block exits."""
    lib = Library(ns, kind, dispatch_key)
    try:
        yield lib
    finally:
        lib._destroy()


def custom_op(name: str, fn: Callable | None = None, /, *, mutates_args: Any = (),
              schema: str | None = None, lib: Library | None = None) -> Any:
    """``torch.library.custom_op``; pass ``lib=`` to tie the op's lifetime to a library."""
    return _custom_op(name, fn, mutates_args=mutates_args, schema=schema, lib=lib)
