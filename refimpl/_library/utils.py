"""Small helpers of the library layer.

Models: ``torch/_library/utils.py`` at torch 2.13.0 (``RegistrationHandle``,
``parse_namespace``).
Spec: EFF-3, EFF-4.

Simplifications: none.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["RegistrationHandle", "parse_namespace"]


class RegistrationHandle:
    """Does something when someone calls ``.destroy()`` on it."""

    def __init__(self, on_destroy: Callable[[], None]) -> None:
        self._on_destroy = on_destroy

    def destroy(self) -> None:
        self._on_destroy()


def parse_namespace(qualname: str) -> tuple[str, str]:
    """Split ``"ns::name"``; anything else is torch's ValueError."""
    splits = qualname.split("::")
    if len(splits) != 2:
        raise ValueError(
            f"Expected `qualname` to be of the form "
            f'"namespace::name", but got {qualname}. '
            f"The qualname passed to the torch.library APIs must consist "
            f"of a namespace and a name, e.g. aten::sin"
        )
    return splits[0], splits[1]
