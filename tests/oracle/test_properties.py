"""Properties of random effect programs: refimpl against itself, and refimpl against torch.

Models: nothing upstream; the invariants effect tokens exist for (effects run in program order on
every path and under every schedule of the functional graph) and the ones tracing relies on.
Spec: TRC-3, TRC-9, TRC-11, TRC-12, TRC-14, EFF-14, EFF-19, EFF-23, DSP-15, FX-5, FX-6.

The refimpl-only properties are fast and part of the default run. The differential ones
(`@pytest.mark.torch`) are bounded by `ORACLE_DIFF_EXAMPLES` (default 10) examples each;
`python -m oracle fuzz` runs the same property without a bound.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import refimpl
from oracle import behaviors
from oracle import strategies as ps
from oracle.canonical import CanonicalGraph, compare_graphs
from oracle.program import Program, load_program
from oracle.program_source import write_program
from oracle.refimpl_runner import (
    PATH_RUNNERS,
    _Sink,
    make_inputs,
    registrations,
    resolve,
    run_refimpl,
    run_refimpl_runners,
)
from oracle.training import BACKWARD_EVENT
from refimpl._functorch.aot_autograd import aot_function, make_boxed_func
from refimpl._pytree import tree_leaves
from refimpl.effects import new_token_tensor, with_effects
from refimpl.export import Module, aot_export, remove_effect_tokens
from refimpl.fx.interpreter import Interpreter, random_topological_order
from refimpl.operator import ops
from refimpl.passes import check_effect_tokens

# No database in the suite's runs; under a campaign (ORACLE_FUZZ_DATABASE, tests/oracle/conftest.py)
# the default one, which HypoFuzz requires.
PROPERTY_DATABASE = {} if os.environ.get("ORACLE_FUZZ_DATABASE") else {"database": None}
FAST = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow],
    **PROPERTY_DATABASE,
)
DIFF_EXAMPLES = int(os.environ.get("ORACLE_DIFF_EXAMPLES", "10"))
# The bounded differential run in the test suite is derandomized, so CI is reproducible; the
# randomized search is `python -m oracle fuzz` (docs/fuzzing.md).
DIFF = settings(
    max_examples=DIFF_EXAMPLES,
    deadline=None,
    **PROPERTY_DATABASE,
    derandomize=bool(PROPERTY_DATABASE),  # derandomized in the suite, random in a campaign
    suppress_health_check=[HealthCheck.too_slow],
)
SCHEDULES_PER_GRAPH = 8
SEARCH_SEEDS = 64


# ---------------------------------------------------------------------------------------------
# Helpers: the expected log, and a program prepared for tracing in refimpl
# ---------------------------------------------------------------------------------------------


def expected_log(doc: dict) -> list[tuple]:
    """The dense effect log the program's text implies (PRG-28, PRG-34): one event per print or
    custom-op call, in body order (custom ops log whatever their effect; aten ops other than
    _print do not), each `(qualname, literals, shapes)` with the literals bound to the schema
    (defaults filled in, lists as tuples) and each tensor shape as `"T"` (`None` for a `None`
    given for a `Tensor?`): what `logged` makes of a run's log."""
    custom = {c["name"] + ".default": c for c in doc.get("custom_ops", [])}
    log = []
    for stmt in doc["body"]:
        if stmt["op"] == "aten::_print.default":
            log.append(("aten::_print", (stmt["args"][0],), ()))
        elif stmt["op"] in custom:
            spec = custom[stmt["op"]]
            sig = behaviors.parse_signature(spec["schema"])
            values = behaviors.bind_arguments(sig, stmt["args"], stmt.get("kwargs", {}))
            literals, shapes = [], []
            for param, value in zip(sig.params, values, strict=True):
                if param.type.startswith("Tensor"):
                    shapes.append(None if value is None else "T")
                else:
                    literals.append(tuple(value) if isinstance(value, list) else value)
            log.append((spec["name"], tuple(literals), tuple(shapes)))
    return log


def logged(log: list[tuple]) -> list[tuple]:
    """A run's effect log with each shape as `"T"` (`None` stays), as `expected_log` writes it."""
    return [(q, lits, tuple(None if s is None else "T" for s in shapes))
            for q, lits, shapes in log]


