"""Process-wide state that one run must neither inherit nor leak, for both worlds.

Models: nothing upstream; ``torch.fx.node._side_effectful_functions`` (and refimpl's copy of it)
is a process-wide set that tracing ``with_effects`` adds to for good (ref 11_fx_dce).
Spec: RPT-3 (both sides of a comparison start from the same state).

Simplifications: none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oracle.program import walk_statements

__all__ = ["forget_side_effects", "restore_side_effects"]


def restore_side_effects(current: set, saved: set) -> None:
    """Put ``current`` back to exactly ``saved`` (in place: other modules hold the set)."""
    current.intersection_update(saved)
    current.update(saved)


def forget_side_effects(program: Any, resolve: Callable[[str], Any],
                        get_effect: Callable[[Any], Any], side: set) -> None:
    """Give the program's ops a fresh process's view: no earlier trace marked them.

    [NOTE: side-effect set] A run that traced ``with_effects(op)`` leaves ``op`` in the set even
    after its effect registration is undone, so a later run would keep dead calls of it that a
    fresh process removes. For the duration of a run, the program's ops without an effect are
    taken out of the set; the caller restores it afterwards (``restore_side_effects``).
    """
    for stmt in walk_statements(program.body):
        if stmt.op.startswith("higher_order::"):
            continue
        op = resolve(stmt.op)
        if get_effect(op) is None:
            side.discard(op)
