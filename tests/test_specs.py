"""The spec files (specs/*.md, refimpl/_profiles/*.toml) and the spec plugin (tests/conftest.py).

Spec: specs/README.md (clause format, profiles); this file cites no clause of its own.

The first half reads the real spec files: ids unique, well formed and numbered without gaps, a
`Source:` on every clause, profile switches that exist. The second half runs the plugin inside
pytester projects: unknown ids fail collection, the coverage summary, SPEC_STRICT, the markers.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import textwrap
from pathlib import Path

import pytest

from refimpl.profiles import load_profile, switch_types

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
SPEC_DIR = ROOT / "specs"
PROFILE_DIR = ROOT / "refimpl" / "_profiles"
CONFTEST = Path(__file__).with_name("conftest.py")


def _load_plugin():
    """A private copy of tests/conftest.py, to call its parser directly."""
    spec = importlib.util.spec_from_file_location("_spec_plugin_under_test", CONFTEST)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


plugin = _load_plugin()
CLAUSES = plugin.load_clauses(SPEC_DIR)
# Profiles as refimpl loads them: inheritance resolved, every switch checked against `Profile`.
PROFILES = {path.stem: load_profile(path) for path in PROFILE_DIR.glob("*.toml")}
SWITCHES = switch_types()

SOURCE_REF = re.compile(r"seed L\d+|ref \w+|torch/\S+|torch\.\w+|refimpl's own")
PROFILE_PART = re.compile(r"Profile: (?P<switches>.*?)(?= Source:|$)")
# Files whose clauses describe upstream behaviour, so each names where it comes from. Clauses of
# the project's own formats (program.md, report.md) have no upstream source.
FILES_WITH_SOURCES = {"effects.md", "dispatch.md"}


# -- the spec files ------------------------------------------------------------------------------


def test_spec_files_hold_the_expected_clause_sets():
    prefixes = {cid.rsplit("-", 1)[0] for cid in CLAUSES}
    assert {"EFF", "DSP"} <= prefixes, f"expected EFF and DSP clauses, found prefixes {prefixes}"


def _unfenced_lines(path: Path) -> list[str]:
    """The lines of a markdown file outside fenced code blocks."""
    lines, in_fence = [], False
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        elif not in_fence:
            lines.append(line)
    return lines


def test_clause_ids_are_well_formed_and_unique():
    # load_clauses already rejects repeats; here every bold id in the files is counted again.
    bold_ids = []
    for path in sorted(SPEC_DIR.glob("*.md")):
        if path.name == "README.md":
            continue
        for line in _unfenced_lines(path):
            bold_ids += re.findall(r"^- \*\*([^*]+)\*\*", line)
    malformed = [cid for cid in bold_ids if plugin.CLAUSE_ID.fullmatch(cid) is None]
    assert not malformed, f"expected ids like 'EFF-3', got {malformed}"
    repeated = sorted({cid for cid in bold_ids if bold_ids.count(cid) > 1})
    assert not repeated, f"expected unique clause ids, got repeats {repeated}"
    assert sorted(bold_ids) == sorted(CLAUSES), (
        f"expected the plugin to read every bold id, it read {len(CLAUSES)} of {len(bold_ids)}"
    )


def test_each_file_uses_one_prefix_and_numbers_without_gaps():
    by_file: dict[str, list[str]] = {}
    for clause in CLAUSES.values():
        by_file.setdefault(clause.path.name, []).append(clause.id)
    owners: dict[str, str] = {}
    for name, ids in by_file.items():
        prefixes = {cid.rsplit("-", 1)[0] for cid in ids}
        assert len(prefixes) == 1, f"expected one id prefix in {name}, got {sorted(prefixes)}"
        prefix = prefixes.pop()
        assert owners.setdefault(prefix, name) == name, (
            f"expected prefix {prefix} in one file, got {owners[prefix]} and {name}"
        )
        numbers = sorted(int(cid.rsplit("-", 1)[1]) for cid in ids)
        expected = list(range(1, len(numbers) + 1))
        assert numbers == expected, f"expected {name} numbered 1..{len(numbers)}, got {numbers}"


def test_every_clause_about_upstream_names_its_source():
    missing = []
    for clause in CLAUSES.values():
        if clause.path.name not in FILES_WITH_SOURCES:
            continue
        _, _, sources = clause.text.partition("Source:")
        if not SOURCE_REF.search(sources) and "Withdrawn:" not in clause.text:
            missing.append(clause.id)
    assert not missing, (
        f"expected a 'Source:' with a seed/ref/torch reference, missing in {missing}"
    )


def test_cross_references_name_existing_clauses():
    prefixes = {cid.rsplit("-", 1)[0] for cid in CLAUSES}
    dangling = []
    for clause in CLAUSES.values():
        for ref in re.findall(r"\b([A-Z]{2,5}-[0-9]+)\b", clause.text):
            if ref.rsplit("-", 1)[0] in prefixes and ref not in CLAUSES:
                dangling.append(f"{clause.id} -> {ref}")
    assert not dangling, f"expected references to existing clauses, got {dangling}"


def _without_parentheses(text: str) -> str:
    """`text` less every balanced (...) group, nested ones included."""
    kept, depth = [], 0
    for char in text:
        depth += char == "("
        if depth == 0:
            kept.append(char)
        depth -= char == ")" and depth > 0
    return "".join(kept)


def _profile_switches_cited() -> dict[str, list[str]]:
    """Switch name -> ids of the clauses whose `Profile:` part names it (outside parentheses)."""
    cited: dict[str, list[str]] = {}
    for clause in CLAUSES.values():
        for match in PROFILE_PART.finditer(clause.text):
            for name in re.findall(r"`(\w+)`", _without_parentheses(match["switches"])):
                cited.setdefault(name, []).append(clause.id)
    return cited


def test_profile_switches_named_by_clauses_exist_and_all_are_named():
    switches = set(SWITCHES)
    cited = _profile_switches_cited()
    unknown = {name: ids for name, ids in cited.items() if name not in switches}
    assert not unknown, (
        f"expected clauses to name existing switches {sorted(switches)}, got {unknown}"
    )
    uncited = sorted(switches - set(cited))
    assert not uncited, f"expected every switch named by a clause, never named: {uncited}"


def test_profiles_are_named_after_their_files():
    assert {"seed", "torch-2.13", "torch-2.14"} <= set(PROFILES), f"got profiles {sorted(PROFILES)}"
    for stem, profile in PROFILES.items():
        assert profile.name == stem, f"expected name {stem!r}, got {profile.name!r}"
        assert profile.description, f"{stem}: expected a description"


def test_profile_inherits_only_overrides():
    """A profile that inherits sets only the switches where it differs from its parent."""
    for path in PROFILE_DIR.glob("*.toml"):
        data = tomllib.loads(path.read_text())
        parent = data.get("inherits")
        if parent is None:
            continue
        same = {k for k, v in data.get("switches", {}).items()
                if getattr(PROFILES[parent], k) == (tuple(v) if isinstance(v, list) else v)}
        assert not same, f"{path.stem}: expected only overrides of {parent}, repeats {sorted(same)}"


def test_profile_versions_do_not_overlap():
    owners: dict[str, str] = {}
    for stem, profile in PROFILES.items():
        for prefix in profile.torch_versions:
            first = owners.setdefault(prefix, stem)
            assert first == stem, (
                f"expected one profile per version, {prefix} in {first} and {stem}"
            )


def test_import_registrations_are_qualnames():
    for stem, profile in PROFILES.items():
        for qualname in profile.import_registrations:
            assert re.fullmatch(r"\w+::\w+(\.\w+)?", qualname), (
                f"{stem}: expected 'namespace::name[.overload]', got {qualname!r}"
            )


# -- the plugin, run inside pytester projects ----------------------------------------------------

SPEC_TEXT = """\
# Test spec

