"""Reproduce an effects-oracle finding on `compile:inductor` with torch only: `python repro.py`.

Found with torch 2.13.0+cpu. The script runs the program eagerly and on `compile:inductor`
and prints each run's outputs and effect log, events as (op, literal args, shapes).

Reference (refimpl) effect log: [('u::a', (), ((1,),)), ('u::b', (), ((1,), (1,))), ('u::b', (), ((1,), (1,))), ('<backward>', (), ()), ('aten::_print', ('b backward',), ()), ('aten::_print', ('b backward',), ()), ('aten::_print', ('a backward',), ())]
torch effect log on compile:inductor: [('u::a', (), ((1,),)), ('u::b', (), ((1,), (1,))), ('u::b', (), ((1,), (1,))), ('<backward>', (), ()), ('aten::_print', ('b backward',), ()), ('aten::_print', ('b backward',), ()), ('aten::_print', ('a backward',), ())]
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


def u_a_kernel(x):
    _event('u::a', (), (tuple(x.shape),))
    return x + 1


def u_a_fake(x):
    return torch.empty_like(x)


u_a = torch.library.custom_op('u::a', u_a_kernel, mutates_args=(),
                                   schema='(Tensor x) -> Tensor')
u_a.register_fake(u_a_fake)
_register_effectful_op(u_a, EffectType.ORDERED)


def u_b_kernel(x, other):
    _event('u::b', (), (tuple(x.shape), *([] if other is None else [tuple(other.shape)]),))
    return x + 1


def u_b_fake(x, other):
    return torch.empty_like(x)


u_b = torch.library.custom_op('u::b', u_b_kernel, mutates_args=(),
                                   schema='(Tensor x, Tensor? other) -> Tensor')
u_b.register_fake(u_b_fake)
_register_effectful_op(u_b, EffectType.ORDERED)


def inputs():
    global INPUTS
    INPUTS = [
        torch.arange(1).reshape((1,)).to(torch.float32).requires_grad_(),
    ]
    return INPUTS


_op0 = torch.ops.u.a.default
_op1 = torch.ops.u.b.default
_op2 = torch.ops.aten._print.default
_with_effects = torch.ops.higher_order.with_effects
_new_token = new_token_tensor


def program(y):
    _v1 = _op0(y)
    _v2 = _op1(y, _v1)
    _v3 = _op1(y, y)
    return (_v2, _v3, )


def forward(self, y):
    return program(y)


def _setup0(ctx, inputs, output, keyword_only_inputs=None):
    ctx.save_for_backward()


def _backward0(ctx, _g0):
    _op2('a backward')
    return (_g0, )


def _setup1(ctx, inputs, output, keyword_only_inputs=None):
    ctx.save_for_backward()


def _backward1(ctx, _g0):
    _op2('b backward')
    return (_g0, None, )


Program = type("Program", (torch.nn.Module,), {"forward": forward})


u_a.register_autograd(_backward0, setup_context=_setup0)
u_b.register_autograd(_backward1, setup_context=_setup1)
LOSS = [0, 1]
INPUTS = []


def run_eager():
    return program(*inputs())


def run_compile_inductor():
    import torch._inductor.config

    torch._dynamo.reset()
    with torch._inductor.config.patch(compile_threads=1, fx_graph_cache=False):
        return torch.compile(program, backend="inductor", fullgraph=True)(*inputs())


def backward(out):
    loss = None
    for i in LOSS:
        term = torch.ops.aten.sum.default(out[i])
        loss = term if loss is None else torch.ops.aten.add.Tensor(loss, term)
    PRINTS_DRAIN()
    LOG.append(("<backward>", (), ()))
    loss.backward()
    return [x.grad for x in INPUTS if x.requires_grad]


def observe(name, run):
    LOG.clear()
    grads = None
    try:
        with PRINTS:
            out = run()
            if name in ("functional", "fake"):  # the joint graph / the fake mode ran it
                out, grads = out
            else:
                grads = backward(out)
    except Exception:
        traceback.print_exc()
        out = "raised (traceback above)"
    print(f"{name}: outputs {out}")
    print(f"{name}: grads {grads}")
    print(f"{name}: effect log {LOG}")


if __name__ == "__main__":
    print("torch", torch.__version__, torch.version.git_version)
    observe('eager', run_eager)
    observe('compile:inductor', run_compile_inductor)