def effectful_events(doc: dict, log: list[tuple]) -> list[tuple]:
    """The events of ops with an effect (prints, ORDERED custom ops)."""
    names = {op.rsplit(".", 1)[0] for op in effectful_ops(doc)}
    names.add("aten::_print")
    return [e for e in log if e[0] in names]


def effectful_ops(doc: dict) -> set[str]:
    """The ops whose calls reach a token. An aten op registered ORDERED that is
    CompositeImplicitAutograd (`absolute`) never does: it decomposes at the Autograd keys,
    before any mode sees it (TRC-16; torch 2.13 gives it no with_effects either)."""
    ops_ = {"aten::_print.default"}
    ops_ |= {c["name"] + ".default" for c in doc.get("custom_ops", []) if c["effect"]}
    return ops_ | {k for k, v in doc.get("register_effects", {}).items()
                   if v and not _decomposes(k)}


def _decomposes(overload: str) -> bool:
    op = refimpl.aten.OPS.get(behaviors.registry_qualname(overload))
    return op is not None and op.has_kernel_for_dispatch_key(
        refimpl.DispatchKey.CompositeImplicitAutograd)


@contextlib.contextmanager
def prepared(program: Program) -> Iterator[Any]:
    """The program's function (refimpl ops, custom ops registered), prints swallowed."""
    with contextlib.redirect_stdout(_Sink()), registrations(program):
        yield write_program(
            program, resolve, with_effects=with_effects, new_token=new_token_tensor
        ).fn


def functional(fn: Any, program: Program) -> tuple[Any, Any]:
    module = Module()
    module.forward = fn
    return aot_export(module, tuple(make_inputs(program)))


def run_schedule(gm: Any, sig: Any, program: Program, schedule: list[str] | None) -> list:
    tokens = [new_token_tensor() for _ in sig.input_tokens]
    with refimpl.record_effects() as log:
        Interpreter(gm).run(*tokens, *make_inputs(program), schedule=schedule)
    return logged(list(log))


def is_with_effects(node: Any) -> bool:
    return node.op == "call_function" and node.target is with_effects


def drop_token_edges(gm: Any) -> None:
    """Give every with_effects node a fresh `_make_token()`: only data edges order it now."""
    graph = gm.graph
    for node in [n for n in graph.nodes if is_with_effects(n)]:
        with graph.inserting_before(node):
            fresh = graph.call_function(ops.prims._make_token.default, ())
        node.args = (fresh, *node.args[1:])


def latest_first(gm: Any) -> list[str]:
    """A schedule that always runs the ready node that comes last in graph order."""
    compute = [n for n in gm.graph.nodes if n.op == "call_function"]
    done: set = set()
    order = []
    while len(order) < len(compute):
        ready = [
            n
            for n in compute
            if n not in done and all(i in done or i.op != "call_function" for i in n._input_nodes)
        ]
        node = ready[-1]
        done.add(node)
        order.append(node.name)
    return order


# ---------------------------------------------------------------------------------------------
# refimpl only
# ---------------------------------------------------------------------------------------------


@pytest.mark.spec("EFF-14")
@FAST
@given(doc=ps.programs(max_ops=16))
def test_dense_effect_log_is_program_order(doc: dict) -> None:
    program = load_program(doc)
    obs = run_refimpl(program, "eager")
    assert obs.error is None, f"expected the eager run to succeed, got {obs.error}"
    expected = expected_log(doc)
    assert logged(obs.effect_log) == expected, (
        f"expected the dense log in program order {expected}, got {obs.effect_log}"
    )


@pytest.mark.spec("TRC-14", "TRC-3", "EFF-23")
@FAST
@given(doc=ps.programs(max_ops=16))
def test_functional_trace_has_one_token_chain(doc: dict) -> None:
    program = load_program(doc)
    with prepared(program) as fn:
        gm, _ = functional(fn, program)
        chains = check_effect_tokens(gm)
    n_effects = sum(stmt["op"] in effectful_ops(doc) for stmt in doc["body"])
    n_nodes = sum(n.op == "call_function" and n.target is with_effects for n in gm.graph.nodes)
    n_chained = sum(len(chain) for chain in chains.values())
    # A composite op may decompose into a registered one (`absolute` -> `abs`), adding nodes.
    assert n_chained == n_nodes >= n_effects, (
        f"expected all {n_nodes} with_effects nodes (at least {n_effects}) on the token chain, "
        f"got {n_chained}:\n{gm.code}"
    )


