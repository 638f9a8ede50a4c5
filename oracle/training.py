"""Programs that run backward: the loss, the backward mark in the effect log, the grads.

Models: what a training step does after a forward in torch 2.13.0: ``loss.backward()`` on a
scalar made from the outputs, then each leaf's ``.grad``. World-neutral, like
``oracle.behaviors``: a runner passes its *ops adaptor* (``sum(x)``, ``add(a, b)``) and a
``mark()`` that appends ``BACKWARD_EVENT`` to its effect log.
Spec: specs/program.md PRG-51, PRG-52.

Simplifications:
1. One loss form: the sum of ``aten::sum.default`` of the chosen outputs, added left to right
   with ``aten::add.Tensor`` (PRG-51); no explicit grad outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["BACKWARD_EVENT", "grad_inputs", "loss_of", "run_backward"]

# PRG-52: the event both runners log when the backward starts; the events after it ran in the
# backward. Shaped like a kernel's event (qualname, literals, shapes); no op has this name.
BACKWARD_EVENT = ("<backward>", (), ())


def loss_of(program: Any, outputs: Any, ops: Any) -> Any:
    """PRG-51: ``sum(outputs[i]) + sum(outputs[j]) + ...`` over ``program.backward.loss``."""
    outputs = tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)
    loss = None
    for index in program.backward.loss:
        term = ops.sum(outputs[index])
        loss = term if loss is None else ops.add(loss, term)
    return loss


def grad_inputs(program: Any, inputs: list) -> list:
    """The inputs that require grad (PRG-46), in input order."""
    return [x for x, spec in zip(inputs, program.inputs) if spec.requires_grad]


def run_backward(program: Any, outputs: Any, inputs: list, ops: Any,
                 mark: Callable[[], None]) -> list:
    """PRG-52: the loss, ``mark()``, ``loss.backward()``; the grads of the inputs that require
    grad (``None`` for one the loss does not reach)."""
    loss = loss_of(program, outputs, ops)
    mark()
    loss.backward()
    return [x.grad for x in grad_inputs(program, inputs)]