- **TST-1** The first clause.
  Source: seed L1.
- **TST-2** The second clause. Source: seed L2.
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester project with this plugin as its conftest and a two-clause spec."""
    # Hypothesis's plugin would import hypothesis afresh in every in-process run (2 s each).
    pytester.makeini(
        "[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest -p no:benchmark\n"
    )
    pytester.makeconftest(CONFTEST.read_text())
    (pytester.path / "specs").mkdir()
    (pytester.path / "specs" / "test.md").write_text(SPEC_TEXT)
    return pytester


def _assert_exit(result: pytest.RunResult, expected: pytest.ExitCode) -> None:
    assert result.ret == expected, (
        f"expected exit status {expected!r}, got {result.ret!r}; output:\n{result.stdout.str()}"
    )


def _write_tests(project: pytest.Pytester, body: str) -> None:
    project.makepyfile(test_example="import pytest\n\n" + textwrap.dedent(body))


def test_unknown_id_fails_collection_naming_test_and_id(project):
    _write_tests(
        project,
        """
        @pytest.mark.spec("TST-1")
        def test_known(): pass

        @pytest.mark.spec("TST-9")
        def test_unknown(): pass
        """,
    )
    result = project.runpytest()
    _assert_exit(result, pytest.ExitCode.INTERRUPTED)
    result.stdout.fnmatch_lines(
        ["*ERROR collecting*", "*test_example.py::test_unknown: unknown spec id 'TST-9'*"]
    )


def test_malformed_id_and_empty_marker_fail_collection(project):
    _write_tests(
        project,
        """
        @pytest.mark.spec("tst-1")
        def test_lower(): pass

        @pytest.mark.spec()
        def test_empty(): pass
        """,
    )
    result = project.runpytest()
    _assert_exit(result, pytest.ExitCode.INTERRUPTED)
    result.stdout.fnmatch_lines_random(
        ["*test_lower: malformed spec id 'tst-1'*", "*test_empty: spec marker needs clause ids*"]
    )


def test_class_and_module_markers_are_checked(project):
    _write_tests(
        project,
        """
        pytestmark = pytest.mark.spec("TST-1")

        @pytest.mark.spec("TST-7")
        class TestGroup:
            def test_in_class(self): pass
        """,
    )
    result = project.runpytest()
    _assert_exit(result, pytest.ExitCode.INTERRUPTED)
    result.stdout.fnmatch_lines(["*TestGroup::test_in_class: unknown spec id 'TST-7'*"])


def test_coverage_summary_lists_uncited_clauses(project):
    _write_tests(
        project,
        """
        @pytest.mark.spec("TST-1")
        def test_first(): pass

        def test_cites_nothing(): pass
        """,
    )
    result = project.runpytest()
    _assert_exit(result, pytest.ExitCode.OK)
    result.stdout.fnmatch_lines(
        [
            "*spec coverage*",
            "2 clauses, 1 cited by the 2 collected tests (50%)",
            "  test.md: 1/2",
            "WARNING: 1 clauses cited by no collected test: TST-2",
        ]
    )


def test_spec_strict_fails_on_uncited_clauses(project, monkeypatch):
    monkeypatch.setenv("SPEC_STRICT", "1")
    _write_tests(project, '@pytest.mark.spec("TST-1")\ndef test_first(): pass\n')
    result = project.runpytest()
    _assert_exit(result, pytest.ExitCode.TESTS_FAILED)
    result.stdout.fnmatch_lines(["*FAILED: SPEC_STRICT=1 and some clauses are uncited*"])


def test_spec_strict_passes_when_every_clause_is_cited(project, monkeypatch):
    monkeypatch.setenv("SPEC_STRICT", "1")
    _write_tests(
        project,
        """
        @pytest.mark.parametrize("x", [pytest.param(1, marks=pytest.mark.spec("TST-2"))])
        @pytest.mark.spec("TST-1")
        def test_both(x): pass
        """,
    )
    result = project.runpytest()
    _assert_exit(result, pytest.ExitCode.OK)
    result.stdout.fnmatch_lines(["2 clauses, 2 cited by the 1 collected tests (100%)"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- **TST-1** one. Source: seed L1.\n- **TST-1** again.\n", "*TST-1 is defined twice*"),
        ("- **TST1** no dash.\n", "*malformed clause line*"),
        ("- **TST-01** leading zero.\n", "*malformed clause line*"),
    ],
    ids=["repeated-id", "no-dash", "leading-zero"],
)
def test_bad_spec_files_stop_the_run(project, text, message):
    (project.path / "specs" / "test.md").write_text(text)
    _write_tests(project, "def test_nothing(): pass\n")
    result = project.runpytest()
    _assert_exit(result, pytest.ExitCode.USAGE_ERROR)
    result.stderr.fnmatch_lines([message])


def test_fenced_examples_and_readme_hold_no_clauses(project):
    (project.path / "specs" / "README.md").write_text("- **TST-3** an example\n")
    fenced = SPEC_TEXT + "\n```\n- **TST-4** an example in a fence\n```\n"
    (project.path / "specs" / "test.md").write_text(fenced)
    _write_tests(project, '@pytest.mark.spec("TST-1", "TST-2")\ndef test_both(): pass\n')
    result = project.runpytest()
    _assert_exit(result, pytest.ExitCode.OK)
    result.stdout.fnmatch_lines(["2 clauses, 2 cited by the 1 collected tests (100%)"])


def test_torch_and_gpu_markers_skip_when_missing(project, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # find_spec now says "not importable"
    monkeypatch.setitem(sys.modules, "cupy", None)
    _write_tests(
        project,
        """
        @pytest.mark.torch
        def test_needs_torch(): pass

        @pytest.mark.gpu
        def test_needs_gpu(): pass

        def test_plain(): pass
        """,
    )
    result = project.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines_random(["*needs torch*", "*needs cupy*"])


def test_coverage_is_gathered_from_xdist_workers(project):
    pytest.importorskip("xdist")
    _write_tests(
        project,
        """
        @pytest.mark.spec("TST-1")
        def test_first(): pass

        @pytest.mark.spec("TST-2")
        def test_second(): pass
        """,
    )
    result = project.runpytest_subprocess("-n", "2")
    _assert_exit(result, pytest.ExitCode.OK)
    result.stdout.fnmatch_lines(["2 clauses, 2 cited by the 2 collected tests (100%)"])
