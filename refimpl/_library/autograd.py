"""The autograd kernel every custom op gets, and ``register_autograd``'s formula in it.

Models: ``torch/_library/autograd.py`` (``make_autograd_impl``: a generated
``autograd.Function`` named ``GeneratedBackwardFor_<ns>_<op>_<overload>`` whose forward
redispatches below autograd and calls ``setup_context``, whose backward calls the registered
backward or raises "Trying to backward through <op> but no autograd formula was registered.")
at torch 2.13.0.
Spec: AG-10. Profile: ``custom_op_backward_count_check`` (torch 2.14 checks the number of grads
the registered backward returns, with its own message).

Simplifications:
1. The keyset argument (``with_keyset=True``) is not passed: the kernel calls the op again with
   the autograd keys excluded, which reaches the same kernel.
2. No ``Tensor[]`` inputs or outputs with autograd (``supports_tensorlist``): a call with a list
   of tensors that require grad raises NotImplementedError.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from refimpl.autograd.function import Function
from refimpl.autograd.grad_mode import _tls as _grad_tls
from refimpl.autograd.variable import requires_grad
from refimpl.autograd.variable_type import below_autograd
from refimpl.operator import OpOverload
from refimpl.profiles import get_profile
from refimpl.tensor import Tensor

__all__ = ["Info", "make_autograd_impl"]


@dataclass
class Info:
    _backward_fn: Callable | None = None
    _setup_context_fn: Callable | None = None


def _fill_defaults(op: OpOverload, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """``utils.fill_defaults``: every positional parameter given, defaults filled in."""
    out = list(args)
    kwonly = dict(kwargs)
    for i, arg in enumerate(op._schema.arguments):
        if arg.kwarg_only:
            if arg.name not in kwonly and arg.has_default_value():
                kwonly[arg.name] = arg.default_value
        elif i >= len(out):
            out.append(kwargs.get(arg.name, arg.default_value if arg.has_default_value() else None))
            kwonly.pop(arg.name, None)
    return tuple(out), kwonly


def _check_count(op: OpOverload, result: Any, n_inputs: int, n_positional: int) -> None:
    """torch 2.14's check of a backward's grads (profile ``custom_op_backward_count_check``)."""
    actual = len(result) if isinstance(result, tuple) else 1
    if actual not in (n_inputs, n_positional):
        expected = str(n_inputs) if n_inputs == n_positional else f"{n_inputs} or {n_positional}"
        raise RuntimeError(
            f"The backward formula for {op} returned an incorrect number of gradients (expected "
            f"{expected}, got {actual}). Expected one gradient for each forward input, or for "
            f"each positional input to the operator. Use None for inputs that do not require a "
            f"gradient.")
    if isinstance(result, tuple) and any(g is not None for g in result[n_inputs:]):
        raise RuntimeError(
            f"The backward formula for {op} returned a non-None gradient for an input that was "
            f"not passed to the operator. Defaulted inputs that were not passed through autograd "
            f"must return None.")


def make_autograd_impl(op: OpOverload, info: Info) -> Callable:
    ns, rest = op._schema.name.split("::")
    name = f"GeneratedBackwardFor_{ns}_{rest}_{op._overloadname}"
    has_kwarg_only = any(a.kwarg_only for a in op._schema.arguments)
    num_positional = sum(not a.kwarg_only for a in op._schema.arguments)

    def forward(ctx: Any, *args: Any) -> Any:
        kwargs = args[-1]
        args = args[:-1]
        result = below_autograd(op, args, kwargs)
        if info._setup_context_fn:
            filled, kwonly = _fill_defaults(op, args, kwargs)
            if has_kwarg_only:
                info._setup_context_fn(ctx=ctx, inputs=filled, keyword_only_inputs=kwonly,
                                       output=result)
            else:
                info._setup_context_fn(ctx=ctx, inputs=filled, output=result)
        return result

    def backward(ctx: Any, *grads: Any) -> Any:
        if info._backward_fn:
            previous = ctx.needs_input_grad
            try:
                ctx.needs_input_grad = previous[:-1]
                result = info._backward_fn(ctx, *grads)
            finally:
                ctx.needs_input_grad = previous
            if get_profile().custom_op_backward_count_check:
                _check_count(op, result, len(previous) - 1, num_positional)
            return (*result, None) if isinstance(result, tuple) else (result, None)
        raise RuntimeError(f"Trying to backward through {op} but no autograd formula was "
                           f"registered. Please use register_autograd to add one.")

    generated = type(name, (Function,), {"forward": staticmethod(forward),
                                         "backward": staticmethod(backward)})

    def autograd_impl(*args: Any, **kwargs: Any) -> Any:
        if _grad_tls.enabled and any(isinstance(a, Tensor) and requires_grad(a) for a in args):
            return generated.apply(*args, kwargs)
        if _grad_tls.enabled and any(isinstance(a, (list, tuple)) and any(
                isinstance(t, Tensor) and requires_grad(t) for t in a) for a in args):
            raise NotImplementedError(f"refimpl models no autograd through the Tensor[] "
                                      f"arguments of a custom op ({op})")
        return below_autograd(op, args, kwargs)

    autograd_impl.__name__ = "autograd_impl"
    return autograd_impl
