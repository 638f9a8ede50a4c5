"""Comparison verdicts from hand-made observations (no torch needed).

Spec: RPT-2, RPT-3, RPT-4, RPT-6.
"""

from __future__ import annotations

import numpy as np
import pytest

from oracle import check
from oracle.compare import PathResult, compare_observations
from oracle.observation import ErrorObs, Observation, ValueObs
from oracle.program import load_program

PROGRAM = load_program({
    "format": "effects-program/1",
    "name": "two-recs",
    "custom_ops": [
        {"name": "fz::rec", "schema": "rec(Tensor x, str tag) -> Tensor", "behavior": "record",
         "effect": "ORDERED"},
        {"name": "fz::pure", "schema": "pure(Tensor x, str tag) -> Tensor",
         "behavior": "record", "effect": None},
    ],
    "inputs": [{"name": "x", "shape": [2], "dtype": "float32"}],
    "body": [
        {"op": "fz::rec.default", "args": [{"ref": "x"}, "a"], "outs": ["y"]},
        {"op": "fz::pure.default", "args": [{"ref": "x"}, "dead"]},
        {"op": "fz::rec.default", "args": [{"ref": "y"}, "b"], "outs": ["z"]},
    ],
    "outputs": ["z"],
})
A = ("fz::rec", ("a",), ((2,),))
B = ("fz::rec", ("b",), ((2,),))
DEAD = ("fz::pure", ("dead",), ((2,),))


def obs(side: str, path: str, log: list, values: list | None = None) -> Observation:
    out = [ValueObs((2,), "float32", values if values is not None else [2.0, 3.0])]
    return Observation(path=path, side=side, outputs=out, effect_log=log)


@pytest.mark.spec("RPT-4")
def test_compile_reordering_is_an_effect_order_violation():
    result = compare_observations(PROGRAM, obs("torch", "compile:inductor", [B, DEAD, A]),
                                  obs("refimpl", "compile:inductor", [A, DEAD, B]))
    assert result.status == "diverge", f"expected diverge, got {result.status}"
    assert result.kinds == ["effect-order violation"], f"got {result.kinds}"


@pytest.mark.spec("RPT-4")
def test_compile_may_drop_an_unused_pure_op():
    result = compare_observations(PROGRAM, obs("torch", "compile:inductor", [A, B]),
                                  obs("refimpl", "compile:inductor", [A, DEAD, B]))
    assert result.status == "agree", f"expected agree, got {result.status}: {result.details}"


@pytest.mark.spec("RPT-4")
def test_compile_losing_an_effect_is_a_log_mismatch():
    result = compare_observations(PROGRAM, obs("torch", "compile:aot_eager", [A]),
                                  obs("refimpl", "compile:aot_eager", [A, B]))
    assert result.kinds == ["effect-log mismatch"], f"got {result.kinds}"


@pytest.mark.spec("RPT-4")
def test_a_log_difference_elsewhere_is_a_reference_mismatch():
    result = compare_observations(PROGRAM, obs("torch", "functional", [A, B]),
                                  obs("refimpl", "functional", [A, DEAD, B]))
    assert result.kinds == ["reference mismatch: effect log"], f"got {result.kinds}"


@pytest.mark.spec("RPT-3")
@pytest.mark.parametrize(("theirs", "status"), [([2.0, 3.0000001], "agree"),
                                                ([2.0, 3.1], "diverge")])
def test_float32_values_within_tolerance(theirs, status):
    result = compare_observations(PROGRAM, obs("torch", "eager", [A, DEAD, B], theirs),
                                  obs("refimpl", "eager", [A, DEAD, B]))
    assert result.status == status, f"expected {status}, got {result.status}: {result.details}"


@pytest.mark.spec("RPT-2")
def test_worker_crash_is_an_error_not_a_divergence():
    crashed = Observation(path="eager", side="torch", error=ErrorObs("WorkerCrash", "SIGSEGV"))
    result = compare_observations(PROGRAM, crashed, obs("refimpl", "eager", [A, DEAD, B]))
    assert result.status == "error", f"expected error, got {result.status}"


