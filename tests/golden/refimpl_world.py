"""The refimpl world: the golden scenarios' world protocol implemented with refimpl.

Models: the same torch 2.13.0 entry points as `torch_world.py`, each by its refimpl counterpart:
`refimpl.library.custom_op(..., schema=...)` in a scoped `refimpl.library.Library`,
`refimpl.effects._register_effectful_op` / `with_effects` / `new_token_tensor`,
`refimpl.export.aot_export` (for `aot_export_module(trace_joint=False)`),
`refimpl.make_fx`, `refimpl.functional_tensor.FunctionalTensorMode` /
`dispatch_functionalize`, `refimpl.export.remove_effect_tokens` and
`refimpl._functorch.aot_autograd.aot_function`.

Spec: none of its own; it is the adapter that `tests/golden/scenarios.py` runs against refimpl
(the TRC clauses are cited by the scenarios and by `test_golden_refimpl.py`).

Simplifications:
1. refimpl can forget custom ops, so every scenario runs inside `world.scope(name)`: the custom
   ops live in a `_scoped_library(GOLD_NS, "FRAGMENT")` and every effect registration the world
   made is destroyed when the scope closes. `namespace()` is always `GOLD_NS`.
2. torch.export is modelled in two steps ([NOTE: export in refimpl]): the plain export graph is a
   non-functional make_fx trace (torch 2.13's training IR has no tokens), and the decomposed one
   is `aot_export`; both get torch.export's placeholder names (`token`, forward's parameter
   names, `b_<buffer>`), and `remove_effect_tokens` is refimpl's pass.
3. `backward_trace` is `refimpl._functorch.aot_autograd.aot_function` with capturing
   compilers and the default partitioner, as torch_world's.
4. `capture_prints` redirects `sys.stdout`: refimpl's `aten::_print` kernel writes with
   Python's `print`.
5. A world feature refimpl cannot model raises `Unsupported`, which the tests turn into a skip.
6. Tracing `with_effects(token, op, ...)` marks `op` side-effectful for the rest of the process
   (`has_side_effect(op)` in the proxy rule, as upstream), so a graph traced later keeps an
   unused call of `op`. torch records each build in a fresh process; here every build's
   scenarios share one with each other and with the rest of the test suite, in any order, so
   each scope starts from the set refimpl has at import (a fresh process's) and restores the
   one it found.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import refimpl
from refimpl import _pytree as pytree
from refimpl._functorch.aot_autograd import aot_function, make_boxed_func
from refimpl._functorch.partitioners import default_partition, min_cut_rematerialization_partition
from refimpl.effects import (
    _EffectType,
    _register_effectful_op,
    new_token_tensor,
    with_effects,
)
from refimpl.export import GraphSignature, Module, aot_export
from refimpl.export import remove_effect_tokens as _remove_effect_tokens
from refimpl.functional_tensor import (
    FunctionalTensor,
    FunctionalTensorMode,
    dispatch_functionalize,
)
from refimpl.fx import node as fx_node
from refimpl.library import _scoped_library, custom_op
from refimpl.profiles import get_profile, set_profile
from refimpl.proxy_tensor import make_fx

# What tracing has marked side-effectful before any test ran (Simplification 6).
_IMPORT_SIDE_EFFECTFUL = frozenset(fx_node._side_effectful_functions)

__all__ = ["GOLD_NS", "PROFILE", "RefimplWorld", "Unsupported"]

GOLD_NS = "gold"

# The default profile: that of the torch 2.13 recording. A world compared with another build's
# recording runs that build's profile (`RefimplWorld(profile=...)`).
PROFILE = "torch-2.13"

_EFFECTS = {"ORDERED": _EffectType.ORDERED, None: None}


class Unsupported(Exception):
    """A world feature that refimpl does not model; tests skip with this message."""


# ---------------------------------------------------------------------------------------------
# Custom ops with an autograd formula
# ---------------------------------------------------------------------------------------------


class _CustomOp:
    """What `w.custom_op(...)(fn)` returns: refimpl's `CustomOpDef`."""

    def __init__(self, world: RefimplWorld, op_def: Any) -> None:
        self._world = world
        self.op_def = op_def

    def register_fake(self, fn: Callable) -> Callable:
        return self.op_def.register_fake(fn)

    def register_autograd(self, backward: Callable, setup_context: Callable | None = None) -> None:
        self.op_def.register_autograd(backward, setup_context=setup_context)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.op_def(*args, **kwargs)


