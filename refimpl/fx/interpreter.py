"""Running a graph node by node, in program order or in any other topological order.

Models: ``torch/fx/interpreter.py`` (``Interpreter.run``, ``run_node``, ``placeholder``,
``get_attr``, ``call_function``, ``call_method``, ``call_module``, ``output``, ``fetch_attr``,
``fetch_args_kwargs_from_env``, ``map_nodes_to_values``) at torch 2.13.0.
Spec: FX-6.

Simplifications:
1. No progress bar, no structured trace logging, no ``fx_traceback`` current-node meta, no
   ``Transformer``, no ``boxed_run``.
2. Added, not upstream: ``run(..., schedule=[...])`` runs the compute nodes in a caller-given
   topological order (see [NOTE: schedules]), and ``random_topological_order`` /
   ``topological_orders`` produce such orders.
3. This module does not import ``graph_module.py`` (upstream does, for logging only), so that
   ``GraphModule.__call__`` can use the Interpreter: the fx reading order is node, graph,
   interpreter, graph_module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from refimpl.fx.graph import Graph, _last_uses, node_code_line
from refimpl.fx.node import Node, map_arg

__all__ = ["Interpreter", "random_topological_order", "topological_orders"]

# [NOTE: schedules]
# An FX graph fixes only data dependencies. Two effectful nodes with no path between them
# may run in either order; effect tokens exist to add such a path. A *schedule* is a list of
# the names of every compute node (call_function, call_method, call_module) in an order that
# respects data dependencies; placeholders and get_attr nodes run first, in graph order, and
# the output last. Running a graph under many schedules and comparing effect logs shows
# whether the token chain really pins down the order of effects (FX-6).
_COMPUTE_OPS = ("call_function", "call_method", "call_module")


def _compute_nodes(graph: Graph) -> list[Node]:
    return [n for n in graph.nodes if n.op in _COMPUTE_OPS]


def _check_schedule(graph: Graph, schedule: list[str]) -> list[Node]:
    """The compute nodes in ``schedule`` order; ``ValueError`` naming the first bad entry.

    Steps: 1. every entry names a compute node; 2. none twice; 3. each node's compute inputs
    come earlier; 4. no compute node is left out.
    """
    by_name = {n.name: n for n in _compute_nodes(graph)}
    placed: dict[Node, None] = {}
    for name in schedule:
        node = by_name.get(name)
        if node is None:
            raise ValueError(f"schedule entry {name!r} is not a compute node of the graph")
        if node in placed:
            raise ValueError(f"schedule lists node {name!r} twice: {node_code_line(node)}")
        for inp in node._input_nodes:
            if inp.op in _COMPUTE_OPS and inp not in placed:
                raise ValueError(
                    f"schedule runs node {name!r} before its input {inp.name!r}, so it is not "
                    f"a topological order: {node_code_line(node)}"
                )
        placed[node] = None
    for node in by_name.values():
        if node not in placed:
            raise ValueError(
                f"schedule leaves out node {node.name!r}, so it is not a permutation of the "
                f"compute nodes: {node_code_line(node)}"
            )
    return list(placed)


def _execution_order(graph: Graph, schedule: list[str] | None) -> list[Node]:
    nodes = list(graph.nodes)
    if schedule is None:
        return nodes
    head = [n for n in nodes if n.op in ("placeholder", "get_attr")]
    tail = [n for n in nodes if n.op == "output"]
    return head + _check_schedule(graph, schedule) + tail


def _ready(node: Node, done: set[Node]) -> bool:
    return all(i in done for i in node._input_nodes if i.op in _COMPUTE_OPS)


def _pick(rng: Any, n: int) -> int:
    """An index below ``n`` from ``random.Random`` or a numpy ``Generator``."""
    if hasattr(rng, "randrange"):
        return rng.randrange(n)
    return int(rng.integers(n))


def random_topological_order(graph: Graph, rng: Any) -> list[str]:
    """A schedule drawn at random: at each step one of the ready nodes, uniformly."""
    pending = _compute_nodes(graph)
    done: set[Node] = set()
    order: list[str] = []
    while pending:
        ready = [n for n in pending if _ready(n, done)]
        node = ready[_pick(rng, len(ready))]
        pending.remove(node)
        done.add(node)
        order.append(node.name)
    return order


def topological_orders(graph: Graph) -> Iterator[list[str]]:
    """Every schedule of ``graph``, the graph's own order first (there can be many)."""
    nodes = _compute_nodes(graph)

    def extend(prefix: list[Node], done: set[Node]) -> Iterator[list[str]]:
        if len(prefix) == len(nodes):
            yield [n.name for n in prefix]
            return
        for node in nodes:
            if node not in done and _ready(node, done):
                yield from extend(prefix + [node], done | {node})

    yield from extend([], set())


