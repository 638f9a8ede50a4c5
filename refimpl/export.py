"""aot-style export: a functional, token-threaded graph and its signature.

Models: ``torch/_functorch/aot_autograd.py:aot_export_module(..., trace_joint=False)`` (token
inputs first, output tokens first, mutated inputs before user outputs, ``unlift_effect_tokens``)
and ``torch/export/_remove_effect_tokens_pass.py`` at torch 2.13.0.
Spec: TRC-1 .. TRC-7, TRC-11, TRC-13.

Simplifications:
1. One pass where AOTAutograd makes two. torch first runs the program under FakeTensorMode +
   FunctionalTensorMode(discovery on) to learn the effect types and mutated inputs, then traces
   it with one token placeholder per effect type. refimpl traces once: the token map makes a
   token placeholder the first time an effect type is looked up, and the placeholders are named
   ``arg<i>_1`` when the trace ends ([NOTE: single-pass export]). Graph and signature are the
   same; the program's Python code (and any fake impl) runs once instead of twice.
2. No autograd: ``aot_export_backward`` traces a given backward function with an empty token
   map and discovery on, which is what AOTAutograd's backward trace does with effects
   ([NOTE: backward tokens]).
3. Modules are duck-typed: anything callable with ``named_buffers()``; ``Module`` below is a
   minimal base class with ``register_buffer``.
4. ``preserve_composite_ops=True`` stands for torch.export's ``run_decompositions({})``, which
   retraces the exported program with aot_export; refimpl traces the function itself once. Only
   the preservation rule of ``_override_composite_implicit_decomp`` is modelled
   ([NOTE: preserved composite ops]); torch's list of ops that "lie about their schema"
   (dropout and the like) names none of the modelled ops.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, fields
from typing import Any

from refimpl import _pytree as pytree
from refimpl import autograd
from refimpl.aten import OPS
from refimpl.autograd.anomaly_mode import detect_anomaly
from refimpl.autograd.grad_mode import enable_grad, no_grad
from refimpl.autograd.variable import requires_grad
from refimpl.dispatch_key import DispatchKey, DispatchKeySet, ExcludeDispatchKeyGuard
from refimpl.effects import _get_schema, with_effects
from refimpl.fake_tensor import FakeTensorMode, ShapeEnv
from refimpl.functional_tensor import (
    FunctionalTensor,
    FunctionalTensorMode,
    sync_functional_tensors,
)
from refimpl.fx import GraphModule
from refimpl.mode_stack import _get_dispatch_mode, _TorchDispatchModeKey
from refimpl.operator import OpOverload, ops
from refimpl.proxy_tensor import (
    disable_proxy_modes_tracing,
    placeholder_names,
    trace,
    track_tensor_tree,
)
from refimpl.tensor import Tensor

__all__ = ["SIGNATURE_FIELDS", "BackwardSignature", "GraphSignature", "Module", "aot_export",
           "aot_export_backward", "lift_constants", "remove_effect_tokens"]


class Module:
    """A minimal module: buffers by name, ``forward`` called by ``__call__``."""

    def __init__(self) -> None:
        self._buffers: dict[str, Tensor] = {}

    def register_buffer(self, name: str, value: Tensor) -> None:
        self._buffers[name] = value

    def named_buffers(self) -> list[tuple[str, Tensor]]:
        return list(self._buffers.items())

    def __getattr__(self, name: str) -> Any:
        buffers = self.__dict__.get("_buffers", {})
        if name in buffers:
            return buffers[name]
        raise AttributeError(name)

    def __call__(self, *args: Any) -> Any:
        return self.forward(*args)

    def forward(self, *args: Any) -> Any:
        raise NotImplementedError


@dataclass
class BackwardSignature:
    """torch's ``BackwardSignature``: which output is the loss, which outputs are whose grads."""

    gradients_to_parameters: dict[str, str] = field(default_factory=dict)
    gradients_to_user_inputs: dict[str, str] = field(default_factory=dict)
    loss_output: str = ""


