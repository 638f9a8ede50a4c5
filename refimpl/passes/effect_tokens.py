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


def _token_out(node: Any) -> Any | None:
    """The ``getitem(node, 0)`` user of a with_effects node, if any (at most one)."""
    outs = [u for u in node.users if u.target is operator.getitem and u.args[1] == 0]
    if len(outs) > 1:
        _fail(node, "with_effects token output extracted more than once")
    return outs[0] if outs else None


def _is_token_source(node: Any) -> bool:
    return node.op == "placeholder" or node.target is ops.prims._make_token.default


def check_effect_tokens(gm: GraphModule, *, require_sink: bool = True) -> dict[Any, list]:
    """Check the chains; return ``{effect type: [with_effects nodes in chain order]}``.

    1. every with_effects node takes a token: a placeholder, ``_make_token`` or the token output
       of another with_effects node;
    2. no token value feeds two with_effects nodes;
    3. per effect type, exactly one chain, covering all its with_effects nodes;
    4. with ``require_sink``, each chain's last token reaches the output or ``_sink_tokens``;
    5. the same holds in every subgraph ``gm`` reads with ``get_attr``, whose tokens must come in
       as its placeholders: a failure there names the subgraph (CF-12).
    """
    nodes = [n for n in gm.graph.nodes if n.op == "call_function" and n.target is with_effects]
    next_of: dict[Any, Any] = {}
    starts: dict[Any, list] = {}
    for node in nodes:
        token = node.args[0]
        if not hasattr(token, "op"):
            _fail(node, f"with_effects takes the constant {token!r} as its token, not a graph "
                        f"value")
        if token.op == "call_function" and token.target is operator.getitem \
                and token.args[0].target is with_effects and token.args[1] == 0:
            prev = token.args[0]
        elif _is_token_source(token):
            prev = token
        else:
            _fail(node, f"with_effects takes {token.name}, which is not a token")
        if prev in next_of:
            _fail(node, f"token {token.name} is used by two with_effects nodes "
                        f"({next_of[prev].name} and {node.name})")
        next_of[prev] = node
        if _is_token_source(token):
            starts.setdefault(_get_effect(node.args[1]), []).append(node)
    chains = {}
    for effect, heads in starts.items():
        if len(heads) > 1:
            _fail(heads[1], f"effect {effect} has {len(heads)} chains (starting at "
                            f"{', '.join(h.name for h in heads)}); expected one")
        chains[effect] = _walk(heads[0], next_of, require_sink)
    covered = {n for chain in chains.values() for n in chain}
    for node in nodes:
        if node not in covered:
            _fail(node, "with_effects node is not on any chain from an input token")
    for name, child in _subgraphs(gm):
        try:
            check_effect_tokens(child, require_sink=require_sink)
        except EffectTokenError as exc:
            raise EffectTokenError(f"in subgraph {name}: {exc}") from None
    return chains


def _subgraphs(gm: GraphModule) -> list[tuple[str, GraphModule]]:
    """The GraphModules ``gm`` reads with ``get_attr`` (a cond's branches, CF-12)."""
    targets = dict.fromkeys(n.target for n in gm.graph.nodes if n.op == "get_attr")
    return [(t, getattr(gm, t)) for t in targets if isinstance(getattr(gm, t, None), GraphModule)]


def _walk(head: Any, next_of: dict, require_sink: bool) -> list:
    chain = [head]
    node = head
    while node in next_of:
        node = next_of[node]
        chain.append(node)
    last = chain[-1]
    if require_sink:
        out = _token_out(last)
        sinks = [u for u in (out.users if out is not None else ())
                 if u.op == "output" or u.target is ops.prims._sink_tokens.default]
        if not sinks:
            _fail(last, "the last token of the chain reaches neither the output nor "
                        "_sink_tokens")
    return chain
