"""What the program generator draws, analysed: how often it offers an effect-order hunt.

Measures: for each generator setting, over N programs drawn by Hypothesis (fixed seed, no
database), the body length, the share of programs that call an ORDERED custom op (one, two or
more), the `with_effects` calls of refimpl's functional graph, and `oracle.analysis.analyse`'s
token-only pairs (TRC-15): pairs with pure work between them (`separated_pairs`, the shape of
the known inductor reorder), pairs touching a mutated input, pairs with an input mutation
between them; plus the seconds per program spent drawing and analysing. Settings:
`programs(max_ops=20)` (an unaimed campaign), `programs(**HUNT)` (an aimed one) and
`programs(**HUNT)` under `hypothesis.target` on `separated_pairs` with the target phase on (what
`oracle fuzz --aim` runs, RPT-34).
Spec: RPT-32 (what the generator draws), RPT-34 (aimed campaigns). Nothing is asserted; torch is
not needed (the generator and the analysis are refimpl's).

    python3 benchmarks/bench_generation.py --json benchmarks/results/generation.json
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from _common import base_parser, machine_info, print_table, write_json
from hypothesis import HealthCheck, Phase, given, seed, settings, target

from oracle import strategies as ps
from oracle.analysis import analyse
from oracle.program import load_program

SETTINGS = {
    "programs(max_ops=20)": ({"max_ops": 20}, False),
    "programs(**HUNT)": (ps.HUNT, False),
    "programs(**HUNT) + target": (ps.HUNT, True),
}


def _draw(kwargs: dict, aimed: bool, n: int, rng_seed: int) -> list[dict]:
    """N examples' figures; with `aimed`, each example targets its separated pairs."""
    rows: list[dict] = []
    phases = [Phase.generate, Phase.target] if aimed else [Phase.generate]

    @seed(rng_seed)
    @settings(max_examples=n, database=None, deadline=None, phases=phases,
              suppress_health_check=list(HealthCheck))
    @given(doc=ps.programs(**kwargs))
    def run(doc: dict) -> None:
        start = time.perf_counter()
        program = load_program(doc)
        analysis = analyse(program)
        ordered = {c["name"] + ".default" for c in doc.get("custom_ops", [])
                   if c["effect"] == "ORDERED"}
        rows.append({
            "statements": len(doc["body"]),
            "ordered_custom_calls": sum(s["op"] in ordered for s in doc["body"]),
            "effects": analysis.effects,
            "pairs": len(analysis.pairs),
            "separated": analysis.separated_pairs,
            "mutated": sum(p.touches_mutated_input for p in analysis.pairs),
            "mutation_between": sum(p.mutation_between for p in analysis.pairs),
            "error": analysis.error is not None,
            "analyse_s": time.perf_counter() - start,
        })
        if aimed:
            target(analysis.separated_pairs, label="separated pairs")

    start = time.perf_counter()
    run()
    total = time.perf_counter() - start
    for row in rows:
        row["per_program_s"] = total / len(rows)
    return rows


def _share(rows: list[dict], key: str, at_least: int = 1) -> float:
    return 100.0 * sum(r[key] >= at_least for r in rows) / len(rows)


def _summary(rows: list[dict]) -> dict[str, Any]:
    return {
        "programs": len(rows),
        "mean_statements": statistics.fmean(r["statements"] for r in rows),
        "pct_ordered_custom_1": _share(rows, "ordered_custom_calls"),
        "pct_ordered_custom_2": _share(rows, "ordered_custom_calls", 2),
        "mean_effects": statistics.fmean(r["effects"] for r in rows),
        "pct_separated_pair": _share(rows, "separated"),
        "mean_separated_pairs": statistics.fmean(r["separated"] for r in rows),
        "pct_pair_touching_mutated_input": _share(rows, "mutated"),
        "pct_mutation_between": _share(rows, "mutation_between"),
        "pct_untraceable": _share(rows, "error"),
        "ms_per_program": 1000 * rows[0]["per_program_s"],
        "ms_analyse_per_program": 1000 * statistics.fmean(r["analyse_s"] for r in rows),
    }


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=2000, help="programs per setting")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = 60 if args.quick else args.programs
    info = machine_info()
    results = {}
    for name, (kwargs, aimed) in SETTINGS.items():
        results[name] = _summary(_draw(kwargs, aimed, n, args.seed))
    columns = list(next(iter(results.values())))
    print_table(["setting", *columns[1:]],
                [[name, *(round(v, 2) for k, v in r.items() if k != "programs")]
                 for name, r in results.items()])
    if args.json:
        write_json(args.json, {"machine": info, "programs": n, "seed": args.seed,
                               "results": results})


if __name__ == "__main__":
    main()
