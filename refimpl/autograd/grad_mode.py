"""Grad mode: whether ops record history for backward.

Models: ``torch/autograd/grad_mode.py`` at torch 2.13.0 (``no_grad``, ``enable_grad``,
``set_grad_enabled``) and ``torch.is_grad_enabled`` (``c10::GradMode``, thread-local).
Spec: AG-2.

Simplifications:
1. No inference mode and no ``set_multithreading_enabled``: grad mode is one thread-local flag.
2. ``no_grad`` and friends are context managers and decorators of plain functions only (no
   generator functions).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["enable_grad", "is_grad_enabled", "no_grad", "set_grad_enabled"]


class _GradModeTLS(threading.local):
    def __init__(self) -> None:
        self.enabled = True


_tls = _GradModeTLS()


def is_grad_enabled() -> bool:
    """``torch.is_grad_enabled()``."""
    return _tls.enabled


class _GradModeGuard:
    """Sets grad mode on entry and restores the previous one on exit; decorates functions."""

    _mode: bool

    def __enter__(self) -> None:
        self._prev = _tls.enabled
        _tls.enabled = self._mode

    def __exit__(self, *exc: object) -> None:
        _tls.enabled = self._prev

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = _tls.enabled
            _tls.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _tls.enabled = prev

        return wrapper


class no_grad(_GradModeGuard):  # noqa: N801 - upstream name
    """``torch.no_grad()``: ops record no history inside."""

    _mode = False


class enable_grad(_GradModeGuard):  # noqa: N801 - upstream name
    """``torch.enable_grad()``: ops record history inside, even under ``no_grad``."""

    _mode = True


class set_grad_enabled(_GradModeGuard):  # noqa: N801 - upstream name
    """``torch.set_grad_enabled(mode)``: sets grad mode at once (as a function call) and, used as
    a context manager, restores the previous mode on exit."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled(): argument 'mode' must be bool, not "
                            f"{type(mode).__name__}")
        self._prev = _tls.enabled
        self._mode = mode
        _tls.enabled = mode

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _tls.enabled = self._prev