@pytest.mark.spec("FX-6", "TRC-3", "TRC-14")
@FAST
@given(doc=ps.programs(max_ops=16), data=st.data())
def test_every_schedule_replays_program_order(doc: dict, data: st.DataObject) -> None:
    """Graph order replays the effectful events in program order, and so does every schedule.

    Only events of effectful ops are compared: a custom op without an effect is free to move
    (or, unused, to be dead code), exactly what the token chain does not constrain.
    """
    program = load_program(doc)
    wanted = effectful_events(doc, expected_log(doc))
    with prepared(program) as fn:
        gm, sig = functional(fn, program)
        graph_order = run_schedule(gm, sig, program, None)
        assert effectful_events(doc, graph_order) == wanted, (
            f"expected graph order to replay {wanted}, got {graph_order}:\n{gm.code}"
        )
        for k in range(SCHEDULES_PER_GRAPH):
            schedule = data.draw(ps.schedules(gm.graph), label=f"schedule {k}")
            log = effectful_events(doc, run_schedule(gm, sig, program, schedule))
            assert log == wanted, (
                f"expected schedule {schedule} to replay {wanted}, got {log}:\n{gm.code}"
            )


@pytest.mark.spec("FX-6")
@FAST
@given(doc=ps.programs(max_ops=10, effect_density=0.9, input_mutation=False))
def test_without_token_edges_some_schedule_breaks_order(doc: dict) -> None:
    """The schedule property is not vacuous: take the tokens away and the order can break."""
    prints = [s for s in doc["body"] if s["op"] == "aten::_print.default"]
    if len(prints) < 2:  # two prints never depend on each other by data
        return
    program = load_program(doc)
    expected = effectful_events(doc, expected_log(doc))
    with prepared(program) as fn:
        gm, sig = functional(fn, program)
        drop_token_edges(gm)
        candidates = [latest_first(gm)] + [
            random_topological_order(gm.graph, random.Random(seed)) for seed in range(4)
        ]
        logs = [effectful_events(doc, run_schedule(gm, sig, program, s)) for s in candidates]
    assert any(log != expected for log in logs), (
        f"expected some schedule of the token-free graph to break {expected}, "
        f"got program order under all {len(logs)}"
    )


@pytest.mark.spec("TRC-12", "FX-5", "TRC-16")
@FAST
@given(doc=ps.programs(max_ops=16))
@example(doc={  # found by CI: `absolute` traced as the registered `abs`
    "format": "effects-program/1.1", "name": "fuzz",
    "register_effects": {"aten::abs.default": "ORDERED"},
    "inputs": [{"name": "x0", "shape": [], "dtype": "float32"}],
    "body": [{"op": "aten::_print.default", "args": ["s0"]},
             {"op": "aten::absolute.default", "args": [{"ref": "x0"}], "outs": ["v1"]}],
    "outputs": []})
def test_dce_keeps_effectful_nodes(doc: dict) -> None:
    program = load_program(doc)
    effectful = effectful_ops(doc)
    with prepared(program) as fn:
        gm = refimpl.make_fx(fn, tracing_mode="fake")(*make_inputs(program))
        before = [n.name for n in gm.graph.nodes if _qualname(n) in effectful]
        gm.graph.eliminate_dead_code()  # while the effects are still registered
        after = [n.name for n in gm.graph.nodes if _qualname(n) in effectful]
    n_effects = sum(_TRACED_AS.get(stmt["op"], stmt["op"]) in effectful for stmt in doc["body"])
    assert len(before) == n_effects, f"expected {n_effects} effectful nodes, got {before}"
    assert after == before, f"expected DCE to keep {before}, got {after}"


# The CompositeImplicitAutograd ops refimpl models decompose while tracing (TRC-16): a call of
# `absolute` is traced as `abs`, effectful when `abs` is registered.
_TRACED_AS = {"aten::absolute.default": "aten::abs.default",
              "aten::absolute_.default": "aten::abs_.default"}


def _qualname(node: Any) -> str | None:
    target = node.target
    if node.op != "call_function" or not hasattr(target, "_overloadname"):
        return None
    return (
        f"{target.namespace}::{target._name.split('::', 1)[1].split('.')[0]}.{target._overloadname}"
    )


