# print HOP (+ aten._print) under torch.export.export (strict and non-strict) and run_decompositions({}).
import torch
from torch._higher_order_ops import print as hop_print


class M(torch.nn.Module):
    def forward(self, x):
        y = x + 1
        hop_print("y = {}", y)
        torch.ops.aten._print("aten print")
        hop_print("x={a} n={n}", a=x, n=3)
        return y * 2


x = torch.tensor([1.0, 2.0])
for strict in [False, True]:
    print(f"===== torch.export.export(strict={strict}) (anything printed during export appears here) =====")
    try:
        ep = torch.export.export(M(), (x,), strict=strict)
    except Exception as e:
        print("ERROR", type(e).__name__, str(e).splitlines()[0]); continue
    print(ep.graph_module.code.strip())
    print("graph_signature:\n" + str(ep.graph_signature))
    print("--- ep.module()(x):")
    print("result:", ep.module()(x))
    print("--- run_decompositions({}):")
    ep2 = ep.run_decompositions({})
    print(ep2.graph_module.code.strip())
    print("input specs:", [(s.kind.name, s.arg.name) for s in ep2.graph_signature.input_specs])
    print("output specs:", [(s.kind.name, s.arg.name) for s in ep2.graph_signature.output_specs])
    print("--- ep2.graph_module(token, x) (lifted graph, token passed explicitly):")
    print("result:", ep2.graph_module(torch.tensor([]), x))
    print("--- ep2.module()(x) (unlift -> _remove_effect_tokens):")
    try:
        um = ep2.module()
        print(um.code.strip())
        print("result:", um(x))
    except Exception as e:
        print("ERROR", type(e).__name__, str(e).strip().splitlines()[-1][:300])


class N(torch.nn.Module):
    """Only non-tensor print args + aten._print: does unlifting work then?"""
    def forward(self, x):
        hop_print("const {} {k}", 1, k="v")
        torch.ops.aten._print("aten print")
        return x + 1


print("===== variant N: print with only non-tensor args; export(strict=False).run_decompositions({}) =====")
ep = torch.export.export(N(), (x,), strict=False).run_decompositions({})
print(ep.graph_module.code.strip())
try:
    um = ep.module()
    print(um.code.strip())
    print("result:", um(x))
except Exception as e:
    print("ERROR", type(e).__name__, str(e).strip().splitlines()[-1][:300])
