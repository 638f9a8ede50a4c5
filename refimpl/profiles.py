"""Version profiles: the named switches where torch versions differ from the seed.

Models: nothing in torch; each switch names one observed difference between the seed and a torch
build (``specs/README.md``, "Profiles"; ``../shared/reference/seed-vs-torch.md``).
Spec: EFF-8, EFF-10, EFF-11, EFF-12, EFF-15, EFF-24.

Simplifications:
1. Profiles are read from ``specs/profiles/*.toml`` next to the package (an editable install or
   a source checkout); ``REFIMPL_PROFILE`` or ``set_profile`` picks one, the default is ``seed``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

__all__ = ["Profile", "available_profiles", "get_profile", "load_profile", "on_profile_change",
           "profile_for_torch_version", "set_profile"]

PROFILE_DIR = Path(__file__).resolve().parent.parent / "specs" / "profiles"

_SWITCH_TYPES = {
    "import_registrations": list,
    "with_effects_asserts_has_effects": bool,
    "hop_has_aliasing": str,
    "has_effects_profiler_skip": bool,
    "check_messages": str,
    "fake_rule": str,
    "functionalize_rule": bool,
    "hop_schemas": bool,
}
_CHOICES = {
    "hop_has_aliasing": ("not_effect", "false"),
    "check_messages": ("assert", "explicit"),
    "fake_rule": ("mode_py_impl", "register_fake"),
}


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    torch_versions: tuple[str, ...]
    import_registrations: tuple[str, ...]
    with_effects_asserts_has_effects: bool
    hop_has_aliasing: str
    has_effects_profiler_skip: bool
    check_messages: str
    fake_rule: str
    functionalize_rule: bool
    hop_schemas: bool
    path: Path | None = field(default=None, compare=False)


def load_profile(path: Path) -> Profile:
    """Read and check one profile file; errors name the file and the switch."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    switches = data.get("switches", {})
    for key, kind in _SWITCH_TYPES.items():
        if key not in switches:
            raise ValueError(f"{path}: [switches] is missing {key!r}")
        if not isinstance(switches[key], kind):
            raise ValueError(f"{path}: switch {key!r} must be {kind.__name__}, "
                             f"got {switches[key]!r}")
        if key in _CHOICES and switches[key] not in _CHOICES[key]:
            raise ValueError(f"{path}: switch {key!r} must be one of {_CHOICES[key]}, "
                             f"got {switches[key]!r}")
    unknown = set(switches) - set(_SWITCH_TYPES)
    if unknown:
        raise ValueError(f"{path}: unknown switches {sorted(unknown)}")
    return Profile(
        name=data["name"], description=data.get("description", ""),
        torch_versions=tuple(data.get("torch_versions", ())),
        import_registrations=tuple(switches["import_registrations"]),
        **{k: switches[k] for k in _SWITCH_TYPES if k != "import_registrations"},
        path=path,
    )


def available_profiles() -> dict[str, Profile]:
    """Every profile under ``specs/profiles``, by name."""
    profiles = {}
    for path in sorted(PROFILE_DIR.glob("*.toml")):
        profile = load_profile(path)
        profiles[profile.name] = profile
    return profiles


def profile_for_torch_version(version: str) -> Profile:
    """The profile whose ``torch_versions`` prefixes match ``version`` (e.g. ``2.13.0+cpu``)."""
    for profile in available_profiles().values():
        if any(version == prefix or version.startswith(prefix + ".")
               for prefix in profile.torch_versions):
            return profile
    raise LookupError(f"no profile matches torch {version}; available: "
                      f"{', '.join(available_profiles())}")


_active: Profile | None = None
_listeners: list[Callable[[Profile | None, Profile], None]] = []


def get_profile() -> Profile:
    """The active profile (from ``REFIMPL_PROFILE`` on first use, default ``seed``)."""
    if _active is None:
        set_profile(os.environ.get("REFIMPL_PROFILE", "seed"))
    assert _active is not None
    return _active


def set_profile(name: str | Profile) -> Profile:
    """Make ``name`` the active profile and tell the listeners (effects re-registers ops)."""
    global _active
    if isinstance(name, Profile):
        profile = name
    else:
        profiles = available_profiles()
        if name not in profiles:
            raise ValueError(f"unknown profile {name!r}; available: {', '.join(profiles)}")
        profile = profiles[name]
    previous, _active = _active, profile
    for listener in _listeners:
        listener(previous, profile)
    return profile


def on_profile_change(listener: Callable[[Profile | None, Profile], None]) -> None:
    """Call ``listener(old, new)`` on every profile change (and once now, if one is active)."""
    _listeners.append(listener)
    if _active is not None:
        listener(None, _active)