@pytest.mark.spec("TRC-11", "TRC-9")
@FAST
@given(doc=ps.programs(max_ops=16, input_mutation=False))
def test_export_without_tokens_equals_make_fx(doc: dict) -> None:
    program = load_program(doc)
    with prepared(program) as fn:
        traced = refimpl.make_fx(fn, tracing_mode="fake")(*make_inputs(program))
        traced.graph.eliminate_dead_code()  # aot_export's graph has had DCE too
        output = traced.graph.output_node()  # aot_export returns the outputs flattened
        output.args = (tuple(tree_leaves(output.args[0])),)
        exported = remove_effect_tokens(functional(fn, program)[0])
    effectful = frozenset(effectful_ops(doc))
    a = CanonicalGraph.from_graph_module(exported, effectful_targets=effectful)
    b = CanonicalGraph.from_graph_module(traced, effectful_targets=effectful)
    diff = compare_graphs(a, b)
    assert diff.semantic, (
        f"expected remove_effect_tokens(aot_export(p)) to mean make_fx(p), got:\n{diff.detail}"
    )


@pytest.mark.spec("DSP-15")
@FAST
@given(doc=ps.programs(max_ops=16))
def test_fake_outputs_match_dense(doc: dict) -> None:
    program = load_program(doc)
    dense, fake = run_refimpl(program, "eager"), run_refimpl(program, "fake")
    assert dense.error is None and fake.error is None, (
        f"expected both runs to succeed, got {dense.error} and {fake.error}"
    )
    want = [(o.shape, o.dtype) for o in dense.outputs]
    got = [(o.shape, o.dtype) for o in fake.outputs]
    assert got == want, f"expected fake outputs {want}, got {got}"


# ---------------------------------------------------------------------------------------------
# refimpl against torch (the property `python -m oracle fuzz` runs without a bound)
# ---------------------------------------------------------------------------------------------

STRUCTURAL_PATHS = ["eager", "fake", "make_fx", "functional", "export"]


def _divergences(doc: dict, paths: list[str]) -> list[str]:
    from oracle.check import run_check  # noqa: PLC0415 - imports torch

    run = run_check([load_program(doc)], paths)
    return [
        f"{r.path}: {r.status} {r.kinds}\n" + "\n".join(r.details)
        for r in run.results
        if r.status in ("diverge", "error")
    ]


@pytest.mark.torch
@pytest.mark.spec("EFF-14", "EFF-19")
@DIFF
@given(doc=ps.programs(max_ops=10))
def test_torch_agrees_on_structural_paths(doc: dict) -> None:
    problems = _divergences(doc, STRUCTURAL_PATHS)
    assert not problems, "expected torch to agree with refimpl, got:\n" + "\n".join(problems)


# [NOTE: compile and effect-free custom ops] A custom op registered with effect None is pure to
# torch, so compile drops it when its result is unused, while eager runs it and logs. That is a
# known difference of expectation, not of token handling: the compile properties use ORDERED ops.
COMPILE_PROGRAMS = ps.programs(max_ops=10, custom_effects=("ORDERED",))
# Inductor fails with UnboundLocalError on an input mutation next to effectful ops (a finding of
# `python -m oracle fuzz`, see findings/); until it is in known_findings.json, no mutations here.
INDUCTOR_PROGRAMS = ps.programs(max_ops=10, custom_effects=("ORDERED",), input_mutation=False)


@pytest.mark.torch
@pytest.mark.spec("EFF-14")
@DIFF
@given(doc=COMPILE_PROGRAMS)
def test_aot_eager_keeps_eager_effect_log(doc: dict) -> None:
    problems = _divergences(doc, ["compile:aot_eager"])
    assert not problems, "expected compile:aot_eager to keep eager's log, got:\n" + "\n".join(
        problems
    )


@pytest.mark.torch
@pytest.mark.inductor
@pytest.mark.spec("EFF-14")
@DIFF
@given(doc=INDUCTOR_PROGRAMS)
def test_inductor_keeps_eager_effect_log(doc: dict) -> None:
    problems = _divergences(doc, ["compile:inductor"])
    assert not problems, "expected compile:inductor to keep eager's log, got:\n" + "\n".join(
        problems
    )


# ---------------------------------------------------------------------------------------------
# Programs that run backward (PRG-46 to PRG-52)
# ---------------------------------------------------------------------------------------------

