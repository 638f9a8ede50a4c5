"""Tests for refimpl/profiles.py: loading, choosing and switching version profiles.

Models: nothing in torch; the profile table of specs/README.md ("Profiles") and
/work/shared/reference/seed-vs-torch.md.
Spec: EFF-8, EFF-10, EFF-11, EFF-12, EFF-15, EFF-18, EFF-22, EFF-24, DSP-23, DSP-24 (the clauses
whose switches a profile sets), EFF-27 (choosing one by torch version), EFF-28 (the declared
torch range).

The expected switch values are the table of specs/README.md, written out here so that a profile
file that drifts from the spec fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import refimpl
from refimpl import profiles
from refimpl.effects import _get_effect, with_effects
from refimpl.functional_tensor import FunctionalTensorMode
from refimpl.profiles import (
    Profile,
    UnprofiledTorchWarning,
    available_profiles,
    get_profile,
    load_profile,
    nearest_profile,
    on_profile_change,
    profile_for_torch_version,
    set_profile,
    switch_choices,
    switch_types,
)

pytestmark = pytest.mark.usefixtures("isolated_effects")

ROOT = Path(__file__).resolve().parents[2]

# specs/README.md, "Profiles": the switch table.
SEED_SWITCHES = {
    "import_registrations": ("aten::_print", "aten::_async_error", "higher_order::call_torchbind"),
    "with_effects_asserts_has_effects": True,
    "hop_has_aliasing": "not_effect",
    "has_effects_profiler_skip": True,
    "check_messages": "assert",
    "functionalize_rule": False,
    "bool_arith_error": "RuntimeError",
    "linalg_assert_lines": (1575, 1613, 1642),
    "custom_op_backward_count_check": False,
    "subgraph_tokens": "shared",
}
TORCH_SWITCHES = {
    "import_registrations": (
        "aten::_print",
        "aten::_linalg_check_errors",
        "higher_order::call_torchbind",
        "higher_order::print",
        "higher_order::invoke_leaf_function",
    ),
    "with_effects_asserts_has_effects": False,
    "hop_has_aliasing": "false",
    "has_effects_profiler_skip": False,
    "check_messages": "explicit",
    "functionalize_rule": True,
    "bool_arith_error": "RuntimeError",
    "linalg_assert_lines": (1575, 1613, 1642),
    "custom_op_backward_count_check": False,
    "subgraph_tokens": "shared",
}
TORCH_214_SWITCHES = {**TORCH_SWITCHES, "bool_arith_error": "NotImplementedError",
                      "linalg_assert_lines": (1614, 1652, 1681),
                      "custom_op_backward_count_check": True}
EXPECTED = {
    "seed": ((), SEED_SWITCHES),
    "torch-2.13": (("2.13",), TORCH_SWITCHES),
    "torch-2.14": (("2.14",), TORCH_214_SWITCHES),
    "torch-2.15": (("2.15",), {**TORCH_214_SWITCHES, "linalg_assert_lines": (1610, 1648, 1677)}),
}


@pytest.mark.spec("EFF-8", "EFF-10", "EFF-11", "EFF-12", "EFF-22", "EFF-24", "DSP-23", "DSP-24")
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_profile_switches_match_the_spec_table(name):
    profile = available_profiles()[name]
    versions, switches = EXPECTED[name]
    assert profile.name == name == profile.path.stem, f"expected name {name}, {profile.path}"
    assert profile.torch_versions == versions, f"expected {versions}, came {profile.torch_versions}"
    came = {key: getattr(profile, key) for key in switches}
    assert came == switches, f"{name}: expected {switches}, came {came}"


@pytest.mark.spec("EFF-8")
def test_only_the_listed_profiles_exist():
    assert sorted(available_profiles()) == sorted(EXPECTED), f"came {sorted(available_profiles())}"


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.13.0+cpu", "torch-2.13"),
        ("2.13.0", "torch-2.13"),
        ("2.13", "torch-2.13"),
        ("2.14.1+cu130", "torch-2.14"),
        ("2.15.0+cu132", "torch-2.15"),
    ],
)
def test_profile_for_torch_version(version, expected):
    came = profile_for_torch_version(version).name
    assert came == expected, f"expected {expected} for {version}, came {came}"


@pytest.mark.parametrize("version", ["2.12.0", "3.0.0", "1.13.1"])
def test_no_profile_for_other_versions(version):
    with pytest.raises(LookupError) as excinfo:
        profile_for_torch_version(version)
    assert version in str(excinfo.value) and "seed" in str(excinfo.value), f"{excinfo.value}"


def test_version_prefix_must_end_at_a_dot():
    with pytest.raises(LookupError):
        profile_for_torch_version("2.130.0")


@pytest.mark.spec("EFF-27", "RPT-7")
@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.16.0", "torch-2.15"),
        ("2.12.1+cpu", "torch-2.13"),
        ("2.9.0", "torch-2.13"),
        ("3.0.0", "torch-2.15"),
        ("1.13.1", "torch-2.13"),
    ],
)
def test_an_unprofiled_torch_gets_the_nearest_profile_and_a_warning(version, expected):
    with pytest.warns(UnprofiledTorchWarning) as caught:
        came = profile_for_torch_version(version, nearest=True).name
    assert came == expected, f"expected {expected} for {version}, came {came}"
    message = str(caught[0].message)
    assert version in message and expected in message, (
        f"expected the warning to name torch {version} and {expected}, came {message!r}"
    )


@pytest.mark.spec("EFF-27")
def test_a_profiled_torch_gets_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        came = profile_for_torch_version("2.14.1+cu130", nearest=True).name
    assert came == "torch-2.14", f"expected torch-2.14, came {came}"


@pytest.mark.spec("EFF-27")
def test_a_version_without_a_series_has_no_nearest_profile():
    assert nearest_profile("nightly") is None, "expected None for a version without numbers"
    with pytest.raises(LookupError):
        profile_for_torch_version("nightly", nearest=True)


def _series(text):
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


@pytest.mark.spec("EFF-28")
def test_declared_torch_range_is_the_profiled_series():
    pyproject = (ROOT / "pyproject.toml").read_text()
    (declared,) = re.findall(r'^torch = \["(torch[^"]*)"\]', pyproject, re.M)
    series = sorted({_series(v) for p in available_profiles().values() for v in p.torch_versions})
    (major, oldest), (_, newest) = series[0], series[-1]
    assert series == [(major, m) for m in range(oldest, newest + 1)], f"came gaps in {series}"
    expected = f"torch>={major}.{oldest},<{major}.{newest + 1}"
    assert declared == expected, f"expected the torch extra {expected!r}, came {declared!r}"
    for m in range(oldest, newest + 1):
        pins = (ROOT / "constraints" / f"torch-{major}.{m}.txt").read_text().split()
        assert len(pins) == 1 and pins[0].startswith(f"torch=={major}.{m}."), (
            f"expected constraints/torch-{major}.{m}.txt to pin one torch {major}.{m} build, "
            f"came {pins}"
        )


def test_set_profile_by_name_and_object():
    profile = set_profile("torch-2.13")
    assert get_profile() is profile and profile.name == "torch-2.13", f"came {get_profile()}"
    seed = available_profiles()["seed"]
    assert set_profile(seed) is seed and get_profile() is seed, "expected a Profile accepted"


def test_unknown_profile_lists_the_available_ones():
    with pytest.raises(ValueError) as excinfo:
        set_profile("torch-9.99")
    message = str(excinfo.value)
    assert "'torch-9.99'" in message, f"expected the name, came {message}"
    for name in EXPECTED:
        assert name in message, f"expected {name} listed, came {message}"


def test_listeners_hear_every_change():
    heard = []
    on_profile_change(lambda old, new: heard.append((old and old.name, new.name)))
    try:
        current = get_profile().name
        assert heard == [(None, current)], f"expected one call at registration, came {heard}"
        set_profile("torch-2.13")
        assert heard[-1] == (current, "torch-2.13"), f"came {heard[-1]}"
    finally:
        profiles._listeners.pop()


@pytest.mark.spec("EFF-8")
def test_switching_profiles_re_registers_the_import_list():
    set_profile("seed")
    assert _get_effect("aten::_async_error") is not None, "expected the seed's registration"
    set_profile("torch-2.13")
    assert _get_effect("aten::_async_error") is None, "expected the seed's registration undone"
    assert _get_effect("aten::_linalg_check_errors") is not None, "expected 2.13's registration"
    set_profile("seed")
    assert _get_effect("aten::_linalg_check_errors") is None, "expected 2.13's undone"


@pytest.mark.spec("EFF-24")
def test_switching_profiles_switches_the_functionalize_rule():
    set_profile("torch-2.13")
    assert FunctionalTensorMode in with_effects.python_key_table, "expected the 2.13 rule"
    set_profile("seed")
    assert FunctionalTensorMode not in with_effects.python_key_table, "expected no seed rule"


_BASE = """
name = "{name}"
description = "test"
torch_versions = []

