"""Record what the installed torch does on the control-flow cases (`control_flow_cases.py`).

    python tests/golden/record_control_flow.py   # writes tests/golden/torch-<X.Y>/control_flow.json
    /work/venv-214/bin/python tests/golden/record_control_flow.py   # another build

The file maps each case to its texts; it also records the torch version and git version.
`test_control_flow_golden.py` compares refimpl with it, and a torch-marked test there re-runs the
cases in the installed torch against the recording.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from control_flow_api import TorchApi  # noqa: E402
from control_flow_cases import CASES  # noqa: E402


def record() -> dict:
    import torch  # noqa: PLC0415

    api = TorchApi()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = {name: fn(api) for name, fn in CASES.items()}
    return {"torch": torch.__version__, "git_version": torch.version.git_version, "cases": cases}


def main() -> None:
    import torch  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    series = ".".join(torch.__version__.split(".")[:2])
    parser.add_argument("--out", type=Path, default=HERE / f"torch-{series}")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "control_flow.json"
    path.write_text(json.dumps(record(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