class _Ctx:
    """The `ctx` of a custom op's `setup_context` / `backward`."""

    def __init__(self) -> None:
        self.saved_tensors: tuple = ()

    def save_for_backward(self, *tensors: Any) -> None:
        self.saved_tensors = tensors


# ---------------------------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------------------------


class RefimplWorld:
    """The world protocol of `tests/golden/scenarios.py`, implemented with refimpl."""

    name = "refimpl"
    Module = Module
    ops = refimpl.ops
    with_effects = with_effects

    def __init__(self, profile: str = PROFILE) -> None:
        self.profile = profile
        self._lib: Any = None
        self._handles: list[Any] = []
        # Every graph module the world handed out in the current scope: `(how, gm)`.
        self.graphs: list[tuple[str, Any]] = []

    # -- naming and scope (Simplification 1) ---------------------------------------------
    @contextlib.contextmanager
    def scope(self, scenario: str) -> Iterator[RefimplWorld]:
        """Run one scenario: custom ops and effect registrations are removed afterwards."""
        previous = get_profile()
        set_profile(self.profile)
        self.graphs = []
        side_effectful = set(fx_node._side_effectful_functions)
        fx_node._side_effectful_functions.clear()
        fx_node._side_effectful_functions.update(_IMPORT_SIDE_EFFECTFUL)
        try:
            with _scoped_library(GOLD_NS, "FRAGMENT") as lib:
                self._lib = lib
                try:
                    yield self
                finally:
                    for handle in reversed(self._handles):
                        handle.destroy()
                    self._handles.clear()
                    self._lib = None
        finally:
            set_profile(previous)
            fx_node._side_effectful_functions.clear()
            fx_node._side_effectful_functions.update(side_effectful)

    def namespace(self, scenario: str) -> str:
        if self._lib is None:
            raise RuntimeError(f"run scenario {scenario!r} inside RefimplWorld.scope()")
        return GOLD_NS

    # -- operators and effects -----------------------------------------------------------
    def custom_op(
        self, qualname: str, mutates_args: Any = (), schema: str | None = None
    ) -> Callable[[Callable], _CustomOp]:
        def define(fn: Callable) -> _CustomOp:
            op_def = custom_op(qualname, mutates_args=mutates_args, schema=schema, lib=self._lib)
            return _CustomOp(self, op_def(fn))

        return define

    def register_effect(self, op: Any, effect: str | None) -> Any:
        """`_register_effectful_op(op, ORDERED | None)`; the world also destroys it at the end."""
        target = op.op_def if isinstance(op, _CustomOp) else op
        handle = _register_effectful_op(target, _EFFECTS[effect])
        self._handles.append(handle)
        return handle

    # -- tensors -------------------------------------------------------------------------
    def tensor(self, data: Any, requires_grad: bool = False, dtype: str | None = None) -> Any:
        return _mark(refimpl.tensor(data, dtype=dtype), requires_grad)

    def ones(self, *shape: int, requires_grad: bool = False) -> Any:
        return _mark(refimpl.ones(*shape), requires_grad)

    def zeros(self, *shape: int, requires_grad: bool = False) -> Any:
        return _mark(refimpl.zeros(*shape), requires_grad)

    def arange(self, end: Any, requires_grad: bool = False) -> Any:
        return _mark(refimpl.arange(end), requires_grad)

    def new_token(self) -> Any:
        return new_token_tensor()

    def is_tensor(self, value: Any) -> bool:
        return isinstance(value, refimpl.Tensor)

    def tolist(self, tensor: Any) -> Any:
        return tensor.tolist()

    # -- running -------------------------------------------------------------------------
    def capture_prints(self, fn: Callable, *args: Any) -> tuple[Any, list[str]]:
        """Call `fn(*args)`; return its result and the lines `aten::_print` wrote."""
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink):
            result = fn(*args)
        return result, sink.getvalue().splitlines()

    # -- tracing -------------------------------------------------------------------------
    def make_fx(self, fn: Callable, tracing_mode: str = "fake") -> Callable:
        traced = make_fx(fn, tracing_mode=tracing_mode)

        def run(*args: Any) -> Any:
            return self._keep("make_fx", traced(*args))

        return run

    def aot_export(self, mod: Any, args: Any, unlift_effect_tokens: bool = False) -> Any:
        gm, sig = aot_export(mod, tuple(args), unlift_effect_tokens=unlift_effect_tokens)
        return self._keep("aot_export", gm), sig

    def aot_export_joint(self, mod: Any, args: Any, output_loss_index: Any) -> Any:
        gm, sig = aot_export(mod, tuple(args), trace_joint=True,
                             output_loss_index=output_loss_index)
        return self._keep("aot_export_joint", gm), sig

    def functional_make_fx(
        self, fn: Callable, args: Any, allow_token_discovery: bool = False, seed_token: bool = False
    ) -> Any:
        """make_fx (fake) of `fn` under a `FunctionalTensorMode` (reference 06 B/C), or of a
        token-seeded wrapper returning `(final_token, out)` (reference 06 D)."""
        if seed_token:
            gm = make_fx(_seeded_token_function(fn), tracing_mode="fake")(new_token_tensor(), *args)
            return self._keep("functional_seeded", gm)
        mode = FunctionalTensorMode(_allow_token_discovery=allow_token_discovery)
        gm = make_fx(dispatch_functionalize(fn, mode), tracing_mode="fake")(*args)
        return self._keep("functional", gm)

    def export_graph(self, mod: Any, args: Any) -> tuple[Any, GraphSignature]:
        """torch.export.export: a token-free trace with export's names (Simplification 2)."""
        if isinstance(mod, Module) and mod.named_buffers():
            raise Unsupported("the plain (training IR) export of a module with buffers")
        gm = make_fx(_tuple_output(mod), tracing_mode="fake")(*args)
        sig = GraphSignature(user_inputs=_placeholders(gm), user_outputs=_output_names(gm))
        _name_like_export(gm, sig, mod)
        return self._keep("export", gm), sig

    def export_decomposed(self, mod: Any, args: Any) -> tuple[Any, GraphSignature]:
        """`run_decompositions()`: aot_export with export's placeholder names."""
        gm, sig = aot_export(_tuple_output(mod), tuple(args))
        _name_like_export(gm, sig, mod)
        return self._keep("export_decomposed", gm), sig

    def export_functional(self, mod: Any, args: Any) -> tuple[Any, GraphSignature]:
        """`run_decompositions({})`: aot_export keeping the functional composite ops (TRC-16)."""
        gm, sig = aot_export(_tuple_output(mod), tuple(args), preserve_composite_ops=True)
        _name_like_export(gm, sig, mod)
        return self._keep("export_functional", gm), sig

    def remove_effect_tokens(self, gm: Any) -> Any:
        return self._keep("remove_effect_tokens", _remove_effect_tokens(gm))

    def dce(self, gm: Any) -> bool:
        changed = gm.graph.eliminate_dead_code()
        gm.recompile()
        return changed

    def backward_trace(self, fn: Callable, args: Any,
                       partition: str = "default") -> tuple[Any, Any]:
        """`refimpl._functorch.aot_function(fn)` with capturing compilers and the `partition`
        partitioner; run the forward and, if any input requires grad, `out.sum().backward()`.
        Returns `(forward_gm, backward_gm or None)`, as torch_world's."""
        graphs: dict[str, Any] = {}
        partition_fn = {"default": default_partition,
                        "min_cut": min_cut_rematerialization_partition}[partition]

        def capture(phase: str) -> Callable:
            def compiler(gm: Any, example_inputs: Any) -> Callable:
                graphs[phase] = self._keep(phase if partition == "default"
                                           else f"{phase}_{partition}", gm)
                return make_boxed_func(gm.forward)
            return compiler

        compiled = aot_function(fn, fw_compiler=capture("forward"),
                                bw_compiler=capture("backward"), partition_fn=partition_fn)
        out = compiled(*args)
        if any(_requires_grad(a) for a in args):
            first = out[0] if isinstance(out, (tuple, list)) else out
            first.sum().backward()
        return graphs["forward"], graphs.get("backward")

    def _keep(self, how: str, gm: Any) -> Any:
        self.graphs.append((how, gm))
        return gm


