"""AOTAutograd's training path: ``aot_function``, the joint graph and the compiled Function.

Models, at torch 2.13.0:
- ``torch/_functorch/aot_autograd.py:aot_function`` (compile on first call; the inference path
  when no input requires grad or grad mode is off; ``default_partition`` unless told
  otherwise);
- ``_aot_autograd/collect_metadata_analysis.py`` (a first run under FakeTensorMode and a
  FunctionalTensorMode with token discovery: the effect types, which outputs require grad,
  which inputs are mutated);
- ``_aot_autograd/graph_capture_wrappers.py`` (``create_joint``: the joint function of
  ``(primals, tangents)``, the forward's nodes tagged ``is_forward``, then
  ``autograd.grad`` with the tangents under ``is_backward``; the token wrapper: the forward
  tokens are the first primals, the forward's final tokens are put aside and the backward
  starts with no token, so its first effect adds a ``tangents_token`` placeholder, and the
  joint returns ``((forward tokens, mutated inputs, outputs), (grads, backward tokens))``);
- ``_aot_autograd/runtime_wrappers.py`` (``EffectTokensWrapper``: ``None`` for every forward
  token, output tokens dropped; the compiled ``autograd.Function``: saved values from the
  forward's tail, the backward compiled on its first run and called with ``None`` for each
  backward token).
Spec: TRC-20 .. TRC-23.

Simplifications:
1. Flat arguments: tensors (and other values, passed on as constants); the outputs are a
   tensor or a flat tuple/list of tensors.
2. An output that is an input or a view of one is regenerated at runtime by view replay, as
   torch's runtime wrapper does; a training graph with an output that is a view of an
   intermediate (torch also returns the intermediate's base and regenerates the view from it)
   raises ``NotImplementedError`` rather than compiling differently from torch, and an
   inference graph returns such a view as the graph computes it.
3. A mutated input is written back at runtime with ``copy_``, as torch's runtime wrapper does;
   a mutated input that requires grad is rejected (as eager rejects a leaf's in-place op).
4. No decompositions, dynamic shapes, subclasses, rng functionalization, duplicated-argument
   handling, ``num_params_buffers`` or ``keep_inference_input_mutations``; the compilers get
   the graph module and the fake example inputs.
5. Like torch's ``aot_function``, no effect-token unlifting (``unlift_effect_tokens`` is off
   outside Inductor).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from refimpl import _pytree as pytree
from refimpl import autograd
from refimpl.aten import OPS
from refimpl.autograd.anomaly_mode import detect_anomaly
from refimpl.autograd.function import Function
from refimpl.autograd.grad_mode import enable_grad, no_grad
from refimpl.autograd.variable import requires_grad
from refimpl.dispatch_key import DispatchKey, DispatchKeySet, ExcludeDispatchKeyGuard
from refimpl.export import aot_export
from refimpl.fake_tensor import FakeTensorMode
from refimpl.functional_tensor import (
    FunctionalTensor,
    FunctionalTensorMode,
    sync_functional_tensors,
)
from refimpl.fx import GraphModule
from refimpl.mode_stack import _get_dispatch_mode, _TorchDispatchModeKey
from refimpl.proxy_tensor import trace
from refimpl.tensor import Tensor

from .partitioners import default_partition

__all__ = ["aot_function", "make_boxed_func"]


def make_boxed_func(f: Callable) -> Callable:
    """A compiled function that takes its arguments as one list (the boxed convention)."""

    def g(args: list) -> Any:
        return f(*args)

    g._boxed_call = True  # type: ignore[attr-defined]
    return g


def _call(f: Callable, args: list) -> Any:
    return f(args) if getattr(f, "_boxed_call", False) else f(*args)


# -- collect_metadata_analysis.py ------------------------------------------------------------


@dataclass
class ViewAndMutationMeta:
    """What the first (metadata) run learned: effect types in discovery order, which inputs
    it mutated, which outputs require grad (each gets a tangent)."""

    tokens: list[Any] = field(default_factory=list)
    mutated_inputs: list[int] = field(default_factory=list)
    output_requires_grad: list[bool] = field(default_factory=list)
    num_backward_tokens: int = 0
    out_spec: Any = None
    traced_outputs: list[Any] = field(default_factory=list)  # fakes, for the tangents
    # per output: (the input it is or views, the view ops from it), or None
    aliased_inputs: list[tuple[int, list[tuple]] | None] = field(default_factory=list)
    output_is_view: list[bool] = field(default_factory=list)  # a view of an intermediate
    input_requires_grad: list[bool] = field(default_factory=list)

    @property
    def needs_tangent(self) -> list[bool]:
        """``output_grad_mask``: an output that requires grad and is not an alias of an input
        (those are regenerated at runtime and take no part in the backward graph)."""
        return [rg and alias is None
                for rg, alias in zip(self.output_requires_grad, self.aliased_inputs)]


def _wrap(x: Any, mode: FunctionalTensorMode) -> Any:
    if not isinstance(x, Tensor):
        return x
    w = FunctionalTensor._wrap(x, mode)
    if requires_grad(x):  # the wrapper mirrors its input's autograd metadata
        w.requires_grad_(True)
    return w


def _unwrap_out(t: Any) -> Any:
    return t.elem if isinstance(t, FunctionalTensor) else t


def _alias_chain(out: Any, wrapped: list[Any]) -> tuple[int, list[tuple]] | None:
    """The input that ``out`` is, or is a view of through a chain of views, and the chain's
    view ops ``(op, other args, kwargs)`` from that input to ``out``; ``None`` for any other
    output."""
    chain: list[tuple] = []
    while isinstance(out, FunctionalTensor):
        for i, w in enumerate(wrapped):
            if out is w:
                return i, chain[::-1]
        if out._view_of is None:
            return None
        out, op, rest, kwargs = out._view_of
        chain.append((op, rest, kwargs))
    return None


def run_functionalized_fw_and_collect_metadata(fn: Callable, fake_args: list[Any],
                                               fake_mode: FakeTensorMode) -> ViewAndMutationMeta:
    """Run ``fn`` once on fakes under the ambient grad mode."""
    mode = FunctionalTensorMode(_allow_token_discovery=True)
    wrapped = [_wrap(x, mode) for x in fake_args]
    with fake_mode, mode:
        out = fn(*wrapped)
    flat, spec = pytree.tree_flatten(out)
    sync_functional_tensors(wrapped)
    mutated = [i for i, (w, x) in enumerate(zip(wrapped, fake_args))
               if isinstance(w, FunctionalTensor) and w.elem is not x]
    aliased = [_alias_chain(o, wrapped) for o in flat]
    views = [isinstance(o, FunctionalTensor) and o._view_of is not None and a is None
             for o, a in zip(flat, aliased)]
    return ViewAndMutationMeta(
        tokens=list(mode._tokens),
        mutated_inputs=mutated,
        output_requires_grad=[isinstance(o, Tensor) and requires_grad(o) for o in flat],
        out_spec=spec,
        traced_outputs=[_unwrap_out(o) for o in flat],
        aliased_inputs=aliased,
        output_is_view=views,
        input_requires_grad=[isinstance(x, Tensor) and requires_grad(x) for x in fake_args],
    )


def _needs_autograd(meta: ViewAndMutationMeta) -> bool:
    """``create_aot_state``: an input requires grad, and an output requires grad that is not
    an alias of such an input (AOTAutograd regenerates those at runtime), or such an input is
    mutated. Otherwise the graph is an inference graph."""
    if not any(meta.input_requires_grad):
        return False
    outputs_safe = not any(
        rg and not (alias is not None and meta.input_requires_grad[alias[0]])
        for rg, alias in zip(meta.output_requires_grad, meta.aliased_inputs))
    mutation_safe = not any(meta.input_requires_grad[i] for i in meta.mutated_inputs)
    return not (outputs_safe and mutation_safe)


def _check_modelled(meta: ViewAndMutationMeta) -> None:
    for i in meta.mutated_inputs:
        if meta.input_requires_grad[i]:
            raise NotImplementedError("refimpl's aot_function does not model the mutation of "
                                      f"an input that requires grad (input {i})")
    for i, view in enumerate(meta.output_is_view):
        if view:
            raise NotImplementedError(f"refimpl's aot_function does not model a training "
                                      f"graph with an output that is a view of an "
                                      f"intermediate (output {i}): torch returns its base too")


# -- graph_capture_wrappers.py ---------------------------------------------------------------


def _tag_nodes(tag: str) -> None:
    """``partitioner_tag`` on every node traced so far that has none (torch tags the forward's
    nodes after it ran, and the backward's through ``set_partitioner_tag_is_backward``)."""
    proxy_mode = _get_dispatch_mode(_TorchDispatchModeKey.PROXY)
    for node in proxy_mode.tracer.graph.nodes:
        node.meta.setdefault("partitioner_tag", tag)


def _joint_function(fn: Callable, meta: ViewAndMutationMeta, n_primals: int) -> Callable:
    """The traced function ``(*primals, *tangents)``; primals start with the forward tokens."""
    n_tok = len(meta.tokens)

    def joint(*flat: Any) -> tuple:
        primals, tangents = flat[:n_primals], flat[n_primals:]
        mode = FunctionalTensorMode(_allow_token_discovery=True)
        excluded = DispatchKeySet([DispatchKey.Functionalize])
        # AOTAutograd traces the joint under ``detect_anomaly(check_nan=False)`` (AG-11).
        with ExcludeDispatchKeyGuard(excluded), mode, enable_grad(), \
                detect_anomaly(check_nan=False):
            mode._tokens = {k: FunctionalTensor._wrap(t, mode)
                            for k, t in zip(meta.tokens, primals[:n_tok])}
            args = [_wrap(x, mode) for x in primals[n_tok:]]
            f_tangents = [_wrap(t, mode) for t in tangents]
            for node in _get_dispatch_mode(_TorchDispatchModeKey.PROXY).tracer.graph.nodes:
                if node.op == "placeholder":  # tangents is_backward, primals is_forward
                    node.meta["partitioner_tag"] = ("is_backward" if "tangents" in node.name
                                                    else "is_forward")
            outs = pytree.tree_leaves(fn(*args))
            _tag_nodes("is_forward")
            sync_functional_tensors(args)
            mutated = [args[i] for i in meta.mutated_inputs]
            needed = [(o, t) for o, t in zip(
                [o for o, need in zip(outs, meta.needs_tangent) if need], f_tangents)
                if requires_grad(o)]
            grad_primals = [a for a in args if isinstance(a, Tensor) and requires_grad(a)]
            grads: list[Any] = []
            if grad_primals:
                # "independent chains of tokens for forward and backward"
                mode._tokens_forward_output = mode._tokens
                mode._tokens = {}
                computed = iter(autograd.grad([o for o, _ in needed], grad_primals,
                                              grad_outputs=[t for _, t in needed],
                                              allow_unused=True))
                grads = [next(computed) if isinstance(a, Tensor) and requires_grad(a) else None
                         for a in args]
                _tag_nodes("is_backward")
                fwd_tokens = list(mode._tokens_forward_output.values())
                bwd_tokens = list(mode._tokens.values())
            else:
                fwd_tokens, bwd_tokens = list(mode._tokens.values()), []
        sync_functional_tensors(outs)
        meta.num_backward_tokens = len(bwd_tokens)
        return (*map(_unwrap_out, fwd_tokens), *map(_unwrap_out, mutated),
                *map(_unwrap_out, outs), *map(_unwrap_out, grads),
                *map(_unwrap_out, bwd_tokens))

    return joint


def _tangent(fake_mode: FakeTensorMode, out: Tensor) -> Tensor:
    with fake_mode:
        return OPS["aten::empty.memory_format"](list(out.shape), dtype=out.dtype)


# -- runtime_wrappers.py ---------------------------------------------------------------------


@dataclass
class _Compiled:
    meta: ViewAndMutationMeta
    fw: Callable
    bw_module: GraphModule | None = None
    bw_compiler: Callable | None = None
    bw: Callable | None = None
    num_saved: int = 0


def _compiled_function(c: _Compiled) -> type[Function]:
    n_tok = len(c.meta.tokens)
    n_mut = len(c.meta.mutated_inputs)
    n_out = len(c.meta.output_requires_grad)

    class CompiledFunction(Function):
        @staticmethod
        def forward(ctx: Any, *args: Any) -> Any:
            outs = list(_call(c.fw, [*([None] * n_tok), *args]))
            mutations = outs[n_tok:n_tok + n_mut]
            user = outs[n_tok + n_mut:n_tok + n_mut + n_out]
            ctx.save_for_backward(*outs[n_tok + n_mut + n_out:])
            # outputs that do not require grad, and aliases of inputs (regenerated afterwards)
            ctx.mark_non_differentiable(*[
                o for o, need, rg in zip(user, c.meta.needs_tangent, c.meta.output_requires_grad)
                if isinstance(o, Tensor) and (not rg or not need)])
            for i, new in zip(c.meta.mutated_inputs, mutations):
                OPS["aten::copy_"](args[i], new)
            return tuple(user)

        @staticmethod
        def backward(ctx: Any, *grad_outputs: Any) -> Any:
            if c.bw is None:  # compiled on the first backward, as torch does
                c.bw = c.bw_compiler(c.bw_module, [])
            tangents = [g for g, need in zip(grad_outputs, c.meta.needs_tangent)
                        if need]
            outs = list(_call(c.bw, [*ctx.saved_tensors, *tangents,
                                     *([None] * c.meta.num_backward_tokens)]))
            n_grads = len(outs) - c.meta.num_backward_tokens
            return tuple(outs[:n_grads])

    return CompiledFunction


def _regenerate_aliases(outs: list[Any], args: tuple, meta: ViewAndMutationMeta) -> list[Any]:
    """An output that is an input, or a view of one, is regenerated from the real input by
    replaying its view ops under the ambient grad mode (``view_replay_for_aliased_outputs``),
    so it aliases the input and has the view's grad_fn, as in eager."""
    for j, alias in enumerate(meta.aliased_inputs):
        if alias is not None:
            index, chain = alias
            t = args[index]
            for op, rest, kwargs in chain:
                t = op(t, *rest, **kwargs)
            outs[j] = t
    return outs


# -- aot_autograd.py -------------------------------------------------------------------------


def aot_function(fn: Callable, fw_compiler: Callable, bw_compiler: Callable | None = None,
                 partition_fn: Callable = default_partition) -> Callable:
    """Compile ``fn`` on its first call: the joint graph is traced and partitioned, the forward
    and backward graphs are handed to the compilers, and calls run the compiled forward, with
    the compiled backward as the outputs' grad function (TRC-20). When no output needs a
    backward (``_needs_autograd``) the inference graph (``aot_export``'s) goes to
    ``fw_compiler``."""
    bw_compiler = bw_compiler if bw_compiler is not None else fw_compiler
    cache: dict[str, Any] = {}

    def returned(*args: Any) -> Any:
        if "run" not in cache:
            cache["run"] = _compile(fn, list(args), fw_compiler, bw_compiler, partition_fn)
        return cache["run"](*args)

    return returned


def _compile(fn: Callable, args: list[Any], fw_compiler: Callable, bw_compiler: Callable,
             partition_fn: Callable) -> Callable:
    fake_mode = FakeTensorMode(allow_non_fake_inputs=True)
    fake_args = [fake_mode.from_tensor(x) if isinstance(x, Tensor) else x for x in args]
    for x, f in zip(args, fake_args):
        if isinstance(x, Tensor) and requires_grad(x):
            f.requires_grad_(True)
    meta = run_functionalized_fw_and_collect_metadata(fn, fake_args, fake_mode)
    if not _needs_autograd(meta):
        return _inference(fn, args, meta, fw_compiler)
    _check_modelled(meta)
    n_tok = len(meta.tokens)
    template = OPS["aten::empty.memory_format"]([0])
    tokens = [fake_mode.from_tensor(template) for _ in range(n_tok)]
    tangents = [_tangent(fake_mode, o)
                for o, need in zip(meta.traced_outputs, meta.needs_tangent) if need]
    primals = [*tokens, *fake_args]
    names = ([f"primals_{i + 1}" for i in range(len(primals))]
             + [f"tangents_{i + 1}" for i in range(len(tangents))])
    joint = trace(_joint_function(fn, meta, len(primals)), [*primals, *tangents], names,
                  fake_mode=fake_mode, tracing_mode="fake", entry="aot_function")
    joint.graph.eliminate_dead_code()
    joint.recompile()
    num_fwd_outputs = n_tok + len(meta.mutated_inputs) + len(meta.output_requires_grad)
    fw_module, bw_module = partition_fn(joint, [*primals, *tangents],
                                        num_fwd_outputs=num_fwd_outputs)
    compiled = _Compiled(meta, fw_compiler(fw_module, primals), bw_module, bw_compiler)
    function = _compiled_function(compiled)

    def run(*call_args: Any) -> Any:
        outs = _regenerate_aliases(list(function.apply(*call_args)), call_args, meta)
        return pytree.tree_unflatten(outs, meta.out_spec)

    return run


def _inference(fn: Callable, args: list[Any], meta: ViewAndMutationMeta,
               fw_compiler: Callable) -> Callable:
    gm, _ = aot_export(fn, args)
    compiled = fw_compiler(gm, args)
    n_tok, n_mut = len(meta.tokens), len(meta.mutated_inputs)

    def run(*call_args: Any) -> Any:
        with no_grad():
            outs = list(_call(compiled, [*([None] * n_tok), *call_args]))
        for i, new in zip(meta.mutated_inputs, outs[n_tok:n_tok + n_mut]):
            OPS["aten::copy_"](call_args[i], new)
        user = _regenerate_aliases(outs[n_tok + n_mut:], call_args, meta)
        return pytree.tree_unflatten(user, meta.out_spec)

    return run
