"""Reproduce an effects-oracle finding on `export` with torch only: `python repro.py`.

Found with torch 2.14.1. The script runs the program eagerly and on `export`
and prints each run's outputs and effect log, events as (op, literal args, shapes).

Reference (refimpl) effect log: [('fz::op0', ('',), ((),))]
torch effect log on export: [('fz::op0', ('',), ((),))]
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


def fz_op0_kernel(x, tag):
    _event('fz::op0', (tag,), (tuple(x.shape),))
    return x + 1


def fz_op0_fake(x, tag):
    return torch.empty_like(x)


fz_op0 = torch.library.custom_op('fz::op0', fz_op0_kernel, mutates_args=(),
                                   schema='(Tensor x, str tag) -> Tensor')
fz_op0.register_fake(fz_op0_fake)
_register_effectful_op(fz_op0, EffectType.ORDERED)


def inputs():
    return [
        torch.arange(1).reshape(()).to(torch.float32),
    ]


_op0 = torch.ops.aten.add_.Tensor
_op1 = torch.ops.aten.view.default
_op2 = torch.ops.fz.op0.default
_with_effects = torch.ops.higher_order.with_effects
_new_token = new_token_tensor


def program(x2):
    _v1 = _op0(x2, x2)
    _v2 = _op1(x2, [])
    _v3 = _op1(_v2, [])
    _op2(_v2, '')
    return (_v3, )


def forward(self, x2):
    return program(x2)


Program = type("Program", (torch.nn.Module,), {"forward": forward})


def run_eager():
    return program(*inputs())


def run_export():
    from torch.export._remove_effect_tokens_pass import _remove_effect_tokens

    ep = torch.export.export(Program(), tuple(inputs())).run_decompositions({})
    ep = _remove_effect_tokens(ep)
    sig = ep.graph_signature
    mutated = sum(1 for s in sig.output_specs
                  if s.kind.name in ("USER_INPUT_MUTATION", "BUFFER_MUTATION"))
    constants = [ep.constants[s.target] for s in sig.input_specs
                 if s.kind.name in ("CONSTANT_TENSOR", "CUSTOM_OBJ")]
    return tuple(ep.graph_module(*constants, *inputs()))[mutated:]


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
    observe('export', run_export)