@dataclass
class GraphSignature:
    """The fields of torch's ``GraphSignature`` that effect tokens touch; ``backward_signature``
    is set by ``trace_joint=True`` only."""

    input_tokens: list[str] = field(default_factory=list)
    output_tokens: list[str] = field(default_factory=list)
    user_inputs: list[str] = field(default_factory=list)
    user_outputs: list[str] = field(default_factory=list)
    inputs_to_buffers: dict[str, str] = field(default_factory=dict)
    buffers_to_mutate: dict[str, str] = field(default_factory=dict)
    user_inputs_to_mutate: dict[str, str] = field(default_factory=dict)
    backward_signature: BackwardSignature | None = None


# The field names, in torch's order: what the oracle's runners record of either signature (the
# backward signature apart: it is there only for a joint graph).
SIGNATURE_FIELDS = tuple(f.name for f in fields(GraphSignature) if f.name != "backward_signature")


def _buffers_of(fn: Any) -> list[tuple[str, Tensor]]:
    named = getattr(fn, "named_buffers", None)
    return list(named()) if callable(named) else []


def _flat_fn(fn: Any, buffer_names: list[str]) -> Callable:
    """``fn`` over (buffers..., user args...): buffers are swapped in for the call."""

    def flat(*flat_args: Any) -> Any:
        nb = len(buffer_names)
        store = getattr(fn, "_buffers", None)
        saved = dict(store) if isinstance(store, dict) else None
        if saved is not None:
            store.update(zip(buffer_names, flat_args[:nb]))
        try:
            return fn(*flat_args[nb:])
        finally:
            if saved is not None:
                store.update(saved)

    return flat


def _as_tuple(out: Any) -> tuple:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


# [NOTE: single-pass export] AOTAutograd learns the effect types before tracing (its metadata
# pass) so that the token placeholders can come first. refimpl learns them while tracing:
# 1. the user inputs' placeholders get provisional names (``_user_input<i>``);
# 2. the functional mode's token map is a ``_TokenPlaceholders``: when ``handle_effects`` asks
#    whether an effect type has a token and none exists yet, it makes a token placeholder
#    (inserted before the user inputs, in discovery order) and answers yes, so the seed's
#    discovery branch (which would add a ``tangents_token``) is never taken;
# 3. when the trace ends, the placeholders are renamed ``arg0_1``, ``arg1_1``, ... in order,
#    the names torch gives them, and the outputs are (final tokens, mutated inputs, user
#    outputs), with the mutated inputs found by comparing each wrapper's value with its input.
class _TokenPlaceholders(dict):
    """The tracing pass's token map: an effect type's first lookup makes its token placeholder."""

    def __init__(self, mode: FunctionalTensorMode, fake_mode: FakeTensorMode,
                 template: Tensor) -> None:
        super().__init__()
        self.mode, self.fake_mode, self.template = mode, fake_mode, template
        self.placeholders: list[Any] = []
        # The top-level trace's tracer: a token first needed inside a cond branch is still a
        # placeholder of the outer graph, as AOTAutograd's metadata pass found it (CF-7).
        self.tracer = _get_dispatch_mode(_TorchDispatchModeKey.PROXY).tracer

    def __contains__(self, key: object) -> bool:
        if not dict.__contains__(self, key):
            self[key] = self._new_token()
        return True

    def _new_token(self) -> FunctionalTensor:
        tracer = self.tracer
        with disable_proxy_modes_tracing():
            token = self.fake_mode.from_tensor(self.template)
        graph = tracer.graph
        # The first token goes first in the graph, each next one after the one before.
        last = self.placeholders[-1] if self.placeholders else None
        with graph.inserting_after(last) if last else graph.inserting_before(None):
            proxy = tracer.create_proxy("placeholder", f"_token{len(self.placeholders)}", (), {})
        track_tensor_tree(token, proxy, constant=None, tracer=tracer)
        self.placeholders.append(proxy.node)
        return FunctionalTensor._wrap(token, self.mode)


