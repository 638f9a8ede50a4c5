"""FX nodes: one value definition of a graph, its uses, and its purity.

Models: ``torch/fx/node.py`` (``Node``, ``map_arg``, ``map_aggregate``, ``_get_qualified_name``,
``_side_effectful_functions``, ``has_side_effect``, ``Node.is_impure``) and
``torch/_library/utils.py:is_impure`` at torch 2.13.0.
Spec: FX-1, FX-5.

Simplifications:
1. Plain Python replaces torch's C++ ``_NodeBase`` (linked list, ``_update_args_kwargs``,
   ``_replace_input_with``); there are no sort keys, so nodes are not orderable with ``<``.
2. Operators are recognised by duck typing on the attributes that ``docs/architecture.md``
   fixes ("Contract: how operators look to the fx layer"), never with ``isinstance`` on torch
   classes: an ``OpOverload`` has ``_overloadname`` and ``_schema``, a ``HigherOrderOperator``
   has ``__module__ == "torch.ops.higher_order"``, an ``OpOverloadPacket`` has ``overloads()``.
3. ``is_impure`` lives here, not in ``_library/utils.py``: upstream imports
   ``_side_effectful_functions`` inside the function to dodge an import cycle, which house
   style forbids. Whether an op has a registered effect is asked through a hook list that
   ``refimpl/effects.py`` fills (see [NOTE: impurity hook]).
4. ``_side_effectful_functions`` starts with ``operator.setitem`` only: the torch functions and
   ops in upstream's initial set (``aten._assert_async.msg``, the profiler ops,
   ``prims._sink_tokens.default``...) are added by the modules that define them, through
   ``has_side_effect``.
5. No ``call_module`` purity (there are no ``nn.Module`` objects), no ``normalized_arguments``,
   no replace/create hooks of an owning module, no lambdas in ``_get_qualified_name``.
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from refimpl.fx.graph import Graph

__all__ = [
    "Node",
    "has_side_effect",
    "is_impure",
    "map_aggregate",
    "map_arg",
    "register_effectful_predicate",
]

_legal_ops = dict.fromkeys(
    ["placeholder", "call_method", "call_module", "call_function", "get_attr", "output", "root"]
)

# -- side effects ------------------------------------------------------------------------------

# Functions that dead-code elimination must keep even when their result is unused (FX-5).
_side_effectful_functions: set[Callable[..., Any]] = {operator.setitem}


def has_side_effect(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``fn`` as never dead; returns ``fn`` so it can be used as a decorator."""
    _side_effectful_functions.add(fn)
    return fn


# [NOTE: impurity hook]
# torch 2.13's ``is_impure`` keeps an OpOverload or higher-order op alive when
# ``torch._higher_order_ops.effects._get_effect(op) is not None``: an op with a registered
# effect (``aten::_print``, an ORDERED custom op) survives DCE even if its output is unused
# (reference scenario 11 A). The effect registry lives in a later module, so this module
# keeps a list of predicates and asks them (``register_effectful_predicate`` is an invented
# name; upstream calls ``_get_effect`` directly). ``refimpl/effects.py`` registers
# ``lambda op: _get_effect(op) is not None`` with ``register_effectful_predicate``.
# ``with_effects`` itself has no effect registered, so an unused with_effects node is removed
# (scenario 11 B): that falls out of the same rule. The predicates are asked only about
# OpOverload-like and higher-order targets (as upstream asks ``_get_effect`` only about those),
# and must answer False, not raise, for an operator their registry does not know.
_effectful_predicates: list[Callable[[object], bool]] = []


def register_effectful_predicate(pred: Callable[[object], bool]) -> Callable[[object], bool]:
    """Add a predicate "this op has a registered effect"; see [NOTE: impurity hook]."""
    _effectful_predicates.append(pred)
    return pred


def _is_effectful(op: object) -> bool:
    return any(pred(op) for pred in _effectful_predicates)


_AUTO_FUNCTIONALIZED = ("auto_functionalized", "auto_functionalized_v2")


def _is_op_overload(target: object) -> bool:
    return hasattr(target, "_overloadname") and hasattr(target, "_schema")


def _is_higher_order(target: object) -> bool:
    return getattr(target, "__module__", None) == "torch.ops.higher_order"


def _is_op_packet(target: object) -> bool:
    return callable(getattr(target, "overloads", None)) and not _is_op_overload(target)


def _has_mutable_schema(op: object) -> bool:
    schema = getattr(op, "_schema", None)
    return schema is not None and bool(getattr(schema, "is_mutable", False))


def _in_side_effect_set(op: object) -> bool:
    try:
        return op in _side_effectful_functions
    except TypeError:  # unhashable target
        return False


