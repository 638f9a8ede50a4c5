"""Canonical graph form: one text per FX graph, and exact / semantic comparison.

Models: the node list of `torch.fx.Graph` (torch 2.13.0, `torch/fx/graph.py`, `torch/fx/node.py`)
and `refimpl.fx.graph.Graph`, read by duck typing only (`gm.graph.nodes`, `node.op`, `node.target`,
`node.args`, `node.kwargs`), so this module imports neither torch nor refimpl.
Spec: docs/architecture.md (canonical graph form), the oracle contract (`compare_graphs`).

A `CanonicalGraph` lists the nodes in graph order; a reference to node k prints `%k`; operator
targets print by qualified name (`aten::_print.default`, `higher_order::with_effects`, `getitem`);
literals print as Python literals; token values print as `%k:token`. Example (torch 05a):

    %0:token = placeholder
    %1 = placeholder
    %2 = higher_order::with_effects(%0:token, aten::_print.default, 'before')
    %3:token = getitem(%2, 0)
    %4 = aten::add.Tensor(%1, %1)
    ...
    output((%7:token, %4))

A graph's subgraphs (the GraphModules its `get_attr` nodes read: a cond's `true_graph_0`...)
follow its own text, each under `# subgraph <name>`, and are compared with it.

Simplifications:
1. Node names (`arg0_1`, `x_1`, `getitem_2`) are dropped: they are renaming, and the FX `code` text
   keeps them for whoever wants a name-exact comparison.
2. Tokens are found by use, not by signature: a placeholder or node is a token when it is the
   first argument of `with_effects`, element 0 of a `with_effects` result, a `prims::_make_token`
   result, or an element of the list given to `prims::_sink_tokens`. A token placeholder that no
   effect ever uses is not marked.
3. `semantic` compares structural (Merkle) hashes of nodes: two graphs that differ only in how
   often an identical pure computation is repeated or shared (CSE) compare equal.
4. Which targets are effectful without a token (for the order check of tokenless graphs, e.g. a
   plain `make_fx` graph) is a name set: `DEFAULT_EFFECTFUL_TARGETS` plus what the caller passes
   (each runner: the ops its world's effect registry calls effectful during the run).
"""

from __future__ import annotations

import difflib
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

WITH_EFFECTS = "higher_order::with_effects"
MAKE_TOKEN = "prims::_make_token.default"
SINK_TOKENS = "prims::_sink_tokens.default"

# Targets treated as ordered even where no token threads them (see Simplification 4): the token
# plumbing and the higher-order ops; the runners add the operators their world's effect registry
# calls effectful (the modelled aten ops the profile registers, the program's ops).
DEFAULT_EFFECTFUL_TARGETS = frozenset(
    {
        WITH_EFFECTS,
        SINK_TOKENS,
        "higher_order::print",
        "higher_order::call_torchbind",
    }
)


# --------------------------------------------------------------------------------------------
# Argument atoms
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeRef:
    """A reference to the node at position `index` of the canonical node list."""

    index: int
    token: bool = False

    def text(self) -> str:
        return f"%{self.index}:token" if self.token else f"%{self.index}"


@dataclass(frozen=True)
class OpTarget:
    """An operator passed as an argument (the `op` of `with_effects`), by qualified name."""

    name: str


@dataclass(frozen=True)
class Opaque:
    """A literal with no JSON form (a dtype, a device, a slice): kept as its `repr`."""

    text: str


@dataclass(frozen=True)
class CanonicalNode:
    """One node: `op` is the FX opcode, `target` the qualified target ('' for a placeholder)."""

    op: str
    target: str
    args: tuple
    kwargs: tuple[tuple[str, Any], ...]
    token: bool = False
    effectful: bool = False


# --------------------------------------------------------------------------------------------
# Qualified target names (duck-typed torch / refimpl operators)
# --------------------------------------------------------------------------------------------


def qualified_target(target: Any, namespace_map: dict[str, str] | None = None) -> str:
    """`ns::name.overload` for an OpOverload, `higher_order::name` for a HOP, `getitem`...

    `namespace_map` renames namespaces (a run-unique `fz_r12345` back to the program's `fz`).
    """
    nsmap = namespace_map or {}
    if isinstance(target, str):
        return target
    if hasattr(target, "_overloadname") and hasattr(target, "namespace"):
        return f"{nsmap.get(target.namespace, target.namespace)}::{target.__name__}"
    if hasattr(target, "_qualified_op_name"):
        ns, name = target._qualified_op_name.split("::", 1)
        return f"{nsmap.get(ns, ns)}::{name}"
    if callable(getattr(target, "name", None)) and hasattr(target, "namespace"):
        return f"{target.namespace}::{target.name()}"
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", repr(target))
    if module in ("_operator", "operator"):
        return name
    if module in ("builtins", ""):
        return name
    return f"{module.replace('torch._ops', 'torch.ops')}.{name}"


