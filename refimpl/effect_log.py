"""The effect log: what side-effectful kernels did, in the order they did it.

Models: nothing in torch (``aten::_print`` writes to ``std::cout``); refimpl records every real
side effect as an event so that orders can be compared without capturing output streams.
Spec: EFF-14 (the dense rule runs the op, so the op's event is logged exactly once).

Simplifications: none; see docs/architecture.md for the event shape
``(qualname, non-tensor args, tensor shapes)``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["log_effect", "record_effects"]


class _Sinks(threading.local):
    def __init__(self) -> None:
        self.stack: list[list[tuple]] = []


_sinks = _Sinks()


def log_effect(event: tuple) -> None:
    """Append ``event`` to every active ``record_effects`` log."""
    for log in _sinks.stack:
        log.append(event)


@contextmanager
def record_effects() -> Iterator[list[tuple]]:
    """Collect the events of the block into the yielded list."""
    log: list[tuple] = []
    _sinks.stack.append(log)
    try:
        yield log
    finally:
        _sinks.stack.remove(log)
