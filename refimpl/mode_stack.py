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
from typing import Any

from refimpl.dispatch_key import DispatchKey, _tls, key_bit

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

# [NOTE: modes and the Python key] While any mode is on the stack, the TLS include set holds
# Python and PythonTLSSnapshot, so that every op dispatches to the Python key even when no
# argument is a Python tensor subclass. Every push and pop re-derives both bits from the stack
# (one mask, flipped in one step: this runs a dozen times per traced op).
_PY_KEYS = key_bit(DispatchKey.Python) | key_bit(DispatchKey.PythonTLSSnapshot)
_NOT_PY_KEYS = ~_PY_KEYS


def _sync_python_key() -> None:
    """Set or clear the [NOTE: modes and the Python key] bits to match the stack."""
    if _stack.modes:
        _tls.included |= _PY_KEYS
    else:
        _tls.included &= _NOT_PY_KEYS


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


# The two context managers below are small classes rather than ``@contextmanager`` generators:
# the dispatcher enters one per Python-key dispatch, and a generator-based manager costs several
# times as much per use. They behave as the generator versions would: nothing happens until
# ``__enter__``, and an exception in the block propagates after the mode is restored.
class _pop_mode_temporarily:  # noqa: N801 - upstream name (a function upstream)
    """Pop the top mode for the duration of the block, then push it back.

    ``_pop_mode`` and ``_push_mode`` inlined: this runs for every Python-key dispatch, and the
    Python-key bits only change when the stack empties or stops being empty.
    """

    __slots__ = ("mode",)

    def __enter__(self) -> TorchDispatchMode:
        modes = _stack.modes
        if not modes:
            raise AssertionError("Trying to pop from an empty mode stack")
        self.mode = modes.pop()
        if not modes:
            _tls.included &= _NOT_PY_KEYS
        return self.mode

    def __exit__(self, *exc: object) -> None:
        _stack.modes.append(self.mode)
        _tls.included |= _PY_KEYS


class _unset_dispatch_mode:  # noqa: N801 - a context manager keeps its function-style name
    """Take the mode of kind ``key`` off the stack for the block (wherever it sits)."""

    __slots__ = ("key", "mode", "index")

    def __init__(self, key: _TorchDispatchModeKey) -> None:
        self.key = key

    def __enter__(self) -> TorchDispatchMode | None:
        self.mode = mode = _get_dispatch_mode(self.key)
        if mode is not None:
            self.index = _stack.modes.index(mode)
            del _stack.modes[self.index]
            _sync_python_key()
        return mode

    def __exit__(self, *exc: object) -> None:
        if self.mode is not None:
            _stack.modes.insert(self.index, self.mode)
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