class Interpreter:
    """Runs ``module.graph`` (or ``graph``) node by node; subclasses override the per-op
    methods (``call_function``...) to change what a node does."""

    def __init__(
        self, module: Any, garbage_collect_values: bool = True, graph: Graph | None = None
    ) -> None:
        self.module = module
        self.graph: Graph = graph if graph is not None else module.graph
        self.env: dict[Node, Any] = {}
        self.name = "Interpreter"
        self.garbage_collect_values = garbage_collect_values
        self.extra_traceback = True
        self.user_to_last_uses = _last_uses(list(self.graph.nodes))

    def run(
        self,
        *args: Any,
        initial_env: dict[Node, Any] | None = None,
        enable_io_processing: bool = True,
        schedule: list[str] | None = None,
    ) -> Any:
        """Run the graph on ``args`` and return the output value. With ``schedule`` the
        compute nodes run in that order (see [NOTE: schedules]); values are dropped from
        ``env`` after their last use in the order actually run."""
        order = _execution_order(self.graph, schedule)
        last_uses = self.user_to_last_uses if schedule is None else _last_uses(order)
        self.env = initial_env if initial_env is not None else {}
        self.args_iter: Iterator[Any] = iter(args)
        for node in order:
            if node in self.env:
                continue
            self.env[node] = self._run_node_reporting(node)
            if self.garbage_collect_values:
                for dead in last_uses.get(node, []):
                    del self.env[dead]
            if node.op == "output":
                return self.env[node]
        return None

    def _run_node_reporting(self, node: Node) -> Any:
        """``run_node``, adding torch's "While executing ..." text to an exception."""
        try:
            return self.run_node(node)
        except Exception as e:
            if not self.extra_traceback:
                raise
            msg = f"While executing {node.format_node()}"
            msg = f"{e.args[0]}\n\n{msg}" if e.args else msg
            msg += f"\nOriginal traceback:\n{node.stack_trace}"
            msg += (
                "\nUse tlparse to see full graph. "
                "(https://github.com/pytorch/tlparse?tab=readme-ov-file#tlparse-parse-structured-pt2-logs)"
            )
            e.args = (msg, *e.args[1:])
            if isinstance(e, KeyError):
                raise RuntimeError(*e.args) from e
            raise

    def run_node(self, n: Node) -> Any:
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        return getattr(self, n.op)(n.target, args, kwargs)

    # -- one method per op ---------------------------------------------------------------------
    def placeholder(self, target: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The next positional argument; ``*name`` takes all the rest; else the default."""
        if target.startswith("*"):
            return list(self.args_iter)
        try:
            return next(self.args_iter)
        except StopIteration as si:
            if args:
                return args[0]
            raise RuntimeError(
                f"Expected positional argument for parameter {target}, but one was not passed in!"
            ) from si

    def get_attr(self, target: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self.fetch_attr(target)

    def call_function(self, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        assert not isinstance(target, str), "target should not be a string for call_function"
        return target(*args, **kwargs)

    def call_method(self, target: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self_obj, *args_tail = args
        return getattr(self_obj, target)(*args_tail, **kwargs)

    def call_module(self, target: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self.fetch_attr(target)(*args, **kwargs)

    def output(self, target: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return args[0]

    # -- helpers -------------------------------------------------------------------------------
    def fetch_attr(self, target: str) -> Any:
        atoms = target.split(".")
        obj = self.module
        for i, atom in enumerate(atoms):
            if not hasattr(obj, atom):
                raise RuntimeError(f"Node referenced nonexistent target {'.'.join(atoms[: i + 1])}")
            obj = getattr(obj, atom)
        return obj

    def fetch_args_kwargs_from_env(self, n: Node) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return self.map_nodes_to_values(n.args, n), self.map_nodes_to_values(n.kwargs, n)

    def map_nodes_to_values(self, args: Any, n: Node) -> Any:
        def load_arg(n_arg: Node) -> Any:
            if n_arg not in self.env:
                raise RuntimeError(
                    f"Node {n} referenced nonexistent value {n_arg}! Run Graph.lint() "
                    "to diagnose such issues"
                )
            return self.env[n_arg]

        return map_arg(args, load_arg)
