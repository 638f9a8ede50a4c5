"""refimpl reproduces the golden texts that each torch build recorded, scenario by scenario.

Models: every recording `tests/golden/torch-<major.minor>/` (written by `record.py` with
`TorchWorld`), with every scenario of `scenarios.py` run again in `RefimplWorld`
(`refimpl_world.py`) under the profile of that build (`profile_for_torch_version` of the
recorded torch version). refimpl needs no torch, so every recorded build is checked whichever
torch is installed; a recording no profile claims skips with that reason.

Spec: TRC-1 .. TRC-13 (each scenario's clauses, as `scenarios.py` lists them), TRC-14 (the
token chain of every graph refimpl hands out) and EFF-26 (a profile reproduces its builds).

Simplifications:
1. Every text torch recorded is compared byte for byte (files end with the newline `record.py`
   adds; the texts themselves are `gm.code.strip()`), the forward and backward graphs of
   training runs (`aot_function` with the default partitioner, TRC-20) included.
2. A world feature refimpl does not model raises `Unsupported`, and the test skips with its
   message. A difference that remains is `xfail(strict=True)` with its cause (`KNOWN_GAPS`).
"""

from __future__ import annotations

import difflib
import importlib.util
import sys
from functools import cache
from pathlib import Path

import pytest

from refimpl.effects import with_effects
from refimpl.passes.effect_tokens import check_effect_tokens
from refimpl.profiles import profile_for_torch_version

HERE = Path(__file__).resolve().parent


def _load_record():
    """`record.py` under the name `test_golden_torch.py` uses, so both share one module."""
    name = "_golden_record"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "record.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


record = _load_record()
scenarios = record.scenarios
refimpl_world = record.load_sibling("refimpl_world")


def _profile_of(manifest):
    """The profile that claims the recorded torch version, or `None`."""
    try:
        return profile_for_torch_version(manifest["torch_version"]).name
    except LookupError:
        return None


# build ("torch-2.13") -> (folder, MANIFEST scenarios, profile name or None)
BUILDS = {
    build: (folder, data["scenarios"], _profile_of(data))
    for build, folder in record.recorded_builds().items()
    for data in [record.read_manifest(folder)]
}
WORLDS = {build: refimpl_world.RefimplWorld(profile) for build, (_, _, profile) in BUILDS.items()
          if profile is not None}

# (scenario, kind or "*") -> why refimpl still differs. Each is xfail(strict=True).
KNOWN_GAPS: dict[tuple[str, str], str] = {}


def _gap(name, kind):
    return KNOWN_GAPS.get((name, kind)) or KNOWN_GAPS.get((name, "*"))


def _kinds(build, name):
    return BUILDS[build][1].get(name, {}).get("kinds", [])


def _is_training(build, name):
    return "backward" in _kinds(build, name)


@cache
def _run(build, name):
    """`(texts, graphs)` of scenario `name` in the refimpl world of `build` (run once)."""
    world = WORLDS[build]
    with world.scope(name):
        texts = scenarios.run_scenario(world, name)
        graphs = list(world.graphs)
    return texts, graphs


def _texts(build, name):
    if build not in WORLDS:
        pytest.skip(f"no profile claims the {build} recording (torch "
                    f"{record.read_manifest(BUILDS[build][0])['torch_version']})")
    try:
        return _run(build, name)[0]
    except refimpl_world.Unsupported as exc:
        pytest.skip(f"{name}: refimpl does not model this: {exc}")


def _golden(build, name, kind):
    return (BUILDS[build][0] / record.file_name(name, kind)).read_text()


def _diff(expected, came):
    return "".join(
        difflib.unified_diff(
            expected.splitlines(True), came.splitlines(True), "torch", "refimpl", n=2
        )
    )


def _params(kinds_of):
    """One param per (build, scenario, kind) that `kinds_of(build, name)` selects; spec marks,
    known gaps."""
    params = []
    for build in BUILDS:
        for name, sc in scenarios.SCENARIOS.items():
            for kind in kinds_of(build, name):
                marks = [pytest.mark.spec(s) for s in sc.specs]
                if _gap(name, kind):
                    marks.append(pytest.mark.xfail(reason=_gap(name, kind), strict=True))
                params.append(pytest.param(build, name, kind, marks=marks,
                                           id=f"{build}:{name}.{kind}"))
    return params


