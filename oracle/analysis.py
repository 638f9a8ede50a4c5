"""What a program offers an effect-order hunt: refimpl's functional graph of it, analysed.

Models: nothing upstream. `analyse(program)` traces the program with `refimpl.export.aot_export`
(as the `functional` path does) and reports, with `refimpl.passes.effect_order`, the pairs of
effectful calls whose order only the token chain carries. The fuzzer's strategies maximise that
count with Hypothesis `target()` (oracle/strategies.py); `benchmarks/bench_generation.py` reports
its distribution over generated programs.
Spec: TRC-15.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from oracle.program_source import write_program
from oracle.refimpl_runner import _Sink, make_inputs, registrations, resolve
from refimpl import cond, while_loop
from refimpl.effects import new_token_tensor, with_effects
from refimpl.export import Module, aot_export
from refimpl.passes.effect_order import TokenOnlyPair, token_only_pairs

__all__ = ["ProgramAnalysis", "analyse"]


@dataclass(frozen=True)
class ProgramAnalysis:
    """`effects`: the `with_effects` calls of the functional graph; `pairs`: those pairs only the
    token chain orders; `error`: why the program could not be traced (then both are empty)."""

    effects: int = 0
    pairs: tuple[TokenOnlyPair, ...] = ()
    error: str | None = None
    ops: tuple[str, ...] = field(default=())

    @property
    def separated_pairs(self) -> int:
        """Token-only pairs with pure work between them: the shape of the inductor reorder."""
        return sum(p.pure_between > 0 for p in self.pairs)


def analyse(program: Any) -> ProgramAnalysis:
    """The functional graph's effect structure; never raises for the program's own errors."""
    try:
        with contextlib.redirect_stdout(_Sink()), registrations(program):
            src = write_program(program, resolve, with_effects=with_effects,
                                new_token=new_token_tensor, cond=cond,
                                while_loop=while_loop)
            module = Module()
            module.forward = src.fn
            gm, sig = aot_export(module, tuple(make_inputs(program)))
    except Exception as exc:  # noqa: BLE001 - an untraceable program offers nothing to aim at
        return ProgramAnalysis(error=f"{type(exc).__name__}: {exc}")
    effects = [n for n in gm.graph.nodes if n.op == "call_function" and n.target is with_effects]
    pairs = token_only_pairs(gm, sig.input_tokens, set(sig.user_inputs_to_mutate.values()),
                             set(sig.user_inputs_to_mutate))
    return ProgramAnalysis(len(effects), tuple(pairs),
                           ops=tuple(str(n.args[1]) for n in effects))