def aot_export(fn: Any, args: tuple | list, unlift_effect_tokens: bool = False, *,
               trace_joint: bool = False, output_loss_index: int | None = None,
               lift_tensor_constants: bool = False,
               preserve_composite_ops: bool = False,
               shape_env: ShapeEnv | None = None) -> tuple[GraphModule, GraphSignature]:
    """Trace ``fn`` (a function or module) into a functional graph with effect tokens.

    ``trace_joint=True`` traces the joint forward and backward graph of torch's
    ``aot_export_module(..., trace_joint=True, output_loss_index=...)``: the output at
    ``output_loss_index`` is a scalar loss, the graph returns the forward outputs and then the
    grad of each input that requires grad, and ``sig.backward_signature`` says which is which
    (TRC-19, [NOTE: joint export]).
    ``lift_tensor_constants=True`` turns tensor constants into ``c_lifted_tensor_<i>``
    placeholders before the user inputs, as torch.export does; their values are in
    ``gm.lifted_constants``. ``preserve_composite_ops=True`` keeps the functional
    CompositeImplicitAutograd ops in the graph as torch.export's ``run_decompositions({})``
    does (``absolute`` stays ``absolute``; ``absolute_`` still becomes ``abs``), TRC-16.
    ``shape_env``: the fake mode's shape environment; ``aot_export_module`` makes its mode
    without one, torch.export's retrace (``run_decompositions``) reuses the exported program's
    mode, which has one (a while_loop needs it, CF-10).
    """
    if preserve_composite_ops:
        with _override_composite_implicit_decomp(_preservable_cia_ops()):
            return aot_export(fn, args, unlift_effect_tokens, trace_joint=trace_joint,
                              output_loss_index=output_loss_index,
                              lift_tensor_constants=lift_tensor_constants, shape_env=shape_env)
    buffers = _buffers_of(fn)
    buffer_names = [name for name, _ in buffers]
    inputs = [b for _, b in buffers] + list(args)
    fake_mode = FakeTensorMode(allow_non_fake_inputs=False, shape_env=shape_env)
    fake_inputs = [fake_mode.from_tensor(x) if isinstance(x, Tensor) else x for x in inputs]
    found: dict[str, Any] = {}
    joint = _joint(_flat_fn(fn, buffer_names), fake_mode, found,
                   loss_index=output_loss_index if trace_joint else _INFERENCE)
    gm = trace(joint, fake_inputs, [f"_user_input{i}" for i in range(len(inputs))],
               fake_mode=fake_mode, tracing_mode="fake", entry="aot_export")
    tokens = found["tokens"]
    n_tok, mutated = len(tokens.placeholders), found["mutated"]
    if trace_joint:
        _check_joint_call(gm, n_tok)
        if found["unused_grad"]:  # flattened_joint's check, after its call of the joint graph
            raise AssertionError(_UNUSED_PARAMETER)
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    for i, node in enumerate(placeholders):
        node._rename(f"arg{i}_1")
        node.target = node.name  # a placeholder's target is its parameter's name
    gm.lifted_constants = []
    if lift_tensor_constants:
        user = placeholders[n_tok + len(buffer_names):]
        gm.lifted_constants = lift_constants(gm, before=user[0] if user else None)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    sig = _signature(gm, n_tok, buffer_names, mutated, len(gm.lifted_constants))
    if trace_joint:
        _backward_signature(gm, sig, found["grad_inputs"], n_tok, buffer_names,
                            output_loss_index)
    if unlift_effect_tokens:
        _unlift_tokens(gm, sig)
    return gm, sig


# [NOTE: joint export] torch 2.13's ``aot_export_module(trace_joint=True)`` traces the joint
# function ``fn_to_trace`` (the forward, then checks of its outputs: a loss index is given, the
# outputs are tensors, only the loss requires grad, the loss is a scalar), then
# ``torch.autograd.grad(loss, inputs that require grad)`` under the same FunctionalTensorMode,
# whose forward tokens are put aside and whose token discovery is turned on for the backward
# (``graph_capture_wrappers.py``: "independent chains of tokens for forward and backward"), so a
# backward effect adds a ``tangents_token`` placeholder (EFF-19). It then re-traces the joint
# graph through ``flattened_joint``, which calls it with the user's arguments and one ``None``
# tangent per output, and no tokens: a graph with forward tokens reads more primals than it is
# given (the pytree spec's ``IndexError``), and a ``tangents_token`` appended after the spec was
# made is one more placeholder than the spec flattens to (the generated unpacking's
# ``ValueError``). refimpl traces once ([NOTE: single-pass export]) and raises what that call
# raises, after the output checks, as torch does.
_INFERENCE = object()  # ``_joint``'s loss index when no backward is traced

