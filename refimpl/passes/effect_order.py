"""Which effect pairs of a functional graph are ordered by the token chain alone.

Models: nothing upstream; this is the question a compiler's scheduler must answer right. In a
functional graph (``refimpl.export.aot_export``) two ``with_effects`` nodes ``a`` before ``b`` may
also be ordered by data (``b`` uses a value computed from ``a``'s outputs); when no such path
exists, only the token edge ``getitem(a, 0) -> ... -> b`` keeps them in program order, and a
scheduler that drops or ignores token edges (the inductor reorder in findings/001) is free to swap
them. The fuzzer aims at programs with many such pairs (oracle/analysis.py).
Spec: TRC-15.

Simplifications:
1. Data paths are followed through every non-token edge, whatever the op; the token edges are
   the uses of a token placeholder and of ``getitem(w, 0)`` for a ``with_effects`` node ``w``.
2. "Pure work between" counts the ``call_function`` nodes that are neither ``with_effects`` nor
   ``getitem`` and stand between the two nodes in graph order.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

from refimpl.effects import with_effects

__all__ = ["TokenOnlyPair", "token_only_pairs"]


@dataclass(frozen=True)
class TokenOnlyPair:
    """Two effectful calls, ``first`` before ``second`` in program order, with no data path
    from ``first`` to ``second``: only the token chain orders them."""

    first: str  # node names
    second: str
    first_op: str  # the inner ops' names (``aten::_print``, ``fz::rec``)
    second_op: str
    pure_between: int
    touches_mutated_input: bool  # either call takes a placeholder the graph mutates
    mutation_between: bool = False  # an input's new value is computed between the two calls


def _is_token_edge(node: Any, token_inputs: set[Any]) -> bool:
    if node in token_inputs:
        return True
    return (node.op == "call_function" and node.target is operator.getitem
            and node.args[0].op == "call_function" and node.args[0].target is with_effects
            and node.args[1] == 0)


def _data_descendants(start: Any, token_inputs: set[Any]) -> set[Any]:
    """Nodes reachable from ``start`` without passing through a token value."""
    seen: set[Any] = set()
    stack = [u for u in start.users if not _is_token_edge(u, token_inputs)]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(u for u in node.users if not _is_token_edge(u, token_inputs))
    return seen


def _inner_name(node: Any) -> str:
    op = node.args[1]
    return op.name() if hasattr(op, "name") else str(op)


def _placeholders_used(node: Any) -> set[str]:
    found: set[str] = set()
    stack = list(node.args) + list(node.kwargs.values())
    while stack:
        value = stack.pop()
        if isinstance(value, (list, tuple)):
            stack.extend(value)
        elif hasattr(value, "op") and value.op == "placeholder":
            found.add(value.name)
    return found


def token_only_pairs(gm: Any, input_tokens: list[str] = (),
                     mutated_inputs: set[str] = frozenset(),
                     mutation_outputs: set[str] = frozenset()) -> list[TokenOnlyPair]:
    """Every pair of ``with_effects`` nodes that only the token chain orders, in graph order.

    ``input_tokens`` names the token placeholders (``GraphSignature.input_tokens``),
    ``mutated_inputs`` the placeholders whose values the graph mutates
    (``GraphSignature.user_inputs_to_mutate.values()``) and ``mutation_outputs`` the nodes that
    compute their new values (its keys).
    """
    nodes = list(gm.graph.nodes)
    position = {node: i for i, node in enumerate(nodes)}
    token_inputs = {n for n in nodes if n.op == "placeholder" and n.name in set(input_tokens)}
    effects = [n for n in nodes if n.op == "call_function" and n.target is with_effects]
    pure_at = [i for i, n in enumerate(nodes) if n.op == "call_function"
               and n.target is not with_effects and n.target is not operator.getitem]
    mutation_at = [i for i, n in enumerate(nodes) if n.name in set(mutation_outputs)]
    pairs = []
    for i, first in enumerate(effects):
        reach = _data_descendants(first, token_inputs)
        for second in effects[i + 1:]:
            if second in reach:
                continue
            lo, hi = position[first], position[second]
            touches = bool((_placeholders_used(first) | _placeholders_used(second))
                           & set(mutated_inputs))
            pairs.append(TokenOnlyPair(first.name, second.name, _inner_name(first),
                                       _inner_name(second), sum(lo < k < hi for k in pure_at),
                                       touches, any(lo < k < hi for k in mutation_at)))
    return pairs
