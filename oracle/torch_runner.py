"""The torch side of the oracle: one effect program, one path, one `Observation`.

Models: how torch 2.13.0 (CPU) runs a program on each of the seven paths:
`eager`; `fake` (`torch._subclasses.fake_tensor.FakeTensorMode`); `make_fx`
(`torch.fx.experimental.proxy_tensor.make_fx`); `functional`
(`torch._functorch.aot_autograd.aot_export_module(trace_joint=False)`); `export`
(`torch.export.export`); `compile:aot_eager` and `compile:inductor`
(`torch.compile(fullgraph=True)`).
Custom ops are `torch.library.custom_op` ops with effects registered through
`torch._higher_order_ops.effects._register_effectful_op`, as in the reference scenarios.
Spec: the oracle contract (program format, behaviours, events, Observation, paths);
docs/architecture.md (effect log).

How each path is observed ([NOTE: what each path records]):
- `eager`: the body on real tensors; outputs and log.
- `fake`: the body under `FakeTensorMode` on `mode.from_tensor` inputs; outputs as shape and dtype
  only (`values=None`); fake impls never log and `aten::_print` prints nothing there.
- `make_fx`: traced with `tracing_mode="fake"`, so that tracing runs no side effect (real tracing
  would run every kernel and print, reference 04); `code` and `graph` are the traced module's;
  then the graph module runs on fresh real inputs, and the log is what that run did.
- `functional`: `aot_export_module(module, inputs, trace_joint=False)`; `code`/`graph` are the
  exported graph (tokens present, reference 05a-05k); `signature` holds the graph signature's
  fields; then the graph runs on one fresh `torch.tensor([])` per input token followed by the
  inputs; `outputs` are the user outputs (tokens and mutated inputs are dropped, their names are
  in `signature`).
- `export`: `torch.export.export(module, inputs).run_decompositions()` (the functional IR with
  tokens, reference 08), then torch's own `_remove_effect_tokens` pass: the torch counterpart of
  refimpl's `remove_effect_tokens(aot_export(...))` (specs/report.md RPT-8). `code`/`graph` are
  that graph; `signature` lists the input/output spec kinds; outputs (mutated inputs, returned
  first, left out) and log come from running the graph module on fresh inputs.
- `compile:aot_eager`, `compile:inductor`: `torch._dynamo.reset()`, then
  `torch.compile(fn, backend=..., fullgraph=True)(*inputs)`; outputs and log. For aot_eager the
  backend is torch's own `aot_eager` function with a forward compiler that records the forward
  graph before handing it to torch's `boxed_nop`, so `code`/`graph` are that forward graph.

Simplifications:
1. Custom ops live in a namespace unique to the run (`fz` -> `fz_r7`) and every registration is
   undone afterwards ([NOTE: registrations are undone]); `code` and `graph` map the namespace back.
2. `aten::_print` output is read from file descriptor 1, which is redirected to a temporary file
   during the run ([NOTE: capturing aten::_print]); each printed line is one event, so a message
   containing a newline shows up as several events (RPT-12). Python-level `print`s during the
   run are discarded.
3. Any `Exception` becomes `Observation.error`; errors that torch._dynamo / torch._inductor wrap
   are unwrapped to the innermost cause ([NOTE: unwrapping compile errors]).
4. A custom op's schema name must be the op's name without overload (`rec(...)`), since
   `torch.library.custom_op` defines default overloads only.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import itertools
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch._dynamo.backends.debugging import aot_eager, boxed_nop
from torch._functorch.aot_autograd import aot_export_module
from torch._higher_order_ops.effects import (
    _get_effect,
    _register_effectful_op,
    new_token_tensor,
)
from torch._library.custom_ops import OPDEF_TO_LIB
from torch._library.effects import EffectType
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.export._remove_effect_tokens_pass import _remove_effect_tokens
from torch.fx.experimental.proxy_tensor import make_fx

from oracle import behaviors, observation
from oracle.canonical import CanonicalGraph, code_with_subgraphs
from oracle.observation import (
    ErrorObs,
    Observation,
    ValueObs,
    freeze,
    path_table,
    unknown_path,
)
from oracle.program_source import write_program
from oracle.repro import PATH_CONFIGS
from oracle.run_state import forget_side_effects, restore_side_effects
from oracle.training import BACKWARD_EVENT, loss_of, run_backward
from refimpl.export import SIGNATURE_FIELDS

EFFECTS = {"ORDERED": EffectType.ORDERED, None: None}

# One counter per process: a namespace is never handed out twice (Simplification 1).
_NAMESPACE_COUNTER = itertools.count()


# --------------------------------------------------------------------------------------------
# Capturing aten::_print
# --------------------------------------------------------------------------------------------


@functools.cache
def _libc() -> Any:
    return ctypes.CDLL(None)


def _flush_c_stdout() -> None:
    """Flush C stdio (where C++ `std::cout` writes while it is synced with stdio)."""
    with contextlib.suppress(OSError, AttributeError):
        _libc().fflush(None)


class PrintCapture:
    """[NOTE: capturing aten::_print]

    torch's `aten::_print` kernel writes `s` and a newline to C++ `std::cout`, which Python's
    `sys.stdout` never sees. While the capture is active, file descriptor 1 points at a temporary
    file, and `sys.stdout` at a throw-away buffer (so that no Python `print` can pass for an
    `aten::_print`). `drain()` flushes C stdio and turns every new complete line into an event
    `("aten::_print", (line,), ())`. The custom-op kernels call `drain()` before they log, which
    keeps prints and custom-op events in the order they happened. Leaving restores fd 1, so the
    caller's own stdout is never written to.
    """

    def __init__(self, log: list) -> None:
        self.log = log
        self._file = None
        self._saved_fd: int | None = None
        self._offset = 0
        self._partial = b""
        self._stdout = contextlib.redirect_stdout(io.StringIO())

    def __enter__(self) -> PrintCapture:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        _flush_c_stdout()
        self._file = tempfile.TemporaryFile()
        self._saved_fd = os.dup(1)
        os.dup2(self._file.fileno(), 1)
        self._stdout.__enter__()
        return self

    def drain(self) -> None:
        """Append an event for each line printed since the last drain."""
        _flush_c_stdout()
        self._file.seek(self._offset)
        data = self._file.read()
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            self.log.append(("aten::_print", (line.decode("utf-8", "replace"),), ()))

    def __exit__(self, *exc: object) -> None:
        try:
            self.drain()
            if self._partial:
                self.log.append(("aten::_print", (self._partial.decode("utf-8", "replace"),), ()))
        finally:
            self._stdout.__exit__(None, None, None)
            os.dup2(self._saved_fd, 1)
            os.close(self._saved_fd)
            self._file.close()


# --------------------------------------------------------------------------------------------
# Registrations: custom ops and effects, all undone on exit
# --------------------------------------------------------------------------------------------


class _TorchOps:
    """The ops adaptor `behaviors.apply_behavior` computes custom-op results with."""

    @staticmethod
    def add_scalar(x: torch.Tensor, c: Any) -> torch.Tensor:
        return torch.ops.aten.add.Tensor(x, c)

    @staticmethod
    def mul_scalar(x: torch.Tensor, c: Any) -> torch.Tensor:
        return torch.ops.aten.mul.Tensor(x, c)

    @staticmethod
    def empty_like(x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten.empty_like.default(x)

    @staticmethod
    def sum(x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten.sum.default(x)

    @staticmethod
    def add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten.add.Tensor(a, b)


@dataclass
class RunContext:
    """What one run needs: the namespace map, the log, the print capture, the program's ops."""

    program: Any
    log: list
    capture: PrintCapture
    namespaces: dict[str, str] = field(default_factory=dict)  # program ns -> run ns
    effectful_targets: set[str] = field(default_factory=set)
    opdefs: dict[str, Any] = field(default_factory=dict)  # program op name -> its CustomOpDef

    def mark_backward(self) -> None:
        """PRG-52: the backward starts; what printed before it comes first."""
        self.capture.drain()
        self.log.append(BACKWARD_EVENT)

    @property
    def namespace_map(self) -> dict[str, str]:
        """Run namespace -> program namespace (for code and graph text)."""
        return {run: prog for prog, run in self.namespaces.items()}

    def resolve(self, qualname: str) -> Any:
        """`ns::name.overload` (program names) -> the torch operator object."""
        ns, rest = qualname.split("::", 1)
        namespace = getattr(torch.ops, self.namespaces.get(ns, ns))
        if ns == "higher_order":
            return getattr(namespace, rest)
        name, _, overload = rest.partition(".")
        packet = getattr(namespace, name)
        return getattr(packet, overload) if overload else packet

    def unmap_code(self, code: str) -> str:
        for run, prog in self.namespace_map.items():
            code = code.replace(f"torch.ops.{run}.", f"torch.ops.{prog}.")
        return code

    def canonical(self, gm: Any) -> CanonicalGraph:
        return CanonicalGraph.from_graph_module(
            gm, namespace_map=self.namespace_map, effectful_targets=self.effectful_targets
        )


