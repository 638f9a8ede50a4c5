"""FX graphs: an ordered list of nodes, their names, their Python text, lint and DCE.

Models: ``torch/fx/graph.py`` (``_Namespace``, ``CodeGen._gen_python_code``, ``PythonCode``,
``Graph.create_node``, ``Graph._target_to_str``, ``Graph.python_code``, ``Graph.lint``,
``Graph.eliminate_dead_code``, ``Graph.__str__``) at torch 2.13.0.
Spec: FX-1 (naming), FX-2 (codegen), FX-3 (liveness annotations), FX-4 (lint), FX-5 (DCE).

Simplifications:
1. One ``CodeGen`` (no pytree, boxed or export codegen, no ``verbose``/``colored``/
   ``expanded_def``/``record_func`` output, no ``# COUNTER`` lines or line-number map, no
   type annotations: ``type_expr`` is stored but never printed).
2. The globals torch pre-registers (``torch``, ``device``, ``fx_pytree``, ``pytree``) are
   sentinel objects here: only their names matter, because they are reserved in every
   namespace and so shape how nodes are named (``torch`` becomes ``torch_1``).
3. A call target or argument counts as "from torch" by its ``__module__`` alone, which is
   how refimpl's operators (``__module__ == "torch._ops.aten"``) print as ``torch.ops....``.
4. ``lint`` checks more than upstream (each use registered in ``users`` and the reverse,
   exactly one ``output`` and it is last) and every message ends with the offending node's
   canonical line (``node_code_line``), e.g. ``add = torch.ops.aten.add.Tensor(x, y)``.
5. No sub-graph DCE through an owning module's children; no ``TracingContext``: DCE treats
   random ops as impure (``impure_random=True``).
"""

from __future__ import annotations

import builtins
import enum
import keyword
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from refimpl.fx.node import Node, _get_qualified_name, _is_higher_order, _is_op_overload, map_arg

__all__ = ["CodeGen", "Graph", "PythonCode", "node_code_line"]

_legal_ops = dict.fromkeys(
    ["call_function", "call_method", "get_attr", "call_module", "placeholder", "output"]
)

# -- names (FX-1) ------------------------------------------------------------------------------


