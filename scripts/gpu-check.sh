#!/usr/bin/env bash
# Run refimpl's dense and fake-tensor tests on the CuPy backend (DSP-21).
#
# Usage (from anywhere):  scripts/gpu-check.sh [extra pytest arguments]
#
# With CuPy and a CUDA device, runs
#   REFIMPL_BACKEND=cupy python3 -m pytest -q -m "not torch" tests/refimpl/test_backends.py \
#       tests/refimpl/test_fake_tensor.py
# from the repository root and exits with pytest's status. Without CuPy or without a device it
# prints why and exits 0 with "skipped", so CI machines without a GPU stay green.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"

# One line: "ok <n> <device name>" or "missing <reason>".
probe="$("$PYTHON" - <<'PY' 2>&1 || true
try:
    import cupy
except Exception as error:  # ImportError, or a broken CUDA install
    print(f"missing CuPy cannot be imported ({type(error).__name__}: {error})")
else:
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:
        print(f"missing CuPy finds no usable CUDA device ({type(error).__name__}: {error})")
    else:
        if count < 1:
            print("missing CuPy sees no CUDA device")
        else:
            name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
            name = name.decode() if isinstance(name, bytes) else name
            print(f"ok {count} {name}")
PY
)"
probe="$(printf '%s\n' "$probe" | tail -n 1)"

if [[ "$probe" != ok* ]]; then
    echo "gpu-check: skipped: ${probe#missing }"
    echo "gpu-check: install CuPy (pip install -e '.[gpu]', or '.[gpu-cuda12]') on a machine with an NVIDIA GPU to run it."
    exit 0
fi

echo "gpu-check: running the dense and fake tests on CuPy (${probe#ok })"
cd "$ROOT"
REFIMPL_BACKEND=cupy exec "$PYTHON" -m pytest -q -p no:cacheprovider -m "not torch" \
    tests/refimpl/test_backends.py tests/refimpl/test_fake_tensor.py "$@"
