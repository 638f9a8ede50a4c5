"""Reports of a check run: a rich table with diffs, JSON (specs/report.md), JUnit XML.

Models: nothing upstream.
Spec: RPT-4, RPT-5, RPT-6, RPT-15 (large values are summarised), RPT-21 (the table at any
width), RPT-22 (user strings printed literally), RPT-23 (the new statuses in the reports).

Simplifications:
1. JUnit XML has one testsuite per path and one testcase per program; ``diverge``, ``error`` and
   ``unmet`` become failures, ``invalid`` an error, ``skip`` a skipped case, ``known`` a passed
   case with a system-out note.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
from rich.columns import Columns
from rich.console import Console
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from oracle.check import FAILING, STATUSES, CheckRun

__all__ = ["MAX_REPORTED_VALUES", "REPORT_FORMAT", "print_table", "results_table",
           "summarise_observation", "to_json", "to_junit"]

# [NOTE: large values] A report holds at most this many values of one output, and details of at
# most MAX_DETAIL_CHARS characters; a larger output is written as a summary (RPT-15), so that a
# program that broadcasts to [4096, 4096] costs the report kilobytes, not gigabytes.
MAX_REPORTED_VALUES = 1024
MAX_DETAIL_CHARS = 4000
_HEAD = 8

REPORT_FORMAT = "effects-oracle-report/1"
_STYLE = {"agree": "green", "diverge": "bold red", "error": "bold magenta", "skip": "dim",
          "known": "yellow", "unmet": "bold yellow", "invalid": "bold cyan"}
assert set(_STYLE) == set(STATUSES), "every status has a style"


def to_json(run: CheckRun) -> dict:
    """The JSON report (schema: specs/report.md)."""
    return {
        "format": REPORT_FORMAT,
        "torch_version": run.torch_version,
        "profile": run.profile,
        "paths": run.paths,
        "summary": summary(run),
        "timing": {"wall_seconds": run.wall_seconds, "torch_seconds": run.torch_seconds,
                   "refimpl_seconds": run.refimpl_seconds},
        "results": [_result_json(run, r) for r in run.results],
        "stale_known_findings": run.stale_known,
    }


def _result_json(run: CheckRun, result: Any) -> dict:
    """One result; an `invalid` program has no observations, written `null` (RPT-23)."""
    sides = run.observations.get((result.program, result.path))
    t_json, r_json = (None, None) if sides is None else (
        summarise_observation(obs.to_json(arrays=True)) for obs in sides)
    return {**result.to_json(), "details": clip_details(result.details),
            "torch": t_json, "reference": r_json}


def _listed(values: Any) -> list:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _digest(values: Any) -> str:
    """sha256 of the values' list text, taken in chunks (a list or a numpy array alike)."""
    digest = hashlib.sha256()
    for start in range(0, len(values), 1 << 16):
        digest.update(repr(_listed(values[start:start + (1 << 16)])).encode())
    return digest.hexdigest()


def summarise_value(value: dict) -> dict:
    """An output's JSON, with `values` replaced by a summary beyond MAX_REPORTED_VALUES.

    `values` may be a numpy array (`Observation.to_json(arrays=True)`); what is returned is
    plain JSON either way."""
    values = value.get("values")
    if values is None or len(values) <= MAX_REPORTED_VALUES:
        return value if values is None else {**value, "values": _listed(values)}
    summary = {"elements": len(values), "head": _listed(values[:_HEAD]),
               "sha256": _digest(values)}
    return {**value, "values": None, "summary": summary}


def summarise_observation(obs: dict) -> dict:
    """An observation's JSON with large outputs summarised ([NOTE: large values])."""
    if obs.get("outputs") is None:
        return obs
    return {**obs, "outputs": [summarise_value(v) for v in obs["outputs"]]}


def clip_details(details: list[str]) -> list[str]:
    """Each detail cut to MAX_DETAIL_CHARS characters, saying how much was left out."""
    return [d if len(d) <= MAX_DETAIL_CHARS
            else f"{d[:MAX_DETAIL_CHARS]}... ({len(d) - MAX_DETAIL_CHARS} characters more)"
            for d in details]


def summary(run: CheckRun) -> dict[str, int]:
    counts = {status: 0 for status in STATUSES}
    for result in run.results:
        counts[result.status] += 1
    return counts


def to_junit(run: CheckRun) -> str:
    suites = ET.Element("testsuites", name="effects-oracle")
    for path in run.paths:
        results = [r for r in run.results if r.path == path]
        suite = ET.SubElement(suites, "testsuite", name=path, tests=str(len(results)))
        for result in results:
            case = ET.SubElement(suite, "testcase", classname=path, name=result.program)
            if result.status in FAILING:
                failure = ET.SubElement(case, "failure", message=", ".join(result.kinds)
                                        or result.status)
                failure.text = "\n".join(clip_details(result.details))
            elif result.status == "invalid":
                error = ET.SubElement(case, "error", message="invalid program")
                error.text = "\n".join(clip_details(result.details))
            elif result.status == "skip":
                ET.SubElement(case, "skipped", message="; ".join(result.details))
            elif result.status == "known":
                ET.SubElement(case, "system-out").text = "known: " + "; ".join(
                    e.get("reason", "") for e in result.known)
    return ET.tostring(suites, encoding="unicode")


