"""The autograd kernels: what runs at the ``Autograd`` dispatch keys of each modelled op.

Models: torch's generated ``VariableType`` kernels (``torch/csrc/autograd/generated/
VariableType_*.cpp``, from ``tools/autograd/gen_variable_type.py``) and the helpers they use
(``compute_requires_grad``, ``collect_next_edges``, ``set_history``, ``rebase_history``,
``check_inplace``, ``increment_version``) at torch 2.13.0.

A kernel makes the op's node when grad mode is on and a tensor input requires grad (its next
edges: each tensor input's ``grad_fn`` and output number, its ``AccumulateGrad`` when it is a
leaf that requires grad, else none), saves what the formula needs, runs the op below autograd
(``AutoDispatchBelowADInplaceOrView``: the autograd and ADInplaceOrView keys excluded, so
modes, functionalization and the backends never record history), and sets the result's history.
An in-place op first refuses a leaf that requires grad, bumps its tensor's version, and rebases
its history onto the new node; an op with a formula that reads ``self`` saves a clone of the
original ``self`` first.
Spec: AG-3, AG-5, AG-8.

Simplifications:
1. No forward-mode AD, no ``CopySlices``: an in-place op that would record history on a view
   raises NotImplementedError.
2. Only floating-point outputs get a history (``isDifferentiableType``); refimpl has no complex
   dtypes.
"""

from __future__ import annotations

from typing import Any

from refimpl.autograd.functions import FORMULAS, NOT_IMPLEMENTED, make_node
from refimpl.autograd.grad_mode import _tls as _grad_tls
from refimpl.autograd.graph import AccumulateGrad, Node
from refimpl.autograd.variable import meta_of
from refimpl.dispatch_key import DispatchKey, DispatchKeySet, _tls
from refimpl.operator import OpOverload
from refimpl.tensor import Tensor

__all__ = ["gradient_edge", "register_autograd_kernels"]

K = DispatchKey
_BELOW_AUTOGRAD = DispatchKeySet(
    [K.AutogradOther, K.AutogradCPU, K.AutogradCUDA, K.AutogradMeta, K.ADInplaceOrView]).repr_
# In-place ops whose formula reads ``self``: torch saves ``original_self = self.clone()``.
_SAVES_ORIGINAL_SELF = frozenset({"aten::mul_.Tensor", "aten::abs_"})
_VIEW_OPS = frozenset({"aten::view", "aten::expand", "aten::unsqueeze", "aten::squeeze.dim",
                       "aten::lift_fresh"})


def below_autograd(op: OpOverload, args: tuple, kwargs: dict) -> Any:
    """Run ``op`` with the autograd keys excluded (``at::AutoDispatchBelowADInplaceOrView``)."""
    saved = _tls.excluded
    _tls.excluded = saved | _BELOW_AUTOGRAD
    try:
        return op(*args, **kwargs)
    finally:
        _tls.excluded = saved


def gradient_edge(t: Any) -> tuple[Node | None, int]:
    """``impl::gradient_edge``: where a grad for ``t`` goes."""
    meta = t._autograd_meta if isinstance(t, Tensor) else None
    if meta is None:
        return (None, 0)
    if meta.grad_fn is not None:
        return (meta.grad_fn, meta.output_nr)
    if meta.requires_grad:
        if meta.grad_accumulator is None:
            meta.grad_accumulator = AccumulateGrad(t)
        return (meta.grad_accumulator, 0)
    return (None, 0)


def _tensor_slots(op: OpOverload) -> tuple[tuple[int, str], ...]:
    """The positions and names of the op's ``Tensor`` parameters, in schema order."""
    return tuple((i, a.name) for i, a in enumerate(op._schema.arguments)
                 if str(a.type) in ("Tensor", "Tensor?"))


def _tensor_inputs(slots: tuple, args: tuple, kwargs: dict) -> list[Any]:
    """The values of the op's ``Tensor`` parameters (a number given for one is kept: it has no
    edge)."""
    n = len(args)
    return [args[i] if i < n else kwargs.get(name) for i, name in slots]