TRAINING_PROGRAMS = ps.programs(**{**ps.TRAINING, "max_ops": 12})
# Modelled aten ops whose result never has a grad_fn (factories, the `*_like` ops, `_print`),
# and the one without a derivative formula that the engine-order model leaves out.
_NO_HISTORY = {"aten::ones.default", "aten::zeros.default", "aten::full.default",
               "aten::arange.default", "aten::empty.memory_format", "aten::ones_like.default",
               "aten::zeros_like.default", "aten::empty_like.default", "aten::_print.default"}


def engine_order_log(doc: dict) -> list[tuple] | None:
    """The backward events torch's engine gives ``doc`` (AG-4), from the program's text alone:
    one node per call with a tensor argument that requires grad, numbered in call order (the
    loss's sums and adds last), edges to the nodes of its tensor arguments (grads that are
    undefined still count, and a custom op's formula then runs on materialized zeros, AG-10);
    from the loss's node, the ready node with the highest number runs first, its formula's
    prints and custom-op calls in body order. ``None`` for a program the model leaves out."""
    custom = {c["name"] + ".default": c for c in doc.get("custom_ops", [])}
    nodes: list[dict] = []
    env: dict[str, Any] = {i["name"]: ("leaf" if i.get("requires_grad") else None)
                           for i in doc["inputs"]}

    def node(parents: list[int], events: list[tuple]) -> int:
        nodes.append({"next": parents, "events": events})
        return len(nodes) - 1

    def refs(value: Any) -> list[str]:
        if isinstance(value, dict):
            return [value["ref"]]
        return [r for v in value for r in refs(v)] if isinstance(value, list) else []

    for stmt in doc["body"]:
        if "with_effects" in stmt or stmt["op"] == "aten::copy.default":
            return None
        args = [*stmt.get("args", []), *stmt.get("kwargs", {}).values()]
        grads = [env.get(name) for arg in args for name in refs(arg)]
        parents = [g for g in grads if g is not None]
        made = None
        if parents and stmt["op"] not in _NO_HISTORY:
            spec = custom.get(stmt["op"])
            events = []
            if spec is not None and "autograd" in spec:
                events = [_formula_event(s, custom) for s in spec["autograd"]["body"]]
                events = [e for e in events if e is not None]
            made = node([p for p in parents if p != "leaf"], events)
        for name in stmt.get("outs", []):
            env[name] = made
    outputs = [env.get(name) for name in doc["outputs"]]
    loss = None
    for index in doc["backward"]["loss"]:
        term = node([] if outputs[index] in (None, "leaf") else [outputs[index]], [])
        loss = term if loss is None else node([loss, term], [])
    dependencies = [0] * len(nodes)
    seen, stack = {loss}, [loss]
    while stack:
        for nxt in nodes[stack.pop()]["next"]:
            dependencies[nxt] += 1
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    ready, log = [loss], []
    while ready:
        current = max(ready)
        ready.remove(current)
        log.extend(nodes[current]["events"])
        for nxt in nodes[current]["next"]:
            dependencies[nxt] -= 1
            if dependencies[nxt] == 0:
                ready.append(nxt)
    return log


def _backward_part(log: list) -> list:
    """The events from the backward mark on (PRG-52)."""
    return list(log[log.index(BACKWARD_EVENT):]) if BACKWARD_EVENT in log else []


def _forward_part(log: list) -> list:
    return list(log[:log.index(BACKWARD_EVENT)]) if BACKWARD_EVENT in log else list(log)


def _formula_event(stmt: dict, custom: dict) -> tuple | None:
    if stmt["op"] == "aten::_print.default":
        return ("aten::_print", (stmt["args"][0],), ())
    if stmt["op"] in custom:  # the generator's backward logger: (Tensor x, str tag)
        return (custom[stmt["op"]]["name"], (stmt["args"][1],), ("T",))
    return None


@pytest.mark.spec("PRG-52")
@FAST
@given(doc=TRAINING_PROGRAMS)
def test_backward_effect_log_follows_engine_order(doc: dict) -> None:
    from hypothesis import assume  # noqa: PLC0415

    expected = engine_order_log(doc)
    assume(expected is not None)
    obs = run_refimpl(load_program(doc), "eager")
    assume(obs.error is None)  # a loss that reaches no input: both worlds raise (PRG-51)
    log = logged(obs.effect_log)
    mark = log.index(logged([BACKWARD_EVENT])[0])
    assert log[mark + 1:] == expected, (
        f"expected the backward events in engine order {expected}, got {log[mark + 1:]}")


