"""Reproduce an effects-oracle finding on `compile:inductor` with torch only: `python repro.py`.

Found with torch 2.13.0+cpu. The script runs the program eagerly and on `compile:inductor`
and prints each run's outputs and effect log, events as (op, literal args, shapes).

Reference (refimpl) effect log: []
torch effect log on compile:inductor: []
"""

import contextlib
import traceback

import torch
from torch._higher_order_ops.effects import new_token_tensor

LOG = []


PRINTS = contextlib.nullcontext()


def _event(*event):
    LOG.append(event)


def inputs():
    return [
        torch.arange(1).reshape(()).to(torch.float32),
    ]


_op0 = torch.ops.aten.sub.Scalar
_with_effects = torch.ops.higher_order.with_effects
_new_token = new_token_tensor


def program(x0):
    _v1 = _op0(x0, other=0, alpha=0)
    return (_v1, )


def forward(self, x0):
    return program(x0)


Program = type("Program", (torch.nn.Module,), {"forward": forward})


def run_eager():
    return program(*inputs())


def run_compile_inductor():
    import torch._inductor.config

    torch._dynamo.reset()
    with torch._inductor.config.patch(compile_threads=1, fx_graph_cache=False):
        return torch.compile(program, backend="inductor", fullgraph=True)(*inputs())


def observe(name, run):
    LOG.clear()
    try:
        with PRINTS:
            out = run()
    except Exception:
        traceback.print_exc()
        out = "raised (traceback above)"
    print(f"{name}: outputs {out}")
    print(f"{name}: effect log {LOG}")


if __name__ == "__main__":
    print("torch", torch.__version__, torch.version.git_version)
    observe('eager', run_eager)
    observe('compile:inductor', run_compile_inductor)