def is_impure(
    op: Callable[..., Any],
    *,
    args: tuple[Any, ...] | None = None,
    kwargs: dict[str, Any] | None = None,
    impure_random: bool = True,
) -> bool:
    """Whether a call of ``op`` must survive DCE (torch/_library/utils.py:is_impure).

    Steps, in upstream order:
    1. A packet in the set is impure; otherwise its ``default`` overload decides.
    2. An OpOverload with a mutable schema, in the set, or with an effect is impure.
    3. A higher-order op: ``auto_functionalized*`` asks about the op it wraps; otherwise
       an effect or membership in the set decides, and nothing else is looked at.
    4. Anything else, an OpOverload that step 2 let through included:
       ``_nondeterministic_seeded`` (when ``impure_random``), a mutable ``_schema``, or
       membership in the set. (Upstream's ``_RANDOM_FUNCTIONS``, the ``torch.rand``
       family, have no counterpart here.)
    """
    if _is_op_packet(op):
        if _in_side_effect_set(op):
            return True
        default = getattr(op, "default", None)
        if default is not None:
            return is_impure(default, args=args, kwargs=kwargs, impure_random=impure_random)
    if _is_op_overload(op) and (
        _has_mutable_schema(op) or _in_side_effect_set(op) or _is_effectful(op)
    ):
        return True
    if _is_higher_order(op):
        if getattr(op, "__name__", None) in _AUTO_FUNCTIONALIZED and args:
            return _in_side_effect_set(args[0])
        return _is_effectful(op) or _in_side_effect_set(op)
    if impure_random and getattr(op, "_nondeterministic_seeded", False):
        return True
    return _has_mutable_schema(op) or _in_side_effect_set(op)


# -- argument trees ----------------------------------------------------------------------------


def map_aggregate(a: Any, fn: Callable[[Any], Any]) -> Any:
    """Apply ``fn`` to every leaf of ``a`` (tuple, namedtuple, list, dict, slice)."""
    if isinstance(a, tuple):
        mapped = [map_aggregate(x, fn) for x in a]
        return type(a)(*mapped) if hasattr(a, "_fields") else tuple(mapped)
    if isinstance(a, list):
        return [map_aggregate(x, fn) for x in a]
    if isinstance(a, dict):
        return {k: map_aggregate(v, fn) for k, v in a.items()}
    if isinstance(a, slice):
        return slice(
            map_aggregate(a.start, fn), map_aggregate(a.stop, fn), map_aggregate(a.step, fn)
        )
    return fn(a)


def map_arg(a: Any, fn: Callable[[Node], Any]) -> Any:
    """Apply ``fn`` to every ``Node`` inside ``a``; other leaves are kept."""
    return map_aggregate(a, lambda x: fn(x) if isinstance(x, Node) else x)


# Leaf types that never hold a Node: ``_copy_args`` keeps them without a call.
_ATOMS = frozenset({str, int, float, bool, type(None)})


def _copy_args(a: Any, found: dict[Node, None]) -> Any:
    """``map_aggregate(a, lambda x: x)`` that also adds every ``Node`` it meets to ``found``,
    in order of first appearance (an ordered set): one pass where there were two, for the
    copy and the input nodes of ``Node._update_args_kwargs``."""
    if isinstance(a, tuple):
        mapped = _copy_items(a, found)
        return type(a)(*mapped) if hasattr(a, "_fields") else tuple(mapped)
    if isinstance(a, list):
        return _copy_items(a, found)
    if isinstance(a, dict):
        return dict(zip(a.keys(), _copy_items(a.values(), found)))
    if isinstance(a, slice):
        return slice(*_copy_items((a.start, a.stop, a.step), found))
    if isinstance(a, Node):
        found[a] = None
    return a


def _copy_tuple(args: tuple[Any, ...], found: dict[Node, None]) -> tuple[Any, ...]:
    """``_copy_args`` of a plain tuple. Fast path: a tuple of leaves only (most nodes' args)
    is immutable all the way down, so it is kept as is instead of rebuilt."""
    for x in args:
        kind = type(x)
        if kind is Node:
            found[x] = None
        elif kind not in _ATOMS:
            return tuple(_copy_items(args, found))  # a container (or a Node subclass) to copy
    return args


def _copy_items(items: Any, found: dict[Node, None]) -> list[Any]:
    out = []
    for x in items:
        kind = type(x)
        if kind is Node:
            found[x] = None
        elif kind not in _ATOMS:
            x = _copy_args(x, found)
        out.append(x)
    return out


# -- names -------------------------------------------------------------------------------------


