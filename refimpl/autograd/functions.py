"""The backward nodes of the modelled ops: torch's derivative formulas.

Models: ``tools/autograd/derivatives.yaml`` and the nodes generated from it
(``torch/csrc/autograd/generated/Functions.cpp``: ``AddBackward0``, ``MulBackward0``...), the
helpers they call (``FunctionsManual.cpp``: ``maybe_multiply``, ``mul_tensor_backward``,
``sum_backward``, ``_to_copy_backward``) and ``CopyBackwards`` / ``NotImplemented``
(``torch/csrc/autograd/functions/basic_ops.cpp``, ``tensor.cpp``) at torch 2.13.0. Each
formula calls refimpl's ops, so a backward traced under ``make_fx`` records torch's nodes
(observed on 2.13.0: ``tests/refimpl/test_autograd.py`` holds the graphs).
Spec: AG-3, AG-9.

A node computes the grads of its inputs last input first (``MulBackward0`` computes ``other``'s
grad, then ``self``'s: observed in torch's traced backward), and only those a next edge needs
(``should_compute_output``). ``handle_r_to_c`` and ``conj`` are no-ops on real tensors, which
are the only ones refimpl has.

Simplifications:
1. ``SgnBackward0`` returns ``zeros_like(self)``: torch's formula returns
   ``_efficientzerotensor`` for a real input and saves the result (a ``detach`` in traces);
   the values are the same, a traced graph is not.
"""

from __future__ import annotations

from typing import Any

from refimpl.autograd.graph import Node
from refimpl.dtype import contiguous_format, strided
from refimpl.tensor import Tensor

__all__ = ["FORMULAS", "NotImplementedNode", "make_node"]


def _ops() -> dict:
    from refimpl.aten import OPS  # noqa: PLC0415 - aten imports the autograd package

    return OPS


def _is_one(s: Any) -> bool:
    """``maybe_multiply``'s test: the Scalar is the integer or float 1."""
    return type(s) is not bool and s == 1


def _maybe_multiply(t: Tensor, s: Any) -> Tensor:
    return t if _is_one(s) else _ops()["aten::mul.Scalar"](t, s)


def _to_options(grad: Tensor, dtype: Any, device: str) -> Tensor:
    """``grad.to(options)``: the grad itself when nothing changes, else ``_to_copy`` with the
    options spelled out."""
    if grad.dtype is dtype and grad.device == device:
        return grad
    from refimpl.backend import device as backend_device  # noqa: PLC0415

    return _ops()["aten::_to_copy"](grad, dtype=dtype, layout=strided,
                                    device=backend_device(device))


class _Formula(Node):
    """A node made by ``make_node``: ``setup`` saves what the formula needs; ``grads`` returns
    one grad per tensor input of the op, in schema order."""

    def setup(self, args: tuple, kwargs: dict, out: Any) -> None:
        pass

    def grads(self, grad: Tensor) -> list[Tensor | None]:
        raise NotImplementedError

    def apply(self, grads: list[Tensor | None]) -> list[Tensor | None]:
        grad = grads[0]
        if grad is None:
            return [None] * len(self._next_edges)
        return self.grads(grad)


class _SavesSelf(_Formula):
    """A formula that reads the op's ``self``: saved with its version."""

    def setup(self, args, kwargs, out):
        self.self_ = self.save(args[0])


class _SavesSizes(_Formula):
    """A formula that needs only ``self``'s sizes."""

    def setup(self, args, kwargs, out):
        self.self_sizes = list(args[0].shape)


def _saved(node: Node, value: Any) -> Any:
    """Save a tensor argument (a number for a Tensor parameter is kept as it is)."""
    return node.save(value) if isinstance(value, Tensor) else value


def _unpack(value: Any) -> Any:
    return value.unpack() if hasattr(value, "unpack") else value


class AddBackward0(_Formula):
    _name = "AddBackward0"

    def setup(self, args, kwargs, out):
        self.alpha = args[2] if len(args) > 2 else kwargs.get("alpha", 1)

    def grads(self, grad):
        other = _maybe_multiply(grad, self.alpha) if self.should_compute_output(1) else None
        return [grad if self.should_compute_output(0) else None, other]


class AddBackward1(_Formula):  # add.Scalar
    _name = "AddBackward1"

    def grads(self, grad):
        return [grad]


