"""torch._higher_order_ops.while_loop with an ORDERED effect in body_fn / cond_fn."""
import torch
from torch._higher_order_ops import while_loop
from _harness import run_all

log = torch.ops.ctl.log.default
pr = torch.ops.aten._print.default


class EffectInBody(torch.nn.Module):
    def forward(self, i, x):
        def cond_fn(i, x):
            return i < 3

        def body_fn(i, x):
            return i + 1, log(x, 1) + 1

        return tuple(while_loop(cond_fn, body_fn, (i, x)))


class EffectInCond(torch.nn.Module):
    def forward(self, i, x):
        def cond_fn(i, x):
            return log(i, 7) < 3

        def body_fn(i, x):
            return i + 1, x + 1

        return tuple(while_loop(cond_fn, body_fn, (i, x)))


class BeforeBodyAfter(torch.nn.Module):
    def forward(self, i, x):
        y = log(x, 0)

        def cond_fn(i, x):
            return i < 3

        def body_fn(i, x):
            return i + 1, log(x, 1) + 1

        j, z = while_loop(cond_fn, body_fn, (i, y))
        return (j, log(z, 9))


class PrintInBody(torch.nn.Module):
    def forward(self, i, x):
        pr("before")

        def cond_fn(i, x):
            return i < 3

        def body_fn(i, x):
            pr("body")
            return i + 1, x + 1

        out = while_loop(cond_fn, body_fn, (i, x))
        pr("after")
        return tuple(out)


i0 = torch.tensor(0)
x = torch.ones(3)
run_all("while_loop/effect-in-body", EffectInBody(), (i0, x))
run_all("while_loop/effect-in-cond_fn", EffectInCond(), (i0, x))
run_all("while_loop/before+body+after", BeforeBodyAfter(), (i0, x))
run_all("while_loop/_print in body, before, after", PrintInBody(), (i0, x))


class PureWhile(torch.nn.Module):
    """Control: no effects at all (is the aot_export_module failure effect-related?)."""
    def forward(self, i, x):
        return tuple(while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x + 1), (i, x)))


run_all("while_loop/pure control", PureWhile(), (i0, x), paths=("aot_export",))