def _get_qualified_name(func: Callable[..., Any]) -> str:
    """``module.name`` of a callable, as torch.fx prints a call target (FX-1, FX-2).

    ``torch._ops.aten`` becomes ``torch.ops.aten``, so an OpOverload whose ``__module__`` is
    ``torch._ops.aten`` and ``__name__`` is ``add.Tensor`` prints ``torch.ops.aten.add.Tensor``.
    Builtins (``getattr``) print bare; ``operator.getitem`` prints ``_operator.getitem``.
    """
    name = func.__name__
    if getattr(builtins, name, None) is func:
        return name
    module = getattr(func, "__module__", None)
    if module == "torch._tensor" and getattr(func, "__qualname__", None) == f"Tensor.{name}":
        return f"torch.Tensor.{name}"
    if name == "<lambda>":
        raise RuntimeError("Unable to represent lambda")
    if module is None:
        raise RuntimeError(f"cannot find module for {func}")
    return f"{module.replace('torch._ops', 'torch.ops')}.{name}"


def _typename(obj: object) -> str:
    """``torch.typename`` for a non-tensor: ``module.QualName``, builtins bare."""
    cls = type(obj)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _format_arg(arg: object) -> str:
    """``format_node``'s argument text: nodes as ``%name``, other leaves with ``str``."""
    if isinstance(arg, list):
        return "[" + ", ".join(_format_arg(a) for a in arg) + "]"
    if isinstance(arg, tuple):
        comma = "," if len(arg) == 1 else ""
        return "(" + ", ".join(_format_arg(a) for a in arg) + comma + ")"
    if isinstance(arg, dict):
        return "{" + ", ".join(f"{k}: {_format_arg(v)}" for k, v in arg.items()) + "}"
    if isinstance(arg, Node):
        return "%" + str(arg)
    return str(arg)


# -- Node --------------------------------------------------------------------------------------