class SubBackward0(_Formula):
    _name = "SubBackward0"

    def setup(self, args, kwargs, out):
        self.alpha = args[2] if len(args) > 2 else kwargs.get("alpha", 1)

    def grads(self, grad):
        other = None
        if self.should_compute_output(1):
            other = _maybe_multiply(_ops()["aten::neg"](grad), self.alpha)
        return [grad if self.should_compute_output(0) else None, other]


class SubBackward1(_Formula):  # sub.Scalar
    _name = "SubBackward1"

    def grads(self, grad):
        return [grad]


class MulBackward0(_Formula):
    _name = "MulBackward0"

    def setup(self, args, kwargs, out):
        self_, other = args[0], args[1]
        # The codegen saves `self` only for `other`'s grad and `other` only for `self`'s; an
        # in-place mul_ saves a clone of the original self (set by the kernel, `original_self`).
        self.other_ = _saved(self, other) if self.should_compute_output(0) else None
        self.self_ = _saved(self, self_) if self.should_compute_output(1) else None

    def grads(self, grad):
        mul = _ops()["aten::mul.Tensor"]
        other = mul(grad, _unpack(self.self_)) if self.should_compute_output(1) else None
        self_ = mul(grad, _unpack(self.other_)) if self.should_compute_output(0) else None
        return [self_, other]


class MulBackward1(_Formula):  # mul.Scalar
    _name = "MulBackward1"

    def setup(self, args, kwargs, out):
        self.other = args[1]

    def grads(self, grad):
        return [_ops()["aten::mul.Scalar"](grad, self.other)]


class SinBackward0(_SavesSelf):
    _name = "SinBackward0"

    def grads(self, grad):
        ops = _ops()
        return [ops["aten::mul.Tensor"](grad, ops["aten::cos"](self.self_.unpack()))]


class CosBackward0(_SavesSelf):
    _name = "CosBackward0"

    def grads(self, grad):
        ops = _ops()
        neg_sin = ops["aten::neg"](ops["aten::sin"](self.self_.unpack()))
        return [ops["aten::mul.Tensor"](grad, neg_sin)]


class NegBackward0(_Formula):
    _name = "NegBackward0"

    def grads(self, grad):
        return [_ops()["aten::neg"](grad)]


class AbsBackward0(_SavesSelf):
    _name = "AbsBackward0"

    def grads(self, grad):
        ops = _ops()
        return [ops["aten::mul.Tensor"](grad, ops["aten::sgn"](self.self_.unpack()))]


class SgnBackward0(_SavesSelf):
    _name = "SgnBackward0"

    def grads(self, grad):
        return [_ops()["aten::zeros_like"](self.self_.unpack())]  # Simplification 1


class _PassThrough(_Formula):
    def grads(self, grad):
        return [grad]


class CloneBackward0(_PassThrough):
    _name = "CloneBackward0"


class LiftFreshBackward0(_PassThrough):
    _name = "LiftFreshBackward0"


class LiftFreshBackward0_copy(_PassThrough):  # noqa: N801 - torch's name
    _name = "LiftFreshBackward0_copy"


class ToCopyBackward0(_Formula):
    _name = "ToCopyBackward0"

    def setup(self, args, kwargs, out):
        self.self_dtype, self.self_device = args[0].dtype, args[0].device

    def grads(self, grad):
        return [_to_options(grad, self.self_dtype, self.self_device)]


class ViewBackward0(_SavesSizes):
    _name = "ViewBackward0"

    def grads(self, grad):  # grad.reshape(self.sizes()): a view of a contiguous grad
        return [_ops()["aten::view"](grad, self.self_sizes)]


class UnsqueezeBackward0(_Formula):
    _name = "UnsqueezeBackward0"

    def setup(self, args, kwargs, out):
        self.dim = args[1]

    def grads(self, grad):  # grad.squeeze(dim)
        return [_ops()["aten::squeeze.dim"](grad, self.dim)]


class SqueezeBackward1(_SavesSizes):  # squeeze.dim: unsqueeze_to(grad, dim, self.sizes())
    _name = "SqueezeBackward1"

    def setup(self, args, kwargs, out):
        super().setup(args, kwargs, out)
        self.dim = args[1]

    def grads(self, grad):
        n = len(self.self_sizes)
        dim = self.dim % n if n else 0
        if n and self.self_sizes[dim] == 1:
            return [_ops()["aten::unsqueeze"](grad, dim)]
        return [grad]


