"""Reproduce an effects-oracle finding on `compile:inductor` with torch only: `python repro.py`.

Found with torch 2.13.0+cpu. The script runs the program eagerly and on `compile:inductor`
and prints each run's outputs and effect log, events as (op, literal args, shapes).

Reference (refimpl) effect log: [('c73::log', ('body',), ((3,),)), ('c73::log', ('body',), ((3,),)), ('c73::log', ('body',), ((3,),))]
torch effect log on compile:inductor: []
"""

import contextlib
import traceback

import torch
from torch._higher_order_ops.effects import _register_effectful_op, new_token_tensor
from torch._library.effects import EffectType

LOG = []


PRINTS = contextlib.nullcontext()


def _event(*event):
    LOG.append(event)


def PRINTS_DRAIN():
    return None


def c73_log_kernel(x, tag):
    _event('c73::log', (tag,), (tuple(x.shape),))
    return x + 1


def c73_log_fake(x, tag):
    return torch.empty_like(x)


c73_log = torch.library.custom_op('c73::log', c73_log_kernel, mutates_args=(),
                                   schema='(Tensor x, str tag) -> Tensor')
c73_log.register_fake(c73_log_fake)
_register_effectful_op(c73_log, EffectType.ORDERED)


def inputs():
    return [
        torch.arange(3).reshape((3,)).to(torch.float32),
    ]


_op0 = torch.ops.aten.lt.Scalar
_op1 = torch.ops.aten.add.Tensor
_op2 = torch.ops.aten.zeros.default
_op3 = torch.ops.c73.log.default
_with_effects = torch.ops.higher_order.with_effects
_new_token = new_token_tensor
_while_loop = torch._higher_order_ops.while_loop


def program(x):
    _c1 = _op2([])
    def _cond1(_i1, _v2):
        return _op0(_i1, 3)
    def _body1(_i1, _v3):
        _v4 = _op3(_v3, 'body')
        return (_op1(_i1, 1), _v4, )
    _, _v5 = _while_loop(_cond1, _body1, (_c1, x, ))
    return (_v5, )


def forward(self, x):
    return program(x)


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