_NO_LOSS_INDEX = (
    "If trace_joint=Trueit is required that one of your forward outputs must be a scalar loss.\n"
    "You must specify the which (index) output is the loss with output_loss_index."
)


def _check_joint_outputs(out: Any, loss_index: int | None) -> Tensor:
    """``fn_to_trace``'s checks of the forward outputs; returns the loss."""
    if loss_index is None:
        raise RuntimeError(_NO_LOSS_INDEX)
    if isinstance(out, Tensor):
        out = (out,)
    if not isinstance(out, (tuple, list)):
        raise RuntimeError("Expected forward output to be either a tensor or a list/tuple of "
                           f"tensors. found {type(out)}")
    for i, o in enumerate(out):
        if requires_grad(o) and i != loss_index:
            raise RuntimeError(
                "Found an output of the forward that requires gradients, that was not the "
                "scalar loss.\nWe require all outputs to the forward that are not the scalar "
                "loss to not require gradient,\nbecause we will only compute a backward graph "
                "against the scalar loss.\nYou can fix this by calling .detach() on each of "
                "your forward outputs that is not the loss.\nYou specified that output index "
                f"{loss_index} is the loss, but we found that\nthe output at index {i} "
                "requires gradients.")
    loss = out[loss_index]
    if not requires_grad(loss):
        raise RuntimeError(f"The output at index {loss_index} was marked as the loss, but it "
                           "does not require gradients")
    if loss.numel() != 1:
        raise RuntimeError(f"We require the output marked as the loss (at index {loss_index}) "
                           f"to be a scalar, but it has shape {_torch_size(loss.shape)}")
    return loss


def _torch_size(shape: tuple[int, ...]) -> str:
    return f"torch.Size([{', '.join(map(str, shape))}])"


_UNUSED_PARAMETER = (
    "Found a parameter that did not receive a gradient.\n"
    '"This is most likely a bug, but if this needs to be supported please comment on this '
    "Github issue:\nhttps://github.com/pytorch/pytorch/issues/101192\n"
)


def _backward(mode: FunctionalTensorMode, loss: Tensor, wrapped: list) -> list:
    """The joint's backward: fresh tokens with discovery on, the grads of the inputs that
    require grad ([NOTE: joint export])."""
    mode._tokens_forward_output = mode._tokens
    mode._tokens = {}
    mode._allow_token_discovery = True
    primals = [w for w in wrapped if isinstance(w, Tensor) and requires_grad(w)]
    return list(autograd.grad([loss], primals, allow_unused=True) if primals else ())


def _check_joint_call(gm: GraphModule, n_forward_tokens: int) -> None:
    """What ``flattened_joint``'s call of a joint graph with tokens raises ([NOTE: joint
    export])."""
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    n_backward_tokens = sum(1 for n in placeholders if n.name.startswith("tangents_token"))
    if n_forward_tokens:
        raise IndexError("tuple index out of range")
    if n_backward_tokens:
        # The joint graph's placeholders: primals, one tangent for the loss, the tokens.
        expected = len(placeholders) + 1
        raise ValueError(f"not enough values to unpack (expected {expected}, got "
                         f"{expected - n_backward_tokens})")


def _backward_signature(gm: GraphModule, sig: GraphSignature, grad_inputs: list[int],
                        n_tok: int, buffer_names: list[str], loss_index: int) -> None:
    """The joint graph's last outputs are the grads: move them from ``user_outputs`` to the
    backward signature, by the input (placeholder, or buffer name) each is the grad of."""
    n_user = len(sig.user_outputs) - len(grad_inputs)
    grads = sig.user_outputs[n_user:]
    sig.user_outputs = sig.user_outputs[:n_user]
    placeholders = [n.name for n in gm.graph.nodes if n.op == "placeholder"][n_tok:]
    backward = BackwardSignature(loss_output=sig.user_outputs[loss_index])
    for grad, index in zip(grads, grad_inputs):
        if index < len(buffer_names):
            backward.gradients_to_parameters[grad] = buffer_names[index]
        else:
            backward.gradients_to_user_inputs[grad] = placeholders[index]
    sig.backward_signature = backward


