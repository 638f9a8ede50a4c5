"""Reproduce an effects-oracle finding on `compile:aot_eager` with torch only: `python repro.py`.

Found with torch 2.13.0+cpu. The script runs the program eagerly and on `compile:aot_eager`
and prints each run's outputs and effect log, events as (op, literal args, shapes).

Reference (refimpl) effect log: []
torch effect log on compile:aot_eager: []
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


def cf_log_kernel(x, tag):
    _event('cf::log', (tag,), (tuple(x.shape),))
    return x + 1


def cf_log_fake(x, tag):
    return torch.empty_like(x)


cf_log = torch.library.custom_op('cf::log', cf_log_kernel, mutates_args=(),
                                   schema='(Tensor x, str tag) -> Tensor')
cf_log.register_fake(cf_log_fake)
_register_effectful_op(cf_log, EffectType.ORDERED)


def cf_observe_kernel(x, tag):
    _event('cf::observe', (tag,), (tuple(x.shape),))
    return None


def cf_observe_fake(x, tag):
    return None


cf_observe = torch.library.custom_op('cf::observe', cf_observe_kernel, mutates_args=(),
                                   schema='(Tensor x, str tag) -> ()')
cf_observe.register_fake(cf_observe_fake)
_register_effectful_op(cf_observe, EffectType.ORDERED)


def inputs():
    return [
        torch.ones((), dtype=torch.float64).to(torch.bool),
        torch.arange(1).reshape((1,)).to(torch.float32),
    ]


_op0 = torch.ops.aten.lt.Scalar
_op1 = torch.ops.aten.add.Tensor
_op2 = torch.ops.aten.zeros.default
_op3 = torch.ops.aten.neg.default
_op4 = torch.ops.cf.log.default
_op5 = torch.ops.cf.observe.default
_op6 = torch.ops.aten.cos.default
_with_effects = torch.ops.higher_order.with_effects
_new_token = new_token_tensor
_while_loop = torch._higher_order_ops.while_loop


def program(p, x):
    _c2 = _op2([])
    def _cond2(_i2, _v3):
        return _op0(_i2, 0)
    def _body2(_i2, _v4):
        _c5 = _op2([])
        def _cond5(_i5, _v6):
            _v7 = _op3(_v6)
            _v8 = _op4(_v7, 't1')
            _op5(_v6, 't3')
            _v9 = _op6(_v6)
            return _op0(_i5, 2)
        def _body5(_i5, _v10):
            _v11 = _op6(_v10)
            return (_op1(_i5, 1), _v11, )
        _, _v12 = _while_loop(_cond5, _body5, (_c5, _v4, ))
        _v13 = _op6(_v12)
        return (_op1(_i2, 1), _v13, )
    _, _v14 = _while_loop(_cond2, _body2, (_c2, x, ))
    return (x, _v14, )


def forward(self, p, x):
    return program(p, x)


Program = type("Program", (torch.nn.Module,), {"forward": forward})


def run_eager():
    return program(*inputs())


def run_compile_aot_eager():
    torch._dynamo.reset()
    return torch.compile(program, backend="aot_eager", fullgraph=True)(*inputs())


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
    observe('compile:aot_eager', run_compile_aot_eager)
