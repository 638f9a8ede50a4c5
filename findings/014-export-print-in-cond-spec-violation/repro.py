"""Reproduce an effects-oracle finding on `export` with torch only: `python repro.py`.

Found with torch 2.13.0+cpu. The script runs the program eagerly and on `export`
and prints each run's outputs and effect log, events as (op, literal args, shapes).

Reference (refimpl) effect log: [('aten::_print', ('after',), ())]
torch effect log on export: []
"""

import contextlib
import ctypes
import io
import os
import sys
import tempfile
import traceback

import torch
from torch._higher_order_ops.effects import _register_effectful_op, new_token_tensor
from torch._library.effects import EffectType

LOG = []


class Prints:
    """aten::_print writes to C++ std::cout (file descriptor 1), not to sys.stdout. While a run
    is observed, fd 1 is a temporary file and each line written to it becomes an event, read
    before each custom-op event so that the log keeps the order things happened in."""

    def __init__(self):
        self.file = None

    def __enter__(self):
        sys.stdout.flush()
        ctypes.CDLL(None).fflush(None)
        self.file, self.offset, self.partial = tempfile.TemporaryFile(), 0, b""
        self.saved = os.dup(1)
        os.dup2(self.file.fileno(), 1)
        self.quiet = contextlib.redirect_stdout(io.StringIO())
        self.quiet.__enter__()

    def drain(self):
        if self.file is None:
            return
        ctypes.CDLL(None).fflush(None)
        self.file.seek(self.offset)
        data = self.file.read()
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        LOG.extend(("aten::_print", (line.decode("utf-8", "replace"),), ()) for line in lines)

    def __exit__(self, *exc):
        self.drain()
        if self.partial:
            LOG.append(("aten::_print", (self.partial.decode("utf-8", "replace"),), ()))
        self.quiet.__exit__(None, None, None)
        os.dup2(self.saved, 1)
        os.close(self.saved)
        self.file.close()
        self.file = None


PRINTS = Prints()


def _event(*event):
    PRINTS.drain()
    LOG.append(event)


PRINTS_DRAIN = PRINTS.drain


def c71_log_kernel(x, tag):
    _event('c71::log', (tag,), (tuple(x.shape),))
    return x + 1


def c71_log_fake(x, tag):
    return torch.empty_like(x)


c71_log = torch.library.custom_op('c71::log', c71_log_kernel, mutates_args=(),
                                   schema='(Tensor x, str tag) -> Tensor')
c71_log.register_fake(c71_log_fake)
_register_effectful_op(c71_log, EffectType.ORDERED)


def inputs():
    return [
        torch.ones((), dtype=torch.float64).to(torch.bool),
        torch.arange(3).reshape((3,)).to(torch.float32),
    ]


_op0 = torch.ops.aten._print.default
_op1 = torch.ops.aten.cos.default
_op2 = torch.ops.aten.neg.default
_with_effects = torch.ops.higher_order.with_effects
_new_token = new_token_tensor
_cond = torch.cond


def program(p, x):
    _op0('before')
    def _true2(_v3):
        _op0('true branch')
        _v4 = _op1(_v3)
        return (_v4, )
    def _false2(_v5):
        _op0('false branch')
        _v6 = _op2(_v5)
        return (_v6, )
    _v7, = _cond(p, _true2, _false2, (x, ))
    _op0('after')
    return (_v7, )


def forward(self, p, x):
    return program(p, x)


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