# [NOTE: preserved composite ops] A CompositeImplicitAutograd kernel runs at the autograd keys,
# above every mode, so make_fx and aot_export only ever see its decomposition. torch.export's
# ``run_decompositions({})`` keeps the functional ones as single nodes
# (``torch/export/exported_program.py:_override_composite_implicit_decomp``, with the ops of
# ``torch/export/decomp_utils.py``/``torch/_export/utils.py:_check_valid_to_preserve``: no
# argument or return is mutated or aliased): for the duration of the trace it moves the
# composite kernel from the autograd keys to the backend keys (so fake and dense execution still
# compute through the decomposition, and no mode sees its ops) and puts at the autograd keys a
# kernel that only redispatches below them (``autograd_not_implemented``), so the Python key,
# and with it FunctionalTensorMode and the proxy mode, receive the composite op itself.
_AUTOGRAD_KEYS_TO_OVERRIDE = (DispatchKey.AutogradCPU, DispatchKey.AutogradCUDA,
                              DispatchKey.AutogradMeta)
_BACKEND_KEYS_TO_OVERRIDE = (DispatchKey.CPU, DispatchKey.CUDA, DispatchKey.Meta)


def _preservable_cia_ops() -> list[OpOverload]:
    """The modelled ops torch.export preserves: a CompositeImplicitAutograd kernel and a schema
    that neither mutates nor aliases anything (``_check_valid_to_preserve``)."""
    def aliases(op: OpOverload) -> bool:
        schema = op._schema
        return any(a.alias_info is not None for a in (*schema.arguments, *schema.returns))

    return [op for op in OPS.values()
            if op.has_kernel_for_dispatch_key(DispatchKey.CompositeImplicitAutograd)
            and not aliases(op)]


@contextmanager
def _override_composite_implicit_decomp(cia_ops: list[OpOverload]) -> Iterator[None]:
    """Keep ``cia_ops`` whole while tracing ([NOTE: preserved composite ops])."""
    saved = {op: dict(op.py_kernels) for op in cia_ops}
    below_autograd = DispatchKeySet(_AUTOGRAD_KEYS_TO_OVERRIDE)
    try:
        for op in cia_ops:
            decomposition = op.py_kernels.pop(DispatchKey.CompositeImplicitAutograd)

            def redispatch(*args: Any, _op: OpOverload = op, **kwargs: Any) -> Any:
                with ExcludeDispatchKeyGuard(below_autograd):
                    return _op(*args, **kwargs)

            for key in _AUTOGRAD_KEYS_TO_OVERRIDE:
                op.py_kernels.setdefault(key, redispatch)
            for key in _BACKEND_KEYS_TO_OVERRIDE:
                op.py_kernels.setdefault(key, decomposition)
            op._invalidate_kernels()
        yield
    finally:
        for op, kernels in saved.items():
            op.py_kernels.clear()
            op.py_kernels.update(kernels)
            op._invalidate_kernels()


