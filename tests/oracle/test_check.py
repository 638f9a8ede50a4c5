"""The built-in catalog agrees with the installed torch (2.13, 2.14 or 2.15) on the structural
paths (the main job, in CI), under the profile of that build.

Spec: RPT-1, RPT-2, RPT-3, RPT-5, RPT-7.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.torch

STRUCTURAL = ["eager", "fake", "make_fx", "functional", "export"]


@pytest.fixture(scope="module")
def catalog_run():
    pytest.importorskip("torch")
    from oracle.check import run_check
    from oracle.program import load_catalog

    return run_check(load_catalog(), STRUCTURAL)


@pytest.mark.spec("RPT-2", "RPT-3", "RPT-7")
def test_catalog_agrees_on_structural_paths(catalog_run):
    bad = [f"{r.program} [{r.path}]: {r.status} {r.details}" for r in catalog_run.results
           if r.status not in ("agree", "known")]
    assert not bad, "expected every catalog program to agree; got:\n" + "\n".join(bad)
    from refimpl.profiles import profile_for_torch_version

    expected = profile_for_torch_version(catalog_run.torch_version).name
    profile = catalog_run.profile
    assert profile == expected, (
        f"expected the profile of torch {catalog_run.torch_version}, {expected}, got {profile}"
    )


@pytest.mark.spec("RPT-7", "EFF-27")
def test_an_unprofiled_torch_runs_the_nearest_profile_with_a_warning(isolated_profile):
    from oracle.check import select_profile
    from refimpl.profiles import UnprofiledTorchWarning

    with pytest.warns(UnprofiledTorchWarning, match=r"torch 2\.99\.0.*torch-2\.15"):
        came = select_profile(None, "2.99.0")
    assert came == "torch-2.15", f"expected the nearest profile torch-2.15, got {came}"


@pytest.fixture
def isolated_profile():
    import refimpl

    previous = refimpl.get_profile()
    yield
    refimpl.set_profile(previous)


@pytest.mark.spec("RPT-5")
def test_json_report_shape(catalog_run):
    from oracle.check import STATUSES
    from oracle.report import REPORT_FORMAT, to_json

    report = json.loads(json.dumps(to_json(catalog_run), default=str))
    assert report["format"] == REPORT_FORMAT
    assert set(report["summary"]) == {"agree", "diverge", "error", "skip", "known", "unmet",
                                      "invalid"} == set(STATUSES), f"got {report['summary']}"
    first = report["results"][0]
    for key in ("program", "path", "status", "kinds", "torch", "reference"):
        assert key in first, f"expected {key!r} in a result, got {sorted(first)}"


@pytest.mark.spec("RPT-1")
def test_cli_exit_code_for_invalid_program(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "effects-program/1", "name": "x", "inputs": [],
                               "body": [{"op": "aten::nope.default", "args": []}],
                               "outputs": []}))
    proc = subprocess.run([sys.executable, "-m", "oracle", "check", str(bad), "--paths", "eager"],
                          capture_output=True, text=True)
    assert proc.returncode == 2, f"expected exit 2, got {proc.returncode}: {proc.stderr}"
    assert "$.body[0]" in proc.stderr, f"expected the JSON path in the message: {proc.stderr}"


@pytest.mark.spec("RPT-1")
def test_cli_junit_on_one_program(tmp_path):
    from oracle.program import catalog_paths

    out = tmp_path / "r.xml"
    proc = subprocess.run([sys.executable, "-m", "oracle", "check", str(catalog_paths()[0]),
                           "--paths", "eager,make_fx", "--format", "junit", "--output", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"expected agreement (exit 0), got {proc.returncode}"
    assert out.read_text().startswith("<testsuites"), "expected JUnit XML"


@pytest.mark.spec("PRG-30", "RPT-13")
def test_inputs_named_like_generated_code_run_on_both_sides():
    from oracle.check import run_check
    from oracle.program import load_program

    inputs = [{"name": n, "shape": [2], "dtype": "float32"} for n in ("program", "in0")]
    body = [{"op": "aten::add.Tensor", "args": [{"ref": "program"}, {"ref": "in0"}],
             "outs": ["y"]}]
    program = load_program({"format": "effects-program/1", "name": "clash", "inputs": inputs,
                            "body": body, "outputs": ["y"]})
    run = run_check([program], ["eager", "make_fx"])
    for result in run.results:
        t_obs, r_obs = run.observations[(result.program, result.path)]
        assert result.status == "agree", f"expected agree, got {result.status}: {result.details}"
        assert t_obs.error is None and r_obs.error is None, (
            f"expected both sides to run, got torch {t_obs.error}, refimpl {r_obs.error}")
        assert t_obs.outputs[0].values == [0.0, 2.0], f"expected x + x, got {t_obs.outputs}"
