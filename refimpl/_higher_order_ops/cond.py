"""``cond``: a two-way branch whose branches are traced as subgraphs.

Models: ``torch/_higher_order_ops/cond.py`` at torch 2.13.0: ``CondOp`` (``cond_op``,
``torch.ops.higher_order.cond``), the user-facing ``cond``, ``trace_cond`` and the rules
``cond_op_dense``, ``cond_fake_tensor_mode`` (with ``_merge_output``), the proxy rule and
``cond_func``, and ``py_autograd_impl``'s redispatch.
Spec: CF-1 .. CF-7.

The effect-token convention (CF-6, profile switch ``subgraph_tokens``): under torch 2.13 the
branches are functionalized under the *same* FunctionalTensorMode, so an effectful op in a branch
reads and advances the outer token map; no token is an operand or an output of the cond, and the
branch's sub-tracer, which has never seen the outer token, records it as a ``_tensor_constant``
attribute (``docs/notes/control_flow/README.md`` section 1). ``"threaded"`` models the upstream fix
(pytorch/pytorch#185116, in no release): the tokens the branches use are leading operands and
leading outputs of both branches.

Simplifications:
1. No dynamo. torch's ``cond`` compiles a call of ``cond_op`` with dynamo, which speculates both
   branches (rejecting, for instance, an output that aliases an operand); refimpl calls
   ``cond_op`` with branches whose outputs are pytree-flattened to a tuple (what dynamo's
   subgraphs return) and unflattens the result. Output aliasing is checked by the oracle's
   program loader, not here.
2. No symbolic shapes: branches whose outputs differ in shape (torch merges them into unbacked
   SymInts) raise ``NotImplementedError``; int outputs must be equal.
3. No autograd through ``cond``: with grad mode on and an operand that requires grad,
   ``NotImplementedError`` (torch builds a ``CondAutogradOp``). No auto-functionalization of
   branches that mutate their inputs, no vmap rule.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from refimpl import _pytree as pytree
from refimpl._higher_order_ops.token_threading import functionalize_with_tokens
from refimpl._higher_order_ops.utils import unique_graph_id, validate_subgraph_args_types
from refimpl.aten import OPS
from refimpl.dispatch_key import DispatchKey
from refimpl.fake_tensor import FakeTensorMode
from refimpl.mode_stack import _get_current_dispatch_mode
from refimpl.operator import HigherOrderOperator
from refimpl.proxy_tensor import ProxyTorchDispatchMode, reenter_make_fx, track_tensor_tree
from refimpl.tensor import Tensor

__all__ = ["CondOp", "CondOpArgsMismatchError", "cond", "cond_op"]


class CondOpArgsMismatchError(RuntimeError):
    """``torch._dynamo.exc.CondOpArgsMismatchError``: the branches return different counts."""


class CondOp(HigherOrderOperator):
    def __init__(self) -> None:
        super().__init__("cond")

    def __call__(self, pred: Any, true_fn: Callable, false_fn: Callable,
                 operands: tuple | list) -> Any:
        validate_subgraph_args_types(operands)
        return super().__call__(pred, true_fn, false_fn, operands)


cond_op = CondOp()


def cond(pred: Any, true_fn: Callable, false_fn: Callable, operands: tuple | list = ()) -> Any:
    """``true_fn(*operands)`` if ``pred`` else ``false_fn(*operands)``, as one operator (CF-1)."""
    if isinstance(pred, (bool, int, float)):
        # The eager case of a Python constant: run the branch.
        return true_fn(*operands) if pred else false_fn(*operands)
    _validate_input(pred, true_fn, false_fn, operands)
    specs: list[Any] = []

    def flat(fn: Callable) -> Callable:
        def flat_fn(*args: Any) -> tuple:
            leaves, spec = pytree.tree_flatten(fn(*args))
            specs.append(spec)
            return tuple(leaves)

        return flat_fn

    out = cond_op(pred, flat(true_fn), flat(false_fn), tuple(operands))
    return pytree.tree_unflatten(list(out), specs[0])


def _validate_input(pred: Any, true_fn: Any, false_fn: Any, operands: Any) -> None:
    if not isinstance(pred, (bool, Tensor)):
        raise RuntimeError(f"Expected pred to be bool or tensor, but got {pred}.")
    if isinstance(pred, Tensor) and pred.numel() != 1:
        raise RuntimeError(f"Expected pred to be bool or single-element tensor, but got {pred}.")
    if not callable(true_fn) or not callable(false_fn):
        raise RuntimeError("Expect both branches to be callable.")
    if not isinstance(operands, (tuple, list)) or any(
            not isinstance(t, Tensor) for t in pytree.tree_leaves(list(operands))):
        raise RuntimeError(
            "Expect operands to be a tuple of possibly nested dict/list/tuple that only "
            f"consists of tensor leaves, but got {operands}.")


@cond_op.py_impl(DispatchKey.CompositeExplicitAutograd)
def cond_op_dense(pred: Any, true_fn: Callable, false_fn: Callable, operands: tuple) -> Any:
    """Run the branch ``pred`` picks (CF-2)."""
    if not all(isinstance(o, (Tensor, int)) for o in operands):
        raise AssertionError(
            f"Dense implementation operands must be a list of tensors and ints {operands}")
    if _get_current_dispatch_mode() is not None:
        raise AssertionError("Mode should never be enabled for CPU/CUDA key")
    if pred:
        return true_fn(*operands)
    return false_fn(*operands)


@cond_op.py_autograd_impl
def cond_autograd(pred: Any, true_fn: Callable, false_fn: Callable, operands: tuple) -> Any:
    raise NotImplementedError(
        "refimpl does not model autograd through cond (torch's CondAutogradOp): call it under "
        "no_grad or with operands that do not require grad")


def trace_cond(proxy_mode: ProxyTorchDispatchMode, func_overload: CondOp, pred: Any,
               true_fn: Callable, false_fn: Callable, operands: tuple) -> Any:
    """Each branch becomes a subgraph (``true_graph_<i>``, ``false_graph_<i>``) read with
    ``get_attr``; the cond node takes them and the operands (CF-3)."""
    if not isinstance(operands, (list, tuple)):
        raise AssertionError(
            f"Cond operands must be a list or tuple of tensors and SymInts {operands}")
    true_graph = reenter_make_fx(true_fn)(*operands)
    false_graph = reenter_make_fx(false_fn)(*operands)
    n_true = len(pytree.tree_leaves(true_graph.graph.output_node().args))
    n_false = len(pytree.tree_leaves(false_graph.graph.output_node().args))
    if n_true != n_false:
        raise CondOpArgsMismatchError(
            f"Expected to return same number of outputs but got:"
            f"\n  true branch returns {n_true} item(s)"
            f"\n  false branch returns {n_false} item(s)")
    tracer = proxy_mode.tracer
    i, true_name = unique_graph_id(tracer.root, prefix="true_graph")
    false_name = f"false_graph_{i}"
    if hasattr(tracer.root, false_name):
        raise AssertionError(f"proxy_mode.tracer.root already has attribute {false_name}")
    tracer.root.register_module(true_name, true_graph)
    tracer.root.register_module(false_name, false_graph)
    args = (pred, true_graph, false_graph, operands)
    proxy_args = pytree.tree_map(tracer.unwrap_proxy, args)
    out_proxy = tracer.create_proxy("call_function", func_overload, proxy_args, {})
    out = func_overload(pred, true_graph, false_graph, operands)
    return track_tensor_tree(out, out_proxy, constant=None, tracer=tracer)


@cond_op.py_impl(ProxyTorchDispatchMode)
def inner(mode: ProxyTorchDispatchMode, pred: Any, true_fn: Callable, false_fn: Callable,
          operands: tuple) -> Any:
    return trace_cond(mode, cond_op, pred, true_fn, false_fn, operands)


@cond_op.py_impl(FakeTensorMode)
def cond_fake_tensor_mode(mode: FakeTensorMode, pred: Any, true_fn: Callable,
                          false_fn: Callable, operands: tuple) -> Any:
    """Both branches run on fake tensors; their outputs are merged (CF-4)."""
    with mode:
        flat_true_outs, true_out_spec = pytree.tree_flatten(true_fn(*operands))
        flat_false_outs, false_out_spec = pytree.tree_flatten(false_fn(*operands))
        if true_out_spec != false_out_spec:
            raise RuntimeError(
                "Unmatched output spec from torch.cond branches: "
                f"true branch tree_spec {true_out_spec} vs false branch tree_spec "
                f"{false_out_spec}.")
    merged_outs = [_merge_output(a, b, mode) for a, b in zip(flat_true_outs, flat_false_outs)]
    return pytree.tree_unflatten(merged_outs, true_out_spec)


def _merge_output(a: Any, b: Any, mode: FakeTensorMode) -> Any:
    if a is None or b is None:
        if not (a is None and b is None):
            raise AssertionError(f"expected both a and b to be None, got a={a}, b={b}")
        return None
    if type(a) is int and type(b) is int:
        if a == b:
            return a
        raise NotImplementedError(
            f"refimpl has no unbacked SymInts: cond branches return the ints {a} and {b}")
    if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
        raise AssertionError(
            f"expected both a and b to be FakeTensor, got a={type(a)}, b={type(b)}")
    prefix = "When merging two branches' output in torch.cond, "
    for attr, lattr, rattr in (("dtype", a.dtype, b.dtype), ("device", a.device, b.device),
                               ("dim", a.dim(), b.dim())):
        if lattr != rattr:
            raise RuntimeError(f"{prefix} expected same {attr} but got {lattr} and {rattr}.")
    if tuple(a.shape) != tuple(b.shape):
        raise NotImplementedError(
            f"refimpl has no unbacked SymInts: cond branches return tensors of shapes "
            f"{tuple(a.shape)} and {tuple(b.shape)}, which torch merges into symbolic sizes")
    with mode:
        return OPS["aten::empty.memory_format"](list(a.shape), dtype=a.dtype, device=a.device)


@cond_op.py_functionalize_impl
def cond_func(ctx: Any, pred: Any, true_fn: Callable, false_fn: Callable,
              inputs: tuple) -> Any:
    """Functionalize both branches and re-emit the cond one level down (CF-6)."""
    unwrapped_inputs = ctx.unwrap_tensors(inputs)
    unwrapped_pred = ctx.unwrap_tensors(pred)
    with ctx.redispatch_to_next():
        (functional_true, functional_false), tokens = functionalize_with_tokens(
            ctx, (true_fn, false_fn), unwrapped_inputs)
        cond_return = cond_op(unwrapped_pred, functional_true, functional_false,
                              (*tokens.operands, *unwrapped_inputs))
        return ctx.wrap_tensors(tokens.take_outputs(cond_return))
