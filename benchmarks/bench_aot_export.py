"""Export cost: refimpl's ``aot_export`` against torch's ``aot_export_module``, same program.

Measures: a synthetic N-op program (N = 10, 100, 1000, 10000), ops in the fixed cycle
``bench::rec`` (an ORDERED custom op, ``(Tensor x, str tag) -> Tensor``, x + 1, with a fake
impl), ``aten.sin``, ``aten.add.Tensor``, exported with
- ``refimpl.export.aot_export(module, args)`` and
- ``torch._functorch.aot_autograd.aot_export_module(module, args, trace_joint=False)``;
and ``make_fx(fn, tracing_mode="fake")`` alone on both at N = 1000; and the joint column:
the same cycle with ``bench::prec`` (the same kernel, no effect, an identity autograd formula)
in place of ``bench::rec``, ``x`` requiring grad and the loss ``sum`` of the result, exported
with ``aot_export(module, args, trace_joint=True, output_loss_index=0)`` and torch's
``aot_export_module(..., trace_joint=True, output_loss_index=0)`` (TRC-19: with an effect torch
2.13 cannot export the joint graph, so the joint program has none).
Issue targets: refimpl >= 100x faster than torch at N = 1000; refimpl linear,
``t(10000) / t(1000) <= 12``, for the joint export too.

Choices:
1. torch at N = 10000 takes minutes, so torch stops at ``--torch-max`` (default 1000);
   refimpl's linearity comes from its own figures: N = 1000 and N = 10000 sampled alternately
   (``refimpl_paired``; the table's cells, timed minutes apart, give ``refimpl`` too).
2. Per N the two libraries alternate (torch, refimpl, refimpl, torch, ...); each takes at least
   ``MIN_SAMPLES`` samples and then more while its time at that N stays under a budget, so the
   minutes-long torch cells get few samples and the fast refimpl cells many.
3. One untimed warm-up export at N = 10 per library first (its time is reported as
   ``warmup_s``): torch's first export loads and compiles a lot once.
4. The collector stays on while timing (an export's collections are part of its cost); the heap
   is frozen after setup and again before each size (see ``_common``), so refimpl's collections
   never scan what torch's exports left alive. Linearity is also measured with the collector
   off (``refimpl_paired_gc_off``), to tell the collector's share of any excess growth.
   Each export gets a fresh module.
5. Where both ran, the two graphs' ``.code`` is compared: the programs are the same, and so must
   the printed graphs be.
6. When refimpl is not linear (or with ``--profile``), cProfile runs its export at two sizes
   and the functions whose own time grows more than the size are listed.
"""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Callable
from typing import Any

import _common
import numpy as np

import refimpl
from refimpl import effects as refimpl_effects
from refimpl.export import Module as RefModule
from refimpl.export import aot_export

SIZES = (10, 100, 1000, 10000)
QUICK_SIZES = (10, 100)
TORCH_MAX = 1000
MAKE_FX_N = 1000
MIN_SAMPLES = 3
MAX_SAMPLES = 7
CELL_BUDGET_S = 60.0
TARGET_SPEEDUP = 100.0
TARGET_LINEARITY = 12.0
SCHEMA = "(Tensor x, str tag) -> Tensor"
CYCLE = ("rec", "sin", "add")
JOINT_CYCLE_OP = "prec"  # the joint program's custom op: no effect, an autograd formula


# --------------------------------------------------------------------------------------------
# the program, written once for both libraries
# --------------------------------------------------------------------------------------------
def run_program(
    kinds: list[str], tags: list[str], ops: dict[str, Callable], x: Any, y: Any
) -> tuple[Any]:
    """The N ops: ``rec(x, tag)``, ``sin(x)``, ``add(x, y)`` in the order of ``kinds``."""
    rec, sin, add = ops["rec"], ops["sin"], ops["add"]
    for kind, tag in zip(kinds, tags):
        if kind == "rec":
            x = rec(x, tag)
        elif kind == "sin":
            x = sin(x)
        else:
            x = add(x, y)
    return (x,)


