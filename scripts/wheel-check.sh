#!/usr/bin/env bash
# Build the wheel, install it into a fresh virtual environment outside the checkout, and run the
# oracle there (RPT-17): proves that every data file the code reads (profiles, program schema,
# aten schemas, known findings, catalog) ships in the packages, which an editable install hides.
#
# Usage (from anywhere):  scripts/wheel-check.sh
#
# The venv has --system-site-packages, so torch, numpy, jsonschema and rich come from the system
# python; the project itself must come from the wheel, which this checks before running
#   python -m oracle check --paths eager,fake
# from a directory outside the checkout. Exits with that command's status (or 1 on a setup fault).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/wheel-check.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# A copy without build outputs: setuptools reuses build/lib, so a stale one could put files in
# the wheel that the checkout no longer has.
mkdir "$WORK/src" "$WORK/dist" "$WORK/run"
tar -C "$ROOT" --exclude=./.git --exclude=./build --exclude='*.egg-info' --exclude=./findings \
    --exclude=__pycache__ -cf - . | tar -C "$WORK/src" -xf -
"$PYTHON" -m pip wheel --no-deps -q -w "$WORK/dist" "$WORK/src"
"$PYTHON" -m venv --system-site-packages "$WORK/venv"
VENV_PY="$WORK/venv/bin/python"
"$VENV_PY" -m pip install -q --no-deps --no-index "$WORK"/dist/*.whl

cd "$WORK/run"
"$VENV_PY" - "$WORK/venv" <<'PY'
import sys
from pathlib import Path

import oracle
import refimpl

venv = Path(sys.argv[1]).resolve()
for module in (refimpl, oracle):
    where = Path(module.__file__).resolve()
    if venv not in where.parents:
        sys.exit(f"wheel-check: {module.__name__} imported from {where}, not from the wheel in {venv}")
missing = [name for name in ("export", "check_effect_tokens") if not hasattr(refimpl, name)]
if missing:
    sys.exit(f"wheel-check: refimpl lacks the public names {missing}")
profiles = sorted(refimpl.profiles.available_profiles())
print(f"wheel-check: refimpl and oracle from {venv}; profiles {', '.join(profiles)}")
PY
status=0
"$VENV_PY" -m oracle check --paths eager,fake >"$WORK/report.txt" || status=$?
tail -n 3 "$WORK/report.txt"
if [ "$status" -ne 0 ]; then
    cat "$WORK/report.txt"
    echo "wheel-check: 'python -m oracle check --paths eager,fake' exited $status" >&2
fi
exit "$status"
