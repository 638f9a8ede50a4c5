"""Eager dispatch cost per op: refimpl against torch eager and raw numpy, same program, same run.

Measures: a straight-line program of 1000 ops over 4-element float32 tensors (a fixed mix of
``add``/``sub``/``mul`` in their ``Tensor`` and ``Scalar`` overloads, ``sin``, ``cos``, ``neg``
and ``clone``, drawn once from a seed), run eagerly as
- ``numpy``: the same ops on numpy arrays (``np.add``..., ``a.copy()`` for ``clone``);
- ``refimpl_aten`` / ``torch_aten``: ``ops.aten.<op>.<overload>(...)`` calls;
- ``refimpl_method`` / ``torch_method``: the Tensor-method spelling (``a.add(b)``, ``a.sin()``);
- ``refimpl_kernel``: refimpl's dense kernels called directly, the dispatcher bypassed, so the
  dispatcher's share of ``refimpl_aten`` is ``refimpl_aten - refimpl_kernel``.
Issue target: refimpl <= 3x torch eager per op (``refimpl_aten / torch_aten``).

Choices:
1. Each spelling is compiled once into a Python function of straight-line code
   (``v7 = aten_add_Tensor(v3, v5)``) with the callables bound as globals, so no interpreter
   loop or attribute lookup is timed, only the calls.
2. Values stay bounded: the generator evaluates as it draws and replaces an op whose result
   would exceed ``BOUND`` by ``sin`` (numpy warnings on overflow would distort the timing).
3. Samples of all spellings are interleaved, the order rotating every round; the collector is
   off while a sample runs (as in ``timeit``).
4. When refimpl misses the target (or with ``--profile``), cProfile runs the refimpl program
   and the top functions by own time are printed and stored.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import _common
import numpy as np

import refimpl
from refimpl.aten import dense_kernels

SEED = 20260101
N_OPS = 1000
N_INPUTS = 2
SHAPE = (4,)
BOUND = 8.0
SCALARS = (0.5, 1.5, -0.75, 2.0)
TARGET_RATIO = 3.0

# The op mix: (aten name, overload, weight). Weights are relative draw frequencies.
OP_MIX = (
    ("add", "Tensor", 2),
    ("add", "Scalar", 1),
    ("sub", "Tensor", 2),
    ("sub", "Scalar", 1),
    ("mul", "Tensor", 2),
    ("mul", "Scalar", 1),
    ("sin", "default", 1),
    ("cos", "default", 1),
    ("neg", "default", 1),
    ("clone", "default", 1),
)
KINDS = tuple(f"{name}.{overload}" for name, overload, _ in OP_MIX)


@dataclass(frozen=True)
class Step:
    """One op of the program: ``v<out> = kind(v<args[0]>, v<args[1]> or scalar)``."""

    kind: str
    args: tuple[int, ...]
    scalar: float | None = None


# --------------------------------------------------------------------------------------------
# the program
# --------------------------------------------------------------------------------------------
def make_inputs(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, SHAPE).astype(np.float32) for _ in range(N_INPUTS)]


_REFERENCE = {
    "add.Tensor": lambda a, b, s: a + b,
    "add.Scalar": lambda a, b, s: a + s,
    "sub.Tensor": lambda a, b, s: a - b,
    "sub.Scalar": lambda a, b, s: a - s,
    "mul.Tensor": lambda a, b, s: a * b,
    "mul.Scalar": lambda a, b, s: a * s,
    "sin.default": lambda a, b, s: np.sin(a),
    "cos.default": lambda a, b, s: np.cos(a),
    "neg.default": lambda a, b, s: -a,
    "clone.default": lambda a, b, s: a.copy(),
}


def generate_program(n_ops: int, seed: int, kinds: tuple[str, ...] = KINDS) -> list[Step]:
    """Draw ``n_ops`` steps; operand 1 is one of the 4 latest values, operand 2 any value."""
    rng = random.Random(seed)
    weights = [w for name, ov, w in OP_MIX if f"{name}.{ov}" in kinds]
    values = [x.astype(np.float64) for x in make_inputs(seed)]
    steps = []
    for _ in range(n_ops):
        kind = rng.choices(kinds, weights)[0]
        a = rng.randrange(max(0, len(values) - 4), len(values))
        b = rng.randrange(len(values))
        scalar = rng.choice(SCALARS) if kind.endswith("Scalar") else None
        result = _REFERENCE[kind](values[a], values[b], scalar)
        if np.abs(result).max() > BOUND and "sin.default" in kinds:
            kind, scalar, result = "sin.default", None, np.sin(values[a])
        steps.append(Step(kind, (a, b) if kind.endswith("Tensor") else (a,), scalar))
        values.append(result)
    return steps


def single_kind_program(kind: str, n_ops: int) -> list[Step]:
    """``n_ops`` copies of one op on the inputs (bounded by construction)."""
    args = (0, 1) if kind.endswith("Tensor") else (0,)
    return [Step(kind, args, 1.5 if kind.endswith("Scalar") else None) for _ in range(n_ops)]


# --------------------------------------------------------------------------------------------
# spellings: each step as one line of Python source
# --------------------------------------------------------------------------------------------
def _operands(step: Step) -> list[str]:
    scalar = [] if step.scalar is None else [repr(step.scalar)]
    return [f"v{i}" for i in step.args] + scalar


def _aten_line(step: Step) -> str:
    name, overload = step.kind.split(".")
    operands = _operands(step)
    return f"aten_{name}_{overload}({', '.join(operands)})"


def _method_line(step: Step) -> str:
    name, _ = step.kind.split(".")
    operand = f"v{step.args[1]}" if len(step.args) == 2 else repr(step.scalar)
    other = "" if step.scalar is None and len(step.args) == 1 else operand
    return f"v{step.args[0]}.{name}({other})"


_NUMPY_FUNCS = {
    "add": "np_add",
    "sub": "np_subtract",
    "mul": "np_multiply",
    "sin": "np_sin",
    "cos": "np_cos",
    "neg": "np_negative",
}


def _numpy_line(step: Step) -> str:
    name, _ = step.kind.split(".")
    if name == "clone":
        return f"v{step.args[0]}.copy()"
    operands = _operands(step)
    return f"{_NUMPY_FUNCS[name]}({', '.join(operands)})"


def compile_program(
    steps: list[Step], line: Callable[[Step], str], namespace: dict[str, Any]
) -> Callable[..., Any]:
    """A function ``program(v0, v1)`` running ``steps`` as straight-line code."""
    params = ", ".join(f"v{i}" for i in range(N_INPUTS))
    body = [f"    v{N_INPUTS + i} = {line(step)}" for i, step in enumerate(steps)]
    source = (
        f"def program({params}):\n"
        + "\n".join(body)
        + f"\n    return v{N_INPUTS + len(steps) - 1}\n"
    )
    scope = dict(namespace)
    exec(compile(source, f"<program {line.__name__}>", "exec"), scope)
    return scope["program"]


def aten_namespace(ops: Any) -> dict[str, Any]:
    """``aten_<name>_<overload>`` -> ``ops.aten.<name>.<overload>`` of torch or refimpl."""
    return {f"aten_{name}_{ov}": getattr(getattr(ops.aten, name), ov) for name, ov, _ in OP_MIX}


def kernel_namespace() -> dict[str, Any]:
    """The same names bound to refimpl's dense kernels (no dispatcher)."""
    ops = aten_namespace(refimpl.ops)
    return {name: dense_kernels[op] for name, op in ops.items()}