def _assign_namespaces(program: Any, namespace: str | None) -> dict[str, str]:
    """Program namespace -> a namespace unique to this run (Simplification 1)."""
    names = sorted({spec.name.split("::", 1)[0] for spec in program.custom_ops})
    if namespace is None:
        suffix = f"r{next(_NAMESPACE_COUNTER)}"
        return {ns: f"{ns}_{suffix}" for ns in names}
    if len(names) == 1:
        return {names[0]: namespace}
    return {ns: f"{namespace}_{ns}" for ns in names}


def _nameless_schema(spec: Any) -> str:
    """`rec(Tensor x) -> Tensor` -> `(Tensor x) -> Tensor` (Simplification 4)."""
    name = spec.name.split("::", 1)[1]
    head, paren, tail = spec.schema.partition("(")
    head = head.strip().split("::")[-1]
    if head != name:
        raise NotImplementedError(
            f"custom op {spec.name}: schema name {head!r} must be {name!r} (default overload only)"
        )
    return paren + tail


def _custom_op_kernels(spec: Any, ctx: RunContext) -> tuple[Callable, Callable]:
    """`behaviors.custom_op_kernels`, draining captured prints before each event (order)."""

    def on_event(event: tuple) -> None:
        ctx.capture.drain()
        ctx.log.append(event)

    return behaviors.custom_op_kernels(spec, _TorchOps, on_event)


