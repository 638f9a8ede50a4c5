"""torch.cond whose branches call torch.ops.aten._print.default (registered ORDERED in effects.py:63)."""
import torch
from _harness import run_all

pr = torch.ops.aten._print.default


class BothBranches(torch.nn.Module):
    def forward(self, p, x):
        def t(x):
            pr("true branch")
            return x + 1

        def f(x):
            pr("false branch")
            return x - 1

        return (torch.cond(p, t, f, (x,)),)


class OnlyTrueBranch(torch.nn.Module):
    def forward(self, p, x):
        def t(x):
            pr("true branch")
            return x + 1

        return (torch.cond(p, t, lambda x: x - 1, (x,)),)


class BeforeAndAfter(torch.nn.Module):
    def forward(self, p, x):
        pr("before")

        def t(x):
            pr("true branch")
            return x + 1

        def f(x):
            pr("false branch")
            return x - 1

        y = torch.cond(p, t, f, (x,))
        pr("after")
        return (y,)


x = torch.ones(3)
T = torch.tensor(True)
run_all("cond+_print/both-branches", BothBranches(), (T, x))
run_all("cond+_print/only-true-branch", OnlyTrueBranch(), (T, x))
run_all("cond+_print/before+after", BeforeAndAfter(), (T, x))