def program_spec(n: int) -> tuple[list[str], list[str]]:
    """Op kinds (the cycle rec, sin, add) and the tags ``t<i>`` of the N-op program."""
    return [CYCLE[i % 3] for i in range(n)], [f"t{i}" for i in range(n)]


def _identity_backward(ctx: Any, grad: Any) -> tuple:
    return grad, None


def _no_context(ctx: Any, inputs: Any, output: Any) -> None:
    return None


def define_refimpl_ops() -> dict[str, Callable]:
    """``bench::rec`` in refimpl (ORDERED, fake impl), ``bench::prec`` (the joint program's:
    no effect, an identity autograd formula) and the aten ops the programs use."""
    aten = refimpl.ops.aten

    for name in ("rec", JOINT_CYCLE_OP):
        @refimpl.library.custom_op(f"bench::{name}", schema=SCHEMA)
        def op(x, tag):
            return aten.add.Tensor(x, 1)

        @op.register_fake
        def _(x, tag):
            return aten.empty_like.default(x)

        if name == "rec":
            refimpl_effects._register_effectful_op(op, refimpl_effects._EffectType.ORDERED)
        else:
            op.register_autograd(_identity_backward, setup_context=_no_context)
    bench = refimpl.ops.bench
    return {"rec": bench.rec.default, "prec": bench.prec.default, "sin": aten.sin.default,
            "add": aten.add.Tensor, "sum": aten.sum.default}


def define_torch_ops(torch: Any) -> dict[str, Callable]:
    """``bench::rec`` and ``bench::prec`` in torch, as ``define_refimpl_ops``."""
    from torch._higher_order_ops.effects import EffectType, _register_effectful_op

    aten = torch.ops.aten

    for name in ("rec", JOINT_CYCLE_OP):
        @torch.library.custom_op(f"bench::{name}", mutates_args=(), schema=SCHEMA)
        def op(x, tag):
            return aten.add.Tensor(x, 1)

        @op.register_fake
        def _(x, tag):
            return aten.empty_like.default(x)

        if name == "rec":
            _register_effectful_op(torch.ops.bench.rec.default, EffectType.ORDERED)
        else:
            op.register_autograd(_identity_backward, setup_context=_no_context)
    bench = torch.ops.bench
    return {"rec": bench.rec.default, "prec": bench.prec.default, "sin": aten.sin.default,
            "add": aten.add.Tensor, "sum": aten.sum.default}


def joint_ops(ops: dict[str, Callable]) -> dict[str, Callable]:
    """The joint program's ops: ``prec`` in ``rec``'s place."""
    return {**ops, "rec": ops[JOINT_CYCLE_OP]}


def run_joint_program(kinds: list[str], tags: list[str], ops: dict[str, Callable], x: Any,
                      y: Any) -> tuple[Any]:
    """The N ops, then the loss ``sum`` of the result."""
    (out,) = run_program(kinds, tags, ops, x, y)
    return (ops["sum"](out),)


class RefProgram(RefModule):
    """The N-op program as a refimpl module."""

    def __init__(self, n: int, ops: dict[str, Callable]) -> None:
        super().__init__()
        self.kinds, self.tags = program_spec(n)
        self.ops = ops

    def forward(self, x: Any, y: Any) -> tuple[Any]:
        return run_program(self.kinds, self.tags, self.ops, x, y)


class RefJointProgram(RefProgram):
    """The joint column's program as a refimpl module."""

    def forward(self, x: Any, y: Any) -> tuple[Any]:
        return run_joint_program(self.kinds, self.tags, self.ops, x, y)


def torch_program_class(torch: Any) -> type:
    """The N-op program as a ``torch.nn.Module`` subclass (torch is imported late)."""

    class TorchProgram(torch.nn.Module):
        def __init__(self, n: int, ops: dict[str, Callable]) -> None:
            super().__init__()
            self.kinds, self.tags = program_spec(n)
            self.ops = ops

        def forward(self, x: Any, y: Any) -> tuple[Any]:
            return run_program(self.kinds, self.tags, self.ops, x, y)

    return TorchProgram


