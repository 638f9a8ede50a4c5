"""Graph passes over refimpl.fx graphs (token invariants)."""

from refimpl.passes.effect_tokens import EffectTokenError, check_effect_tokens

__all__ = ["EffectTokenError", "check_effect_tokens"]
