"""Cold-start hunting power: seconds until an aimed campaign finds an effect-order violation.

Measures: for each seed, `python -m oracle fuzz --paths compile:inductor --no-known --seed S`
from a cold start (a fresh findings folder, a fresh `TORCHINDUCTOR_CACHE_DIR`, no known
findings), polled every second: the wall time until a finding whose `signature.json` has the
kind `effect-order violation` is on disk, the examples run by then (from the campaign's
progress lines), and, once it is found, the campaign is stopped. A seed that finds none within
the budget counts as a miss. Reports the per-seed times, the hit count and the median time to
the first violation against issue 11's target (>= 4 of 5 seeds within 10 minutes, median
<= 120 s on a 2-core machine), and the shrunk size of each violation found (when `--shrink`
is given, the campaign's own `oracle.shrink` pass runs before it stops: statements before and
after).
Spec: RPT-34 (aimed campaigns), RPT-28 (shrinking). Needs torch.

    python3 benchmarks/bench_hunt.py --seeds 0,1,2,3,4 --budget 600 \
        --json benchmarks/results/hunt.json
"""

from __future__ import annotations

import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO_ROOT, base_parser, machine_info, print_table, write_json

VIOLATION = "effect-order violation"


def _violations(findings: Path) -> list[dict]:
    found = []
    for sig_path in findings.glob("*/signature.json"):
        try:
            sig = json.loads(sig_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # being written (folders are placed whole, but be safe)
        if VIOLATION in sig.get("kinds", []):
            program = json.loads((sig_path.parent / "program.json").read_text())
            found.append({"folder": sig_path.parent.name, "ops": sig.get("ops", []),
                          "statements": len(program["body"])})
    return found


def hunt(seed: int, budget: float, shrink: bool, extra: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-hunt-") as tmp:
        findings = Path(tmp) / "findings"
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(Path(tmp) / "inductor-cache"),
               "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "oracle", "fuzz", "--paths", "compile:inductor",
               "--no-known", "--seed", str(seed), "--budget", f"{budget:.0f}s",
               "--findings", str(findings), *extra]
        if not shrink:
            cmd.append("--no-shrink")
        log = Path(tmp) / "log.txt"
        start = time.monotonic()
        with log.open("w") as out:
            proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            first: float | None = None
            while proc.poll() is None:
                time.sleep(1.0)
                if first is None and _violations(findings):
                    first = time.monotonic() - start
                    if not shrink:
                        break
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
        if first is None and _violations(findings):
            first = time.monotonic() - start
        text = log.read_text(errors="replace")
        return {"seed": seed, "seconds_to_first": first, "violations": _violations(findings),
                "examples_logged": _last_examples(text), "exit": proc.returncode}


def _last_examples(text: str) -> int | None:
    counts = [int(word) for line in text.splitlines() if line.startswith("fuzz: ")
              for word in line.split()[1:2] if word.isdigit()]
    return counts[-1] if counts else None


def main() -> None:
    parser = base_parser(__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--budget", type=float, default=600.0, help="seconds per seed")
    parser.add_argument("--shrink", action="store_true",
                        help="let each campaign run to its budget and shrink what it found")
    parser.add_argument("--no-aim", action="store_true", help="an unaimed campaign, to compare")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    budget = 60.0 if args.quick else args.budget
    info = machine_info()
    extra = ["--no-aim"] if args.no_aim else []
    runs = []
    for seed in seeds:
        run = hunt(seed, budget, args.shrink, extra)
        runs.append(run)
        took = run["seconds_to_first"]
        print(f"seed {seed}: " + (f"violation after {took:.0f} s" if took is not None
                                  else f"none within {budget:.0f} s"), flush=True)
    times = [r["seconds_to_first"] for r in runs if r["seconds_to_first"] is not None]
    hits = len(times)
    # A miss counts as slower than any hit: the median over all seeds.
    middle = statistics.median([math.inf if t is None else t for t in
                                (r["seconds_to_first"] for r in runs)])
    median = None if math.isinf(middle) else middle
    print_table(["seed", "s to first violation", "statements (smallest)", "examples logged"],
                [[r["seed"], r["seconds_to_first"] if r["seconds_to_first"] is not None else "-",
                  min((v["statements"] for v in r["violations"]), default="-"),
                  r["examples_logged"] if r["examples_logged"] is not None else "-"]
                 for r in runs])
    need = max(1, (4 * len(runs) + 4) // 5)
    status = "met" if hits >= need and median is not None and median <= 120 else "MISSED"
    print(f"\nhits {hits}/{len(runs)} within {budget:.0f} s, median time to first "
          f"{'-' if median is None else f'{median:.0f} s'} "
          f"(target: >= {need}/{len(runs)}, median <= 120 s): {status}")
    if args.json:
        write_json(args.json, {"machine": info, "budget_s": budget, "aim": not args.no_aim,
                               "runs": runs, "hits": hits, "median_s": median,
                               "status": status})


if __name__ == "__main__":
    main()