def torch_joint_program_class(torch: Any) -> type:
    """The joint column's program as a ``torch.nn.Module`` subclass."""

    class TorchJointProgram(torch_program_class(torch)):
        def forward(self, x: Any, y: Any) -> tuple[Any]:
            return run_joint_program(self.kinds, self.tags, self.ops, x, y)

    return TorchJointProgram


# --------------------------------------------------------------------------------------------
# the two libraries behind one interface: export(n) and make_fx(n) return a graph module
# --------------------------------------------------------------------------------------------
class Side:
    """One library: how to export and make_fx the N-op program."""

    def __init__(
        self, name: str, export: Callable[[int], Any], make_fx: Callable[[int], Any],
        joint: Callable[[int], Any],
    ) -> None:
        self.name = name
        self.export = export
        self.make_fx = make_fx
        self.joint = joint


def refimpl_side() -> Side:
    ops = define_refimpl_ops()
    arrays = _inputs()
    x, y = refimpl.tensor(arrays[0]), refimpl.tensor(arrays[1])

    def export(n: int) -> Any:
        gm, _ = aot_export(RefProgram(n, ops), (x, y))
        return gm

    def make_fx(n: int) -> Any:
        kinds, tags = program_spec(n)
        return refimpl.make_fx(_fx_fn(kinds, tags, ops), tracing_mode="fake")(x, y)

    x_grad = refimpl.tensor(arrays[0]).requires_grad_()

    def joint(n: int) -> Any:
        gm, _ = aot_export(RefJointProgram(n, joint_ops(ops)), (x_grad, y), trace_joint=True,
                           output_loss_index=0)
        return gm

    return Side("refimpl", export, make_fx, joint)


def torch_side(torch: Any) -> Side:
    from torch._functorch.aot_autograd import aot_export_module
    from torch.fx.experimental.proxy_tensor import make_fx as torch_make_fx

    ops = define_torch_ops(torch)
    program = torch_program_class(torch)
    x, y = (torch.from_numpy(a.copy()) for a in _inputs())

    def export(n: int) -> Any:
        gm, _ = aot_export_module(program(n, ops), (x, y), trace_joint=False)
        return gm

    def make_fx(n: int) -> Any:
        kinds, tags = program_spec(n)
        return torch_make_fx(_fx_fn(kinds, tags, ops), tracing_mode="fake")(x, y)

    joint_program = torch_joint_program_class(torch)
    x_grad = torch.from_numpy(_inputs()[0]).requires_grad_()

    def joint(n: int) -> Any:
        gm, _ = aot_export_module(joint_program(n, joint_ops(ops)), (x_grad, y),
                                  trace_joint=True, output_loss_index=0)
        return gm

    return Side("torch", export, make_fx, joint)


def _inputs() -> list[np.ndarray]:
    return [np.arange(4, dtype=np.float32), np.full(4, 0.5, dtype=np.float32)]


def _fx_fn(kinds: list[str], tags: list[str], ops: dict[str, Callable]) -> Callable:
    def fn(x, y):
        return run_program(kinds, tags, ops, x, y)

    return fn


# --------------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------------
class Cell:
    """The samples of one (library, N, what) figure, and the code and size of the last graph.

    Only the code is kept: a graph kept alive while the next sample runs would make every
    collection of that sample scan it (about +10% at N = 10000).
    """

    def __init__(
        self,
        make: Callable[[], Any],
        min_samples: int,
        max_samples: int,
        budget_s: float,
        disable_gc: bool = False,
    ) -> None:
        self.make = make
        self.disable_gc = disable_gc
        self.min_samples, self.max_samples, self.budget_s = min_samples, max_samples, budget_s
        self.samples: list[float] = []
        self.code: str | None = None
        self.nodes: int | None = None

    def wants_more(self) -> bool:
        n = len(self.samples)
        return n < self.min_samples or (n < self.max_samples and sum(self.samples) < self.budget_s)

    def sample(self) -> None:
        box: list[Any] = []
        seconds = _common.time_once(lambda: box.append(self.make()), disable_gc=self.disable_gc)
        self.samples.append(seconds)
        gm = box.pop()
        self.code, self.nodes = gm.code, sum(1 for _ in gm.graph.nodes)


