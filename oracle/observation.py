"""What one run of one program on one path showed: outputs, effect log, graph, code, error.

Models: nothing upstream; the record both runners (torch, refimpl) fill in so that the
comparison reads "the same program twice".
Spec: the oracle contract (Observation, ValueObs, ErrorObs); docs/architecture.md (effect log).

Simplifications:
1. `outputs` is the program's outputs flattened in order: a `Tensor[]` output gives one `ValueObs`
   per element, a `None` gives `ValueObs((), "None", None)`, a Python number or string gives
   `ValueObs((), "<type name>", [value])`.
2. `ValueObs.values` is the tensor's elements flattened in row-major order (`None` on paths that
   only see metadata, e.g. `fake`). Floats stay Python floats (NaN and inf survive the JSON
   round trip, as Python's `json` writes them). A tensor of more than `LISTED_ELEMENTS`
   elements keeps them as a 1-D numpy array instead ([NOTE: large values] in oracle/report.py):
   a list of 16M Python floats costs half a gigabyte, the array 64 MB. `to_json()` makes it a
   list; `to_json(arrays=True)` keeps it, for the worker's pickle and for the report writer.
3. Events are frozen to tuples all the way down (`freeze`), so an `int[]` argument compares the
   same whether it came from a run or from JSON.
4. `signature` is free-form JSON: the graph-signature fields a path reports
   (`input_tokens`, `user_inputs_to_mutate`, ...), or None.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from oracle.canonical import CanonicalGraph

T = TypeVar("T")

SIDES = ("torch", "refimpl")
PATHS = ("eager", "fake", "make_fx", "functional", "export", "compile:aot_eager",
         "compile:inductor")
COMPILE_PATHS = ("compile:aot_eager", "compile:inductor")
LISTED_ELEMENTS = 1024  # larger outputs keep their values as a numpy array (Simplification 2)


def unknown_path(path: str) -> ValueError:
    """The error for a path that is not one of `PATHS` (the runners and `oracle check`)."""
    return ValueError(f"unknown path {path!r}; expected one of {', '.join(PATHS)}")


def path_table(table: dict[str, T], what: str) -> dict[str, T]:
    """`table` (one entry per path: a runner's functions, the worker timeouts) checked to have
    exactly the paths of `PATHS`, in that order; an added path that a table lacks fails at import,
    naming the table."""
    if list(table) != list(PATHS):
        missing = [p for p in PATHS if p not in table]
        extra = [p for p in table if p not in PATHS]
        raise RuntimeError(f"{what} must have one entry per path of oracle.observation.PATHS in "
                           f"order; missing {missing}, unknown {extra}")
    return table


def parse_paths(text: str) -> list[str]:
    """``"eager,make_fx"`` -> a list of known paths; ``ValueError`` naming the unknown ones."""
    paths = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in paths if p not in PATHS]
    if unknown or not paths:
        raise ValueError(
            f"unknown path(s) {', '.join(unknown)}; expected some of {', '.join(PATHS)}")
    return paths


def freeze(value: Any) -> Any:
    """Lists and tuples become tuples, recursively (events are compared as tuples)."""
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def split_print_lines(log: list) -> list:
    """Each line that an `aten::_print` event writes as its own event (RPT-12).

    `aten::_print(s)` writes `s` and a newline, so `"a\\nb"` is the lines `a`, `b` and `"c\\n"` is
    `c`, `""`: what the torch runner reads from file descriptor 1.
    """
    out = []
    for event in log:
        if event[0] == "aten::_print" and len(event[1]) == 1 and isinstance(event[1][0], str):
            out.extend(("aten::_print", (line,), event[2]) for line in event[1][0].split("\n"))
        else:
            out.append(event)
    return out


def _thaw(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class ValueObs:
    """One output value: shape, dtype name (`float32`...), flat values or None."""

    shape: tuple[int, ...]
    dtype: str
    values: list | np.ndarray | None

    def to_json(self, *, arrays: bool = False) -> dict:
        values = self.values
        if isinstance(values, np.ndarray) and not arrays:
            values = values.tolist()
        return {"shape": list(self.shape), "dtype": self.dtype, "values": values}

    @classmethod
    def from_json(cls, data: dict) -> ValueObs:
        values = data.get("values")
        if values is not None and not isinstance(values, np.ndarray):
            values = list(values)
        return cls(tuple(data["shape"]), data["dtype"], values)


@dataclass(frozen=True)
class ErrorObs:
    """An exception seen on a path: its type name and the first line(s) of its message."""

    type: str
    message: str

    def to_json(self) -> dict:
        return {"type": self.type, "message": self.message}

    @classmethod
    def from_json(cls, data: dict) -> ErrorObs:
        return cls(data["type"], data["message"])

    @classmethod
    def from_exception(cls, exc: BaseException, lines: int = 3) -> ErrorObs:
        """Type name and the first `lines` non-empty lines of `str(exc)`."""
        text = [line for line in str(exc).splitlines() if line.strip()]
        return cls(type(exc).__name__, "\n".join(text[:lines]))


def value_obs(value: Any, tensor_type: type, describe: Any, *,
              with_values: bool = True) -> list[ValueObs]:
    """Outputs flattened in order (Simplification 1), for either world.

    ``describe(tensor, with_values) -> ValueObs`` reads one tensor of ``tensor_type``.
    """
    if isinstance(value, (list, tuple)):
        return [obs for v in value
                for obs in value_obs(v, tensor_type, describe, with_values=with_values)]
    if value is None:
        return [ValueObs((), "None", None)]
    if isinstance(value, tensor_type):
        return [describe(value, with_values)]
    return [ValueObs((), type(value).__name__, [value])]


@dataclass
class Observation:
    """One program on one path of one side. `error` or `skipped` replace outputs when set."""

    path: str
    side: str
    outputs: list[ValueObs] | None = None
    effect_log: list[tuple] = field(default_factory=list)
    graph: CanonicalGraph | None = None
    code: str | None = None
    error: ErrorObs | None = None
    skipped: str | None = None
    seconds: float = 0.0
    signature: dict | None = None
    generated_code: list[str] | None = None  # compile:inductor: the modules inductor wrote
    grads: list[ValueObs] | None = None  # PRG-52: the grads of the requires_grad inputs
    backward_code: str | None = None  # compile:aot_eager: the backward graph

    def __post_init__(self) -> None:
        self.effect_log = [freeze(e) for e in self.effect_log]

    def to_json(self, *, arrays: bool = False) -> dict:
        """Plain JSON; `arrays=True` leaves large outputs' values as numpy arrays."""
        outputs = self.outputs
        return {
            "path": self.path,
            "side": self.side,
            "outputs": None if outputs is None else [v.to_json(arrays=arrays) for v in outputs],
            "effect_log": [_thaw(e) for e in self.effect_log],
            "graph": None if self.graph is None else self.graph.to_json(),
            "code": self.code,
            "error": None if self.error is None else self.error.to_json(),
            "skipped": self.skipped,
            "seconds": self.seconds,
            "signature": self.signature,
            "generated_code": self.generated_code,
            "grads": None if self.grads is None else [v.to_json(arrays=arrays) for v in self.grads],
            "backward_code": self.backward_code,
        }

    @classmethod
    def from_json(cls, data: dict | str) -> Observation:
        if isinstance(data, str):
            data = json.loads(data)
        outputs = data.get("outputs")
        graph = data.get("graph")
        error = data.get("error")
        return cls(
            path=data["path"],
            side=data["side"],
            outputs=None if outputs is None else [ValueObs.from_json(v) for v in outputs],
            effect_log=[freeze(e) for e in data.get("effect_log", [])],
            graph=None if graph is None else CanonicalGraph.from_json(graph),
            code=data.get("code"),
            error=None if error is None else ErrorObs.from_json(error),
            skipped=data.get("skipped"),
            seconds=float(data.get("seconds", 0.0)),
            signature=data.get("signature"),
            generated_code=data.get("generated_code"),
            grads=None if data.get("grads") is None else [ValueObs.from_json(v)
                                                          for v in data["grads"]],
            backward_code=data.get("backward_code"),
        )

    def dumps(self) -> str:
        """The JSON text of `to_json()`."""
        return json.dumps(self.to_json(), sort_keys=True)
