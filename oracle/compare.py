"""One comparison per observable: values, effect log, graph, error.

Models: nothing upstream; "the same program twice" (micrograd's test style): the torch
observation against the reference observation of the same program and path.
Spec: RPT-1 .. RPT-6, RPT-9 .. RPT-11, RPT-13, RPT-19 (specs/report.md), PRG-25 (specs/program.md).

Simplifications:
1. Values compare with dtype-aware tolerances (``TOLERANCES``); ints and bools exactly; NaN
   only with NaN and an infinity only with itself, as ``torch.testing`` does.
2. An effect-log difference on a ``compile:*`` path is an **effect-order violation** when both
   logs hold the same events in another order, else an **effect-log mismatch**; on the other
   paths any difference is a **reference mismatch** of the log. On ``compile:*`` paths only the
   events of effectful ops are compared ([NOTE: pure ops may vanish]), effectful after the
   program's ``register_effects`` (RPT-11). Event arguments compare by value (RPT-10).
3. Errors compare by type and message less the torch runner's ``(raised through ...)`` line
   (RPT-9); ``expect_error``'s type and match are checked on each side that raised (PRG-25).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oracle import behaviors
from oracle.canonical import compare_graphs
from oracle.observation import COMPILE_PATHS, Observation
from oracle.program import walk_statements
from oracle.training import BACKWARD_EVENT

__all__ = ["PathResult", "compare_observations", "TOLERANCES"]

TOLERANCES = {"float32": (1.3e-6, 1e-5), "float64": (1e-7, 1e-7)}  # (rtol, atol), torch's
# Faults of the oracle itself (RPT-13): never a verdict about torch or refimpl.
HARNESS_ERRORS = ("WorkerCrash", "Timeout", "WorkerError", "HarnessError")
# The kind of an `expect_error` that neither side raised; alone, the status `unmet` (RPT-19).
MISSING_ERROR = "expected error missing"


@dataclass
class PathResult:
    """The verdict for one program on one path."""

    program: str
    path: str
    status: str  # agree | diverge | error | skip | known | unmet | invalid (check.STATUSES)
    kinds: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    code_equal: bool | None = None
    graph_semantic: bool | None = None
    known: list[dict] = field(default_factory=list)
    features: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _values_equal(a: Any, b: Any, dtype: str) -> bool:
    if a is None or b is None:
        return a is b
    if len(a) != len(b):
        return False
    rtol, atol = TOLERANCES.get(dtype, (0.0, 0.0))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return not _array_mismatches(np.asarray(a), np.asarray(b), rtol, atol).any()
    for x, y in zip(a, b):
        if isinstance(x, float) and isinstance(y, float):
            if not _floats_close(x, y, rtol, atol):
                return False
        elif x != y:
            return False
    return True


def _floats_close(x: float, y: float, rtol: float, atol: float) -> bool:
    """torch.testing's rule: NaN only with NaN, an infinity only with itself (RPT-3)."""
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= atol + rtol * abs(y)


