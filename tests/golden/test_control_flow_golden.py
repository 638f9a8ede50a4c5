"""refimpl's cond and while_loop reproduce what each torch build recorded on the control-flow cases.

Models: `control_flow_cases.py` run in refimpl (`RefimplApi`) under the profile of each recording
`torch-<major.minor>/control_flow.json` (written by `record_control_flow.py`), compared text for
text: the eager effect log, make_fx and aot_export graphs with their subgraphs, the signature's
tokens, and running the exported graph (its effect log or its error). The torch-marked test
re-runs the cases in the installed torch against its own recording, so a recording that no longer
says what torch does fails.
Spec: CF-1 .. CF-11, FX-8.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest

from refimpl.profiles import get_profile, profile_for_torch_version, set_profile

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from control_flow_api import RefimplApi, TorchApi  # noqa: E402
from control_flow_cases import CASES  # noqa: E402
from recording import diff, recordings  # noqa: E402

RECORDINGS = recordings("control_flow.json")


@pytest.mark.spec("CF-1", "CF-2", "CF-3", "CF-5", "CF-6", "CF-7", "CF-8", "CF-9", "CF-10",
                  "CF-11", "FX-8")
@pytest.mark.parametrize("build", sorted(RECORDINGS))
@pytest.mark.parametrize("name", sorted(CASES))
def test_refimpl_reproduces_the_recorded_case(build: str, name: str) -> None:
    recording = RECORDINGS[build]
    expected = recording["cases"].get(name)
    if expected is None:
        pytest.skip(f"{build} has no recording of {name}: run record_control_flow.py with it")
    previous = get_profile()
    set_profile(profile_for_torch_version(recording["torch"]))
    try:
        got = CASES[name](RefimplApi())
    finally:
        set_profile(previous)
    assert got == expected, f"refimpl departs from {build} on {name}:\n{diff(expected, got)}"


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_recording_still_says_what_torch_does(name: str) -> None:
    import torch  # noqa: PLC0415

    build = "torch-" + ".".join(torch.__version__.split(".")[:2])
    if build not in RECORDINGS:
        pytest.skip(f"no recording for {torch.__version__}")
    expected = RECORDINGS[build]["cases"].get(name)
    if expected is None:
        pytest.skip(f"{build} has no recording of {name}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = CASES[name](TorchApi())
    assert got == expected, f"torch {torch.__version__} departs from its recording of {name}:\n" \
                            f"{diff(expected, got)}"
