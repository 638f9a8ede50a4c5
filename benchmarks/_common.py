"""Shared helpers of the benchmarks: timing, summaries, machine facts, JSON output.

Measures: nothing by itself; ``bench_dense_eager.py`` and ``bench_aot_export.py`` use it.
Spec: none (benchmarks report figures; they assert nothing about speed).

Choices:
1. Plain ``time.perf_counter`` loops, not pytest-benchmark: each benchmark is a script that
   must compare torch and refimpl on the same program in one process, interleave their runs
   (so that a slow spell of a noisy 2-core machine hits both), run the multi-second torch
   exports only a few times, and write one JSON file with the ratios. pytest-benchmark's
   calibration and per-test JSON fit none of that, and a benchmark run is not a test run.
2. Every figure is a list of samples; we report the median (the typical run) and the min (the
   run least disturbed by other processes). Ratios are taken median/median and min/min.
3. ``freeze_heap()`` runs after the setup (the export benchmark runs it again before each size):
   importing torch leaves ~10^6 objects that every full collection would scan again (0.3 s a
   ``gc.collect()`` on a 2-core machine), for refimpl's runs too, although refimpl alone never
   imports torch. Frozen, they are skipped.
4. The repository root goes on ``sys.path`` so that ``python3 benchmarks/<bench>.py`` works
   without installing the package.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

__all__ = [
    "REPO_ROOT",
    "base_parser",
    "freeze_heap",
    "load_average",
    "machine_info",
    "print_table",
    "print_target",
    "ratio",
    "summarize",
    "target_status",
    "time_once",
    "versions",
    "write_json",
]


# --------------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------------
def time_once(fn: Callable[[], Any], *, disable_gc: bool) -> float:
    """Seconds one call of ``fn`` takes; the collector runs first so no earlier garbage counts.

    ``disable_gc`` keeps the cyclic collector off during the call, as ``timeit`` does; the
    eager benchmark uses it (its per-op figures should not carry a collection that depends on
    what ran before), the export benchmark does not (a user's export pays for collections).
    """
    gc.collect()
    was_enabled = gc.isenabled()
    if disable_gc:
        gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        if was_enabled:
            gc.enable()


def freeze_heap() -> None:
    """Collect once, then move every live object to the permanent generation (``gc.freeze``)."""
    gc.collect()
    gc.freeze()


def summarize(samples: list[float], scale: float = 1.0) -> dict[str, Any]:
    """Median, min and max of ``samples`` (times ``scale``), and how many there were."""
    scaled = [s * scale for s in samples]
    return {
        "median": statistics.median(scaled),
        "min": min(scaled),
        "max": max(scaled),
        "n": len(scaled),
    }


def ratio(num: dict[str, Any], den: dict[str, Any]) -> dict[str, float]:
    """``num / den`` of two summaries, median over median and min over min."""
    return {"median": num["median"] / den["median"], "min": num["min"] / den["min"]}


def target_status(
    rule: str, figure: dict[str, float] | None, ok: Callable[[float], bool]
) -> dict[str, Any]:
    """Whether a ratio ``figure`` (median and min) meets an issue target; reported, never asserted.

    On a busy machine the median and the min can fall on either side of a target, so both are
    judged: ``met``, ``met on min only``, ``met on median only``, ``MISSED``, ``not measured``.
    """
    if figure is None:
        return {"rule": rule, "median": None, "min": None, "status": "not measured"}
    by_median, by_min = ok(figure["median"]), ok(figure["min"])
    if by_median and by_min:
        status = "met"
    elif by_min or by_median:
        status = "met on min only" if by_min else "met on median only"
    else:
        status = "MISSED"
    return {"rule": rule, "median": figure["median"], "min": figure["min"], "status": status}


def print_target(name: str, target: dict[str, Any]) -> None:
    if target["median"] is None:
        print(f"target {name}: {target['rule']}: not measured")
        return
    print(
        f"target {name}: {target['rule']}: median {target['median']:.3g}, "
        f"min {target['min']:.3g} -> {target['status']}"
    )


# --------------------------------------------------------------------------------------------
# what ran where
# --------------------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    """The checked-out commit, read from ``.git`` files (no git command is run)."""
    git = REPO_ROOT / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        ref_file = git / ref
        if ref_file.exists():
            return ref_file.read_text().strip()
        packed = git / "packed-refs"
        for line in packed.read_text().splitlines() if packed.exists() else []:
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    """The machine and interpreter a run used."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "git_commit": _git_commit(),
        "loadavg_at_start": load_average(),
    }


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages: how busy the machine was (other processes count)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def versions(*modules: Any) -> dict[str, str]:
    """``__version__`` of each imported module, by name."""
    return {m.__name__: str(getattr(m, "__version__", "unknown")) for m in modules}


# --------------------------------------------------------------------------------------------
# command line and output
# --------------------------------------------------------------------------------------------
def base_parser(description: str) -> argparse.ArgumentParser:
    """The options every benchmark takes: ``--quick``, ``--json FILE``, ``--repeat R``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: small sizes, few repeats (figures are not meaningful)",
    )
    parser.add_argument(
        "--json",
        metavar="FILE",
        type=Path,
        help="write machine info, versions and all figures to FILE",
    )
    parser.add_argument(
        "--repeat",
        metavar="R",
        type=int,
        default=None,
        help="timed samples per figure (default depends on the benchmark)",
    )
    return parser


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {path}")


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    """A plain aligned text table (right-aligned numbers)."""
    cells = [headers] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for i, row in enumerate(cells):
        print(
            "  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(row, widths)))
        )
        if i == 0:
            print("  ".join("-" * w for w in widths))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)
