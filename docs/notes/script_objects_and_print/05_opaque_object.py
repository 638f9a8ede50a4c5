# Python-only route: opaque reference objects (torch._library.opaque_object) consumed by custom ops.
import torch
from torch._opaque_base import OpaqueBase
from torch._library.opaque_object import (register_opaque_type, is_opaque_type, get_opaque_type_name,
                                          OpaqueTypeStr)
from torch._higher_order_ops.effects import _get_effect
from torch.fx.experimental.proxy_tensor import make_fx
from torch._functorch.aot_autograd import aot_export_module
from torch._inductor.utils import run_and_get_code
from torch._dynamo.backends.common import aot_autograd


class Counter(OpaqueBase):
    def __init__(self, v):
        self.v = v


register_opaque_type(Counter, typ="reference")
print("is_opaque_type:", is_opaque_type(Counter), "name:", get_opaque_type_name(Counter),
      "OpaqueTypeStr:", OpaqueTypeStr)


@torch.library.custom_op("effmodel::opq_add", mutates_args=())
def opq_add(c: Counter, x: torch.Tensor) -> torch.Tensor:
    r = x + c.v
    c.v += 1          # mutate hidden state
    return r


@opq_add.register_fake
def _(c, x):
    return torch.empty_like(x)


@torch.library.custom_op("effmodel::opq_pure", mutates_args=())
def opq_pure(c: Counter, x: torch.Tensor) -> torch.Tensor:
    return x * 2


@opq_pure.register_fake
def _(c, x):
    return torch.empty_like(x)


for op in [torch.ops.effmodel.opq_add.default, torch.ops.effmodel.opq_pure.default]:
    s = op._schema
    print("schema:", s)
    print("  arg0 type:", type(s.arguments[0].type).__name__, repr(s.arguments[0].type.str()),
          "isinstance ClassType:", isinstance(s.arguments[0].type, torch.ClassType))
    print("  default effect (_get_effect):", _get_effect(op))

print("--- raw string schema with the opaque type name via torch.library.Library.define:")
lib = torch.library.Library("effmodel", "FRAGMENT")
lib.define(f"opq_defined({get_opaque_type_name(Counter)} c, Tensor x) -> Tensor")
print("  ", torch.ops.effmodel.opq_defined.default._schema, "effect:",
      _get_effect(torch.ops.effmodel.opq_defined.default))

c = Counter(10)
x = torch.tensor([1.0, 2.0])
print("eager:", opq_add(c, x), "c.v after:", c.v)


def f(c, x):
    a = opq_add(c, x)
    b = opq_add(c, a)
    return opq_pure(c, b)


print("===== make_fx (real) =====")
try:
    c = Counter(10)
    gm = make_fx(f)(c, x)
    print(gm.code.strip()); print("c.v after trace:", c.v)
except Exception as e:
    print("ERROR", type(e).__name__, str(e).strip().splitlines()[0][:300])
print("===== make_fx (fake) =====")
try:
    c = Counter(10)
    gm = make_fx(f, tracing_mode="fake")(c, x)
    print(gm.code.strip()); print("c.v after trace:", c.v)
except Exception as e:
    print("ERROR", type(e).__name__, str(e).strip().splitlines()[0][:300])


class M(torch.nn.Module):
    def forward(self, c, x):
        return (f(c, x),)


print("===== aot_export_module(trace_joint=False), obj as input =====")
try:
    c = Counter(10)
    gm, sig = aot_export_module(M(), (c, x), trace_joint=False)
    print(gm.code.strip())
    print("input_tokens:", sig.input_tokens, "output_tokens:", sig.output_tokens, "user_inputs:", sig.user_inputs)
    print("c.v after aot_export:", c.v)
except Exception as e:
    print("ERROR", type(e).__name__, str(e).strip().splitlines()[0][:300])


class MAttr(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c = Counter(10)

    def forward(self, x):
        return f(self.c, x)


for strict in [False, True]:
    print(f"===== torch.export.export(strict={strict}), obj as module attribute =====")
    try:
        m = MAttr()
        ep = torch.export.export(m, (x,), strict=strict)
        print(ep.graph_module.code.strip())
        print("signature:", [(s.kind.name, s.arg.name, s.target) for s in ep.graph_signature.input_specs])
        print("m.c.v after export:", m.c.v)
        ep2 = ep.run_decompositions({})
        print("--- run_decompositions({}):")
        print(ep2.graph_module.code.strip())
        print("signature:", [(s.kind.name, s.arg.name, s.target) for s in ep2.graph_signature.input_specs])
        print("ep2.module()(x):", ep2.module()(x), "c.v:", m.c.v, "(module holds", ep2.module().__dict__.get('c', 'n/a'), ")")
    except Exception as e:
        print("ERROR", type(e).__name__, str(e).strip().splitlines()[0][:300])

print("===== torch.export.export, obj as user input =====")
try:
    c = Counter(10)
    ep = torch.export.export(M(), (c, x), strict=False)
    print(ep.graph_module.code.strip())
    ep2 = ep.run_decompositions({})
    print("--- run_decompositions({}):")
    print(ep2.graph_module.code.strip())
    print("input specs:", [(s.kind.name, s.arg.name) for s in ep2.graph_signature.input_specs])
except Exception as e:
    print("ERROR", type(e).__name__, str(e).strip().splitlines()[0][:300])


def fw(gm, ex):
    print("--- AOT forward graph:")
    print(gm.code.strip())
    return gm


def dyn(inner):
    def be(gm, ex):
        print("--- dynamo graph:"); print(gm.code.strip()); return inner(gm, ex)
    return be


print("===== torch.compile(aot_autograd(fw_compiler)) (== aot_eager) =====")
try:
    torch._dynamo.reset()
    c = Counter(10)
    cf = torch.compile(f, backend=dyn(aot_autograd(fw_compiler=fw)), fullgraph=True)
    print("call0:", cf(c, x), "c.v:", c.v)
    print("call1:", cf(c, x), "c.v:", c.v)
except Exception as e:
    print("ERROR", type(e).__name__, str(e).strip().splitlines()[0][:300])

print("===== torch.compile(inductor) =====")
try:
    torch._dynamo.reset()
    c = Counter(10)
    cf = torch.compile(f, backend="inductor", fullgraph=True)
    res, codes = run_and_get_code(cf, c, x)
    print("call0:", res, "c.v:", c.v)
    print("call1:", cf(c, x), "c.v:", c.v)
    code = codes[0]; s = code.index("def call("); print(code[s:code.index("return", s) + 60])
except Exception as e:
    print("ERROR", type(e).__name__, str(e).strip().splitlines()[0][:300])
