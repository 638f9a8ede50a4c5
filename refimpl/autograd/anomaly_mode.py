"""Anomaly mode: the flag and its context managers, and what it changes in refimpl.

Models: ``torch/autograd/anomaly_mode.py`` (``detect_anomaly``, ``set_detect_anomaly``) and
``torch._C._is_anomaly_enabled`` at torch 2.13.0. AOTAutograd traces its joint function under
``detect_anomaly(check_nan=False)`` (``graph_capture_wrappers.py``), which is why an error
raised in a traced backward reads differently from eager's.
Spec: AG-11.

Simplifications:
1. What anomaly mode changes is only the hint of the saved-tensor version error
   (``saved_variable.cpp``): no forward stack traces are recorded, no "Error detected in"
   warning is issued, and ``check_nan`` is kept but checks nothing.
2. The flag is process-wide (torch's is too: ``AnomalyMode`` is a static, not thread-local).
"""

from __future__ import annotations

from typing import Any

__all__ = ["detect_anomaly", "is_anomaly_check_nan_enabled", "is_anomaly_enabled",
           "set_detect_anomaly"]

_state = {"enabled": False, "check_nan": True}


def is_anomaly_enabled() -> bool:
    """``torch.is_anomaly_enabled()``."""
    return _state["enabled"]


def is_anomaly_check_nan_enabled() -> bool:
    """``torch.is_anomaly_check_nan_enabled()``."""
    return _state["check_nan"]


class set_detect_anomaly:  # noqa: N801 - upstream name
    """``torch.autograd.set_detect_anomaly(mode, check_nan=True)``: sets the flag on
    construction, restores the previous one when used as a context manager and left."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.prev, self.prev_check_nan = _state["enabled"], _state["check_nan"]
        _state["enabled"], _state["check_nan"] = mode, check_nan

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        _state["enabled"], _state["check_nan"] = self.prev, self.prev_check_nan


class detect_anomaly:  # noqa: N801 - upstream name
    """``torch.autograd.detect_anomaly(check_nan=True)``: anomaly mode on inside the block."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan
        self.prev, self.prev_check_nan = _state["enabled"], _state["check_nan"]

    def __enter__(self) -> None:
        _state["enabled"], _state["check_nan"] = True, self.check_nan

    def __exit__(self, *exc: Any) -> None:
        _state["enabled"], _state["check_nan"] = self.prev, self.prev_check_nan
