"""torch._dynamo.graph_break() between ORDERED custom-op calls: graphs, tokens per graph, order."""
import torch
import torch._dynamo
from torch._dynamo.backends.common import aot_autograd
from functorch.compile import make_boxed_func
from _harness import LOG, dump_gm, banner, err

log = torch.ops.ctl.log.default
pr = torch.ops.aten._print.default


def f(x):
    a = log(x, 1)
    torch._dynamo.graph_break()
    b = log(a, 2)
    return b + 1


def g(x):
    a = log(x, 1)
    b = log(a, 2)
    torch._dynamo.graph_break()
    c = log(x, 3)  # independent of a/b by data: only tokens order it
    torch._dynamo.graph_break()
    d = log(x, 4)
    return b + c + d


def h(x):
    pr("p1")
    torch._dynamo.graph_break()
    pr("p2")
    return x + 1


for fn in (f, g, h):
    banner(f"function {fn.__name__}")
    LOG.clear()
    fn(torch.ones(2))
    print("  eager LOG:", LOG)

    torch._dynamo.reset()
    ex = torch._dynamo.explain(fn)(torch.ones(2))
    print(f"  explain: graph_count={ex.graph_count} graph_break_count={ex.graph_break_count}")
    for br in ex.break_reasons:
        print("   break reason:", str(br.reason).splitlines()[0])

    # dynamo graphs (what a backend receives)
    torch._dynamo.reset()
    dyn = []

    def counting(gm, ex_inputs):
        dyn.append(gm)
        print(f"--- dynamo graph [{len(dyn)-1}] code:")
        print(gm.code.strip())
        return gm.forward

    LOG.clear()
    torch.compile(fn, backend=counting)(torch.ones(2))
    print("  counting backend: graphs =", len(dyn), "LOG:", LOG)

    # aot graphs per dynamo graph
    torch._dynamo.reset()
    aots = []

    def fw(gm, ex_inputs):
        aots.append(gm)
        dump_gm(gm, f"aot fw graph [{len(aots)-1}]")
        ph = [n.name for n in gm.graph.nodes if n.op == "placeholder"]
        print("    placeholders:", ph)
        return make_boxed_func(gm.forward)

    LOG.clear()
    torch.compile(fn, backend=aot_autograd(fw_compiler=fw))(torch.ones(2))
    print("  aot_autograd backend: aot graphs =", len(aots), "LOG:", LOG)

    for be in ("aot_eager", "inductor"):
        torch._dynamo.reset()
        LOG.clear()
        try:
            c = torch.compile(fn, backend=be)
            c(torch.ones(2))
            print(f"  {be}: LOG call1:", LOG)
            LOG.clear()
            c(torch.ones(2))
            print(f"  {be}: LOG call2:", LOG)
        except Exception as e:
            err(e)