def run_cells(cells: list[Cell]) -> None:
    """Alternate the cells (order reversed each round) until none wants more samples."""
    round_no = 0
    while any(c.wants_more() for c in cells):
        for cell in cells if round_no % 2 == 0 else reversed(cells):
            if cell.wants_more():
                cell.sample()
        round_no += 1


def export_table(
    sides: dict[str, Side], sizes: tuple[int, ...], torch_max: int, limits: tuple[int, int, float],
    what: str = "export",
) -> list[dict[str, Any]]:
    """Per N: the ``what`` (``export`` or ``joint``) times of both libraries (torch up to
    ``torch_max``) and their ratio."""
    rows = []
    for n in sizes:
        _common.freeze_heap()  # what torch's exports left alive is not refimpl's to scan
        cells = {"refimpl": Cell(lambda n=n: getattr(sides["refimpl"], what)(n), *limits)}
        if n <= torch_max:
            cells["torch"] = Cell(lambda n=n: getattr(sides["torch"], what)(n), *limits)
        run_cells(list(cells.values()))
        rows.append(_row(n, cells))
        _print_row(rows[-1], what)
    return rows


def _row(n: int, cells: dict[str, Cell]) -> dict[str, Any]:
    row: dict[str, Any] = {"n": n, "nodes": cells["refimpl"].nodes}
    for name, cell in cells.items():
        row[f"{name}_s"] = _common.summarize(cell.samples)
    torch_cell = cells.get("torch")
    if torch_cell is not None:
        row["torch_over_refimpl"] = _common.ratio(row["torch_s"], row["refimpl_s"])
        row["same_code"] = torch_cell.code == cells["refimpl"].code
    return row


def _print_row(row: dict[str, Any], what: str = "export") -> None:
    torch_s = row.get("torch_s", {}).get("median")
    speedup = row.get("torch_over_refimpl", {}).get("median")
    print(
        f"  {what} N={row['n']}: refimpl {row['refimpl_s']['median']:.4g} s, torch "
        f"{'-' if torch_s is None else f'{torch_s:.4g} s'}, torch/refimpl "
        f"{'-' if speedup is None else f'{speedup:.3g}'}",
        flush=True,
    )


def make_fx_figures(
    sides: dict[str, Side], n: int, limits: tuple[int, int, float]
) -> dict[str, Any]:
    cells = {name: Cell(lambda side=side: side.make_fx(n), *limits) for name, side in sides.items()}
    run_cells(list(cells.values()))
    out: dict[str, Any] = {"n": n}
    for name, cell in cells.items():
        out[f"{name}_s"] = _common.summarize(cell.samples)
    if "torch" in cells:
        out["torch_over_refimpl"] = _common.ratio(out["torch_s"], out["refimpl_s"])
        out["same_code"] = cells["torch"].code == cells["refimpl"].code
    return out


def linearity(rows: list[dict[str, Any]], key: str, small: int, big: int) -> dict | None:
    """``t(big) / t(small)`` of ``key`` (``refimpl_s`` or ``torch_s``), when both were timed."""
    by_n = {r["n"]: r for r in rows if key in r}
    if small not in by_n or big not in by_n:
        return None
    return {"small": small, "big": big, **_common.ratio(by_n[big][key], by_n[small][key])}


