"""torch.cond whose branches call an ORDERED custom op (ctl::log, appends a tag to LOG)."""
import torch
from _harness import run_all, LOG

log = torch.ops.ctl.log.default


class BothBranches(torch.nn.Module):
    def forward(self, p, x):
        def t(x):
            return log(x, 1) + 1

        def f(x):
            return log(x, 2) - 1

        return (torch.cond(p, t, f, (x,)),)


class OnlyTrueBranch(torch.nn.Module):
    def forward(self, p, x):
        def t(x):
            return log(x, 1) + 1

        def f(x):
            return x - 1

        return (torch.cond(p, t, f, (x,)),)


class BeforeAndAfter(torch.nn.Module):
    def forward(self, p, x):
        y = log(x, 0)

        def t(x):
            return log(x, 1) + 1

        def f(x):
            return log(x, 2) - 1

        z = torch.cond(p, t, f, (y,))
        return (log(z, 9),)


class BeforeAfterPureBranches(torch.nn.Module):
    """Effects only outside the cond (control: does the cond itself get a token?)."""
    def forward(self, p, x):
        y = log(x, 0)
        z = torch.cond(p, lambda x: x + 1, lambda x: x - 1, (y,))
        return (log(z, 9),)


x = torch.ones(3)
T = torch.tensor(True)
F = torch.tensor(False)
run_all("cond/both-branches p=True", BothBranches(), (T, x))
run_all("cond/only-true-branch p=True", OnlyTrueBranch(), (T, x))
run_all("cond/only-true-branch p=False", OnlyTrueBranch(), (F, x), paths=("eager", "aot_eager", "inductor"))
run_all("cond/before+after p=True", BeforeAndAfter(), (T, x))
run_all("cond/before+after, pure branches", BeforeAfterPureBranches(), (T, x))
