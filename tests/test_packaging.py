"""The packages as a user installs them: data files and public names (no torch needed).

Spec: RPT-17. The full proof, a wheel installed into a fresh venv outside the checkout running
`python -m oracle check --paths eager,fake`, is `scripts/wheel-check.sh` (run by .ci/run).
"""

from __future__ import annotations

import fnmatch
import subprocess
import sys
from pathlib import Path

import pytest

import refimpl
from oracle import behaviors
from refimpl import profiles

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("refimpl", "oracle")
# Files in a package directory that no code reads: documentation for readers of the source.
NOT_DATA = {"README.md"}


def _package_data() -> dict[str, list[str]]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["setuptools"]["package-data"]


def _data_files(package: str) -> list[str]:
    base = ROOT / package
    return sorted(
        str(p.relative_to(base)) for p in base.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
        and p.name not in NOT_DATA
    )


@pytest.mark.spec("RPT-17")
@pytest.mark.parametrize("package", PACKAGES)
def test_every_data_file_is_package_data(package):
    globs = _package_data().get(package, [])
    files = _data_files(package)
    assert files, f"expected data files in {package}/, found none"
    unshipped = [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert not unshipped, (f"expected every data file of {package}/ in pyproject.toml's "
                           f"package-data {globs}; not shipped: {unshipped}")


@pytest.mark.spec("RPT-17")
def test_profiles_and_aten_schemas_are_read_from_inside_the_packages():
    for name, resource, package in (("profiles", profiles.PROFILE_DIR, refimpl),
                                    ("aten schemas", behaviors.ATEN_SCHEMAS_PATH, behaviors)):
        where = Path(str(resource)).resolve()
        home = Path(package.__file__).resolve().parent
        assert home in where.parents, f"expected the {name} under {home}, got {where}"
    found = sorted(profiles.available_profiles())
    assert {"seed", "torch-2.13", "torch-2.14"} <= set(found), f"got profiles {found}"
    assert behaviors.KNOWN_ATEN_OPS, "expected the recorded aten schemas, got none"


@pytest.mark.spec("RPT-17")
def test_public_names_are_reachable_after_import_refimpl():
    """In a fresh interpreter, so that no other test's import of the submodules helps."""
    code = ("import refimpl; "
            "print(refimpl.export.aot_export.__name__, refimpl.check_effect_tokens.__name__, "
            "refimpl.EffectTokenError.__name__)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 0, f"expected the names after `import refimpl`: {proc.stderr}"
    assert proc.stdout.split() == ["aot_export", "check_effect_tokens", "EffectTokenError"], (
        f"expected the three names, got {proc.stdout!r}")
    missing = [name for name in refimpl.__all__ if not hasattr(refimpl, name)]
    assert not missing, f"expected every name of refimpl.__all__ defined, missing {missing}"
