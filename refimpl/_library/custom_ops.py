"""Custom operators defined from Python functions.

Models: ``torch/_library/custom_ops.py`` (``custom_op``, ``CustomOpDef``) and
``torch/_library/infer_schema.py`` at torch 2.13.0.
Spec: DSP-18.

Simplifications:
1. ``mutates_args`` must be empty or name arguments that the given schema already annotates; schema
   inference covers ``Tensor``, ``list[Tensor]``, ``str``, ``int``, ``float``, ``bool`` parameters
   and ``Tensor``, ``None``, ``tuple[Tensor, ...]``, ``list[Tensor]`` returns.
2. The real implementation is registered for ``CompositeExplicitAutograd`` (every backend); no
   ``device_types`` or ``register_kernel``. The autograd kernel is
   ``refimpl._library.autograd``'s (AG-10).
3. The op lives in the given ``lib`` (a ``Library``) so a scoped library removes it; without one,
   a process-wide fragment library per namespace holds it.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any

from refimpl._library import simple_registry
from refimpl._library.effects import EffectType
from refimpl._library.utils import RegistrationHandle, parse_namespace
from refimpl.dispatch_key import DispatchKey
from refimpl.operator import OpOverload, define_schema, undefine_schema
from refimpl.schema import FunctionSchema, parse_schema
from refimpl.tensor import Tensor

__all__ = ["CustomOpDef", "custom_op", "infer_schema"]


class CustomOpDef:
    """What ``custom_op`` returns: call it like the function, register fake impls and effects."""

    def __init__(self, namespace: str, name: str, schema: FunctionSchema, fn: Callable) -> None:
        self._namespace = namespace
        self._name = name
        self._qualname = f"{namespace}::{name}"
        self._schema = schema
        self._init_fn = fn
        self._handles: list[RegistrationHandle] = []
        self._opoverload: OpOverload = define_schema(schema)
        self._opoverload.py_impl(DispatchKey.CompositeExplicitAutograd)(fn)
        self._opoverload.py_impl(DispatchKey.Meta)(self._meta_kernel)
        # Every custom op has an autograd kernel; register_autograd fills in its formula.
        from refimpl._library.autograd import Info, make_autograd_impl  # noqa: PLC0415

        self._autograd_info = Info()
        self._opoverload.py_impl(DispatchKey.Autograd)(
            make_autograd_impl(self._opoverload, self._autograd_info))

    def _meta_kernel(self, *args: Any, **kwargs: Any) -> Any:
        fake = simple_registry.singleton.find(self._qualname).fake_impl.kernel
        if fake is None:
            raise RuntimeError(
                f"There was no fake impl registered for {self}. This is necessary for "
                f"torch.compile/export/fx tracing to work. Please use "
                f"`{self._init_fn.__name__}.register_fake` to add an fake impl."
            )
        return fake(*args, **kwargs)

    def register_fake(self, fn: Callable) -> Callable:
        """Register the function that computes output metadata under FakeTensorMode."""
        entry = simple_registry.singleton.find(self._qualname)
        self._handles.append(entry.fake_impl.register(fn))
        return fn

    def register_autograd(self, backward: Callable, /, *,
                          setup_context: Callable | None = None) -> None:
        """The backward formula (``backward(ctx, *grads) -> grads of the inputs``) and what
        ``setup_context(ctx, inputs, output)`` saves for it (``CustomOpDef.register_autograd``)."""
        schema = self._opoverload._schema
        if any(r.alias_info is not None for r in schema.returns) or any(
                a.alias_info is not None and a.alias_info.is_write for a in schema.arguments):
            raise RuntimeError(f"Cannot register autograd formula for non-functional operator "
                               f"{self} with schema {schema}. Please create a functional "
                               f"operator and register an autograd formula for that.")
        self._autograd_info._backward_fn = backward
        self._autograd_info._setup_context_fn = setup_context

    def register_effect(self, effect: EffectType | None) -> None:
        """Mark the op effectful (or not); same as ``_register_effectful_op(self, effect)``."""
        entry = simple_registry.singleton.find(self._qualname)
        self._handles.append(entry.effect.register(effect))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._opoverload(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<CustomOpDef({self._qualname})>"

    def _destroy(self) -> None:
        """Undo every registration and remove the op (used by scoped libraries)."""
        for handle in reversed(self._handles):
            handle.destroy()
        self._handles.clear()
        simple_registry.singleton._data.pop(self._qualname, None)
        undefine_schema(self._schema.name, self._schema.overload_name)


_TYPE_NAMES = {Tensor: "Tensor", str: "str", int: "SymInt", float: "float", bool: "bool"}


def _annotation_text(ann: Any, where: str) -> str:
    if ann in _TYPE_NAMES:
        return _TYPE_NAMES[ann]
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is list and args == (Tensor,):
        return "Tensor[]"
    if origin in (typing.Union, types.UnionType) and type(None) in args and len(args) == 2:
        inner = next(a for a in args if a is not type(None))
        return _annotation_text(inner, where) + "?"
    raise ValueError(f"infer_schema(func): Parameter {where} has unsupported type {ann}.")


def _return_text(ann: Any) -> str:
    if ann is None or ann is type(None):
        return "()"
    if ann is Tensor:
        return "Tensor"
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is tuple and all(a is Tensor for a in args):
        return "(" + ", ".join("Tensor" for _ in args) + ")"
    if origin is list and args == (Tensor,):
        return "Tensor[]"
    raise ValueError(f"infer_schema(func): Return has unsupported type {ann}.")


def _default_text(default: Any) -> str:
    if default is inspect.Parameter.empty:
        return ""
    if isinstance(default, str):
        return f'="{default}"'  # torch prints string defaults in double quotes
    return f"={default!r}"


def infer_schema(fn: Callable, mutates_args: tuple = ()) -> str:
    """The schema text (without a name) of a type-annotated function."""
    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    params = []
    mutated = 0
    for name, param in sig.parameters.items():
        if name not in hints:
            raise ValueError(f"infer_schema(func): Parameter {name} must have a type annotation.")
        text = _annotation_text(hints[name], name)
        if name in mutates_args:
            # Each mutated argument gets its own alias set: Tensor(a0!), Tensor(a1!)...
            text = text.replace("Tensor", f"Tensor(a{mutated}!)", 1)
            mutated += 1
        params.append(f"{text} {name}{_default_text(param.default)}")
    return f"({', '.join(params)}) -> {_return_text(hints.get('return'))}"


def _validate_schema(schema: FunctionSchema, schema_str: str) -> None:
    """``CustomOpDef._validate_schema``: no keyword-only tensor parameter (``Tensor``,
    ``Tensor?``, ``Tensor[]``...); torch allows one only on ``out`` ops, which refimpl does not
    model."""
    if any(a.kwarg_only and a.type.is_tensor_like() for a in schema.arguments):
        raise NotImplementedError(
            f"custom_op with kwarg-only Tensor args. Please make your tensors not kwarg-only. "
            f"Got: {schema_str}"
        )


def custom_op(name: str, fn: Callable | None = None, /, *, mutates_args: Any = (),
              schema: str | None = None, lib: Any = None) -> Any:
    """Define ``name`` (``"ns::op"``) from a function; usable as a decorator."""

    def inner(func: Callable) -> CustomOpDef:
        namespace, opname = parse_namespace(name)
        text = schema if schema is not None else infer_schema(func, tuple(mutates_args or ()))
        parsed = parse_schema(f"{namespace}::{opname}{text}")
        _validate_schema(parsed, opname + text)
        op = CustomOpDef(namespace, opname, parsed, func)
        if lib is not None:
            lib._custom_ops.append(op)
        return op

    return inner if fn is None else inner(fn)