def _joint(flat: Callable, fake_mode: FakeTensorMode, found: dict[str, Any],
           loss_index: Any = _INFERENCE) -> Callable:
    """The traced function ([NOTE: single-pass export]); ``found`` gets the token map, the
    indices of the mutated inputs and, for a joint trace ([NOTE: joint export]), the indices of
    the inputs whose grads the graph returns."""

    # A token's metadata (``tensor([])``'s), made before any mode is active: each token
    # placeholder's fake value is made from it.
    template = OPS["aten::empty.memory_format"]([0])
    training = loss_index is not _INFERENCE

    def joint(*inputs: Any) -> tuple:
        mode = FunctionalTensorMode(_allow_token_discovery=False)
        mode._tokens = tokens = _TokenPlaceholders(mode, fake_mode, template)
        wrapped = [FunctionalTensor._wrap(x, mode) if isinstance(x, Tensor) else x
                   for x in inputs]
        grads: list = []
        # torch runs the inference trace under no_grad, the joint one with grad mode on and
        # under ``detect_anomaly(check_nan=False)`` (AG-11).
        anomaly = detect_anomaly(check_nan=False) if training else nullcontext()
        with mode, (enable_grad() if training else no_grad()), anomaly:
            if training:  # the wrappers mirror their inputs' autograd metadata
                for w, x in zip(wrapped, inputs):
                    if isinstance(x, Tensor) and requires_grad(x):
                        w.requires_grad_(True)
            out = _as_tuple(flat(*wrapped))
            if training:
                loss = _check_joint_outputs(out, loss_index)
                grads = _backward(mode, loss, wrapped)
        sync_functional_tensors(wrapped)  # [NOTE: view regeneration]
        mutated = [i for i, (w, x) in enumerate(zip(wrapped, inputs))
                   if isinstance(w, FunctionalTensor) and w.elem is not x]
        found.update(tokens=tokens, mutated=mutated,
                     grad_inputs=[i for i, x in enumerate(inputs)
                                  if training and isinstance(x, Tensor) and requires_grad(x)])
        final_tokens = [t.elem for t in tokens.values()]
        mutations = [wrapped[i].elem for i in mutated]
        # AOTAutograd traces a pytree-flattened function (``create_tree_flattened_fn``): a
        # list among the outputs gives one graph output per leaf.
        sync_functional_tensors(out)
        user = pytree.tree_leaves(
            pytree.tree_map_only(FunctionalTensor, FunctionalTensor.from_functional, out))
        found["unused_grad"] = any(g is None for g in grads)
        grad_outs = [g.elem for g in grads if isinstance(g, FunctionalTensor)]
        return (*final_tokens, *mutations, *user, *grad_outs)

    return joint


def _signature(gm: GraphModule, n_tok: int, buffer_names: list[str], mutated: list[int],
               n_constants: int) -> GraphSignature:
    placeholders = [n.name for n in gm.graph.nodes if n.op == "placeholder"]
    nb = len(buffer_names)
    del placeholders[n_tok + nb:n_tok + nb + n_constants]
    outputs = [getattr(a, "name", a) for a in gm.graph.output_node().args[0]]
    sig = GraphSignature(
        input_tokens=placeholders[:n_tok],
        output_tokens=outputs[:n_tok],
        user_inputs=placeholders[n_tok + nb:],
        inputs_to_buffers=dict(zip(placeholders[n_tok:n_tok + nb], buffer_names)),
    )
    mutation_outs = outputs[n_tok:n_tok + len(mutated)]
    for out_name, index in zip(mutation_outs, mutated):
        if index < nb:
            sig.buffers_to_mutate[out_name] = buffer_names[index]
        else:
            sig.user_inputs_to_mutate[out_name] = placeholders[n_tok + index]
    sig.user_outputs = outputs[n_tok + len(mutated):]
    return sig


def _unlift_tokens(gm: GraphModule, sig: GraphSignature) -> None:
    """Token placeholders become ``prims._make_token()``; output tokens go to ``_sink_tokens``."""
    graph = gm.graph
    placeholders = {n.name: n for n in graph.nodes if n.op == "placeholder"}
    first_op = next(n for n in graph.nodes if n.op != "placeholder")
    for name in sig.input_tokens:
        with graph.inserting_before(first_op):
            made = graph.call_function(ops.prims._make_token.default, ())
        placeholders[name].replace_all_uses_with(made)
        graph.erase_node(placeholders[name])
    output = graph.output_node()
    outs = list(output.args[0])
    token_outs = [o for o in outs if getattr(o, "name", None) in sig.output_tokens]
    if token_outs:
        with graph.inserting_before(output):
            graph.call_function(ops.prims._sink_tokens.default, (token_outs,))
    output.args = (tuple(o for o in outs if o not in token_outs),)
    sig.input_tokens, sig.output_tokens = [], []
    gm.recompile()


