"""Graph passes over refimpl.fx graphs (token invariants, token-only effect order)."""

from refimpl.passes.effect_order import TokenOnlyPair, token_only_pairs
from refimpl.passes.effect_tokens import EffectTokenError, check_effect_tokens

__all__ = ["EffectTokenError", "TokenOnlyPair", "check_effect_tokens", "token_only_pairs"]
