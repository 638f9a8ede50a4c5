"""Array backends: the namespace that holds a tensor's data.

Models: nothing in torch (torch owns its storage); this is refimpl's own layer over the array API
standard, through array-api-compat.
Spec: DSP-21.

Simplifications:
1. One backend is active per process (selected with ``set_backend`` or ``REFIMPL_BACKEND``); tensors
   made under one backend are not converted when the backend changes.
2. Device is a string: ``"cpu"`` for numpy and array-api-strict, ``"cuda"`` for CuPy. ``device``
   (a ``str`` with torch's repr) exists only for what prints a device: a factory's ``device``
   argument recorded in a graph ([NOTE: tensor options]).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from importlib import import_module
from types import ModuleType

import array_api_compat
import array_api_compat.numpy as compat_numpy

__all__ = ["Backend", "BackendError", "available_backends", "device", "get_backend",
           "set_backend"]

BACKENDS = ("numpy", "cupy", "array-api-strict")


class device(str):  # noqa: N801 - upstream name (torch.device)
    """A device string that prints as torch's ``torch.device`` does: ``device(type='cpu')``.

    It equals, hashes and formats (``str``, f-strings) as the plain string, so it works wherever
    refimpl takes a device; only ``repr`` differs, and that is what graph code prints.
    """

    __slots__ = ()

    @property
    def type(self) -> str:
        return self.partition(":")[0]

    @property
    def index(self) -> int | None:
        index = self.partition(":")[2]
        return int(index) if index else None

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"


class BackendError(ValueError):
    """An unknown backend name, or a backend that cannot run on this machine."""


@dataclass(frozen=True)
class Backend:
    name: str
    xp: ModuleType
    device: str

    @cached_property
    def dtypes(self) -> dict[str, object]:
        """refimpl dtype name -> this namespace's dtype object (built on first use: every
        operand conversion reads it). Read it, do not change it."""
        xp = self.xp
        return {"bool": xp.bool, "int32": xp.int32, "int64": xp.int64, "float32": xp.float32,
                "float64": xp.float64}


def _load(name: str) -> Backend:
    if name == "numpy":
        return Backend("numpy", compat_numpy, "cpu")
    if name == "array-api-strict":
        strict = import_module("array_api_strict")
        return Backend(name, strict, "cpu")
    if name == "cupy":
        cupy = import_module("cupy")
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("CuPy found no CUDA device")
        return Backend(name, array_api_compat.array_namespace(cupy.empty(0)), "cuda")
    raise BackendError(
        f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)} "
        f"(available here: {', '.join(available_backends()) or 'none'})"
    )


def available_backends() -> list[str]:
    """Names of the backends that load on this machine."""
    names = []
    for name in BACKENDS:
        try:
            _load(name)
        except Exception:  # noqa: BLE001 - any failure means "not available"
            continue
        names.append(name)
    return names


_active: Backend | None = None


def set_backend(name: str) -> Backend:
    """Select the array backend for new tensors; errors list what is available."""
    global _active
    if name not in BACKENDS:
        _load(name)  # raises BackendError with the list
    try:
        _active = _load(name)
    except BackendError:
        raise
    except Exception as exc:
        raise BackendError(
            f"backend {name!r} is not available here ({exc}); "
            f"available: {', '.join(available_backends()) or 'none'}"
        ) from exc
    return _active


def get_backend() -> Backend:
    """The active backend, chosen on first use from ``REFIMPL_BACKEND`` (default numpy)."""
    if _active is None:
        return set_backend(os.environ.get("REFIMPL_BACKEND", "numpy"))
    return _active
