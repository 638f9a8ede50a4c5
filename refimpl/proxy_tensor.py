"""Tracing by dispatch: ProxyTorchDispatchMode records every op it sees into an fx Graph.

Models: ``torch/fx/experimental/proxy_tensor.py`` at torch 2.13.0 (``make_fx``,
``ProxyTorchDispatchMode``, ``PythonKeyTracer``, ``track_tensor_tree``,
``disable_proxy_modes_tracing``, ``proxy_call``) and ``torch/fx/proxy.py`` (``Proxy``).
Spec: TRC-9, CF-3, EFF-16, FX-8.

Simplifications:
1. ``tracing_mode`` is ``"real"`` or ``"fake"`` (no ``"symbolic"``); no pre-dispatch tracing.
2. Tensor -> proxy association is a plain dict on the tracer (torch uses a weak-keyed map of
   ``_ProxyTensor`` slots with thunks): every tracked tensor is kept alive by its node's
   ``meta["val"]`` anyway. No SymInt tracking.
3. A real tensor that was not an input and is not tracked becomes a ``_tensor_constant<n>``
   attribute read with ``get_attr``, as in torch; ``lift_fresh`` itself records nothing.
4. Placeholders are named as torch names them ([NOTE: placeholder names]); a function with
   keyword-only parameters, or with ``**kwargs`` beside more than one named parameter, raises
   ``NotImplementedError`` (torch 2.13 adds a ``**`` placeholder for them and then fails with
   ``AssertionError: Expected same length``).
5. A traced function must return tensors, ``None``, numbers or strings, possibly in tuples,
   lists and dicts; anything else raises ``TypeError`` before the output node is made (torch
   fails later, in ``create_arg``, with ``NotImplementedError: argument of type: <class ...>``).
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from refimpl import _pytree as pytree
from refimpl.aten import OPS
from refimpl.fake_tensor import FakeTensorMode, ShapeEnv
from refimpl.fx import Graph, GraphModule
from refimpl.mode_stack import TorchDispatchMode, _TorchDispatchModeKey, _unset_dispatch_mode
from refimpl.tensor import Tensor

__all__ = ["ProxyTorchDispatchMode", "PythonKeyTracer", "Proxy", "disable_proxy_modes_tracing",
           "make_fx", "reenter_make_fx", "track_tensor_tree"]


class Proxy:
    """A value being traced: a node of the graph under construction."""

    def __init__(self, node: Any, tracer: PythonKeyTracer) -> None:
        self.node = node
        self.tracer = tracer

    def __getitem__(self, idx: Any) -> Proxy:
        return self.tracer.create_proxy("call_function", operator.getitem, (self, idx), {})

    def __repr__(self) -> str:
        return f"Proxy({self.node.name})"


class PythonKeyTracer:
    """Owns the graph and the tensor -> proxy map of one trace."""

    def __init__(self) -> None:
        self.graph = Graph()
        self.root = _Root()
        self.tensor_tracker: dict[Any, Proxy] = {}
        self._constant_count = 0

    def create_proxy(self, kind: str, target: Any, args: tuple, kwargs: dict,
                     name: str | None = None) -> Proxy:
        node_args = pytree.tree_map(self._create_arg, args)
        # Most calls pass no kwargs: mapping ``{}`` gives a fresh ``{}``, as create_node does.
        node_kwargs = pytree.tree_map(self._create_arg, kwargs) if kwargs else {}
        node = self.graph.create_node(kind, target, node_args, node_kwargs, name=name)
        return Proxy(node, self)

    def unwrap_proxy(self, e: Any) -> Any:
        """The proxy tracking ``e``, or ``e`` itself when it is not tracked."""
        if isinstance(e, Tensor) or hasattr(e, "_cls"):
            proxy = self.tensor_tracker.get(e)
            if proxy is not None:
                return proxy
        return e

    def unwrap_or_constant(self, e: Any) -> Any:
        """Like ``unwrap_proxy``, but an untracked tensor becomes a ``get_attr`` constant."""
        out = self.unwrap_proxy(e)
        if out is e and isinstance(e, Tensor):
            name = f"_tensor_constant{self._constant_count}"
            self._constant_count += 1
            setattr(self.root, name, e)
            out = self.create_proxy("get_attr", name, (), {})
            self.tensor_tracker[e] = out
        return out


    def _create_arg(self, a: Any) -> Any:
        """A proxy is its node; a tensor this tracer does not track (one made by an outer
        trace: a branch reading the outer token) is a ``_tensor_constant<n>`` get_attr, as
        torch's ``Tracer.create_arg`` makes it (CF-3)."""
        if isinstance(a, Proxy):
            return a.node
        if isinstance(a, Tensor):
            return self.unwrap_or_constant(a).node
        if isinstance(a, GraphModule):  # a registered subgraph is read with get_attr
            return self.create_proxy("get_attr", self.path_of_module(a), (), {}).node
        return a

    def path_of_module(self, mod: GraphModule) -> str:
        """The name ``mod`` is registered under on the root (``register_module``)."""
        for name, value in vars(self.root).items():
            if value is mod:
                return name
        raise NameError("module is not installed as a submodule")


