"""Record what the installed torch does on the control-flow cases (`control_flow_cases.py`).

    python tests/golden/record_control_flow.py   # writes tests/golden/torch-<X.Y>/control_flow.json
    /work/venv-214/bin/python tests/golden/record_control_flow.py   # another build

The file maps each case to its texts; it also records the torch version and git version.
`test_control_flow_golden.py` compares refimpl with it, and a torch-marked test there re-runs the
cases in the installed torch against the recording.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from control_flow_api import TorchApi  # noqa: E402
from control_flow_cases import CASES  # noqa: E402
from recording import write_recording  # noqa: E402


def record() -> dict:
    import torch  # noqa: PLC0415

    api = TorchApi()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = {name: fn(api) for name, fn in CASES.items()}
    return {"torch": torch.__version__, "git_version": torch.version.git_version, "cases": cases}


def main() -> None:
    write_recording("control_flow.json", record, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
