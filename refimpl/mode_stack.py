"""The Python dispatch mode stack.

Models: ``torch/utils/_python_dispatch.py`` (``TorchDispatchMode``, ``_get_current_dispatch_mode``,
``_pop_mode_temporarily``, ``_len_torch_dispatch_stack``) and ``torch._C._get_dispatch_mode`` at
torch 2.13.0.
Spec: DSP-11.

Simplifications:
1. One stack. Torch keeps "infra" modes (fake, proxy, functional) in dedicated slots next to the
   user stack; here every mode is on the one stack, and ``_get_dispatch_mode(key)`` searches it for
   the mode whose ``_mode_key`` matches.
2. The stack is thread-local, like torch's.
3. No pre-dispatch stack: ``DispatchKey.PreDispatch`` tracing is not modelled.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from refimpl.dispatch_key import DispatchKey, tls_set_included

__all__ = [
    "TorchDispatchMode", "_TorchDispatchModeKey", "_get_current_dispatch_mode",
    "_get_dispatch_mode", "_len_torch_dispatch_stack", "_pop_mode", "_pop_mode_temporarily",
    "_push_mode", "mode_stack_snapshot",
]


class _TorchDispatchModeKey(enum.Enum):
    """``torch._C._TorchDispatchModeKey``."""

    FAKE = "FAKE"
    PROXY = "PROXY"
    FUNCTIONAL = "FUNCTIONAL"


class _Stack(threading.local):
    def __init__(self) -> None:
        self.modes: list[TorchDispatchMode] = []


_stack = _Stack()


def _sync_python_key() -> None:
    # [NOTE: modes and the Python key] While any mode is on the stack, the TLS include set holds
    # Python and PythonTLSSnapshot, so that every op dispatches to the Python key even when no
    # argument is a Python tensor subclass.
    on = bool(_stack.modes)
    tls_set_included(DispatchKey.Python, on)
    tls_set_included(DispatchKey.PythonTLSSnapshot, on)


def _push_mode(mode: TorchDispatchMode) -> None:
    _stack.modes.append(mode)
    _sync_python_key()


def _pop_mode() -> TorchDispatchMode:
    if not _stack.modes:
        raise AssertionError("Trying to pop from an empty mode stack")
    mode = _stack.modes.pop()
    _sync_python_key()
    return mode


def _len_torch_dispatch_stack() -> int:
    return len(_stack.modes)


def _get_current_dispatch_mode() -> TorchDispatchMode | None:
    """The mode on top of the stack, or None."""
    return _stack.modes[-1] if _stack.modes else None


def _get_dispatch_mode(key: _TorchDispatchModeKey) -> TorchDispatchMode | None:
    """The innermost active mode of kind ``key`` (``torch._C._get_dispatch_mode``)."""
    for mode in reversed(_stack.modes):
        if getattr(mode, "_mode_key", None) is key:
            return mode
    return None


def mode_stack_snapshot() -> tuple[TorchDispatchMode, ...]:
    """The stack, bottom first (refimpl helper for explain traces and tests)."""
    return tuple(_stack.modes)


@contextmanager
def _pop_mode_temporarily() -> Iterator[TorchDispatchMode]:
    """Pop the top mode for the duration of the block, then push it back."""
    mode = _pop_mode()
    try:
        yield mode
    finally:
        _push_mode(mode)


@contextmanager
def _unset_dispatch_mode(key: _TorchDispatchModeKey) -> Iterator[TorchDispatchMode | None]:
    """Take the mode of kind ``key`` off the stack for the block (wherever it sits)."""
    mode = _get_dispatch_mode(key)
    if mode is None:
        yield None
        return
    index = _stack.modes.index(mode)
    del _stack.modes[index]
    _sync_python_key()
    try:
        yield mode
    finally:
        _stack.modes.insert(index, mode)
        _sync_python_key()


class TorchDispatchMode:
    """Base class of dispatch modes: ``with mode:`` pushes it, leaving pops it."""

    supports_higher_order_operators = False
    _mode_key: _TorchDispatchModeKey | None = None

    def __torch_dispatch__(self, func: Any, types: tuple, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        raise NotImplementedError

    def __enter__(self) -> TorchDispatchMode:
        _push_mode(self)
        return self

    def __exit__(self, *exc: object) -> None:
        popped = _pop_mode()
        if popped is not self:
            raise AssertionError(f"mode stack corrupted: exited {self} but popped {popped}")

    @classmethod
    def push(cls, *args: Any, **kwargs: Any) -> TorchDispatchMode:
        return cls(*args, **kwargs)
