"""The autograd engine: runs the backward graph from its roots, in torch's order.

Models: ``torch/csrc/autograd/engine.cpp`` at torch 2.13.0 for one device and no reentrant
backward: ``compute_dependencies``, the ready queue (``CompareNodeTaskTime``: the ready node with
the highest sequence number first; ``AccumulateGrad`` has the highest of all),
``evaluate_function`` (``exec_info_`` for ``grad()``'s captures, ``release_variables`` without
``keep_graph``), ``validate_outputs`` (the count, shape and dtype checks, and ``sum_to`` for a
grad of a broadcast input) and ``InputBuffer::add`` (grads for one input are summed).
Spec: AG-4, AG-6, AG-7.

Simplifications:
1. One thread, one ready queue: no device threads, no streams, no reentrant depth.
2. When one root is given the engine starts at its node (torch's ``skip_dummy_node``); with
   several, at a ``GraphRoot`` that hands each its grad, as upstream.
"""

from __future__ import annotations

import heapq
import itertools
from typing import TYPE_CHECKING, Any

from refimpl.autograd.grad_mode import set_grad_enabled
from refimpl.autograd.graph import Node

if TYPE_CHECKING:
    from refimpl.tensor import Tensor

__all__ = ["GraphRoot", "execute"]


class GraphRoot(Node):
    """``torch::autograd::GraphRoot``: returns the root grads, one per root edge."""

    _name = "torch::autograd::GraphRoot"

    def __init__(self, edges: list[tuple[Node, int]], grads: list[Tensor]) -> None:
        super().__init__(tuple(edges))
        self._grads = grads

    def apply(self, grads: list[Tensor | None]) -> list[Tensor | None]:
        return list(self._grads)


def _dependencies(root: Node) -> dict[Node, int]:
    deps: dict[Node, int] = {}
    seen = {root}
    stack = [root]
    while stack:
        fn = stack.pop()
        for nxt, _ in fn._next_edges:
            if nxt is None:
                continue
            deps[nxt] = deps.get(nxt, 0) + 1
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return deps


def _needed(root: Node, targets: set[Node]) -> set[Node]:
    """``init_to_execute``: the nodes on a path from ``root`` to a capture or accumulation."""
    needed: set[Node] = set()
    seen = {root}
    stack: list[tuple[Node, int]] = [(root, 0)]
    while stack:  # a post-order walk: a node is decided after every node below it
        fn, k = stack.pop()
        edges = fn._next_edges
        while k < len(edges) and (edges[k][0] is None or edges[k][0] in seen):
            k += 1
        if k < len(edges):
            stack.append((fn, k + 1))
            nxt = edges[k][0]
            seen.add(nxt)
            stack.append((nxt, 0))
            continue
        if fn in targets or any(n in needed for n, _ in edges if n is not None):
            needed.add(fn)
    return needed