def numpy_namespace() -> dict[str, Any]:
    return {
        f"np_{f}": getattr(np, f) for f in ("add", "subtract", "multiply", "sin", "cos", "negative")
    }


def build_runners(steps: list[Step], torch: Any) -> dict[str, tuple[Callable, tuple]]:
    """Each spelling's compiled program and its inputs."""
    arrays = make_inputs(SEED)
    r_in = tuple(refimpl.tensor(a) for a in arrays)
    t_in = tuple(torch.from_numpy(a.copy()) for a in arrays)
    return {
        "numpy": (
            compile_program(steps, _numpy_line, numpy_namespace()),
            tuple(a.copy() for a in arrays),
        ),
        "refimpl_aten": (compile_program(steps, _aten_line, aten_namespace(refimpl.ops)), r_in),
        "refimpl_method": (compile_program(steps, _method_line, {}), r_in),
        "refimpl_kernel": (compile_program(steps, _aten_line, kernel_namespace()), r_in),
        "torch_aten": (compile_program(steps, _aten_line, aten_namespace(torch.ops)), t_in),
        "torch_method": (compile_program(steps, _method_line, {}), t_in),
    }


# --------------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------------
def _as_numpy(value: Any) -> np.ndarray:
    return np.asarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.float64)


def agreement(runners: dict[str, tuple[Callable, tuple]]) -> dict[str, float]:
    """Max |result - numpy result| of each spelling: the programs really are the same."""
    expected = _as_numpy(runners["numpy"][0](*runners["numpy"][1]))
    return {
        name: float(np.abs(_as_numpy(fn(*args)) - expected).max())
        for name, (fn, args) in runners.items()
    }


