# print HOP under make_fx, FunctionalTensorMode, and aot_export_module(trace_joint=False).
import torch
from torch._higher_order_ops import print as hop_print
from torch.fx.experimental.proxy_tensor import make_fx
from torch._subclasses.functional_tensor import FunctionalTensorMode
from torch._functorch.aot_autograd import aot_export_module


def f(x):
    y = x + 1
    hop_print("y = {}", y)
    hop_print("x={a} n={n}", a=x, n=3)
    return y * 2


x = torch.tensor([1.0, 2.0])

for mode in ["real", "fake", "symbolic"]:
    print(f"===== make_fx(tracing_mode={mode!r}) : printed during trace below (if any) =====")
    gm = make_fx(f, tracing_mode=mode)(x)
    print(gm.code.strip())
print("--- running make_fx(real) graph module:")
gm = make_fx(f)(x)
print("result:", gm(x))
print("node targets:", [str(n.target) for n in gm.graph.nodes if n.op == "call_function"])
print("print node is_impure():", [n.is_impure() for n in gm.graph.nodes if n.target is hop_print])
gm.graph.eliminate_dead_code(); gm.recompile()
print("after eliminate_dead_code, print nodes left:", sum(n.target is hop_print for n in gm.graph.nodes))

print("===== make_fx(functionalize(f)) (torch.func.functionalize) =====")
try:
    gm = make_fx(torch.func.functionalize(f))(x)
    print(gm.code.strip())
except Exception as e:
    print("ERROR", type(e).__name__, str(e).splitlines()[0])

print("===== FunctionalTensorMode(_allow_token_discovery=False) eager (no make_fx) =====")
try:
    with FunctionalTensorMode():
        hop_print("ftm {}", torch.tensor([5.0]))
    print("ok")
except Exception as e:
    print("ERROR", type(e).__name__, str(e).splitlines()[0])

print("===== FunctionalTensorMode(_allow_token_discovery=True) eager; tokens after =====")
m = FunctionalTensorMode(_allow_token_discovery=True)
with m:
    hop_print("ftm {}", torch.tensor([5.0]))
    hop_print("ftm2")
print("tokens:", {k: v for k, v in m._tokens.items()})

print("===== make_fx over a FunctionalTensorMode(_allow_token_discovery=True) region =====")
def g(x):
    with FunctionalTensorMode(_allow_token_discovery=True):
        y = x + 1
        hop_print("y = {}", y)
        hop_print("again {}", 1)
        out = y * 2
    return torch._from_functional_tensor(out.elem) if hasattr(out, "elem") else out
try:
    gm = make_fx(g)(x)
    print(gm.code.strip())
except Exception as e:
    print("ERROR", type(e).__name__, str(e).splitlines()[0])


class M(torch.nn.Module):
    def forward(self, x):
        return (f(x),)


print("===== aot_export_module(trace_joint=False) =====")
gm, sig = aot_export_module(M(), (x,), trace_joint=False)
print("(printed during aot_export above, if any)")
print(gm.code.strip())
print("input_tokens:", sig.input_tokens)
print("output_tokens:", sig.output_tokens)
print("user_inputs:", sig.user_inputs, "user_outputs:", sig.user_outputs)
print("--- run the exported graph with a token:")
print("outputs:", gm(torch.tensor([]), x))
