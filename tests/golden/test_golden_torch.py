"""Golden texts recorded from torch: still reproduced by the installed torch, equal to the
torch 2.13 reference outputs where those print the same thing, and the profiles' switches
equal to what each recorded build showed.

Models: `tests/golden/record.py` run with `TorchWorld`; the reference scenarios in
`/work/shared/reference/torch-2.13/scenarios/*.out` (override with `TORCH_REFERENCE_DIR`).

Spec: TRC-1 .. TRC-13 (each scenario's clauses, see `scenarios.py`), EFF-26.

Simplifications:
1. The re-run tests (`@pytest.mark.torch`) run `record.py` in a subprocess, compare with
   `torch-<installed major.minor>/`, and skip when torch is missing or nothing was recorded for
   that series.
2. The reference tests need no torch; they skip when the reference folder is absent. The
   reference is torch 2.13.0's, so they read the `torch-2.13/` recording whatever is installed.
3. Reference graphs use namespaces `cat04` .. `cat11`; they are rewritten to `gold` first.
4. The profile tests need no torch either: they read every recording's `MANIFEST.json`.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from refimpl.profiles import available_profiles, profile_for_torch_version

HERE = Path(__file__).resolve().parent


def _load_record():
    name = "_golden_record"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "record.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


record = _load_record()
SCENARIOS = record.scenarios.SCENARIOS
GOLDEN_213 = HERE / "torch-2.13"  # the recording the torch 2.13 reference is compared with
BUILDS = record.recorded_builds()
REFERENCE = Path(
    os.environ.get("TORCH_REFERENCE_DIR", "/work/shared/reference/torch-2.13/scenarios")
)


def _diff(expected, came):
    return "".join(
        difflib.unified_diff(
            expected.splitlines(True), came.splitlines(True), "expected", "came", n=2
        )
    )


def _spec_marks(*specs):
    return [pytest.mark.spec(s) for s in specs]


def _scenario_params():
    return [
        pytest.param(name, marks=_spec_marks(*sc.specs), id=name) for name, sc in SCENARIOS.items()
    ]


# ---------------------------------------------------------------------------------------------
# The installed torch still produces the recorded files
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch_recording(tmp_path_factory):
    """`(golden folder, {file: text})` from `record.py` run with the installed torch.

    [NOTE: record in a subprocess] The recording runs in a child process, so this pytest
    process never imports torch (tests elsewhere check that refimpl stays torch-free) and keeps
    no custom ops or effect registrations from the scenarios.
    """
    out = tmp_path_factory.mktemp("golden")
    command = [sys.executable, "-W", "ignore", str(HERE / "record.py"), "--out", str(out)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"expected record.py to succeed, came:\n{proc.stderr[-4000:]}"
    manifest = record.read_manifest(out)
    folder = record.golden_dir(manifest["torch_version"])
    if not (folder / record.MANIFEST).is_file():
        pytest.skip(f"no golden texts recorded for torch {manifest['torch_version']} in "
                    f"{folder} (record them: python tests/golden/record.py)")
    files = {path.name: path.read_text() for path in out.glob("*.txt")}
    return folder, files, manifest


@pytest.mark.torch
@pytest.mark.parametrize("name", _scenario_params())
def test_torch_still_matches_recording(name, torch_recording):
    folder, files, _ = torch_recording
    for file, came in files.items():
        if not file.startswith(f"{name}."):
            continue
        path = folder / file
        assert path.is_file(), f"expected a recorded {path}, came: no such file (re-record)"
        expected = path.read_text()
        assert came == expected, (
            f"{file}: expected the recorded text, came:\n{_diff(expected, came)}"
        )


@pytest.mark.torch
def test_recording_has_no_stale_files(torch_recording):
    folder, files, _ = torch_recording
    on_disk = {p.name for p in folder.glob("*.txt")}
    assert on_disk == set(files), (
        f"expected exactly the files a run produces; only on disk: {sorted(on_disk - set(files))},"
        f" only produced: {sorted(set(files) - on_disk)}"
    )


@pytest.mark.torch
@pytest.mark.spec("EFF-26")
def test_torch_still_shows_the_recorded_switches(torch_recording):
    folder, _, manifest = torch_recording
    expected = record.read_manifest(folder).get("switches")
    assert manifest["switches"] == expected, (
        f"expected the switches recorded in {folder}, came {manifest['switches']} (re-record)"
    )


# ---------------------------------------------------------------------------------------------
# The recordings are complete and documented
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("build", list(BUILDS))
def test_manifest_lists_every_scenario(build):
    data = record.read_manifest(BUILDS[build])
    assert list(data["scenarios"]) == list(SCENARIOS), (
        f"expected {build} MANIFEST scenarios {list(SCENARIOS)}, came {list(data['scenarios'])}"
    )
    series = build.removeprefix("torch-")
    assert record.torch_series(data["torch_version"]) == series, (
        f"expected a torch {series} recording in {build}, came {data['torch_version']}"
    )


# ---------------------------------------------------------------------------------------------
# Each profile is a claim about the builds it matches (EFF-26)
# ---------------------------------------------------------------------------------------------


@pytest.mark.spec("EFF-26", "DSP-23", "DSP-24")
@pytest.mark.parametrize("build", list(BUILDS))
def test_profile_switches_equal_the_recorded_ones(build):
    data = record.read_manifest(BUILDS[build])
    try:
        profile = profile_for_torch_version(data["torch_version"])
    except LookupError:
        pytest.skip(f"no profile claims the {build} recording (torch {data['torch_version']})")
    recorded = data.get("switches")
    assert recorded, f"expected {build} MANIFEST to record switches, came {recorded!r} (re-record)"
    assert set(recorded) == set(record.scenarios.SWITCH_PROBES), (
        f"expected every probed switch recorded in {build}, came {sorted(recorded)}"
    )
    came = {key: _json_value(getattr(profile, key)) for key in recorded}
    assert came == recorded, (
        f"{profile.name}: expected the switches torch {data['torch_version']} showed, {recorded}, "
        f"came {came} (fix {profile.path})"
    )


def _json_value(value):
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.spec("EFF-26")
def test_every_profiled_series_has_a_recording():
    recorded = {record.torch_series(record.read_manifest(f)["torch_version"])
                for f in BUILDS.values()}
    claimed = {v for p in available_profiles().values() for v in p.torch_versions}
    assert claimed <= recorded, (
        f"expected a golden recording for every series a profile claims, came none for "
        f"{sorted(claimed - recorded)} (record one: python tests/golden/record.py)"
    )


def test_readme_describes_every_scenario():
    readme = (HERE / "README.md").read_text()
    missing = [name for name in SCENARIOS if f"`{name}`" not in readme]
    assert not missing, f"expected README.md to describe every scenario, came without {missing}"


# ---------------------------------------------------------------------------------------------
# The recording equals the torch 2.13 reference outputs
# ---------------------------------------------------------------------------------------------


def _reference_text(stem):
    path = REFERENCE / f"{stem}.out"
    if not path.is_file():
        pytest.skip(f"reference output {path} not available")
    return re.sub(r"torch\.ops\.cat\w+\.", "torch.ops.gold.", path.read_text())


def _graph_blocks(text):
    """Every `def forward(...)` block in a reference output, in order."""
    blocks, current = [], None
    for line in text.splitlines():
        if line.startswith("def forward("):
            current = [line]
            blocks.append(current)
        elif current is not None and line.startswith("    "):
            current.append(line)
        else:
            current = None
    return ["\n".join(b) for b in blocks]


def _golden(name, kind):
    return (GOLDEN_213 / record.file_name(name, kind)).read_text().rstrip("\n")


# (scenario, kind, reference stem, index of the `def forward` block, spec clause)
REFERENCE_GRAPHS = [
    ("02_with_effects_add_make_fx", "code", "02_errors", 0, "TRC-9"),
    ("04_make_fx_plain", "code", "04_make_fx_plain", 1, "TRC-9"),
    ("05a_prints_add", "code", "05a_aot_export_prints_add", 0, "TRC-1"),
    ("05b_custom_used", "code", "05b_aot_export_custom_used", 0, "TRC-2"),
    ("05c_custom_unused", "code", "05c_aot_export_unused", 0, "TRC-2"),
    ("05d_interleaved", "code", "05d_aot_export_interleaved", 0, "TRC-3"),
    ("05e_input_mutation", "code", "05e_aot_export_input_mutation", 0, "TRC-4"),
    ("05f_buffer_mutation", "code", "05f_aot_export_buffer_mutation", 0, "TRC-5"),
    ("05g_unlift_tokens", "code", "05g_aot_export_unlift_tokens", 0, "TRC-6"),
    ("05h_multi_output", "code", "05h_aot_export_multi_output", 0, "TRC-7"),
    ("06c_functional_discovery", "code", "06_functionalization_make_fx", 1, "TRC-10"),
    ("06d_functional_seeded", "code", "06_functionalization_make_fx", 2, "TRC-10"),
    ("08_export", "code", "08_torch_export", 0, "TRC-11"),
    ("08_export", "code", "08_torch_export", 3, "TRC-11"),  # export(strict=True)
    ("08_export_decomposed", "code", "08_torch_export", 1, "TRC-11"),
    ("10_backward_only", "forward", "10_backward_only_effect", 0, "TRC-13"),
    ("10_backward_only", "backward", "10_backward_only_effect", 1, "TRC-13"),
    ("10b_forward_and_backward", "forward", "10b_forward_and_backward_effect", 0, "TRC-13"),
    ("10b_forward_and_backward", "backward", "10b_forward_and_backward_effect", 1, "TRC-13"),
    ("11a_dce_plain", "code", "11_fx_dce", 0, "TRC-12"),
    ("11a_dce_plain", "dce", "11_fx_dce", 1, "TRC-12"),
    ("11b_dce_unused_with_effects", "code", "11_fx_dce", 2, "TRC-12"),
    ("11b_dce_unused_with_effects", "dce", "11_fx_dce", 3, "TRC-12"),
    ("11c_dce_token_returned", "code", "11_fx_dce", 4, "TRC-12"),
    ("11c_dce_token_returned", "dce", "11_fx_dce", 5, "TRC-12"),
    ("11d_dce_make_sink_tokens", "code", "11_fx_dce", 6, "TRC-12"),
    ("11d_dce_make_sink_tokens", "dce", "11_fx_dce", 7, "TRC-12"),
]


@pytest.mark.parametrize(
    ("name", "kind", "stem", "index"),
    [
        pytest.param(n, k, s, i, marks=_spec_marks(spec), id=f"{n}.{k}~{s}[{i}]")
        for n, k, s, i, spec in REFERENCE_GRAPHS
    ],
)
def test_recorded_graph_equals_reference(name, kind, stem, index):
    blocks = _graph_blocks(_reference_text(stem))
    assert index < len(blocks), f"expected > {index} graphs in {stem}.out, came {len(blocks)}"
    expected, came = blocks[index], _golden(name, kind)
    assert came == expected, f"{name}.{kind} vs {stem}.out: expected\n{_diff(expected, came)}"


# (scenario, reference stem) whose `sig.<field> = ...` lines the signature file repeats
REFERENCE_SIGNATURES = [
    ("05a_prints_add", "05a_aot_export_prints_add", "TRC-1"),
    ("05b_custom_used", "05b_aot_export_custom_used", "TRC-2"),
    ("05c_custom_unused", "05c_aot_export_unused", "TRC-2"),
    ("05d_interleaved", "05d_aot_export_interleaved", "TRC-3"),
    ("05e_input_mutation", "05e_aot_export_input_mutation", "TRC-4"),
    ("05f_buffer_mutation", "05f_aot_export_buffer_mutation", "TRC-5"),
    ("05g_unlift_tokens", "05g_aot_export_unlift_tokens", "TRC-6"),
]


@pytest.mark.parametrize(
    ("name", "stem"),
    [pytest.param(n, s, marks=_spec_marks(spec), id=n) for n, s, spec in REFERENCE_SIGNATURES],
)
def test_recorded_signature_equals_reference(name, stem):
    ref = _reference_text(stem).splitlines()
    expected = "\n".join(line.removeprefix("sig.") for line in ref if line.startswith("sig."))
    came = _golden(name, "signature")
    assert came == expected, f"{name}.signature vs {stem}.out: expected\n{_diff(expected, came)}"


def _signature_tokens(name):
    fields = dict(line.split(" = ", 1) for line in _golden(name, "signature").splitlines())
    return ast.literal_eval(fields["input_tokens"]), ast.literal_eval(fields["output_tokens"])


# (scenario, reference stem, which `input_tokens: .. | output_tokens: ..` line)
REFERENCE_TOKEN_LINES = [
    ("05h_multi_output", "05h_aot_export_multi_output", 0, "TRC-7"),
    ("08_export", "08_torch_export", 0, "TRC-11"),
    ("08_export_decomposed", "08_torch_export", 1, "TRC-11"),
]


@pytest.mark.parametrize(
    ("name", "stem", "index"),
    [
        pytest.param(n, s, i, marks=_spec_marks(spec), id=n)
        for n, s, i, spec in REFERENCE_TOKEN_LINES
    ],
)
def test_recorded_tokens_equal_reference(name, stem, index):
    found = re.findall(r"^input_tokens: (.*) \| output_tokens: (.*)$", _reference_text(stem), re.M)
    expected = tuple(list(ast.literal_eval(v)) for v in found[index])
    came = _signature_tokens(name)
    assert came == expected, f"{name} vs {stem}.out: expected tokens {expected}, came {came}"


# (scenario, kind, reference stem, prefix of the reference line that ends with the error)
REFERENCE_ERRORS = [
    ("02_aliasing_error", "eager_error", "02_errors", "A1 ", "TRC-8"),
    ("02_aliasing_error", "error", "02_errors", "A2 ", "TRC-8"),
    ("06b_functional_no_discovery", "error", "06_functionalization_make_fx", "Assert", "TRC-10"),
]


@pytest.mark.parametrize(
    ("name", "kind", "stem", "prefix"),
    [
        pytest.param(n, k, s, p, marks=_spec_marks(spec), id=f"{n}.{k}")
        for n, k, s, p, spec in REFERENCE_ERRORS
    ],
)
def test_recorded_error_equals_reference(name, kind, stem, prefix):
    lines = [line for line in _reference_text(stem).splitlines() if line.startswith(prefix)]
    came = _golden(name, kind)
    assert len(lines) == 1 and lines[0].endswith(came), (
        f"expected the one {stem}.out line starting {prefix!r} to end with the error, "
        f"came lines {lines} and error {came!r}"
    )


@pytest.mark.spec("TRC-10")
def test_recorded_discovery_call_error_equals_reference():
    ref = _reference_text("06_functionalization_make_fx").splitlines()
    expected = next(line for line in ref if line.startswith("TypeError: forward()"))
    came = _golden("06c_functional_discovery", "log").splitlines()[1]
    assert came == f"calling gm(x): {expected}", (
        f"expected 'calling gm(x): {expected}', came {came!r}"
    )