def time_runners(
    runners: dict[str, tuple[Callable, tuple]], n_ops: int, repeat: int, number: int
) -> dict[str, dict[str, Any]]:
    """Interleaved samples of each runner, summarized in microseconds per op."""
    names = list(runners)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for fn, args in runners.values():
        fn(*args)
    for r in range(repeat):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn, args = runners[name]
            seconds = _common.time_once(_repeated(fn, args, number), disable_gc=True)
            samples[name].append(seconds / (number * n_ops))
    return {name: _common.summarize(s, scale=1e6) for name, s in samples.items()}


def _repeated(fn: Callable, args: tuple, number: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(number):
            fn(*args)

    return run


def per_kind(torch: Any, n_ops: int, repeat: int, number: int) -> dict[str, dict[str, Any]]:
    """µs/op of each op kind alone (numpy, refimpl_aten, refimpl_kernel, torch_aten)."""
    out = {}
    for kind in KINDS:
        runners = build_runners(single_kind_program(kind, n_ops), torch)
        chosen = {k: runners[k] for k in ("numpy", "refimpl_aten", "refimpl_kernel", "torch_aten")}
        out[kind] = time_runners(chosen, n_ops, repeat, number)
    return out


def profile_refimpl(
    runners: dict[str, tuple[Callable, tuple]], calls: int, top: int = 15
) -> list[dict[str, Any]]:
    """cProfile of the refimpl aten program: the top functions by own (tottime) time."""
    fn, args = runners["refimpl_aten"]
    profiler = cProfile.Profile()
    _common.time_once(lambda: _profiled(profiler, fn, args, calls), disable_gc=True)
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = sum(entry[2] for entry in stats.stats.values())
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    return [
        {
            "function": _where(func),
            "ncalls": nc,
            "tottime_s": tt,
            "cumtime_s": ct,
            "share_of_total": tt / total,
        }
        for func, (_, nc, tt, ct, _) in rows
    ]


def _profiled(profiler: cProfile.Profile, fn: Callable, args: tuple, calls: int) -> None:
    profiler.enable()
    for _ in range(calls):
        fn(*args)
    profiler.disable()


def _where(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    path = filename.split("/refimpl/")[-1] if "/refimpl/" in filename else filename
    prefix = "refimpl/" if "/refimpl/" in filename else ""
    return f"{prefix}{path}:{line}({name})"


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def ratios(fig: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    r = _common.ratio
    return {
        "refimpl_aten/torch_aten": r(fig["refimpl_aten"], fig["torch_aten"]),
        "refimpl_method/torch_method": r(fig["refimpl_method"], fig["torch_method"]),
        "refimpl_aten/numpy": r(fig["refimpl_aten"], fig["numpy"]),
        "refimpl_method/numpy": r(fig["refimpl_method"], fig["numpy"]),
        "refimpl_kernel/numpy": r(fig["refimpl_kernel"], fig["numpy"]),
        "torch_aten/numpy": r(fig["torch_aten"], fig["numpy"]),
        "refimpl_dispatch_share": {
            k: 1 - fig["refimpl_kernel"][k] / fig["refimpl_aten"][k] for k in ("median", "min")
        },
    }


def print_report(result: dict[str, Any]) -> None:
    fig = result["us_per_op"]
    n_ops, samples = result["settings"]["n_ops"], fig["numpy"]["n"]
    print(f"\n{n_ops}-op program, µs/op (median / min over {samples} samples)")
    _common.print_table(
        ["spelling", "median µs/op", "min µs/op"],
        [[k, v["median"], v["min"]] for k, v in fig.items()],
    )
    print()
    _common.print_table(
        ["ratio", "median", "min"],
        [[k, v["median"], v["min"]] for k, v in result["ratios"].items()],
    )
    print()
    _common.print_target("per_op", result["target"])
    if result.get("per_kind"):
        print("\nper op kind, median µs/op")
        _common.print_table(
            ["op", "numpy", "refimpl_aten", "refimpl_kernel", "torch_aten", "refimpl/torch"],
            [
                [
                    k,
                    v["numpy"]["median"],
                    v["refimpl_aten"]["median"],
                    v["refimpl_kernel"]["median"],
                    v["torch_aten"]["median"],
                    v["refimpl_aten"]["median"] / v["torch_aten"]["median"],
                ]
                for k, v in result["per_kind"].items()
            ],
        )
    if result.get("profile"):
        print("\ncProfile of refimpl_aten, top functions by own time")
        _common.print_table(
            ["function", "ncalls", "tottime s", "share"],
            [
                [p["function"], p["ncalls"], p["tottime_s"], p["share_of_total"]]
                for p in result["profile"]
            ],
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = _common.base_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--profile", action="store_true", help="profile refimpl even when it meets the target"
    )
    parser.add_argument("--no-per-kind", action="store_true", help="skip the per-op-kind breakdown")
    opts = parser.parse_args(argv)
    import torch  # after the parser, so --help works without torch

    repeat = opts.repeat or (3 if opts.quick else 31)
    number = 2 if opts.quick else 4
    n_ops = 200 if opts.quick else N_OPS
    steps = generate_program(n_ops, SEED)
    runners = build_runners(steps, torch)
    _common.freeze_heap()
    result: dict[str, Any] = {
        "benchmark": "dense_eager",
        "machine": _common.machine_info(),
        "versions": _common.versions(torch, np) | {"torch_num_threads": torch.get_num_threads()},
        "settings": {
            "seed": SEED,
            "n_ops": n_ops,
            "shape": list(SHAPE),
            "dtype": "float32",
            "repeat": repeat,
            "programs_per_sample": number,
            "quick": opts.quick,
            "op_counts": {k: sum(s.kind == k for s in steps) for k in KINDS},
        },
        "max_abs_diff_vs_numpy": agreement(runners),
    }
    fig = time_runners(runners, n_ops, repeat, number)
    result["us_per_op"] = fig
    result["ratios"] = ratios(fig)
    result["target"] = _common.target_status(
        f"refimpl_aten/torch_aten <= {TARGET_RATIO:g}",
        result["ratios"]["refimpl_aten/torch_aten"],
        lambda v: v <= TARGET_RATIO,
    )
    if not opts.no_per_kind:
        result["per_kind"] = per_kind(torch, 50 if opts.quick else 200, max(3, repeat // 3), number)
    if opts.profile or result["target"]["status"] != "met":
        result["profile"] = profile_refimpl(runners, calls=2 if opts.quick else 20)
    result["machine"]["loadavg_at_end"] = _common.load_average()
    print_report(result)
    if opts.json:
        _common.write_json(opts.json, result)
    return result


if __name__ == "__main__":
    main()
