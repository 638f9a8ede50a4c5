"""The registry of "simple" per-operator registrations: effects and fake impls.

Models: ``torch/_library/simple_registry.py`` at torch 2.13.0 (``SimpleLibraryRegistry``,
``SimpleOperatorEntry``, ``singleton``).
Spec: EFF-3.

Simplifications:
1. An entry holds only the effect and fake-impl holders (no torch-dispatch rules, no symmetric
   memory arguments).
"""

from __future__ import annotations

from refimpl._library.effects import EffectHolder
from refimpl._library.fake_impl import FakeImplHolder

__all__ = ["SimpleLibraryRegistry", "SimpleOperatorEntry", "singleton"]


class SimpleOperatorEntry:
    """One entry per qualname (``"aten::_print"``, ``"aten::add.Tensor"``)."""

    def __init__(self, qualname: str) -> None:
        self.qualname: str = qualname
        self.fake_impl: FakeImplHolder = FakeImplHolder(qualname)
        self.effect: EffectHolder = EffectHolder(qualname)


class SimpleLibraryRegistry:
    """Qualname to entry; ``find`` creates missing entries."""

    def __init__(self) -> None:
        self._data: dict[str, SimpleOperatorEntry] = {}

    def find(self, qualname: str) -> SimpleOperatorEntry:
        res = self._data.get(qualname)
        if res is None:
            self._data[qualname] = res = SimpleOperatorEntry(qualname)
        return res

    def get(self, qualname: str) -> SimpleOperatorEntry | None:
        return self._data.get(qualname)


singleton: SimpleLibraryRegistry = SimpleLibraryRegistry()
