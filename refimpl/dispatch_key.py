"""Dispatch keys, key sets, and the thread-local include/exclude sets.

Models: ``c10/core/DispatchKey.h``, ``c10/core/DispatchKeySet.h``,
``c10/core/impl/LocalDispatchKeySet.h`` and ``torch/_ops.py:key_extractor`` at torch 2.13.0.
Spec: DSP-1, DSP-2, DSP-3, DSP-4.

Simplifications:
1. A subset of the keys, each a single bit; the bit order is torch's priority order (see
   ``_RUNTIME_ORDER``). Torch splits keys into functionality bits and backend bits; here each
   per-backend runtime key (``CPU``, ``AutogradCPU``...) is its own bit, which gives the same
   highest-priority answer for the single-backend key sets that occur in this model.
2. Alias keys (``CompositeExplicitAutograd``, ``CompositeImplicitAutograd``, ``Autograd``) never
   appear in a key set; ``is_included_in_alias`` says which runtime keys they stand for.
3. Thread-local state is a ``threading.local`` holding two ints, not C++ TLS.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

__all__ = [
    "DispatchKey", "DispatchKeySet", "ExcludeDispatchKeyGuard", "IncludeDispatchKeyGuard",
    "is_included_in_alias", "key_extractor", "tls_local_exclude_set", "tls_local_include_set",
]


class DispatchKey(enum.Enum):
    """Upstream names, kept exactly (``DispatchKey.CompositeExplicitAutograd``...)."""

    Undefined = "Undefined"
    CPU = "CPU"
    CUDA = "CUDA"
    Meta = "Meta"
    BackendSelect = "BackendSelect"
    Python = "Python"
    Functionalize = "Functionalize"
    ADInplaceOrView = "ADInplaceOrView"
    AutogradOther = "AutogradOther"
    AutogradCPU = "AutogradCPU"
    AutogradCUDA = "AutogradCUDA"
    AutogradMeta = "AutogradMeta"
    AutocastCPU = "AutocastCPU"
    AutocastCUDA = "AutocastCUDA"
    PythonTLSSnapshot = "PythonTLSSnapshot"
    PreDispatch = "PreDispatch"
    PythonDispatcher = "PythonDispatcher"
    # alias keys
    Autograd = "Autograd"
    CompositeImplicitAutograd = "CompositeImplicitAutograd"
    CompositeExplicitAutograd = "CompositeExplicitAutograd"
    CompositeExplicitAutogradNonFunctional = "CompositeExplicitAutogradNonFunctional"

    def __repr__(self) -> str:
        return f"DispatchKey.{self.name}"

    __str__ = __repr__

    # Members are singletons compared by identity, so identity hashing agrees with ``==``; it
    # runs in C, where ``Enum.__hash__`` (``hash(self._name_)``) is a Python call on every
    # kernel-cache lookup. Set and dict order of keys never depended on the hash: string hashes
    # are salted per process.
    __hash__ = object.__hash__


K = DispatchKey

# Lowest priority first, as in torch's enum (DispatchKey.h): backends, then BackendSelect,
# Python, Functionalize, ADInplaceOrView, the autograd keys, autocast, PythonTLSSnapshot,
# PreDispatch, PythonDispatcher.
_RUNTIME_ORDER = (
    K.CPU, K.CUDA, K.Meta, K.BackendSelect, K.Python, K.Functionalize, K.ADInplaceOrView,
    K.AutogradOther, K.AutogradCPU, K.AutogradCUDA, K.AutogradMeta, K.AutocastCPU,
    K.AutocastCUDA, K.PythonTLSSnapshot, K.PreDispatch, K.PythonDispatcher,
)
_BIT = {key: 1 << i for i, key in enumerate(_RUNTIME_ORDER)}
_KEY_OF_BIT = {bit: key for key, bit in _BIT.items()}
_FULL = (1 << len(_RUNTIME_ORDER)) - 1

BACKEND_KEYS = frozenset({K.CPU, K.CUDA, K.Meta})
AUTOGRAD_KEYS = frozenset({K.AutogradOther, K.AutogradCPU, K.AutogradCUDA, K.AutogradMeta})
_ALIASES = {
    K.CompositeExplicitAutograd: BACKEND_KEYS,
    K.CompositeExplicitAutogradNonFunctional: BACKEND_KEYS,
    K.CompositeImplicitAutograd: BACKEND_KEYS | AUTOGRAD_KEYS,
    K.Autograd: AUTOGRAD_KEYS,
}
AUTOGRAD_FOR_BACKEND = {K.CPU: K.AutogradCPU, K.CUDA: K.AutogradCUDA, K.Meta: K.AutogradMeta}


def is_included_in_alias(key: DispatchKey, alias: DispatchKey) -> bool:
    """Whether the runtime ``key`` is one the alias key ``alias`` registers a kernel for."""
    return key in _ALIASES.get(alias, ())


class DispatchKeySet:
    """An immutable set of runtime keys, stored as a bit mask in priority order."""

    __slots__ = ("repr_",)

    def __init__(self, keys: Iterable[DispatchKey] | int = ()) -> None:
        if isinstance(keys, int):
            self.repr_ = keys
            return
        mask = 0
        for key in keys:
            if key not in _BIT:
                raise ValueError(f"{key} is an alias key; it cannot be in a DispatchKeySet")
            mask |= _BIT[key]
        self.repr_ = mask

    @classmethod
    def full(cls) -> DispatchKeySet:
        return cls(_FULL)

    def has(self, key: DispatchKey) -> bool:
        return bool(self.repr_ & _BIT.get(key, 0))

    def add(self, key: DispatchKey) -> DispatchKeySet:
        return DispatchKeySet(self.repr_ | _BIT[key])

    def remove(self, key: DispatchKey) -> DispatchKeySet:
        return DispatchKeySet(self.repr_ & ~_BIT[key])

    def highestPriorityTypeId(self) -> DispatchKey:  # noqa: N802 - upstream name
        if not self.repr_:
            return K.Undefined
        return _KEY_OF_BIT[1 << (self.repr_.bit_length() - 1)]

    def __or__(self, other: DispatchKeySet) -> DispatchKeySet:
        return DispatchKeySet(self.repr_ | other.repr_)

    def __and__(self, other: DispatchKeySet) -> DispatchKeySet:
        return DispatchKeySet(self.repr_ & other.repr_)

    def __sub__(self, other: DispatchKeySet) -> DispatchKeySet:
        return DispatchKeySet(self.repr_ & ~other.repr_)

    def __iter__(self) -> Iterator[DispatchKey]:
        return (key for key in _RUNTIME_ORDER if self.repr_ & _BIT[key])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DispatchKeySet) and other.repr_ == self.repr_

    def __hash__(self) -> int:
        return hash(self.repr_)

    def __bool__(self) -> bool:
        return bool(self.repr_)

    def __repr__(self) -> str:
        return f"DispatchKeySet({', '.join(key.name for key in self)})"


def key_bit(key: DispatchKey) -> int:
    """The bit of a runtime key (refimpl-only helper for the hot path)."""
    return _BIT[key]


def highest_key_of_mask(mask: int) -> DispatchKey:
    """``DispatchKeySet(mask).highestPriorityTypeId()`` without building the set."""
    if not mask:
        return K.Undefined
    return _KEY_OF_BIT[1 << (mask.bit_length() - 1)]


class _LocalDispatchKeySet(threading.local):
    def __init__(self) -> None:
        self.included = 0
        self.excluded = 0


_tls = _LocalDispatchKeySet()


def tls_local_include_set() -> DispatchKeySet:
    """``torch._C._dispatch_tls_local_include_set()``."""
    return DispatchKeySet(_tls.included)


def tls_local_exclude_set() -> DispatchKeySet:
    """``torch._C._dispatch_tls_local_exclude_set()``."""
    return DispatchKeySet(_tls.excluded)


def tls_masks() -> tuple[int, int]:
    """(include, exclude) bit masks for the hot path."""
    return _tls.included, _tls.excluded


def tls_set_included(key: DispatchKey, on: bool) -> None:
    if on:
        _tls.included |= _BIT[key]
    else:
        _tls.included &= ~_BIT[key]


@contextmanager
def IncludeDispatchKeyGuard(keys: DispatchKeySet | DispatchKey):  # noqa: N802 - upstream name
    """Add keys to the TLS include set for the duration; restore the previous set after."""
    mask = keys.repr_ if isinstance(keys, DispatchKeySet) else _BIT[keys]
    saved = _tls.included
    _tls.included = saved | mask
    try:
        yield
    finally:
        _tls.included = saved


@contextmanager
def ExcludeDispatchKeyGuard(keys: DispatchKeySet | DispatchKey):  # noqa: N802 - upstream name
    """Add keys to the TLS exclude set for the duration; restore the previous set after."""
    mask = keys.repr_ if isinstance(keys, DispatchKeySet) else _BIT[keys]
    saved = _tls.excluded
    _tls.excluded = saved | mask
    try:
        yield
    finally:
        _tls.excluded = saved


def key_extractor(tensors: Iterable[object], key_mask: DispatchKeySet) -> DispatchKeySet:
    """``(TLS include | keys of each tensor) - TLS exclude``, masked: torch's ``key_extractor``."""
    mask = _tls.included
    for tensor in tensors:
        mask |= tensor._keys  # type: ignore[attr-defined]
    return DispatchKeySet(mask & ~_tls.excluded & key_mask.repr_)
