"""An FX-like graph IR whose ``GraphModule.code`` is byte-identical to torch.fx's.

Models: ``torch/fx/__init__.py`` at torch 2.13.0 (the names it exports).
Spec: FX-1 .. FX-7.

Simplifications:
1. Only ``Graph``, ``GraphModule``, ``Interpreter``, ``Node`` and their helpers; no tracer,
   ``Proxy`` or ``symbolic_trace`` (refimpl traces with ``proxy_tensor.make_fx``).

Reading order inside the package: ``node.py``, ``graph.py``, ``interpreter.py``,
``graph_module.py`` (``GraphModule.__call__`` runs the ``Interpreter``).
"""

from refimpl.fx.graph import CodeGen, Graph, PythonCode, node_code_line
from refimpl.fx.graph_module import GraphModule
from refimpl.fx.interpreter import Interpreter, random_topological_order, topological_orders
from refimpl.fx.node import Node, has_side_effect, map_aggregate, map_arg

__all__ = [
    "CodeGen",
    "Graph",
    "GraphModule",
    "Interpreter",
    "Node",
    "PythonCode",
    "has_side_effect",
    "map_aggregate",
    "map_arg",
    "node_code_line",
    "random_topological_order",
    "topological_orders",
]
