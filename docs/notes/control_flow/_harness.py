"""Shared harness for the control-flow effect-token notes (imported by 01_*.py ...).

Defines an ORDERED custom op ``ctl::log`` (appends its tag to LOG, returns x.clone())
and runs one nn.Module through every tracing / compile path, printing what it sees.
"""
import sys
import traceback

import torch
from torch._higher_order_ops.effects import _EffectType, _register_effectful_op

LOG = []


@torch.library.custom_op("ctl::log", mutates_args=())
def log_op(x: torch.Tensor, tag: int) -> torch.Tensor:
    LOG.append(tag)
    return x.clone()


@log_op.register_fake
def _(x, tag):
    return torch.empty_like(x)


_register_effectful_op(torch.ops.ctl.log.default, _EffectType.ORDERED)


def banner(s):
    print("\n" + "=" * 8 + " " + s + " " + "=" * 8, flush=True)


def err(e):
    lines = str(e).strip().splitlines()
    head = "\n    ".join(lines[:12])
    print(f"  ERROR {type(e).__module__}.{type(e).__name__}: {head}")
    # innermost frame inside torch, for locating the raise site
    tb = traceback.extract_tb(e.__traceback__)
    for fr in tb[-3:]:
        f = fr.filename.split("site-packages/")[-1]
        print(f"    at {f}:{fr.lineno} in {fr.name}")


def dump_gm(gm, title="graph"):
    print(f"--- {title}.code:")
    print(gm.code.strip())
    for n in gm.graph.nodes:
        if n.op == "get_attr":
            v = getattr(gm, n.target, None)
            if isinstance(v, torch.Tensor):
                print(f"    # get_attr {n.target}: {type(v).__name__} shape={tuple(v.shape)} id={id(v):#x}")
    for name, sub in gm.named_children():
        if isinstance(sub, torch.fx.GraphModule):
            dump_gm(sub, f"{title}.{name}")


def clear():
    LOG.clear()


def run_eager(mod, args):
    banner("eager")
    clear()
    try:
        out = mod(*args)
        print("  out:", out)
    except Exception as e:
        err(e)
    print("  LOG:", LOG)
    return list(LOG)


def run_make_fx(mod, args):
    from torch.fx.experimental.proxy_tensor import make_fx

    banner('make_fx(tracing_mode="fake")')
    clear()
    try:
        gm = make_fx(mod, tracing_mode="fake")(*args)
        print("  LOG during trace:", LOG)
        dump_gm(gm, "make_fx")
        clear()
        out = gm(*args)
        print("  run gm: out:", out, "LOG:", LOG)
    except Exception as e:
        err(e)


def run_aot_export(mod, args):
    from torch._functorch.aot_autograd import aot_export_module

    banner("aot_export_module(trace_joint=False)")
    clear()
    try:
        gm, sig = aot_export_module(mod, args, trace_joint=False)
        dump_gm(gm, "aot")
        print("--- signature:", sig)
        print("  input_tokens:", sig.input_tokens, "output_tokens:", sig.output_tokens)
        clear()
        try:
            out = gm(*([torch.tensor([])] * len(sig.input_tokens)), *args)
            print("  run gm (tokens prepended): out:", out, "LOG:", LOG)
        except Exception as e:
            print("  running exported gm:")
            err(e)
    except Exception as e:
        err(e)


def run_export(mod, args):
    banner("torch.export.export")
    clear()
    try:
        ep = torch.export.export(mod, args)
        dump_gm(ep.graph_module, "export")
        print("--- graph_signature:\n", ep.graph_signature)
        clear()
        print("  ep.module()(*args):", ep.module()(*args), "LOG:", LOG)
    except Exception as e:
        err(e)
        return
    banner("export.run_decompositions({})")
    clear()
    try:
        ep2 = ep.run_decompositions({})
        dump_gm(ep2.graph_module, "decomp")
        print("--- graph_signature:\n", ep2.graph_signature)
        clear()
        print("  ep2.module()(*args):", ep2.module()(*args), "LOG:", LOG)
    except Exception as e:
        err(e)


def _printing_aot_backend():
    from torch._dynamo.backends.common import aot_autograd
    from functorch.compile import make_boxed_func

    graphs = []

    def fw(gm, example_inputs):
        graphs.append(gm)
        dump_gm(gm, f"aot_eager_fw[{len(graphs)-1}]")
        return make_boxed_func(gm.forward)

    return aot_autograd(fw_compiler=fw), graphs


def run_compile(mod, args, backend):
    banner(f'torch.compile(backend="{backend}")')
    torch._dynamo.reset()
    clear()
    try:
        if backend == "aot_eager(printing)":
            be, graphs = _printing_aot_backend()
            c = torch.compile(mod, backend=be, fullgraph=False)
            out = c(*args)
        elif backend == "inductor":
            from torch._inductor.utils import run_and_get_code

            c = torch.compile(mod, backend="inductor")
            out, codes = run_and_get_code(c, *args)
            for i, code in enumerate(codes):
                interesting = [
                    l.strip() for l in code.splitlines()
                    if any(k in l for k in ("ctl.log", "ctl::log", "_print", "with_effects",
                                             "cond", "while", "token", "def call", "return ("))
                ]
                print(f"--- inductor output code [{i}] (filtered lines):")
                print("    " + "\n    ".join(interesting[:60]))
        else:
            c = torch.compile(mod, backend=backend)
            out = c(*args)
        print("  out:", out)
        print("  LOG first call:", LOG)
        clear()
        out = c(*args)
        print("  LOG second call:", LOG)
    except Exception as e:
        err(e)
        print("  LOG at failure:", LOG)


ALL = ("eager", "make_fx", "aot_export", "export", "aot_eager", "aot_eager(printing)", "inductor")


def run_all(name, mod, args, paths=ALL):
    print("\n\n" + "#" * 20 + f" CASE {name} " + "#" * 20)
    print("torch", torch.__version__)
    for p in paths:
        if p == "eager":
            run_eager(mod, args)
        elif p == "make_fx":
            run_make_fx(mod, args)
        elif p == "aot_export":
            run_aot_export(mod, args)
        elif p == "export":
            run_export(mod, args)
        else:
            run_compile(mod, args, p)
    sys.stdout.flush()
