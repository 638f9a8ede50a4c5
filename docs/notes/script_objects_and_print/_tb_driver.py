"""Shared driver: trace  f(obj, x) = op(obj, obj.<method>(x))  through make_fx / aot_export_module /
torch.export / torch.compile(aot_eager-style, inductor) for a real torchbind object."""
import torch
from torch.fx.experimental.proxy_tensor import make_fx
from torch._higher_order_ops.torchbind import enable_torchbind_tracing
from torch._functorch.aot_autograd import aot_export_module
from torch._inductor.utils import run_and_get_code
from torch._dynamo.backends.common import aot_autograd


def _err(e):
    lines = [l for l in str(e).strip().splitlines() if l.strip()]
    return f"ERROR {type(e).__name__}: {lines[0][:400] if lines else ''}"


def run(make_obj, f, state, x):
    """make_obj() -> fresh ScriptObject; f(obj, x) program; state(obj) -> observable int state."""

    class MIn(torch.nn.Module):
        def forward(self, obj, x):
            return (f(obj, x),)

    class MAttr(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.obj = make_obj()

        def forward(self, x):
            return f(self.obj, x)

    o = make_obj()
    print("eager:", f(o, x), "state after:", state(o))

    for mode in ["real", "fake"]:
        for tb in [False, True]:
            print(f"===== make_fx(tracing_mode={mode!r}), enable_torchbind_tracing={tb} =====")
            o = make_obj()
            try:
                if tb:
                    with enable_torchbind_tracing():
                        gm = make_fx(f, tracing_mode=mode)(o, x)
                else:
                    gm = make_fx(f, tracing_mode=mode)(o, x)
                print(gm.code.strip()); print("state after trace:", state(o))
            except Exception as e:
                print(_err(e))

    print("===== aot_export_module(trace_joint=False), obj as input, with enable_torchbind_tracing =====")
    o = make_obj()
    try:
        with enable_torchbind_tracing():
            gm, sig = aot_export_module(MIn(), (o, x), trace_joint=False)
        print(gm.code.strip())
        print("input_tokens:", sig.input_tokens, "output_tokens:", sig.output_tokens,
              "user_inputs:", sig.user_inputs, "user_outputs:", sig.user_outputs)
        print("state after trace:", state(o))
        o2 = make_obj()
        print("run graph(token, obj, x):", gm(torch.tensor([]), o2, x), "state:", state(o2))
    except Exception as e:
        print(_err(e))

    for strict in [False, True]:
        print(f"===== torch.export.export(strict={strict}), obj as module attribute =====")
        m = MAttr()
        try:
            ep = torch.export.export(m, (x,), strict=strict)
            print(ep.graph_module.code.strip())
            print("input specs:", [(s.kind.name, s.arg.name, s.target) for s in ep.graph_signature.input_specs])
            print("state of m.obj after export:", state(m.obj))
            ep2 = ep.run_decompositions({})
            print("--- run_decompositions({}):")
            print(ep2.graph_module.code.strip())
            print("input specs:", [(s.kind.name, s.arg.name, s.target) for s in ep2.graph_signature.input_specs])
            print("output specs:", [(s.kind.name, s.arg.name) for s in ep2.graph_signature.output_specs])
            um = ep2.module()
            print("--- ep2.module() code:"); print(um.code.strip())
            print("ep2.module()(x):", um(x))
        except Exception as e:
            print(_err(e))

    def fw(gm, ex):
        print("--- AOT forward graph:"); print(gm.code.strip()); return gm

    def dyn(inner):
        def be(gm, ex):
            print("--- dynamo graph:"); print(gm.code.strip()); return inner(gm, ex)
        return be

    print("===== torch.compile(aot_autograd(fw_compiler)) (== aot_eager), obj as arg =====")
    torch._dynamo.reset()
    o = make_obj()
    try:
        cf = torch.compile(f, backend=dyn(aot_autograd(fw_compiler=fw)), fullgraph=True)
        print("call0:", cf(o, x), "state:", state(o))
        print("call1:", cf(o, x), "state:", state(o))
    except Exception as e:
        print(_err(e))

    print("===== torch.compile(inductor), obj as arg =====")
    torch._dynamo.reset()
    o = make_obj()
    try:
        cf = torch.compile(f, backend="inductor", fullgraph=True)
        res, codes = run_and_get_code(cf, o, x)
        print("call0:", res, "state:", state(o))
        print("call1:", cf(o, x), "state:", state(o))
        code = codes[0]; s = code.index("def call("); print(code[s:code.index("return", s) + 20])
    except Exception as e:
        print(_err(e))
