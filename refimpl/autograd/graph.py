"""The autograd graph: nodes (``grad_fn``), their edges, saved tensors, ``AccumulateGrad``.

Models: ``torch/csrc/autograd/function.h`` (``Node``: ``sequence_nr``, ``next_edges``,
``name()``), ``saved_variable.cpp`` (``SavedVariable``: the version check and the "backward
through the graph a second time" error), ``functions/accumulate_grad.cpp`` and the Python view of
them in ``torch/autograd/graph.py`` (``Node.name()``, ``next_functions``) at torch 2.13.0.
Spec: AG-3, AG-4, AG-8.

Simplifications:
1. A node's inputs (the grads of its outputs) are a list; ``InputMetadata`` is the output's
   shape and dtype only (no device, stream or nested-tensor information).
2. Sequence numbers come from one counter (torch's is thread-local): refimpl runs the engine on
   the calling thread only.
3. No hooks (``register_hook``, ``register_prehook``), no ``retain_grad``; anomaly mode changes
   only the version error's hint (``anomaly_mode.py``).
"""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING, Any

from refimpl.autograd.anomaly_mode import is_anomaly_enabled

if TYPE_CHECKING:
    from refimpl.tensor import Tensor

__all__ = ["AccumulateGrad", "Node", "SavedTensor"]

# ``at::sequence_number``: each node made takes the next number; the engine runs the ready node
# with the highest one first (AG-4). ``AccumulateGrad`` takes none: it has UINT64_MAX.
_MAX_SEQUENCE_NR = 2**64 - 1


class _SequenceTLS(threading.local):
    def __init__(self) -> None:
        self.counter = itertools.count()


_sequence = _SequenceTLS()


class Node:
    """A backward function: ``apply(grads of its outputs) -> grads of its inputs``.

    ``next_edges[i]`` is ``(node, input_nr)`` for the ``i``-th differentiable input, or
    ``(None, 0)`` where that input needs no grad; ``output_meta[k]`` is the ``(shape, dtype,
    device)`` of the ``k``-th output, used to check and to make the grads it receives.
    """

    _name: str = "Node"

    def __init__(self, next_edges: tuple = (), sequence_nr: int | None = None) -> None:
        self._sequence_nr = next(_sequence.counter) if sequence_nr is None else sequence_nr
        self._next_edges = tuple(next_edges)
        self.output_meta: list[tuple[tuple[int, ...], Any, Any]] = []
        self._saved: list[SavedTensor] = []

    # -- the Python view (torch/autograd/graph.py) ------------------------------------------
    def name(self) -> str:
        return self._name

    @property
    def next_functions(self) -> tuple:
        return self._next_edges

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"

    # -- what the engine calls -------------------------------------------------------------
    def should_compute_output(self, index: int) -> bool:
        return index < len(self._next_edges) and self._next_edges[index][0] is not None

    def apply(self, grads: list[Tensor | None]) -> list[Tensor | None]:
        raise NotImplementedError(f"{self.name()} has no backward")

    def save(self, tensor: Tensor, is_output: bool = False) -> SavedTensor:
        saved = SavedTensor(tensor, self if is_output else None)
        self._saved.append(saved)
        return saved

    def release_variables(self) -> None:
        """After a backward without ``retain_graph``: the saved tensors are freed."""
        for saved in self._saved:
            saved.release()


class AccumulateGrad(Node):
    """The node of a leaf that requires grad: adds the incoming grad into ``variable.grad``."""

    _name = "torch::autograd::AccumulateGrad"

    def __init__(self, variable: Tensor) -> None:
        super().__init__((), sequence_nr=_MAX_SEQUENCE_NR)
        self.variable = variable
        self.output_meta = [(variable.shape, variable.dtype, variable.device)]

    def apply(self, grads: list[Tensor | None]) -> list[Tensor | None]:
        from refimpl.aten import OPS  # noqa: PLC0415 - aten imports the tensor module

        grad = grads[0]
        if grad is None:
            return []
        meta = self.variable._autograd_meta
        # ``accumulateGrad``: the first grad is kept as it comes (torch steals it when nothing
        # else refers to it), later ones are added out of place.
        meta.grad = grad if meta.grad is None else OPS["aten::add.Tensor"](meta.grad, grad)
        return []


class SavedTensor:
    """``SavedVariable``: a tensor a node keeps for its backward, with the version it had. A
    saved output names the node that saved it in the version error; any other saved tensor names
    its grad_fn as it is when unpacked (torch keeps that tensor itself)."""

    __slots__ = ("_tensor", "_version", "_owner", "_output_nr", "_released")

    def __init__(self, tensor: Tensor, owner: Node | None) -> None:
        from refimpl.autograd.variable import version_of  # noqa: PLC0415

        self._tensor = tensor
        self._version = version_of(tensor)
        self._owner = owner
        meta = tensor._autograd_meta
        self._output_nr = meta.output_nr if meta is not None else 0
        self._released = False

    def release(self) -> None:
        self._released = True
        self._tensor = None

    def unpack(self) -> Tensor:
        if self._released:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed). Saved intermediate values of the "
                "graph are freed when you call .backward() or autograd.grad(). Specify "
                "retain_graph=True if you need to backward through the graph a second time or "
                "if you need to access saved tensors after calling backward.")
        from refimpl.autograd.variable import version_of  # noqa: PLC0415

        t = self._tensor
        current = version_of(t)
        if current != self._version:
            meta = t._autograd_meta
            if self._owner is not None:
                node, output_nr = self._owner, self._output_nr
            else:
                node = meta.grad_fn if meta is not None else None
                output_nr = meta.output_nr if meta is not None else 0
            where = ""
            if node is not None:
                op = node.name()
                op = op[:op.index("Backward")] if "Backward" in op else op
                where = f", which is output {output_nr} of {op},"
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{_type_string(t)} [{', '.join(map(str, t.shape))}]]"
                f"{where} is at version {current}; expected version {self._version} instead. "
                f"Hint: {_version_hint()}")
        return t


def _version_hint() -> str:
    """The hint of the version error: anomaly mode's, or how to turn it on (AG-11)."""
    if is_anomaly_enabled():
        return ("the backtrace further above shows the operation that failed to compute its "
                "gradient. The variable in question was changed in there or anywhere later. "
                "Good luck!")
    return ("enable anomaly detection to find the operation that failed to compute its "
            "gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False).")


_TYPE_NAMES = {"float32": "Float", "float64": "Double", "int32": "Int", "int64": "Long",
               "bool": "Bool"}


def _type_string(t: Tensor) -> str:
    """``t.type()``: ``torch.FloatTensor`` (``torch.cuda.FloatTensor`` on CUDA)."""
    device = "cuda." if t.device == "cuda" else ""
    return f"torch.{device}{_TYPE_NAMES.get(t.dtype.name, t.dtype.name)}Tensor"
