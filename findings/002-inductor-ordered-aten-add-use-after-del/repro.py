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
        import traceback; print(backend, type(e).__name__, str(e).splitlines()[0]); tb = traceback.format_exc().splitlines(); print("\n".join(tb[-12:]))