# ---------------------------------------------------------------------------------------------
# Helpers: tensors
# ---------------------------------------------------------------------------------------------

# The tensors made with `requires_grad`: `backward_trace` derives its backward from them
# (Simplification 3); they also require grad in refimpl's autograd.
_REQUIRES_GRAD: weakref.WeakSet = weakref.WeakSet()


def _mark(tensor: Any, requires_grad: bool) -> Any:
    if requires_grad:
        _REQUIRES_GRAD.add(tensor)
        tensor.requires_grad_(True)
    return tensor


def _requires_grad(value: Any) -> bool:
    return isinstance(value, refimpl.Tensor) and value in _REQUIRES_GRAD


# ---------------------------------------------------------------------------------------------
# Helpers: FunctionalTensorMode seeded with a token (reference 06 D)
# ---------------------------------------------------------------------------------------------


def _seeded_token_function(fn: Callable) -> Callable:
    """`(token, <fn's parameters>) -> (final_token, fn's output)` under a FunctionalTensorMode
    whose ORDERED token is the input token. Compiled with fn's parameter names so that make_fx
    names the placeholders `token_1, x_1` (torch_world's [NOTE: seeded placeholder names])."""

    def run(token: Any, *args: Any) -> tuple:
        mode = FunctionalTensorMode()
        mode._tokens = {_EffectType.ORDERED: FunctionalTensor._wrap(token, mode)}
        wrapped = [FunctionalTensor._wrap(a, mode) for a in args]
        with mode:
            out = fn(*wrapped)
        final = mode._tokens[_EffectType.ORDERED]
        return _unwrap(final), _unwrap(out)

    names = ["token", *inspect.signature(fn).parameters]
    source = f"def seeded({', '.join(names)}):\n    return run({', '.join(names)})\n"
    scope: dict[str, Any] = {"run": run}
    exec(source, scope)  # names the parameters; see the docstring
    return scope["seeded"]


