"""Property and differential throughput: programs per second, refimpl alone and against torch.

Measures (issue: fuzzing effect orderings):
1. refimpl-only throughput on one core for generated 20-op programs through all four modes
   (eager, fake, make_fx, functional): programs/s. Target: >= 200 programs/s.
2. differential throughput per path (torch and refimpl on the same programs, in one run): cases/s
   and the refimpl share of the time.
Spec: none (figures only; no assertion about speed).

The programs are drawn once from ``oracle.strategies.programs(min_ops=20, max_ops=20)`` with a
fixed seed, so every run measures the same programs.
"""

from __future__ import annotations

import time

from _common import base_parser, freeze_heap, machine_info, print_table, summarize, write_json
from hypothesis import HealthCheck, Phase, given, seed, settings

REFIMPL_PATHS = ["eager", "fake", "make_fx", "functional"]
DIFF_PATHS = ["eager", "fake", "make_fx", "functional", "export", "compile:aot_eager"]


def draw_programs(n: int, n_ops: int) -> list:
    import oracle.strategies as ps  # noqa: PLC0415 - after _common put the repo on sys.path
    from oracle.program import load_program  # noqa: PLC0415

    docs: list[dict] = []

    @seed(20261126)
    @settings(max_examples=n, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(ps.programs(min_ops=n_ops, max_ops=n_ops))
    def collect(doc: dict) -> None:
        docs.append(doc)

    collect()
    return [load_program(d) for d in docs]


def refimpl_throughput(programs: list, repeat: int) -> dict:
    from oracle.refimpl_runner import run_refimpl_paths  # noqa: PLC0415

    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for program in programs:
            run_refimpl_paths(program, REFIMPL_PATHS)
        samples.append(len(programs) / (time.perf_counter() - start))
    return summarize(samples)


def differential(programs: list) -> list[list]:
    from oracle.refimpl_runner import run_refimpl_paths  # noqa: PLC0415
    from oracle.torch_runner import run_torch  # noqa: PLC0415

    rows = []
    for path in DIFF_PATHS:
        t_torch = t_ref = 0.0
        for program in programs:
            start = time.perf_counter()
            run_torch(program, path)
            t_torch += time.perf_counter() - start
            start = time.perf_counter()
            run_refimpl_paths(program, [path])
            t_ref += time.perf_counter() - start
        total = t_torch + t_ref
        rows.append([path, f"{len(programs) / total:.1f}", f"{t_torch:.2f}", f"{t_ref:.3f}",
                     f"{t_ref / total:.1%}"])
    return rows


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=100)
    parser.add_argument("--ops", type=int, default=20)
    parser.add_argument("--no-torch", action="store_true", help="refimpl-only figures")
    args = parser.parse_args()
    n = 10 if args.quick else args.programs
    import refimpl  # noqa: PLC0415

    refimpl.set_profile("torch-2.13")
    programs = draw_programs(n, args.ops)
    freeze_heap()
    stats = refimpl_throughput(programs, 1 if args.quick else (args.repeat or 5))
    print(f"refimpl-only, {len(programs)} programs of {args.ops} ops through "
          f"{'+'.join(REFIMPL_PATHS)}: median {stats['median']:.1f} programs/s "
          f"(best {stats['max']:.1f}); target >= 200")
    rows = [] if args.no_torch else differential(programs[: max(5, n // 5)])
    if rows:
        print_table(["path", "cases/s", "torch s", "refimpl s", "refimpl share"], rows)
    if args.json:
        write_json(args.json, {"machine": machine_info(), "programs": len(programs),
                               "ops": args.ops, "refimpl_programs_per_s": stats,
                               "differential": rows})


if __name__ == "__main__":
    main()
