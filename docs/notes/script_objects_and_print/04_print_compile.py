# print HOP vs aten._print vs an ORDERED custom op under torch.compile (aot_eager, inductor).
# Run with stdout+stderr to one file: aten._print writes via C++ std::cout (not sys.stdout).
import sys
import torch
from torch._higher_order_ops import print as hop_print
from torch._dynamo.backends.common import aot_autograd
from torch._inductor.utils import run_and_get_code
from torch._library.effects import EffectType
from torch._higher_order_ops.effects import _get_effect

LOG = []


@torch.library.custom_op("effmodel::record", mutates_args=())
def record(x: torch.Tensor, tag: str) -> None:
    LOG.append((tag, x.tolist()))
    print(f"[record {tag}] {x.tolist()}", flush=True)


@record.register_fake
def _(x, tag):
    return None


print("effect of effmodel::record before registration:", _get_effect(torch.ops.effmodel.record.default))
torch.library._register_effectful_op("effmodel::record", EffectType.ORDERED)
print("effect after torch.library._register_effectful_op:", _get_effect(torch.ops.effmodel.record.default))


def f(x):
    y = x + 1
    hop_print("hop1 y={}", y)
    torch.ops.aten._print("aten1")
    record(y, "r1")
    hop_print("hop2 kw={k}", k=x * 10)
    torch.ops.aten._print("aten2")
    record(x, "r2")
    return y * 2


x = torch.tensor([1.0, 2.0])
print("===== eager reference =====")
LOG.clear(); print("result:", f(x)); print("LOG:", LOG)


def dynamo_graph_backend(inner):
    def be(gm, ex):
        print("--- dynamo FX graph handed to backend:")
        print(gm.code.strip())
        return inner(gm, ex)
    return be


def fw(gm, ex):
    print("--- AOT forward graph (aot_eager-style, via aot_autograd(fw_compiler=...)):")
    print(gm.code.strip())
    return gm


print("===== torch.compile(backend=aot_autograd(fw_compiler=print&return)) (== aot_eager) =====")
torch._dynamo.reset()
cf = torch.compile(f, backend=dynamo_graph_backend(aot_autograd(fw_compiler=fw)), fullgraph=True)
for i in range(2):
    LOG.clear(); print(f"--- call {i}"); print("result:", cf(x)); print("LOG:", LOG)

print("===== torch.compile(backend='aot_eager'), 2 calls =====")
torch._dynamo.reset()
cf = torch.compile(f, backend="aot_eager", fullgraph=True)
for i in range(2):
    LOG.clear(); print(f"--- call {i}"); print("result:", cf(x)); print("LOG:", LOG)

print("===== torch.compile(backend='inductor'), 2 calls =====")
torch._dynamo.reset()
cf = torch.compile(f, backend="inductor", fullgraph=True)
LOG.clear()
print("--- call 0 (compile + run)")
res, codes = run_and_get_code(cf, x)
print("result:", res); print("LOG:", LOG)
LOG.clear(); print("--- call 1"); print("result:", cf(x)); print("LOG:", LOG)
print("--- inductor output code, call() body:")
code = codes[0]
start = code.index("def call(")
end = code.index("return (", start)
print(code[start:end + 200].split("\n\n")[0])
