"""Reproduce the finding without the oracle: `python repro.py` (torch 2.13.0)."""

import traceback

import torch
from torch._higher_order_ops.effects import _register_effectful_op
from torch._library.effects import EffectType

h = _register_effectful_op(torch.ops.aten.add.Tensor, EffectType.ORDERED)
def f(x):
    a = torch.ops.aten.add.Tensor(x, x)
    b = torch.ops.aten.add.Scalar(a, 1)
    torch.ops.aten._print("between")
    return (torch.ops.aten.add.Tensor(b, x),)
x = torch.arange(4.)
print("eager", f(x))
for backend in ("aot_eager", "inductor"):
    torch._dynamo.reset()
    try:
        print(backend, torch.compile(f, backend=backend, fullgraph=True)(x))
    except Exception as e:
        print(backend, type(e).__name__, str(e).splitlines()[0])
        print("\n".join(traceback.format_exc().splitlines()[-12:]))
