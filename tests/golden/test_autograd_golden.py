"""refimpl's autograd reproduces what each torch build recorded on the autograd cases.

Models: `autograd_cases.py` run in refimpl (`RefimplApi`) under the profile of each recording
`torch-<major.minor>/autograd.json` (written by `record_autograd.py`), compared text for text:
traced backward graphs, grads, `grad_fn` names and edges, versions, error types and messages.
The torch-marked test re-runs the cases in the installed torch against its own recording, so a
recording that no longer says what torch does fails.
Spec: AG-1 .. AG-9.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from refimpl.profiles import get_profile, profile_for_torch_version, set_profile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from autograd_api import RefimplApi, TorchApi  # noqa: E402
from autograd_cases import CASES  # noqa: E402
from recording import diff, recordings  # noqa: E402

RECORDINGS = recordings("autograd.json")


@pytest.mark.spec("AG-1", "AG-2", "AG-3", "AG-4", "AG-5", "AG-6", "AG-7", "AG-8", "AG-9",
                  "AG-10", "AG-11")
@pytest.mark.parametrize("build", sorted(RECORDINGS))
@pytest.mark.parametrize("name", sorted(CASES))
def test_refimpl_reproduces_the_recorded_case(build: str, name: str) -> None:
    recording = RECORDINGS[build]
    expected = recording["cases"].get(name)
    if expected is None:
        pytest.skip(f"{build} has no recording of {name}: run record_autograd.py with it")
    previous = get_profile()
    set_profile(profile_for_torch_version(recording["torch"]))
    try:
        got = CASES[name](RefimplApi())
    finally:
        set_profile(previous)
    assert got == expected, f"{name} departs from torch {recording['torch']}:\n" + diff(
        expected, got)


@pytest.mark.torch
@pytest.mark.spec("AG-1")
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_recording_says_what_the_installed_torch_does(name: str) -> None:
    import torch  # noqa: PLC0415

    build = "torch-" + ".".join(torch.__version__.split(".")[:2])
    if build not in RECORDINGS or name not in RECORDINGS[build]["cases"]:
        pytest.skip(f"no {build} recording of {name}")
    got = CASES[name](TorchApi())
    expected = RECORDINGS[build]["cases"][name]
    assert got == expected, f"torch {torch.__version__} no longer does what was recorded:\n" \
        + diff(expected, got)
