"""``while_loop``: a loop whose condition and body are traced as subgraphs.

Models: ``torch/_higher_order_ops/while_loop.py`` at torch 2.13.0: ``WhileLoopOp``
(``while_loop_op``, ``torch.ops.higher_order.while_loop``), the user-facing ``while_loop`` (its
flattened ``cond_fn``/``body_fn``), and the rules ``while_loop_dense``, ``while_loop_tracing``,
``while_loop_fake_tensor_mode`` and ``while_loop_func``.
Spec: CF-8 .. CF-11.

Effect tokens follow the ``subgraph_tokens`` profile switch (CF-6) under ``"shared"``; the
fake rule runs ``body_fn`` once and never ``cond_fn`` (CF-10), which is why AOTAutograd's
metadata pass misses an effect that only ``cond_fn`` has. ``"threaded"`` (a fix still under
review upstream, pytorch/pytorch#191122) is not modelled for ``while_loop``: it raises
``NotImplementedError``.

Simplifications:
1. No dynamo (see ``cond``'s note); ``additional_inputs`` stays empty from ``while_loop``, as
   torch's eager entry passes ``()``.
2. No symbolic shapes: int carries are passed through by the dense rule but not by the tracing
   and fake rules (torch makes them unbacked SymInts), which raise ``NotImplementedError``.
3. No ``stack_output`` variant (``while_loop_stack_output_op``), no autograd (with grad mode on
   and a carried input that requires grad, ``NotImplementedError``), no auto-functionalization of
   bodies that mutate their inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from refimpl import _pytree as pytree
from refimpl._higher_order_ops.token_threading import functionalize_with_tokens
from refimpl._higher_order_ops.utils import check_meta_consistency, validate_subgraph_args_types
from refimpl.aten import OPS
from refimpl.dispatch_key import DispatchKey
from refimpl.fake_tensor import FakeTensorMode
from refimpl.operator import HigherOrderOperator
from refimpl.profiles import get_profile
from refimpl.proxy_tensor import (
    ProxyTorchDispatchMode,
    disable_proxy_modes_tracing,
    reenter_make_fx,
    track_tensor_tree,
)
from refimpl.tensor import Tensor

__all__ = ["WhileLoopOp", "while_loop", "while_loop_op"]


class WhileLoopOp(HigherOrderOperator):
    def __init__(self) -> None:
        super().__init__("while_loop")

    def __call__(self, cond_fn: Callable, body_fn: Callable, carried_inputs: tuple,
                 additional_inputs: tuple, /, *, mutated_arg_indices: str = "") -> Any:
        if not isinstance(carried_inputs, (tuple, list)):
            raise RuntimeError(
                f"carried_inputs must be a tuple or list, got {type(carried_inputs)}")
        if not isinstance(additional_inputs, (tuple, list)):
            raise RuntimeError(
                f"additional_inputs must be a tuple or list, got {type(additional_inputs)}")
        validate_subgraph_args_types(carried_inputs)
        validate_subgraph_args_types(additional_inputs)
        kwargs = {"mutated_arg_indices": mutated_arg_indices} if mutated_arg_indices else {}
        return super().__call__(cond_fn, body_fn, carried_inputs, additional_inputs, **kwargs)


while_loop_op = WhileLoopOp()


def while_loop(cond_fn: Callable, body_fn: Callable, carried_inputs: tuple | list) -> Any:
    """``while cond_fn(*carried): carried = body_fn(*carried)``, as one operator (CF-8)."""
    additional_inputs: tuple = ()
    flat_inputs, in_spec = pytree.tree_flatten((tuple(carried_inputs), additional_inputs))

    def flat_cond_fn(*flat_args: Any) -> Any:
        carried, additional = pytree.tree_unflatten(list(flat_args), in_spec)
        return cond_fn(*carried, *additional)

    def flat_body_fn(*flat_args: Any) -> Any:
        carried, additional = pytree.tree_unflatten(list(flat_args), in_spec)
        return body_fn(*carried, *additional)

    if not callable(cond_fn) or not callable(body_fn):
        raise RuntimeError("Expect cond_fn and body_fn to be callable.")
    validate_subgraph_args_types(flat_inputs)
    if not all(isinstance(t, (Tensor, int)) for t in pytree.tree_leaves(list(carried_inputs))):
        raise RuntimeError(
            "Expect carried_inputs to be a tuple of possibly nested dict/list/tuple that only"
            f"consists of tensor or int leaves, but got {carried_inputs}.")
    return while_loop_op(flat_cond_fn, flat_body_fn, tuple(flat_inputs), ())


def _validate_cond_output(pred: Any) -> None:
    if (isinstance(pred, Tensor) and tuple(pred.shape) == () and pred.dtype.name == "bool") \
            or isinstance(pred, bool):
        return
    raise RuntimeError(f"cond_fn must return a boolean scalar tensor or a boolean but got {pred}")


@while_loop_op.py_impl(DispatchKey.CompositeExplicitAutograd)
def while_loop_dense(cond_fn: Callable, body_fn: Callable, carried_inputs: tuple,
                     additional_inputs: tuple, mutated_arg_indices: str = "") -> Any:
    """Run the loop; with no iteration, clones of the carried tensors (CF-9)."""
    carried_vals = carried_inputs
    if not isinstance(carried_inputs, (tuple, list)):
        raise RuntimeError(
            f"carried_inputs must be a tuple or list but got {type(carried_inputs)}")
    should_loop = cond_fn(*carried_vals, *additional_inputs)
    _validate_cond_output(should_loop)
    if not should_loop:
        return tuple(OPS["aten::clone"](v) if isinstance(v, Tensor) else v
                     for v in carried_vals)
    while should_loop:
        out = body_fn(*carried_vals, *additional_inputs)
        if not isinstance(out, tuple):
            raise AssertionError(f"body_fn should return a tuple but got {type(out)}")
        if len(out) != len(carried_inputs):
            raise AssertionError(
                f"body_fn should return the same number of elements as carried_inputs, got "
                f"{len(out)} vs {len(carried_inputs)}")
        carried_vals = out
        should_loop = cond_fn(*carried_vals, *additional_inputs)
    return carried_vals


@while_loop_op.py_autograd_impl
def while_loop_autograd(cond_fn: Callable, body_fn: Callable, carried_inputs: tuple,
                        additional_inputs: tuple, mutated_arg_indices: str = "") -> Any:
    raise NotImplementedError(
        "refimpl does not model autograd through while_loop (torch's WhileLoopAutogradOp): "
        "call it under no_grad or with inputs that do not require grad")


def _no_int_carries(carried_inputs: tuple) -> None:
    if any(isinstance(x, int) for x in pytree.tree_leaves(list(carried_inputs))):
        raise NotImplementedError(
            "refimpl has no unbacked SymInts: while_loop traces only tensor carries")


@while_loop_op.py_impl(ProxyTorchDispatchMode)
def while_loop_tracing(mode: ProxyTorchDispatchMode, cond_fn: Callable, body_fn: Callable,
                       carried_inputs: tuple, additional_inputs: tuple,
                       mutated_arg_indices: str = "") -> Any:
    """``while_loop_cond_graph_<i>`` and ``while_loop_body_graph_<i>``, traced on clones of
    the carried tensors, and one ``while_loop`` node (CF-9)."""
    _no_int_carries(carried_inputs)
    clone = OPS["aten::clone"]
    with disable_proxy_modes_tracing():
        # [unspecialize constant tensor carry]: the carries are cloned; each graph gets its own.
        unspecialized = pytree.tree_map_only(Tensor, clone, carried_inputs)

        def produce_graph(fn: Callable) -> Any:
            cloned = pytree.tree_map_only(Tensor, clone, unspecialized)
            return reenter_make_fx(fn)(*cloned, *additional_inputs)

        cond_graph = produce_graph(cond_fn)
        body_graph = produce_graph(body_fn)
    tracer = mode.tracer
    i = 0
    while hasattr(tracer.root, f"while_loop_cond_graph_{i}"):
        i += 1
    cond_graph_name = f"while_loop_cond_graph_{i}"
    body_graph_name = f"while_loop_body_graph_{i}"
    if hasattr(tracer.root, body_graph_name):
        raise AssertionError(f"proxy_mode.tracer.root already has attribute {body_graph_name}")
    tracer.root.register_module(cond_graph_name, cond_graph)
    tracer.root.register_module(body_graph_name, body_graph)
    args = (cond_graph, body_graph, carried_inputs, additional_inputs)
    kwargs = {"mutated_arg_indices": mutated_arg_indices} if mutated_arg_indices else {}
    proxy_args = pytree.tree_map(tracer.unwrap_proxy, args)
    out_proxy = tracer.create_proxy("call_function", while_loop_op, proxy_args, kwargs,
                                    name=while_loop_op._name)
    out = while_loop_op(cond_graph, body_graph, unspecialized, additional_inputs, **kwargs)
    return track_tensor_tree(out, out_proxy, constant=None, tracer=tracer)


@while_loop_op.py_impl(FakeTensorMode)
def while_loop_fake_tensor_mode(mode: FakeTensorMode, cond_fn: Callable, body_fn: Callable,
                                carried_inputs: tuple, additional_inputs: tuple,
                                mutated_arg_indices: str = "") -> Any:
    """``body_fn`` once, on fake tensors, checked against the carries; ``cond_fn`` is not run
    (CF-10). A mode without a shape environment fails as torch's does."""
    with mode:
        with mode.shape_env.ignore_fresh_unbacked_symbols():  # AttributeError when None
            _no_int_carries(carried_inputs)
            body_outs = body_fn(*carried_inputs, *additional_inputs)
            check_meta_consistency(carried_inputs, body_outs, "carried_inputs", "body_output")
        return body_outs


