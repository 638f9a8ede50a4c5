"""oracle/report.py: a report never fails on a large value (no torch needed).

Spec: RPT-5, RPT-15.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import refimpl
from oracle import observation, refimpl_runner
from oracle.check import CheckRun
from oracle.compare import PathResult
from oracle.observation import Observation, ValueObs
from oracle.report import MAX_REPORTED_VALUES, summarise_value, to_json

BIG = 4096 * 4096


def _run(elements: int) -> CheckRun:
    values = [float(k % 7) for k in range(elements)]
    run = CheckRun("2.13.0", "torch-2.13", ["eager"])
    t, r = (Observation("eager", side, outputs=[ValueObs((elements,), "float32", values)])
            for side in ("torch", "refimpl"))
    detail = f"output 0: torch {values}, reference {values}"
    run.results.append(PathResult("big", "eager", "diverge", kinds=["values"], details=[detail]))
    run.observations[("big", "eager")] = (t, r)
    return run


@pytest.mark.spec("RPT-5", "RPT-15")
def test_a_large_output_is_summarised():
    report = to_json(_run(BIG))
    text = json.dumps(report, indent=1)
    assert len(text) < 100_000, f"expected a report of kilobytes, got {len(text)} characters"
    out = report["results"][0]["torch"]["outputs"][0]
    assert out["values"] is None and out["shape"] == [BIG], f"expected a summary, got {out}"
    assert out["summary"]["elements"] == BIG, f"expected the element count, got {out['summary']}"
    assert out["summary"]["head"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0], "expected the head"
    assert len(out["summary"]["sha256"]) == 64, "expected a sha256 hex digest"
    assert "characters more" in report["results"][0]["details"][0], "expected clipped details"


@pytest.mark.spec("RPT-15")
def test_a_small_output_is_written_in_full():
    out = to_json(_run(MAX_REPORTED_VALUES))["results"][0]["reference"]["outputs"][0]
    assert len(out["values"]) == MAX_REPORTED_VALUES and "summary" not in out, (
        f"expected every value written, got {sorted(out)}")


@pytest.mark.spec("RPT-15")
def test_a_summary_is_the_same_for_an_array_and_its_list():
    values = [float(k % 7) for k in range(200_000)]
    as_list = summarise_value(ValueObs((len(values),), "float32", values).to_json())
    array = np.asarray(values, dtype=np.float32)
    as_array = summarise_value(ValueObs(array.shape, "float32", array).to_json(arrays=True))
    assert as_array == as_list, f"expected one summary, got {as_array} and {as_list}"
    json.dumps(as_array)  # plain JSON: no numpy scalars left


@pytest.mark.spec("RPT-15")
def test_the_runner_keeps_a_large_output_as_an_array():
    big = refimpl.zeros([observation.LISTED_ELEMENTS + 1])
    small = refimpl.zeros([observation.LISTED_ELEMENTS])
    large_obs, small_obs = refimpl_runner.value_obs([big, small])
    assert isinstance(large_obs.values, np.ndarray), f"got {type(large_obs.values)}"
    assert isinstance(small_obs.values, list), f"got {type(small_obs.values)}"
    assert large_obs.to_json()["values"] == [0.0] * (observation.LISTED_ELEMENTS + 1)
