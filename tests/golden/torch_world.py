"""The torch world: the golden scenarios' world protocol implemented with real torch.

Models: the torch 2.13.0 entry points the reference scenarios in
`/work/shared/reference/torch-2.13/scenarios/` call: `torch.library.custom_op`,
`torch._higher_order_ops.effects._register_effectful_op` / `with_effects` / `new_token_tensor`,
`torch._functorch.aot_autograd.aot_export_module(trace_joint=False)`,
`torch.fx.experimental.proxy_tensor.make_fx`,
`torch._subclasses.functional_tensor.FunctionalTensorMode` / `dispatch_functionalize`,
`torch.export.export` and `ExportedProgram.run_decompositions`,
`torch.export._remove_effect_tokens_pass._remove_effect_tokens` and
`functorch.compile.aot_function` with capturing compilers.

Spec: none of its own; it is the adapter that `tests/golden/scenarios.py` runs against torch
(TRC-1 .. TRC-13 are cited by the scenarios and tests).

Simplifications:
1. torch keeps every custom op for the life of the process, so `namespace()` hands out a fresh
   namespace per scenario run (`goldt<N>`); `scenarios.run_scenario` rewrites it back to `gold`.
2. `remove_effect_tokens(gm)` needs the `ExportedProgram` behind `gm`; the world remembers the
   program of every graph module that `export_graph` / `export_decomposed` returned.
3. `capture_prints` redirects file descriptor 1, because `aten::_print` writes through C++
   `std::cout`, which Python's `sys.stdout` redirection does not see.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import os
import sys
import tempfile

import torch
from functorch.compile import (
    aot_function,
    default_partition,
    make_boxed_func,
    min_cut_rematerialization_partition,
)
from torch._functorch.aot_autograd import aot_export_module
from torch._higher_order_ops.effects import (
    _EffectType,
    _register_effectful_op,
    new_token_tensor,
    with_effects,
)
from torch._subclasses.functional_tensor import (
    FunctionalTensor,
    FunctionalTensorMode,
    dispatch_functionalize,
)
from torch.export._remove_effect_tokens_pass import _remove_effect_tokens
from torch.fx.experimental.proxy_tensor import make_fx

# One counter per process: custom-op namespaces must never be reused (Simplification 1).
_NAMESPACE_COUNTER = itertools.count()

_EFFECTS = {"ORDERED": _EffectType.ORDERED, None: None}


class _FunctionModule(torch.nn.Module):
    """Wraps a plain function so that `aot_export_module` can take it."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *args):
        out = self.fn(*args)
        return out if isinstance(out, (tuple, list)) else (out,)