# ---------------------------------------------------------------------------------------------
# Byte-identical texts (Simplification 1)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("build", "name", "kind"), _params(_kinds))
def test_refimpl_text_equals_torch_recording(build, name, kind):
    texts = _texts(build, name)
    assert kind in texts, f"expected refimpl to produce a {kind!r} text, came {sorted(texts)}"
    expected, came = _golden(build, name, kind), texts[kind] + "\n"
    assert came == expected, (
        f"{build} {name}.{kind}: expected torch's text, came\n{_diff(expected, came)}"
    )


@pytest.mark.parametrize("build", list(BUILDS))
def test_refimpl_produces_no_extra_texts(build):
    _texts(build, "05a_prints_add")  # skips when no profile claims the build
    extra = {}
    for name in scenarios.SCENARIOS:
        if _gap(name, "*"):
            continue
        try:
            kinds = set(_run(build, name)[0])
        except refimpl_world.Unsupported:
            continue
        if kinds != set(_kinds(build, name)):
            extra[name] = sorted(kinds ^ set(_kinds(build, name)))
    assert not extra, f"{build}: expected exactly torch's text kinds, came differences {extra}"


@pytest.mark.spec("EFF-26")
@pytest.mark.parametrize("build", list(BUILDS))
def test_every_scenario_is_recorded_for_every_build(build):
    missing = [name for name in scenarios.SCENARIOS if name not in BUILDS[build][1]]
    assert not missing, f"expected {build} to record every scenario, came without {missing} " \
                        f"(re-record with that torch: python tests/golden/record.py)"


# ---------------------------------------------------------------------------------------------
# Training runs: the backward's own token chain (TRC-21)
# ---------------------------------------------------------------------------------------------


def _training_params(kind):
    return _params(lambda build, name: [kind] if _is_training(build, name) else [])


@pytest.mark.spec("TRC-13", "TRC-14", "TRC-21")
@pytest.mark.parametrize(("build", "name", "kind"), _training_params("backward"))
def test_refimpl_backward_token_is_last_in_and_last_out(build, name, kind):
    _texts(build, name)
    (gm,) = [g for how, g in _run(build, name)[1] if how == "backward"]
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    outputs = list(gm.graph.output_node().args[0])
    (chain,) = check_effect_tokens(gm).values()
    first_token, last = chain[0].args[0], chain[-1]
    assert placeholders[-1].name == "tangents_token" and first_token is placeholders[-1], (
        f"{name}: expected the chain to start at the last input tangents_token, came inputs "
        f"{[p.name for p in placeholders]} and first token {first_token.name}"
    )
    assert outputs[-1].args == (last, 0), (
        f"{name}: expected the last output to be {last.name}[0], came {outputs[-1].name}"
    )


# ---------------------------------------------------------------------------------------------
# The token-chain invariant on every graph the world handed out (TRC-14)
# ---------------------------------------------------------------------------------------------

# Graphs whose final token is deliberately not returned: FunctionalTensorMode driven directly
# drops it (TRC-10), so the chain need not reach the output there.
_NO_SINK = {"functional"}


def _chain_params():
    """One param per scenario, in the world of the first build (the graphs are the same)."""
    params = []
    for name, sc in scenarios.SCENARIOS.items():
        marks = [pytest.mark.spec("TRC-14", *sc.specs)]
        if _gap(name, "*"):
            marks.append(pytest.mark.xfail(reason=_gap(name, "*"), strict=True))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.mark.parametrize("name", _chain_params())
def test_refimpl_graphs_keep_one_token_chain(name):
    build = next(iter(WORLDS))
    _texts(build, name)
    for how, gm in _run(build, name)[1]:
        effects = [n for n in gm.graph.nodes if n.target is with_effects]
        if not effects:
            continue
        chains = check_effect_tokens(gm, require_sink=how not in _NO_SINK)
        chained = [n for chain in chains.values() for n in chain]
        assert sorted(n.name for n in chained) == sorted(n.name for n in effects), (
            f"{name} ({how}): expected every with_effects node on a chain, came chains "
            f"{[[n.name for n in c] for c in chains.values()]} for nodes "
            f"{[n.name for n in effects]}"
        )
        order = [n.name for n in effects]
        for chain in chains.values():
            names = [n.name for n in chain]
            assert names == [n for n in order if n in names], (
                f"{name} ({how}): expected the chain in program order {order}, came {names}"
            )