class _Root:
    """The object a GraphModule's ``get_attr`` nodes read from."""

    def register_module(self, name: str, module: Any) -> None:
        """A subgraph (``true_graph_0``) that the traced graph reads with ``get_attr``."""
        setattr(self, name, module)


def _to_node(a: Any) -> Any:
    return a.node if isinstance(a, Proxy) else a


def track_tensor_tree(inner_res: Any, proxy_res: Any, *, constant: Any,
                      tracer: PythonKeyTracer) -> Any:
    """Associate each tensor of ``inner_res`` with the matching proxy (getitem per index)."""
    if isinstance(inner_res, Tensor):  # the common case, without the recursion below
        tracer.tensor_tracker[inner_res] = proxy_res
        proxy_res.node.meta["val"] = inner_res
        return inner_res

    def wrap_with_proxy(e: Any, proxy: Any) -> None:
        if isinstance(e, Tensor):
            tracer.tensor_tracker[e] = proxy
            proxy.node.meta["val"] = e
        elif isinstance(e, (tuple, list)):
            if isinstance(proxy, Proxy):
                proxy.node.meta["val"] = e
            for idx, ee in enumerate(e):
                # Indexing a Proxy records a getitem node, even for None elements.
                wrap_with_proxy(ee, proxy[idx])
        elif isinstance(proxy, Proxy):
            proxy.node.meta["val"] = e

    wrap_with_proxy(inner_res, proxy_res)
    return inner_res


