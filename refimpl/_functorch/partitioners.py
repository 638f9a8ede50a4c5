"""Partitioning a joint forward+backward graph into the forward and the backward graph.

Models: ``torch/_functorch/partitioners.py`` (``default_partition``,
``_extract_fwd_bwd_modules``, ``_extract_graph_with_inputs_outputs``,
``force_save_effectful_ops``, ``classify_nodes``' required-backward closure) and
``torch/_functorch/compile_utils.py:raise_getitems`` at torch 2.13.0.
Spec: TRC-20 .. TRC-23.

``default_partition`` is what ``aot_function`` uses unless told otherwise; it keeps the
forward as the user wrote it (every node up to the last one traced in the forward) and saves
each forward value the backward reads. Effectful ops are never recomputed: the tensor results
of a forward ``with_effects`` are saved (``force_save_effectful_ops``), and the backward's own
chain starts at its ``tangents_token`` placeholder (TRC-21).

Simplifications:
1. No symbolic shapes, so no saved sym nodes; no opaque objects, rng seed/offset inputs,
   backward state, activation checkpointing tags (``recompute``), collectives, activation
   quantization or offloading: none of them occurs in a graph refimpl traces.
2. ``min_cut_rematerialization_partition`` (torch.compile's partitioner) is not modelled yet.
3. The final dead-code passes torch runs with ``is_not_collective`` as the impurity test keep
   every node (no node of a refimpl graph is a collective), so they are not run.
"""

from __future__ import annotations

import operator
from typing import Any

from refimpl.effects import with_effects
from refimpl.fx import GraphModule
from refimpl.fx.graph import Graph
from refimpl.fx.node import Node, map_aggregate
from refimpl.tensor import Tensor

__all__ = ["default_partition", "raise_getitems"]

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
