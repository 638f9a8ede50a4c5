"""The token-chain invariant of a functional graph.

Models: the invariant that AOTAutograd and torch.export rely on but never check: per effect
type, the ``with_effects`` nodes form one linear chain from an input token to an output token.
Spec: TRC-14, CF-12 (the subgraphs).

Simplifications: none; this checker is refimpl's own (tinygrad-style IR checks).
"""

from __future__ import annotations

import operator
from typing import Any

from refimpl.effects import _get_effect, with_effects
from refimpl.fx import GraphModule, node_code_line
from refimpl.operator import ops

__all__ = ["EffectTokenError", "check_effect_tokens"]


class EffectTokenError(AssertionError):
    """A broken token chain; the message shows the offending node in canonical text."""


def _fail(node: Any, message: str) -> None:
    raise EffectTokenError(f"{message}\n  at: {node_code_line(node)}")


def _token_out(node: Any, slot: int = 0) -> Any | None:
    """The ``getitem(node, slot)`` user of a link, if any (at most one)."""
    outs = [u for u in node.users if u.target is operator.getitem and u.args[1] == slot]
    if len(outs) > 1:
        _fail(node, f"{node.name}'s token output {slot} extracted more than once")
    return outs[0] if outs else None


def _is_token_source(node: Any) -> bool:
    return node.op == "placeholder" or node.target is ops.prims._make_token.default


# A link of a chain is one token slot of a node: ``(with_effects node, 0)``, or ``(hop node,
# k)`` for the k-th of the tokens a subgraph HOP threads under the ``"threaded"`` convention
# (its leading operands and outputs; the functional rule records their effect types in
# ``node.meta["effect_tokens"]``, CF-6).
def _links(gm: GraphModule) -> list[tuple[Any, int, Any, Any]]:
    """``(node, slot, effect type, token operand)`` for every link, in graph order."""
    links = []
    for node in gm.graph.nodes:
        if node.op != "call_function":
            continue
        if node.target is with_effects:
            links.append((node, 0, _get_effect(node.args[1]), node.args[0]))
        for k, effect in enumerate(node.meta.get("effect_tokens", ())):
            links.append((node, k, effect, _hop_operands(node)[k]))
    return links


def _kind(a: Any, b: Any) -> str:
    return "with_effects nodes" if a.target is b.target is with_effects else "links"


def _hop_operands(node: Any) -> tuple:
    """The operands a subgraph HOP passes its subgraphs: cond's fourth argument."""
    return tuple(node.args[3])


def check_effect_tokens(gm: GraphModule, *, require_sink: bool = True) -> dict[Any, list]:
    """Check the chains; return ``{effect type: [link nodes in chain order]}``.

    1. every with_effects node (and every token a threaded ``cond`` takes) takes a token: a
       placeholder, ``_make_token`` or a token output of another link;
    2. no token value feeds two links;
    3. per effect type, exactly one chain, covering all its links;
    4. with ``require_sink``, each chain's last token reaches the output or ``_sink_tokens``;
    5. the same holds in every subgraph ``gm`` reads with ``get_attr`` (checked first), whose
       tokens must come in as its placeholders: a failure there names the subgraph (CF-12).
    """
    for name, child in _subgraphs(gm):  # first: a subgraph's broken chain breaks the outer one
        try:
            check_effect_tokens(child, require_sink=require_sink)
        except EffectTokenError as exc:
            raise EffectTokenError(f"in subgraph {name}: {exc}") from None
    links = _links(gm)
    slots = {(node, k) for node, k, _, _ in links}
    next_of: dict[Any, tuple] = {}
    starts: dict[Any, list] = {}
    for node, k, effect, token in links:
        what = "with_effects" if node.target is with_effects else f"{node.name} (token {k})"
        if not hasattr(token, "op"):
            _fail(node, f"{what} takes the constant {token!r} as its token, not a graph value")
        if token.op == "call_function" and token.target is operator.getitem \
                and (token.args[0], token.args[1]) in slots:
            prev: Any = (token.args[0], token.args[1])
        elif _is_token_source(token):
            prev = token
        else:
            _fail(node, f"{what} takes {token.name}, which is not a token")
        if prev in next_of:
            _fail(node, f"token {token.name} is used by two {_kind(next_of[prev][0], node)} "
                        f"({next_of[prev][0].name} and {node.name})")
        next_of[prev] = (node, k)
        if _is_token_source(token):
            starts.setdefault(effect, []).append((node, k))
    chains = {}
    for effect, heads in starts.items():
        if len(heads) > 1:
            _fail(heads[1][0], f"effect {effect} has {len(heads)} chains (starting at "
                               f"{', '.join(h[0].name for h in heads)}); expected one")
        chains[effect] = _walk(heads[0], next_of, require_sink)
    covered = {slot for chain in chains.values() for slot in chain}
    for node, k, _, _ in links:
        if (node, k) not in covered:
            _fail(node, "with_effects node is not on any chain from an input token")
    return {effect: [node for node, _ in chain] for effect, chain in chains.items()}


def _walk(head: tuple, next_of: dict, require_sink: bool) -> list:
    chain = [head]
    slot = head
    while slot in next_of:
        slot = next_of[slot]
        chain.append(slot)
    last, k = chain[-1]
    if require_sink:
        out = _token_out(last, k)
        sinks = [u for u in (out.users if out is not None else ())
                 if u.op == "output" or u.target is ops.prims._sink_tokens.default]
        if not sinks:
            _fail(last, "the last token of the chain reaches neither the output nor "
                        "_sink_tokens")
    return chain


def _subgraphs(gm: GraphModule) -> list[tuple[str, GraphModule]]:
    """The GraphModules ``gm`` reads with ``get_attr`` (a cond's branches, CF-12)."""
    targets = dict.fromkeys(n.target for n in gm.graph.nodes if n.op == "get_attr")
    return [(t, getattr(gm, t)) for t in targets if isinstance(getattr(gm, t, None), GraphModule)]
