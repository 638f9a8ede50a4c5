"""The tutorial's program (docs/tutorial.md): a print, an ORDERED custom op, sin and add.

    python -m refimpl explain docs/examples/ordered_op.py --mode functional

It defines ``example::record`` when it is run, so run it once per process (the command line
does exactly that).
"""

import refimpl
from refimpl.library import EffectType, Library, custom_op

aten = refimpl.ops.aten
lib = Library("example", "FRAGMENT")


def record(x, tag):
    print(f"record {tag}")
    return aten.add.Tensor(x, 1)


record_op = custom_op("example::record", record, schema="(Tensor x, str tag) -> Tensor", lib=lib)
record_op.register_fake(lambda x, tag: aten.empty_like.default(x))
record_op.register_effect(EffectType.ORDERED)


def f(x):
    aten._print.default("hello")
    y = refimpl.ops.example.record.default(x, "a")
    return aten.add.Tensor(aten.sin.default(y), x)
