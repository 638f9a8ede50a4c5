"""Reproduce an effects-oracle finding on `functional` with torch only: `python repro.py`.

Found with torch 2.13.0+cpu. The script runs the program eagerly and on `functional`
and prints each run's outputs and effect log, events as (op, literal args, shapes).

Reference (refimpl) effect log: [('aten::_print', ('',), ())]
torch effect log on functional: [('aten::_print', ('',), ())]
"""

import contextlib
import ctypes
import io
import os
import sys
import tempfile
import traceback

import torch
from torch._higher_order_ops.effects import new_token_tensor

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


def inputs():
    return [
        torch.arange(1).reshape(()).to(torch.float32),
    ]


_op0 = torch.ops.aten.abs_.default
_op1 = torch.ops.aten.add.Tensor
_op2 = torch.ops.aten.view.default
_op3 = torch.ops.aten._print.default
_with_effects = torch.ops.higher_order.with_effects
_new_token = new_token_tensor


def program(x0):
    _op0(x0)
    _v1 = _op1(x0, x0)
    _v2 = _op2(x0, [])
    _op3('')
    return (_v2, )


def forward(self, x0):
    return program(x0)


Program = type("Program", (torch.nn.Module,), {"forward": forward})


def run_eager():
    return program(*inputs())


def run_functional():
    from torch._functorch.aot_autograd import aot_export_module

    gm, sig = aot_export_module(Program(), tuple(inputs()), trace_joint=False)
    flat = gm(*[torch.tensor([]) for _ in sig.input_tokens], *inputs())
    skip = len(sig.output_tokens) + len(sig.buffers_to_mutate) + len(sig.user_inputs_to_mutate)
    return tuple(flat)[skip:]


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
    observe('functional', run_functional)