class Node:
    """One value definition: ``op`` is placeholder, get_attr, call_function, call_method,
    call_module or output; ``users`` is an ordered set (dict) of the nodes that read it."""

    def __init__(
        self,
        graph: Graph,
        name: str,
        op: str,
        target: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        return_type: Any | None = None,
    ) -> None:
        if op != "call_function" or not callable(target):  # the common case needs no call
            _check_target(graph, name, op, target)
        self.graph = graph
        self.name = name
        self.op = op
        self.target = target
        self.type = return_type
        self.users: dict[Node, None] = {}
        self.meta: dict[str, Any] = {}
        self._input_nodes: dict[Node, None] = {}
        self._args: tuple[Any, ...]  # both set by _update_args_kwargs below
        self._kwargs: dict[str, Any]
        self._repr_fn: Callable[[Node], str] | None = None
        self._erased = False
        self._prev: Node = self
        self._next: Node = self
        self._update_args_kwargs(args, kwargs)

    # -- linked list ---------------------------------------------------------------------------
    @property
    def next(self) -> Node:
        return self._next

    @property
    def prev(self) -> Node:
        return self._prev

    def _remove_from_list(self) -> None:
        # The node keeps its own _prev/_next, so an iterator standing on it can go on.
        p, n = self._prev, self._next
        p._next, n._prev = n, p

    def prepend(self, x: Node) -> None:
        """Move or insert ``x`` right before this node."""
        if x is self:
            return
        if x._next is not x:  # linked somewhere (a new node is linked to itself only)
            x._remove_from_list()
        p = self._prev
        p._next, x._prev = x, p
        x._next, self._prev = self, x

    def append(self, x: Node) -> None:
        """Move or insert ``x`` right after this node (``self.next.prepend(x)``)."""
        self._next.prepend(x)

    # -- args, kwargs and uses -----------------------------------------------------------------
    @property
    def args(self) -> tuple[Any, ...]:
        return self._args

    @args.setter
    def args(self, a: tuple[Any, ...]) -> None:
        self._update_args_kwargs(a, self._kwargs)

    @property
    def kwargs(self) -> dict[str, Any]:
        return self._kwargs

    @kwargs.setter
    def kwargs(self, k: dict[str, Any]) -> None:
        self._update_args_kwargs(self._args, k)

    @property
    def all_input_nodes(self) -> list[Node]:
        return list(self._input_nodes)

    def _update_args_kwargs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Store copies of the argument trees and keep both directions of use in step."""
        found: dict[Node, None] = {}
        self._args = _copy_tuple(args if type(args) is tuple else tuple(args), found)
        self._kwargs = _copy_args(dict(kwargs), found) if kwargs else {}
        for old in self._input_nodes:
            old.users.pop(self, None)
        self._input_nodes = found
        for new in found:
            new.users[self] = None

    def _replace_input_with(self, old: Node, new: Node) -> None:
        swap = lambda n: new if n is old else n  # noqa: E731
        self._update_args_kwargs(map_arg(self._args, swap), map_arg(self._kwargs, swap))

    def replace_input_with(self, old_input: Node, new_input: Node) -> None:
        self._replace_input_with(old_input, new_input)

    def update_arg(self, idx: int, arg: Any) -> None:
        args = list(self._args)
        args[idx] = arg
        self.args = tuple(args)

    def insert_arg(self, idx: int, arg: Any) -> None:
        if not 0 <= idx <= len(self._args):
            raise AssertionError(
                f"insert_args index must be between 0 and len(self.args), got {idx}"
            )
        self.args = self._args[:idx] + (arg,) + self._args[idx:]

    def update_kwarg(self, key: str, arg: Any) -> None:
        self.kwargs = {**self._kwargs, key: arg}

    def replace_all_uses_with(
        self,
        replace_with: Node,
        delete_user_cb: Callable[[Node], bool] | None = None,
        *,
        propagate_meta: bool = False,
    ) -> list[Node]:
        """Point every user of ``self`` at ``replace_with``; returns the users changed."""
        if propagate_meta:
            if replace_with.meta:
                raise AssertionError(
                    "Called node.replace_all_uses_with(replace_with, propagate_meta=True), "
                    "but replace_with already has .meta keys"
                )
            replace_with.meta.update(self.meta)
        changed = []
        for user in list(self.users):
            if delete_user_cb is not None and not delete_user_cb(user):
                continue
            changed.append(user)
            user._replace_input_with(self, replace_with)
        return changed

    def _rename(self, candidate: str) -> None:
        if candidate == self.name:
            return
        namespace = self.graph._graph_namespace
        self.name = namespace.create_name(candidate, None)
        namespace._rename_object(self, self.name)

    @property
    def stack_trace(self) -> str | None:
        return self.meta.get("stack_trace", None)

    # -- purity and text -----------------------------------------------------------------------
    def is_impure(self, impure_random: bool = True) -> bool:
        """Placeholders and the output are impure; a call_function asks ``is_impure``."""
        if self.op in ("placeholder", "output"):
            return True
        if self.op == "call_function":
            return is_impure(
                self.target, args=self._args, kwargs=self._kwargs, impure_random=impure_random
            )
        return False

    def __repr__(self) -> str:
        if self._repr_fn is not None:
            return self._repr_fn(self)
        return self.name

    @staticmethod
    def _pretty_print_target(target: object) -> str:
        if isinstance(target, str):
            return target
        module = getattr(target, "__module__", None)
        name = getattr(target, "__name__", None)
        if module == "builtins" and name is not None:
            return f"builtins.{name}"
        if module == "_operator" and name is not None:
            return f"operator.{name}"
        return _get_qualified_name(target)  # type: ignore[arg-type]

    def format_node(self, placeholder_names: list[str] | None = None) -> str | None:
        """torch's one-line debug form, e.g. ``%add : [num_users=1] =
        call_function[target=torch.ops.aten.add.Tensor](args = (%x, %y), kwargs = {})``
        (one line). With ``placeholder_names`` a placeholder is appended there instead."""
        if self.op == "placeholder":
            # Upstream tests the list for truth, and ``Graph.__str__`` passes an empty one, so
            # placeholders print as lines and the header reads ``graph():``. Kept as is.
            if placeholder_names:
                placeholder_names.append(self.target)
                return None
            default = f"(default={self._args[0]})" if self._args else ""
            return (
                f"%{self.name} : [num_users={len(self.users)}] = "
                f"{self.op}[target={self.target}]{default}"
            )
        if self.op == "get_attr":
            return (
                f"%{self.name} : [num_users={len(self.users)}] = "
                f"{self.op}[target={self._pretty_print_target(self.target)}]"
            )
        if self.op == "output":
            return f"return {self._args[0]}"
        return (
            f"%{self.name} : [num_users={len(self.users)}] = "
            f"{self.op}[target={self._pretty_print_target(self.target)}]("
            f"args = {_format_arg(self._args)}, kwargs = {_format_arg(self._kwargs)})"
        )


def _check_target(graph: Graph, name: str, op: str, target: object) -> None:
    if op == "call_function":
        if not callable(target):
            raise ValueError(
                f"Node [graph = {graph}, name = '{name}'] target {target} has type "
                f"{_typename(target)} but a Callable is expected"
            )
        return
    if op not in _legal_ops:
        raise AssertionError(f"op '{op}' is not in _legal_ops")
    if not isinstance(target, str):
        raise ValueError(
            f"Node [graph = {graph}, name = '{name}'] target {target} has type "
            f"{_typename(target)} but a str is expected"
        )