@pytest.mark.spec("PRG-52", "TRC-19")
@FAST
@given(doc=TRAINING_PROGRAMS)
def test_backward_through_every_graph_equals_eager(doc: dict) -> None:
    """make_fx's and export's graphs run the same backward as eager (the same events after the
    mark, the same grads); the joint graph's grads equal eager's where it can be made."""
    program = load_program(doc)
    eager, make_fx, export, functional = (run_refimpl(program, p) for p in
                                          ("eager", "make_fx", "export", "functional"))
    for obs in (make_fx, export):
        assert (obs.error is None) == (eager.error is None), (
            f"{obs.path}: expected eager's outcome {eager.error}, got {obs.error}")
        if obs.error is None:  # a graph may drop a pure op's unused call: effectful events
            want, got = (effectful_events(doc, [*o.effect_log]) + _backward_part(o.effect_log)
                         for o in (eager, obs))
            assert got == want, f"{obs.path}: expected eager's events {want}, got {got}"
            assert [g.values for g in obs.grads] == [g.values for g in eager.grads], (
                f"{obs.path}: expected eager's grads")
    if functional.error is None and eager.error is None:
        got = [np.asarray(g.values) for g in functional.grads]
        want = [np.asarray(g.values) for g in eager.grads]
        assert len(got) == len(want) and all(
            np.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(got, want)), (
            f"expected the joint graph's grads {want}, got {got}")


def _run_aot_function(graphs: dict) -> Any:
    """A runner: the program through refimpl's ``aot_function`` (default partitioner), its
    loss and backward; the forward and backward graphs land in ``graphs``."""

    def capture(phase: str) -> Any:
        def compiler(gm: Any, example_inputs: Any) -> Any:
            graphs[phase] = gm
            return make_boxed_func(gm.forward)
        return compiler

    def runner(case: Any) -> None:
        compiled = aot_function(case.src.fn, capture("forward"), capture("backward"))
        inputs = case.inputs()
        case.finish(compiled(*inputs), inputs)

    return runner


def _close_or_unreached(got: Any, want: Any) -> bool:
    """Equal values; or eager's grad is None (its backward never reached the input) and the
    compiled one is zeros: the joint's tangents of the outputs off the loss are zeros at
    runtime, and their formulas still run (torch too: F008, findings/004)."""
    if want.values is None:
        return got.values is None or not np.any(np.asarray(got.values, dtype=float))
    if got.values is None:
        return False
    return np.allclose(np.asarray(got.values, dtype=float), np.asarray(want.values, dtype=float),
                       rtol=1e-5, atol=1e-6, equal_nan=True)


@pytest.mark.spec("TRC-20", "TRC-21", "TRC-14")
@FAST
@given(doc=TRAINING_PROGRAMS)
def test_aot_function_partitioned_graphs_run_as_eager(doc: dict) -> None:
    """The partitioned forward and backward run the program as eager does (outputs, grads, the
    effectful events; eager's backward events, in order, among the backward's), and each graph
    has one token chain per effect type from its token inputs to its token outputs."""
    from hypothesis import assume  # noqa: PLC0415

    program = load_program(doc)
    graphs: dict = {}
    eager, compiled = run_refimpl_runners(
        program, {"eager": PATH_RUNNERS["eager"], "aot_function": _run_aot_function(graphs)})
    assume(not (compiled.error and compiled.error.type == "NotImplementedError"))  # TRC-20's
    # limits (a view output in training) are the module's documented simplifications
    if eager.error is None and compiled.error is not None:
        # The joint differentiates every output that requires grad, not only the loss, so it
        # reaches formulas eager's backward never runs (torch too: F008, findings/004).
        assert compiled.error.type == "RuntimeError" and compiled.error.message.startswith(
            "derivative for "), f"expected eager's outcome (no error), got {compiled.error}"
        return
    assert (compiled.error is None) == (eager.error is None), (
        f"expected eager's outcome {eager.error}, got {compiled.error}")
    if eager.error is not None:
        return
    # A graph may drop a pure op's unused call: the effectful forward events are eager's; the
    # effectful backward events are eager's with, at most, events of the formulas off the loss
    # in between.
    (want_fw, want_bw), (got_fw, got_bw) = (
        (effectful_events(doc, _forward_part(o.effect_log)),
         effectful_events(doc, _backward_part(o.effect_log)))
        for o in (eager, compiled))
    assert got_fw == want_fw, f"expected eager's forward events {want_fw}, got {got_fw}"
    rest = iter(got_bw)
    assert all(any(e == g for g in rest) for e in want_bw), (
        f"expected eager's backward events {want_bw} in order among {got_bw}")
    for got, want, what in ((compiled.outputs, eager.outputs, "outputs"),
                            (compiled.grads, eager.grads, "grads")):
        assert len(got) == len(want) and all(
            _close_or_unreached(a, b) for a, b in zip(got, want)), (
            f"expected eager's {what} {want}, got {got}")
    for phase, gm in graphs.items():
        check_effect_tokens(gm)
        placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
        if phase == "backward" and any(n.name == "tangents_token" for n in placeholders):
            assert placeholders[-1].name == "tangents_token", (
                f"expected tangents_token last, got {[n.name for n in placeholders]}")