def _define_custom_op(spec: Any, ctx: RunContext, stack: contextlib.ExitStack) -> None:
    """`torch.library.custom_op` + fake impl + effect, each undone through `stack`."""
    ns, name = spec.name.split("::", 1)
    qualname = f"{ctx.namespaces[ns]}::{name}"
    sig = behaviors.parse_signature(spec.schema)
    mutated = [p.name for p in sig.params if p.alias and p.alias.endswith("!")]
    kernel, fake = _custom_op_kernels(spec, ctx)
    opdef = torch.library.custom_op(
        qualname, kernel, mutates_args=mutated, schema=_nameless_schema(spec)
    )
    stack.callback(_destroy_custom_op, qualname, opdef)
    ctx.opdefs[spec.name] = opdef
    opdef.register_fake(fake)
    handle = _register_effectful_op(opdef, EFFECTS[spec.effect])
    stack.callback(handle.destroy)


def _destroy_custom_op(qualname: str, opdef: Any) -> None:
    lib = OPDEF_TO_LIB.pop(qualname, None) or opdef._lib
    lib._destroy()


def _register_effect(name: str, effect: str | None, ctx: RunContext, stack: Any) -> None:
    """[NOTE: registrations are undone]

    A `RegistrationHandle.destroy()` resets an op to its schema-derived default effect, not to
    what it had before (reference 03: registering None on `aten::_print` and destroying leaves
    None). So the previous effect is remembered and registered again when `destroy()` did not
    bring it back; that re-registration's handle is dropped on purpose.
    """
    op = ctx.resolve(name)
    previous = _get_effect(op)
    handle = _register_effectful_op(op, EFFECTS[effect])

    def undo() -> None:
        handle.destroy()
        if _get_effect(op) is not previous:
            _register_effectful_op(op, previous)

    stack.callback(undo)


