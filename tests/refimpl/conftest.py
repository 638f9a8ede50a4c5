"""Fixtures for the refimpl tests: profiles, the effect registry, array backends.

Models: nothing upstream; torch's own tests restore global registrations with
``torch.library._scoped_library`` and ``handle.destroy()`` in the same way.
Spec: none of its own; the fixtures serve the tests that cite EFF-n and DSP-n.

- ``isolated_effects``: snapshots the active profile and every effect registered in the simple
  registry, and restores both after the test ([NOTE: restoring the registry]).
- ``seed_profile`` / ``torch_2_13_profile`` / ``any_profile``: make a profile active for one test
  (``refimpl.set_profile``), restored afterwards.
- ``dense_backend``: each array backend in turn (``numpy``, ``array-api-strict``, and ``cupy``
  marked ``gpu``), restored afterwards.

Simplifications:
1. The repository root is put on ``sys.path`` so that ``import tests.strategies`` works when
   pytest is started as ``pytest`` rather than ``python3 -m pytest`` (the project is not a
   package on its own path unless installed).
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import refimpl  # noqa: E402
from refimpl import backend as refimpl_backend  # noqa: E402
from refimpl._library import simple_registry  # noqa: E402

PROFILES = ("seed", "torch-2.13")
CPU_BACKENDS = ("numpy", "array-api-strict")


# [NOTE: restoring the registry]
# Effects live in one process-wide registry (EFF-3), and ``handle.destroy()`` restores the
# schema default, not the previous value (EFF-5): a test that registers ``None`` on
# ``aten::_print`` and destroys the handle leaves ``_print`` without its import-time ORDERED.
# So tests that register effects take ``isolated_effects``, which writes the saved values back
# (after re-activating the saved profile, whose listeners re-register the import list).
def snapshot_effects() -> dict[str, object]:
    """The effect of every entry of the simple registry, by qualname."""
    return {q: entry.effect.effect for q, entry in simple_registry.singleton._data.items()}


def restore_effects(saved: dict[str, object]) -> None:
    """Write ``saved`` back; entries created since return to their schema default."""
    for qualname, entry in list(simple_registry.singleton._data.items()):
        if qualname in saved:
            entry.effect._effect = saved[qualname]
        else:
            entry.effect._set_default_effect()


class EffectsState:
    """Saved profile and registry; ``restore()`` puts both back."""

    def __init__(self) -> None:
        self.profile = refimpl.get_profile()
        self.effects = snapshot_effects()

    def restore(self) -> None:
        refimpl.set_profile(self.profile)
        restore_effects(self.effects)


@pytest.fixture
def isolated_effects() -> Iterator[EffectsState]:
    state = EffectsState()
    try:
        yield state
    finally:
        state.restore()


@pytest.fixture
def seed_profile(isolated_effects: EffectsState) -> refimpl.profiles.Profile:
    return refimpl.set_profile("seed")


@pytest.fixture
def torch_2_13_profile(isolated_effects: EffectsState) -> refimpl.profiles.Profile:
    return refimpl.set_profile("torch-2.13")


@pytest.fixture
def installed_torch_profile(isolated_effects: EffectsState) -> refimpl.profiles.Profile:
    """The profile of the installed torch build, active for the test (differential tests compare
    refimpl with that build). The version comes from the package metadata, so torch is not
    imported here; the test skips without torch or when no profile claims the build."""
    try:
        version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("torch is not installed")
    try:
        return refimpl.set_profile(refimpl.profiles.profile_for_torch_version(version))
    except LookupError as exc:
        pytest.skip(str(exc))


@pytest.fixture(params=PROFILES)
def any_profile(
    request: pytest.FixtureRequest, isolated_effects: EffectsState
) -> refimpl.profiles.Profile:
    return refimpl.set_profile(request.param)


@pytest.fixture(params=[*CPU_BACKENDS, pytest.param("cupy", marks=pytest.mark.gpu)])
def dense_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each array backend in turn (CuPy only where the ``gpu`` marker finds a device); the
    previously active backend is restored afterwards."""
    previous = refimpl_backend._active
    refimpl.set_backend(request.param)
    try:
        yield request.param
    finally:
        refimpl_backend._active = previous