def paired_linearity(
    side: Side, small: int, big: int, limits: tuple[int, int, float], disable_gc: bool = False
) -> dict[str, Any]:
    """``t(big) / t(small)`` from samples of the two sizes taken alternately, so that both see
    the same load (the table's cells are timed minutes apart). ``disable_gc`` tells how much of
    any excess growth is the cyclic collector's."""
    _common.freeze_heap()
    cells = [Cell(lambda n=n: side.export(n), *limits, disable_gc) for n in (small, big)]
    run_cells(cells)
    small_s, big_s = (_common.summarize(c.samples) for c in cells)
    return {
        "small": small,
        "big": big,
        **_common.ratio(big_s, small_s),
        "small_s": small_s,
        "big_s": big_s,
    }


# --------------------------------------------------------------------------------------------
# profiling: which functions grow faster than the program
# --------------------------------------------------------------------------------------------
# Where an export's time goes, by refimpl function (cumulative; the per-op rows are inside the
# tracing pass).
PHASES = (
    ("aot_export (total)", "refimpl/export.py", "aot_export"),
    ("tracing pass", "refimpl/proxy_tensor.py", "trace"),
    ("Graph.eliminate_dead_code", "refimpl/fx/graph.py", "eliminate_dead_code"),
    ("GraphModule.recompile (all calls)", "refimpl/fx/graph_module.py", "recompile"),
    ("Graph.lint (all calls)", "refimpl/fx/graph.py", "lint"),
    ("check_effect_tokens", "refimpl/passes/effect_tokens.py", "check_effect_tokens"),
    ("per op: handle_effects", "refimpl/effects.py", "handle_effects"),
    ("per op: with_effects_dense (under fake)", "refimpl/effects.py", "with_effects_dense"),
    ("per op: new_token_tensor", "refimpl/effects.py", "new_token_tensor"),
    ("per op: create_proxy (graph building)", "refimpl/proxy_tensor.py", "create_proxy"),
    ("per op: _pop_mode_temporarily", "refimpl/mode_stack.py", "_pop_mode_temporarily"),
)


def profile_once(fn: Callable[[], Any]) -> dict[tuple[str, str], tuple[int, float, float]]:
    """cProfile of one call: (file, function) -> (calls, own time, cumulative time)."""
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    out: dict[tuple[str, str], tuple[int, float, float]] = {}
    for (filename, line, name), (_, nc, tt, ct, _) in stats.stats.items():
        key = (_short_path(filename), f"{line}({name})")
        out[key] = (nc, tt, ct)
    return out


def phase_times(profile: dict[tuple[str, str], tuple[int, float, float]]) -> list[dict]:
    """Cumulative time of each ``PHASES`` function that ran (summed over same-named ones)."""
    total = None
    rows = []
    for label, path, name in PHASES:
        hits = [v for (p, f), v in profile.items() if p == path and f.endswith(f"({name})")]
        calls = sum(v[0] for v in hits)
        cum = (
            max((v[2] for v in hits), default=0.0)
            if name == "aot_export"
            else sum(v[2] for v in hits)
        )
        total = cum if total is None else total
        if calls:
            rows.append({"phase": label, "calls": calls, "cumtime_s": cum, "share": cum / total})
    return rows


def growth_profile(side: Side, small: int, big: int, top: int = 15) -> dict[str, Any]:
    """Top functions by own time at ``big``, with how their time and calls grew from ``small``,
    and the phases of the export at ``small``."""
    _common.freeze_heap()
    at_small = profile_once(lambda: side.export(small))
    at_big = profile_once(lambda: side.export(big))
    total_big = sum(tt for _, tt, _ in at_big.values())
    rows = []
    for key, (calls, tt, _) in sorted(at_big.items(), key=lambda kv: -kv[1][1])[:top]:
        calls0, tt0, _ = at_small.get(key, (0, 0.0, 0.0))
        rows.append(
            {
                "function": f"{key[0]}:{key[1]}",
                "calls": calls,
                "tottime_s": tt,
                "share": tt / total_big,
                "time_growth": tt / tt0 if tt0 else None,
                "calls_growth": calls / calls0 if calls0 else None,
            }
        )
    return {
        "small": small,
        "big": big,
        "size_growth": big / small,
        "total_small_s": sum(tt for _, tt, _ in at_small.values()),
        "total_big_s": total_big,
        "top": rows,
        "fastest_growing_calls": fastest_growing_calls(at_small, at_big),
        "phases_at_small": phase_times(at_small),
    }