def _unwrap(value: Any) -> Any:
    return pytree.tree_map_only(FunctionalTensor, FunctionalTensor.from_functional, value)


# ---------------------------------------------------------------------------------------------
# Helpers: torch.export (Simplification 2)
# ---------------------------------------------------------------------------------------------

# [NOTE: export in refimpl]
# torch 2.13's `torch.export.export` traces the training IR (`_export_for_training`,
# torch/export/_trace.py L2268), in which effectful ops are plain calls (reference 08);
# `run_decompositions()` functionalizes and threads tokens, as aot_export does. Both then run
# `placeholder_naming_pass` (torch/_export/utils.py L1053-1078): effect tokens become `token`,
# `token_1`...; user inputs take the names of `forward`'s parameters; buffers become
# `b_<name>`. Outputs are always a flat tuple.


def _tuple_output(mod: Any) -> Any:
    """`mod` with its outputs as a tuple; shares `mod`'s buffers so aot_export lifts them."""

    class _Flat(Module):
        def __init__(self) -> None:
            super().__init__()
            self._buffers = mod._buffers if isinstance(mod, Module) else {}

        def forward(self, *args: Any) -> tuple:
            out = mod(*args)
            return tuple(out) if isinstance(out, (tuple, list)) else (out,)

    return _Flat()


def _forward_names(mod: Any) -> list[str]:
    forward = getattr(mod, "forward", mod)
    return list(inspect.signature(forward).parameters)


def _name_like_export(gm: Any, sig: GraphSignature, mod: Any) -> None:
    """torch.export's `placeholder_naming_pass` on `gm` and `sig` (in place)."""
    renames: dict[str, str] = {}
    for i, name in enumerate(sig.input_tokens):
        renames[name] = "token" if i == 0 else f"token_{i}"
    for name, buffer in sig.inputs_to_buffers.items():
        renames[name] = f"b_{buffer}"
    for name, new in zip(sig.user_inputs, _forward_names(mod)):
        renames[name] = new
    for node in gm.graph.nodes:
        if node.op == "placeholder" and node.name in renames:
            _rename_placeholder(gm, node, renames[node.name])
    gm.recompile()
    sig.input_tokens = [renames.get(n, n) for n in sig.input_tokens]
    sig.user_inputs = [renames.get(n, n) for n in sig.user_inputs]
    sig.inputs_to_buffers = {renames.get(k, k): v for k, v in sig.inputs_to_buffers.items()}
    sig.user_inputs_to_mutate = {k: renames.get(v, v) for k, v in sig.user_inputs_to_mutate.items()}


def _rename_placeholder(gm: Any, node: Any, new: str) -> None:
    graph = gm.graph
    with graph.inserting_before(node):
        fresh = graph.placeholder(new)
    node.replace_all_uses_with(fresh)
    graph.erase_node(node)


def _placeholders(gm: Any) -> list[str]:
    return [n.name for n in gm.graph.nodes if n.op == "placeholder"]


def _output_names(gm: Any) -> list[str]:
    outs = gm.graph.output_node().args[0]
    outs = outs if isinstance(outs, (tuple, list)) else (outs,)
    return [getattr(o, "name", o) for o in outs]
