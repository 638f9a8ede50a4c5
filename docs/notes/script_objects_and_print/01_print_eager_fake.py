# print HOP: signature, effect registration, eager formatting, FakeTensorMode.
import io, sys, contextlib, inspect
import torch
from torch._higher_order_ops import print as hop_print
from torch._higher_order_ops.effects import _get_effect, _get_op_qualname
from torch._subclasses.fake_tensor import FakeTensorMode

print("type:", type(hop_print), "name:", hop_print.name(), "namespace:", hop_print.namespace)
print("qualname key:", _get_op_qualname(hop_print), "effect at import:", _get_effect(hop_print))
print("torch.ops.higher_order.print is hop:", torch.ops.higher_order.print is hop_print)
print("aten::_print schema:", torch.ops.aten._print.default._schema,
      "effect:", _get_effect(torch.ops.aten._print.default))
print("__call__ signature:", inspect.signature(type(hop_print).__call__))

x = torch.tensor([1.0, 2.0])
cases = [
    ("kwargs", ("moo {x} {y}",), dict(x=1, y=2)),
    ("positional", ("moo {} {}", 1, 2), {}),
    ("mixed", ("moo {} {y}", 1), dict(y=2)),
    ("tensor positional", ("x = {}", x), {}),
    ("tensor kwarg", ("x = {x}", ), dict(x=x)),
    ("int tensor", ("{}", torch.arange(3)), {}),
    ("0-d tensor with format spec", ("{:.3f}", torch.tensor(1.5)), {}),
    ("no args", ("plain",), {}),
    ("list arg", ("{}", [1, 2]), {}),
    ("requires_grad", ("{}", torch.ones(2, requires_grad=True)), {}),
]
for name, args, kwargs in cases:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            r = hop_print(*args, **kwargs)
            err = None
        except Exception as e:
            r, err = None, f"{type(e).__name__}: {e}"
    print(f"[eager:{name}] return={r!r} stdout={buf.getvalue()!r}" + (f" ERROR {err}" if err else ""))

for name, args in [("1-d tensor with format spec", ("{:.3f}", x)), ("non-str format", (123,))]:
    try:
        hop_print(*args)
        print(f"[eager:{name}] no error")
    except Exception as e:
        print(f"[eager:{name}] {type(e).__name__}: {str(e).splitlines()[0]}")

# gen_schema (used by effects._get_schema for the HOP)
print("gen_schema(positional+kw):", hop_print.gen_schema("a {} {y}", x, y=3))
print("gen_schema(no args):", hop_print.gen_schema("plain"))

# FakeTensorMode
with FakeTensorMode() as fm:
    fx = fm.from_tensor(x)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        r = hop_print("fake {}", fx)
    print(f"[FakeTensorMode, fake arg] return={r!r} stdout={buf.getvalue()!r}")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        r = hop_print("fake no tensor {}", 7)
    print(f"[FakeTensorMode, non-tensor arg] return={r!r} stdout={buf.getvalue()!r}")
