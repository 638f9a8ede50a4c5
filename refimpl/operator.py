"""Operators: OpOverload, OpOverloadPacket, HigherOrderOperator, and the ``ops`` namespace.

Models: ``torch/_ops.py`` at torch 2.13.0 (``OperatorBase``, ``resolve_key``,
``HigherOrderOperator.dispatch``, ``OpOverload``, ``OpOverloadPacket``, ``_OpNamespace``,
``_compute_keyset``) and the C++ operator registry behind ``torch._C._get_schema``.
Spec: DSP-5, DSP-6, DSP-7, DSP-8, DSP-9, DSP-10, DSP-12, DSP-13.

Simplifications:
1. One kernel table per operator: ``py_kernels`` holds both what torch keeps in C++ (aten
   kernels, ``Library.impl``) and Python overrides (``py_impl``).
2. ``OpOverload`` falls through every key except Python, PreDispatch, the backend keys and,
   for an op with a ``CompositeImplicitAutograd`` kernel, the autograd keys (where that kernel
   runs, before any mode sees the op): no autograd, autocast or C++ functionalization is
   modelled (see [NOTE: op fallthrough keys]).
3. Ops with no tensor argument (factories) dispatch to the backend key of their ``device``
   argument, standing in for torch's ``BackendSelect`` kernels. A call whose tensors are all
   numbers that torch wraps ([NOTE: wrapped numbers]) dispatches to the default device's
   backend key, as the CPU tensors torch wraps them into would.
4. Overload resolution of a packet call (``ops.aten.add(x, y)``) binds arguments against each
   overload's schema in definition order and takes the first that fits.
5. Argument normalisation ([NOTE: argument normalisation]) converts what torch's argument parser
   converts for the modelled types (``float``, ``int``, lists of them, tuples for lists); a value
   that does not fit its type is passed on unchanged, and the kernel raises torch's type error.
"""

from __future__ import annotations

from typing import Any

from refimpl import _pytree as pytree
from refimpl.backend import get_backend
from refimpl.dispatch_key import (
    AUTOGRAD_KEYS,
    DispatchKey,
    DispatchKeySet,
    ExcludeDispatchKeyGuard,
    _tls,
    highest_key_of_mask,
    is_included_in_alias,
    key_bit,
)
from refimpl.mode_stack import _get_current_dispatch_mode, _pop_mode_temporarily
from refimpl.schema import Argument, FunctionSchema, SchemaType, _value_key, parse_schema
from refimpl.tensor import Tensor

__all__ = [
    "HigherOrderOperator", "OpOverload", "OpOverloadPacket", "OperatorBase", "_higher_order_ops",
    "_get_operation_overload", "_get_schema", "check_arguments", "define_schema", "ops",
    "resolve_key", "schema_type_error",
    "undefine_schema",
]

K = DispatchKey


class OperatorBase:
    """Kernel tables shared by ``OpOverload`` and ``HigherOrderOperator``."""

    def __init__(self) -> None:
        self._dispatch_cache: dict[DispatchKey, Any] = {}
        self.py_kernels: dict[DispatchKey, Any] = {}
        self.python_key_table: dict[type, Any] = {}

    def has_kernel_for_dispatch_key(self, k: DispatchKey) -> bool:
        return k in self.py_kernels

    def has_kernel_for_any_dispatch_key(self, ks: DispatchKeySet) -> bool:
        return any(ks.has(k) for k in self.py_kernels if not _is_alias(k))

    def py_impl(self, k: Any):
        """Register ``fn`` for a dispatch key, a mode class or a tensor subclass."""

        def inner(fn):
            if isinstance(k, type):
                if k in self.python_key_table:
                    raise AssertionError(f"{k} already registered in python_key_table")
                self.python_key_table[k] = fn
                self._invalidate_kernels()
                return fn
            if not isinstance(k, DispatchKey):
                raise AssertionError(f"expected DispatchKey, got {type(k)}")
            if k == K.Python:
                raise AssertionError(
                    "Please register a mode for the DispatchKey.Python key instead."
                )
            if k in self.py_kernels:
                raise RuntimeError(
                    f"Trying to override a python impl for {k} on operator {self.name()}"
                )
            self.py_kernels[k] = fn
            self._invalidate_kernels()
            return fn

        return inner

    def _boxed(self, result: Any) -> Any:
        """What the caller of a Python-key handler gets: torch pushes the handler's result on
        the stack as the schema's returns and boxes them back, so an op with several returns
        gives a tuple even when the handler returned a list (``handle_effects`` does)."""
        if isinstance(result, list) and len(self._schema.returns) > 1:
            return tuple(result)
        return result

    def _invalidate_kernels(self) -> None:
        """Forget the resolved kernels; call after editing ``py_kernels`` by hand."""
        self._dispatch_cache.clear()

    def name(self) -> str:
        raise NotImplementedError


def _is_alias(k: DispatchKey) -> bool:
    return k in (K.CompositeExplicitAutograd, K.CompositeImplicitAutograd, K.Autograd,
                 K.CompositeExplicitAutogradNonFunctional)


