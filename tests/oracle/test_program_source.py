"""oracle/program_source.py: input names never collide with the generated code (no torch needed).

Spec: PRG-30, RPT-13.
"""

from __future__ import annotations

import pytest

from oracle import program_source
from oracle.compare import compare_observations
from oracle.observation import ErrorObs, Observation
from oracle.program import load_program
from oracle.program_source import HarnessError, param_names, write_program
from oracle.refimpl_runner import resolve, run_refimpl
from refimpl.effects import new_token_tensor, with_effects

# Each name is a valid input name (PRG-13) that once produced a parameter list that does not
# compile (`program` became `in0`, as the second input is named) or shadowed generated code.
CLASHING = ["program", "in0", "_in1", "float", "_v0", "torch", "forward", "self", "_op0"]


def _program(names: list[str]) -> object:
    inputs = [{"name": n, "shape": [2], "dtype": "float32"} for n in names]
    body = [{"op": "aten::add.Scalar", "args": [{"ref": names[0]}, float("nan")], "outs": ["y"]}]
    body += [{"op": "aten::add.Tensor", "args": [{"ref": "y"}, {"ref": n}], "outs": [f"s{k}"]}
             for k, n in enumerate(names[1:])]
    return load_program({"format": "effects-program/1", "name": "clash", "inputs": inputs,
                         "body": body, "outputs": [f"s{len(names) - 2}", "y"]})


@pytest.mark.spec("PRG-30")
def test_clashing_input_names_become_distinct_parameters():
    names = param_names(_program(CLASHING))
    assert len(set(names)) == len(names), f"expected distinct parameter names, got {names}"
    assert names[1] == "in0", f"expected a harmless name to be kept, got {names}"
    for own, param in zip(CLASHING, names):
        if own != "in0":
            assert param.startswith("_in"), f"expected {own!r} renamed to _in<i>, got {param!r}"


@pytest.mark.spec("PRG-30")
def test_program_with_clashing_names_runs():
    obs = run_refimpl(_program(["program", "in0"]), "eager")
    assert obs.error is None, f"expected the program to run, got {obs.error}"
    got = [v.values for v in obs.outputs]
    nan = float("nan")
    assert str(got) == str([[nan, nan], [nan, nan]]), f"expected NaN sums, got {got}"


@pytest.mark.spec("PRG-30")
def test_input_named_float_does_not_shadow_the_builtin():
    obs = run_refimpl(_program(["float", "x"]), "eager")
    assert obs.error is None, f"expected float('nan') to stay the builtin, got {obs.error}"


@pytest.mark.spec("RPT-13")
def test_source_that_does_not_compile_is_a_harness_error(monkeypatch):
    program = _program(["a", "b"])
    monkeypatch.setattr(program_source, "param_names", lambda p: ["a", "a"])
    with pytest.raises(HarnessError, match="does not compile"):
        write_program(program, resolve, with_effects=with_effects, new_token=new_token_tensor)
    obs = run_refimpl(program, "eager")
    assert obs.error is not None and obs.error.type == "HarnessError", (
        f"expected the runner to record a HarnessError, got {obs.error}")


@pytest.mark.spec("RPT-2", "RPT-13")
@pytest.mark.parametrize("sides", [("torch", "refimpl"), ("torch",), ("refimpl",)])
def test_a_harness_error_on_either_side_is_never_agreement(sides):
    program = _program(["a", "b"])
    error = ErrorObs("HarnessError", "the generated source does not compile")
    t, r = (Observation("eager", side, error=error if side in sides else None, outputs=[])
            for side in ("torch", "refimpl"))
    result = compare_observations(program, t, r)
    assert result.status == "error", f"expected status error, got {result.status}"
    assert all(any(s in d for d in result.details) for s in sides), (
        f"expected the details to name {sides}, got {result.details}")
