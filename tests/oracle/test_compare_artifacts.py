"""Comparison artifacts: verdicts that came from how observations were compared, not from torch.

Hand-made observations, no torch needed. Spec: PRG-25, RPT-3, RPT-4, RPT-9, RPT-10, RPT-11, AG-11.
"""

from __future__ import annotations

import math

import pytest

from oracle.compare import compare_observations, effectful_qualnames
from oracle.observation import ErrorObs, Observation, ValueObs
from oracle.program import load_program


def _program(**extra) -> object:
    doc = {
        "format": "effects-program/1",
        "name": "artifacts",
        "inputs": [{"name": "x", "shape": [2], "dtype": "float32"}],
        "body": [{"op": "aten::sin.default", "args": [{"ref": "x"}], "outs": ["y"]}],
        "outputs": ["y"],
    }
    doc.update(extra)
    return load_program(doc)


def _raised(side: str, path: str, err: ErrorObs) -> Observation:
    return Observation(path=path, side=side, error=err)


def _ran(side: str, path: str, values: list, dtype: str = "float32",
         log: list | None = None) -> Observation:
    out = [ValueObs((len(values),), dtype, values)]
    return Observation(path=path, side=side, outputs=out, effect_log=log or [])


# -- PRG-25: expect_error's type and match ---------------------------------------------------

EXPECT = {"type": "RuntimeError", "match": "boom"}


@pytest.mark.spec("PRG-25")
@pytest.mark.parametrize("path", ["eager", "functional", "compile:aot_eager"])
@pytest.mark.parametrize(
    ("err", "status"),
    [
        (ErrorObs("RuntimeError", "it went boom"), "agree"),
        (ErrorObs("ValueError", "it went boom"), "diverge"),
        (ErrorObs("RuntimeError", "it went bang"), "diverge"),
    ],
)
def test_expect_error_type_and_match_are_compared(path: str, err: ErrorObs, status: str) -> None:
    program = _program(expect_error=EXPECT)
    result = compare_observations(program, _raised("torch", path, err),
                                  _raised("refimpl", path, err))
    assert result.status == status, (
        f"expected {status} for {err} against {EXPECT}, got {result.status}: {result.details}")
    if status == "diverge":
        assert result.kinds == ["error: not the expected error"], f"got {result.kinds}"


# -- RPT-9: a compile path's wrapper line is not part of the compared message -----------------

@pytest.mark.spec("RPT-9")
def test_the_raised_through_line_of_a_compile_error_is_not_compared() -> None:
    inner = ErrorObs("RuntimeError", "it went boom")
    wrapped = ErrorObs("RuntimeError", "it went boom\n(raised through "
                                       "torch._dynamo.exc.TorchRuntimeError)")
    result = compare_observations(_program(expect_error=EXPECT),
                                  _raised("torch", "compile:aot_eager", wrapped),
                                  _raised("refimpl", "compile:aot_eager", inner))
    assert result.status == "agree", f"expected agree, got {result.status}: {result.details}"


@pytest.mark.spec("RPT-9")
def test_a_different_message_under_the_wrapper_line_still_diverges() -> None:
    wrapped = ErrorObs("RuntimeError", "it went boom twice\n(raised through "
                                       "torch._dynamo.exc.TorchRuntimeError)")
    result = compare_observations(_program(),
                                  _raised("torch", "compile:aot_eager", wrapped),
                                  _raised("refimpl", "compile:aot_eager",
                                          ErrorObs("RuntimeError", "it went boom")))
    assert result.kinds == ["error"], f"expected an error divergence, got {result.kinds}"


VERSION_ERROR = ("one of the variables needed for gradient computation has been modified by an "
                 "inplace operation: [torch.FloatTensor [2]], which is output 0 of Cos, is at "
                 "version 1; expected version 0 instead. Hint: ")
ANOMALY_HINT = ("the backtrace further above shows the operation that failed to compute its "
                "gradient. The variable in question was changed in there or anywhere later. "
                "Good luck!")
EAGER_HINT = ("enable anomaly detection to find the operation that failed to compute its "
              "gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False).")


@pytest.mark.spec("RPT-9", "AG-11")
@pytest.mark.parametrize(("path", "status"), [("compile:aot_eager", "agree"),
                                              ("compile:inductor", "agree"),
                                              ("functional", "diverge")])