def resolve_key(op: OperatorBase, k: DispatchKey) -> DispatchKey:
    """Which registered key serves runtime key ``k`` (torch's computeDispatchTableEntry)."""
    # 1. Direct registration.
    if op.has_kernel_for_dispatch_key(k):
        return k
    # 2. CompositeExplicitAutograd serves the backend keys (and Undefined).
    for cand in (K.CompositeExplicitAutogradNonFunctional, K.CompositeExplicitAutograd):
        if (k == K.Undefined or is_included_in_alias(k, cand)) \
                and op.has_kernel_for_dispatch_key(cand):
            return cand
    # 3. CompositeImplicitAutograd serves backend and autograd keys when k's own backend has
    #    no kernel (torch asks _dispatch_get_backend_keyset_from_autograd(k)).
    cand = K.CompositeImplicitAutograd
    own_backend = _BACKEND_OF_AUTOGRAD.get(k)
    has_backend_kernel = (
        own_backend is not None and op.has_kernel_for_dispatch_key(own_backend)
    ) or op.has_kernel_for_dispatch_key(K.CompositeExplicitAutograd)
    if (k == K.Undefined or is_included_in_alias(k, cand)) \
            and op.has_kernel_for_dispatch_key(cand) and not has_backend_kernel:
        return cand
    # 4. The Autograd alias serves the per-backend autograd keys.
    if is_included_in_alias(k, K.Autograd) and op.has_kernel_for_dispatch_key(K.Autograd):
        return K.Autograd
    # 5. Backend fallback: a key with a fallback kernel resolves to itself (the caller then
    #    finds no Python kernel there and raises its own error).
    if k in _HAS_BACKEND_FALLBACK:
        return k
    raise NotImplementedError(f"could not find kernel for {op} at dispatch key {k}")


# torch._C._dispatch_get_backend_keyset_from_autograd, for the modelled keys.
_BACKEND_OF_AUTOGRAD = {K.AutogradCPU: K.CPU, K.AutogradCUDA: K.CUDA, K.AutogradMeta: K.Meta}
# Every modelled runtime key but the dense backends has a backend fallback in torch
# (torch._C._dispatch_has_backend_fallback).
_HAS_BACKEND_FALLBACK = frozenset(
    k for k in DispatchKeySet.full() if k not in (K.CPU, K.CUDA)
)


# --------------------------------------------------------------------------------------------
# Higher-order operators
# --------------------------------------------------------------------------------------------
_higher_order_ops: dict[str, HigherOrderOperator] = {}

# [NOTE: dispatch on masks] The call paths compute the dispatch key on the integer bit masks
# behind DispatchKeySet (``repr_``): union the tensors' keys with the TLS include set, remove the
# exclude set, keep the non-fallthrough keys, and take the highest set bit
# (``highest_key_of_mask``). That is ``key_extractor(...).highestPriorityTypeId()`` without
# building a DispatchKeySet per call; ``explain`` shows the same computation with the sets.

_HIGHER_ORDER_OP_DEFAULT_FALLTHROUGH_DISPATCH_KEYS = (
    K.PythonDispatcher, K.PythonTLSSnapshot, K.ADInplaceOrView, K.BackendSelect,
    K.AutocastCPU, K.AutocastCUDA,
)