def _sum_to(grad: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``at::sum_to``: the grad of a broadcast input, summed over the broadcast dimensions."""
    from refimpl.aten import OPS  # noqa: PLC0415 - aten imports the autograd package

    if not shape:  # a 0-dim target: the whole sum
        return OPS["aten::sum"](grad)
    sizes = grad.shape
    leading = len(sizes) - len(shape)
    dims = list(range(leading)) + [i for i in range(leading, len(sizes))
                                   if shape[i - leading] == 1 and sizes[i] != 1]
    if dims:
        grad = OPS["aten::sum.dim_IntList"](grad, dims, True)
    return OPS["aten::view"](grad, list(shape)) if leading > 0 else grad


def _validate(fn: Node, grads: list[Tensor | None]) -> list[Tensor | None]:
    """``validate_outputs``: one grad per edge, of its input's shape (or broadcast to it), cast to
    its dtype."""
    from refimpl.aten import OPS  # noqa: PLC0415

    edges = fn._next_edges
    if len(grads) != len(edges):
        raise RuntimeError(f"function {fn.name()} returned an incorrect number of gradients "
                           f"(expected {len(edges)}, got {len(grads)})")
    out: list[Tensor | None] = []
    for i, (grad, (nxt, input_nr)) in enumerate(zip(grads, edges)):
        if grad is None or nxt is None:
            out.append(None if nxt is None else grad)
            continue
        shape, dtype, _ = nxt.output_meta[input_nr]
        if tuple(grad.shape) != tuple(shape):
            if not _expandable(shape, grad.shape):
                raise RuntimeError(
                    f"Function {fn.name()} returned an invalid gradient at index {i} - got "
                    f"[{', '.join(map(str, grad.shape))}] but expected shape compatible with "
                    f"[{', '.join(map(str, shape))}]")
            grad = _sum_to(grad, tuple(shape))
        if grad.dtype is not dtype:
            grad = OPS["aten::_to_copy"](grad, dtype=dtype)
        out.append(grad)
    return out


def _expandable(shape: tuple[int, ...], desired: tuple[int, ...]) -> bool:
    """``is_expandable_to(shape, desired)``."""
    if len(shape) > len(desired):
        return False
    return all(a in (b, 1) for a, b in zip(reversed(shape), reversed(desired)))


def execute(roots: list[tuple[Node, int]], grads: list[Tensor], keep_graph: bool,
            create_graph: bool, captures: list[tuple[Node, int]] | None = None,
            accumulate: set[Node] | None = None) -> list[Tensor | None]:
    """Run the graph from ``roots`` (each ``(node, input_nr)``) seeded with ``grads``.

    ``captures``: ``grad()``'s inputs as ``(node, input_nr)``, whose incoming grads are returned
    (their nodes do not run unless something else needs them); ``accumulate``: for
    ``backward(inputs=...)``, the only ``AccumulateGrad`` nodes that run. Without either, every
    node reachable from the roots runs.
    """
    if len(roots) == 1:
        root, root_input = roots[0]
        buffers: dict[Node, list[Any]] = {root: _buffer(root)}
        _add(buffers[root], root_input, grads[0])
    else:
        root = GraphRoot(roots, grads)
        buffers = {root: []}
    deps = _dependencies(root)
    targets: set[Node] = set()
    capture_at: dict[Node, list[tuple[int, int]]] = {}
    for k, (node, input_nr) in enumerate(captures or ()):
        capture_at.setdefault(node, []).append((input_nr, k))
        targets.add(node)
    if accumulate is not None:
        targets |= accumulate
    needed = _needed(root, targets) if (captures is not None or accumulate is not None) else None
    captured: list[Tensor | None] = [None] * len(captures or ())
    tie = itertools.count()
    ready = [(-root._sequence_nr, next(tie), root)]
    with set_grad_enabled(create_graph):
        while ready:
            _, _, fn = heapq.heappop(ready)
            inputs = buffers.pop(fn)
            for input_nr, k in capture_at.get(fn, ()):
                captured[k] = inputs[input_nr]
            if needed is not None and (fn not in needed or (
                    fn in capture_at and fn not in (accumulate or ()) and not any(
                        n in needed for n, _ in fn._next_edges if n is not None))):
                continue
            outputs = _validate(fn, fn.apply(inputs))
            if not keep_graph:
                fn.release_variables()
            for grad, (nxt, input_nr) in zip(outputs, fn._next_edges):
                if nxt is None:
                    continue
                buffer = buffers.get(nxt)
                if buffer is None:
                    buffer = buffers[nxt] = _buffer(nxt)
                _add(buffer, input_nr, grad)
                deps[nxt] -= 1
                if deps[nxt] == 0:
                    heapq.heappush(ready, (-nxt._sequence_nr, next(tie), nxt))
    return captured


def _buffer(fn: Node) -> list[Any]:
    return [None] * max(len(fn.output_meta), 1)


def _add(buffer: list[Any], pos: int, grad: Tensor | None) -> None:
    """``InputBuffer::add``: the first grad is kept, each later one added to it."""
    if grad is None:
        return
    from refimpl.aten import OPS  # noqa: PLC0415

    old = buffer[pos]
    buffer[pos] = grad if old is None else OPS["aten::add.Tensor"](old, grad)
