"""The fake-impl holder of an operator.

Models: ``torch/_library/fake_impl.py`` at torch 2.13.0 (``FakeImplHolder``).
Spec: DSP-15, DSP-18.

Simplifications:
1. No ``FakeImplCtx`` (no dynamic shapes): a fake impl is called with the op's arguments only.
"""

from __future__ import annotations

from collections.abc import Callable

from refimpl._library.utils import RegistrationHandle

__all__ = ["FakeImplHolder"]


class FakeImplHolder:
    """A holder where one can register a fake impl to."""

    def __init__(self, qualname: str) -> None:
        self.qualname = qualname
        self.kernel: Callable | None = None

    def register(self, func: Callable, source: str = "") -> RegistrationHandle:
        if self.kernel is not None:
            raise RuntimeError(
                f"register_fake(...): the operator {self.qualname} already has an fake impl "
                f"registered."
            )
        self.kernel = func

        def deregister_fake_kernel() -> None:
            self.kernel = None

        return RegistrationHandle(deregister_fake_kernel)