class _Sentinel:
    """Stands in for a torch object that generated code may name (``torch``, ``device``)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return f"<refimpl stand-in for {self._name}>"


# A name may not shadow a keyword, a builtin, or one of the globals every FX module carries.
_custom_builtins: dict[str, object] = {
    "inf": math.inf,
    "nan": math.nan,
    "NoneType": type(None),
    "torch": _Sentinel("torch"),
    "device": _Sentinel("torch.device"),
    "fx_pytree": _Sentinel("torch.fx._pytree"),
    "pytree": _Sentinel("torch.utils._pytree"),
}
_illegal_names: dict[str, object] = {k: object() for k in keyword.kwlist}
_illegal_names.update(builtins.__dict__)
_illegal_names.update(_custom_builtins)

_snake_case_sub = re.compile(r"(?<=[a-z])([A-Z])").sub
_illegal_char_regex = re.compile("[^0-9a-zA-Z_]+")
# base name, lazily, then an optional "_<digits>" suffix
_name_regex = re.compile(r"^([a-zA-Z_][0-9a-zA-Z_]*?)(?:_(\d+))?$")
_torch_module_regex = re.compile(r"^torch(?:\.(?!_dynamo\.|_inductor\.)[^.]+)*$")


# Pure functions of a string, asked once per node with a handful of distinct strings: memoized
# (``_snake_case`` per op name, ``_is_from_torch`` per module name).
_snake_case_memo: dict[str, str] = {}
_from_torch_memo: dict[str, bool] = {}


def _snake_case(s: str) -> str:
    """``pascalCase`` -> ``pascal_case``; dots and underscores are kept."""
    out = _snake_case_memo.get(s)
    if out is None:
        if len(_snake_case_memo) >= 4096:  # targets like ``_tensor_constant<n>`` never repeat
            _snake_case_memo.clear()
        out = _snake_case_memo[s] = _snake_case_sub(r"_\1", s).lower()
    return out


def _is_magic(x: str) -> bool:
    return x.startswith("__") and x.endswith("__")


def _is_from_torch(obj: object) -> bool:
    module = getattr(obj, "__module__", None)
    if type(module) is not str:
        return isinstance(module, str) and _torch_module_regex.fullmatch(module) is not None
    out = _from_torch_memo.get(module)
    if out is None:
        out = _from_torch_memo[module] = _torch_module_regex.fullmatch(module) is not None
    return out


# candidate -> (legal candidate, base, number suffix or None): ``_legal_candidate``'s parse,
# memoized, as node creation asks about the same few candidates (``getitem``, ``add``) over and
# over, and codegen about the same node names in every run. Bounded like ``_snake_case_memo``.
_candidate_memo: dict[str, tuple[str, str, int | None]] = {}


def _parse_candidate(candidate: str) -> tuple[str, str, int | None]:
    """``add_2`` -> ``("add_2", "add", 2)``; ``a.b`` -> ``("a_b", "a_b", None)`` (memoized)."""
    parsed = _candidate_memo.get(candidate)
    if parsed is None:
        if len(_candidate_memo) >= 8192:
            _candidate_memo.clear()
        match = _legal_candidate(candidate)
        base, num_text = match.group(1, 2)
        num = None if num_text is None else int(num_text)
        parsed = _candidate_memo[candidate] = (match.group(0), base, num)
    return parsed


def _legal_candidate(candidate: str) -> re.Match[str]:
    """Rewrite ``candidate`` into an identifier: illegal runs -> ``_``, no leading digit."""
    match = _name_regex.match(candidate)
    if match is not None:
        return match
    candidate = _illegal_char_regex.sub("_", candidate) or "_unnamed"
    if candidate[0].isdigit():
        candidate = f"_{candidate}"
    match = _name_regex.match(candidate)
    assert match is not None, f"Name regex failed to match candidate: {candidate}"
    return match


class _Namespace:
    """Unique names for objects (FX-1).

    Invariants: each object gets one name; each name is used once; a name never shadows a
    keyword, builtin or FX global unless the object *is* that builtin. A clash is resolved
    with the suffix ``_<n>``, counting on from the last suffix handed out for that base.
    """

    def __init__(self) -> None:
        self._obj_to_name: dict[object, str] = {}
        self._used_names: set[str] = set()
        self._base_count: dict[str, int] = {}

    def create_name(self, candidate: str, obj: object | None) -> str:
        if obj is not None:
            name = self._obj_to_name.get(obj)
            if name is not None:
                return name
        # ``_parse_candidate``, with its memo read inline: a hit costs no call.
        candidate, base, num = _candidate_memo.get(candidate) or _parse_candidate(candidate)
        used = self._used_names
        if num is None or candidate in used:
            num = self._base_count.get(base, 0)
            if _illegal_names.get(candidate, obj) is not obj:
                num += 1
                candidate = f"{base}_{num}"
        while candidate in used:
            num += 1
            candidate = f"{base}_{num}"
        used.add(candidate)
        self._base_count[base] = num
        if obj is not None:
            self._obj_to_name[obj] = candidate
        return candidate

    def associate_name_with_obj(self, name: str, obj: object) -> None:
        existing = self._obj_to_name.setdefault(obj, name)
        assert existing is name, "obj is already associated"

    def _rename_object(self, obj: object, name: str) -> None:
        assert obj in self._obj_to_name, f"Object {obj} is not in _obj_to_name"
        self._obj_to_name[obj] = name
        self._used_names.add(name)


# -- code generation (FX-2, FX-3) --------------------------------------------------------------

_reflectable_magic_methods = {
    "add": "{} + {}",
    "sub": "{} - {}",
    "mul": "{} * {}",
    "floordiv": "{} // {}",
    "truediv": "{} / {}",
    "div": "{} / {}",
    "mod": "{} % {}",
    "pow": "{} ** {}",
    "lshift": "{} << {}",
    "rshift": "{} >> {}",
    "and_": "{} & {}",
    "or_": "{} | {}",
    "xor": "{} ^ {}",
    "getitem": "{}[{}]",
    "matmul": "{} @ {}",
}
_magic_methods = {
    "eq": "{} == {}",
    "ne": "{} != {}",
    "lt": "{} < {}",
    "gt": "{} > {}",
    "le": "{} <= {}",
    "ge": "{} >= {}",
    "pos": "+{}",
    "neg": "-{}",
    "invert": "~{}",
    **_reflectable_magic_methods,
}
_inplace_methods = {
    "iadd": "{} += {}",
    "iand": "{} &= {}",
    "ifloordiv": "{} //= {}",
    "ilshift": "{} <<= {}",
    "imod": "{} %= {}",
    "imul": "{} *= {}",
    "imatmul": "{} @= {}",
    "ior": "{} |= {}",
    "ipow": "{} **= {}",
    "irshift": "{} >>= {}",
    "isub": "{} -= {}",
    "itruediv": "{} /= {}",
    "ixor": "{} ^= {}",
    "setitem": "{}[{}] = {}",
}


@dataclass
class PythonCode:
    """The source of ``forward`` and the globals it reads."""

    src: str
    globals: dict[str, Any]


def _format_target(base: str, target: str) -> str:
    """``self`` + ``a.b`` -> ``self.a.b``; a non-identifier atom goes through ``getattr``."""
    out = base
    for atom in target.split("."):
        out = f"{out}.{atom}" if atom.isidentifier() else f'getattr({out}, "{atom}")'
    return out


def _is_tensor_like(arg: object) -> bool:
    names = {c.__name__ for c in type(arg).__mro__}
    return "Tensor" in names and hasattr(arg, "shape") and hasattr(arg, "dtype")


# Argument leaves whose code text is their ``repr``: ``repr_arg`` answers them before trying
# the container, operator, enum and tensor cases, none of which can apply to them.
_repr_leaf_types = frozenset({int, float, str, bool, type(None)})


class _Emitter:
    """Turns nodes into statements inside one namespace: the state of one codegen run."""

    def __init__(self, namespace: _Namespace, root_module: str) -> None:
        self.namespace = namespace
        self.root_module = root_module
        self.globals: dict[str, Any] = {}
        # node -> its name in the code, read by ``name_of``: the namespace's own map.
        self._node_names: dict[object, str] = namespace._obj_to_name
        # id(callable) -> its name in the code; the graph keeps the callables alive.
        self._callable_names: dict[int, str] = {}
        # id(call_function target) -> how its calls print (see ``_call_form``).
        self._call_forms: dict[int, tuple[str, str]] = {}
        for name, obj in _custom_builtins.items():
            self.add_global(name, obj)

    def add_global(self, name_hint: str, obj: Any) -> str:
        """The name generated code uses for ``obj``; torch objects keep their dotted name."""
        if _is_from_torch(obj):
            return _get_qualified_name(obj)
        name = self.namespace.create_name(name_hint, obj)
        if name in self.globals:
            assert self.globals[name] is obj, f"Global name {name} already assigned"
            return name
        self.globals[name] = obj
        return name

    def add_callable(self, fn: Any) -> str:
        """``add_global(_get_qualified_name(fn), fn)``, worked out once per callable: the
        same call target or operator argument recurs on many nodes."""
        name = self._callable_names.get(id(fn))
        if name is None:
            name = self._callable_names[id(fn)] = self.add_global(_get_qualified_name(fn), fn)
        return name

    def name_of(self, node: Node) -> str:
        """``repr(node)``: during ``python_code`` that names ``node`` in the namespace on first
        use. Fast path: a node named already is looked up in the namespace directly."""
        name = self._node_names.get(node)
        return repr(node) if name is None else name

    def repr_arg(self, arg: object) -> str:
        """Python text for an argument leaf or container, as torch's ``_get_repr``."""
        kind = type(arg)
        if kind is Node:  # ``name_of``, inlined: most arguments are nodes
            name = self._node_names.get(arg)
            return repr(arg) if name is None else name
        if kind in _repr_leaf_types:
            return repr(arg)
        if isinstance(arg, Node):
            return repr(arg)
        if isinstance(arg, tuple) and hasattr(arg, "_fields"):
            return f"{self.add_global(_get_qualified_name(kind), kind)}{tuple(arg)!r}"
        if _is_op_overload(arg) or _is_higher_order(arg):
            return self.add_callable(arg)
        if isinstance(arg, enum.Enum):
            cls = arg.__class__
            return f"{self.add_global(cls.__name__, cls)}.{arg.name}"
        if _is_tensor_like(arg):
            dtype = str(arg.dtype).split(".")[-1]  # type: ignore[attr-defined]
            return f"torch.Tensor(size={list(arg.shape)}, dtype={dtype})"  # type: ignore[attr-defined]
        if isinstance(arg, tuple):
            if len(arg) == 1:
                return f"({self.repr_arg(arg[0])},)"
            return "(" + ", ".join([self.repr_arg(a) for a in arg]) + ")"
        if isinstance(arg, list):
            return "[" + ", ".join([self.repr_arg(a) for a in arg]) + "]"
        if isinstance(arg, slice):
            parts = (self.repr_arg(arg.start), self.repr_arg(arg.stop), self.repr_arg(arg.step))
            return "slice({}, {}, {})".format(*parts)
        return repr(arg)

    def format_args(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        parts = list(map(self.repr_arg, args))
        for key, value in kwargs.items():
            parts.append(f"{key} = {self.repr_arg(value)}")
        return ", ".join(parts)

    def statement(self, node: Node) -> str:
        """The statement for one node without its newline or liveness tail (FX-2)."""
        if node.op == "call_function":
            return self._call_function(node)
        # Each f-string below names the node first, then its arguments, as torch does: the
        # order in which names are handed out decides who gets a ``_1`` suffix.
        if node.op == "call_method":
            receiver = f"{node!r} = {_format_target(self.repr_arg(node.args[0]), node.target)}"
            return f"{receiver}({self.format_args(node.args[1:], node.kwargs)})"
        if node.op == "call_module":
            callee = f"{node!r} = {_format_target(self.root_module, node.target)}"
            return f"{callee}({self.format_args(node.args, node.kwargs)})"
        if node.op == "get_attr":
            return f"{node!r} = {_format_target(self.root_module, node.target)}"
        if node.op == "output":
            return f"return {self.repr_arg(node.args[0])}"
        raise NotImplementedError(f"node: {node.op} {node.target}")

    def _call_form(self, target: Any) -> tuple[str, str]:
        """How calls of ``target`` print: ``("magic", template)`` or ``("inplace", template)``
        for an ``_operator`` function torch writes as an operator, else ``("call", name)``
        with the name the code calls it by. Asked once per target (``_call_forms`` keeps the
        answer), before the node is named, as torch adds the global first."""
        name = getattr(target, "__name__", "")
        is_operator = getattr(target, "__module__", "") == "_operator"
        if is_operator and name in _magic_methods:
            form = ("magic", _magic_methods[name])
        elif is_operator and name in _inplace_methods:
            form = ("inplace", _inplace_methods[name])
        else:
            form = ("call", self.add_callable(target))
        self._call_forms[id(target)] = form
        return form

    def _call_function(self, node: Node) -> str:
        target = node.target
        kind, text = self._call_forms.get(id(target)) or self._call_form(target)
        args = node._args
        if kind == "magic":
            lhs = f"{node!r} = "
            return lhs + text.format(*map(self.repr_arg, args))
        if kind == "inplace":
            statement = text.format(*map(self.repr_arg, args))
            return f"{statement};  {node!r} = {self.repr_arg(args[0])}"
        if (
            text == "getattr"
            and len(args) == 2
            and isinstance(args[1], str)
            and args[1].isidentifier()
        ):
            return f"{node!r} = {_format_target(self.repr_arg(args[0]), args[1])}"
        return f"{node!r} = {text}({self.format_args(args, node._kwargs)})"

    def liveness_tail(self, node: Node, last_uses: dict[Node, list[Node]]) -> str:
        """``;  a = b = None`` after a statement: values dead after it, then the node itself if
        nothing reads it. Placeholders get nothing, the output only a newline (FX-3)."""
        if node.op == "output":
            return "\n"
        dead = last_uses.get(node)
        if not node.users:
            dead = [*dead, node] if dead else [node]
        if not dead:
            return "\n"
        return ";  " + " = ".join(map(self.name_of, dead)) + " = None\n"


def _last_uses(nodes: list[Node]) -> dict[Node, list[Node]]:
    """For each node, the values whose last use it is, in ``_input_nodes`` order (FX-3).

    Walking backwards, the first user met of a value is its last use in program order.
    """
    seen: set[Node] = set()
    user_to_last_uses: dict[Node, list[Node]] = {}
    for user in reversed(nodes):
        for value in user._input_nodes:
            if value not in seen:
                seen.add(value)
                user_to_last_uses.setdefault(user, []).append(value)
    return user_to_last_uses


class CodeGen:
    """Writes ``def forward(self, ...):`` for a node list (torch's ``CodeGen``)."""

    def __init__(self) -> None:
        self._func_name = "forward"

    def gen_fn_def(self, free_vars: list[str]) -> str:
        if not free_vars or free_vars[0] != "self":
            free_vars.insert(0, "self")
        return f"def {self._func_name}({', '.join(free_vars)}):"

    def _gen_python_code(
        self, nodes: list[Node], root_module: str, namespace: _Namespace
    ) -> PythonCode:
        emitter = _Emitter(namespace, root_module)
        last_uses = _last_uses(nodes)
        free_vars: list[str] = []
        body: list[str] = []
        for node in nodes:
            if node.op == "placeholder":
                body.extend(self._placeholder(node, emitter, free_vars))
                continue
            body.append(emitter.statement(node))
            body.append(emitter.liveness_tail(node, last_uses))
        if not body:
            body.append("pass\n")
        code = "".join(body).lstrip("\n")
        # Every line indented by four spaces, the empty one after the last newline included.
        code = "    " + code.replace("\n", "\n    ")
        src = f"\n\n\n{self.gen_fn_def(free_vars)}\n{code}"
        return PythonCode(src, emitter.globals)

    @staticmethod
    def _placeholder(node: Node, emitter: _Emitter, free_vars: list[str]) -> list[str]:
        """A parameter of ``forward``; a renamed one is rebound in the body."""
        default = f" = {emitter.repr_arg(node.args[0])}" if node.args else ""
        free_vars.append(f"{node.target}{default}")
        raw_name = node.target.replace("*", "")
        name = repr(node)
        if raw_name != name:
            return [f"{name} = {raw_name}\n"]
        return []


def node_code_line(node: Node) -> str:
    """The canonical one-line text of ``node``: its ``.code`` statement with plain node names
    and no liveness tail (``add = torch.ops.aten.add.Tensor(x, y)``); a placeholder reads
    ``x = placeholder[target=x]``. Used in error messages (STYLE 9)."""
    if node.op == "placeholder":
        return f"{node.name} = placeholder[target={node.target}]"
    if node.op not in _legal_ops:
        return f"{node.name} = {node.op}[target={node.target}]"
    return _Emitter(_Namespace(), "self").statement(node)


# -- the graph ---------------------------------------------------------------------------------


class _InsertPoint:
    """Swaps the graph's insert function now and restores it on ``__exit__``."""

    def __init__(self, graph: Graph, new_insert: Callable[[Node], None]) -> None:
        self.graph = graph
        self.orig_insert, graph._insert = graph._insert, new_insert

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        self.graph._insert = self.orig_insert


class _node_list:  # noqa: N801 - upstream name
    """A live view of the linked list; erasing the current node while iterating is safe."""

    def __init__(self, graph: Graph, direction: str = "_next") -> None:
        self.graph = graph
        self.direction = direction

    def __len__(self) -> int:
        return self.graph._len

    def __iter__(self) -> Iterator[Node]:
        return _walk(self.graph._root, self.direction)

    def __reversed__(self) -> Iterator[Node]:
        return _walk(self.graph._root, "_prev" if self.direction == "_next" else "_next")


def _walk(root: Node, direction: str) -> Iterator[Node]:
    forward = direction == "_next"  # plain attribute reads: faster than getattr per step
    cur = root._next if forward else root._prev
    while cur is not root:
        if not cur._erased:
            yield cur
        cur = cur._next if forward else cur._prev


_NO_DEFAULT = object()


class Graph:
    """The FX graph: nodes in program order between a sentinel ``root`` node's links."""

    def __init__(self, owning_module: Any = None) -> None:
        self._root = Node(self, "", "root", "", (), {})
        self._insert: Callable[[Node], None] = self._root.prepend
        self._len = 0
        self._graph_namespace = _Namespace()
        self._owning_module = owning_module
        self._codegen = CodeGen()

    @property
    def owning_module(self) -> Any:
        return self._owning_module

    @owning_module.setter
    def owning_module(self, mod: Any) -> None:
        self._owning_module = mod

    @property
    def nodes(self) -> _node_list:
        return _node_list(self)

    def output_node(self) -> Node:
        node = next(iter(reversed(self.nodes)))
        assert node.op == "output", f"Expected output node, got op={node.op}"
        return node

    def find_nodes(self, *, op: str, target: Any = None) -> list[Node]:
        """Nodes with ``op`` (and ``target``, when given), in graph order."""
        return [n for n in self.nodes if n.op == op and (target is None or n.target == target)]

    # -- creating and removing nodes (FX-1) -------------------------------------------------------
    def _target_to_str(self, target: Any) -> str:
        """The default name of a node: ``__name__`` of a callable, snake-cased (FX-1)."""
        if callable(target):
            op = target.__name__
        else:
            assert isinstance(target, str), f"Expected target to be str, got {type(target)}"
            op = target[2:-2] if _is_magic(target) else target
        return _snake_case_memo.get(op) or _snake_case(op)  # the memo read without a call

    def create_node(
        self,
        op: str,
        target: Any,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        name: str | None = None,
        type_expr: Any | None = None,
    ) -> Node:
        """Create a node at the insert point; ``name`` defaults to ``_target_to_str(target)``."""
        if not args:
            args = ()
        else:
            assert isinstance(args, tuple), f"args must be a tuple, got {type(args)}"
        if not kwargs:
            kwargs = {}
        else:
            assert isinstance(kwargs, dict), f"kwargs must be a dict, got {type(kwargs)}"
        candidate = name if name is not None else self._target_to_str(target)
        namespace = self._graph_namespace
        unique = namespace.create_name(candidate, None)
        node = Node(self, unique, op, target, args, kwargs, type_expr)
        namespace.associate_name_with_obj(unique, node)
        self._insert(node)
        self._len += 1
        return node

    def placeholder(
        self, name: str, type_expr: Any | None = None, default_value: Any = _NO_DEFAULT
    ) -> Node:
        args = () if default_value is _NO_DEFAULT else (default_value,)
        return self.create_node("placeholder", name, args=args, type_expr=type_expr)

    def get_attr(self, qualified_name: str, type_expr: Any | None = None) -> Node:
        return self.create_node("get_attr", qualified_name, type_expr=type_expr)

    def call_function(
        self,
        the_function: Callable[..., Any],
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        type_expr: Any | None = None,
        name: str | None = None,
    ) -> Node:
        return self.create_node(
            "call_function", the_function, args, kwargs, name=name, type_expr=type_expr
        )

    def call_method(
        self,
        method_name: str,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        type_expr: Any | None = None,
    ) -> Node:
        return self.create_node("call_method", method_name, args, kwargs, type_expr=type_expr)

    def call_module(
        self,
        module_name: str,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        type_expr: Any | None = None,
    ) -> Node:
        return self.create_node("call_module", module_name, args, kwargs, type_expr=type_expr)

    def output(self, result: Any, type_expr: Any | None = None) -> Node:
        return self.create_node("output", "output", args=(result,), type_expr=type_expr)

    def node_copy(self, node: Node, arg_transform: Callable[[Node], Any] = lambda x: x) -> Node:
        args = map_arg(node.args, arg_transform)
        kwargs = map_arg(node.kwargs, arg_transform)
        copied = self.create_node(node.op, node.target, args, kwargs, node.name, node.type)
        copied.meta = dict(node.meta)
        return copied

    def graph_copy(self, g: Graph, val_map: dict[Node, Node]) -> Any:
        """Copy ``g``'s nodes into ``self``; returns the copied output value, if any."""
        for node in g.nodes:
            if node in val_map:
                continue
            if node.op == "output":
                return map_arg(node.args[0], lambda n: val_map[n])
            val_map[node] = self.node_copy(node, lambda n: val_map[n])
        return None

    def erase_node(self, to_erase: Node) -> None:
        if to_erase.users:
            raise RuntimeError(
                f"Tried to erase Node {to_erase} but it still had {len(to_erase.users)} "
                f"users in the graph: {to_erase.users}!"
            )
        if to_erase.graph is not self:
            raise RuntimeError(f"Attempting to remove {to_erase} from wrong graph!")
        if to_erase._erased:
            return
        to_erase._remove_from_list()
        to_erase._erased = True
        self._len -= 1
        to_erase._update_args_kwargs(
            map_arg(to_erase.args, lambda n: None), map_arg(to_erase.kwargs, lambda n: None)
        )

    def inserting_before(self, n: Node | None = None) -> _InsertPoint:
        if n is None:
            return self.inserting_after(self._root)
        assert n.graph is self, "Node to insert before is not in graph."
        return _InsertPoint(self, n.prepend)

    def inserting_after(self, n: Node | None = None) -> _InsertPoint:
        """Note: each new node goes right after ``n``, so several land in reverse order."""
        if n is None:
            return self.inserting_before(self._root)
        assert n.graph is self, "Node to insert after is not in graph."
        return _InsertPoint(self, n.append)

    # -- text (FX-2, FX-3) -----------------------------------------------------------------------
    def python_code(self, root_module: str = "self") -> PythonCode:
        """The source of ``forward``. Names come from a fresh namespace that also holds the
        globals, so a node never shadows a global (torch's [NOTE: Graph Namespaces])."""
        namespace = _Namespace()
        nodes = list(self.nodes)
        with _override_node_repr(nodes, lambda n: namespace.create_name(n.name, n)):
            return self._codegen._gen_python_code(nodes, root_module, namespace)

    def __str__(self) -> str:
        placeholder_names: list[str] = []
        lines = [node.format_node(placeholder_names) for node in self.nodes]
        text = f"graph({', '.join(placeholder_names)}):"
        for line in lines:
            if line:
                text += "\n    " + line
        return text

    # -- checks (FX-4) -------------------------------------------------------------------------
    def lint(self) -> None:
        """Raise ``RuntimeError`` naming the first ill-formed node (see ``_lint_node``)."""
        seen_values: set[Node] = set()
        seen_names: set[str] = set()
        outputs: list[Node] = []
        for node in self.nodes:
            self._lint_node(node, seen_values, seen_names)
            seen_values.add(node)
            seen_names.add(node.name)
            if node.op == "output":
                outputs.append(node)
        self._lint_output(outputs)

    def _lint_node(self, node: Node, seen_values: set[Node], seen_names: set[str]) -> None:
        """Steps: 1. legal op and owner; 2. each input owned and defined earlier; 3. both
        directions of each use registered; 4. a name not used before; 5. a sound target."""
        if node.op not in _legal_ops:
            self._lint_error(node, f"Node {node} had unknown opcode {node.op}!")
        if node.graph is not self:
            self._lint_error(node, f"Node '{node}' does not belong to this Graph!")
        for arg in node._input_nodes:
            # Fast path: the checks of ``_lint_input``, which is called to say which one failed.
            if arg.graph is not self or arg not in seen_values or node not in arg.users:
                self._lint_input(arg, node, seen_values)
        for user in node.users:
            if user._erased or node not in user._input_nodes:
                self._lint_error(
                    node, f"Node '{node}' lists '{user}' as a user, but '{user}' does not use it!"
                )
        if node.name in seen_names:
            self._lint_error(node, f"Node redefined name {node.name}!")
        if node.op != "call_function" or not callable(node.target):  # else nothing to check
            self._lint_target(node)

    def _lint_input(self, arg: Node, node: Node, seen_values: set[Node]) -> None:
        if arg.graph is not self:
            self._lint_error(
                node,
                f"Argument '{arg}' of Node '{node}' does not belong to this Graph, but was used "
                "as an argument! If you are copying nodes from another graph, make sure to use "
                "``arg_transform`` on node_copy() to remap values",
            )
        if arg not in seen_values:
            self._lint_error(
                node,
                f"Argument '{arg}' of Node '{node}' was used before it has been defined! "
                "Please check that Nodes in the graph are topologically ordered",
            )
        if node not in arg.users:
            self._lint_error(
                node, f"Node '{node}' uses '{arg}', but is not registered in '{arg}'.users!"
            )

    def _lint_target(self, node: Node) -> None:
        if node.op == "call_function" and not callable(node.target):
            self._lint_error(node, f"Node {node} target {node.target} is not callable")
        if node.op != "call_function" and not isinstance(node.target, str):
            self._lint_error(node, f"Node {node} target {node.target} is not a str")
        if self.owning_module is not None and node.op in ("get_attr", "call_module"):
            obj = self.owning_module
            for i, atom in enumerate(node.target.split(".")):
                if not hasattr(obj, atom):
                    seen = ".".join(node.target.split(".")[:i])
                    self._lint_error(
                        node,
                        f"Node {node} target {node.target} references nonexistent attribute "
                        f"{atom} of {seen}",
                    )
                obj = getattr(obj, atom)

    def _lint_output(self, outputs: list[Node]) -> None:
        if len(outputs) != 1:
            last = outputs[-1] if outputs else next(iter(reversed(self.nodes)), None)
            msg = f"Graph must have exactly one output node, found {len(outputs)}"
            self._lint_error(last, msg)
        last = next(iter(reversed(self.nodes)))
        if last is not outputs[0]:
            self._lint_error(last, f"Node '{last}' comes after the output node")

    def _lint_error(self, node: Node | None, message: str) -> None:
        where = f"\n  offending node: {node_code_line(node)}" if node is not None else ""
        raise RuntimeError(f"{message}{where}\n{self}")

    # -- dead code (FX-5) ------------------------------------------------------------------------
    def eliminate_dead_code(self, is_impure_node: Callable[[Node], bool] | None = None) -> bool:
        """Erase unused pure nodes, last to first, so that erasing a node can make its inputs
        dead in the same sweep. Returns whether anything was erased."""
        self.lint()
        changed = False
        for node in list(reversed(self.nodes)):
            if is_impure_node is None:
                # ``Node.is_impure`` has no side effects, so asking it only about nodes without
                # users (torch asks it first, about every node) erases the same nodes.
                dead = not node.users and not Node.is_impure(node)
            else:
                dead = not is_impure_node(node) and not node.users
            if dead:
                self.erase_node(node)
                changed = True
        # Then the subgraphs (a cond's branches, a while_loop's bodies): each GraphModule the
        # owning module holds under a name a get_attr node reads, with its own default purity
        # (torch passes no predicate down), recompiled after (FX-8).
        owner = self.owning_module
        if owner is not None:
            targets = dict.fromkeys(n.target for n in self.nodes if n.op == "get_attr")
            for target in targets:
                child = getattr(owner, target, None)
                if isinstance(child, _graph_module_type()):
                    changed |= child.graph.eliminate_dead_code()
                    child.recompile()
        return changed


def _graph_module_type() -> type:
    from refimpl.fx.graph_module import GraphModule  # noqa: PLC0415 - graph_module imports us

    return GraphModule


@contextmanager
def _override_node_repr(nodes: list[Node], repr_fn: Callable[[Node], str]) -> Iterator[None]:
    saved = [n._repr_fn for n in nodes]
    for n in nodes:
        n._repr_fn = repr_fn
    try:
        yield
    finally:
        for n, fn in zip(nodes, saved):
            n._repr_fn = fn
