"""The reference side of the oracle: one effect program, one path, one ``Observation``.

Models: what the seed says each torch path should do, computed by ``refimpl``:
``eager`` (dense), ``fake`` (``refimpl.FakeTensorMode``), ``make_fx`` (``refimpl.make_fx``, fake
tracing, then the graph is run), ``functional`` (``refimpl.export.aot_export``, then run with one
fresh token per input token), ``export`` (``remove_effect_tokens`` of the functional graph, run);
``compile:aot_eager`` and ``compile:inductor`` have no refimpl counterpart: their expectation is
the reference's eager values and effect log ([NOTE: compile expectation]).
Spec: the oracle contract (program format, behaviours, events, Observation, paths).

Simplifications:
1. Custom ops are defined in a scoped ``refimpl.library.Library`` under the program's own
   namespace and removed after the run; registrations on aten ops are undone with their handles
   (restoring the previous effect, as the torch runner does).
2. Any ``Exception`` becomes ``Observation.error``.
3. An ``aten::_print`` event is split into one event per line, as the torch runner reads them
   (RPT-12).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import refimpl
from oracle import behaviors, observation
from oracle.canonical import CanonicalGraph, code_with_subgraphs
from oracle.observation import (
    COMPILE_PATHS,
    PATHS,
    ErrorObs,
    Observation,
    ValueObs,
    path_table,
    unknown_path,
)
from oracle.program_source import ProgramSource, write_program
from oracle.run_state import forget_side_effects, restore_side_effects
from oracle.training import BACKWARD_EVENT, loss_of, run_backward
from refimpl._pytree import tree_flatten
from refimpl.effect_log import record_effects
from refimpl.effects import _get_effect, _register_effectful_op, new_token_tensor, with_effects
from refimpl.export import SIGNATURE_FIELDS, Module, aot_export, remove_effect_tokens
from refimpl.fake_tensor import ShapeEnv
from refimpl.fx import node as fx_node
from refimpl.library import EffectType, Library, custom_op

__all__ = ["PATHS", "run_refimpl", "run_refimpl_paths"]

EFFECTS = {"ORDERED": EffectType.ORDERED, None: None}


class _RefimplOps:
    """The ops adaptor ``behaviors.apply_behavior`` computes custom-op results with."""

    @staticmethod
    def add_scalar(x: Any, c: Any) -> Any:
        return refimpl.ops.aten.add.Tensor(x, c)

    @staticmethod
    def mul_scalar(x: Any, c: Any) -> Any:
        return refimpl.ops.aten.mul.Tensor(x, c)

    @staticmethod
    def empty_like(x: Any) -> Any:
        return refimpl.ops.aten.empty_like.default(x)

    @staticmethod
    def sum(x: Any) -> Any:
        return refimpl.ops.aten.sum.default(x)

    @staticmethod
    def add(a: Any, b: Any) -> Any:
        return refimpl.ops.aten.add.Tensor(a, b)


def resolve(qualname: str) -> Any:
    """``ns::name.overload`` -> the refimpl operator object."""
    ns, rest = qualname.split("::", 1)
    namespace = getattr(refimpl.ops, ns)
    if ns == "higher_order":
        return getattr(namespace, rest)
    name, _, overload = rest.partition(".")
    packet = getattr(namespace, name)
    return getattr(packet, overload) if overload else packet


@contextlib.contextmanager
def registrations(program: Any, opdefs: dict | None = None) -> Iterator[set[str]]:
    """Define the program's custom ops and register its effects; undo all of it on exit.

    Yields the overload names (modelled aten ops and the program's ops) that then have an effect
    in refimpl's registry, the profile's import registrations included, as the torch runner
    reads torch's. ``opdefs``, when given, receives each custom op's ``CustomOpDef`` by name.
    """
    with contextlib.ExitStack() as stack:
        # Tracing with_effects marks its op side-effectful for good, as torch.fx does; restore
        # the set so runs stay independent (the torch runner does the same, [NOTE: side-effect
        # set] there).
        saved = set(fx_node._side_effectful_functions)
        stack.callback(restore_side_effects, fx_node._side_effectful_functions, saved)
        libs: dict[str, Library] = {}
        for spec in program.custom_ops:
            ns, name = spec.name.split("::", 1)
            if ns not in libs:
                libs[ns] = Library(ns, "FRAGMENT")
                stack.callback(libs[ns]._destroy)
            kernel, fake = behaviors.custom_op_kernels(spec, _RefimplOps,
                                                     refimpl.effect_log.log_effect)
            schema = spec.schema[spec.schema.index("("):]
            op = custom_op(spec.name, kernel, schema=schema, lib=libs[ns])
            if opdefs is not None:
                opdefs[spec.name] = op
            op.register_fake(fake)
            op.register_effect(EFFECTS[spec.effect])
        for name, effect in dict(program.register_effects).items():
            op = resolve(name)
            previous = _get_effect(op)
            handle = _register_effectful_op(op, EFFECTS[effect])
            stack.callback(_undo, handle, op, previous)
        names = [*behaviors.KNOWN_ATEN_OPS, *(f"{s.name}.default" for s in program.custom_ops),
                 *program.register_effects]
        effectful = {name for name in names if _get_effect(resolve(name)) is not None}
        forget_side_effects(program, resolve, _get_effect, fx_node._side_effectful_functions)
        yield effectful




def _undo(handle: Any, op: Any, previous: Any) -> None:
    handle.destroy()
    if _get_effect(op) is not previous:
        _register_effectful_op(op, previous)


def make_inputs(program: Any) -> list[Any]:
    """Fresh inputs from ``behaviors.fill_values``, identical to the torch side's; leaves that
    require grad where the program says so (PRG-46)."""
    return [refimpl.tensor(behaviors.fill_values(s.fill, s.shape, s.dtype), dtype=s.dtype)
            .requires_grad_(s.requires_grad) for s in program.inputs]


def _describe(t: Any, with_values: bool) -> ValueObs:
    values = None
    if with_values:
        flat = t.numpy().reshape(-1)
        values = flat.copy() if flat.size > observation.LISTED_ELEMENTS else flat.tolist()
    return ValueObs(tuple(t.shape), t.dtype.name, values)


def value_obs(value: Any, *, with_values: bool = True) -> list[ValueObs]:
    """Outputs flattened in order (observation.py, Simplification 1)."""
    return observation.value_obs(value, refimpl.Tensor, _describe, with_values=with_values)


class _Case:
    def __init__(self, program: Any, src: ProgramSource, obs: Observation,
                 effectful: set[str]) -> None:
        self.program = program
        self.src = src
        self.obs = obs
        self.effectful = effectful

    def inputs(self) -> list[Any]:
        return make_inputs(self.program)

    def module(self) -> Module:
        module = Module()
        module.forward = self.src.fn
        return module

    def record_graph(self, gm: Any) -> None:
        self.obs.code = code_with_subgraphs(gm)
        self.obs.graph = CanonicalGraph.from_graph_module(gm, effectful_targets=self.effectful)

    def finish(self, outputs: Any, inputs: list, *, with_values: bool = True) -> None:
        """The outputs; for a program with ``backward``, then the backward and the grads of
        ``inputs`` (PRG-52)."""
        self.obs.outputs = value_obs(outputs, with_values=with_values)
        if self.program.backward is not None:
            grads = run_backward(self.program, outputs, inputs, _RefimplOps, _mark_backward)
            self.obs.grads = value_obs(tuple(grads), with_values=with_values)


def _mark_backward() -> None:
    refimpl.effect_log.log_effect(BACKWARD_EVENT)


def _run_eager(case: _Case) -> None:
    inputs = case.inputs()
    case.finish(case.src.fn(*inputs), inputs)


def _run_fake(case: _Case) -> None:
    real = case.inputs()
    with refimpl.FakeTensorMode() as mode:
        fake = [mode.from_tensor(t) for t in real]
        case.finish(case.src.fn(*fake), fake, with_values=False)


def _run_make_fx(case: _Case) -> None:
    gm = refimpl.make_fx(case.src.fn, tracing_mode="fake")(*case.inputs())
    case.record_graph(gm)
    inputs = case.inputs()
    case.finish(gm(*inputs), inputs)


class _LossModule(Module):
    """The program and its loss (PRG-51), returning ``(loss,)``: the torch runner's
    ``_LossModule``."""

    def __init__(self, program: Any, fn: Callable) -> None:
        super().__init__()
        self.program, self.fn = program, fn

    def forward(self, *inputs: Any) -> tuple:
        return (loss_of(self.program, self.fn(*inputs), _RefimplOps),)


def _run_functional_joint(case: _Case) -> None:
    """The joint graph (TRC-19), run on inputs that do not require grad: the loss, the grads."""
    gm, sig = aot_export(_LossModule(case.program, case.src.fn), tuple(case.inputs()),
                         trace_joint=True, output_loss_index=0)
    case.record_graph(gm)
    case.obs.signature = {k: getattr(sig, k) for k in SIGNATURE_FIELDS}
    back = sig.backward_signature
    case.obs.signature["backward_signature"] = {
        "gradients_to_parameters": back.gradients_to_parameters,
        "gradients_to_user_inputs": back.gradients_to_user_inputs,
        "loss_output": back.loss_output}
    with refimpl.no_grad():
        flat = tuple(gm(*[t.detach() for t in case.inputs()]))
    skip = len(sig.buffers_to_mutate) + len(sig.user_inputs_to_mutate)
    n_user = len(sig.user_outputs)
    case.obs.outputs = value_obs(flat[skip:skip + n_user])
    case.obs.grads = value_obs(flat[skip + n_user:])


def _run_functional(case: _Case) -> None:
    if case.program.backward is not None:
        _run_functional_joint(case)
        return
    gm, sig = aot_export(case.module(), tuple(case.inputs()))
    case.record_graph(gm)
    case.obs.signature = {k: getattr(sig, k) for k in SIGNATURE_FIELDS}
    flat = gm(*[new_token_tensor() for _ in sig.input_tokens], *case.inputs())
    skip = len(sig.output_tokens) + len(sig.buffers_to_mutate) + len(sig.user_inputs_to_mutate)
    case.obs.outputs = value_obs(tuple(flat)[skip:])


def _run_export(case: _Case) -> None:
    gm, sig = aot_export(case.module(), tuple(case.inputs()), lift_tensor_constants=True,
                         preserve_composite_ops=True, shape_env=ShapeEnv())
    skip = len(sig.buffers_to_mutate) + len(sig.user_inputs_to_mutate)
    lifted = dict(zip((f"c_lifted_tensor_{i}" for i in range(len(gm.lifted_constants))),
                      gm.lifted_constants))
    gm = remove_effect_tokens(gm)
    # A lifted constant that was a token (torch 2.13's cut chain after a cond, CF-7) goes with
    # the tokens; the others stay inputs.
    constants = [lifted[n.name] for n in gm.graph.nodes
                 if n.op == "placeholder" and n.name in lifted]
    case.record_graph(gm)
    inputs = case.inputs()
    case.finish(tuple(gm(*constants, *inputs))[skip:], inputs)


# [NOTE: compile expectation] A compiler must not change what a program does: the reference for
# ``compile:*`` is what refimpl's eager run does, values and effect order alike.
PATH_RUNNERS: dict[str, Callable[[_Case], None]] = path_table({
    "eager": _run_eager,
    "fake": _run_fake,
    "make_fx": _run_make_fx,
    "functional": _run_functional,
    "export": _run_export,
    **dict.fromkeys(COMPILE_PATHS, _run_eager),
}, "refimpl_runner.PATH_RUNNERS")


def run_refimpl(program: Any, path: str) -> Observation:
    """Run ``program`` on ``path`` with refimpl; never raises for a program's own errors."""
    return run_refimpl_paths(program, [path])[0]


def run_refimpl_paths(program: Any, paths: list[str]) -> list[Observation]:
    """One observation per path; the custom ops are defined and the body compiled once."""
    unknown = [p for p in paths if p not in PATH_RUNNERS]
    if unknown:
        observations = [Observation(path=p, side="refimpl") for p in paths]
        for obs in observations:
            obs.error = ErrorObs.from_exception(unknown_path(unknown[0]))
        return observations
    return run_refimpl_runners(program, {p: PATH_RUNNERS[p] for p in paths})


def run_refimpl_runners(program: Any, runners: dict[str, Callable[[Any], None]]
                        ) -> list[Observation]:
    """``run_refimpl_paths`` with the given runners, each named by its key (for tests and tools
    that look at a refimpl stage no path exposes; a runner gets the case: the program, its
    compiled source ``src``, ``inputs()``, ``finish(outputs, inputs)``, the observation
    ``obs``)."""
    observations = [Observation(path=name, side="refimpl") for name in runners]
    try:
        opdefs: dict[str, Any] = {}
        with contextlib.redirect_stdout(_Sink()), registrations(program, opdefs) as effectful:
            src = write_program(program, resolve, with_effects=with_effects,
                                new_token=new_token_tensor, cond=refimpl.cond,
                                while_loop=refimpl.while_loop)
            for name, (backward, setup_context) in src.autograd.items():  # PRG-47 to PRG-50
                opdefs[name].register_autograd(backward, setup_context=setup_context)
            for obs in observations:
                _run_path(_Case(program, src, obs, effectful), runners[obs.path])
    except Exception as exc:  # defining the program failed: every path records it
        for obs in observations:
            obs.error = obs.error or ErrorObs.from_exception(exc)
    return observations


def _run_path(case: _Case, runner: Callable[[_Case], None]) -> None:
    start = time.perf_counter()
    log: list = []
    try:
        with record_effects() as log:
            runner(case)
    except Exception as exc:  # the observation records it (Simplification 2)
        case.obs.error = ErrorObs.from_exception(exc)
    case.obs.effect_log = observation.split_print_lines(log)
    case.obs.seconds = time.perf_counter() - start


class _Sink:
    """Swallows what ``aten::_print`` writes (its events are in the effect log)."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


def oversized_value(program: Any, max_elements: int) -> tuple[tuple, str] | None:
    """PRG-42: the first value the program would make with more than `max_elements` elements,
    found by tracing it with fake tensors (no data), as `(location, reason)`; None when there is
    none, or when the trace fails (the program's own error, which every path then records)."""
    try:
        with contextlib.redirect_stdout(_Sink()), registrations(program):
            src = write_program(program, resolve, with_effects=with_effects,
                                new_token=new_token_tensor, cond=refimpl.cond,
                                while_loop=refimpl.while_loop)
            gm = refimpl.make_fx(src.fn, tracing_mode="fake")(*make_inputs(program))
    except Exception:  # noqa: BLE001 - the paths report the program's own errors
        return None
    for node in gm.graph.nodes:
        for value in tree_flatten(node.meta.get("val"))[0]:
            if isinstance(value, refimpl.Tensor) and value.numel() > max_elements:
                return _statement_of(program, node), (
                    f"{_op_name(node)} makes a value of shape "
                    f"{list(value.shape)} ({value.numel()} elements; at most {max_elements}, "
                    "Limits.max_value_elements)")
    return None


def _op_name(node: Any) -> str:
    """The op a graph node calls (a `with_effects` node: its inner op), as a program names it."""
    target = node.target
    if target is with_effects and len(node.args) > 1:
        target = node.args[1]
    return getattr(target, "_name", None) or fx_node._get_qualified_name(target)


def _statement_of(program: Any, node: Any) -> tuple:
    """`("body", i)` for the one statement calling the node's op, else `("body",)`."""
    name = _op_name(node)
    hits = [i for i, stmt in enumerate(program.body) if name in (stmt.op, f"{stmt.op}.default")
            or f"{name}.default" == stmt.op]
    return ("body", hits[0]) if len(hits) == 1 else ("body",)