def _needs_grad(slots: tuple, args: tuple, kwargs: dict) -> bool:
    """``compute_requires_grad`` without building the input list (the hot path)."""
    n = len(args)
    for i, name in slots:
        t = args[i] if i < n else kwargs.get(name)
        meta = getattr(t, "_autograd_meta", None)
        if meta is not None and (meta.requires_grad or meta.grad_fn is not None):
            return True
    return False


def _set_history(out: Any, node: Node) -> None:
    outs = out if isinstance(out, (tuple, list)) else (out,)
    for i, t in enumerate(outs):
        if isinstance(t, Tensor) and t.dtype.is_floating_point:
            meta = meta_of(t)
            meta.grad_fn = node
            meta.output_nr = i
            meta.requires_grad = False
        node.output_meta.append((t.shape, t.dtype, t.device) if isinstance(t, Tensor)
                                else ((), None, None))


def _functional_kernel(op: OpOverload, name: str):
    view = name in _VIEW_OPS
    slots = _tensor_slots(op)
    tls = _tls

    def kernel(*args: Any, **kwargs: Any) -> Any:
        node = None
        if _grad_tls.enabled and _needs_grad(slots, args, kwargs):
            inputs = _tensor_inputs(slots, args, kwargs)
            node = make_node(name, tuple(gradient_edge(t) for t in inputs))
            node.setup(args, kwargs, None)
        saved = tls.excluded  # below_autograd, inlined: every call of the op passes here
        tls.excluded = saved | _BELOW_AUTOGRAD
        try:
            out = op(*args, **kwargs)
        finally:
            tls.excluded = saved
        if view and isinstance(out, Tensor):
            meta_of(out).is_view = True
        if node is not None:
            _set_history(out, node)
        return out

    return kernel


def _inplace_kernel(op: OpOverload, name: str):
    slots = _tensor_slots(op)

    def kernel(*args: Any, **kwargs: Any) -> Any:
        inputs = _tensor_inputs(slots, args, kwargs)
        self_ = inputs[0]
        node = None
        if _grad_tls.enabled and _needs_grad(slots, args, kwargs):
            meta = self_._autograd_meta
            if meta is not None and meta.grad_fn is None and meta.requires_grad:
                raise RuntimeError("a leaf Variable that requires grad is being used in an "
                                   "in-place operation.")
            if meta is not None and meta.is_view:
                raise NotImplementedError(
                    f"refimpl models no in-place op recording history on a view ({name}: "
                    f"torch's CopySlices; refimpl/autograd/variable_type.py, Simplification 1)")
            node = make_node(name, tuple(gradient_edge(t) for t in inputs))
            setup_args = args
            if name in _SAVES_ORIGINAL_SELF and _reads_original_self(name, node):
                clone = below_autograd(_clone(), (self_,), {})
                setup_args = (clone, *args[1:])
            node.setup(setup_args, kwargs, None)
        out = below_autograd(op, args, kwargs)
        meta_of(self_).version += 1  # increment_version (torch: in ADInplaceOrView)
        if node is not None:
            _set_history(self_, node)
        return out

    return kernel


def _reads_original_self(name: str, node: Node) -> bool:
    """``mul_`` reads ``self`` for ``other``'s grad; ``abs_`` for its own."""
    return node.should_compute_output(1) if name == "aten::mul_.Tensor" else True


def _clone() -> OpOverload:
    from refimpl.aten import OPS  # noqa: PLC0415

    return OPS["aten::clone"]


def register_autograd_kernels(ops: dict[str, OpOverload]) -> None:
    """Put a kernel at ``Autograd`` for every op with a formula (or a NotImplemented node)."""
    for name in (*FORMULAS, *NOT_IMPLEMENTED):
        op = ops[name]
        schema = op._schema
        inplace = bool(schema.arguments) and schema.arguments[0].alias_info is not None \
            and schema.arguments[0].alias_info.is_write
        kernel = _inplace_kernel(op, name) if inplace else _functional_kernel(op, name)
        kernel.__name__ = f"VariableType.{op.__name__.split('.')[0]}"  # torch's VariableType::sin
        op.py_impl(K.Autograd)(kernel)
