"""Two controls for the cond/while_loop findings.

(a) with_effects called with a FakeTensor token (what the cond/while_loop branch graphs capture as
    `_tensor_constant0`): custom op -> FakeTensorMode error; aten._print -> nothing printed.
(b) invoke_subgraph (torch.compiler.nested_compile_region), the one HOP that threads a token
    through its subgraph in 2.13 (PR #167231 / #167363 / #167364): the subgraph takes and returns
    the token, and the top-level call is wrapped in with_effects after unlifting.
"""
import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch._higher_order_ops.effects import with_effects
from torch._library.utils import is_impure
from torch._dynamo.backends.common import aot_autograd
from functorch.compile import make_boxed_func
from _harness import LOG, dump_gm, banner, err

log = torch.ops.ctl.log.default
pr = torch.ops.aten._print.default

banner("(a) with_effects with a FakeTensor token, real args")
with FakeTensorMode():
    fake_tok = torch.tensor([])
print("  token:", type(fake_tok).__name__)
try:
    with_effects(fake_tok, log, torch.ones(2), 5)
    print("  custom op: ran, LOG:", LOG)
except Exception as e:
    err(e)
import sys
sys.stdout.flush()
print("  _print: calling with_effects(fake_tok, aten._print, 'SHOULD-PRINT')", flush=True)
out = with_effects(fake_tok, pr, "SHOULD-PRINT")
sys.stdout.flush()
print("  _print returned:", out, "(no 'SHOULD-PRINT' line above => the print was swallowed)", flush=True)
print("  with_effects(None, aten._print, 'runtime-None-token') [aot_eager passes None tokens]:", flush=True)
with_effects(None, pr, "runtime-None-token")
sys.stdout.flush()

banner("is_impure() as used by fx DCE (torch/_library/utils.py is_impure)")
for name, op in [("with_effects", torch.ops.higher_order.with_effects),
                 ("cond", torch.ops.higher_order.cond),
                 ("while_loop", torch.ops.higher_order.while_loop),
                 ("aten._print", pr), ("ctl.log", log)]:
    print(f"  is_impure({name}) = {is_impure(op)}")

banner("(b) invoke_subgraph (nested_compile_region) with an ORDERED op inside")


@torch.compiler.nested_compile_region
def region(x):
    return log(x, 1) + 1


def f(x):
    y = log(x, 0)
    z = region(y)
    w = region(z)  # called twice so it stays an invoke_subgraph
    return log(w, 9)


def fw(gm, ex):
    dump_gm(gm, "aot_fw")
    return make_boxed_func(gm.forward)


for be_name, be in [("aot_autograd(printing)", aot_autograd(fw_compiler=fw)), ("aot_eager", "aot_eager"), ("inductor", "inductor")]:
    torch._dynamo.reset()
    LOG.clear()
    try:
        torch.compile(f, backend=be, fullgraph=True)(torch.ones(2))
        print(f"  {be_name}: LOG", LOG)
    except Exception as e:
        print(f"  {be_name}:")
        err(e)