@pytest.mark.torch
@pytest.mark.spec("PRG-52")
@DIFF
@given(doc=TRAINING_PROGRAMS)
def test_torch_agrees_on_training_programs(doc: dict) -> None:
    problems = _divergences(doc, [*STRUCTURAL_PATHS, "compile:aot_eager"])
    assert not problems, "expected torch to agree with refimpl, got:\n" + "\n".join(problems)


def _aot_function_runner(partition: str, side: str) -> Any:
    """A runner for ``side`` (``"refimpl"`` or ``"torch"``): the program through that side's
    ``aot_function`` with capturing compilers and the named partitioner; forward code in
    ``obs.code``, backward code in ``obs.backward_code`` (torch's with the program's
    namespaces)."""
    if side == "torch":
        from functorch.compile import make_boxed_func as boxed  # noqa: PLC0415
        from torch._functorch import partitioners  # noqa: PLC0415
        from torch._functorch.aot_autograd import aot_function as compile_fn  # noqa: PLC0415
    else:
        from refimpl._functorch import partitioners  # noqa: PLC0415
        boxed, compile_fn = make_boxed_func, aot_function
    partition_fn = {"default": partitioners.default_partition,
                    "min_cut": partitioners.min_cut_rematerialization_partition}[partition]

    def runner(case: Any) -> None:
        unmap = case.ctx.unmap_code if side == "torch" else (lambda code: code)
        fn = case.fn.fn if side == "torch" else case.src.fn

        def capture(attr: str) -> Any:
            def compiler(gm: Any, example_inputs: Any) -> Any:
                setattr(case.obs, attr, unmap(gm.code.strip()))
                return boxed(gm.forward)
            return compiler

        compiled = compile_fn(fn, capture("code"), capture("backward_code"),
                              partition_fn=partition_fn)
        inputs = case.inputs()
        case.finish(compiled(*inputs), inputs)

    return runner


@pytest.mark.torch
@pytest.mark.spec("TRC-20", "TRC-21", "TRC-22")
@DIFF
@given(doc=TRAINING_PROGRAMS, partition=st.sampled_from(["default", "min_cut"]))
def test_partitioned_graphs_are_torchs(doc: dict, partition: str) -> None:
    """refimpl's ``aot_function`` gives torch's forward and backward code, token chains and
    all, with either partitioner, on generated training programs."""
    from hypothesis import assume  # noqa: PLC0415

    from oracle.torch_runner import run_torch_runner  # noqa: PLC0415 - imports torch

    program = load_program(doc)
    (ours,) = run_refimpl_runners(program, {partition: _aot_function_runner(partition, "refimpl")})
    assume(not (ours.error and ours.error.type == "NotImplementedError"))  # TRC-20's limits
    theirs = run_torch_runner(program, partition, _aot_function_runner(partition, "torch"))
    assert (ours.error is None) == (theirs.error is None), (
        f"expected torch's outcome {theirs.error}, got {ours.error}")
    for attr in ("code", "backward_code"):
        want, got = getattr(theirs, attr), getattr(ours, attr)
        assert got == want, f"{attr}: expected torch's\n{want}\ngot\n{got}"