@contextlib.contextmanager
def registrations(ctx: RunContext) -> Iterator[RunContext]:
    """Define the program's custom ops and register its effects; undo all of it on exit."""
    with contextlib.ExitStack() as stack:
        # [NOTE: side-effect set] Tracing with_effects adds its op to torch.fx's process-wide
        # _side_effectful_functions for good (ref 11); restore it so runs stay independent.
        saved = set(torch.fx.node._side_effectful_functions)
        stack.callback(restore_side_effects, torch.fx.node._side_effectful_functions, saved)
        for spec in ctx.program.custom_ops:
            _define_custom_op(spec, ctx, stack)
        for name, effect in dict(ctx.program.register_effects).items():
            _register_effect(name, effect, ctx, stack)
        stack.callback(torch._dynamo.reset)  # runs first: drop compiled code before the ops go
        ctx.effectful_targets = _effectful_targets(ctx)
        forget_side_effects(ctx.program, ctx.resolve, _get_effect,
                             torch.fx.node._side_effectful_functions)
        yield ctx


def _effectful_targets(ctx: RunContext) -> set[str]:
    """The modelled aten ops and the program's ops (custom ops, `register_effects` keys) that now
    have an effect in torch's registry (its import registrations included)."""
    names = list(behaviors.KNOWN_ATEN_OPS)
    names += [f"{spec.name}.default" for spec in ctx.program.custom_ops]
    names += list(ctx.program.register_effects)
    return {name for name in names if _get_effect(ctx.resolve(name)) is not None}


# --------------------------------------------------------------------------------------------
# The program as a Python function
# --------------------------------------------------------------------------------------------


@dataclass
class ProgramFunction:
    """The program as `fn(*inputs) -> tuple`, its source text, and an `nn.Module` around it."""

    fn: Callable
    source: str
    module_type: type

    def module(self) -> torch.nn.Module:
        return self.module_type()


def build_function(program: Any, ctx: RunContext) -> ProgramFunction:
    """The body as Python (`oracle.program_source`, [NOTE: programs become Python source]).

    Operators resolve through the run's namespaces; a `with_effects` statement calls
    `torch.ops.higher_order.with_effects(new_token_tensor(), op, ...)`.
    """
    src = write_program(
        program,
        ctx.resolve,
        with_effects=torch.ops.higher_order.with_effects,
        new_token=new_token_tensor,
        extra_globals={"torch": torch},
        cond=torch.cond,
        while_loop=torch._higher_order_ops.while_loop,
    )
    for name, (backward, setup_context) in src.autograd.items():  # PRG-47 to PRG-50
        ctx.opdefs[name].register_autograd(backward, setup_context=setup_context)
    module_type = type("ProgramModule", (torch.nn.Module,), {"forward": src.forward})
    return ProgramFunction(src.fn, src.source, module_type)


def make_inputs(program: Any) -> list[torch.Tensor]:
    """Fresh real input tensors from `behaviors.fill_values` (numpy), copied into torch; the
    ones the program marks `requires_grad` are leaves that require grad (PRG-46)."""
    return [
        torch.from_numpy(behaviors.fill_values(s.fill, s.shape, s.dtype)).clone()
        .requires_grad_(s.requires_grad)
        for s in program.inputs
    ]


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _describe(t: torch.Tensor, with_values: bool) -> ValueObs:
    values = None
    if with_values:
        flat = t.detach().cpu().reshape(-1)
        if flat._is_zerotensor():  # a grad of sgn: an efficient zero tensor, no storage to read
            flat = torch.zeros(flat.shape, dtype=flat.dtype)
        large = flat.numel() > observation.LISTED_ELEMENTS and flat.dtype != torch.bfloat16
        values = flat.numpy().copy() if large else flat.tolist()
    return ValueObs(tuple(t.shape), _dtype_name(t.dtype), values)


