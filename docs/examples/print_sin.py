"""A print, a sin and an add: the smallest program worth explaining.

    python -m refimpl explain docs/examples/print_sin.py --mode functional

``f`` is the program; ``inputs()`` (optional) returns its example inputs. Without it, explain
passes one ``refimpl.arange(4, dtype=refimpl.float32)`` per parameter.
"""

import refimpl

aten = refimpl.ops.aten


def f(x):
    aten._print.default("hello")
    return aten.add.Tensor(aten.sin.default(x), x)


def inputs():
    return [refimpl.arange(4, dtype=refimpl.float32)]