class HigherOrderOperator(OperatorBase):
    """An operator written in Python, dispatched by Python (``torch.ops.higher_order.<name>``)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        if type(self) is HigherOrderOperator:
            raise RuntimeError(
                "Direct instantiation of HigherOrderOperator is not allowed. Please subclass it."
            )
        self._name = name
        self.__name__ = name
        _higher_order_ops[name] = self
        self._ns = "higher_order"
        self.__module__ = "torch.ops.higher_order"
        self.non_fallthrough_keys = DispatchKeySet.full()
        for dispatch_key in _HIGHER_ORDER_OP_DEFAULT_FALLTHROUGH_DISPATCH_KEYS:
            self.fallthrough(dispatch_key)

    def py_impl(self, k: Any):
        if isinstance(k, DispatchKey) and not _is_alias(k) \
                and not self.non_fallthrough_keys.has(k):
            self.non_fallthrough_keys = self.non_fallthrough_keys.add(k)
        return super().py_impl(k)

    def py_functionalize_impl(self, fn: Any) -> Any:
        """Register ``fn(ctx, *args)`` as the FunctionalTensorMode rule, ``ctx`` a
        ``PythonFunctionalizeAPI`` over the mode (torch also registers it for the
        Functionalize key and functorch's transform, which refimpl does not model)."""
        # functional_tensor imports this module: the rule's wrapper imports it when called.
        def functionalize_mode_rule(mode: Any, *args: Any, **kwargs: Any) -> Any:
            from refimpl.functional_tensor import PythonFunctionalizeAPI  # noqa: PLC0415

            return fn(PythonFunctionalizeAPI(mode), *args, **kwargs)

        from refimpl.functional_tensor import FunctionalTensorMode  # noqa: PLC0415

        self.py_impl(FunctionalTensorMode)(functionalize_mode_rule)
        return fn

    def py_autograd_impl(self, fn: Any) -> Any:
        """Register ``fn`` for the Autograd key behind torch's ``maybe_run_autograd``: with
        grad mode off, or no tensor argument that requires grad, the op is redispatched below
        autograd and ``fn`` is not called."""
        from refimpl.autograd.grad_mode import is_grad_enabled  # noqa: PLC0415 - autograd/__init__ imports this module
        from refimpl.autograd.variable import requires_grad  # noqa: PLC0415

        def maybe_run_autograd(*args: Any, **kwargs: Any) -> Any:
            if not is_grad_enabled() or not any(
                    requires_grad(t) for t in pytree.tree_leaves((args, kwargs))
                    if isinstance(t, Tensor)):
                with ExcludeDispatchKeyGuard(DispatchKeySet(AUTOGRAD_KEYS)):
                    return self(*args, **kwargs)
            return fn(*args, **kwargs)

        self.py_impl(K.Autograd)(maybe_run_autograd)
        return fn

    @property
    def namespace(self) -> str:
        return self._ns

    def fallthrough(self, dispatch_key: DispatchKey) -> None:
        self.non_fallthrough_keys = self.non_fallthrough_keys.remove(dispatch_key)

    def name(self) -> str:
        return self._name

    def __str__(self) -> str:
        return self.name()

    def __deepcopy__(self, memo=None) -> HigherOrderOperator:
        return self

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        # torch: key_extractor(every tensor leaf, non_fallthrough_keys).highestPriorityTypeId(),
        # here on the bit masks ([NOTE: dispatch on masks]).
        # The leaves of ``(args, kwargs)`` are walked in place: a top-level tensor is read in
        # the loop, only a container is flattened (the same leaves as ``arg_tree_leaves``).
        mask = _tls.included
        for a in (*args, *kwargs.values()) if kwargs else args:
            if isinstance(a, Tensor):
                mask |= a._keys
            elif type(a) in _CONTAINERS:
                for t in pytree.tree_leaves(a):
                    if isinstance(t, Tensor):
                        mask |= t._keys
        mask &= ~_tls.excluded & self.non_fallthrough_keys.repr_
        return self.dispatch(highest_key_of_mask(mask), *args, **kwargs)

    def dispatch(self, /, dispatch_key: DispatchKey, *args: Any, **kwargs: Any) -> Any:
        """Run the kernel for ``dispatch_key``: a cached kernel, a Python-key rule, or resolve."""
        if dispatch_key in self._dispatch_cache:
            return self._dispatch_cache[dispatch_key](*args, **kwargs)
        if dispatch_key == K.Python:
            return self._dispatch_python(args, kwargs)
        final_key = resolve_key(self, dispatch_key)
        if final_key not in self.py_kernels:
            raise NotImplementedError(
                f"could not find kernel for HigherOrderOperator {self._name} "
                f"at dispatch key {final_key} (resolved from {dispatch_key})"
            )
        kernel = self.py_kernels[final_key]
        self._dispatch_cache[dispatch_key] = kernel
        return kernel(*args, **kwargs)

    def _get_overloaded_args(self, args: tuple, kwargs: dict) -> tuple[Tensor, ...]:
        python = key_bit(K.Python)
        found = []
        for arg in (*args, *kwargs.values()):
            for a in (arg if isinstance(arg, (list, tuple)) else (arg,)):
                if isinstance(a, Tensor) and a._keys & python:
                    found.append(a)
        return tuple(found)

    def _dispatch_python(self, args: tuple, kwargs: dict) -> Any:
        # Step 1: the current mode's rule, called with the mode popped: (mode, *args, **kwargs).
        curr_mode = _get_current_dispatch_mode()
        if curr_mode is not None:
            result = self._dispatch_mode(curr_mode, args, kwargs)
            if result is not NotImplemented:
                return result
        # Step 2: the rule of the first tensor subclass that has one.
        overloaded_args = self._get_overloaded_args(args, kwargs)
        for arg in overloaded_args:
            result = self._dispatch_subclass(arg, args, kwargs)
            if result is not NotImplemented:
                return result
        raise TypeError(
            f"HigherOrderOperator '{self._name}' is not supported for the given input types. "
            f"This typically happens when using custom tensor types or dispatch modes that don't "
            f"have implementations for this operation.\n\n"
            f"Current mode: {curr_mode}\n"
            f"Input types: {[type(a).__name__ for a in overloaded_args]}\n\n"
            f"To fix this, can add support for '{self._name}' in {curr_mode}'s "
            f"__torch_dispatch__\n"
        )

    def _dispatch_mode(self, curr_mode: Any, args: tuple, kwargs: dict) -> Any:
        handler = self.python_key_table.get(type(curr_mode))
        if handler is not None:
            with _pop_mode_temporarily() as mode:
                return handler(mode, *args, **kwargs)
        if curr_mode.supports_higher_order_operators:
            with _pop_mode_temporarily():
                return curr_mode.__torch_dispatch__(self, [], args, kwargs)
        raise NotImplementedError(
            f"There was no rule registered for HigherOrderOperator {self._name} and mode "
            f"{curr_mode}.Hint: set {curr_mode}'s supports_higher_order_operators to True."
            f" This causes all higher order operators to pass through {curr_mode}'s "
            f"__torch_dispatch__, so handle them accordingly by adding support for "
            f"HigerOrderOperators (in this case, {self._name}) in "
            f"{curr_mode}.__torch_dispatch__ or returning NotImplemented when not supported."
        )

    def _dispatch_subclass(self, arg: Tensor, args: tuple, kwargs: dict) -> Any:
        subclass_type = type(arg)
        # A FakeTensor without an active FakeTensorMode uses the mode's rule with its own mode.
        fake_mode = getattr(arg, "fake_mode", None)
        if fake_mode is not None and type(fake_mode) in self.python_key_table:
            return self.python_key_table[type(fake_mode)](fake_mode, *args, **kwargs)
        if subclass_type in self.python_key_table:
            return self.python_key_table[subclass_type](*args, **kwargs)
        raise NotImplementedError(
            f"There was no rule registered for HOP {self._name} and subclass {subclass_type}. "
            f"We recommend filing an issue."
        )


# --------------------------------------------------------------------------------------------
# The operator registry (torch keeps it in C++: torch._C._get_schema & co.)
# --------------------------------------------------------------------------------------------
# qualified op name ("aten::add") -> its packet; a packet holds its OpOverload objects, which
# keep their identity for as long as the overload is defined (kernels hang off them).
_packets: dict[str, OpOverloadPacket] = {}


def define_schema(schema: str | FunctionSchema) -> OpOverload:
    """Add an operator overload to the registry (what ``Library.define`` does in C++)."""
    parsed = parse_schema(schema) if isinstance(schema, str) else schema
    packet = _packets.get(parsed.name)
    if packet is None:
        packet = _packets[parsed.name] = OpOverloadPacket(parsed.name,
                                                           parsed.name.split("::")[1])
    key = parsed.overload_name or "default"
    if key in packet._overloads:
        shown = parsed.name + (f".{parsed.overload_name}" if parsed.overload_name else "")
        raise RuntimeError(
            f"Tried to register an operator ({parsed}) with the same name and overload name "
            f"multiple times. Each overload's schema should only be registered with a single "
            f"call to def(). Duplicate registration: {shown}"
        )
    op = packet._overloads[key] = OpOverload(packet, parsed)
    return op


def undefine_schema(name: str, overload_name: str) -> None:
    """Remove an overload (a scoped library's teardown)."""
    packet = _packets.get(name)
    if packet is None:
        return
    packet._overloads.pop(overload_name or "default", None)
    if not packet._overloads:
        del _packets[name]
        ops._invalidate(name)


def _get_operation_overload(name: str, overload_name: str) -> OpOverload | None:
    """``torch._C._get_operation_overload``: the overload object, or None.

    As in C++, the default overload is named ``""``; ``"default"`` finds nothing.
    """
    packet = _packets.get(name)
    if packet is None or overload_name == "default":
        return None
    return packet._overloads.get(overload_name or "default")


def _get_schema(name: str, overload_name: str) -> FunctionSchema | None:
    """``torch._C._get_schema`` (None instead of an error when absent)."""
    op = _get_operation_overload(name, overload_name)
    return None if op is None else op._schema


# --------------------------------------------------------------------------------------------
# OpOverload
# --------------------------------------------------------------------------------------------
# [NOTE: op fallthrough keys] Without autograd, autocast or C++ functionalization in the model,
# an OpOverload's only non-fallthrough keys are Python (modes and subclasses), PreDispatch and
# the backends. Masking the extracted key set with them makes the highest key the one torch
# would reach after falling through AutogradCPU, ADInplaceOrView and the rest. The exception is
# an op whose kernel sits at an autograd key: torch's ``CompositeImplicitAutograd`` alias fills
# the autograd keys, so a composite op (``absolute``) decomposes there, above the Python key,
# and every mode sees the ops of its decomposition (``abs``), never the composite itself; the
# ``Autograd`` alias and the per-backend autograd keys do the same.
_OP_NON_FALLTHROUGH = DispatchKeySet(
    [K.Python, K.PreDispatch, K.CPU, K.CUDA, K.Meta]
).repr_
_AUTOGRAD_MASK = DispatchKeySet(
    [K.AutogradOther, K.AutogradCPU, K.AutogradCUDA, K.AutogradMeta]
).repr_
_KERNELS_AT_AUTOGRAD = (K.CompositeImplicitAutograd, K.Autograd, K.AutogradOther, K.AutogradCPU,
                        K.AutogradCUDA, K.AutogradMeta)
_PYTHON_BIT = key_bit(K.Python)
_BACKEND_OF_DEVICE = {"cpu": key_bit(K.CPU), "cuda": key_bit(K.CUDA), "meta": key_bit(K.Meta)}


class OpOverload(OperatorBase):
    """One overload of an operator: ``ops.aten.add.Tensor``."""

    def __init__(self, overloadpacket: OpOverloadPacket, schema: FunctionSchema) -> None:
        super().__init__()
        self._non_fallthrough = _OP_NON_FALLTHROUGH  # [NOTE: op fallthrough keys]
        self._schema = schema
        self.overloadpacket = overloadpacket
        self._overloadname = schema.overload_name or "default"
        self._name = schema.name + (f".{schema.overload_name}" if schema.overload_name else "")
        self.__name__ = f"{schema.name.split('::')[1]}.{self._overloadname}"
        self.__module__ = overloadpacket.__module__
        self.__qualname__ = self._name
        self._is_factory = not any(a.type.is_tensor_like() for a in schema.arguments)
        self._plan = _ArgumentPlan(schema)
        # Positional ``Tensor`` parameters that may take a number torch wraps.
        self._number_slots = tuple(
            i for i, a in enumerate(schema.arguments)
            if a.type == _TENSOR_TYPE and not a.kwarg_only
        ) if allows_numbers_as_tensors(schema) else ()

    def _backend_without_tensors(self, args: tuple, kwargs: dict) -> int:
        """The backend key bit of a call no tensor reached (Simplification 3), or 0.

        [NOTE: wrapped numbers] torch's argument parser turns a number given for a ``Tensor``
        parameter of these ops into a CPU tensor marked as a wrapped number, so a call such as
        ``add.Tensor(2, 3)`` reaches the CPU kernel. refimpl passes the number on unchanged
        (the kernels promote it as a Python scalar) and picks the backend here instead.
        """
        if self._is_factory:
            return _BACKEND_OF_DEVICE.get(kwargs.get("device") or _default_device(), 0)
        if any(i < len(args) and type(args[i]) in (int, float, bool) for i in self._number_slots):
            return _BACKEND_OF_DEVICE.get(_default_device(), 0)
        return 0

    @property
    def namespace(self) -> str:
        return self._schema.name.split("::")[0]

    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<OpOverload(op='{self.overloadpacket._qualified_op_name.replace('::', '.')}', " \
               f"overload='{self._overloadname}')>"

    def __str__(self) -> str:
        return "{}.{}.{}".format(*self._schema.name.split("::"), self._overloadname)

    # torch hashes an overload by ``id(self)``; object's hash is identity-based too, and runs
    # in C (an overload is a dict key in every dispatch cache and effect lookup).
    __hash__ = object.__hash__

    def __deepcopy__(self, memo=None) -> OpOverload:
        return self

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        if kwargs or len(args) != self._plan.plain_arity:
            args, kwargs = self._plan.normalize(args, kwargs)
        mask = _tls.included
        for a in args:
            if isinstance(a, Tensor):
                mask |= a._keys
            elif type(a) is list or type(a) is tuple:
                for b in a:
                    if isinstance(b, Tensor):
                        mask |= b._keys
        for a in kwargs.values():
            if isinstance(a, Tensor):
                mask |= a._keys
        mask &= self._non_fallthrough & ~_tls.excluded
        if not mask & ~_PYTHON_BIT and (self._is_factory or self._number_slots):
            mask |= self._backend_without_tensors(args, kwargs)
        key = highest_key_of_mask(mask)
        kernel = self._dispatch_cache.get(key)
        if kernel is None:
            kernel = self._resolve(key)
        return kernel(*args, **kwargs)

    def redispatch(self, key: DispatchKey, /, *args: Any, **kwargs: Any) -> Any:
        """Call the kernel for ``key`` directly (refimpl's ``redispatch``)."""
        kernel = self._dispatch_cache.get(key) or self._resolve(key)
        return kernel(*args, **kwargs)

    def _resolve(self, key: DispatchKey) -> Any:
        if key == K.Python:
            kernel = self._dispatch_python
        elif key == K.Undefined:
            kernel = self._no_tensor_arguments
        else:
            kernel = None
        if kernel is not None:
            self._dispatch_cache[key] = kernel
            return kernel
        return self._resolve_backend(key)

    def _no_tensor_arguments(self, *args: Any, **kwargs: Any) -> Any:
        """No tensor reached the dispatcher: torch's argument check speaks first, if it fails."""
        check_arguments(self._schema, args, kwargs)
        raise RuntimeError(
            f"There were no tensor arguments to this function (e.g., you passed an empty "
            f"list of Tensors), but no fallback function is registered for schema "
            f"{self._name}.  This usually means that this function requires a non-empty "
            f"list of Tensors, or that you (the operator writer) forgot to register a "
            f"fallback function."
        )

    def _resolve_backend(self, key: DispatchKey) -> Any:
        try:
            kernel = self.py_kernels[resolve_key(self, key)]
        except (NotImplementedError, KeyError):
            raise NotImplementedError(
                f"Could not run '{self._schema.name}' with arguments from the "
                f"'{key.name}' backend. '{self._schema.name}' is only available for these "
                f"backends: [{', '.join(sorted(k.name for k in self.py_kernels))}]."
            ) from None
        self._dispatch_cache[key] = kernel
        return kernel

    def _dispatch_python(self, *args: Any, **kwargs: Any) -> Any:
        """The Python key: the current mode's ``__torch_dispatch__``, then tensor subclasses."""
        overloaded = _overloaded_args(args, kwargs)
        types = _types_of(overloaded)
        mode = _get_current_dispatch_mode()
        if mode is not None:
            rule = self.python_key_table.get(type(mode))
            with _pop_mode_temporarily() as m:
                if rule is not None:
                    result = rule(m, *args, **kwargs)
                else:
                    result = m.__torch_dispatch__(self, types, args, kwargs)
            if result is not NotImplemented:
                return self._boxed(result)
        for arg in overloaded:
            result = type(arg).__torch_dispatch__(self, types, args, kwargs)
            if result is not NotImplemented:
                return self._boxed(result)
        handlers = ([f"mode object {mode}"] if mode is not None else []) + [
            f"tensor subclass {t}" for t in types
        ]
        raise TypeError(
            f"Multiple dispatch failed for '{self}'; all __torch_dispatch__ handlers returned "
            f"NotImplemented:\n\n" + "".join(f"  - {h}\n" for h in handlers)
        )

    def _invalidate_kernels(self) -> None:
        self._dispatch_cache.clear()
        at_autograd = any(k in self.py_kernels for k in _KERNELS_AT_AUTOGRAD)
        self._non_fallthrough = _OP_NON_FALLTHROUGH | (_AUTOGRAD_MASK if at_autograd else 0)


# [NOTE: argument normalisation] torch's ``OpOverload.__call__`` is C++: the argument parser
# binds the call to the schema (``createStackForSchema``: positional arguments in order, then
# each remaining parameter from ``kwargs`` or its default, raising torch's binding errors) and
# converts each value to its schema type (an ``int`` or ``bool`` for ``float`` becomes a float,
# a ``bool`` for ``int`` an int, a tuple for a list a list). Every Python kernel and every
# ``__torch_dispatch__`` then sees the stack boxed back by ``parseIValuesToPyArgsKwargs``:
# positional-or-keyword parameters positionally, up to the last one that differs from its
# default; keyword-only parameters as keywords, each only when it differs from its default.
# Equality with a default is IValue equality, which tells ``1``, ``1.0`` and ``True`` apart
# (``alpha=1.0`` stays, ``alpha=1`` goes). So ``sub.Scalar(x, 1, alpha=2)`` reaches a mode, and
# a traced graph, as ``sub.Scalar(x, 1, 2)``, and ``clone(x, memory_format=None)`` as
# ``clone(x)``. A number for a ``Tensor`` parameter is wrapped into a tensor by torch and
# unwrapped again when boxed (a "wrapped number"), so it stays the number it was; only prims
# and the aten ops of ``_NUMBERS_AS_TENSORS`` (``should_allow_numbers_as_tensors``) take one, any
# other op raises torch's type error for the parameter.
_MISSING: Any = object()
_NUMBERS_AS_TENSORS = frozenset({
    "add", "add_", "add_out", "div", "div_", "div_out", "divide", "divide_", "divide_out",
    "mul", "mul_", "mul_out", "multiply", "multiply_", "multiply_out", "sub", "sub_", "sub_out",
    "subtract", "subtract_", "subtract_out", "true_divide", "true_divide_", "true_divide_out",
    "to", "_to_copy", "copy_", "copy", "floor_divide", "floor_divide_", "floor_divide_out", "_conj",
})


# [NOTE: kernels torch has in C++] Which ops torch registers a C++ kernel for at a dispatch key
# refimpl does not dispatch to (today only ``Functionalize``: views, in-place ops, ``_to_copy``,
# ``lift_fresh``...; refimpl functionalizes with the Python mode alone). Read only where torch's
# Python reads ``torch._C._dispatch_has_kernel_for_dispatch_key`` (FunctionalTensorMode's check
# of effectful ops); ``refimpl.aten`` fills it from torch 2.13's observed table.
_CPP_KERNEL_KEYS: dict[str, set[DispatchKey]] = {}


def _dispatch_has_kernel_for_dispatch_key(name: str, key: DispatchKey) -> bool:
    """``torch._C._dispatch_has_kernel_for_dispatch_key`` for the keys refimpl records
    ([NOTE: kernels torch has in C++]); ``name`` is ``op.name()`` (``aten::add_.Tensor``)."""
    return key in _CPP_KERNEL_KEYS.get(name, ())


def allows_numbers_as_tensors(schema: FunctionSchema) -> bool:
    """Whether torch's argument parser wraps a Python number given for a ``Tensor`` parameter."""
    namespace, _, name = schema.name.partition("::")
    return namespace == "prims" or (namespace == "aten" and name in _NUMBERS_AS_TENSORS)


def _as_float(value: Any) -> Any:
    return float(value) if type(value) is int or type(value) is bool else value


def _as_int(value: Any) -> Any:
    return int(value) if type(value) is bool else value


def _list_of(convert: Any) -> Any:
    def as_list(value: Any) -> Any:
        if type(value) is tuple or type(value) is list:
            return [convert(v) for v in value] if convert is not None else list(value)
        return value

    return as_list


_SCALAR_CONVERTERS = {"float": _as_float, "int": _as_int, "SymInt": _as_int}


def _converter(t: SchemaType) -> Any:
    """The conversion torch's argument parser applies to a value of type ``t`` (or None)."""
    base = t.unwrap_optional()
    if base.kind == "base":
        return _SCALAR_CONVERTERS.get(base.name)
    if base.kind == "list":
        elem = base.contained[0].unwrap_optional()
        return _list_of(_SCALAR_CONVERTERS.get(elem.name) if elem.kind == "base" else None)
    return None


_TENSOR_TYPE = SchemaType.base("Tensor")


def _is_default(arg: Argument, value: Any) -> bool:
    if not arg.has_default_value():
        return False
    default = arg._default
    if default is None or value is None:
        return default is None and value is None
    if isinstance(value, Tensor):
        return False
    return _value_key(value) == _value_key(default)


class _ArgumentPlan:
    """Per-overload binding and boxing of arguments ([NOTE: argument normalisation])."""

    __slots__ = ("schema", "params", "converters", "n_positional", "plain_arity", "tensors")

    def __init__(self, schema: FunctionSchema) -> None:
        self.schema = schema
        self.params = schema.arguments
        self.converters = tuple(_converter(a.type) for a in self.params)
        self.n_positional = sum(1 for a in self.params if not a.kwarg_only)
        # A call with exactly the leading positional parameters that neither convert nor have
        # a default, when every later parameter has a default, is already normal: the common
        # case (``sin(x)``, ``add(x, y)``) skips the work. -1: no call is.
        prefix = 0
        for arg, convert in zip(self.params[:self.n_positional], self.converters):
            if convert is not None or arg.has_default_value():
                break
            prefix += 1
        rest_defaulted = all(a.has_default_value() for a in self.params[prefix:])
        self.plain_arity = prefix if rest_defaulted else -1
        # ``Tensor`` parameters that refuse numbers. aten kernels check their own tensors; any
        # other op is checked here, on every call.
        checked = schema.name.partition("::")[0] not in ("aten", "prims")
        self.tensors = tuple(i for i, a in enumerate(self.params)
                             if checked and a.type == _TENSOR_TYPE)
        if self.tensors:
            self.plain_arity = -1

    def normalize(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        schema, params = self.schema, self.params
        if len(args) > len(params):
            raise RuntimeError(
                f"{schema.name}() expected at most {len(params)} argument(s) but received "
                f"{len(args)} argument(s). Declaration: {schema}")
        if len(args) > self.n_positional:
            raise RuntimeError(
                f"{schema.name}() takes {self.n_positional} positional argument(s) but "
                f"{len(args)} was/were given.  Declaration: {schema}")
        values = list(args)
        consumed = 0
        for arg in params[len(args):]:
            value = kwargs.get(arg.name, _MISSING)
            if value is not _MISSING:
                consumed += 1
            elif arg.has_default_value():
                value = arg.default_value
            else:
                raise RuntimeError(f"{schema.name}() is missing value for argument "
                                   f"'{arg.name}'. Declaration: {schema}")
            values.append(value)
        if consumed != len(kwargs):
            names = [a.name for a in params]
            for name in kwargs:
                if name not in names:
                    raise RuntimeError(f"Unknown keyword argument '{name}' for operator "
                                       f"'{schema.name}'. Schema: {schema}")
                if names.index(name) < len(args):
                    raise RuntimeError(f"Argument '{name}' specified both as positional and "
                                       f"keyword argument. Schema: {schema}")
        for i, convert in enumerate(self.converters):
            if convert is not None:
                values[i] = convert(values[i])
        for i in self.tensors:
            value = values[i]
            if not isinstance(value, Tensor) and value is not None:
                raise schema_type_error(schema, "Tensor", params[i].name, value)
        end = self.n_positional
        while end > 0 and _is_default(params[end - 1], values[end - 1]):
            end -= 1
        out_kwargs = {
            arg.name: value
            for arg, value in zip(params[self.n_positional:], values[self.n_positional:])
            if not _is_default(arg, value)
        }
        return tuple(values[:end]), out_kwargs


def _default_device() -> str:
    return get_backend().device


def _overloaded_args(args: tuple, kwargs: dict) -> list[Tensor]:
    """The distinct tensors carrying the Python key, in argument order (leaves at any depth)."""
    out: list[Tensor] = []
    for arg in (*args, *kwargs.values()) if kwargs else args:
        # A top-level argument is read directly; only a container is flattened.
        for leaf in pytree.tree_leaves(arg) if type(arg) in _CONTAINERS else (arg,):
            if isinstance(leaf, Tensor) and leaf._keys & _PYTHON_BIT and leaf not in out:
                out.append(leaf)
    return out


def _types_of(overloaded: list[Tensor]) -> tuple[type, ...]:
    """The ``types`` a ``__torch_dispatch__`` receives: distinct, in order."""
    if len(overloaded) == 1:
        return (type(overloaded[0]),)
    return tuple(dict.fromkeys(type(t) for t in overloaded))


_CONTAINERS = (tuple, list, dict)


# --------------------------------------------------------------------------------------------
# Packets and namespaces
# --------------------------------------------------------------------------------------------
class OpOverloadPacket:
    """All overloads of one operator name: ``ops.aten.add``."""

    def __init__(self, qualified_op_name: str, op_name: str) -> None:
        self._qualified_op_name = qualified_op_name
        self.__name__ = op_name
        self.__module__ = f"torch._ops.{qualified_op_name.split('::')[0]}"
        self._overloads: dict[str, OpOverload] = {}

    def __repr__(self) -> str:
        return "<OpOverloadPacket(op='{}.{}')>".format(*self._qualified_op_name.split("::"))

    def __str__(self) -> str:
        return "{}.{}".format(*self._qualified_op_name.split("::"))

    def overloads(self) -> list[str]:
        return list(self._overloads)

    def __getattr__(self, key: str) -> OpOverload:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self._overloads[key]
        except KeyError:
            raise AttributeError(
                f"The underlying op of '{self}' has no overload name '{key}'"
            ) from None

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        for name in self.overloads():
            op = getattr(self, name)
            if _binds(op._schema, args, kwargs):
                return op(*args, **kwargs)
        raise RuntimeError(
            f"{self._qualified_op_name}() Expected a value of type matching one of the "
            f"overloads {self.overloads()} for the arguments given"
        )


# torch's messages name the class ``torch._ops.OpOverloadPacket`` (``type(op)`` in with_effects'
# check); instances keep their own ``__module__`` (``torch._ops.aten``) for fx names.
OpOverloadPacket.__module__ = "torch._ops"


def _binds(schema: FunctionSchema, args: tuple, kwargs: dict) -> bool:
    positional = [a for a in schema.arguments if not a.kwarg_only]
    if len(args) > len(positional):
        return False
    names = {a.name for a in schema.arguments}
    if any(k not in names for k in kwargs):
        return False
    for arg, value in zip(positional, args):
        if not _value_fits(str(arg.type), value):
            return False
    for arg in schema.arguments[len(args):]:
        if arg.name not in kwargs and not arg.has_default_value() \
                and not str(arg.type).endswith("?"):
            return False
    return True


def schema_type_error(schema: FunctionSchema, expected: str, arg: str,
                      value: Any) -> RuntimeError:
    """torch's argument-check message: the line, ``Position``, ``Value``, ``Declaration``."""
    names = [a.name for a in schema.arguments]
    lines = [f"{schema.name}() Expected a value of type '{expected}' for argument '{arg}' but "
             f"instead found type '{type(value).__name__}'."]
    if arg in names:
        lines.append(f"Position: {names.index(arg)}")
    lines += [f"Value: {value!r}", f"Declaration: {schema}", _cast_details(expected, value)]
    return RuntimeError("\n".join(lines))


def _cast_details(expected: str, value: Any) -> str:
    # The last line of torch's message comes from its C++ casters (pybind11 for non-tensors).
    if expected == "Tensor":
        return f"Cast error details: Unable to cast {value} to Tensor"
    return (f"Cast error details: Unable to cast Python instance of type {type(value)} to C++ "
            f"type '?' (#define PYBIND11_DETAILED_ERROR_MESSAGES or compile in debug mode for "
            f"details)")


def check_arguments(schema: FunctionSchema, args: tuple, kwargs: dict) -> None:
    """Raise torch's message for the first argument whose type does not fit the schema."""
    positional = [a for a in schema.arguments if not a.kwarg_only]
    bound = list(zip(positional, args)) + [
        (a, kwargs[a.name]) for a in schema.arguments if a.name in kwargs
    ]
    for arg, value in bound:
        if not _value_fits(str(arg.type), value):
            raise schema_type_error(schema, str(arg.type).rstrip("?"), arg.name, value)


def _value_fits(type_text: str, value: Any) -> bool:
    base = type_text.rstrip("?")
    if value is None:
        return type_text.endswith("?")
    if base == "Tensor":
        return isinstance(value, Tensor)
    if base in ("Scalar", "float"):
        return isinstance(value, (int, float)) and not isinstance(value, Tensor)
    if base in ("int", "SymInt"):
        return isinstance(value, int)
    if base == "bool":
        return isinstance(value, bool)
    if base == "str":
        return isinstance(value, str)
    if base.endswith("[]") or "[" in base:
        return isinstance(value, (list, tuple))
    return True


class _OpNamespace:
    """``ops.<ns>``: packets by name, created on first access."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, op_name: str) -> OpOverloadPacket:
        if op_name.startswith("__"):
            raise AttributeError(op_name)
        packet = _packets.get(f"{self.name}::{op_name}")
        if packet is None:
            raise AttributeError(f"'_OpNamespace' '{self.name}' object has no attribute "
                                 f"'{op_name}'")
        setattr(self, op_name, packet)
        return packet


class _HigherOrderNamespace:
    """``ops.higher_order``."""

    def __getattr__(self, name: str) -> HigherOrderOperator:
        if name in _higher_order_ops:
            return _higher_order_ops[name]
        raise AttributeError(
            f"'_HigherOrderNamespace' 'torch.ops.higher_order' object has no attribute '{name}'"
        )


class _Ops:
    """``refimpl.ops``: mirrors ``torch.ops``."""

    def __init__(self) -> None:
        self.higher_order = _HigherOrderNamespace()
        self._namespaces: dict[str, _OpNamespace] = {}

    def __getattr__(self, name: str) -> _OpNamespace:
        if name.startswith("__"):
            raise AttributeError(name)
        ns = self._namespaces.get(name)
        if ns is None:
            ns = self._namespaces[name] = _OpNamespace(name)
        return ns

    def _invalidate(self, qualified_op_name: str) -> None:
        ns_name, op_name = qualified_op_name.split("::")
        ns = self._namespaces.get(ns_name)
        if ns is not None:
            ns.__dict__.pop(op_name, None)


ops = _Ops()
