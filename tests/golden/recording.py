"""What the case recorders (`record_autograd.py`, `record_control_flow.py`) and their tests share:
reading each build's recording, writing the installed build's, and a per-kind diff."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent


def recordings(filename: str) -> dict[str, dict]:
    """`{"torch-2.13": recording, ...}` for every `torch-*/<filename>`."""
    return {p.parent.name: json.loads(p.read_text())
            for p in sorted(HERE.glob(f"torch-*/{filename}"))}


def diff(expected: dict, got: dict) -> str:
    """Each kind whose texts differ, torch's then refimpl's."""
    lines = []
    for kind in sorted(set(expected) | set(got)):
        if expected.get(kind) != got.get(kind):
            lines.append(f"--- {kind} (torch)\n{expected.get(kind)}\n+++ {kind} (refimpl)\n"
                         f"{got.get(kind)}")
    return "\n".join(lines)


def write_recording(filename: str, record: Callable[[], dict], description: str) -> None:
    """The recorders' command line: `--out` (default `torch-<X.Y>/` of the installed torch)."""
    import torch  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=description)
    series = ".".join(torch.__version__.split(".")[:2])
    parser.add_argument("--out", type=Path, default=HERE / f"torch-{series}")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / filename
    path.write_text(json.dumps(record(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}")
