# Opaque reference object + custom op explicitly registered ORDERED (opaque args are NOT ORDERED by default).
import torch
from torch._opaque_base import OpaqueBase
from torch._library.opaque_object import register_opaque_type
from torch._library.effects import EffectType
from torch._higher_order_ops.effects import _get_effect
from torch._functorch.aot_autograd import aot_export_module
from torch._inductor.utils import run_and_get_code
from torch._dynamo.backends.common import aot_autograd
from torch._higher_order_ops import print as hop_print


class Counter(OpaqueBase):
    def __init__(self, v):
        self.v = v


register_opaque_type(Counter, typ="reference")


@torch.library.custom_op("effmodel::opq_bump", mutates_args=())
def opq_bump(c: Counter, x: torch.Tensor) -> torch.Tensor:
    r = x + c.v
    c.v += 1
    return r


@opq_bump.register_fake
def _(c, x):
    return torch.empty_like(x)


print("default effect:", _get_effect(torch.ops.effmodel.opq_bump.default))
torch.library._register_effectful_op("effmodel::opq_bump", EffectType.ORDERED)
print("after _register_effectful_op:", _get_effect(torch.ops.effmodel.opq_bump.default))


def f(c, x):
    a = opq_bump(c, x)
    hop_print("a={}", a)
    return opq_bump(c, a)


x = torch.tensor([1.0, 2.0])


class M(torch.nn.Module):
    def forward(self, c, x):
        return (f(c, x),)


print("===== aot_export_module(trace_joint=False) =====")
c = Counter(10)
gm, sig = aot_export_module(M(), (c, x), trace_joint=False)
print(gm.code.strip()); print("input_tokens:", sig.input_tokens, "output_tokens:", sig.output_tokens, "c.v:", c.v)


class MAttr(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c = Counter(10)

    def forward(self, x):
        return f(self.c, x)


print("===== torch.export.export(strict=False).run_decompositions({}) =====")
m = MAttr()
ep = torch.export.export(m, (x,), strict=False).run_decompositions({})
print(ep.graph_module.code.strip())
print("input specs:", [(s.kind.name, s.arg.name) for s in ep.graph_signature.input_specs])
try:
    print("ep.module()(x):", ep.module()(x), "m.c.v:", m.c.v)
except Exception as e:
    print("ep.module() ERROR", type(e).__name__, str(e).strip().splitlines()[-1][:200])

print("===== torch.compile(aot_autograd(fw_compiler)) =====")


def fw(gm, ex):
    print(gm.code.strip()); return gm


torch._dynamo.reset()
c = Counter(10)
cf = torch.compile(f, backend=aot_autograd(fw_compiler=fw), fullgraph=True)
print("call0:", cf(c, x), "c.v:", c.v)
print("call1:", cf(c, x), "c.v:", c.v)
print("===== torch.compile(inductor) =====")
torch._dynamo.reset()
c = Counter(10)
cf = torch.compile(f, backend="inductor", fullgraph=True)
res, codes = run_and_get_code(cf, c, x)
print("call0:", res, "c.v:", c.v)
code = codes[0]; s = code.index("def call("); print(code[s:code.index("return", s) + 20])
