"""One comparison per observable: values, effect log, graph, error.

Models: nothing upstream; "the same program twice" (micrograd's test style): the torch
observation against the reference observation of the same program and path.
Spec: RPT-1 .. RPT-6, RPT-9 (specs/report.md).

Simplifications:
1. Values compare with dtype-aware tolerances (``TOLERANCES``); ints and bools exactly.
2. An effect-log difference on a ``compile:*`` path is an **effect-order violation** when both
   logs hold the same events in another order, else an **effect-log mismatch**; on the other
   paths any difference is a **reference mismatch** of the log. On ``compile:*`` paths only the
   events of effectful ops are compared ([NOTE: pure ops may vanish]).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from oracle.canonical import compare_graphs
from oracle.observation import COMPILE_PATHS, Observation

__all__ = ["PathResult", "compare_observations", "TOLERANCES"]

TOLERANCES = {"float32": (1.3e-6, 1e-5), "float64": (1e-7, 1e-7)}  # (rtol, atol), torch's
# Faults of the oracle itself (RPT-9): never a verdict about torch or refimpl.
HARNESS_ERRORS = ("WorkerCrash", "Timeout", "WorkerError", "HarnessError")


@dataclass
class PathResult:
    """The verdict for one program on one path."""

    program: str
    path: str
    status: str  # agree | diverge | error | skip | known
    kinds: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    code_equal: bool | None = None
    graph_semantic: bool | None = None
    known: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _values_equal(a: Any, b: Any, dtype: str) -> bool:
    if a is None or b is None:
        return a is b
    if len(a) != len(b):
        return False
    rtol, atol = TOLERANCES.get(dtype, (0.0, 0.0))
    for x, y in zip(a, b):
        if isinstance(x, float) and isinstance(y, float):
            if math.isnan(x) and math.isnan(y):
                continue
            if not abs(x - y) <= atol + rtol * abs(y):
                return False
        elif x != y:
            return False
    return True


def _compare_outputs(t: Observation, r: Observation) -> str | None:
    if t.outputs is None or r.outputs is None:
        return None if t.outputs is r.outputs else "one side has no outputs"
    if len(t.outputs) != len(r.outputs):
        return f"{len(t.outputs)} outputs from torch, {len(r.outputs)} from the reference"
    for i, (a, b) in enumerate(zip(t.outputs, r.outputs)):
        if (a.shape, a.dtype) != (b.shape, b.dtype):
            return f"output {i}: torch {a.dtype}{list(a.shape)}, reference {b.dtype}{list(b.shape)}"
        if not _values_equal(a.values, b.values, a.dtype):
            return f"output {i}: torch {a.values}, reference {b.values}"
    return None


def effectful_qualnames(program: Any) -> set[str]:
    """Ops whose events a compiler must keep, in order: ORDERED custom ops and the prints."""
    names = {"aten::_print", "aten::_linalg_check_errors"}
    names |= {spec.name for spec in program.custom_ops if spec.effect is not None}
    return names


def _compare_logs(program: Any, path: str, t: Observation, r: Observation
                  ) -> tuple[str, str] | None:
    t_log, r_log = list(t.effect_log), list(r.effect_log)
    if path in COMPILE_PATHS:
        # [NOTE: pure ops may vanish] A custom op without an effect is pure to a compiler: it
        # may be removed when its result is unused, so only effectful events are compared.
        keep = effectful_qualnames(program)
        t_log = [e for e in t_log if e[0] in keep]
        r_log = [e for e in r_log if e[0] in keep]
    if t_log == r_log:
        return None
    shown = f"torch {t_log}\n    reference {r_log}"
    if path in COMPILE_PATHS:
        same_events = sorted(map(repr, t_log)) == sorted(map(repr, r_log))
        kind = "effect-order violation" if same_events else "effect-log mismatch"
        return kind, shown
    return "reference mismatch: effect log", shown


def _compare_errors(program: Any, t: Observation, r: Observation) -> tuple[str, str] | None:
    expected = getattr(program, "expect_error", None)
    if t.error is None and r.error is None:
        if expected is not None:
            return "expected error missing", f"both sides ran; expected {expected.type}"
        return None
    if t.error is None or r.error is None:
        side = "torch" if t.error is not None else "reference"
        err = t.error or r.error
        return "error", f"only {side} raised {err.type}: {err.message}"
    if (t.error.type, t.error.message) != (r.error.type, r.error.message):
        return "error", (f"torch {t.error.type}: {t.error.message}\n    "
                         f"reference {r.error.type}: {r.error.message}")
    return None


def compare_observations(program: Any, t: Observation, r: Observation) -> PathResult:
    """Compare the torch observation ``t`` with the reference observation ``r``."""
    result = PathResult(program.name, t.path, "agree")
    if t.skipped or r.skipped:
        result.status = "skip"
        result.details.append(t.skipped or r.skipped or "")
        return result
    harness = [o for o in (t, r) if o.error is not None and o.error.type in HARNESS_ERRORS]
    if harness:  # RPT-9: on either side, even the same on both, it is not agreement
        result.status = "error"
        result.details.extend(f"{o.side} {o.error.type}: {o.error.message}" for o in harness)
        return result
    checks = [_compare_errors(program, t, r)]
    if t.error is None and r.error is None:
        mismatch = _compare_outputs(t, r)
        checks.append(("reference mismatch: values", mismatch) if mismatch else None)
        checks.append(_compare_logs(program, t.path, t, r))
        checks.append(_compare_graph(result, t, r))
    for check in checks:
        if check is not None:
            result.kinds.append(check[0])
            result.details.append(f"{check[0]}:\n    {check[1]}")
    if result.kinds:
        result.status = "diverge"
    return result


def _compare_graph(result: PathResult, t: Observation, r: Observation) -> tuple[str, str] | None:
    if t.code is not None and r.code is not None:
        result.code_equal = t.code.strip() == r.code.strip()
    if t.graph is None or r.graph is None:
        return None
    diff = compare_graphs(t.graph, r.graph)
    result.graph_semantic = diff.semantic
    if diff.exact:
        return None
    kind = "reference mismatch: graph" + ("" if diff.semantic else " (semantic)")
    return kind, diff.detail
