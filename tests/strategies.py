"""Shared Hypothesis strategies (import as ``import tests.strategies as st_``).

Models: nothing upstream; array-api-tests keeps its strategies in one module the same way.
Spec: none of its own; the strategies feed tests of DSP-2, DSP-4, DSP-20, DSP-21, EFF-3 and
EFF-5.

Every strategy here is torch-free: values are Python numbers, numpy arrays, refimpl dispatch keys
and qualname strings, so that refimpl-only tests and differential tests draw from the same
places. Tests label each ``data.draw`` themselves.

Simplifications:
1. Values stay small (integers in [-50, 50], floats in [-100, 100] and float32-representable), so
   that int64 arithmetic never overflows and float comparisons need only a small tolerance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refimpl.dispatch_key import _RUNTIME_ORDER, DispatchKey

__all__ = [
    "DTYPE_NAMES",
    "FLOAT_DTYPE_NAMES",
    "RUNTIME_KEYS",
    "arrays",
    "broadcast_shapes",
    "dtype_names",
    "fast_settings",
    "key_sets",
    "operands",
    "python_scalars",
    "qualnames",
    "runtime_keys",
    "shapes",
]

# The modelled dtypes, by refimpl's (and numpy's) name.
DTYPE_NAMES = ("bool", "int64", "float32", "float64")
FLOAT_DTYPE_NAMES = ("float32", "float64")
NUMPY_DTYPES = {"bool": np.bool_, "int64": np.int64, "float32": np.float32, "float64": np.float64}

# Runtime keys in torch's priority order, lowest first (DSP-1).
RUNTIME_KEYS: tuple[DispatchKey, ...] = _RUNTIME_ORDER


def dtype_names(names: tuple[str, ...] = DTYPE_NAMES) -> st.SearchStrategy[str]:
    return st.sampled_from(names)


def shapes(
    *, min_dims: int = 0, max_dims: int = 3, min_side: int = 0, max_side: int = 4
) -> st.SearchStrategy[tuple[int, ...]]:
    """Tensor shapes; zero-size dimensions are allowed by default."""
    return st.lists(st.integers(min_side, max_side), min_size=min_dims, max_size=max_dims).map(
        tuple
    )


@st.composite
def broadcast_shapes(
    draw: Any, *, max_dims: int = 3, max_side: int = 4
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two shapes that broadcast: the second drops leading dims and may set dims to 1."""
    first = draw(shapes(max_dims=max_dims, max_side=max_side), label="first shape")
    keep = draw(st.integers(0, len(first)), label="trailing dims kept")
    second = list(first[len(first) - keep :])
    for i in range(len(second)):
        if draw(st.booleans(), label=f"dim {i} set to 1"):
            second[i] = 1
    if draw(st.booleans(), label="swap operands"):
        return tuple(second), first
    return first, tuple(second)


def _elements(dtype_name: str) -> st.SearchStrategy[Any]:
    if dtype_name == "bool":
        return st.booleans()
    if dtype_name == "int64":
        return st.integers(-50, 50)
    return st.floats(-100, 100, allow_nan=False, allow_infinity=False, width=32)


def arrays(dtype_name: str, shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """A numpy array of ``dtype_name`` with small values."""
    return hnp.arrays(NUMPY_DTYPES[dtype_name], shape, elements=_elements(dtype_name))


def python_scalars(kinds: tuple[str, ...] = DTYPE_NAMES) -> st.SearchStrategy[Any]:
    """Python ``bool``, ``int`` or ``float`` values (a dtype name picks each kind)."""
    choices = []
    if "bool" in kinds:
        choices.append(st.booleans())
    if "int64" in kinds:
        choices.append(st.integers(-50, 50))
    if any(k in kinds for k in FLOAT_DTYPE_NAMES):
        choices.append(st.floats(-100, 100, allow_nan=False, width=32))
    return st.one_of(*choices)


@st.composite
def operands(draw: Any, *, allow_scalar: bool = True) -> tuple[str, Any, Any]:
    """One operand of an elementwise op: ``("tensor", shape, dtype)``, ``("zero_dim", (),
    dtype)`` or ``("scalar", None, value)`` (the three promotion tiers of DSP-20)."""
    kinds = ["tensor", "zero_dim"] + (["scalar"] if allow_scalar else [])
    kind = draw(st.sampled_from(kinds), label="operand kind")
    if kind == "scalar":
        return kind, None, draw(python_scalars(), label="scalar value")
    shape = (
        ()
        if kind == "zero_dim"
        else draw(shapes(min_dims=1, max_dims=2, min_side=1, max_side=3), label="operand shape")
    )
    return kind, shape, draw(dtype_names(), label="operand dtype")


def runtime_keys() -> st.SearchStrategy[DispatchKey]:
    return st.sampled_from(RUNTIME_KEYS)


def key_sets() -> st.SearchStrategy[frozenset[DispatchKey]]:
    """Sets of runtime keys (the model of a ``DispatchKeySet``)."""
    return st.frozensets(runtime_keys())


# Qualnames whose entries the registry tests touch: ops with a script-object argument (default
# ORDERED), plain aten ops, an op that does not exist, a higher-order op, and the import list.
REGISTRY_QUALNAMES = (
    "aten::_print",
    "aten::_async_error",
    "aten::_linalg_check_errors",
    "aten::add.Tensor",
    "aten::_print.default",
    "profiler::_record_function_exit._RecordFunction",
    "higher_order::call_torchbind",
    "higher_order::with_effects",
    "nonexistent::op",
)


def qualnames() -> st.SearchStrategy[str]:
    return st.sampled_from(REGISTRY_QUALNAMES)


def fast_settings(max_examples: int = 50, **kwargs: Any) -> settings:
    """Settings for this suite: few examples, no deadline (the suite runs in under 60 s on two
    cores), and function-scoped fixtures allowed, since the refimpl tests restore global state
    (profile, effect registry, backend) once per test, not once per example."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
        **kwargs,
    )
