"""Explain dispatch: a step-by-step trace, for learners, of what the dispatcher does with a call.

Models: the C++ dispatcher's own trace, ``TORCH_SHOW_DISPATCH_TRACE=1`` (``show_dispatch_trace``
in ``ATen/core/dispatch/Dispatcher.h``, debug builds of torch 2.13.0), extended with what torch
decides in Python: the mode or tensor subclass that serves the ``Python`` key and the rule it
uses (``torch/_ops.py``), the kernel ``resolve_key`` finds, ``handle_effects`` and the effect
tokens each ``with_effects`` call consumes and produces.
Spec: DSP-4, DSP-7, DSP-8, DSP-13, EFF-14, EFF-15, EFF-16, EFF-19, EFF-21, EFF-23, TRC-1, TRC-9.

Simplifications:
1. There is no hook in ``operator.py``: ``explaining()`` wraps the dispatch methods for its
   duration and restores them on exit, so outside it the hot path costs nothing
   ([NOTE: explain hook]).
2. A ``Python``-key call is shown as served by the current mode (its ``python_key_table`` rule
   or its ``__torch_dispatch__``) or, with no mode, by the first tensor subclass; a handler
   that returns ``NotImplemented`` and hands over to the next one is not shown.
3. One trace at a time, for the whole process: ``explaining()`` does not nest, and calls that
   other threads make while it is active are recorded too.
4. Kernels are named by their Python ``__name__`` (``with_effects_dense``, ``_print_dense``, or
   ``dense`` / ``meta`` for the aten ops that ``aten.py`` registers from one template); torch
   would name a C++ kernel or a boxed fallback.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from refimpl import _pytree as pytree
from refimpl import functional_tensor
from refimpl.aten import arange
from refimpl.dispatch_key import (
    DispatchKey,
    DispatchKeySet,
    key_extractor,
    tls_local_exclude_set,
    tls_local_include_set,
)
from refimpl.dtype import float32
from refimpl.effects import _get_effect
from refimpl.export import _TokenPlaceholders, aot_export
from refimpl.fake_tensor import FakeTensor, FakeTensorMode
from refimpl.functional_tensor import FunctionalTensor
from refimpl.mode_stack import TorchDispatchMode, _get_current_dispatch_mode, mode_stack_snapshot
from refimpl.operator import (
    HigherOrderOperator,
    OpOverload,
    _overloaded_args,
    _packets,
    resolve_key,
)
from refimpl.proxy_tensor import make_fx
from refimpl.tensor import Tensor

__all__ = [
    "MODES",
    "Event",
    "Explanation",
    "KeyComputation",
    "Trace",
    "default_inputs",
    "explain",
    "explaining",
    "print_explanation",
    "summarize",
]

K = DispatchKey
MODES = ("dense", "fake", "proxy", "functional")
_PYTHON_ONLY = DispatchKeySet([K.Python])
_DTYPE_SHORT = {"float32": "f32", "float64": "f64", "int32": "i32", "int64": "i64", "bool": "b8"}
_STYLES = {
    "call": "bold",
    "keys": "dim",
    "handler": "cyan",
    "effects": "magenta",
    "token": "magenta",
    "mode": "yellow",
    "error": "red",
}


# --------------------------------------------------------------------------------------------
# Events and the trace
# --------------------------------------------------------------------------------------------
@dataclass
class Event:
    """One line of the trace: ``kind`` is call, keys, handler, effects, token, mode or error."""

    depth: int
    kind: str
    text: str
    result: str | None = None

    def line(self) -> str:
        text = self.text if self.result is None else f"{self.text} -> {self.result}"
        return "  " * self.depth + text


@dataclass
class Trace:
    """The events of one ``explaining()`` block, in the order they happened."""

    events: list[Event] = field(default_factory=list)
    depth: int = 0
    _short_ids: dict[int, str] = field(default_factory=dict, repr=False)
    _kept: list[Any] = field(default_factory=list, repr=False)
    _reported: set[int] = field(default_factory=set, repr=False)

    def add(self, kind: str, text: str) -> Event:
        event = Event(max(self.depth, 0), kind, text)
        self.events.append(event)
        return event

    def token_id(self, token: Any) -> str:
        """``tok1``, ``tok2``...: a token's identity (a functional wrapper shows its inner one)."""
        while isinstance(token, FunctionalTensor):
            token = token.elem
        if id(token) not in self._short_ids:
            self._kept.append(token)  # keep it alive, so that its id is not reused
            self._short_ids[id(token)] = f"tok{len(self._short_ids) + 1}"
        return self._short_ids[id(token)]

    def lines(self) -> list[str]:
        return [event.line() for event in self.events]

    def text(self) -> str:
        return "\n".join(self.lines())

    def subtree(self, prefix: str, occurrence: int = 0, *, keys: bool = True) -> list[str]:
        """The lines of the ``occurrence``-th call whose text starts with ``prefix`` and of
        everything nested under it, dedented (``keys=False`` leaves out the key lines)."""
        starts = [
            i for i, e in enumerate(self.events) if e.kind == "call" and e.text.startswith(prefix)
        ]
        if occurrence >= len(starts):
            raise LookupError(
                f"no call #{occurrence} starting with {prefix!r} in the trace ({len(starts)} found)"
            )
        first = starts[occurrence]
        depth = self.events[first].depth
        out = [self.events[first]]
        for event in self.events[first + 1 :]:
            if event.depth <= depth:
                break
            if keys or event.kind != "keys":
                out.append(event)
        return [e.line()[2 * depth :] for e in out]

    def excerpt(self, prefix: str, occurrence: int = 0, *, keys: bool = True) -> str:
        """``subtree`` as one text, for printing."""
        return "\n".join(self.subtree(prefix, occurrence, keys=keys))


