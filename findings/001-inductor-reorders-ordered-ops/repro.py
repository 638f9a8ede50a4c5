"""Reproduce the finding without the oracle: `python repro.py` (torch 2.13.0)."""

import torch
from torch._higher_order_ops.effects import _register_effectful_op
from torch._library.effects import EffectType

LOG = []
@torch.library.custom_op("rep::rec", mutates_args=())
def rec(x: torch.Tensor, tag: str) -> torch.Tensor:
    LOG.append(("rec", tag))
    return x + 1
rec.register_fake(lambda x, tag: torch.empty_like(x))
@torch.library.custom_op("rep::two", mutates_args=())
def two(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    LOG.append(("two",))
    return x + 1, x * 2
two.register_fake(lambda x: (torch.empty_like(x), torch.empty_like(x)))
_register_effectful_op(rec, EffectType.ORDERED)
_register_effectful_op(two, EffectType.ORDERED)
def f(a, b, c):
    ra = rec(a, "a")
    v = (ra + b).view(3, 2)
    p, q = two(c * c)
    return v.sum(), p, q
args = (torch.arange(6.).view(2, 3), torch.ones(2, 3), torch.randn(3))
f(*args)
print("eager   ", LOG)
LOG.clear()
torch.compile(f, backend="aot_eager", fullgraph=True)(*args)
print("aot_eager", LOG)
LOG.clear()
torch.compile(f, backend="inductor", fullgraph=True)(*args)
print("inductor ", LOG)
