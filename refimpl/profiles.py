"""Version profiles: the named switches where torch versions differ from the seed.

Models: nothing in torch; each switch names one observed difference between the seed and a torch
build (``specs/README.md``, "Profiles"; ``../shared/reference/seed-vs-torch.md``).
Spec: EFF-8, EFF-10, EFF-11, EFF-12, EFF-24, DSP-23, DSP-24, RPT-7.

Simplifications:
1. Profiles are the package's data files ``refimpl/_profiles/*.toml``, read with
   ``importlib.resources`` (so a wheel install has them, RPT-17); ``REFIMPL_PROFILE`` or
   ``set_profile`` picks one, the default is ``seed``.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

try:
    from importlib.resources.abc import Traversable
except ImportError:  # Python 3.10 has it in importlib.abc only
    from importlib.abc import Traversable

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

__all__ = ["Profile", "UnprofiledTorchWarning", "available_profiles", "get_profile",
           "load_profile", "nearest_profile", "on_profile_change",
           "profile_for_torch_version", "set_profile", "switch_choices", "switch_types"]

# The profiles ship inside the package (pyproject.toml's package-data), beside this module.
PROFILE_DIR: Traversable = resources.files("refimpl") / "_profiles"


@dataclass(frozen=True)
class Profile:
    """One profile; every field after ``torch_versions`` is a switch, typed by its annotation.

    A ``Literal[...]`` annotation lists the switch's choices, a ``tuple[...]`` one the type of
    each element (``tuple[str, ...]`` any number, ``tuple[int, int, int]`` exactly three);
    ``load_profile`` checks files against these annotations, so the dataclass is the one place a
    switch is declared.
    """

    name: str
    description: str
    torch_versions: tuple[str, ...]
    import_registrations: tuple[str, ...]
    with_effects_asserts_has_effects: bool
    hop_has_aliasing: Literal["not_effect", "false"]
    has_effects_profiler_skip: bool
    check_messages: Literal["assert", "explicit"]
    functionalize_rule: bool
    bool_arith_error: Literal["RuntimeError", "NotImplementedError"]
    linalg_assert_lines: tuple[int, int, int]
    custom_op_backward_count_check: bool
    subgraph_tokens: Literal["shared", "threaded"]
    path: Path | Traversable | None = field(default=None, compare=False)


_HEADER = ("name", "description", "torch_versions")


def switch_types() -> dict[str, Any]:
    """Each switch's annotation (``bool``, ``tuple[str, ...]`` or a ``Literal``), by name."""
    hints = get_type_hints(Profile)
    return {f.name: hints[f.name] for f in fields(Profile)
            if f.name not in _HEADER and f.name != "path"}


def switch_choices(name: str) -> tuple[Any, ...] | None:
    """The choices of a ``Literal`` switch, or ``None`` for a bool or list switch."""
    kind = switch_types()[name]
    return get_args(kind) if get_origin(kind) is Literal else None


def _is_a(value: Any, kind: type) -> bool:
    """``isinstance``, except that a TOML boolean is no ``int``."""
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def _check_switch(path: Traversable, key: str, kind: Any, value: Any) -> None:
    if get_origin(kind) is Literal:
        if value not in get_args(kind):
            raise ValueError(f"{path}: switch {key!r} must be one of {get_args(kind)}, "
                             f"got {value!r}")
        return
    if get_origin(kind) is tuple:
        items = get_args(kind)
        if items[-1] is Ellipsis:
            wanted = f"a list of {items[0].__name__}"
            ok = isinstance(value, list) and all(_is_a(v, items[0]) for v in value)
        else:
            wanted = f"a list [{', '.join(t.__name__ for t in items)}]"
            ok = (isinstance(value, list) and len(value) == len(items)
                  and all(map(_is_a, value, items)))
        if not ok:
            raise ValueError(f"{path}: switch {key!r} must be {wanted}, got {value!r}")
        return
    if not _is_a(value, kind):
        raise ValueError(f"{path}: switch {key!r} must be {kind.__name__}, got {value!r}")


