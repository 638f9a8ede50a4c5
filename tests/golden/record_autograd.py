"""Record what the installed torch does on the autograd cases (`autograd_cases.py`).

    python tests/golden/record_autograd.py   # writes tests/golden/torch-<X.Y>/autograd.json
    /work/venv-214/bin/python tests/golden/record_autograd.py   # another build

The file maps each case to its texts (`graph`, `grads`, `names`, `errors`); it also records the
torch version and git version. `tests/refimpl/test_autograd.py` compares refimpl with it, and a
torch-marked test there re-runs the cases in the installed torch against the recording.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from autograd_api import TorchApi  # noqa: E402
from autograd_cases import CASES  # noqa: E402
from recording import write_recording  # noqa: E402


def record() -> dict:
    import torch  # noqa: PLC0415

    api = TorchApi()
    return {"torch": torch.__version__, "git_version": torch.version.git_version,
            "cases": {name: fn(api) for name, fn in CASES.items()}}


def main() -> None:
    write_recording("autograd.json", record, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