def value_obs(value: Any, *, with_values: bool = True) -> list[ValueObs]:
    """Outputs flattened in order (observation.py, Simplification 1)."""
    return observation.value_obs(value, torch.Tensor, _describe, with_values=with_values)


# --------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------


@dataclass
class _Case:
    """One run in progress: the program function, the context, and the observation."""

    program: Any
    ctx: RunContext
    fn: ProgramFunction
    obs: Observation

    def inputs(self) -> list[torch.Tensor]:
        return make_inputs(self.program)

    def record_graph(self, gm: Any) -> None:
        self.obs.code = self.ctx.unmap_code(code_with_subgraphs(gm))
        self.obs.graph = self.ctx.canonical(gm)

    def finish(self, outputs: Any, inputs: list, *, with_values: bool = True) -> None:
        """The outputs; for a program with `backward`, then the backward and the grads of
        `inputs` (PRG-52)."""
        self.obs.outputs = value_obs(outputs, with_values=with_values)
        if self.program.backward is not None:
            grads = run_backward(self.program, outputs, inputs, _TorchOps,
                                 self.ctx.mark_backward)
            self.obs.grads = value_obs(tuple(grads), with_values=with_values)


def _run_eager(case: _Case) -> None:
    inputs = case.inputs()
    case.finish(case.fn.fn(*inputs), inputs)


def _run_fake(case: _Case) -> None:
    real = case.inputs()
    with FakeTensorMode() as mode:
        fake = [mode.from_tensor(t) for t in real]
        case.finish(case.fn.fn(*fake), fake, with_values=False)


def _run_make_fx(case: _Case) -> None:
    gm = make_fx(case.fn.fn, tracing_mode="fake")(*case.inputs())
    case.record_graph(gm)
    inputs = case.inputs()
    case.finish(gm(*inputs), inputs)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def _run_functional(case: _Case) -> None:
    if case.program.backward is not None:
        _run_functional_joint(case)
        return
    gm, sig = aot_export_module(case.fn.module(), tuple(case.inputs()), trace_joint=False)
    case.record_graph(gm)
    case.obs.signature = {k: _jsonable(getattr(sig, k)) for k in SIGNATURE_FIELDS}
    tokens = [torch.tensor([]) for _ in sig.input_tokens]
    flat = gm(*tokens, *case.inputs())
    skip = len(sig.output_tokens) + len(sig.buffers_to_mutate) + len(sig.user_inputs_to_mutate)
    case.obs.outputs = value_obs(tuple(flat)[skip:])


class _LossModule(torch.nn.Module):
    """The program and its loss (PRG-51), returning `(loss,)`: what `aot_export_module(...,
    trace_joint=True, output_loss_index=0)` exports for a program with `backward`."""

    def __init__(self, program: Any, fn: Callable) -> None:
        super().__init__()
        self.program, self.fn = program, fn

    def forward(self, *inputs: torch.Tensor) -> tuple:
        return (loss_of(self.program, self.fn(*inputs), _TorchOps),)


def _run_functional_joint(case: _Case) -> None:
    """The joint graph (TRC-19); the graph runs on fresh inputs that do not require grad: its
    outputs are the loss, then the grads."""
    module = _LossModule(case.program, case.fn.fn)
    gm, sig = aot_export_module(module, tuple(case.inputs()), trace_joint=True,
                                output_loss_index=0)
    case.record_graph(gm)
    case.obs.signature = {k: _jsonable(getattr(sig, k)) for k in SIGNATURE_FIELDS}
    back = sig.backward_signature
    case.obs.signature["backward_signature"] = _jsonable({
        "gradients_to_parameters": back.gradients_to_parameters,
        "gradients_to_user_inputs": back.gradients_to_user_inputs,
        "loss_output": back.loss_output})
    with torch.no_grad():
        flat = tuple(gm(*[t.detach() for t in case.inputs()]))
    skip = len(sig.buffers_to_mutate) + len(sig.user_inputs_to_mutate)
    n_user = len(sig.user_outputs)
    case.obs.outputs = value_obs(flat[skip:skip + n_user])
    case.obs.grads = value_obs(flat[skip + n_user:])


