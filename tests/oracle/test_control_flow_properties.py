"""Properties of generated control-flow programs (`strategies.control_flow_programs`).

Models: torch.cond and torch._higher_order_ops.while_loop at torch 2.13.0 against plain Python
control flow (the reference semantics, CF-5), and the token conventions of CF-6.
Spec: CF-5, CF-6, CF-12, PRG-53 to PRG-58.

1. refimpl's effect log and outputs with the HOPs equal those of the same program run with
   plain-Python `if` and `while` (eager, and the make_fx graph run);
2. under the `"threaded"` switch every cond program's exported graph passes
   `check_effect_tokens`, subgraphs included, and runs the eager effect log; under torch 2.13's
   `"shared"` convention a graph whose subgraph still holds a with_effects fails the check
   there, at the constant token;
3. (torch) every path agrees with torch or is a known finding (the control-flow findings of
   findings/006-014).
"""

from __future__ import annotations

import dataclasses
import os
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings

import refimpl
from oracle.compare import program_features
from oracle.program import load_program
from oracle.refimpl_runner import run_refimpl
from oracle.strategies import control_flow_programs
from refimpl.passes import EffectTokenError, check_effect_tokens
from refimpl.profiles import get_profile, set_profile

PROPERTY_DATABASE = {} if os.environ.get("ORACLE_FUZZ_DATABASE") else {"database": None}
FAST = settings(max_examples=60, deadline=None, derandomize=bool(PROPERTY_DATABASE),
                suppress_health_check=[HealthCheck.too_slow], **PROPERTY_DATABASE)
DIFF = settings(max_examples=int(os.environ.get("ORACLE_DIFF_EXAMPLES", "10")), deadline=None,
                derandomize=bool(PROPERTY_DATABASE), suppress_health_check=[HealthCheck.too_slow],
                **PROPERTY_DATABASE)


def plain_cond(pred, true_fn, false_fn, operands):  # noqa: ANN001, ANN201 - torch's signature
    return true_fn(*operands) if pred else false_fn(*operands)


def plain_while_loop(cond_fn, body_fn, carried):  # noqa: ANN001, ANN201
    while cond_fn(*carried):
        carried = body_fn(*carried)
    return tuple(carried)


def _observables(obs: object) -> tuple:
    return (obs.error, obs.effect_log,
            None if obs.outputs is None else [o.values for o in obs.outputs])


@pytest.mark.spec("CF-5", "PRG-53", "PRG-56")
@FAST
@given(doc=control_flow_programs())
def test_hops_run_what_plain_python_control_flow_runs(doc: dict) -> None:
    program = load_program(doc)
    with mock.patch.object(refimpl, "cond", plain_cond), \
            mock.patch.object(refimpl, "while_loop", plain_while_loop):
        plain = run_refimpl(program, "eager")
    assert plain.error is None, plain.error
    for path in ("eager", "make_fx"):
        obs = run_refimpl(program, path)
        assert _observables(obs) == _observables(plain), (
            f"{path}: expected plain Python's log {plain.effect_log}, got {obs.effect_log} "
            f"({obs.error})")


@pytest.mark.spec("CF-6", "CF-12")
@FAST
@given(doc=control_flow_programs())
def test_threaded_tokens_make_checked_chains_that_keep_the_effect_log(doc: dict) -> None:
    program = load_program(doc)
    features = program_features(program)
    if "while_loop" in features:
        return  # the threaded convention is modelled for cond only (CF-11)
    previous = get_profile()
    set_profile(dataclasses.replace(previous, name="threaded", subgraph_tokens="threaded"))
    try:
        eager = run_refimpl(program, "eager")
        functional = run_refimpl(program, "functional")
        gm = _exported(program)
    finally:
        set_profile(previous)
    assert functional.error is None, functional.error
    assert functional.effect_log == eager.effect_log
    check_effect_tokens(gm)
    shared = _exported(program)
    if _subgraph_effects(shared):  # torch 2.13's convention: the branch reads a constant token
        with pytest.raises(EffectTokenError, match="in subgraph .*_tensor_constant"):
            check_effect_tokens(shared)


def _subgraph_effects(gm: object, depth: int = 0) -> bool:
    """Whether a subgraph of ``gm`` (at any depth) still holds a with_effects node (one whose
    outputs are all unused is dead code there, FX-8)."""
    from refimpl.effects import with_effects  # noqa: PLC0415
    from refimpl.fx import GraphModule  # noqa: PLC0415

    for node in gm.graph.nodes:
        if depth and node.target is with_effects:
            return True
        child = getattr(gm, node.target, None) if node.op == "get_attr" else None
        if isinstance(child, GraphModule) and _subgraph_effects(child, depth + 1):
            return True
    return False


def _exported(program: object) -> object:
    from oracle.program_source import write_program  # noqa: PLC0415
    from oracle.refimpl_runner import make_inputs, registrations, resolve  # noqa: PLC0415
    from refimpl.effects import new_token_tensor, with_effects  # noqa: PLC0415
    from refimpl.export import Module, aot_export  # noqa: PLC0415

    with registrations(program):
        src = write_program(program, resolve, with_effects=with_effects,
                            new_token=new_token_tensor, cond=refimpl.cond,
                            while_loop=refimpl.while_loop)
        module = Module()
        module.forward = src.fn
        gm, _ = aot_export(module, tuple(make_inputs(program)))
    return gm


@pytest.mark.torch
@pytest.mark.spec("CF-5", "CF-6")
@DIFF
@given(doc=control_flow_programs())
def test_torch_agrees_on_every_path_or_the_divergence_is_known(doc: dict) -> None:
    from oracle.check import run_check  # noqa: PLC0415
    from oracle.observation import PATHS  # noqa: PLC0415

    run = run_check([load_program(doc)], list(PATHS))
    bad = [f"{r.path}: {r.status} {r.details}" for r in run.results
           if r.status not in ("agree", "known", "skip")]
    assert not bad, "\n".join(bad)
