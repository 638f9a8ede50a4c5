"""Reports of a check run: a rich table with diffs, JSON (specs/report.md), JUnit XML.

Models: nothing upstream.
Spec: RPT-4, RPT-5, RPT-6, RPT-15 (large values are summarised).

Simplifications:
1. JUnit XML has one testsuite per path and one testcase per program; ``diverge`` and ``error``
   become failures, ``skip`` a skipped case, ``known`` a passed case with a system-out note.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
from rich.columns import Columns
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from oracle.check import CheckRun

__all__ = ["MAX_REPORTED_VALUES", "REPORT_FORMAT", "print_table", "summarise_observation",
           "to_json", "to_junit"]

# [NOTE: large values] A report holds at most this many values of one output, and details of at
# most MAX_DETAIL_CHARS characters; a larger output is written as a summary (RPT-15), so that a
# program that broadcasts to [4096, 4096] costs the report kilobytes, not gigabytes.
MAX_REPORTED_VALUES = 1024
MAX_DETAIL_CHARS = 4000
_HEAD = 8

REPORT_FORMAT = "effects-oracle-report/1"
_STYLE = {"agree": "green", "diverge": "bold red", "error": "bold magenta", "skip": "dim",
          "known": "yellow"}


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
    t_obs, r_obs = run.observations[(result.program, result.path)]
    return {**result.to_json(), "details": clip_details(result.details),
            "torch": summarise_observation(t_obs.to_json(arrays=True)),
            "reference": summarise_observation(r_obs.to_json(arrays=True))}


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
    counts = {status: 0 for status in _STYLE}
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
            if result.status in ("diverge", "error"):
                failure = ET.SubElement(case, "failure", message=", ".join(result.kinds)
                                        or result.status)
                failure.text = "\n".join(clip_details(result.details))
            elif result.status == "skip":
                ET.SubElement(case, "skipped", message="; ".join(result.details))
            elif result.status == "known":
                ET.SubElement(case, "system-out").text = "known: " + "; ".join(
                    e.get("reason", "") for e in result.known)
    return ET.tostring(suites, encoding="unicode")


def print_table(run: CheckRun, console: Console, *, show_diffs: bool = True) -> None:
    """Program x path table, then one panel per divergence with both graphs and logs."""
    table = Table(title=f"torch {run.torch_version} vs refimpl (profile {run.profile})")
    table.add_column("program")
    for path in run.paths:
        table.add_column(path, justify="center")
    by_program: dict[str, dict[str, Any]] = {}
    for result in run.results:
        by_program.setdefault(result.program, {})[result.path] = result
    for program, row in by_program.items():
        cells = [f"[{_STYLE[row[p].status]}]{row[p].status}" if p in row else "" for p in run.paths]
        table.add_row(program, *cells)
    console.print(table)
    counts = summary(run)
    console.print(", ".join(f"{n} {status}" for status, n in counts.items()))
    share = run.refimpl_seconds / max(run.wall_seconds, 1e-9)
    console.print(f"wall {run.wall_seconds:.1f} s: torch side {run.torch_seconds:.1f} s, "
                  f"refimpl side {run.refimpl_seconds:.2f} s ({share:.1%} of the wall time)")
    for entry in run.stale_known:
        console.print(f"[yellow]known finding {entry.get('id')} matched nothing: is it fixed?")
    if show_diffs:
        for result in run.results:
            if result.status in ("diverge", "error"):
                print_divergence(run, result, console)


def print_divergence(run: CheckRun, result: Any, console: Console) -> None:
    t_obs, r_obs = run.observations[(result.program, result.path)]
    console.print(Panel("\n".join(clip_details(result.details)),
                        title=f"{result.program} [{result.path}]",
                        border_style=_STYLE[result.status]))
    show_sides(t_obs, r_obs, console)


def show_sides(t_obs: Any, r_obs: Any, console: Console) -> None:
    """Both graphs side by side, then both effect logs."""
    panels = [Panel(obs.code or (str(obs.graph) if obs.graph else "(no graph)"),
                    title=f"{obs.side} graph") for obs in (t_obs, r_obs)]
    console.print(Columns(panels, equal=True, expand=True))
    logs = [Panel("\n".join(map(repr, obs.effect_log)) or "(empty)", title=f"{obs.side} log")
            for obs in (t_obs, r_obs)]
    console.print(Columns(logs, equal=True, expand=True))
    for obs in (t_obs, r_obs):
        if obs.error is not None:
            console.print(f"{obs.side} raised {obs.error.type}: {obs.error.message}")
