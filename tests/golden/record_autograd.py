"""Record what the installed torch does on the autograd cases (`autograd_cases.py`).

    python tests/golden/record_autograd.py   # writes tests/golden/torch-<X.Y>/autograd.json
    /work/venv-214/bin/python tests/golden/record_autograd.py   # another build

The file maps each case to its texts (`graph`, `grads`, `names`, `errors`); it also records the
torch version and git version. `tests/refimpl/test_autograd.py` compares refimpl with it, and a
torch-marked test there re-runs the cases in the installed torch against the recording.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from autograd_api import TorchApi  # noqa: E402
from autograd_cases import CASES  # noqa: E402


def record() -> dict:
    import torch  # noqa: PLC0415

    api = TorchApi()
    return {"torch": torch.__version__, "git_version": torch.version.git_version,
            "cases": {name: fn(api) for name, fn in CASES.items()}}


def main() -> None:
    import torch  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    series = ".".join(torch.__version__.split(".")[:2])
    parser.add_argument("--out", type=Path, default=HERE / f"torch-{series}")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "autograd.json"
    path.write_text(json.dumps(record(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