def _styled(status: str) -> Text:
    return Text(status, style=_STYLE[status])


def _grid(run: CheckRun, rows: dict[str, dict[str, Any]]) -> Table:
    """The program x path grid, every name in full."""
    table = Table(title=Text(f"torch {run.torch_version} vs refimpl (profile {run.profile})"))
    table.add_column("program", no_wrap=True)
    for path in run.paths:
        table.add_column(Text(path), justify="center", no_wrap=True)
    for program, row in rows.items():
        cells = [_styled(row[p].status) if p in row else Text("") for p in run.paths]
        table.add_row(Text(program), *cells)
    return table


def _by_program(run: CheckRun, rows: dict[str, dict[str, Any]]) -> Table:
    """One row per program, its paths listed under each status: for a console narrower than
    the grid, so that no program or path name is cut (RPT-21)."""
    table = Table(title=Text(f"torch {run.torch_version} vs refimpl (profile {run.profile})"))
    table.add_column("program", no_wrap=True, overflow="fold")
    table.add_column("status: paths", min_width=24)
    for program, row in rows.items():
        by_status: dict[str, list[str]] = {}
        for path in run.paths:
            if path in row:
                by_status.setdefault(row[path].status, []).append(path)
        cell = Text()
        for status, paths in by_status.items():
            if cell:
                cell.append("; ")
            cell.append(status, style=_STYLE[status])
            every = len(paths) == len(run.paths) and len(paths) > 1
            cell.append(f": every path ({len(paths)})" if every else ": " + ", ".join(paths))
        table.add_row(Text(program), cell)
    return table


def results_table(run: CheckRun, console: Console) -> Table:
    """The grid when it fits the console's width, else the table by program (RPT-21)."""
    rows: dict[str, dict[str, Any]] = {}
    for result in run.results:
        rows.setdefault(result.program, {})[result.path] = result
    grid = _grid(run, rows)
    unbounded = console.options.update(max_width=1 << 16)  # the grid's width when not squeezed
    if Measurement.get(console, unbounded, grid).maximum <= console.width:
        return grid
    return _by_program(run, rows)


def print_table(run: CheckRun, console: Console, *, show_diffs: bool = True) -> None:
    """The results table, the counts and timings, then one panel per result to look at.

    Every string from a program or a side (names, details, graphs, logs, messages) is printed
    as rich `Text`, never parsed as markup (RPT-22)."""
    console.print(results_table(run, console))
    counts = summary(run)
    console.print(Text(", ".join(f"{n} {status}" for status, n in counts.items())))
    share = run.refimpl_seconds / max(run.wall_seconds, 1e-9)
    console.print(Text(f"wall {run.wall_seconds:.1f} s: torch side {run.torch_seconds:.1f} s, "
                       f"refimpl side {run.refimpl_seconds:.2f} s ({share:.1%} of the wall time)"))
    for entry in run.stale_known:
        console.print(Text(f"known finding {entry.get('id')} matched nothing: is it fixed?",
                           style="yellow"))
    if not show_diffs:
        return
    shown_invalid: set[str] = set()
    for result in run.results:
        if result.status == "invalid" and result.program not in shown_invalid:
            shown_invalid.add(result.program)
            console.print(Panel(Text("\n".join(clip_details(result.details))),
                                title=Text(f"{result.program}: invalid program"),
                                border_style=_STYLE["invalid"]))
        elif result.status in FAILING:
            print_divergence(run, result, console)


def print_divergence(run: CheckRun, result: Any, console: Console) -> None:
    t_obs, r_obs = run.observations[(result.program, result.path)]
    console.print(Panel(Text("\n".join(clip_details(result.details))),
                        title=Text(f"{result.program} [{result.path}]: {result.status}"),
                        border_style=_STYLE[result.status]))
    show_sides(t_obs, r_obs, console)


def show_sides(t_obs: Any, r_obs: Any, console: Console) -> None:
    """Both graphs side by side, then both effect logs."""
    panels = [Panel(Text(obs.code or (str(obs.graph) if obs.graph else "(no graph)")),
                    title=Text(f"{obs.side} graph")) for obs in (t_obs, r_obs)]
    console.print(Columns(panels, equal=True, expand=True))
    logs = [Panel(Text("\n".join(map(repr, obs.effect_log)) or "(empty)"),
                  title=Text(f"{obs.side} log")) for obs in (t_obs, r_obs)]
    console.print(Columns(logs, equal=True, expand=True))
    for obs in (t_obs, r_obs):
        if obs.error is not None:
            console.print(Text(f"{obs.side} raised {obs.error.type}: {obs.error.message}"))
