"""The conformance report as one HTML page: a program x path grid and every departure's diff.

Models: nothing upstream. Renders JSON reports (`effects-oracle-report/1`, oracle/report.py
`to_json`) with the jinja2 template `oracle/templates/report.html.j2`, autoescaped, so any user
string (a `_print` message, a program name) shows literally. One report gives one grid; several
(of different torch builds, `python -m oracle report a.json b.json`) give one table with a row
per program and a column group per build, a program marked where the builds' statuses differ
on a path both ran (RPT-24).
Spec: RPT-24.

Simplifications:
1. The page is self-contained (inline style and script, no network); the script only counts the
   cells and filters rows, and the page reads the same without it.
"""

from __future__ import annotations

import hashlib
from importlib import resources

import jinja2

__all__ = ["render_html"]

_ENV = jinja2.Environment(
    loader=jinja2.FunctionLoader(
        lambda name: resources.files("oracle").joinpath("templates", name).read_text("utf-8")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _anchor(build: int, result: dict) -> str:
    key = f"{build}\0{result['program']}\0{result['path']}".encode()
    return "r" + hashlib.sha1(key).hexdigest()[:12]


def _build(index: int, report: dict) -> dict:
    cells, departures = {}, []
    for result in report["results"]:
        entry = {**result, "anchor": _anchor(index, result)}
        entry.setdefault("known", [])
        cells[(result["program"], result["path"])] = entry
        if result["status"] != "agree":
            departures.append(entry)
    return {"torch_version": report.get("torch_version", "?"),
            "profile": report.get("profile", "?"), "paths": list(report["paths"]),
            "summary": report.get("summary", {}), "timing": report.get("timing", {}),
            "cells": cells, "departures": departures}


def render_html(reports: list[dict], title: str | None = None) -> str:
    """One page for one or more JSON reports (the side-by-side table when several)."""
    if not reports:
        raise ValueError("render_html needs at least one report")
    builds = [_build(i, r) for i, r in enumerate(reports)]
    programs: list[str] = []
    for report in reports:
        for result in report["results"]:
            if result["program"] not in programs:
                programs.append(result["program"])
    differing = set()
    for program in programs:
        for path in set.intersection(*(set(b["paths"]) for b in builds)):
            statuses = {b["cells"][(program, path)]["status"] for b in builds
                        if (program, path) in b["cells"]}
            if len(statuses) > 1:
                differing.add(program)
    if title is None:
        versions = " | ".join(f"torch {b['torch_version']}" for b in builds)
        title = f"refimpl conformance: {versions}"
    return _ENV.get_template("report.html.j2").render(title=title, builds=builds,
                                                      programs=programs, differing=differing)