class ProxyTorchDispatchMode(TorchDispatchMode):
    """Runs each op for real (or fake) and records it as a ``call_function`` node."""

    _mode_key = _TorchDispatchModeKey.PROXY

    def __init__(self, tracer: PythonKeyTracer, tracing_mode: str = "real") -> None:
        self.tracer = tracer
        self.tracing_mode = tracing_mode

    def __torch_dispatch__(self, func: Any, types: tuple, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        return proxy_call(self, func, args, kwargs or {})


def proxy_call(mode: ProxyTorchDispatchMode, func: Any, args: tuple, kwargs: dict) -> Any:
    """1. run the op; 2. record it on the unwrapped proxies; 3. track its outputs."""
    tracer = mode.tracer
    if func is OPS["aten::lift_fresh"]:
        # torch records a fresh constant as ``lift_fresh_copy(_tensor_constant<n>)``.
        out = func(*args, **kwargs)
        constant = tracer.unwrap_or_constant(args[0])
        proxy_out = tracer.create_proxy("call_function", OPS["aten::lift_fresh_copy"],
                                        (constant,), {}, name="lift_fresh_copy")
        return track_tensor_tree(out, proxy_out, constant=None, tracer=tracer)
    out = func(*args, **kwargs)
    proxy_args = pytree.tree_map(tracer.unwrap_or_constant, args)
    # (No kwargs, the common case: mapping ``{}`` would only give a new ``{}``.)
    proxy_kwargs = pytree.tree_map(tracer.unwrap_or_constant, kwargs) if kwargs else {}
    # torch names the node after the packet (``_print``, ``add``), not the overload.
    name = tracer.graph._target_to_str(func.overloadpacket.__name__)
    proxy_out = tracer.create_proxy("call_function", func, proxy_args, proxy_kwargs, name=name)
    return track_tensor_tree(out, proxy_out, constant=None, tracer=tracer)


def disable_proxy_modes_tracing() -> _unset_dispatch_mode:
    """Take the proxy mode off the stack for the block (ops run without being recorded)."""
    return _unset_dispatch_mode(_TorchDispatchModeKey.PROXY)


# [NOTE: placeholder names] torch's make_fx names placeholders in three ways
# (torch/fx/experimental/proxy_tensor.py ``_trace_inner`` and ``fake_signature``;
# torch/fx/_symbolic_trace.py ``create_args_for_root`` and ``_proxy_placeholder``):
# 1. a callable without ``__code__`` after ``inspect.unwrap`` (a module instance, a
#    ``functools.partial``...) or with a ``*args`` parameter is wrapped in
#    ``lambda arg0, arg1, ...``, so its placeholders are ``arg<i>_1``;
# 2. a function whose only named parameter comes with ``**kwargs`` gets ``input_<i>``;
# 3. otherwise each of the ``co_argcount + co_kwonlyargcount`` parameter names becomes
#    ``<param>_1``, and their number must equal the number of inputs:
#    ``RuntimeError: Tracing expected 2 arguments but got 1 concrete arguments``.
# The graph namespace then makes names unique, so a parameter called ``x_1`` gives ``x_1_1``.
def placeholder_names(fn: Callable, n: int) -> list[str]:
    unwrapped = inspect.unwrap(fn)
    code = getattr(unwrapped, "__code__", None)
    if code is None or code.co_flags & inspect.CO_VARARGS:
        return [f"arg{i}_1" for i in range(n)]
    total_args = code.co_argcount + code.co_kwonlyargcount
    if code.co_flags & inspect.CO_VARKEYWORDS and total_args == 1 and n > 0:
        return [f"input_{i}" for i in range(n)]
    arg_names = list(code.co_varnames[:total_args])
    if len(arg_names) != n:
        raise RuntimeError(
            f"Tracing expected {len(arg_names)} arguments but got {n} concrete arguments"
        )
    if code.co_kwonlyargcount or code.co_flags & inspect.CO_VARKEYWORDS:
        raise NotImplementedError(
            "refimpl's make_fx does not trace functions with keyword-only or ** parameters"
        )
    return [f"{name}_1" for name in arg_names]


def make_fx(fn: Callable, tracing_mode: str = "real",
            decomposition_table: Any = None, pre_dispatch: bool = False) -> Callable:
    """``make_fx(fn, tracing_mode)(*args)`` traces ``fn`` into a GraphModule."""
    if tracing_mode not in ("real", "fake"):
        raise ValueError(f"Unrecognized tracing mode: {tracing_mode} (refimpl models 'real' and "
                         f"'fake')")
    if pre_dispatch:
        raise NotImplementedError("refimpl does not model pre_dispatch tracing")

    def wrapped(*args: Any) -> GraphModule:
        # make_fx's fake mode has a shape environment, as torch's ``_MakefxTracer`` gives it.
        fake_mode = FakeTensorMode(allow_non_fake_inputs=True, shape_env=ShapeEnv()) \
            if tracing_mode == "fake" else None
        inputs = [fake_mode.from_tensor(a) if fake_mode and isinstance(a, Tensor) else a
                  for a in args]
        gm = trace(fn, inputs, placeholder_names(fn, len(args)), fake_mode=fake_mode,
                   tracing_mode=tracing_mode)
        gm.recompile()  # the code exists from the start, as with torch ([NOTE: lazy code])
        return gm

    return wrapped


def trace(fn: Callable, inputs: list[Any], names: list[str], *,
          fake_mode: FakeTensorMode | None = None, tracing_mode: str = "real",
          inner: Callable[[Callable], Callable] | None = None,
          entry: str = "make_fx") -> GraphModule:
    """Trace ``fn(*inputs)`` with placeholders ``names``; ``inner`` may wrap ``fn`` first.
    ``entry`` names the public function in errors (``make_fx``, ``aot_export``...)."""
    tracer = PythonKeyTracer()
    for value, name in zip(inputs, names):
        proxy = tracer.create_proxy("placeholder", name, (), {})
        track_tensor_tree(value, proxy, constant=None, tracer=tracer)
    body = inner(fn) if inner is not None else fn
    global _CURRENT_MAKE_FX_TRACER
    outer, _CURRENT_MAKE_FX_TRACER = _CURRENT_MAKE_FX_TRACER, _MakefxTracer(tracing_mode)
    try:
        with (
            fake_mode if fake_mode is not None else nullcontext(),
            ProxyTorchDispatchMode(tracer, tracing_mode),
        ):
            out = body(*inputs)
    finally:
        _CURRENT_MAKE_FX_TRACER = outer
    check_traced_output(out, entry)
    tracer.graph.output(pytree.tree_map(tracer._create_arg, out))
    # torch's ``dispatch_trace`` ends with a DCE whose predicate keeps every node but accessor
    # and SymInt ones (refimpl has none), run before the GraphModule exists: the graph has no
    # owning module then, so the DCE does not reach the subgraphs either, and a branch keeps its
    # dead nodes (FX-8).
    return GraphModule(tracer.root, tracer.graph)


class _MakefxTracer:
    """The make_fx session a higher-order op's proxy rule re-enters (``reenter_make_fx``)."""

    def __init__(self, tracing_mode: str) -> None:
        self.tracing_mode = tracing_mode

    def trace_subgraph(self, f: Callable, *args: Any) -> GraphModule:
        """Trace ``f(*args)`` with a fresh tracer under the modes already active (the fake
        mode stays on the stack); its placeholders are ``arg<i>_1``, since torch always hands
        the sub-tracer a function of ``*args`` (CF-3)."""
        gm = trace(f, list(args), [f"arg{i}_1" for i in range(len(args))],
                   tracing_mode=self.tracing_mode)
        gm.recompile()
        return gm


_CURRENT_MAKE_FX_TRACER: _MakefxTracer | None = None


def reenter_make_fx(fn: Callable) -> Callable:
    """``reenter_make_fx(fn)(*args)``: the subgraph of ``fn`` in the current make_fx session."""

    def wrapped(*args: Any) -> GraphModule:
        if _CURRENT_MAKE_FX_TRACER is None:
            raise AssertionError(
                "Cannot reenter make_fx when we're not under a make_fx tracing session")
        return _CURRENT_MAKE_FX_TRACER.trace_subgraph(fn, *args)

    return wrapped


def check_traced_output(out: Any, entry: str = "make_fx") -> None:
    """A traced function returns tensors, None, numbers, or containers of them."""
    for leaf in pytree.tree_leaves(out):
        if not isinstance(leaf, (Tensor, type(None), bool, int, float, str)):
            raise TypeError(
                f"{entry}: the traced function returned a {type(leaf).__name__}; expected "
                f"tensors, None or numbers (possibly in tuples, lists and dicts)"
            )
