"""Higher-order control flow, laid out as ``torch/_higher_order_ops/``: ``cond`` and ``while_loop``.

``refimpl.effects`` (``with_effects``) predates this package and stays where the seed put it.
"""

from refimpl._higher_order_ops.cond import cond, cond_op
from refimpl._higher_order_ops.while_loop import while_loop, while_loop_op

__all__ = ["cond", "cond_op", "while_loop", "while_loop_op"]