class ExpandBackward0(_Formula):
    _name = "ExpandBackward0"

    def setup(self, args, kwargs, out):
        self.self_sizes = tuple(args[0].shape)

    def grads(self, grad):
        from refimpl.autograd.engine import _sum_to  # noqa: PLC0415

        return [_sum_to(grad, self.self_sizes)]


class SumBackward0(_SavesSizes):
    _name = "SumBackward0"

    def grads(self, grad):
        return [_ops()["aten::expand"](grad, self.self_sizes)]


class SumBackward1(_Formula):  # sum.dim_IntList: sum_backward(grad, sizes, dim, keepdim)
    _name = "SumBackward1"

    def setup(self, args, kwargs, out):
        self.self_sizes = list(args[0].shape)
        self.dim = args[1]
        self.keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)

    def grads(self, grad):
        ops = _ops()
        n = len(self.self_sizes)
        if not self.keepdim and n and self.dim:
            # unsqueeze_multiple: one dimension is unsqueezed as given (negative stays
            # negative); several are wrapped and put back in increasing order.
            dims = [self.dim[0]] if len(self.dim) == 1 else sorted(d % n for d in self.dim)
            for d in dims:
                grad = ops["aten::unsqueeze"](grad, d)
        return [ops["aten::expand"](grad, self.self_sizes)]


class CopyBackwards(_Formula):
    _name = "torch::autograd::CopyBackwards"

    def setup(self, args, kwargs, out):
        src = args[1]  # a number is a wrapped number: it needs no grad, output 1 is never computed
        self.src_dtype, self.src_device = (src.dtype, src.device) if isinstance(src, Tensor) \
            else (None, None)

    def grads(self, grad):
        self_ = None
        if self.should_compute_output(0):
            self_ = _ops()["aten::zeros_like"](grad, memory_format=contiguous_format)
        src = _to_options(grad, self.src_dtype, self.src_device) \
            if self.should_compute_output(1) else None
        return [self_, src]


class NotImplementedNode(_Formula):
    """``torch::autograd::NotImplemented``: the node of an op without a formula; running it
    raises torch's error."""

    _name = "torch::autograd::NotImplemented"

    def __init__(self, op_name: str, next_edges: tuple) -> None:
        super().__init__(next_edges)
        self.op_name = op_name

    def grads(self, grad):
        raise RuntimeError(f"derivative for {self.op_name} is not implemented")


# op name (``OpOverload.name()``) -> node class; an in-place op uses its functional op's formula.
FORMULAS: dict[str, type[_Formula]] = {
    "aten::add.Tensor": AddBackward0, "aten::add.Scalar": AddBackward1,
    "aten::sub.Tensor": SubBackward0, "aten::sub.Scalar": SubBackward1,
    "aten::mul.Tensor": MulBackward0, "aten::mul.Scalar": MulBackward1,
    "aten::sin": SinBackward0, "aten::cos": CosBackward0, "aten::neg": NegBackward0,
    "aten::abs": AbsBackward0, "aten::sgn": SgnBackward0, "aten::clone": CloneBackward0,
    "aten::_to_copy": ToCopyBackward0, "aten::view": ViewBackward0,
    "aten::unsqueeze": UnsqueezeBackward0,
    "aten::squeeze.dim": SqueezeBackward1, "aten::expand": ExpandBackward0,
    "aten::sum": SumBackward0, "aten::sum.dim_IntList": SumBackward1,
    "aten::lift_fresh": LiftFreshBackward0, "aten::lift_fresh_copy": LiftFreshBackward0_copy,
    "aten::add_.Tensor": AddBackward0, "aten::mul_.Tensor": MulBackward0,
    "aten::abs_": AbsBackward0, "aten::copy_": CopyBackwards,
}
# Ops torch gives a VariableType kernel without a formula: a grad_fn that raises in backward.
NOT_IMPLEMENTED = frozenset({"aten::copy"})


def make_node(name: str, next_edges: tuple) -> _Formula:
    if name in NOT_IMPLEMENTED:
        return NotImplementedNode(name, next_edges)
    return FORMULAS[name](next_edges)
