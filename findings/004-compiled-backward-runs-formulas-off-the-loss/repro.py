"""A compiled backward runs the backward formula of an output the loss does not use.

`f` returns `(rec(x), x.abs())`; the loss uses only the second output. Eager autograd never
reaches rec's backward node (no grad flows into it), so its backward, which prints, does not
run. Under torch.compile (aot_eager and inductor) AOTAutograd's compiled backward takes a
tangent for every output that requires grad, materializes the missing one as zeros and runs
the whole backward graph: rec's backward prints.
"""

import torch
from torch._higher_order_ops.effects import _EffectType, _register_effectful_op


@torch.library.custom_op("f5::rec", mutates_args=())
def rec(x: torch.Tensor) -> torch.Tensor:
    return x + 1


rec.register_fake(lambda x: torch.empty_like(x))
_register_effectful_op(rec, _EffectType.ORDERED)


def rec_backward(ctx, g):
    torch.ops.aten._print("rec backward")
    return g


rec.register_autograd(rec_backward, setup_context=lambda ctx, inputs, output: None)


def f(x):
    return rec(x), x.abs()


for backend in (None, "aot_eager", "inductor"):
    torch._dynamo.reset()
    fn = f if backend is None else torch.compile(f, backend=backend, fullgraph=True)
    x = torch.ones(3, requires_grad=True)
    _, y = fn(x)
    print(f"--- {backend or 'eager'}: backward of y.sum() (rec's output unused):", flush=True)
    y.sum().backward()
    torch.ops.aten._print("(end)")
