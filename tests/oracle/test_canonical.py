"""Tests for oracle/canonical.py: the canonical text, tokens, exact and semantic comparison.

Most graphs here are built with a tiny duck-typed stand-in for torch.fx (`_Graph`), which is also
how refimpl.fx graphs reach the module: nothing but `.graph.nodes`, `node.op/target/args/kwargs`.
One torch-marked test reads a real `make_fx` graph.
"""

from __future__ import annotations

import json
import operator

import pytest

from oracle.canonical import (
    CanonicalGraph,
    NodeRef,
    compare_graphs,
    effect_chains,
    qualified_target,
    semantic_text,
)

# --------------------------------------------------------------------------------------------
# A duck-typed FX stand-in
# --------------------------------------------------------------------------------------------


class _Op:
    """Looks like an OpOverload to the canonical module (namespace, __name__, _overloadname)."""

    def __init__(self, qualname: str) -> None:
        ns, rest = qualname.split("::")
        self.namespace = ns
        self.__name__ = rest
        self._overloadname = rest.split(".")[1]
        self._schema = f"{qualname}(...)"


class _Hop:
    """Looks like a HigherOrderOperator (namespace `higher_order`, `name()`)."""

    namespace = "higher_order"

    def __init__(self, name: str) -> None:
        self._name = name

    def name(self) -> str:
        return self._name


PRINT = _Op("aten::_print.default")
SIN = _Op("aten::sin.default")
COS = _Op("aten::cos.default")
ADD = _Op("aten::add.Tensor")
REC = _Op("fz_r9::rec.default")
WITH_EFFECTS = _Hop("with_effects")


class _Node:
    def __init__(self, graph: _Graph, op: str, target, args=(), kwargs=None, name="n") -> None:
        self.graph = graph
        self.op = op
        self.target = target
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self.name = name


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[_Node] = []

    def add(self, op: str, target, *args, **kwargs) -> _Node:
        node = _Node(self, op, target, args, kwargs, name=f"n{len(self.nodes)}")
        self.nodes.append(node)
        return node

    def call(self, target, *args, **kwargs) -> _Node:
        return self.add("call_function", target, *args, **kwargs)


class _GraphModule:
    def __init__(self, graph: _Graph) -> None:
        self.graph = graph


def _token_chain(first: str, second: str) -> _GraphModule:
    """token, x -> with_effects(print first) -> with_effects(print second); returns (tok, sin)."""
    g = _Graph()
    tok = g.add("placeholder", "arg0_1")
    x = g.add("placeholder", "arg1_1")
    we1 = g.call(WITH_EFFECTS, tok, PRINT, first)
    tok1 = g.call(operator.getitem, we1, 0)
    s = g.call(SIN, x)
    we2 = g.call(WITH_EFFECTS, tok1, PRINT, second)
    tok2 = g.call(operator.getitem, we2, 0)
    g.add("output", "output", (tok2, s))
    return _GraphModule(g)


def _plain(order: str) -> CanonicalGraph:
    """A tokenless graph with two prints and two independent pure nodes, in a given order.

    `order` is a string of node letters: p (print 'a'), q (print 'b'), s (sin x), c (cos x).
    `_print` is effectful because the caller says so, as a runner does from its world's registry.
    """
    g = _Graph()
    x = g.add("placeholder", "x_1")
    made = {}
    for letter in order:
        if letter == "p":
            made[letter] = g.call(PRINT, "a")
        elif letter == "q":
            made[letter] = g.call(PRINT, "b")
        elif letter == "s":
            made[letter] = g.call(SIN, x)
        else:
            made[letter] = g.call(COS, x)
    total = g.call(ADD, made["s"], made["c"])
    g.add("output", "output", (total,))
    return CanonicalGraph.from_graph_module(_GraphModule(g),
                                            effectful_targets={"aten::_print.default"})


# --------------------------------------------------------------------------------------------
# Text form
# --------------------------------------------------------------------------------------------


def test_token_graph_text_marks_tokens_and_qualifies_targets():
    text = CanonicalGraph.from_graph_module(_token_chain("before", "after")).text()
    expected = "\n".join(
        [
            "%0:token = placeholder",
            "%1 = placeholder",
            "%2 = higher_order::with_effects(%0:token, aten::_print.default, 'before')",
            "%3:token = getitem(%2, 0)",
            "%4 = aten::sin.default(%1)",
            "%5 = higher_order::with_effects(%3:token, aten::_print.default, 'after')",
            "%6:token = getitem(%5, 0)",
            "output((%6:token, %4))",
        ]
    )
    assert text == expected, f"expected canonical text\n{expected}\ngot\n{text}"


def test_namespace_map_renames_custom_op_targets():
    g = _Graph()
    x = g.add("placeholder", "x")
    r = g.call(REC, x, "a", flag=True)
    g.add("output", "output", (r,))
    text = CanonicalGraph.from_graph_module(_GraphModule(g), namespace_map={"fz_r9": "fz"}).text()
    assert "%1 = fz::rec.default(%0, 'a', flag=True)" in text, (
        f"expected the run namespace fz_r9 mapped back to fz, kwargs kept; got\n{text}"
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (operator.getitem, "getitem"),
        (PRINT, "aten::_print.default"),
        (WITH_EFFECTS, "higher_order::with_effects"),
        ("add", "add"),
    ],
)
def test_qualified_target_names(target, expected):
    got = qualified_target(target)
    assert got == expected, f"expected qualified name {expected!r}, got {got!r}"


