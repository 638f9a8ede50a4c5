"""Reverse-mode autograd: ``backward`` and ``grad``, grad mode, the graph and the engine.

Models: ``torch/autograd/__init__.py`` (``backward``, ``grad``, ``_make_grads``) and
``torch/csrc/autograd/python_engine.cpp`` (``run_backward``: the root and input checks) at
torch 2.13.0; the layers below live where upstream has them: ``grad_mode.py``, ``graph.py``
(nodes, saved tensors), ``engine.py`` (``engine.cpp``), ``functions.py`` (the derivative
formulas), ``variable_type.py`` (the ``Autograd`` dispatch-key kernels), ``variable.py`` (a
tensor's autograd metadata and the tensor methods).
Spec: AG-1 .. AG-11 (``specs/autograd.md``).

Simplifications:
1. No ``create_graph`` double backward through saved values of the first backward beyond what
   the formulas' own ops record (they run with grad mode set to ``create_graph``, as upstream).
2. No ``is_grads_batched``, no hooks; anomaly mode only as ``anomaly_mode.py`` says.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from refimpl.autograd import variable as _variable  # noqa: F401 - attaches the tensor methods
from refimpl.autograd.anomaly_mode import detect_anomaly, set_detect_anomaly
from refimpl.autograd.engine import execute
from refimpl.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from refimpl.autograd.graph import AccumulateGrad, Node
from refimpl.autograd.variable import requires_grad
from refimpl.autograd.variable_type import gradient_edge
from refimpl.tensor import Tensor

__all__ = ["Node", "backward", "detect_anomaly", "enable_grad", "grad", "is_grad_enabled",
           "no_grad", "set_detect_anomaly", "set_grad_enabled"]


def _as_tuple(value: Any) -> tuple:
    if value is None:
        return ()
    if isinstance(value, Tensor):
        return (value,)
    return tuple(value)


def _size(shape: Sequence[int]) -> str:
    return f"torch.Size([{', '.join(map(str, shape))}])"


def _make_grads(outputs: tuple, grads: tuple) -> list[Tensor | None]:
    """``_make_grads``: a given grad must have its output's shape; a missing one is
    ``ones_like`` for a one-element output that requires grad."""
    from refimpl.aten import OPS  # noqa: PLC0415 - aten imports this package
    from refimpl.dtype import preserve_format  # noqa: PLC0415

    if grads and len(grads) != len(outputs):
        raise RuntimeError(f"grad_tensors should have the same length as tensors: got "
                           f"{len(grads)} and {len(outputs)}")
    out: list[Tensor | None] = []
    for i, t in enumerate(outputs):
        g = grads[i] if grads else None
        if isinstance(g, Tensor):
            if tuple(g.shape) != tuple(t.shape):
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                                   f"{_size(g.shape)} and output[{i}] has a shape of "
                                   f"{_size(t.shape)}.")
            out.append(g)
        elif g is None:
            if requires_grad(t):
                if t.numel() != 1:
                    raise RuntimeError("grad can be implicitly created only for scalar outputs")
                out.append(OPS["aten::ones_like"](t, pin_memory=False,
                                                  memory_format=preserve_format))
            else:
                out.append(None)
        else:
            raise TypeError(f"gradients can be either Tensors or None, but got "
                            f"{type(g).__name__}")
    return out


def _roots(outputs: tuple) -> list[tuple[Node, int]]:
    roots = []
    for i, t in enumerate(outputs):
        edge = gradient_edge(t)
        if edge[0] is None:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not "
                               f"have a grad_fn")
        roots.append(edge)
    return roots


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs: Any = None) -> None:
    """``torch.autograd.backward``: accumulate the grads of ``tensors`` into the ``.grad`` of
    the leaves (of ``inputs`` only, when given)."""
    if inputs is not None and len(_as_tuple(inputs)) == 0:
        raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    outputs = _as_tuple(tensors)
    grads = _make_grads(outputs, _as_tuple(grad_tensors))
    keep = create_graph if retain_graph is None else retain_graph
    roots = _roots(outputs)
    if inputs is None:
        execute(roots, grads, keep, create_graph)
        return
    leaves = _as_tuple(inputs)
    edges = [gradient_edge(t) for t in leaves]
    for node, _ in edges:
        if node is None:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    accumulate = {n for n, _ in edges if isinstance(n, AccumulateGrad)}
    others = [(t, e) for t, e in zip(leaves, edges) if not isinstance(e[0], AccumulateGrad)]
    captured = execute(roots, grads, keep, create_graph, captures=[e for _, e in others],
                       accumulate=accumulate)
    from refimpl.aten import OPS  # noqa: PLC0415

    for (t, _), g in zip(others, captured):  # a non-leaf input: its .grad, as retain_grad
        if g is not None:
            t.grad = g if t.grad is None else OPS["aten::add.Tensor"](t.grad, g)


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool | None = None,
         materialize_grads: bool = False) -> tuple[Tensor | None, ...]:
    """``torch.autograd.grad``: the grads of ``outputs`` with respect to ``inputs``; nothing is
    accumulated into ``.grad``."""
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads"
                         "=True, but got: allow_unused=False.")
    if allow_unused is None:
        allow_unused = materialize_grads
    outs = _as_tuple(outputs)
    ins = _as_tuple(inputs)
    grads = _make_grads(outs, _as_tuple(grad_outputs))
    keep = create_graph if retain_graph is None else retain_graph
    roots = _roots(outs)
    edges = []
    for t in ins:
        if not requires_grad(t):
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        edges.append(gradient_edge(t))
    captured = execute(roots, grads, keep, create_graph, captures=edges)
    from refimpl.aten import OPS  # noqa: PLC0415

    result: list[Tensor | None] = []
    for i, (t, g) in enumerate(zip(ins, captured)):
        if g is None and not allow_unused:
            raise RuntimeError(f"The differentiated Tensor at index {i} appears to not have "
                               f"been used in the graph. Set allow_unused=True if this is the "
                               f"desired behavior.")
        if g is None and materialize_grads:
            g = OPS["aten::zeros_like"](t)
        result.append(g)
    return tuple(result)