class TorchWorld:
    """The world protocol of `tests/golden/scenarios.py`, implemented with torch 2.13."""

    name = "torch"
    Module = torch.nn.Module
    ops = torch.ops
    with_effects = with_effects

    def __init__(self):
        self._programs = {}

    # -- naming --------------------------------------------------------------------------
    def namespace(self, scenario):
        """A custom-op namespace never used before in this process (Simplification 1)."""
        return f"goldt{next(_NAMESPACE_COUNTER)}"

    # -- operators and effects -----------------------------------------------------------
    def custom_op(self, qualname, mutates_args=(), schema=None):
        return torch.library.custom_op(qualname, mutates_args=mutates_args, schema=schema)

    def register_effect(self, op, effect):
        """`_register_effectful_op(op, ORDERED | None)`; returns the handle (`.destroy()`)."""
        return _register_effectful_op(op, _EFFECTS[effect])

    # -- tensors -------------------------------------------------------------------------
    def tensor(self, data, requires_grad=False, dtype=None):
        dtype = None if dtype is None else getattr(torch, dtype)
        return torch.tensor(data, requires_grad=requires_grad, dtype=dtype)

    def ones(self, *shape, requires_grad=False):
        return torch.ones(*shape, requires_grad=requires_grad)

    def zeros(self, *shape, requires_grad=False):
        return torch.zeros(*shape, requires_grad=requires_grad)

    def arange(self, end, requires_grad=False):
        return torch.arange(end, requires_grad=requires_grad)

    def new_token(self):
        return new_token_tensor()

    def is_tensor(self, value):
        return isinstance(value, torch.Tensor)

    def tolist(self, tensor):
        return tensor.detach().tolist()

    # -- running -------------------------------------------------------------------------
    def capture_prints(self, fn, *args):
        """Call `fn(*args)`; return its result and the lines `aten::_print` wrote."""
        lines = []
        with _captured_stdout_fd(lines):
            result = fn(*args)
        return result, lines

    # -- tracing -------------------------------------------------------------------------
    def make_fx(self, fn, tracing_mode="fake"):
        return make_fx(fn, tracing_mode=tracing_mode)

    def aot_export(self, mod, args, unlift_effect_tokens=False):
        if not isinstance(mod, torch.nn.Module):
            mod = _FunctionModule(mod)
        with torch._functorch.config.patch(unlift_effect_tokens=unlift_effect_tokens):
            return aot_export_module(mod, tuple(args), trace_joint=False)

    def aot_export_joint(self, mod, args, output_loss_index):
        """`aot_export_module(mod, args, trace_joint=True, output_loss_index=...)`."""
        return aot_export_module(mod, tuple(args), trace_joint=True,
                                 output_loss_index=output_loss_index)

    def functional_make_fx(self, fn, args, allow_token_discovery=False, seed_token=False):
        """make_fx (fake) of `fn` run under a Python `FunctionalTensorMode` (reference 06).

        Unseeded: `dispatch_functionalize(fn, FunctionalTensorMode(_allow_token_discovery=...))`
        (06 B/C). Seeded: the graph takes a token first, seeds `mode._tokens` with it and returns
        `(final_token, fn's output)`, as AOTAutograd does (06 D).
        """
        if seed_token:
            traced = _seeded_token_function(fn)
            return make_fx(traced, tracing_mode="fake")(new_token_tensor(), *args)
        mode = FunctionalTensorMode(_allow_token_discovery=allow_token_discovery)
        return make_fx(dispatch_functionalize(fn, mode), tracing_mode="fake")(*args)

    def export_graph(self, mod, args):
        """`torch.export.export(mod, args)`: its graph module and graph signature."""
        return self._remember(torch.export.export(mod, tuple(args)))

    def export_decomposed(self, mod, args):
        """As `export_graph`, after `ExportedProgram.run_decompositions()`."""
        return self._remember(torch.export.export(mod, tuple(args)).run_decompositions())

    def export_functional(self, mod, args):
        """As `export_graph`, after `run_decompositions({})` (the oracle's export path)."""
        return self._remember(torch.export.export(mod, tuple(args)).run_decompositions({}))

    def remove_effect_tokens(self, gm):
        """`_remove_effect_tokens` on the program behind `gm` (Simplification 2)."""
        program = _remove_effect_tokens(self._programs[id(gm)])
        return program.graph_module

    def dce(self, gm):
        changed = gm.graph.eliminate_dead_code()
        gm.recompile()
        return changed

    def backward_trace(self, fn, args, partition="default"):
        """`aot_function(fn)` with capturing compilers and the `partition` partitioner
        (`"default"` or `"min_cut"`); run forward and, if any input requires grad,
        `out.sum().backward()`. Returns `(forward_gm, backward_gm or None)`."""
        graphs = {}
        partition_fn = {"default": default_partition,
                        "min_cut": min_cut_rematerialization_partition}[partition]
        compiled = aot_function(
            fn, fw_compiler=_capture(graphs, "forward"), bw_compiler=_capture(graphs, "backward"),
            partition_fn=partition_fn,
        )
        out = compiled(*args)
        if any(isinstance(a, torch.Tensor) and a.requires_grad for a in args):
            first = out[0] if isinstance(out, (tuple, list)) else out
            first.sum().backward()
        return graphs["forward"], graphs.get("backward")

    # -- helpers -------------------------------------------------------------------------
    def _remember(self, program):
        self._programs[id(program.graph_module)] = program
        return program.graph_module, program.graph_signature


def _capture(graphs, phase):
    def compiler(gm, example_inputs):
        graphs[phase] = gm
        return make_boxed_func(gm.forward)

    return compiler


def _seeded_token_function(fn):
    """A function `(token, <fn's parameters>)` that runs `fn` under a FunctionalTensorMode
    whose ORDERED token is the input token, and returns `(final_token, output)`.

    [NOTE: seeded placeholder names] make_fx names placeholders after the traced function's
    code object, so the wrapper is compiled with the parameter names `token, <fn's names>` to
    get `forward(self, token_1, x_1)` as reference 06 D does.
    """

    def run(token, *args):
        mode = FunctionalTensorMode()
        excluded = torch._C.DispatchKeySet(torch._C.DispatchKey.Functionalize)
        with torch._C._ExcludeDispatchKeyGuard(excluded), mode:
            mode._tokens = {_EffectType.ORDERED: FunctionalTensor.to_functional(token)}
            out = fn(*[FunctionalTensor.to_functional(a) for a in args])
            final = mode._tokens[_EffectType.ORDERED]
            torch._sync(out)
            torch._sync(final)
            return _unwrap(final), _unwrap(out)

    names = ["token", *inspect.signature(fn).parameters]
    source = f"def seeded({', '.join(names)}):\n    return run({', '.join(names)})\n"
    scope = {"run": run}
    exec(source, scope)  # noqa: S102 - see [NOTE: seeded placeholder names]
    return scope["seeded"]


def _unwrap(tensor):
    return torch._from_functional_tensor(tensor.elem)


@contextlib.contextmanager
def _captured_stdout_fd(lines):
    """Redirect file descriptor 1 to a temporary file; append what was written to `lines`."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode().splitlines())