def test_make_token_and_sink_tokens_are_tokens():
    g = _Graph()
    x = g.add("placeholder", "x")
    tok = g.call(_Op("prims::_make_token.default"))
    we = g.call(WITH_EFFECTS, tok, PRINT, "hi")
    tok1 = g.call(operator.getitem, we, 0)
    g.call(_Op("prims::_sink_tokens.default"), [tok1])
    g.add("output", "output", (x,))
    graph = CanonicalGraph.from_graph_module(_GraphModule(g))
    tokens = [i for i, n in enumerate(graph.nodes) if n.token]
    assert tokens == [1, 3], f"expected the made token and the with_effects token, got {tokens}"
    assert "prims::_sink_tokens.default([%3:token])" in graph.text(), graph.text()


def test_json_round_trip_keeps_graph_and_text():
    graph = CanonicalGraph.from_graph_module(_token_chain("before", "after"))
    data = json.loads(json.dumps(graph.to_json()))
    back = CanonicalGraph.from_json(data)
    assert back == graph, f"expected the same graph after JSON, got\n{back.text()}"
    assert data["text"] == graph.text(), "expected the JSON to carry the canonical text"


def test_opaque_literals_and_containers_print_as_python():
    class Dtype:
        def __repr__(self) -> str:
            return "torch.float32"

    g = _Graph()
    x = g.add("placeholder", "x")
    y = g.call(_Op("aten::empty_like.default"), x, dtype=Dtype(), sizes=[1, 2])
    g.add("output", "output", (y,))
    graph = CanonicalGraph.from_graph_module(_GraphModule(g))
    line = graph.text().splitlines()[1]
    expected = "%1 = aten::empty_like.default(%0, dtype=torch.float32, sizes=[1, 2])"
    assert line == expected, f"expected {expected!r}, got {line!r}"
    back = CanonicalGraph.from_json(json.loads(json.dumps(graph.to_json())))
    assert back.text() == graph.text(), "expected opaque literals to survive JSON"


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------


def test_identical_graphs_are_exact():
    diff = compare_graphs(_token_chain("a", "b"), _token_chain("a", "b"))
    assert (diff.exact, diff.semantic, diff.detail) == (True, True, ""), (
        f"expected exact equality with no detail, got {diff}"
    )


def test_reordering_independent_pure_nodes_is_semantic_not_exact():
    diff = compare_graphs(_plain("pqsc"), _plain("pqcs"))
    assert not diff.exact, "expected the reordered texts to differ"
    assert diff.semantic, f"expected semantic equality, got detail\n{diff.detail}"
    assert "semantically equal" in diff.detail and "---" in diff.detail, diff.detail


def test_moving_a_pure_node_across_an_effect_is_semantic():
    diff = compare_graphs(_plain("spqc"), _plain("pqsc"))
    assert (diff.exact, diff.semantic) == (False, True), f"expected (False, True), got {diff}"


def test_swapping_tokenless_effects_is_not_semantic():
    diff = compare_graphs(_plain("pqsc"), _plain("qpsc"))
    assert (diff.exact, diff.semantic) == (False, False), f"expected (False, False), got {diff}"
    assert "effect order differs" in diff.detail, diff.detail


def test_swapping_effects_on_a_token_chain_is_not_semantic():
    diff = compare_graphs(_token_chain("before", "after"), _token_chain("after", "before"))
    assert (diff.exact, diff.semantic) == (False, False), f"expected (False, False), got {diff}"
    assert "only in a" in diff.detail and "only in b" in diff.detail, diff.detail


def test_different_literal_is_not_semantic():
    diff = compare_graphs(_token_chain("before", "after"), _token_chain("before", "later"))
    assert not diff.semantic, f"expected a changed print message to matter, got {diff}"


def test_duplicate_pure_node_count_matters():
    one, two = _Graph(), _Graph()
    for g, copies in ((one, 1), (two, 2)):
        x = g.add("placeholder", "x")
        sins = [g.call(SIN, x) for _ in range(copies)]
        g.add("output", "output", (g.call(ADD, sins[0], sins[-1]),))
    diff = compare_graphs(_GraphModule(one), _GraphModule(two))
    assert not diff.semantic, f"expected an extra node to be a difference, got {diff}"


def test_effect_chains_and_semantic_text():
    graph = CanonicalGraph.from_graph_module(_token_chain("a", "b"))
    chains = effect_chains(graph)
    assert [len(c) for c in chains.values()] == [2], f"expected one chain of two, got {chains}"
    relabelled = semantic_text(graph)
    assert relabelled.splitlines()[0] == "%0:token = placeholder", relabelled


def test_node_ref_text():
    assert NodeRef(3, True).text() == "%3:token", "expected the token mark"
    assert NodeRef(3).text() == "%3", "expected a plain reference"


@pytest.mark.torch
def test_real_make_fx_graph():
    import torch
    from torch.fx.experimental.proxy_tensor import make_fx

    def f(x):
        torch.ops.aten._print.default("hi")
        return (torch.ops.aten.sin.default(x),)

    gm = make_fx(f, tracing_mode="fake")(torch.ones(2))
    text = CanonicalGraph.from_graph_module(gm).text()
    expected = "%0 = placeholder\n%1 = aten::_print.default('hi')\n%2 = aten::sin.default(%0)"
    assert text.startswith(expected), f"expected a text starting\n{expected}\ngot\n{text}"
    assert text.endswith("output((%2,))"), f"expected the output line last, got\n{text}"
