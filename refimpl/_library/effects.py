"""Effect types and the per-operator effect holder.

Models: ``torch/_library/effects.py`` at torch 2.13.0 (``EffectType``, ``EffectHolder``,
``skip_classes``).
Spec: EFF-1, EFF-5, EFF-6.

Simplifications:
1. The schema of an operator is looked up in refimpl's registry (``refimpl.operator``) instead
   of ``torch._C._get_schema``; a script-object argument is a schema type whose text is a class
   type ``__torch__.torch.classes.*``.
"""

from __future__ import annotations

from enum import Enum

from refimpl._library.utils import RegistrationHandle, parse_namespace
from refimpl.operator import _get_operation_overload

__all__ = ["EffectHolder", "EffectType", "skip_classes"]


class EffectType(Enum):
    ORDERED = "Ordered"

    # Members are singletons compared by identity: identity hashing agrees with ``==`` and runs
    # in C (``Enum.__hash__`` is Python; an effect type keys the token map on every effectful op).
    __hash__ = object.__hash__


# These classes only store quantization parameters and have no side effects, so ops taking them
# are not made ORDERED by default (torch's list, kept verbatim).
skip_classes = (
    "__torch__.torch.classes.quantized.Conv2dPackedParamsBase",
    "__torch__.torch.classes.quantized.Conv3dPackedParamsBase",
    "__torch__.torch.classes.quantized.EmbeddingPackedParamsBase",
    "__torch__.torch.classes.quantized.LinearPackedParamsBase",
    "__torch__.torch.classes.xnnpack.Conv2dOpContext",
    "__torch__.torch.classes.xnnpack.LinearOpContext",
    "__torch__.torch.classes.xnnpack.TransposeConv2dOpContext",
)


class EffectHolder:
    """A holder where one can register an effect impl to."""

    def __init__(self, qualname: str) -> None:
        self.qualname: str = qualname
        self._set_default_effect()

    def _set_default_effect(self) -> None:
        """The schema-derived default: ORDERED when the op takes a script object (EFF-6)."""
        self._effect: EffectType | None = None
        namespace, opname = parse_namespace(self.qualname)
        split = opname.split(".")
        if len(split) > 1:
            if len(split) != 2:
                raise AssertionError(
                    f"Tried to split {opname} based on '.' but found more than 1 '.'"
                )
            opname, overload = split
        else:
            overload = ""
        if namespace == "higher_order":
            return
        # [NOTE: overload "default"] The C++ registry names the default overload "", so a
        # qualname spelled "ns::op.default" finds no operator and keeps the default None.
        op = _get_operation_overload(f"{namespace}::{opname}", overload)
        if op is None:
            return
        for arg in op._schema.arguments:
            class_name = arg.type.class_name
            if class_name is not None and arg.type.is_script_object():
                if class_name in skip_classes:
                    continue
                self._effect = EffectType.ORDERED
                return

    @property
    def effect(self) -> EffectType | None:
        return self._effect

    @effect.setter
    def effect(self, _: object) -> None:
        raise RuntimeError("Unable to directly set kernel.")

    def register(self, effect: EffectType | None) -> RegistrationHandle:
        """Register an effect; the handle's ``destroy()`` restores the default (EFF-5)."""
        self._effect = effect
        return RegistrationHandle(self._set_default_effect)