@while_loop_op.py_functionalize_impl
def while_loop_func(ctx: Any, cond_fn: Callable, body_fn: Callable, carried_inputs: tuple,
                    additional_inputs: tuple, mutated_arg_indices: str = "") -> Any:
    """Functionalize both subgraphs and re-emit the loop one level down (CF-11)."""
    if get_profile().subgraph_tokens != "shared":
        raise NotImplementedError(
            "refimpl models the threaded token convention for cond only; while_loop's "
            "(pytorch/pytorch#191122) is not modelled")
    unwrapped_carried_inputs = ctx.unwrap_tensors(carried_inputs)
    unwrapped_additional_inputs = ctx.unwrap_tensors(additional_inputs)
    with ctx.redispatch_to_next():
        (functional_cond_fn, functional_body_fn), _ = functionalize_with_tokens(
            ctx, (cond_fn, body_fn), (*unwrapped_carried_inputs, *unwrapped_additional_inputs))
        op_kwargs = {"mutated_arg_indices": mutated_arg_indices} if mutated_arg_indices else {}
        ret = while_loop_op(functional_cond_fn, functional_body_fn,
                            tuple(unwrapped_carried_inputs), tuple(unwrapped_additional_inputs),
                            **op_kwargs)
        return ctx.wrap_tensors(ret)