def _is_operator(value: Any) -> bool:
    if isinstance(value, (str, int, float, bool, type(None))):
        return False
    if hasattr(value, "_overloadname") and hasattr(value, "_schema"):
        return True
    if hasattr(value, "_qualified_op_name"):
        return True
    return callable(getattr(value, "name", None)) and hasattr(value, "namespace")


def _is_fx_node(value: Any) -> bool:
    return hasattr(value, "op") and hasattr(value, "graph") and hasattr(value, "name")


# --------------------------------------------------------------------------------------------
# Building the canonical form
# --------------------------------------------------------------------------------------------


class _Builder:
    """Turns FX nodes into `CanonicalNode`s; `tokens` holds the ids of token-valued nodes."""

    def __init__(self, nodes: list, namespace_map: dict[str, str] | None) -> None:
        self.nodes = nodes
        self.index = {id(n): i for i, n in enumerate(nodes)}
        self.namespace_map = namespace_map
        self.tokens = _find_tokens(nodes, namespace_map)

    def atom(self, value: Any) -> Any:
        if _is_fx_node(value) and id(value) in self.index:
            return NodeRef(self.index[id(value)], id(value) in self.tokens)
        if isinstance(value, tuple):
            return tuple(self.atom(v) for v in value)
        if isinstance(value, list):
            return [self.atom(v) for v in value]
        if isinstance(value, dict):
            return {str(k): self.atom(v) for k, v in value.items()}
        if isinstance(value, (str, int, float, bool, type(None))):
            return value
        if _is_operator(value):
            return OpTarget(qualified_target(value, self.namespace_map))
        return Opaque(repr(value))

    def node(self, n: Any, effectful_targets: frozenset[str]) -> CanonicalNode:
        target = "" if n.op == "placeholder" else qualified_target(n.target, self.namespace_map)
        kwargs = tuple((str(k), self.atom(v)) for k, v in dict(n.kwargs).items())
        return CanonicalNode(
            op=n.op,
            target=target,
            args=tuple(self.atom(a) for a in n.args),
            kwargs=kwargs,
            token=id(n) in self.tokens,
            effectful=n.op == "call_function" and target in effectful_targets,
        )


def _find_tokens(nodes: list, namespace_map: dict[str, str] | None) -> set[int]:
    """[NOTE: token discovery] ids of nodes that carry an effect token (Simplification 2)."""
    tokens: set[int] = set()
    for n in nodes:
        if n.op != "call_function":
            continue
        target = qualified_target(n.target, namespace_map)
        if target == WITH_EFFECTS and n.args and _is_fx_node(n.args[0]):
            tokens.add(id(n.args[0]))
        elif target == MAKE_TOKEN:
            tokens.add(id(n))
        elif target == SINK_TOKENS and n.args:
            tokens.update(id(t) for t in _flat(n.args[0]) if _is_fx_node(t))
        elif target == "getitem" and len(n.args) == 2 and n.args[1] == 0:
            source = n.args[0]
            from_effects = _is_fx_node(source) and source.op == "call_function"
            if from_effects and qualified_target(source.target, namespace_map) == WITH_EFFECTS:
                tokens.add(id(n))
    return tokens


def _flat(value: Any) -> list:
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _flat(v)]
    return [value]


# --------------------------------------------------------------------------------------------
# Text form
# --------------------------------------------------------------------------------------------


def atom_text(value: Any) -> str:
    """The text of one argument atom (Python literal syntax, `%k` for node references)."""
    if isinstance(value, NodeRef):
        return value.text()
    if isinstance(value, OpTarget):
        return value.name
    if isinstance(value, Opaque):
        return value.text
    if isinstance(value, tuple):
        inner = ", ".join(atom_text(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(atom_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {atom_text(v)}" for k, v in value.items()) + "}"
    return repr(value)


def node_text(index: int, node: CanonicalNode) -> str:
    """One line: `%k = target(args, key=value)`; placeholders and outputs have short forms."""
    lhs = NodeRef(index, node.token).text()
    parts = [atom_text(a) for a in node.args] + [f"{k}={atom_text(v)}" for k, v in node.kwargs]
    call = "(" + ", ".join(parts) + ")"
    if node.op == "placeholder":
        return f"{lhs} = placeholder"
    if node.op == "output":
        return f"output{call}"
    if node.op == "call_function":
        return f"{lhs} = {node.target}{call}"
    if node.op == "get_attr":
        return f"{lhs} = get_attr:{node.target}"
    return f"{lhs} = {node.op}:{node.target}{call}"


def code_with_subgraphs(gm: Any) -> str:
    """``gm.code``, then the code of each subgraph a get_attr node reads, depth first, each
    under ``# subgraph <name>`` (as ``CanonicalGraph.text`` lays them out)."""
    texts = [gm.code.strip()]
    seen: set[str] = set()
    for n in gm.graph.nodes:
        child = getattr(gm, n.target, None) if n.op == "get_attr" else None
        if child is not None and hasattr(child, "code") and n.target not in seen:
            seen.add(n.target)
            texts.append(f"# subgraph {n.target}\n{code_with_subgraphs(child)}")
    return "\n".join(texts)


# --------------------------------------------------------------------------------------------
# JSON form
# --------------------------------------------------------------------------------------------


def atom_to_json(value: Any) -> Any:
    if isinstance(value, NodeRef):
        return {"%": value.index, "token": value.token}
    if isinstance(value, OpTarget):
        return {"target": value.name}
    if isinstance(value, Opaque):
        return {"opaque": value.text}
    if isinstance(value, tuple):
        return {"tuple": [atom_to_json(v) for v in value]}
    if isinstance(value, list):
        return [atom_to_json(v) for v in value]
    if isinstance(value, dict):
        return {"dict": [[k, atom_to_json(v)] for k, v in value.items()]}
    return value


def atom_from_json(value: Any) -> Any:
    if isinstance(value, list):
        return [atom_from_json(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "%" in value:
        return NodeRef(value["%"], value.get("token", False))
    if "target" in value:
        return OpTarget(value["target"])
    if "opaque" in value:
        return Opaque(value["opaque"])
    if "tuple" in value:
        return tuple(atom_from_json(v) for v in value["tuple"])
    return {k: atom_from_json(v) for k, v in value["dict"]}


# --------------------------------------------------------------------------------------------
# CanonicalGraph
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CanonicalGraph:
    """The canonical node list of one FX-like graph. Build with `from_graph_module`."""

    nodes: tuple[CanonicalNode, ...]
    _hashes: tuple[str, ...] | None = field(default=None, compare=False, repr=False)
    # The graphs that get_attr nodes read (a cond's branches, a while_loop's bodies), by
    # attribute name, depth first: part of the text, so both comparisons cover them.
    subgraphs: tuple[tuple[str, CanonicalGraph], ...] = ()

    @classmethod
    def from_graph_module(
        cls,
        gm: Any,
        *,
        namespace_map: dict[str, str] | None = None,
        effectful_targets: frozenset[str] | set[str] = frozenset(),
    ) -> CanonicalGraph:
        """Read `gm.graph.nodes` (or `gm.nodes` for a bare graph) into canonical form."""
        graph = getattr(gm, "graph", gm)
        nodes = list(graph.nodes)
        builder = _Builder(nodes, namespace_map)
        effectful = DEFAULT_EFFECTFUL_TARGETS | frozenset(effectful_targets)
        subgraphs = []
        for n in nodes:
            child = getattr(gm, n.target, None) if n.op == "get_attr" else None
            if child is not None and hasattr(getattr(child, "graph", None), "nodes") and \
                    n.target not in dict(subgraphs):
                subgraphs.append((n.target, cls.from_graph_module(
                    child, namespace_map=namespace_map, effectful_targets=effectful_targets)))
        return cls(tuple(builder.node(n, effectful) for n in nodes),
                   subgraphs=tuple(subgraphs))

    def text(self) -> str:
        own = "\n".join(node_text(i, n) for i, n in enumerate(self.nodes))
        subs = "".join(f"\n# subgraph {name}\n" + sub.text() for name, sub in self.subgraphs)
        return own + subs

    def __str__(self) -> str:
        return self.text()

    def to_json(self) -> dict:
        return {
            "nodes": [
                {
                    "op": n.op,
                    "target": n.target,
                    "args": [atom_to_json(a) for a in n.args],
                    "kwargs": [[k, atom_to_json(v)] for k, v in n.kwargs],
                    "token": n.token,
                    "effectful": n.effectful,
                }
                for n in self.nodes
            ],
            "text": self.text(),
            **({"subgraphs": [[name, sub.to_json()] for name, sub in self.subgraphs]}
               if self.subgraphs else {}),
        }

    @classmethod
    def from_json(cls, data: dict) -> CanonicalGraph:
        nodes = tuple(
            CanonicalNode(
                op=d["op"],
                target=d["target"],
                args=tuple(atom_from_json(a) for a in d["args"]),
                kwargs=tuple((k, atom_from_json(v)) for k, v in d["kwargs"]),
                token=d.get("token", False),
                effectful=d.get("effectful", False),
            )
            for d in data["nodes"]
        )
        subgraphs = tuple((name, cls.from_json(sub)) for name, sub in data.get("subgraphs", []))
        return cls(nodes, subgraphs=subgraphs)

    def hashes(self) -> tuple[str, ...]:
        """The structural hash of each node (see [NOTE: structural hash])."""
        if self._hashes is None:
            object.__setattr__(self, "_hashes", _structural_hashes(self.nodes))
        return self._hashes


# --------------------------------------------------------------------------------------------
# Semantic comparison
# --------------------------------------------------------------------------------------------


def _refs(value: Any) -> list[NodeRef]:
    if isinstance(value, NodeRef):
        return [value]
    if isinstance(value, (tuple, list)):
        return [r for v in value for r in _refs(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs(v)]
    return []


def _node_refs(node: CanonicalNode) -> list[NodeRef]:
    return _refs(node.args) + _refs(tuple(v for _, v in node.kwargs))


def _skeleton(value: Any) -> Any:
    """The argument structure with every node reference replaced by '%' (plus its token mark)."""
    if isinstance(value, NodeRef):
        return ("%", value.token)
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(_skeleton(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _skeleton(v)) for k, v in value.items()))
    return (type(value).__name__, repr(value))


def _structural_hashes(nodes: tuple[CanonicalNode, ...]) -> tuple[str, ...]:
    """[NOTE: structural hash]

    A node's hash covers its opcode, target, literal arguments, token mark, its ordinal among
    the placeholders (inputs are positional), and the hashes of the nodes it reads, in argument
    order. Over a DAG this is a Merkle hash of the node's whole history: renaming and the order
    of independent nodes do not change it; a different producer, or a different predecessor on
    a token chain, does. It is a Weisfeiler-Lehman refinement run to its fixpoint in one
    topological pass (FX node lists are topologically ordered).
    """
    hashes: list[str] = []
    placeholder_ordinal = 0
    for node in nodes:
        ordinal = None
        if node.op == "placeholder":
            ordinal = placeholder_ordinal
            placeholder_ordinal += 1
        label = (node.op, node.target, _skeleton(node.args), _skeleton(node.kwargs))
        inputs = tuple(hashes[r.index] if r.index < len(hashes) else "?" for r in _node_refs(node))
        payload = repr((label, node.token, ordinal, inputs)).encode()
        hashes.append(hashlib.sha1(payload).hexdigest()[:16])
    return tuple(hashes)


def _chain_root(graph: CanonicalGraph, index: int) -> str:
    """The chain a node belongs to: its root token's structural hash, or 'tokenless'."""
    nodes, hashes = graph.nodes, graph.hashes()
    node = nodes[index]
    seen = 0
    while node.target in (WITH_EFFECTS, "getitem") and node.args and seen < len(nodes):
        first = node.args[0]
        if not isinstance(first, NodeRef):
            break
        index, node, seen = first.index, nodes[first.index], seen + 1
    if node.token or node.target == WITH_EFFECTS:
        return hashes[index]
    return "tokenless"


def effect_chains(graph: CanonicalGraph) -> dict[str, list[str]]:
    """Effectful nodes grouped by token chain, each chain in graph order, as structural hashes."""
    chains: dict[str, list[str]] = defaultdict(list)
    hashes = graph.hashes()
    for i, node in enumerate(graph.nodes):
        if node.effectful:
            chains[_chain_root(graph, i)].append(hashes[i])
    return dict(chains)


def _semantic_order(graph: CanonicalGraph) -> list[int]:
    """A canonical topological order: ready placeholders first in order, then smallest hash."""
    nodes, hashes = graph.nodes, graph.hashes()
    users: dict[int, list[int]] = defaultdict(list)
    pending = []
    for i, node in enumerate(nodes):
        deps = {r.index for r in _node_refs(node)}
        pending.append(len(deps))
        for d in deps:
            users[d].append(i)
    effect_rank = {i: k for k, i in enumerate(j for j, n in enumerate(nodes) if n.effectful)}

    def key(i: int) -> tuple:
        node = nodes[i]
        if node.op == "placeholder":
            return (0, i)
        return (1, node.op == "output", effect_rank.get(i, -1), hashes[i], i)

    ready = sorted((i for i, p in enumerate(pending) if p == 0), key=key)
    order = []
    while ready:
        i = ready.pop(0)
        order.append(i)
        for u in users[i]:
            pending[u] -= 1
            if pending[u] == 0:
                ready.append(u)
        ready.sort(key=key)
    return order


def semantic_text(graph: CanonicalGraph) -> str:
    """The canonical text after relabelling nodes in `_semantic_order` (used in diffs)."""
    order = _semantic_order(graph)
    relabel = {old: new for new, old in enumerate(order)}

    def remap(value: Any) -> Any:
        if isinstance(value, NodeRef):
            return NodeRef(relabel[value.index], value.token)
        if isinstance(value, tuple):
            return tuple(remap(v) for v in value)
        if isinstance(value, list):
            return [remap(v) for v in value]
        if isinstance(value, dict):
            return {k: remap(v) for k, v in value.items()}
        return value

    lines = []
    for new, old in enumerate(order):
        n = graph.nodes[old]
        moved = CanonicalNode(
            n.op,
            n.target,
            remap(n.args),
            tuple((k, remap(v)) for k, v in n.kwargs),
            n.token,
            n.effectful,
        )
        lines.append(node_text(new, moved))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# compare_graphs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphDiff:
    """`exact`: canonical texts equal; `semantic`: same DAG and effect order; `detail`: a diff."""

    exact: bool
    semantic: bool
    detail: str


def _as_canonical(graph: Any) -> CanonicalGraph:
    if isinstance(graph, CanonicalGraph):
        return graph
    return CanonicalGraph.from_graph_module(graph)


def _semantic_problems(a: CanonicalGraph, b: CanonicalGraph) -> list[str]:
    """Reasons the two graphs are not semantically equal (empty when they are)."""
    problems = []
    ha, hb = a.hashes(), b.hashes()
    only_a = sorted(set(ha) - set(hb), key=ha.index)
    only_b = sorted(set(hb) - set(ha), key=hb.index)
    for side, graph, only, hs in (("a", a, only_a, ha), ("b", b, only_b, hb)):
        for h in only:
            i = hs.index(h)
            problems.append(f"only in {side}: {node_text(i, graph.nodes[i])}")
    if not problems and sorted(ha) != sorted(hb):
        problems.append("a repeated node occurs a different number of times")
    chains_a = sorted(effect_chains(a).values())
    chains_b = sorted(effect_chains(b).values())
    if chains_a != chains_b:
        problems.append(f"effect order differs: a {_chain_texts(a)} vs b {_chain_texts(b)}")
    subs_a, subs_b = dict(a.subgraphs), dict(b.subgraphs)
    for name in sorted(set(subs_a) | set(subs_b)):
        if name not in subs_a or name not in subs_b:
            problems.append(f"subgraph {name} only in {'a' if name in subs_a else 'b'}")
        else:
            problems += [f"in subgraph {name}: {p}"
                         for p in _semantic_problems(subs_a[name], subs_b[name])]
    return problems


def _chain_texts(graph: CanonicalGraph) -> list[list[str]]:
    hashes = graph.hashes()
    by_hash = {h: i for i, h in enumerate(hashes)}
    return [
        [node_text(by_hash[h], graph.nodes[by_hash[h]]) for h in chain]
        for chain in effect_chains(graph).values()
    ]


def _unified(a: str, b: str, name: str) -> str:
    lines = difflib.unified_diff(
        a.splitlines(), b.splitlines(), f"a ({name})", f"b ({name})", lineterm=""
    )
    return "\n".join(lines)


def compare_graphs(a: Any, b: Any) -> GraphDiff:
    """Compare two graphs (CanonicalGraph, or anything `from_graph_module` accepts)."""
    a, b = _as_canonical(a), _as_canonical(b)
    exact = a.text() == b.text()
    if exact:
        return GraphDiff(True, True, "")
    problems = _semantic_problems(a, b)
    sections = ["canonical text differs:", _unified(a.text(), b.text(), "canonical")]
    if problems:
        sections += ["not semantically equal:", *problems]
        sections += [_unified(semantic_text(a), semantic_text(b), "relabelled")]
    else:
        sections.append("semantically equal: only the order of independent pure nodes differs")
    return GraphDiff(False, not problems, "\n".join(sections))
