"""Small helpers shared by the refimpl test modules (graph reading, captured prints, what a call
raises in refimpl and in torch)."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable
from typing import Any

Outcome = tuple[str, str] | None


def printed(fn, *args):
    """`(fn(*args), lines printed while it ran)`."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        out = fn(*args)
    return out, sink.getvalue().splitlines()


def placeholders(gm):
    """The placeholder names of `gm`'s graph, in order."""
    return [n.name for n in gm.graph.nodes if n.op == "placeholder"]


def outcome(call: Callable[[], Any]) -> Outcome:
    """None, or the exception's type and first message line."""
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the outcome is the exception
        return type(exc).__name__, str(exc).splitlines()[0]
    return None


def torch_outcomes(call: Callable[[], Any]) -> tuple[Outcome, Outcome]:
    """`call`'s outcome in torch eager and under torch's FakeTensorMode (imports torch)."""
    from torch._subclasses.fake_tensor import FakeTensorMode  # noqa: PLC0415

    logging.disable(logging.CRITICAL)  # fake_tensor logs the meta failure it re-raises
    try:
        dense = outcome(call)
        with FakeTensorMode():
            fake = outcome(call)
    finally:
        logging.disable(logging.NOTSET)
    return dense, fake
