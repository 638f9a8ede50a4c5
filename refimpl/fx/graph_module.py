"""GraphModule: a graph, its generated ``.code``, and a callable ``forward``.

Models: ``torch/fx/graph_module.py`` (``GraphModule.__init__``, ``graph``, ``code``,
``recompile``, ``__call__``) at torch 2.13.0.
Spec: FX-2, FX-7.

Simplifications:
1. Not an ``nn.Module``: ``root`` is any object or a dict, and the attributes that get_attr and
   call_module nodes name are copied from it onto the GraphModule (dotted paths get plain
   holder objects).
2. ``forward`` does not run the generated code. It is a stub compiled from the generated
   ``def forward(...)`` line alone, whose body hands the bound arguments to the Interpreter
   (see [NOTE: forward stub]); so no name in the generated code has to resolve to an
   operator object.
3. No ``print_readable``, ``to_folder``, pickling, ``__deepcopy__`` or ``_lineno_map``.
4. ``__init__`` and the ``graph`` setter do not generate code: ``.code`` and ``forward`` are
   made on first use ([NOTE: lazy code]). So a codegen error surfaces on first use, and edits
   made to the graph before that first use show without a ``recompile()``.
"""

from __future__ import annotations

from typing import Any

from refimpl.fx.graph import Graph, PythonCode
from refimpl.fx.interpreter import Interpreter

__all__ = ["GraphModule"]

# [NOTE: forward stub]
# torch execs the generated source, so calling ``gm`` with a missing argument fails inside
# Python's own argument binding: ``TypeError: forward() missing 1 required positional argument:
# 'tangents_token'`` (reference scenario 06 G). To give the same errors, with the same
# defaults and keyword arguments, ``recompile`` execs only the ``def forward(...)`` line of
# ``.code`` with a one-line body ``return self._run_graph(a, b, ...)``. The parameters are
# placeholder targets, so the body reads nothing but its own parameters and ``self``.
# Errors raised by the ops propagate unchanged, as they would from compiled code: the
# Interpreter's "While executing" decoration is switched off.


# [NOTE: lazy code]
# torch generates the source in ``__init__`` (through the ``graph`` setter) and again in every
# ``recompile()``. aot_export edits the traced graph (dead-code elimination) and recompiles, so
# the first text was thrown away unread: a fifth of an export's time. Here the ``graph`` setter
# only marks the code stale; ``.code`` and ``forward`` (through ``__getattr__``, as the
# instance attribute ``recompile`` sets is missing) generate it when first asked for, and an
# explicit ``recompile()`` generates it at once, as upstream. make_fx recompiles before
# returning, so a traced module has its code from the start, as with torch.


class _AttrHolder:
    """An intermediate object on a dotted get_attr path (``self.sub.buf``)."""


def _fetch(root: Any, target: str, node_name: str) -> Any:
    if isinstance(root, dict):
        if target not in root:
            raise RuntimeError(
                f"Node {node_name} referenced target {target} but that target was not "
                "provided in ``root``!"
            )
        return root[target]
    obj = root
    for atom in target.split("."):
        if not hasattr(obj, atom):
            raise RuntimeError(f"Node {node_name} referenced nonexistent target {target}")
        obj = getattr(obj, atom)
    return obj


def _assign(gm: GraphModule, target: str, value: Any) -> None:
    *path, last = target.split(".")
    obj: Any = gm
    for atom in path:
        if not hasattr(obj, atom):
            setattr(obj, atom, _AttrHolder())
        obj = getattr(obj, atom)
    setattr(obj, last, value)


def _def_line(src: str) -> str:
    """The first line of ``src`` that starts with ``def ``, found without splitting all of it."""
    start = 0 if src.startswith("def ") else src.index("\ndef ") + 1
    end = src.find("\n", start)
    return src[start:] if end == -1 else src[start:end]


def _forward_stub(graph: Graph, src: str, globals_: dict[str, Any]) -> Any:
    """Compile the ``def forward(...)`` line of ``src`` with a body that calls the graph."""
    def_line = _def_line(src)
    targets = [n.target for n in graph.nodes if n.op == "placeholder"]
    call_args = ", ".join("*" + t.lstrip("*") if t.startswith("*") else t for t in targets)
    stub = f"{def_line}\n    return self._run_graph({call_args})\n"
    namespace = dict(globals_)
    exec(compile(stub, "<refimpl.fx forward stub>", "exec"), namespace)
    return namespace["forward"]


class GraphModule:
    """Holds ``graph``; ``.code`` is the text torch would generate; calling runs the graph."""

    def __init__(self, root: Any, graph: Graph, class_name: str = "GraphModule") -> None:
        self._class_name = class_name
        for node in graph.nodes:
            if node.op in ("get_attr", "call_module"):
                _assign(self, node.target, _fetch(root, node.target, node.name))
        self.graph = graph

    @property
    def graph(self) -> Graph:
        return self._graph

    @graph.setter
    def graph(self, g: Graph) -> None:
        self._graph = g
        g.owning_module = self
        # [NOTE: lazy code] what upstream's ``self.recompile()`` here would make, on first use.
        self._code = None
        self.__dict__.pop("forward", None)

    @property
    def code(self) -> str:
        """The generated source, byte for byte as torch's ``GraphModule.code`` (FX-2)."""
        if self._code is None:
            self.recompile()
        return self._code

    def recompile(self) -> PythonCode:
        """Regenerate ``.code`` and ``forward`` after the graph was edited."""
        python_code = self._graph.python_code(root_module="self")
        self._code = python_code.src
        stub = _forward_stub(self._graph, python_code.src, python_code.globals)
        self.forward = stub.__get__(self, type(self))
        return python_code

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: ``forward`` before its first use.
        if name == "forward" and "_graph" in self.__dict__:
            self.recompile()
            return self.forward
        raise AttributeError(
            f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self
        )

    def _run_graph(self, *args: Any) -> Any:
        interpreter = Interpreter(self)
        interpreter.extra_traceback = False
        return interpreter.run(*args)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)