def _run_export(case: _Case) -> None:
    """torch.export's functional IR with its tokens removed (specs/report.md RPT-8)."""
    with warnings.catch_warnings():
        # torch 2.13's export pickles pytree specs through a deprecated path (FutureWarning on
        # every call); it is torch's internal noise, not something the program did.
        warnings.simplefilter("ignore", FutureWarning)
        ep = torch.export.export(case.fn.module(), tuple(case.inputs())).run_decompositions({})
        ep = _remove_effect_tokens(ep)
    case.record_graph(ep.graph_module)
    sig = ep.graph_signature
    case.obs.signature = {
        "input_specs": [[s.kind.name, s.arg.name] for s in sig.input_specs],
        "output_specs": [[s.kind.name, s.arg.name] for s in sig.output_specs],
    }
    mutated = sum(
        1 for s in sig.output_specs if s.kind.name in ("USER_INPUT_MUTATION", "BUFFER_MUTATION")
    )
    constants = [
        ep.constants[s.target]
        for s in sig.input_specs
        if s.kind.name in ("CONSTANT_TENSOR", "CUSTOM_OBJ")
    ]
    inputs = case.inputs()
    flat = ep.graph_module(*constants, *inputs)
    case.finish(tuple(flat)[mutated:], inputs)


def _capturing_aot_eager(case: _Case) -> Callable:
    """torch's `aot_eager` backend with a forward compiler that records the graph first."""

    def fw_compiler(gm: torch.fx.GraphModule, example_inputs: list) -> Callable:
        case.record_graph(gm)
        return boxed_nop(gm, example_inputs)

    def bw_compiler(gm: torch.fx.GraphModule, example_inputs: list) -> Callable:
        case.obs.backward_code = case.ctx.unmap_code(gm.code.strip())
        return boxed_nop(gm, example_inputs)

    def backend(gm: torch.fx.GraphModule, example_inputs: list) -> Callable:
        return aot_eager(gm, example_inputs, fw_compiler=fw_compiler, bw_compiler=bw_compiler)

    return backend


def _run_compile(case: _Case, backend: Any) -> None:
    torch._dynamo.reset()
    compiled = torch.compile(case.fn.fn, backend=backend, fullgraph=True)
    inputs = case.inputs()
    if backend == "inductor":  # keep the modules inductor generates (none on a cache hit)
        from torch._inductor.utils import run_and_get_code  # noqa: PLC0415

        if case.program.backward is None:
            outputs, case.obs.generated_code = run_and_get_code(compiled, *inputs)
            case.finish(outputs, inputs)
            return
        # The backward is compiled when it first runs, inside the same capture.
        _, case.obs.generated_code = run_and_get_code(
            lambda: case.finish(compiled(*inputs), inputs))
        return
    case.finish(compiled(*inputs), inputs)


def _run_aot_eager(case: _Case) -> None:
    _run_compile(case, _capturing_aot_eager(case))


def _run_inductor(case: _Case) -> None:
    import torch._inductor.config as inductor_config  # loads inductor only for this path

    # PATH_CONFIGS says how: one compile thread (a small machine), no FX graph cache, so that
    # inductor generates (and the finding keeps, RPT-35) the code of every program it runs.
    with inductor_config.patch(**PATH_CONFIGS["compile:inductor"]["inductor_config"]):
        _run_compile(case, "inductor")


PATH_RUNNERS: dict[str, Callable[[_Case], None]] = path_table({
    "eager": _run_eager,
    "fake": _run_fake,
    "make_fx": _run_make_fx,
    "functional": _run_functional,
    "export": _run_export,
    "compile:aot_eager": _run_aot_eager,
    "compile:inductor": _run_inductor,
}, "torch_runner.PATH_RUNNERS")


