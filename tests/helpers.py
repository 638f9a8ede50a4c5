"""Small helpers shared by the refimpl test modules (graph reading, captured prints)."""

from __future__ import annotations

import contextlib
import io


def printed(fn, *args):
    """`(fn(*args), lines printed while it ran)`."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        out = fn(*args)
    return out, sink.getvalue().splitlines()


def placeholders(gm):
    """The placeholder names of `gm`'s graph, in order."""
    return [n.name for n in gm.graph.nodes if n.op == "placeholder"]
