"""Mutate the catalog's program files and count how the loader answers each (PRG-39 to PRG-41).

Models: nothing upstream. Each mutant is a catalog file with a few byte-level edits (flipped,
deleted, repeated or inserted bytes, including deep brackets, long digit runs, invalid UTF-8 and
lone surrogates) or one JSON node replaced by an odd value. `load_program` must answer every one
with a `Program` or a `ProgramError`; anything else is an escape, printed with its input.

    python3 -m oracle.tools.malformed_programs --count 10000 --seed 0

`mutate` is shared with the property test (tests/oracle/test_program_limits.py), which draws its
`random.Random` from Hypothesis so that an escape shrinks.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

from oracle.program import CATALOG_DIR, ProgramError, load_program

# Insertions that reach each limit and each decoder fault.
_INSERTS = (b"[" * 5000, b'{"a":' * 3000, b"9" * 5000, b"\xff\xfe", b"\xc3", b'"x": 1, ',
            b"-", b"null", b"1e999", b'"\\ud800"', b"NaN", b"\x00", b'"' + b"y" * 70000 + b'"')
_ODD_VALUES = (None, -1, 0, 1 << 70, 1.5, float("inf"), "", "x" * 5000, [], {}, [[[]]], True,
               {"ref": "x"}, {"ref": 3}, {"ref": "x", "index": -1}, [1] * 100,
               "aten::add.Tensor", "fz::rec.default", "\ud800")


def catalog_texts() -> list[bytes]:
    return [p.read_bytes() for p in sorted(CATALOG_DIR.glob("*.json"))]


def _byte_edit(data: bytearray, rng: random.Random) -> bytearray:
    i = rng.randrange(len(data))
    kind = rng.randrange(4)
    if kind == 0:
        data[i] = rng.randrange(256)
    elif kind == 1:
        del data[i:i + rng.randint(1, 20)]
    elif kind == 2:
        data[i:i] = rng.choice(_INSERTS)
    else:
        j = rng.randrange(len(data))
        data[i:i] = data[j:j + rng.randint(1, 50)]
    return data


def _node_edit(doc: object, rng: random.Random) -> bytes:
    slots: list[tuple[object, object]] = []
    stack = [doc]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            slots.append((node, key))
            if isinstance(value, (dict, list)):
                stack.append(value)
    if slots:
        parent, key = rng.choice(slots)
        parent[key] = rng.choice(_ODD_VALUES)
    return json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")


def mutate(source: bytes, rng: random.Random) -> bytes:
    """A mutant of one program file: byte edits (60%) or one JSON node replaced."""
    if rng.random() < 0.6:
        data = bytearray(source)
        for _ in range(rng.randint(1, 4)):
            if data:
                data = _byte_edit(data, rng)
        return bytes(data)
    return _node_edit(json.loads(source), rng)


def answer(path: Path) -> str:
    """`"ok"`, `"ProgramError"`, or the escaping exception's type name."""
    try:
        load_program(path)
    except ProgramError:
        return "ProgramError"
    except Exception as exc:  # noqa: BLE001 - an escape is what this tool counts
        return type(exc).__name__
    return "ok"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oracle.tools.malformed_programs")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    sources = catalog_texts()
    counts: collections.Counter[str] = collections.Counter()
    slowest = 0.0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutant.json"
        for _ in range(args.count):
            data = mutate(rng.choice(sources), rng)
            path.write_bytes(data)
            began = time.perf_counter()
            outcome = answer(path)
            slowest = max(slowest, time.perf_counter() - began)
            counts[outcome] += 1
            if outcome not in ("ok", "ProgramError"):
                try:
                    load_program(path)
                except Exception:  # noqa: BLE001 - print the escape's traceback
                    print(f"escape with input {data[:200]!r}:\n{traceback.format_exc()}")
    escapes = args.count - counts["ok"] - counts["ProgramError"]
    print(f"{args.count} mutants in {time.perf_counter() - start:.1f} s (slowest {slowest:.2f} s): "
          f"{counts['ProgramError']} ProgramError, {counts['ok']} valid, {escapes} escapes "
          f"{dict(counts)}")
    return 1 if escapes else 0


if __name__ == "__main__":
    sys.exit(main())
