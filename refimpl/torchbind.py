"""Script-object classes (torchbind) and the ``call_torchbind`` higher-order op.

Models: ``torch/_higher_order_ops/torchbind.py`` (``CallTorchBind``, ``call_torchbind``) and the
script-object surface of ``torch.ScriptObject`` / ``torch.classes`` at torch 2.13.0.
Spec: DSP-19.

Simplifications:
1. A class is registered from Python (``register_class``) with method schemas and Python
   bodies; there is no TorchScript. ``_type().qualified_name()`` is
   ``__torch__.torch.classes.<ns>.<Name>`` as in torch.
2. Under FakeTensorMode a method runs its registered ``fake`` body (or, without one, its real
   body, which must then not touch tensor data); torch instead converts the object to a fake
   script object.
3. The functionalization rule of ``call_torchbind`` (which calls ``handle_effects``) is registered
   by ``refimpl.effects``, which is where ``handle_effects`` lives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from refimpl.dispatch_key import DispatchKey
from refimpl.operator import HigherOrderOperator
from refimpl.schema import FunctionSchema, parse_schema

__all__ = ["CallTorchBind", "ScriptClass", "ScriptMethod", "ScriptObject", "call_torchbind",
           "classes", "register_class"]


class ScriptMethod:
    """A bound method of a script object, with its schema (``obj.method.schema``)."""

    def __init__(self, obj: ScriptObject, name: str, schema: FunctionSchema, fn: Callable,
                 fake: Callable | None) -> None:
        self.obj = obj
        self.name = name
        self.schema = schema
        self._fn = fn
        self._fake = fake

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._fn(self.obj, *args, **kwargs)


class _ClassType:
    def __init__(self, qualified: str) -> None:
        self._qualified = qualified

    def qualified_name(self) -> str:
        return self._qualified


class ScriptObject:
    """An instance of a registered script class."""

    def __init__(self, cls: ScriptClass, state: dict[str, Any]) -> None:
        object.__setattr__(self, "_cls", cls)
        object.__setattr__(self, "state", state)

    def _type(self) -> _ClassType:
        return _ClassType(self._cls.qualified_name)

    def _has_method(self, name: str) -> bool:
        return name in self._cls.methods

    def __getattr__(self, name: str) -> ScriptMethod:
        methods = object.__getattribute__(self, "_cls").methods
        if name not in methods:
            raise AttributeError(f"ScriptObject {self._cls.qualified_name} has no method {name!r}")
        schema, fn, fake = methods[name]
        return ScriptMethod(self, name, schema, fn, fake)

    def __repr__(self) -> str:
        return f"<ScriptObject {self._cls.qualified_name}>"


class ScriptClass:
    """``torch.classes.<ns>.<Name>``: call it to make an object."""

    def __init__(self, ns: str, name: str) -> None:
        self.qualified_name = f"__torch__.torch.classes.{ns}.{name}"
        self.methods: dict[str, tuple[FunctionSchema, Callable, Callable | None]] = {}
        self._init: Callable[..., dict[str, Any]] = lambda *args: {"args": args}

    def def_method(self, schema: str, fn: Callable, fake: Callable | None = None) -> None:
        """Add a method from its schema text without ``self`` (``"push(Tensor x) -> ()"``)."""
        name = schema.split("(", 1)[0]
        rest = schema[len(name) + 1:]
        full = f"{name}({self.qualified_name} _0{', ' if not rest.startswith(')') else ''}{rest}"
        self.methods[name] = (parse_schema(full), fn, fake)

    def __call__(self, *args: Any) -> ScriptObject:
        return ScriptObject(self, self._init(*args))


class _ClassNamespace:
    def __init__(self, ns: str) -> None:
        self._ns = ns
        self._classes: dict[str, ScriptClass] = {}

    def __getattr__(self, name: str) -> ScriptClass:
        if name.startswith("__") or name not in self._classes:
            raise RuntimeError(
                f"Tried to instantiate class '{self._ns}.{name}', but it does not exist! "
                f"Ensure that it is registered via torch::class_"
            )
        return self._classes[name]


class _Classes:
    """``refimpl.classes``: mirrors ``torch.classes``."""

    def __init__(self) -> None:
        self._namespaces: dict[str, _ClassNamespace] = {}

    def __getattr__(self, ns: str) -> _ClassNamespace:
        if ns.startswith("__"):
            raise AttributeError(ns)
        return self._namespaces.setdefault(ns, _ClassNamespace(ns))


classes = _Classes()


def register_class(ns: str, name: str, init: Callable[..., dict[str, Any]] | None = None
                   ) -> ScriptClass:
    """Register ``ns.Name``; add methods with ``def_method``."""
    cls = ScriptClass(ns, name)
    if init is not None:
        cls._init = init
    getattr(classes, ns)._classes[name] = cls
    return cls


def _unregister_class(ns: str, name: str) -> None:
    getattr(classes, ns)._classes.pop(name, None)


class CallTorchBind(HigherOrderOperator):
    """``call_torchbind(obj, method, *args, **kwargs)``: a method call as one graph node."""

    def __init__(self) -> None:
        super().__init__("call_torchbind")

    def __call__(self, obj: ScriptObject, method: str, *args: Any, **kwargs: Any) -> Any:
        return super().__call__(obj, method, *args, **kwargs)


call_torchbind = CallTorchBind()
# No autograd is modelled; torch registers an autograd impl that redispatches below it.
call_torchbind.fallthrough(DispatchKey.AutogradCPU)
call_torchbind.fallthrough(DispatchKey.AutogradCUDA)


@call_torchbind.py_impl(DispatchKey.CompositeExplicitAutograd)
def call_torchbind_impl(obj: ScriptObject, method: str, *args: Any, **kwargs: Any) -> Any:
    return getattr(obj, method)(*args, **kwargs)


# The profiler's RecordFunction handle (the argument type of profiler::_record_function_exit).
_RecordFunction = register_class("profiler", "_RecordFunction")