[switches]
import_registrations = []
with_effects_asserts_has_effects = true
hop_has_aliasing = "false"
has_effects_profiler_skip = false
check_messages = "explicit"
functionalize_rule = true
bool_arith_error = "RuntimeError"
linalg_assert_lines = [1, 2, 3]
custom_op_backward_count_check = false
subgraph_tokens = "shared"
"""


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (
            lambda text: text.replace("functionalize_rule = true\n", ""),
            "missing 'functionalize_rule'",
        ),
        (
            lambda text: text.replace("functionalize_rule = true", "functionalize_rule = 1"),
            "'functionalize_rule' must be bool",
        ),
        (
            lambda text: text.replace('"RuntimeError"', '"TypeError"'),
            "'bool_arith_error' must be one of",
        ),
        (lambda text: text + "surprise = true\n", "unknown switches ['surprise']"),
        (
            lambda text: text.replace("[1, 2, 3]", "[1, 2]"),
            "'linalg_assert_lines' must be a list [int, int, int], got [1, 2]",
        ),
        (
            lambda text: text.replace("[1, 2, 3]", "[1, true, 3]"),
            "'linalg_assert_lines' must be a list [int, int, int], got [1, True, 3]",
        ),
        (
            lambda text: text.replace("import_registrations = []", "import_registrations = [1]"),
            "'import_registrations' must be a list of str, got [1]",
        ),
    ],
    ids=["missing", "wrong-type", "bad-choice", "unknown", "short-list", "bool-for-int",
         "int-for-str"],
)
def test_malformed_profile_files_name_the_file_and_switch(tmp_path, edit, fragment):
    path = tmp_path / "broken.toml"
    path.write_text(edit(_BASE.format(name="broken")))
    with pytest.raises(ValueError) as excinfo:
        load_profile(path)
    assert str(path) in str(excinfo.value), f"expected the file named, came {excinfo.value}"
    assert fragment in str(excinfo.value), f"expected {fragment!r}, came {excinfo.value}"


def test_switch_types_come_from_the_profile_dataclass():
    kinds = switch_types()
    assert set(kinds) == set(TORCH_SWITCHES), f"expected {sorted(TORCH_SWITCHES)}, came {kinds}"
    came = switch_choices("bool_arith_error")
    assert came == ("RuntimeError", "NotImplementedError"), f"came {came}"
    assert switch_choices("functionalize_rule") is None, "expected no choices for a bool"


def test_a_profile_inherits_and_overrides(tmp_path):
    (tmp_path / "base.toml").write_text(_BASE.format(name="base"))
    (tmp_path / "child.toml").write_text(
        'name = "child"\ninherits = "base"\n[switches]\nbool_arith_error = "NotImplementedError"\n'
    )
    base, child = load_profile(tmp_path / "base.toml"), load_profile(tmp_path / "child.toml")
    assert child.bool_arith_error == "NotImplementedError", f"came {child.bool_arith_error}"
    came = {k: getattr(child, k) for k in switch_types() if k != "bool_arith_error"}
    expected = {k: getattr(base, k) for k in came}
    assert came == expected, f"expected the parent's other switches {expected}, came {came}"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('name = "loop"\ninherits = "loop"\n', "inherits itself"),
        ('name = "orphan"\ninherits = "nowhere"\n', "inherits unknown profile 'nowhere'"),
    ],
    ids=["cycle", "unknown-parent"],
)
def test_bad_inheritance_names_the_file(tmp_path, text, fragment):
    path = tmp_path / (text.split('"')[1] + ".toml")
    path.write_text(text)
    with pytest.raises(ValueError) as excinfo:
        load_profile(path)
    assert fragment in str(excinfo.value), f"expected {fragment!r}, came {excinfo.value}"


def test_a_well_formed_file_loads(tmp_path):
    path = tmp_path / "fine.toml"
    path.write_text(_BASE.format(name="fine"))
    profile = load_profile(path)
    assert isinstance(profile, Profile) and profile.name == "fine", f"came {profile}"
    assert profile.import_registrations == (), f"came {profile.import_registrations}"


@pytest.mark.spec("EFF-8")
def test_refimpl_profile_environment_variable_picks_the_import_registrations():
    code = (
        "import refimpl, refimpl.effects as e; "
        "print(refimpl.get_profile().name, e._get_effect('aten::_linalg_check_errors'), "
        "e._get_effect('aten::_async_error'))"
    )
    env = dict(os.environ, REFIMPL_PROFILE="torch-2.13")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, f"expected success, came {result.stderr}"
    expected = "torch-2.13 EffectType.ORDERED None"
    assert result.stdout.strip() == expected, f"expected {expected!r}, came {result.stdout!r}"
    assert refimpl.get_profile() is not None, "expected this process untouched"