def summarize(value: Any) -> str:
    """Short text of an argument or result: ``f32[4]``, ``fake f32[4]``, ``functional(...)``."""
    if isinstance(value, FunctionalTensor):
        return f"functional({summarize(value.elem)})"
    if isinstance(value, Tensor):
        dims = ", ".join(str(s) for s in value.shape)
        text = f"{_DTYPE_SHORT.get(value.dtype.name, value.dtype.name)}[{dims}]"
        if value.device != "cpu" and not isinstance(value, FakeTensor):
            text = f"{value.device} {text}"
        return f"fake {text}" if isinstance(value, FakeTensor) else text
    if isinstance(value, (OpOverload, HigherOrderOperator)):
        return str(value) if isinstance(value, OpOverload) else f"higher_order.{value.name()}"
    if isinstance(value, tuple):
        inner = ", ".join(summarize(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(summarize(v) for v in value) + "]"
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    try:
        text = repr(value)
    except Exception:
        return f"<{type(value).__name__}>"
    return text if len(text) <= 40 else f"<{type(value).__name__}>"


def _call_text(name: str, args: tuple, kwargs: dict) -> str:
    parts = [summarize(a) for a in args] + [f"{k}={summarize(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _keys_text(keys: DispatchKeySet) -> str:
    return "{" + ", ".join(k.name for k in keys) + "}"


# --------------------------------------------------------------------------------------------
# The key computation, exactly as the operators do it (DSP-4, DSP-13)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyComputation:
    """``((include | tensor keys) - exclude) & the operator's non-fallthrough keys``."""

    include: DispatchKeySet
    tensors: DispatchKeySet
    exclude: DispatchKeySet
    keys: DispatchKeySet
    backend_select: DispatchKey | None = None

    @property
    def highest(self) -> DispatchKey:
        return self.keys.highestPriorityTypeId()

    def text(self) -> str:
        select = (
            ""
            if self.backend_select is None
            else f" + {self.backend_select.name} (a factory: its device's backend)"
        )
        return (
            f"keys: include {_keys_text(self.include)} | tensors {_keys_text(self.tensors)}"
            f" - exclude {_keys_text(self.exclude)} & non-fallthrough = {_keys_text(self.keys)}"
            f"{select} -> {self.highest.name}"
        )


def _op_tensors(args: tuple, kwargs: dict) -> list[Tensor]:
    """The tensors ``OpOverload.__call__`` reads keys from: top-level args, one level of lists
    and tuples, and top-level kwargs."""
    found = []
    for a in args:
        if isinstance(a, Tensor):
            found.append(a)
        elif type(a) is list or type(a) is tuple:
            found.extend(b for b in a if isinstance(b, Tensor))
    found.extend(v for v in kwargs.values() if isinstance(v, Tensor))
    return found


def _union_keys(tensors: list[Any]) -> DispatchKeySet:
    keys = DispatchKeySet()
    for t in tensors:
        keys = keys | t.dispatch_keys()
    return keys


def op_key_computation(op: OpOverload, args: tuple, kwargs: dict) -> KeyComputation:
    """The keys of an ``OpOverload`` call, with the factory rule (operator.py Simpl. 3)."""
    include, exclude = tls_local_include_set(), tls_local_exclude_set()
    tensors = _union_keys(_op_tensors(args, kwargs))
    keys = ((include | tensors) - exclude) & DispatchKeySet(op._non_fallthrough)
    backend = None
    if not keys - _PYTHON_ONLY and (op._is_factory or op._number_slots):
        extra = DispatchKeySet(op._backend_without_tensors(args, kwargs))
        if extra:
            backend = extra.highestPriorityTypeId()
            keys = keys | extra
    return KeyComputation(include, tensors, exclude, keys, backend)


def hop_key_computation(op: HigherOrderOperator, args: tuple, kwargs: dict) -> KeyComputation:
    """The keys of a higher-order op call: ``key_extractor`` over every tensor leaf."""
    tensors = [t for t in pytree.arg_tree_leaves(*args, **kwargs) if isinstance(t, Tensor)]
    keys = key_extractor(tensors, op.non_fallthrough_keys)
    return KeyComputation(
        tls_local_include_set(), _union_keys(tensors), tls_local_exclude_set(), keys
    )


# --------------------------------------------------------------------------------------------
# Who handles a call
# --------------------------------------------------------------------------------------------
def _fn_name(fn: Any) -> str:
    owner = getattr(fn, "__self__", None)
    name = getattr(fn, "__name__", None) or type(fn).__name__
    if owner is not None and not isinstance(owner, type):
        return f"{type(owner).__name__}.{name}"
    return name


def kernel_text(op: Any, key: DispatchKey) -> str:
    """``kernel <name> registered at <key>``: what ``resolve_key`` finds (DSP-7)."""
    if key == K.Undefined:
        return "no kernel: no tensor argument and no backend (the call raises)"
    try:
        final = resolve_key(op, key)
    except NotImplementedError:
        return f"no kernel for {key.name} (the call raises)"
    kernel = op.py_kernels.get(final)
    serves = "" if final == key else f" (serves {key.name})"
    return f"kernel {_fn_name(kernel)} registered at {final.name}{serves}"


def op_python_handler(op: OpOverload, args: tuple, kwargs: dict) -> str:
    """The Python key of an OpOverload: the current mode, else the first subclass (DSP-13)."""
    mode = _get_current_dispatch_mode()
    if mode is not None:
        rule = op.python_key_table.get(type(mode))
        if rule is not None:
            return f"mode {type(mode).__name__} rule {_fn_name(rule)}"
        return f"mode {type(mode).__name__}.__torch_dispatch__"
    overloaded = _overloaded_args(args, kwargs)
    if overloaded:
        return f"subclass {type(overloaded[0]).__name__}.__torch_dispatch__"
    return "no mode and no tensor subclass (the call raises)"


def hop_python_handler(op: HigherOrderOperator, args: tuple, kwargs: dict) -> str:
    """The Python key of a HOP: the mode's rule, its ``__torch_dispatch__``, a subclass (DSP-8)."""
    mode = _get_current_dispatch_mode()
    if mode is not None:
        rule = op.python_key_table.get(type(mode))
        if rule is not None:
            return f"mode {type(mode).__name__} rule {_fn_name(rule)}"
        if mode.supports_higher_order_operators:
            return f"mode {type(mode).__name__}.__torch_dispatch__"
        return f"mode {type(mode).__name__}, which has no rule (the call raises)"
    for arg in op._get_overloaded_args(args, kwargs):
        fake_mode = getattr(arg, "fake_mode", None)
        if fake_mode is not None and type(fake_mode) in op.python_key_table:
            rule = op.python_key_table[type(fake_mode)]
            return f"subclass {type(arg).__name__}: its mode's rule {_fn_name(rule)}"
        if type(arg) in op.python_key_table:
            return f"subclass {type(arg).__name__} rule {_fn_name(op.python_key_table[type(arg)])}"
    return "no mode and no tensor subclass rule (the call raises)"


# --------------------------------------------------------------------------------------------
# [NOTE: explain hook] The hook is the module-level ``_trace``: None except inside
# ``explaining()``. Because operator.py keeps no hook of its own (its ``__call__`` is the hot
# path), ``explaining()`` replaces the dispatch methods on the classes for its duration and puts
# the originals back in ``finally``. One subtlety: ``OpOverload._dispatch_cache`` stores the
# bound ``_dispatch_python`` method it resolved for the Python key, so a cached entry would
# bypass a patched class attribute. ``explaining()`` therefore clears every operator's cache
# on entry and again on exit (the cache only saves ``resolve_key`` work; clearing it changes
# no result). A wrapper that still runs after exit (held by an operator defined and dropped
# meanwhile) sees ``_trace is None`` and only calls the original.
# --------------------------------------------------------------------------------------------
_trace: Trace | None = None


def _describe(trace: Trace, step: Callable[[], None]) -> None:
    """Run a describing step; a failure to describe must never change what the program does."""
    try:
        step()
    except Exception as exc:
        trace.add("error", f"(explain could not describe this step: {type(exc).__name__}: {exc})")


def _record_call(
    trace: Trace,
    text: str,
    run: Callable[[], Any],
    before: Callable[[], None] | None = None,
    after: Callable[[Any], None] | None = None,
) -> Any:
    """Add a call line, run ``before``/``run``/``after`` one level deeper, note the result."""
    event = trace.add("call", text)
    saved = trace.depth
    trace.depth = saved + 1
    try:
        if before is not None:
            _describe(trace, before)
        out = run()
    except BaseException as exc:
        event.result = f"raised {type(exc).__name__}"
        if id(exc) not in trace._reported:
            trace._reported.add(id(exc))
            trace._kept.append(exc)  # keep it alive, so that its id is not reused
            message = str(exc).strip().splitlines()
            trace.add("error", f"{type(exc).__name__}: {message[0] if message else ''}")
        raise
    else:
        _describe(trace, lambda: setattr(event, "result", summarize(out)))
        if after is not None:
            _describe(trace, lambda: after(out))
        return out
    finally:
        trace.depth = saved


def _wrap_op_call(original: Callable) -> Callable:
    def __call__(self: OpOverload, /, *args: Any, **kwargs: Any) -> Any:  # noqa: N807
        trace = _trace
        if trace is None:
            return original(self, *args, **kwargs)

        def before() -> None:
            keys = op_key_computation(self, args, kwargs)
            trace.add("keys", keys.text())
            if keys.highest != K.Python:
                trace.add("handler", f"handled by: {kernel_text(self, keys.highest)}")

        return _record_call(
            trace,
            _call_text(str(self), args, kwargs),
            lambda: original(self, *args, **kwargs),
            before,
        )

    return __call__


def _wrap_op_redispatch(original: Callable) -> Callable:
    def redispatch(self: OpOverload, key: DispatchKey, /, *args: Any, **kwargs: Any) -> Any:
        trace = _trace
        if trace is None:
            return original(self, key, *args, **kwargs)

        def before() -> None:
            if key != K.Python:
                trace.add("handler", f"handled by: {kernel_text(self, key)}")

        text = _call_text(f"{self}.redispatch", (key, *args), kwargs)
        return _record_call(trace, text, lambda: original(self, key, *args, **kwargs), before)

    return redispatch


def _wrap_op_dispatch_python(original: Callable) -> Callable:
    def _dispatch_python(self: OpOverload, *args: Any, **kwargs: Any) -> Any:
        trace = _trace
        if trace is not None:
            _describe(
                trace,
                lambda: trace.add(
                    "handler", f"handled by: {op_python_handler(self, args, kwargs)}"
                ),
            )
        return original(self, *args, **kwargs)

    return _dispatch_python


def _wrap_hop_call(original: Callable) -> Callable:
    def __call__(self: HigherOrderOperator, /, *args: Any, **kwargs: Any) -> Any:  # noqa: N807
        trace = _trace
        if trace is None:
            return original(self, *args, **kwargs)

        def before() -> None:
            trace.add("keys", hop_key_computation(self, args, kwargs).text())

        def after(out: Any) -> None:
            if self.name() == "with_effects" and args and isinstance(out, tuple) and out:
                before_id, after_id = trace.token_id(args[0]), trace.token_id(out[0])
                trace.add("token", f"token: {before_id} in, {after_id} out")

        return _record_call(
            trace,
            _call_text(summarize(self), args, kwargs),
            lambda: original(self, *args, **kwargs),
            before,
            after,
        )

    return __call__


def _wrap_hop_dispatch(original: Callable) -> Callable:
    def dispatch(
        self: HigherOrderOperator, /, dispatch_key: DispatchKey, *args: Any, **kwargs: Any
    ) -> Any:
        trace = _trace
        if trace is not None:
            _describe(trace, lambda: _add_hop_handler(trace, self, dispatch_key, args, kwargs))
        return original(self, dispatch_key, *args, **kwargs)

    return dispatch


def _add_hop_handler(
    trace: Trace, op: HigherOrderOperator, dispatch_key: DispatchKey, args: tuple, kwargs: dict
) -> None:
    if dispatch_key == K.Python:
        handler = hop_python_handler(op, args, kwargs)
    else:
        handler = kernel_text(op, dispatch_key)
    trace.add("handler", f"handled by: {handler}")


def _wrap_mode_enter(original: Callable) -> Callable:
    def __enter__(self: TorchDispatchMode) -> Any:  # noqa: N807
        out = original(self)
        trace = _trace
        if trace is not None:
            stack = ", ".join(type(m).__name__ for m in mode_stack_snapshot())
            trace.add("mode", f"with {type(self).__name__}:  (mode stack: {stack})")
            trace.depth += 1
        return out

    return __enter__


def _wrap_mode_exit(original: Callable) -> Callable:
    def __exit__(self: TorchDispatchMode, *exc: object) -> Any:  # noqa: N807
        trace = _trace
        if trace is not None:
            trace.depth = max(trace.depth - 1, 0)
        return original(self, *exc)

    return __exit__


def _wrap_effects_handler(handler: tuple[Callable, Callable]) -> tuple[Callable, Callable]:
    has_effects, handle_effects = handler

    def recording_handle_effects(
        allow_token_discovery: bool, tokens: dict, op: Any, args: tuple, kwargs: dict
    ) -> Any:
        trace = _trace
        if trace is None:
            return handle_effects(allow_token_discovery, tokens, op, args, kwargs)
        _describe(trace, lambda: _add_effects_line(trace, allow_token_discovery, tokens, op))
        saved = trace.depth
        trace.depth = saved + 1
        try:
            out = handle_effects(allow_token_discovery, tokens, op, args, kwargs)
        finally:
            trace.depth = saved
        _describe(trace, lambda: _add_new_token_line(trace, tokens, op))
        return out

    return has_effects, recording_handle_effects


def _add_effects_line(trace: Trace, allow_token_discovery: bool, tokens: dict, op: Any) -> None:
    # handle_effects calls _get_effect(op) first too, so asking here changes nothing (EFF-7).
    effect = _get_effect(op)
    token = tokens.get(effect)
    if token is not None:
        held = trace.token_id(token)
    elif isinstance(tokens, _TokenPlaceholders):  # [NOTE: single-pass export]
        held = "none yet (aot_export adds a token placeholder)"
    else:
        held = "none yet (discovery makes one)"
    discovery = "on" if allow_token_discovery else "off"
    trace.add(
        "effects",
        f"handle_effects: {op} has effect {effect.name}; token {held}; discovery {discovery}",
    )


def _add_new_token_line(trace: Trace, tokens: dict, op: Any) -> None:
    effect = _get_effect(op)
    new = tokens[effect]
    trace.add("token", f"tokens[{effect.name}] = {summarize(new)} (now {trace.token_id(new)})")


def _all_op_overloads() -> list[OpOverload]:
    return [op for packet in list(_packets.values()) for op in list(packet._overloads.values())]


def _clear_dispatch_caches() -> None:
    for op in _all_op_overloads():
        op._invalidate_kernels()


_PATCHES: tuple[tuple[type, str, Callable[[Callable], Callable]], ...] = (
    (OpOverload, "__call__", _wrap_op_call),
    (OpOverload, "redispatch", _wrap_op_redispatch),
    (OpOverload, "_dispatch_python", _wrap_op_dispatch_python),
    (HigherOrderOperator, "__call__", _wrap_hop_call),
    (HigherOrderOperator, "dispatch", _wrap_hop_dispatch),
    (TorchDispatchMode, "__enter__", _wrap_mode_enter),
    (TorchDispatchMode, "__exit__", _wrap_mode_exit),
)


@contextmanager
def explaining() -> Iterator[Trace]:
    """Record every dispatch in the block into the yielded ``Trace``; behaviour is unchanged.

    The classes' methods are restored on exit, also when the block raises.
    """
    global _trace
    if _trace is not None:
        raise RuntimeError("explaining() is already active; it does not nest")
    trace = Trace()
    originals = [(cls, name, cls.__dict__[name]) for cls, name, _ in _PATCHES]
    saved_handler = functional_tensor._effects_handler
    try:
        for (cls, name, wrap), (_, _, original) in zip(_PATCHES, originals):
            setattr(cls, name, wrap(original))
        if saved_handler is not None:
            functional_tensor._effects_handler = _wrap_effects_handler(saved_handler)
        _clear_dispatch_caches()
        _trace = trace
        yield trace
    finally:
        _trace = None
        for cls, name, original in originals:
            setattr(cls, name, original)
        functional_tensor._effects_handler = saved_handler
        _clear_dispatch_caches()


# --------------------------------------------------------------------------------------------
# Running a function in one of the four modes
# --------------------------------------------------------------------------------------------
@dataclass
class Explanation:
    """What ``explain`` saw: the trace, the result, and the graph for proxy/functional."""

    mode: str
    trace: Trace
    result: Any = None
    graph_module: Any = None
    signature: Any = None

    def text(self) -> str:
        graph = "" if self.graph_module is None else "\n\n" + self.graph_module.code.strip()
        return self.trace.text() + graph


def default_inputs(fn: Callable) -> list[Tensor]:
    """One ``arange(4, dtype=float32)`` per positional parameter of ``fn``."""
    params = inspect.signature(fn).parameters.values()
    n = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
    return [arange(4, dtype=float32) for _ in range(n)]


def _run_dense(fn: Callable, inputs: list, out: Explanation) -> None:
    out.result = fn(*inputs)


def _run_fake(fn: Callable, inputs: list, out: Explanation) -> None:
    mode = FakeTensorMode()
    fakes = [mode.from_tensor(x) if isinstance(x, Tensor) else x for x in inputs]
    with mode:
        out.result = fn(*fakes)


def _run_proxy(fn: Callable, inputs: list, out: Explanation) -> None:
    out.graph_module = out.result = make_fx(fn, tracing_mode="fake")(*inputs)


def _run_functional(fn: Callable, inputs: list, out: Explanation) -> None:
    out.graph_module, out.signature = aot_export(fn, tuple(inputs))
    out.result = out.graph_module


_RUNNERS: dict[str, Callable[[Callable, list, Explanation], None]] = {
    "dense": _run_dense,
    "fake": _run_fake,
    "proxy": _run_proxy,
    "functional": _run_functional,
}


def explain(
    fn: Callable, inputs: list | tuple | None = None, *, mode: str = "dense"
) -> Explanation:
    """Run ``fn(*inputs)`` in ``mode`` under ``explaining()``.

    dense: eagerly; fake: under ``FakeTensorMode`` on fake inputs; proxy:
    ``make_fx(fn, tracing_mode="fake")``; functional: ``refimpl.export.aot_export``.
    When ``fn`` raises, the exception carries the trace so far as ``exc.explanation``.
    """
    if mode not in _RUNNERS:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    inputs = list(default_inputs(fn) if inputs is None else inputs)
    with explaining() as trace:
        out = Explanation(mode, trace)
        try:
            _RUNNERS[mode](fn, inputs, out)
        except Exception as exc:
            exc.explanation = out  # type: ignore[attr-defined]
            raise
    return out


def print_explanation(explanation: Explanation, console: Any = None) -> None:
    """Print the trace through ``rich`` (one styled line per event), then the graph's code.

    rich is not a dependency of refimpl (it comes with the ``oracle`` and ``test`` extras), so it
    is imported here, where it is used; without it the same lines are printed plainly.
    """
    try:
        from rich.console import Console
        from rich.text import Text
    except ImportError:
        print(f"--- dispatch trace ({explanation.mode}) ---")
        print(explanation.text())
        return
    console = console if console is not None else Console(highlight=False)
    console.rule(f"dispatch trace ({explanation.mode})")
    for event in explanation.trace.events:
        console.print(Text(event.line(), style=_STYLES.get(event.kind, "")), soft_wrap=True)
    if explanation.graph_module is not None:
        console.rule("graph (gm.code)")
        # Text: the code holds user strings (a _print's), never markup or emoji codes (RPT-22).
        console.print(Text(explanation.graph_module.code.strip()), soft_wrap=True)
    if explanation.signature is not None:
        console.print(Text(repr(explanation.signature), style="dim"), soft_wrap=True)
