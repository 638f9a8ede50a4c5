"""oracle/report.py: a report never fails on a large value, reads at 80 columns and prints user
strings literally (no torch needed).

Spec: RPT-5, RPT-15, RPT-19, RPT-21, RPT-22, RPT-23.
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from rich.console import Console

import refimpl
from oracle import observation, refimpl_runner
from oracle.check import STATUSES, CheckRun
from oracle.compare import PathResult
from oracle.observation import ErrorObs, Observation, ValueObs
from oracle.program import catalog_paths
from oracle.report import (
    MAX_REPORTED_VALUES,
    print_table,
    show_sides,
    summarise_value,
    to_json,
    to_junit,
)

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


# -- RPT-19, RPT-21 .. RPT-23: statuses, the table at 80 columns, user strings -----------------

def _console(width: int) -> Console:
    return Console(file=io.StringIO(), width=width, record=True, force_terminal=True,
                   color_system="truecolor")


def _mixed_run(names: list[str]) -> CheckRun:
    """Every name on every path, the statuses cycling through all of them."""
    run = CheckRun("2.13.0", "torch-2.13", list(observation.PATHS))
    for i, name in enumerate(names):
        for j, path in enumerate(observation.PATHS):
            status = STATUSES[(i + j) % len(STATUSES)] if i % 3 == 0 else "agree"
            run.results.append(PathResult(name, path, status))
    return run


def _plain(console: Console) -> str:
    return console.export_text(styles=False)


@pytest.mark.spec("RPT-21")
def test_the_table_at_80_columns_names_every_program_and_path_in_full():
    names = [p.stem.split("_", 1)[1] for p in catalog_paths()]
    console = _console(80)
    print_table(_mixed_run(names), console, show_diffs=False)
    text = _plain(console)
    assert "…" not in text, f"expected no name cut to an ellipsis at 80 columns, got:\n{text}"
    assert max(map(len, text.splitlines())) <= 80, "expected lines of at most 80 columns"
    words = set(re.findall(r"[\w:.-]+", text))
    missing = [n for n in names if n not in words]
    assert not missing, f"expected every program name in full, missing {missing}:\n{text}"
    missing = [p for p in observation.PATHS if p not in words]
    assert not missing, f"expected every path name in full, missing {missing}:\n{text}"
    assert "agree: every path (7)" in text, f"expected a program agreeing everywhere:\n{text}"


@pytest.mark.spec("RPT-21")
def test_a_wide_console_gets_the_program_by_path_grid():
    console = _console(200)
    print_table(_mixed_run(["print_one", "register_cos"]), console, show_diffs=False)
    header = next(line for line in _plain(console).splitlines() if "program" in line)
    cells = [c.strip() for c in re.split(r"[┃│|]", header) if c.strip()]
    assert cells == ["program", *observation.PATHS], f"expected the grid's header, got {cells}"


HOSTILE = "a\n[/bold]b [red]c[/red] :smile: [link=x]d[/link]"


def _hostile_run() -> CheckRun:
    """User strings with markup and emoji codes in every place the table report prints."""
    run = CheckRun("2.13.0", "torch-2.13", ["eager"])
    name = "[bold]p[/bold]"  # a program name, as a file name of an invalid program can be
    run.results.append(PathResult(name, "eager", "diverge", kinds=["error"],
                                  details=[f"error:\n    only torch raised: {HOSTILE}"]))
    t = Observation("eager", "torch", error=ErrorObs("RuntimeError", HOSTILE),
                    code=f"def forward(self):\n    _print = aten._print({HOSTILE!r})")
    r = Observation("eager", "refimpl", effect_log=[("aten::_print", (HOSTILE,), ())])
    run.observations[(name, "eager")] = (t, r)
    run.results.append(PathResult("[red]bad.json", "eager", "invalid", kinds=["invalid program"],
                                  details=[f"$.body[0].args[0]: {HOSTILE}"]))
    return run


@pytest.mark.spec("RPT-22")
@pytest.mark.parametrize("width", [80, 200])
def test_user_strings_are_printed_literally(width):
    console = _console(width)
    print_table(_hostile_run(), console)  # a MarkupError here is the bug
    text = _plain(console)
    for literal in ("[bold]p[/bold]", "[red]bad.json", "[/bold]b", "[red]c[/red]", ":smile:",
                    "[link=x]d[/link]"):
        assert literal in text, f"expected {literal!r} printed as itself, got:\n{text}"
    assert "😄" not in text, "expected no emoji for ':smile:'"
    styled = _console(width)
    styled.print("[red]c[/red] :smile:")  # for contrast: what rich makes of markup in a str
    assert _plain(styled).strip() == "c 😄", f"expected rich to interpret it, got {_plain(styled)}"


@pytest.mark.spec("RPT-22")
def test_show_sides_prints_graphs_logs_and_errors_literally():
    console = _console(100)
    t, r = _hostile_run().observations[("[bold]p[/bold]", "eager")]
    show_sides(t, r, console)
    text = _plain(console)
    assert text.count(":smile:") >= 3, f"expected the code, log and error literally:\n{text}"
    assert "[/bold]b" in text and "😄" not in text, f"got:\n{text}"


@pytest.mark.spec("RPT-19", "RPT-23")
def test_new_statuses_are_counted_and_written_in_json_and_junit():
    run = _hostile_run()
    run.results.append(PathResult("expects", "eager", "unmet", kinds=["expected error missing"],
                                  details=["expected error missing:\n    both sides ran"]))
    run.observations[("expects", "eager")] = (Observation("eager", "torch"),
                                              Observation("eager", "refimpl"))
    report = to_json(run)
    assert list(report["summary"]) == list(STATUSES), f"got {list(report['summary'])}"
    assert report["summary"]["unmet"] == 1 and report["summary"]["invalid"] == 1, (
        f"expected one unmet and one invalid, got {report['summary']}")
    invalid = next(r for r in report["results"] if r["status"] == "invalid")
    assert invalid["torch"] is None and invalid["reference"] is None, f"got {invalid}"
    json.dumps(report)
    cases = {c.get("name"): c for c in ET.fromstring(to_junit(run)).iter("testcase")}
    assert cases["expects"].find("failure") is not None, "expected unmet as a JUnit failure"
    error = cases["[red]bad.json"].find("error")
    assert error is not None and error.get("message") == "invalid program", (
        "expected invalid as a JUnit error")
    assert "$.body[0].args[0]" in error.text, f"expected the loader's message, got {error.text}"