@pytest.mark.spec("RPT-6")
def test_known_findings_mark_matches_and_flag_stale_entries():
    run = check.CheckRun("2.13.0", "torch-2.13", ["compile:inductor", "eager"])
    run.results = [PathResult("two-recs", "compile:inductor", "diverge",
                              kinds=["effect-order violation"], features=["ordered_custom_op"]),
                   PathResult("two-recs", "eager", "agree", features=["ordered_custom_op"])]
    known = [{"id": "K1", "paths": ["compile:inductor"], "kind": "effect-order",
              "requires": ["ordered_custom_op"]},
             {"id": "K2", "paths": ["eager"], "kind": "error"},
             {"id": "K3", "paths": ["*"], "kind": "error", "requires": ["with_effects"]}]
    check._apply_known(run, known)
    assert run.results[0].status == "known", f"expected known, got {run.results[0].status}"
    stale = [e["id"] for e in run.stale_known]
    assert stale == ["K2"], f"expected only K2 stale (K3 covers nothing run), got {stale}"


@pytest.mark.spec("RPT-6")
def test_known_findings_match_by_signature_not_program_name():
    """K003's symptom from a program outside the catalog is known; without a direct
    with_effects statement the same path and kind is not."""
    k003 = next(e for e in check.load_known_findings() if e["id"] == "K003")
    details = ["error:\n    torch Unsupported: Attempted to call function marked as skipped\n"
               "  Explanation: Dynamo developers have intentionally marked that the function\n"
               "`new_token_tensor` in file"]
    new = PathResult("brand_new_program", "compile:aot_eager", "diverge", kinds=["error"],
                     details=details, features=["with_effects"])
    plain = PathResult("brand_new_program", "compile:aot_eager", "diverge", kinds=["error"],
                       details=details, features=["print"])
    assert check.known_finding_for(new, [k003]) is k003, "a new program's with_effects refusal"
    assert check.known_finding_for(plain, [k003]) is None, "no with_effects statement: not K003"


@pytest.mark.spec("RPT-6")
def test_known_findings_file_is_well_formed():
    for entry in check.load_known_findings():
        assert "programs" not in entry, f"known finding {entry.get('id')} names programs"
        for key in ("id", "paths", "kind", "reason", "upstream"):
            assert key in entry, f"known finding {entry.get('id')} lacks {key!r}"


def _big(values) -> Observation:
    arr = np.asarray(values, dtype=np.float32)
    return Observation("eager", "torch", outputs=[ValueObs(arr.shape, "float32", arr)],
                       effect_log=[A, DEAD, B])


@pytest.mark.spec("RPT-3", "RPT-15")
def test_large_outputs_compare_as_arrays_by_the_same_rule():
    base = np.arange(5000, dtype=np.float32)
    base[10], base[11], base[12] = np.nan, np.inf, -np.inf
    near = base.copy()
    near[100] = np.nextafter(near[100], np.float32(np.inf))
    agree = compare_observations(PROGRAM, _big(base), _big(near))
    assert agree.status == "agree", f"expected agree (NaN/inf in place), got {agree.details}"
    far = base.copy()
    far[7], far[4000] = 8.5, np.nan
    diverge = compare_observations(PROGRAM, _big(base), _big(far))
    assert diverge.kinds == ["reference mismatch: values"], f"got {diverge.kinds}"
    detail = diverge.details[0]
    assert "2 of 5000 elements differ" in detail and "[7]" in detail and "[4000]" in detail, (
        f"expected the count and positions of the differences, got {detail!r}")
    assert len(detail) < 500, f"expected a short detail, got {len(detail)} characters"


@pytest.mark.spec("RPT-15")
def test_a_large_output_and_its_list_compare_equal():
    values = [float(k % 9) for k in range(3000)]
    as_list = Observation("eager", "refimpl", outputs=[ValueObs((3000,), "float32", values)],
                          effect_log=[A, DEAD, B])
    result = compare_observations(PROGRAM, _big(np.asarray(values)), as_list)
    assert result.status == "agree", f"expected agree, got {result.details}"