def _array_mismatches(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """Where two flat arrays differ: `_floats_close`'s rule for floats, else exact."""
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        a, b = a.astype(np.float64), b.astype(np.float64)
        return ~np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
    return a != b


def _values_text(a: Any, b: Any, dtype: str) -> str:
    """`torch [...], reference [...]`; for large outputs (numpy arrays) the first differences
    and their count, so that a detail never holds millions of values (RPT-15)."""
    if not (isinstance(a, np.ndarray) or isinstance(b, np.ndarray)):
        return f"torch {a}, reference {b}"
    a, b = np.asarray(a), np.asarray(b)
    rtol, atol = TOLERANCES.get(dtype, (0.0, 0.0))
    where = np.flatnonzero(_array_mismatches(a, b, rtol, atol))
    shown = ", ".join(f"[{i}] torch {a[i].item()!r} reference {b[i].item()!r}" for i in where[:8])
    return f"{len(where)} of {a.size} elements differ: {shown}"


def _compare_outputs(t: Observation, r: Observation, what: str = "outputs") -> str | None:
    """The values of ``what`` (``outputs``, or ``grads``, PRG-52) on both sides."""
    mine, theirs = getattr(t, what), getattr(r, what)
    one = what[:-1]
    if mine is None or theirs is None:
        return None if mine is theirs else f"one side has no {what}"
    if len(mine) != len(theirs):
        return f"{len(mine)} {what} from torch, {len(theirs)} from the reference"
    for i, (a, b) in enumerate(zip(mine, theirs)):
        if (a.shape, a.dtype) != (b.shape, b.dtype):
            return f"{one} {i}: torch {a.dtype}{list(a.shape)}, reference {b.dtype}{list(b.shape)}"
        if not _values_equal(a.values, b.values, a.dtype):
            return f"{one} {i}: {_values_text(a.values, b.values, a.dtype)}"
    return None


def effectful_qualnames(program: Any) -> set[str]:
    """Ops whose events a compiler must keep, in order: effectful after registrations (RPT-11).

    Before the program registers anything, the ops the active profile registers at import
    (`behaviors.import_effects`, the profile's `import_registrations`) are effectful.
    """
    effects: dict[str, Any] = behaviors.import_effects()
    effects.update({spec.name: spec.effect for spec in program.custom_ops})
    for overload, effect in program.register_effects.items():
        effects[behaviors.registry_qualname(overload)] = effect
    return {name for name, effect in effects.items() if effect is not None}


def program_features(program: Any) -> list[str]:
    """What a known-finding signature may require of a program (RPT-6): `with_effects` (a
    direct `with_effects` statement), `ordered_custom_op`, `ordered_aten_op` (an aten op the
    program makes effectful beyond the profile's import registrations), `print`, `cond`,
    `while_loop`, `effect_in_subgraph` (an effectful statement inside a cond or loop block)."""
    effectful = effectful_qualnames(program)
    custom = {spec.name for spec in program.custom_ops}
    at_import = set(behaviors.import_effects())
    stmts = list(walk_statements(program.body))
    body = [stmt.op for stmt in stmts]
    found = {
        "with_effects": any(stmt.kind == "with_effects" for stmt in stmts),
        "ordered_custom_op": bool(effectful & custom),
        "ordered_aten_op": any(q.startswith("aten::") and q not in at_import for q in effectful),
        "print": any(op.startswith("aten::_print") for op in body),
        "cond": any(stmt.kind == "cond" for stmt in stmts),
        "while_loop": any(stmt.kind == "while_loop" for stmt in stmts),
        # An effectful op inside a cond or while_loop block (CF-6).
        "effect_in_subgraph": any(
            behaviors.registry_qualname(s.op) in effectful or s.kind == "with_effects"
            for stmt in stmts for block in stmt.blocks for s in walk_statements(block.body)),
    }
    return sorted(name for name, present in found.items() if present)


def _event_key(value: Any) -> Any:
    """An event argument as torch compares it (RPT-10): numbers by value, bools apart."""
    if isinstance(value, (list, tuple)):
        return tuple(_event_key(v) for v in value)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", "nan") if value != value else ("number", float(value))
    return (type(value).__name__, value)


def _compare_logs(program: Any, path: str, t: Observation, r: Observation
                  ) -> tuple[str, str] | None:
    t_log, r_log = list(t.effect_log), list(r.effect_log)
    if path in COMPILE_PATHS:
        # [NOTE: pure ops may vanish] A custom op without an effect is pure to a compiler: it
        # may be removed when its result is unused, so only effectful events are compared.
        keep = effectful_qualnames(program) | {BACKWARD_EVENT[0]}  # PRG-52: the mark stays
        t_log = [e for e in t_log if e[0] in keep]
        r_log = [e for e in r_log if e[0] in keep]
    t_keys, r_keys = [_event_key(e) for e in t_log], [_event_key(e) for e in r_log]
    if t_keys == r_keys:
        return None
    shown = f"torch {t_log}\n    reference {r_log}"
    if path in COMPILE_PATHS:
        same_events = sorted(map(repr, t_keys)) == sorted(map(repr, r_keys))
        kind = "effect-order violation" if same_events else "effect-log mismatch"
        if not same_events and _extra_backward_events(t_keys, r_keys):
            kind = EXTRA_BACKWARD_EVENTS
        return kind, shown
    return "reference mismatch: effect log", shown


# PRG-52: torch's log is the reference's with more events after the backward mark (a compiled
# backward that runs formulas eager's engine never reaches).
EXTRA_BACKWARD_EVENTS = "effect-log mismatch: extra backward events"


def _extra_backward_events(t_keys: list, r_keys: list) -> bool:
    """The two forward parts are equal, and the reference's backward events are torch's with
    some left out (a subsequence)."""
    mark = _event_key(BACKWARD_EVENT[0])
    t_mark = next((i for i, k in enumerate(t_keys) if k[0] == mark), None)
    r_mark = next((i for i, k in enumerate(r_keys) if k[0] == mark), None)
    if t_mark is None or r_mark is None or t_keys[:t_mark] != r_keys[:r_mark]:
        return False
    rest = iter(t_keys[t_mark:])
    return all(any(k == other for other in rest) for k in r_keys[r_mark:])


_WRAPPER_LINE = re.compile(r"\n\(raised through [^\n]*\)\Z")


# The saved-tensor version error's hint under anomaly mode, and without it (AG-11).
_ANOMALY_HINT = ("Hint: the backtrace further above shows the operation that failed to compute "
                 "its gradient. The variable in question was changed in there or anywhere "
                 "later. Good luck!")
_EAGER_HINT = ("Hint: enable anomaly detection to find the operation that failed to compute "
               "its gradient, with torch.autograd.set_detect_anomaly(True, check_nan=False).")


def _unwrapped(message: str, path: str = "") -> str:
    """The message without the torch runner's `(raised through ...)` line (RPT-9); on a
    `compile:*` path, whose expectation is eager's run, a version error raised while
    AOTAutograd traced the joint under anomaly mode reads with eager's hint (RPT-9)."""
    message = _WRAPPER_LINE.sub("", message)
    if path.startswith("compile:"):
        message = message.replace(_ANOMALY_HINT, _EAGER_HINT)
    return message


def _expected_error_faults(expected: Any, t: Observation, r: Observation) -> list[str]:
    """PRG-25: each side that raised must raise `expected.type` with `expected.match` in it."""
    faults = []
    for side, err in (("torch", t.error), ("reference", r.error)):
        if err is None:
            continue
        if err.type not in (expected.type, expected.type.rsplit(".", 1)[-1]):
            faults.append(f"{side} raised {err.type}, expected {expected.type}: {err.message}")
        elif expected.match and not re.search(expected.match, err.message):
            faults.append(f"{side}'s {err.type} does not match {expected.match!r}: "
                          f"{err.message}")
    return faults


def _compare_errors(program: Any, t: Observation, r: Observation) -> tuple[str, str] | None:
    expected = getattr(program, "expect_error", None)
    if t.error is None and r.error is None:
        if expected is not None:
            return MISSING_ERROR, f"both sides ran; expected {expected.type}"
        return None
    if t.error is None or r.error is None:
        side = "torch" if t.error is not None else "reference"
        err = t.error or r.error
        return "error", f"only {side} raised {err.type}: {err.message}"
    faults = _expected_error_faults(expected, t, r) if expected is not None else []
    if faults:
        return "error: not the expected error", "\n    ".join(faults)
    t_message = _unwrapped(t.error.message, t.path)
    if (t.error.type, t_message) != (r.error.type, _unwrapped(r.error.message)):
        return "error", (f"torch {t.error.type}: {t.error.message}\n    "
                         f"reference {r.error.type}: {r.error.message}")
    return None


def compare_observations(program: Any, t: Observation, r: Observation) -> PathResult:
    """Compare the torch observation ``t`` with the reference observation ``r``."""
    result = PathResult(program.name, t.path, "agree", features=program_features(program))
    if t.skipped or r.skipped:
        result.status = "skip"
        result.details.append(t.skipped or r.skipped or "")
        return result
    harness = [o for o in (t, r) if o.error is not None and o.error.type in HARNESS_ERRORS]
    if harness:  # RPT-13: on either side, even the same on both, it is not agreement
        result.status = "error"
        result.details.extend(f"{o.side} {o.error.type}: {o.error.message}" for o in harness)
        return result
    checks = [_compare_errors(program, t, r)]
    if t.error is None and r.error is None:
        mismatch = _compare_outputs(t, r)
        checks.append(("reference mismatch: values", mismatch) if mismatch else None)
        mismatch = _compare_outputs(t, r, "grads")
        checks.append(("reference mismatch: grads", mismatch) if mismatch else None)
        checks.append(_compare_logs(program, t.path, t, r))
        checks.append(_compare_graph(result, t, r))
    for check in checks:
        if check is not None:
            result.kinds.append(check[0])
            result.details.append(f"{check[0]}:\n    {check[1]}")
    if result.kinds == [MISSING_ERROR]:  # both sides agree, on not raising (RPT-19)
        result.status = "unmet"
    elif result.kinds:
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