# --------------------------------------------------------------------------------------------
# Errors and the entry point
# --------------------------------------------------------------------------------------------


def error_obs(exc: BaseException) -> ErrorObs:
    """[NOTE: unwrapping compile errors]

    torch._dynamo re-raises what a traced op raised inside its own exception types
    (`TorchRuntimeError`, `BackendCompilerFailed`, ...), chained through `__cause__` or
    `__context__`. The observation records the first exception along that chain that torch._dynamo
    / torch._inductor did not define, the error the program itself raised, and names the
    wrappers in a last message line (which the comparison leaves out, RPT-9), so that an
    `expect_error` type and message compare the same on every path. When the chain holds only
    wrappers (a dynamo `Unsupported`), the outermost is kept.
    """
    wrappers: list[str] = []
    inner: BaseException | None = exc
    while inner is not None and type(inner).__module__.startswith(_WRAPPER_MODULES):
        wrappers.append(f"{type(inner).__module__}.{type(inner).__name__}")
        inner = inner.__cause__ or inner.__context__
    if inner is None:
        return ErrorObs.from_exception(exc)
    err = ErrorObs.from_exception(inner)
    if wrappers:
        err = ErrorObs(err.type, f"{err.message}\n(raised through {', '.join(wrappers)})")
    return err


_WRAPPER_MODULES = ("torch._dynamo", "torch._inductor")


def _unmapped_error(err: ErrorObs, namespaces: dict[str, str]) -> ErrorObs:
    """An error text names the program's namespaces, not the run's (Simplification 1): torch
    spells the namespace in names it makes (`GeneratedBackwardFor_<ns>_<name>_default`)."""
    message = err.message
    for prog, run in sorted(namespaces.items(), key=lambda item: -len(item[1])):
        if run != prog:
            message = re.sub(rf"{re.escape(run)}(?![0-9A-Za-z])", prog, message)
    return ErrorObs(err.type, message) if message != err.message else err


@contextlib.contextmanager
def _quiet_autograd_errors() -> Iterator[None]:
    """An error a program raises in a backward is recorded in the observation; torch also
    reports it on stderr (AOTAutograd traces the joint under anomaly mode, which warns "Error
    detected in ...", and a failing graph-module call prints the generated code), which is
    noise in a report."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.filterwarnings("ignore", message="Error detected in ")
        yield


def run_torch(program: Any, path: str, *, namespace: str | None = None) -> Observation:
    """Run `program` on `path` with real torch; never raises for a program's own errors.

    `namespace`: the torch namespace for the program's custom ops in this run (for a program with
    several namespaces, a prefix: `<namespace>_<ns>`); default a fresh `<ns>_r<n>`.
    """
    if path not in PATH_RUNNERS:
        obs = Observation(path=path, side="torch")
        obs.error = error_obs(unknown_path(path))
        return obs
    return run_torch_runner(program, path, PATH_RUNNERS[path], namespace=namespace)


def run_torch_runner(program: Any, name: str, runner: Callable[[_Case], None], *,
                     namespace: str | None = None) -> Observation:
    """`run_torch` with the given runner, its observation named `name` (for tests and tools that
    look at a torch stage no path exposes; the runner gets the case: the program, its context
    `ctx` with `unmap_code`, the program function `fn`, `inputs()`, `finish(outputs, inputs)`,
    the observation `obs`)."""
    start = time.perf_counter()
    obs = Observation(path=name, side="torch")
    log: list = []
    namespaces = _assign_namespaces(program, namespace)
    try:
        with PrintCapture(log) as capture, _quiet_autograd_errors():
            ctx = RunContext(program, log, capture, namespaces)
            with registrations(ctx):
                case = _Case(program, ctx, build_function(program, ctx), obs)
                runner(case)
    except Exception as exc:  # the observation records it (Simplification 3)
        obs.error = _unmapped_error(error_obs(exc), namespaces)
    obs.effect_log = [freeze(e) for e in log]
    obs.seconds = time.perf_counter() - start
    return obs