def fastest_growing_calls(small: dict, big: dict, min_calls: int = 100, top: int = 5) -> list:
    """Functions whose call count grows most: a count growing faster than N is a quadratic spot
    whatever the clock says (call counts do not depend on the machine's load)."""
    rows = []
    for key, (calls, _, _) in big.items():
        calls0 = small.get(key, (0, 0.0, 0.0))[0]
        if calls >= min_calls:
            growth = calls / calls0 if calls0 else float("inf")
            rows.append({"function": f"{key[0]}:{key[1]}", "calls": calls, "calls_growth": growth})
    return sorted(rows, key=lambda r: -r["calls_growth"])[:top]


def _short_path(filename: str) -> str:
    if "/refimpl/" in filename:
        return "refimpl/" + filename.split("/refimpl/")[-1]
    return filename


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def print_report(result: dict[str, Any]) -> None:
    for title, key in (("aot export", "export"),
                       ("joint export (trace_joint=True, x requires grad)", "joint")):
        if result.get(key):
            _print_rows(title, result[key])
    _print_rest(result)


def _print_rows(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{title}, seconds (median / min)")
    _common.print_table(
        [
            "N",
            "nodes",
            "torch med",
            "torch min",
            "refimpl med",
            "refimpl min",
            "torch/refimpl med",
            "torch/refimpl min",
            "same code",
        ],
        [
            [
                r["n"],
                r["nodes"],
                r.get("torch_s", {}).get("median"),
                r.get("torch_s", {}).get("min"),
                r["refimpl_s"]["median"],
                r["refimpl_s"]["min"],
                r.get("torch_over_refimpl", {}).get("median"),
                r.get("torch_over_refimpl", {}).get("min"),
                r.get("same_code"),
            ]
            for r in rows
        ],
    )


def _print_rest(result: dict[str, Any]) -> None:
    mf = result.get("make_fx")
    if mf:
        print(
            f"\nmake_fx (fake) at N={mf['n']}: torch {mf['torch_s']['median']:.4g} s, refimpl "
            f"{mf['refimpl_s']['median']:.4g} s, torch/refimpl "
            f"{mf['torch_over_refimpl']['median']:.3g}, same code {mf['same_code']}"
        )
    for name, lin in result["linearity"].items():
        if lin:
            print(
                f"{name}: t({lin['big']})/t({lin['small']}) = {lin['median']:.3g} (median), "
                f"{lin['min']:.3g} (min)"
            )
    for name, target in result["targets"].items():
        _common.print_target(name, target)
    prof = result.get("profile")
    if prof:
        print(
            f"\ncProfile of refimpl export, N={prof['small']} -> N={prof['big']} "
            f"(size x{prof['size_growth']:.0f}, total own time x"
            f"{prof['total_big_s'] / prof['total_small_s']:.3g})"
        )
        _common.print_table(
            ["function", "calls", "tottime s", "share", "time x", "calls x"],
            [
                [
                    p["function"],
                    p["calls"],
                    p["tottime_s"],
                    p["share"],
                    p["time_growth"],
                    p["calls_growth"],
                ]
                for p in prof["top"]
            ],
        )
        print("\nfastest-growing call counts (> size growth means a quadratic spot)")
        _common.print_table(
            ["function", "calls", "calls x"],
            [[p["function"], p["calls"], p["calls_growth"]] for p in prof["fastest_growing_calls"]],
        )
        print(
            f"\nwhere refimpl's export at N={prof['small']} spends its time (cProfile, overlapping)"
        )
        _common.print_table(
            ["phase", "calls", "cumtime s", "share"],
            [[p["phase"], p["calls"], p["cumtime_s"], p["share"]] for p in prof["phases_at_small"]],
        )


def targets(rows: list[dict[str, Any]], lin: dict | None, prefix: str = "") -> dict[str, Any]:
    at_1000 = next((r for r in rows if r["n"] == 1000 and "torch_over_refimpl" in r), None)
    label = f"{prefix}: " if prefix else ""
    key = f"{prefix}_" if prefix else ""
    return {
        f"{key}speedup_at_1000": _common.target_status(
            f"{label}torch/refimpl >= {TARGET_SPEEDUP:g} at N=1000",
            at_1000["torch_over_refimpl"] if at_1000 else None,
            lambda v: v >= TARGET_SPEEDUP,
        ),
        f"{key}refimpl_linearity": _common.target_status(
            f"{label}refimpl t(10000)/t(1000) <= {TARGET_LINEARITY:g}",
            lin,
            lambda v: v <= TARGET_LINEARITY,
        ),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = _common.base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--torch-max",
        metavar="N",
        type=int,
        default=None,
        help=f"largest N torch exports (default {TORCH_MAX}; quick: 100)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile refimpl's growth even when it is linear"
    )
    opts = parser.parse_args(argv)
    import torch  # after the parser, so --help works without torch

    sizes = QUICK_SIZES if opts.quick else SIZES
    torch_max = opts.torch_max if opts.torch_max is not None else (100 if opts.quick else TORCH_MAX)
    max_samples = opts.repeat or (1 if opts.quick else MAX_SAMPLES)
    limits = (min(MIN_SAMPLES, max_samples), max_samples, 5.0 if opts.quick else CELL_BUDGET_S)
    sides = {"refimpl": refimpl_side(), "torch": torch_side(torch)}
    warmup = {
        name: _common.time_once(lambda s=side: s.export(10), disable_gc=False)
        for name, side in sides.items()
    }
    _common.freeze_heap()
    result: dict[str, Any] = {
        "benchmark": "aot_export",
        "machine": _common.machine_info(),
        "versions": _common.versions(torch, np) | {"torch_num_threads": torch.get_num_threads()},
        "settings": {
            "sizes": list(sizes),
            "torch_max": torch_max,
            "cycle": list(CYCLE),
            "schema": f"bench::rec{SCHEMA}",
            "min_samples": limits[0],
            "max_samples": limits[1],
            "cell_budget_s": limits[2],
            "quick": opts.quick,
        },
        "warmup_s": warmup,
    }
    print("aot export (progress)")
    rows = export_table(sides, sizes, torch_max, limits)
    result["export"] = rows
    result["joint"] = export_table(sides, sizes, torch_max, limits, what="joint")
    fx_n = 100 if opts.quick else MAKE_FX_N
    result["make_fx"] = make_fx_figures(sides, fx_n, limits)
    big = sizes[-1]
    result["linearity"] = {
        "refimpl_paired": paired_linearity(sides["refimpl"], big // 10, big, limits),
        "refimpl_paired_gc_off": paired_linearity(sides["refimpl"], big // 10, big, limits, True),
        "refimpl": linearity(rows, "refimpl_s", big // 10, big),
        "refimpl_1000_over_100": linearity(rows, "refimpl_s", 100, 1000),
        "torch": linearity(rows, "torch_s", torch_max // 10, torch_max),
    }
    result["linearity"]["joint_refimpl"] = linearity(result["joint"], "refimpl_s", big // 10, big)
    lin = result["linearity"]["refimpl_paired"]
    result["targets"] = targets(rows, lin if lin["big"] == 10000 else None)
    joint_lin = result["linearity"]["joint_refimpl"]
    result["targets"] |= targets(result["joint"], joint_lin if big == 10000 else None, "joint")
    if opts.profile or (lin and lin["median"] > TARGET_LINEARITY):
        result["profile"] = growth_profile(sides["refimpl"], big // 10, big)
    result["machine"]["loadavg_at_end"] = _common.load_average()
    print_report(result)
    if opts.json:
        _common.write_json(opts.json, result)
    return result


if __name__ == "__main__":
    main()