def _read_switches(path: Traversable, seen: tuple[str, ...] = ()) -> tuple[dict, dict[str, Any]]:
    """The file's data and its switches, merged over those of the profile it ``inherits``.

    ``path`` is a ``Path`` or a package resource (``PROFILE_DIR / "seed.toml"``); both open,
    and both have the ``parent`` an ``inherits`` is looked up in."""
    if str(path) in seen:
        raise ValueError(f"{path}: inherits itself through {list(seen)}")
    with path.open("rb") as f:
        data = tomllib.load(f)
    switches: dict[str, Any] = {}
    parent = data.get("inherits")
    if parent is not None:
        parent_path = path.parent / f"{parent}.toml"
        if not parent_path.is_file():
            raise ValueError(f"{path}: inherits unknown profile {parent!r}")
        switches.update(_read_switches(parent_path, seen + (str(path),))[1])
    switches.update(data.get("switches", {}))
    return data, switches


def load_profile(path: Path | Traversable) -> Profile:
    """Read and check one profile file; errors name the file and the switch."""
    data, switches = _read_switches(path)
    kinds = switch_types()
    for key, kind in kinds.items():
        if key not in switches:
            raise ValueError(f"{path}: [switches] is missing {key!r}")
        _check_switch(path, key, kind, switches[key])
    unknown = set(switches) - set(kinds)
    if unknown:
        raise ValueError(f"{path}: unknown switches {sorted(unknown)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in switches.items()}
    return Profile(
        name=data["name"], description=data.get("description", ""),
        torch_versions=tuple(data.get("torch_versions", ())), **values, path=path,
    )


def available_profiles() -> dict[str, Profile]:
    """Every profile in ``refimpl/_profiles``, by name."""
    profiles = {}
    files = [p for p in PROFILE_DIR.iterdir() if p.name.endswith(".toml")]
    for path in sorted(files, key=lambda p: p.name):
        profile = load_profile(path)
        profiles[profile.name] = profile
    return profiles


class UnprofiledTorchWarning(UserWarning):
    """No profile matches the torch version; refimpl runs the nearest one instead (RPT-7)."""


def _series(version: str) -> tuple[int, int] | None:
    """``"2.13.0+cpu"`` -> ``(2, 13)``; ``None`` unless ``version`` starts with two numbers."""
    found = re.match(r"(\d+)\.(\d+)", version)
    return (int(found[1]), int(found[2])) if found else None


def nearest_profile(version: str) -> Profile | None:
    """The profile whose series is closest to ``version``'s, or ``None`` when ``version`` or no
    profile names a series: in the same major version the nearest minor (the newer of two equally
    near), else the newest series of an older major or the oldest of a newer one."""
    wanted = _series(version)
    candidates = [(series, p) for p in available_profiles().values()
                  for series in map(_series, p.torch_versions) if series is not None]
    if wanted is None or not candidates:
        return None

    def distance(item: tuple[tuple[int, int], Profile]) -> tuple[int, int, int]:
        (major, minor), _ = item
        if major == wanted[0]:
            return 0, abs(minor - wanted[1]), -minor
        return 1, abs(major - wanted[0]), -minor if major < wanted[0] else minor

    return min(candidates, key=distance)[1]


def profile_for_torch_version(version: str, *, nearest: bool = False) -> Profile:
    """The profile whose ``torch_versions`` prefixes match ``version`` (e.g. ``2.13.0+cpu``).

    With no match: ``LookupError``, or with ``nearest`` an ``UnprofiledTorchWarning`` naming the
    nearest profile (``nearest_profile``), which is returned.
    """
    for profile in available_profiles().values():
        if any(version == prefix or version.startswith(prefix + ".")
               for prefix in profile.torch_versions):
            return profile
    closest = nearest_profile(version) if nearest else None
    if closest is None:
        raise LookupError(f"no profile matches torch {version}; available: "
                          f"{', '.join(available_profiles())}")
    warnings.warn(f"no profile matches torch {version}; using the nearest, {closest.name} "
                  f"(torch {', '.join(closest.torch_versions)}): behaviours that changed since "
                  f"may be reported as divergences", UnprofiledTorchWarning, stacklevel=2)
    return closest


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