def remove_effect_tokens(gm: GraphModule) -> GraphModule:
    """Replace each ``with_effects(token, op, *args)`` by ``op(*args)``; drop the tokens.

    torch's ``_remove_effect_tokens`` in its steps: 1. replace every with_effects node, noting
    the token placeholders it reads and the token getitems the output returns; 2. drop that
    many leading outputs; 3. dead-code eliminate (the with_effects nodes and their getitems go,
    the effectful calls stay); 4. erase the token placeholders.
    """
    graph = gm.graph
    input_tokens: list = []
    output_tokens: list = []
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target is with_effects:
            _replace_with_effects_node(gm, node, input_tokens, output_tokens)
    if output_tokens:
        output = graph.output_node()
        outs = output.args[0]
        if len(outs) < len(output_tokens):
            raise AssertionError(
                f"{outs} output arguments found\n{output_tokens} output tokens found\n{graph}"
            )
        output.args = (tuple(outs[len(output_tokens):]),)
    graph.eliminate_dead_code()
    for node in list(graph.nodes):
        if node.op == "placeholder" and node in input_tokens:
            graph.erase_node(node)
    gm.recompile()
    return gm


def _replace_with_effects_node(gm: GraphModule, node: Any, input_tokens: list,
                               output_tokens: list) -> None:
    """A call of ``op`` before ``node``; ``node``'s result getitems now read that call."""
    graph = gm.graph
    token_node, func, *node_args = node.args
    if token_node.op == "placeholder":
        input_tokens.append(token_node)
    schema = _get_schema(func, node_args)
    with graph.inserting_before(node):
        new_node = graph.call_function(func, tuple(node_args), dict(node.kwargs))
    for user in list(node.users):
        if user.target is not operator.getitem:
            raise AssertionError(
                f"Expected user target to be operator.getitem, but got {user.target}"
            )
        if user.args[1] == 0 and any(u.op == "output" for u in user.users):
            output_tokens.append(user)
    if len(schema.returns) == 1:
        for user in list(node.users):
            if user.args[1] == 1:
                user.replace_all_uses_with(new_node)
    elif len(schema.returns) > 1:
        for user in list(node.users):
            if user.args[1] >= 1:
                user.args = (new_node, user.args[1] - 1)


def lift_constants(gm: GraphModule, before: Any = None) -> list[Tensor]:
    """Tensor constants (``get_attr``) become ``c_lifted_tensor_<i>`` placeholders.

    This is what torch.export does with constants; they go before ``before`` (default: the first
    node); returns their values, in placeholder order.
    """
    graph = gm.graph
    first = before if before is not None else next(iter(graph.nodes))
    values = []
    for node in [n for n in graph.nodes if n.op == "get_attr"]:
        if isinstance(getattr(gm, node.target), GraphModule):
            continue  # a subgraph (a cond's branch) stays a get_attr, as torch's pass skips it
        with graph.inserting_before(first):
            placeholder = graph.placeholder(f"c_lifted_tensor_{len(values)}")
        values.append(getattr(gm, node.target))
        node.replace_all_uses_with(placeholder)
        graph.erase_node(node)
    gm.recompile()
    return values


# [NOTE: backward tokens] AOTAutograd traces the backward with a fresh FunctionalTensorMode whose
# token map is empty and discovery is on; the first effectful op therefore adds a
# ``tangents_token`` placeholder (after the other inputs), and the final token is returned last.
def aot_export_backward(bw_fn: Callable, args: tuple | list) -> GraphModule:
    """Trace a backward function as AOTAutograd's backward pass does with effects."""
    mode_box: list[FunctionalTensorMode] = []

    def inner(fn: Callable) -> Callable:
        def run(*inputs: Any) -> tuple:
            mode = FunctionalTensorMode(_allow_token_discovery=True)
            mode_box.append(mode)
            wrapped = [FunctionalTensor._wrap(x, mode) if isinstance(x, Tensor) else x
                       for x in inputs]
            with mode:
                out = _as_tuple(fn(*wrapped))
            user = pytree.tree_map_only(FunctionalTensor, FunctionalTensor.from_functional, out)
            tokens = [pytree.tree_map_only(FunctionalTensor, FunctionalTensor.from_functional, t)
                      for t in mode._tokens.values()]
            return (*user, *tokens)
        return run

    fake_mode = FakeTensorMode(allow_non_fake_inputs=True)
    fakes = [fake_mode.from_tensor(x) if isinstance(x, Tensor) else x for x in args]
    gm = trace(bw_fn, fakes, placeholder_names(bw_fn, len(args)), fake_mode=fake_mode,
               tracing_mode="fake", inner=inner, entry="aot_export_backward")
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm
