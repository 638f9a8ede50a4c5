"""Partitioning a joint forward+backward graph into the forward and the backward graph.

Models: ``torch/_functorch/partitioners.py`` (``default_partition``,
``min_cut_rematerialization_partition`` with ``classify_nodes``, ``solve_min_cut`` and
``reordering_to_mimic_autograd_engine``; ``_extract_fwd_bwd_modules``,
``_extract_graph_with_inputs_outputs``, ``force_save_effectful_ops``, ``get_default_op_list``)
and ``torch/_functorch/compile_utils.py`` (``fx_graph_cse``, ``raise_getitems``) at torch
2.13.0, with ``torch._functorch.config``'s defaults (``cse``, every ``ban_recompute_*``
heuristic on, ``recompute_views`` off, ``activation_memory_budget = 1.0``).
Spec: TRC-20 .. TRC-22.

``default_partition`` is what ``aot_function`` uses unless told otherwise; it keeps the
forward as the user wrote it (every node up to the last one traced in the forward) and saves
each forward value the backward reads. Effectful ops are never recomputed: the tensor results
of a forward ``with_effects`` are saved (``force_save_effectful_ops``), and the backward's own
chain starts at its ``tangents_token`` placeholder (TRC-21).

Simplifications:
1. No symbolic shapes, so no saved sym nodes; no opaque objects, rng seed/offset inputs,
   backward state, activation checkpointing tags (``recompute``), collectives, activation
   quantization or offloading: none of them occurs in a graph refimpl traces.
2. ``min_cut_rematerialization_partition`` is the partitioner of ``torch.compile``'s
   ``aot_eager`` backend (``torch._dynamo.backends.common.aot_autograd``'s default); Inductor
   runs its own joint-graph passes and decompositions first, which are not modelled, so
   refimpl's graphs are aot_eager's. The max-flow is refimpl's own (Edmonds-Karp); the cut is
   networkx's: the nodes that can reach the sink in the residual graph, which every maximum
   flow gives alike, so the saved values are torch's.
3. A memory budget below 1, and the knapsack solvers it selects, are not modelled.
4. The final dead-code passes torch runs with ``is_not_collective`` as the impurity test keep
   every node (no node of a refimpl graph is a collective), so they are not run.
"""

from __future__ import annotations

import heapq
import math
import operator
from collections import deque
from typing import Any

from refimpl.effects import with_effects
from refimpl.fx import GraphModule
from refimpl.fx.graph import Graph
from refimpl.fx.node import Node, map_aggregate
from refimpl.tensor import Tensor

__all__ = ["default_partition", "fx_graph_cse", "min_cut_rematerialization_partition",
           "raise_getitems", "reordering_to_mimic_autograd_engine"]

MUST_SAVE = "MUST_SAVE"  # torch.utils.checkpoint.CheckpointPolicy.MUST_SAVE


class _InvalidNode:
    """A joint node that cannot be computed from the chosen inputs."""

    def __repr__(self) -> str:
        return "Invalid Node"


InvalidNode = _InvalidNode()


def _is_primal(node: Node) -> bool:
    return node.op == "placeholder" and "tangents" not in str(node.target)


def _is_tangent(node: Node) -> bool:
    return node.op == "placeholder" and "tangents" in str(node.target)


def _tag(node: Node) -> str | None:
    return node.meta.get("partitioner_tag")


def _is_mutable(node: Node) -> bool:
    schema = getattr(node.target, "_schema", None)
    return schema is not None and bool(schema.is_mutable)


def _must_be_in_forward(node: Node) -> bool:
    """A mutation traced in the forward stays there."""
    return _tag(node) not in ("is_backward", "must_be_in_backward") and _is_mutable(node)


def _must_be_in_backward(node: Node) -> bool:
    return _tag(node) == "is_backward" and _is_mutable(node)


def _leaves(value: Any) -> list[Any]:
    out: list[Any] = []
    map_aggregate(value, out.append)
    return out


def _extract_graph_with_inputs_outputs(joint_graph: Graph, inputs: list[Node],
                                       outputs: list[Any], subgraph: str) -> Graph:
    """The subgraph of ``joint_graph`` that computes ``outputs`` from ``inputs`` (which may be
    call nodes: they become placeholders of the same name); dead code removed."""
    new_graph = Graph()
    env: dict[Node, Any] = {}
    for node in inputs:
        new_node = new_graph.placeholder(node.name)
        new_node.meta = node.meta
        env[node] = new_node
    for node in joint_graph.nodes:
        if node not in inputs and (
            (_must_be_in_backward(node) and subgraph != "backward")
            or (_must_be_in_forward(node) and subgraph != "forward")
        ):
            env[node] = InvalidNode
            continue
        if node in env:
            continue
        if node.op == "placeholder":
            env[node] = InvalidNode
        elif node.op == "call_function":
            args = [x for x in _leaves((node.args, node.kwargs)) if isinstance(x, Node)]
            if any(env[x] is InvalidNode for x in args):
                env[node] = InvalidNode
                continue
            env[node] = new_graph.node_copy(node, lambda x: env[x])
        elif node.op == "get_attr":
            env[node] = new_graph.node_copy(node, lambda x: env[x])
    output_values = []
    for x in outputs:
        if isinstance(x, Node):
            if x not in env:
                raise RuntimeError(f"Node {x} couldn't be found in env")
            if env[x] is InvalidNode:
                raise AssertionError(f"Node {x} was invalid, but is output")
            output_values.append(env[x])
        else:
            output_values.append(x)
    new_graph.output(tuple(output_values))
    new_graph.eliminate_dead_code()
    new_graph.lint()
    return new_graph


def _extract_fwd_bwd_outputs(joint_module: GraphModule, *,
                             num_fwd_outputs: int) -> tuple[list[Any], list[Any]]:
    outputs = _leaves(joint_module.graph.output_node().args)
    return outputs[:num_fwd_outputs], outputs[num_fwd_outputs:]


def _remove_by_name(saved_values: list[Node], name: str) -> None:
    for i, saved in enumerate(saved_values):
        if saved.name == name:
            del saved_values[i]
            return


def _extract_fwd_bwd_modules(joint_module: GraphModule, saved_values: list[Node], *,
                             num_fwd_outputs: int) -> tuple[GraphModule, GraphModule]:
    """The forward returns its outputs, then the saved values; the backward takes the saved
    values, then the tangents (``tangents_token`` among them). A saved value the backward
    graph does not read is dropped, and both graphs are extracted again."""
    fwd_outputs, bwd_outputs = _extract_fwd_bwd_outputs(joint_module,
                                                        num_fwd_outputs=num_fwd_outputs)
    placeholders = joint_module.graph.find_nodes(op="placeholder")
    primal_inputs = [p for p in placeholders if _is_primal(p)]
    tangent_inputs = [p for p in placeholders if _is_tangent(p)]
    bwd_graph = _extract_graph_with_inputs_outputs(
        joint_module.graph, saved_values + tangent_inputs, bwd_outputs, "backward")
    for node in bwd_graph.find_nodes(op="placeholder"):
        if not node.users:
            _remove_by_name(saved_values, node.name)
    fwd_graph = _extract_graph_with_inputs_outputs(
        joint_module.graph, primal_inputs, fwd_outputs + saved_values, "forward")
    bwd_graph = _extract_graph_with_inputs_outputs(
        joint_module.graph, saved_values + tangent_inputs, bwd_outputs, "backward")
    for node in bwd_graph.nodes:
        if node.op in ("call_function", "get_attr"):
            node.meta["autograd_backward"] = True
    return GraphModule(joint_module, fwd_graph), GraphModule(joint_module, bwd_graph)


def _is_with_effects(node: Node) -> bool:
    return node.op == "call_function" and node.target is with_effects


def force_save_effectful_ops(joint_module: GraphModule) -> None:
    """The tensor results of a forward ``with_effects`` are saved, never recomputed: every
    leaf ``getitem`` below it is marked ``MUST_SAVE`` (TRC-21)."""

    def mark_getitem_outputs(node: Node) -> None:
        for user in node.users:
            if user.target is operator.getitem:
                mark_getitem_outputs(user)
                if not isinstance(user.meta.get("val"), (tuple, list)):
                    user.meta["recompute"] = MUST_SAVE

    for node in joint_module.graph.nodes:
        if _is_with_effects(node) and _tag(node) != "is_backward":
            mark_getitem_outputs(node)


def _is_tensor(node: Node) -> bool:
    return isinstance(node.meta.get("val"), Tensor)


def _is_multi_output(node: Node) -> bool:
    return bool(node.users) and all(u.target is operator.getitem for u in node.users)


def default_partition(joint_module: GraphModule, _joint_inputs: Any, *,
                      num_fwd_outputs: int) -> tuple[GraphModule, GraphModule]:
    """The forward is every non-tangent node up to the last one traced in the forward; a
    forward value is saved when a backward node reads it, when it must be (an effectful op's
    result), or when it is impure (TRC-20)."""
    last_node = None
    for node in joint_module.graph.nodes:
        if _tag(node) == "is_forward" or _is_primal(node):
            last_node = node
    if last_node is None:
        raise AssertionError("last_node must not be None")
    forward_nodes = []
    for node in joint_module.graph.nodes:
        if not _is_tangent(node):
            forward_nodes.append(node)
        if node is last_node:
            break
    forward_node_names = {n.name for n in forward_nodes if n.op != "output"}
    force_save_effectful_ops(joint_module)

    saved_values: list[Node] = []
    for node in joint_module.graph.nodes:
        if node.name not in forward_node_names:
            continue
        if _is_multi_output(node):
            continue  # before MUST_SAVE: a tuple is never saved, its getitems are
        if node.meta.get("recompute") == MUST_SAVE:
            saved_values.append(node)
            continue
        if node.is_impure(impure_random=False) and node.op not in ("placeholder", "output"):
            saved_values.append(node)
            continue
        if not _is_tensor(node) and node.op == "call_function":
            raise AssertionError(f"Expected {node} to be a tensor")
        backward_usages = [n for n in node.users if n.name not in forward_node_names]
        if not backward_usages:  # torch: "all are sym nodes", vacuously
            continue
        saved_values.append(node)
    saved_values = list(dict.fromkeys(saved_values))
    fw_module, bw_module = _extract_fwd_bwd_modules(joint_module, saved_values,
                                                    num_fwd_outputs=num_fwd_outputs)
    return raise_getitems(fw_module), raise_getitems(bw_module)


def raise_getitems(gm: GraphModule) -> GraphModule:
    """Every ``getitem`` moves to just after its producer, the later ones first, so that
    their relative order is kept."""
    getitems = gm.graph.find_nodes(op="call_function", target=operator.getitem)
    for node in reversed(getitems):
        if len(node.all_input_nodes) != 1:
            raise AssertionError(f"expected node {node.name} to have 1 input node, got "
                                 f"{len(node.all_input_nodes)}")
        node.all_input_nodes[0].append(node)
    gm.recompile()
    return gm



# -- get_default_op_list ---------------------------------------------------------------------

# The op packets of the modelled ops in torch 2.13.0's ``get_default_op_list()``: the
# recomputable ones (its allowlist, ``pointwise_ops()`` included), and of those the views.
# Nothing modelled is random or compute intensive, and the fusible ops are the recomputable
# ones. (aten ops outside these sets: ``_print``, ``copy``, ``copy_``, ``ones_like``,
# ``lift_fresh``, ``abs_``, ``absolute``...; every custom op.) A torch-marked test checks the
# table against the installed torch's list.
RECOMPUTABLE_OPS = frozenset({
    "aten::_to_copy", "aten::abs", "aten::add", "aten::add_", "aten::arange", "aten::clone",
    "aten::cos", "aten::empty", "aten::empty_like", "aten::expand", "aten::full",
    "aten::gt", "aten::lift_fresh_copy", "aten::lt", "aten::mul", "aten::mul_", "aten::neg",
    "aten::ones", "aten::sgn",
    "aten::sin", "aten::squeeze", "aten::sub", "aten::sum", "aten::unsqueeze", "aten::view",
    "aten::zeros", "aten::zeros_like", "operator.getitem",
})
VIEW_OPS = frozenset({"aten::expand", "aten::squeeze", "aten::unsqueeze", "aten::view"})
INT_INF = int(1e6)
MAX_DIST_FROM_BW = 1000


def get_aten_target(node: Node) -> str:
    """The node's op packet (``aten::add`` for ``aten::add.Tensor``), as a name."""
    if node.target is operator.getitem:
        return "operator.getitem"
    name = getattr(node.target, "name", None)
    if callable(name) and hasattr(node.target, "_schema"):
        return name().split(".")[0]
    return repr(node.target)


def _is_recomputable(node: Node) -> bool:
    return node.op == "call_function" and get_aten_target(node) in RECOMPUTABLE_OPS


_is_fusible_op = _is_recomputable


def _is_view(node: Node) -> bool:
    return node.op == "call_function" and get_aten_target(node) in VIEW_OPS


# -- fx_graph_cse ----------------------------------------------------------------------------


def _is_mutation_op(node: Node) -> bool:
    return node.op == "call_function" and _is_mutable(node)


def _storage_ids(graph: Graph) -> dict[Node, int]:
    """Which nodes share a storage: a result whose schema aliases an argument (a view) shares
    that argument's; every other node has its own (torch compares the fake values'
    ``untyped_storage()``)."""
    ids: dict[Node, int] = {}
    for i, node in enumerate(graph.nodes):
        ids[node] = i
        schema = getattr(node.target, "_schema", None)
        if node.op == "call_function" and schema is not None and schema.returns and \
                schema.returns[0].alias_info is not None:
            first = next((a for a in node.args if isinstance(a, Node)), None)
            if first is not None:
                ids[node] = ids[first]
    return ids


def _cse_key(node: Node, env: dict[Node, Node]) -> Any:
    leaves: list[Any] = []
    shape = map_aggregate((node.args, node.kwargs), lambda a: leaves.append(a) or 0)
    key = (node.target, repr(shape), tuple((env.get(a, a), type(a)) for a in leaves))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def fx_graph_cse(fx_g: Graph) -> Graph:
    """A copy of ``fx_g`` where a call equal to an earlier one (same target, same arguments
    after substitution, argument types included, in the same mutation region) is replaced by
    it; placeholders, the output and any node sharing storage with an output are kept."""
    new_graph = Graph()
    env: dict[Node, Node] = {}
    seen: dict[Any, tuple[Node, int]] = {}
    region = 0
    regions: dict[Node, int] = {}
    for node in fx_g.nodes:
        if _is_mutation_op(node):
            region += 1
        regions[node] = region
    storages = _storage_ids(fx_g)
    output = fx_g.output_node()
    output_storages = {storages[n] for n in output.all_input_nodes
                       if isinstance(n.meta.get("val"), Tensor)}
    aliases_output = {n for n in fx_g.nodes
                      if isinstance(n.meta.get("val"), Tensor) and storages[n] in output_storages}
    for node in fx_g.nodes:
        if node.op in ("placeholder", "output", "get_attr") or node in aliases_output or \
                get_aten_target(node) == "aten::empty":
            env[node] = new_graph.node_copy(node, lambda x: env[x])
            continue
        key = _cse_key(node, env)
        if key is not None and key in seen:
            previous, previous_region = seen[key]
            if previous_region == regions[node]:
                env[node] = previous
                continue
        env[node] = new_graph.node_copy(node, lambda x: env[x])
        if key is not None:
            seen[key] = (env[node], regions[node])
    return new_graph


# -- classify_nodes --------------------------------------------------------------------------


class NodeInfo:
    """Which joint nodes the forward needs, which the backward needs, and the forward order."""

    def __init__(self, joint_module: GraphModule, num_fwd_outputs: int) -> None:
        graph = joint_module.graph
        required_bw: dict[Node, None] = {}
        for node in graph.nodes:
            if _is_tangent(node) or _must_be_in_backward(node):
                required_bw[node] = None
            if node in required_bw:
                required_bw.update(dict.fromkeys(node.users))
        self.tangents_closure = set(required_bw)
        fwd_outputs, bwd_outputs = _extract_fwd_bwd_outputs(joint_module,
                                                            num_fwd_outputs=num_fwd_outputs)
        required_bw.update(dict.fromkeys(o for o in bwd_outputs
                                         if isinstance(o, Node) and o.op != "output"))
        self.required_bw_nodes = required_bw
        self.inputs = [n for n in graph.nodes if _is_primal(n)]
        forward_only = _extract_graph_with_inputs_outputs(graph, self.inputs, fwd_outputs,
                                                          "forward")
        names = {n.name for n in forward_only.nodes if n.op != "output"}
        self.required_fw_nodes = [n for n in graph.nodes if n.name in names]
        self._fw = set(self.required_fw_nodes)
        self.fw_order = {n: i for i, n in enumerate(self.required_fw_nodes)}

    def is_required_fw(self, node: Node) -> bool:
        return node in self._fw

    def get_fw_order(self, node: Node) -> int:
        return self.fw_order[node]


# -- solve_min_cut ---------------------------------------------------------------------------


def _numel(shape: tuple) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _size_of(node: Node) -> int:
    def nbytes(x: Any) -> int:
        return _numel(tuple(x.shape)) * x.dtype.itemsize if isinstance(x, Tensor) else 0

    if "val" in node.meta:
        val = node.meta["val"]
        if isinstance(val, (list, tuple)):
            return sum(nbytes(v) for v in val)
        return nbytes(val)
    return 0


class _FlowNetwork:
    """``nx.DiGraph`` edges with capacities (an edge added again takes the new capacity) and
    ``nx.minimum_cut``'s partition."""

    def __init__(self) -> None:
        self.capacity: dict[tuple[str, str], float] = {}

    def add_edge(self, u: str, v: str, capacity: float) -> None:
        self.capacity[(u, v)] = capacity

    def minimum_cut(self, s: str, t: str) -> tuple[set[str], set[str]]:
        finite = sum(c for c in self.capacity.values() if c != math.inf)
        big = 3 * finite or 1  # networkx's stand-in for an infinite capacity
        residual: dict[str, dict[str, float]] = {}
        for (u, v), c in self.capacity.items():
            if u == v:
                continue
            residual.setdefault(u, {}).setdefault(v, 0)
            residual.setdefault(v, {}).setdefault(u, 0)
            residual[u][v] += big if c == math.inf else c
        nodes = set(residual) | {s, t}
        residual.setdefault(s, {})
        residual.setdefault(t, {})
        flow = 0
        while True:  # Edmonds-Karp: shortest augmenting paths
            parent = {s: None}
            queue = deque([s])
            while queue and t not in parent:
                u = queue.popleft()
                for v, c in residual[u].items():
                    if c > 0 and v not in parent:
                        parent[v] = u
                        queue.append(v)
            if t not in parent:
                break
            path, v = [], t
            while parent[v] is not None:
                path.append((parent[v], v))
                v = parent[v]
            pushed = min(residual[u][v] for u, v in path)
            for u, v in path:
                residual[u][v] -= pushed
                residual[v][u] += pushed
            flow += pushed
            if flow >= big:
                raise RuntimeError(
                    "AOT Autograd failed to partition the joint forward-backward graph: a value "
                    "is required for backward, but cannot be saved AND cannot be recomputed.")
        reaches_sink = {t}
        queue = deque([t])
        while queue:
            v = queue.popleft()
            for u in residual[v]:
                if u not in reaches_sink and residual[u][v] > 0:
                    reaches_sink.add(u)
                    queue.append(u)
        return nodes - reaches_sink, reaches_sink


def solve_min_cut(joint_graph: Graph, node_info: NodeInfo) -> list[Node]:
    """The values the forward saves: a minimum cut between the inputs and what the backward
    needs, where saving a value costs its size and a banned node cannot be recomputed."""

    def is_fusible(a: Node, b: Node) -> bool:
        return _is_fusible_op(a) and _is_fusible_op(b)

    def is_materialized_backwards(node: Node) -> bool:
        if _is_view(node):
            return False
        cur_nodes = [node]
        seen = {node}
        while cur_nodes:
            cur = cur_nodes.pop()
            for user in cur.users:
                if not node_info.is_required_fw(user) and not is_fusible(cur, user):
                    return True
                if _is_view(user) and user not in seen:
                    seen.add(user)
                    cur_nodes.append(user)
        return False

    def should_ban_recomputation(node: Node) -> str | None:
        if node.op != "call_function" or node.target is operator.getitem:
            return None
        if node.meta.get("recompute") == MUST_SAVE:
            return "marked MUST_SAVE"
        if get_aten_target(node) in ("aten::lift_fresh_copy", "aten::lift_fresh"):
            return None
        if not _is_recomputable(node):
            return "not in recomputable allowlist"
        if is_materialized_backwards(node):
            return "materialized in backward"
        dist = dist_from_bw[node]
        if 1000 > dist > MAX_DIST_FROM_BW:
            return "too far from backward"
        inputs = sum(_size_of(a) for a in node.args if isinstance(a, Node))
        if _size_of(node) * 4 < inputs:
            return "reduction op"
        return None

    def is_materialized(node: Node) -> bool:
        if node.op == "placeholder":
            return True
        return not all(is_fusible(node, user) for user in node.users)

    def get_node_weight(node: Node) -> int:
        mem_sz = _size_of(node)
        mem_sz = int(mem_sz * (1.1 ** max(min(dist_from_bw[node], 100), 1)))
        return mem_sz if is_materialized(node) else mem_sz * 2

    net = _FlowNetwork()
    banned: dict[Node, None] = {}

    def ban_recomputation_if_allowed(node: Node) -> bool:
        if _is_view(node):
            return False
        banned[node] = None
        net.add_edge("source", node.name + "_in", math.inf)
        return True

    dist_from_bw: dict[Node, int] = {}
    for node in reversed(joint_graph.nodes):
        if node.op == "output" or node_info.is_required_fw(node):
            dist = int(1e9)
            if node.op != "output":
                for user in node.users:
                    dist = min(dist, dist_from_bw[user] + 1)
            dist_from_bw[node] = dist
        else:
            dist_from_bw[node] = 0

    for node in joint_graph.nodes:
        if node.op == "output":
            continue
        if node in node_info.required_bw_nodes:
            if node not in node_info.tangents_closure:
                net.add_edge(node.name + "_out", "sink", math.inf)
            else:
                net.add_edge(node.name + "_in", "sink", math.inf)
                continue
        if _is_primal(node):
            ban_recomputation_if_allowed(node)
        if node_info.is_required_fw(node) and should_ban_recomputation(node):
            ban_recomputation_if_allowed(node)
        if not isinstance(node.meta.get("val"), Tensor):
            weight: float = math.inf  # a tuple (with_effects, a multi-output op): not saved
        else:
            weight = get_node_weight(node)
        net.add_edge(node.name + "_in", node.name + "_out", weight)
        for user in node.users:
            net.add_edge(node.name + "_out", user.name + "_in", math.inf)

    def find_first_unfusible(start_nodes: list[Node], max_range: int) -> int:
        heap: list[tuple[int, int, bool, Node]] = []
        for n in start_nodes:
            heapq.heappush(heap, (node_info.get_fw_order(n), 1, True, n))
        while heap:
            _, _, node_is_fusible, node = heapq.heappop(heap)
            if not node_is_fusible:
                return node_info.get_fw_order(node)
            for user in node.users:
                if node_info.is_required_fw(user):
                    if node_info.get_fw_order(user) > max_range:
                        continue
                    fusible = is_fusible(node, user)
                    # torch's heap holds (order, node, fusible): of one node's two entries
                    # the unfusible (False) one comes first
                    val = (node_info.get_fw_order(user), int(fusible), fusible, user)
                    if val not in heap:
                        heapq.heappush(heap, val)
        return max_range

    for used_node in node_info.required_fw_nodes:  # ban_recompute_used_far_apart
        fw_users = [u for u in used_node.users if node_info.is_required_fw(u)]
        if fw_users:
            first_unfusible_use = find_first_unfusible(
                fw_users, max(node_info.get_fw_order(u) for u in fw_users))
            for user in tuple(used_node.users):
                if (node_info.is_required_fw(user)
                        and node_info.get_fw_order(user) > first_unfusible_use
                        and is_fusible(used_node, user) and user not in banned):
                    ban_recomputation_if_allowed(user)

    visited: set[Node] = set()  # ban_recompute_long_fusible_chains
    for start_node in joint_graph.nodes:
        if not node_info.is_required_fw(start_node):
            continue
        start_order = node_info.get_fw_order(start_node)
        chain: list[tuple[int, int, Node]] = [(start_order, id(start_node), start_node)]
        while chain:
            _, _, cur = heapq.heappop(chain)
            if cur in visited:
                continue
            visited.add(cur)
            if node_info.get_fw_order(cur) > start_order + 100 and not chain:
                ban_recomputation_if_allowed(cur)
                break
            for user in cur.users:
                if node_info.is_required_fw(user) and is_fusible(cur, user) and \
                        user not in banned:
                    heapq.heappush(chain, (node_info.get_fw_order(user), id(user), user))

    reachable, non_reachable = net.minimum_cut("source", "sink")
    cut_nodes = set()
    for (u, v) in net.capacity:
        if u in reachable and v in non_reachable:
            if u[:-3] != v[:-4]:
                raise AssertionError(f"node_in[:-3]={u[:-3]} != node_out[:-4]={v[:-4]}")
            cut_nodes.add(u[:-3])
    return [n for n in joint_graph.nodes if n.name in cut_nodes]


# -- min_cut_rematerialization_partition -----------------------------------------------------


def min_cut_rematerialization_partition(joint_module: GraphModule, _joint_inputs: Any, *,
                                        num_fwd_outputs: int
                                        ) -> tuple[GraphModule, GraphModule]:
    """Dead code removed and common subexpressions merged, the saved values are a minimum cut
    (``solve_min_cut``): the backward may recompute cheap forward ops instead of saving their
    results; effectful results are saved (TRC-21, TRC-22). With no node the backward needs,
    ``default_partition`` decides."""
    joint_module.graph.eliminate_dead_code()
    joint_module.graph = fx_graph_cse(joint_module.graph)
    joint_module.recompile()
    force_save_effectful_ops(joint_module)
    node_info = NodeInfo(joint_module, num_fwd_outputs)
    if not node_info.required_bw_nodes:
        return default_partition(joint_module, _joint_inputs, num_fwd_outputs=num_fwd_outputs)
    saved_values = solve_min_cut(joint_module.graph, node_info)
    fw_module, bw_module = _extract_fwd_bwd_modules(joint_module, saved_values,
                                                    num_fwd_outputs=num_fwd_outputs)
    bw_module = reordering_to_mimic_autograd_engine(bw_module)
    return raise_getitems(fw_module), raise_getitems(bw_module)


def reordering_to_mimic_autograd_engine(gm: GraphModule) -> GraphModule:
    """From the first node that reads a tangent on, each node is copied after just those of
    its inputs (transitively) not copied yet, in graph order; placeholders first."""
    new_graph = Graph()
    env: dict[Node, Node] = {}
    for node in gm.graph.find_nodes(op="placeholder"):
        env[node] = new_graph.node_copy(node, lambda x: env[x])
    nodes = list(gm.graph.nodes)
    order = {node: i for i, node in enumerate(nodes)}

    def insert_node_in_graph(node: Node) -> None:
        cur_nodes = [node]
        insertable: dict[Node, None] = {}
        while cur_nodes:
            n = cur_nodes.pop()
            if n in insertable or n in env:
                continue
            insertable[n] = None
            cur_nodes += n.all_input_nodes
        for n in sorted(insertable, key=lambda n: order[n]):
            env[n] = new_graph.node_copy(n, lambda x: env[x])

    first = None
    minimum = math.inf
    for tangent in (n for n in nodes if _is_tangent(n)):
        for user in tangent.users:
            if order[user] < minimum:
                minimum, first = order[user], user
    if first is None:
        return gm
    for node in nodes[:order[first]]:
        if node.op == "call_function" and get_aten_target(node) == "aten::copy_":
            insert_node_in_graph(node)
    for node in nodes[order[first]:]:
        insert_node_in_graph(node)
    return GraphModule(gm, new_graph)
