"""``torch.autograd.Function``: a forward and a backward written in Python, one node per call.

Models: ``torch/autograd/function.py`` (``Function``, ``FunctionCtx``: ``save_for_backward``,
``saved_tensors``, ``needs_input_grad``) and ``torch/csrc/autograd/python_function.cpp``
(``THPFunction_apply``: the node is made, so takes its sequence number, before ``forward`` runs
with grad mode off; ``PyNode::apply``: an undefined grad of a tensor output is materialized as
zeros of that output's shape and dtype unless ``ctx.set_materialize_grads(False)``, so the
backward runs even when no grad reaches the node; ``_process_backward``: extra ``None`` grads
are dropped, then the count must match and a non-tensor input must get ``None``) at torch
2.13.0.
Spec: AG-10.

Simplifications:
1. No ``mark_dirty``, ``vmap`` or
   ``setup_context`` staticmethod on ``Function`` itself (``custom_op``'s ``register_autograd``
   calls its own ``setup_context`` from ``forward``, as upstream's generated Function does).
2. Outputs are a tensor or a tuple of tensors (and non-tensors, which get no history).
"""

from __future__ import annotations

from typing import Any

from refimpl.autograd.grad_mode import _tls as _grad_tls
from refimpl.autograd.grad_mode import no_grad
from refimpl.autograd.graph import Node
from refimpl.tensor import Tensor

__all__ = ["Function", "FunctionCtx"]


class FunctionCtx(Node):
    """The ``ctx`` of ``forward``/``backward``: also the call's node (``BackwardCFunction``)."""

    _fn_cls: type[Function]

    def __init__(self, next_edges: tuple, needs_input_grad: tuple[bool, ...],
                 is_variable_input: tuple[bool, ...]) -> None:
        super().__init__(next_edges)
        self.needs_input_grad = needs_input_grad
        self._is_variable_input = is_variable_input
        self._to_save: tuple = ()
        self.materialize_grads = True
        self._non_differentiable: list[Tensor] = []

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value

    def mark_non_differentiable(self, *args: Tensor) -> None:
        """These outputs get no history (they do not require grad); their grads reach
        ``backward`` as zeros, or ``None`` without grad materialization."""
        self._non_differentiable.extend(args)

    def name(self) -> str:
        return f"{self._fn_cls.__name__}Backward"

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        self._to_save = tensors

    @property
    def saved_tensors(self) -> tuple:
        return tuple(s.unpack() if s is not None else None for s in self._saved_for_backward)

    def _save_now(self) -> None:
        self._saved_for_backward = [self.save(t) if isinstance(t, Tensor) else None
                                    for t in self._to_save]

    def apply(self, grads: list[Tensor | None]) -> list[Tensor | None]:
        if self.materialize_grads:
            grads = [_zeros(*meta) if g is None and meta[1] is not None else g
                     for g, meta in zip(grads, self.output_meta)]
        result = self._fn_cls.backward(self, *grads)
        if not isinstance(result, tuple):
            result = (result,)
        n_inputs = len(self._is_variable_input)
        if len(result) > n_inputs and all(r is None for r in result[n_inputs:]):
            result = result[:n_inputs]
        if len(result) != n_inputs:
            raise RuntimeError(f"function {self.name()} returned an incorrect number of "
                               f"gradients (expected {n_inputs}, got {len(result)})")
        out: list[Tensor | None] = []
        for i, (r, is_variable) in enumerate(zip(result, self._is_variable_input)):
            if r is None:
                if is_variable:
                    out.append(None)
                continue
            if not is_variable:
                raise RuntimeError(f"function {self.name()} returned a gradient different than "
                                   f"None at position {i + 1}, but the corresponding forward "
                                   f"input was not a Variable")
            out.append(r)
        return out


def _view_as_self_with_no_grad(t: Any) -> Any:
    if not isinstance(t, Tensor):
        return t
    from refimpl.aten import OPS  # noqa: PLC0415 - aten imports autograd

    with no_grad():
        return OPS["aten::view"](t, list(t.shape))


def _zeros(shape: tuple, dtype: Any, device: Any) -> Tensor:
    """``VariableInfo::zeros``: the materialized grad of a tensor output, with the output's
    options (dtype, layout, device; a traced call spells all three, as torch's)."""
    from refimpl.aten import OPS  # noqa: PLC0415 - aten imports autograd
    from refimpl.backend import device as backend_device  # noqa: PLC0415
    from refimpl.dtype import strided  # noqa: PLC0415

    return OPS["aten::zeros"](list(shape), dtype=dtype, layout=strided,
                              device=backend_device(device))


_CTX_CLASSES: dict[type, type[FunctionCtx]] = {}


def _ctx_class(cls: type[Function]) -> type[FunctionCtx]:
    """The node class of a Function (torch's ``<Name>Backward``), made once per Function."""
    ctx_cls = _CTX_CLASSES.get(cls)
    if ctx_cls is None:
        ctx_cls = _CTX_CLASSES[cls] = type(f"{cls.__name__}Backward", (FunctionCtx,),
                                           {"_fn_cls": cls})
    return ctx_cls


class Function:
    """Subclass with ``forward(ctx, *args)`` and ``backward(ctx, *grads)`` staticmethods; call
    ``apply``."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> Any:
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward mode "
                                  "AD.")

    @classmethod
    def apply(cls, *args: Any) -> Any:
        from refimpl.autograd.variable import meta_of, requires_grad  # noqa: PLC0415
        from refimpl.autograd.variable_type import gradient_edge  # noqa: PLC0415

        is_variable = tuple(isinstance(a, Tensor) for a in args)
        needs = tuple(isinstance(a, Tensor) and requires_grad(a) for a in args)
        executable = _grad_tls.enabled and any(needs)
        edges = tuple(gradient_edge(a) for a, v in zip(args, is_variable) if v)
        ctx = _ctx_class(cls)(edges, needs, is_variable)
        with no_grad():
            outputs = cls.forward(ctx, *args)
        if not executable:
            return outputs
        ctx._save_now()
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        # ``_wrap_outputs``: an output that is an input becomes a view of it, so the input keeps
        # its own history (a leaf stays a leaf).
        outs = tuple(_view_as_self_with_no_grad(t) if any(t is a for a in args) else t
                     for t in outs)
        outputs = outs[0] if single else outs
        for i, t in enumerate(outs):
            if isinstance(t, Tensor) and any(t is n for n in ctx._non_differentiable):
                ctx.output_meta.append((t.shape, t.dtype, t.device))
            elif isinstance(t, Tensor):
                meta = meta_of(t)
                meta.grad_fn, meta.output_nr, meta.requires_grad = ctx, i, False
                ctx.output_meta.append((t.shape, t.dtype, t.device))
            else:
                ctx.output_meta.append(((), None, None))
        return outputs