def test_anomaly_hint_of_a_compile_joint_is_compared_as_eagers(path: str, status: str) -> None:
    """A compile path's expectation is eager's run; its joint is traced under anomaly mode. The
    functional path's reference traces the joint under anomaly mode too, so there it counts."""
    torch_err = ErrorObs("RuntimeError", VERSION_ERROR + ANOMALY_HINT + "\n(raised through "
                         "torch._dynamo.exc.BackendCompilerFailed)")
    result = compare_observations(_program(), _raised("torch", path, torch_err),
                                  _raised("refimpl", path,
                                          ErrorObs("RuntimeError", VERSION_ERROR + EAGER_HINT)))
    assert result.status == status, f"expected {status}, got {result.status}: {result.details}"


# -- RPT-3: non-finite values ----------------------------------------------------------------

@pytest.mark.spec("RPT-3")
@pytest.mark.parametrize(
    ("torch_values", "ref_values", "status"),
    [
        ([math.inf, -math.inf], [math.inf, -math.inf], "agree"),
        ([math.inf, math.inf], [math.inf, -math.inf], "diverge"),
        ([math.nan, 1.0], [math.nan, 1.0], "agree"),
        ([math.nan, 1.0], [1.0, math.nan], "diverge"),
        ([math.inf, 1.0], [1e38, 1.0], "diverge"),
    ],
)
def test_non_finite_values_compare_as_torch_does(torch_values, ref_values, status) -> None:
    result = compare_observations(_program(), _ran("torch", "eager", torch_values),
                                  _ran("refimpl", "eager", ref_values))
    assert result.status == status, (
        f"expected {status} for torch {torch_values} vs reference {ref_values}, "
        f"got {result.status}: {result.details}")


@pytest.mark.spec("RPT-3")
def test_non_finite_values_survive_the_observation_json_round_trip() -> None:
    before = _ran("torch", "eager", [math.inf, -math.inf, math.nan])
    after = Observation.from_json(before.dumps())
    result = compare_observations(_program(), after, _ran("refimpl", "eager",
                                                          [math.inf, -math.inf, math.nan]))
    assert result.status == "agree", f"expected agree, got {result.status}: {result.details}"


# -- RPT-10: event arguments compare by value; order first ------------------------------------

REC = {"name": "fz::rec", "schema": "rec(Tensor x, Scalar s) -> Tensor", "behavior": "record",
       "effect": "ORDERED"}


@pytest.mark.spec("RPT-10")
def test_an_int_and_an_equal_float_argument_are_the_same_event() -> None:
    program = _program(custom_ops=[REC])
    a_int, a_float = ("fz::rec", (-1,), ((2,),)), ("fz::rec", (-1.0,), ((2,),))
    b = ("fz::rec", (2,), ((2,),))
    result = compare_observations(program,
                                  _ran("torch", "compile:aot_eager", [0.0, 0.0], log=[b, a_int]),
                                  _ran("refimpl", "compile:aot_eager", [0.0, 0.0],
                                       log=[a_float, b]))
    assert result.kinds == ["effect-order violation"], f"got {result.kinds}: {result.details}"
    same = compare_observations(program,
                                _ran("torch", "eager", [0.0, 0.0], log=[a_int, b]),
                                _ran("refimpl", "eager", [0.0, 0.0], log=[a_float, b]))
    assert same.status == "agree", f"expected agree, got {same.status}: {same.details}"


@pytest.mark.spec("RPT-10")
def test_a_different_argument_value_is_still_a_log_mismatch() -> None:
    program = _program(custom_ops=[REC])
    a, other = ("fz::rec", (-1,), ((2,),)), ("fz::rec", (-2,), ((2,),))
    result = compare_observations(program,
                                  _ran("torch", "compile:aot_eager", [0.0, 0.0], log=[a]),
                                  _ran("refimpl", "compile:aot_eager", [0.0, 0.0], log=[other]))
    assert result.kinds == ["effect-log mismatch"], f"got {result.kinds}"


# -- RPT-11: effective effects after register_effects ----------------------------------------

@pytest.mark.spec("RPT-11")
def test_register_effects_overrides_a_declared_effect() -> None:
    program = _program(custom_ops=[REC], register_effects={"fz::rec.default": None})
    assert "fz::rec" not in effectful_qualnames(program), "re-registered null: pure"


@pytest.mark.spec("RPT-11")
@pytest.mark.parametrize(("key", "kept"), [("aten::cos.default", "aten::cos"),
                                           ("aten::add.Tensor", "aten::add.Tensor")])
def test_an_aten_op_registered_ordered_is_kept(key: str, kept: str) -> None:
    program = _program(register_effects={key: "ORDERED"})
    assert kept in effectful_qualnames(program), f"{key} registered ORDERED: keep {kept}"
