"""Functionalization in Python: FunctionalTensor, FunctionalTensorMode, PythonFunctionalizeAPI.

Models: ``torch/_subclasses/functional_tensor.py`` at torch 2.13.0 (``FunctionalTensor``,
``FunctionalTensorMode`` with ``_tokens`` and ``_allow_token_discovery``,
``PythonFunctionalizeAPI``, ``dispatch_functionalize``).
Spec: EFF-19..EFF-24, TRC-4, TRC-10.

Simplifications:
1. A FunctionalTensor wraps its current inner value directly (``elem``); torch wraps a C++
   ``FunctionalTensorWrapper`` with an update/sync protocol. An in-place op replaces ``elem`` by
   the result of the functional op ([NOTE: mutations]).
2. Views are tracked only as far as torch regenerates them ([NOTE: view regeneration]): a view
   of a tensor whose storage an in-place op wrote is replayed from the storage's base where it is
   next used or returned (``view_1``; the first ``view`` node is dead); a write through a view
   is taken back to the base by view inverses. Only ``aten::view``'s inverse is modelled (the
   only view op refimpl has); a write through another view raises NotImplementedError.
3. Effectful ops are routed to ``handle_effects`` through ``register_effects_handler`` (called by
   ``refimpl.effects``), because torch's lazy import of effects.py would be an import cycle here
   ([NOTE: effects handler]).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from refimpl import _pytree as pytree
from refimpl.dispatch_key import DispatchKey
from refimpl.mode_stack import TorchDispatchMode, _TorchDispatchModeKey
from refimpl.operator import (
    OpOverload,
    _dispatch_has_kernel_for_dispatch_key,
    _get_operation_overload,
)
from refimpl.tensor import PYTHON_KEYS, Tensor, dense_keys

__all__ = ["FunctionalTensor", "FunctionalTensorMode", "PythonFunctionalizeAPI",
           "dispatch_functionalize", "register_effects_handler", "sync_functional_tensors"]


class FunctionalTensor(Tensor):
    """A wrapper whose ``elem`` is the current (functional) value of a tensor."""

    __slots__ = ("elem", "_mode", "_storage", "_gen", "_view_of")

    @classmethod
    def _wrap(cls, elem: Tensor, mode: FunctionalTensorMode) -> FunctionalTensor:
        t = object.__new__(cls)
        t._data = None
        t.shape = elem.shape
        t.dtype = elem.dtype
        t.device = elem.device if elem.device != "meta" else "cpu"
        t._keys = dense_keys(t.device) | PYTHON_KEYS
        t._autograd_meta = None
        t.elem = elem
        t._mode = mode
        t._storage = _Storage(elem)  # [NOTE: view regeneration]
        t._gen = 0
        t._view_of = None  # (the tensor it views, the view op, its other args, its kwargs)
        return t

    @staticmethod
    def to_functional(x: Tensor, mode: FunctionalTensorMode | None = None) -> FunctionalTensor:
        return FunctionalTensor._wrap(x, mode if mode is not None else FunctionalTensorMode())

    def from_functional(self) -> Tensor:
        return self.elem

    def _replace(self, new_elem: Tensor) -> None:
        # [NOTE: in-place dtype cast] The tensor an in-place op writes keeps its dtype: when the
        # functional op's result has another (int32 += int64 gives int64), torch's
        # ``FunctionalTensorWrapper::replace_`` casts it with ``_to_copy(dtype=, layout=)``,
        # run below functionalization, so the graph holds the cast (observed on 2.13).
        if new_elem.dtype is not self.dtype:
            from refimpl.aten import OPS  # noqa: PLC0415 - aten imports this module's users
            from refimpl.dtype import strided  # noqa: PLC0415

            new_elem = OPS["aten::_to_copy"](new_elem, dtype=self.dtype, layout=strided)
        self.elem = new_elem
        self.shape = new_elem.shape

    def __repr__(self) -> str:
        return f"FunctionalTensor(_to_functional_tensor({self.elem!r}))"

    @classmethod
    def __torch_dispatch__(cls, func: Any, types: tuple, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        raise RuntimeError(
            "Attempting to use FunctionalTensor on its own. Instead, please use it with a "
            "corresponding FunctionalTensorMode()"
        )


# [NOTE: effects handler] ``(has_effects, handle_effects)`` once refimpl.effects is imported.
_effects_handler: tuple[Callable[[Any], bool], Callable[..., Any]] | None = None


def register_effects_handler(has_effects: Callable[[Any], bool],
                             handle_effects: Callable[..., Any]) -> None:
    global _effects_handler
    _effects_handler = (has_effects, handle_effects)


def _unwrap(x: Any) -> Any:
    return x.elem if isinstance(x, FunctionalTensor) else x


def _functional_variant(func: OpOverload) -> OpOverload | None:
    """``add_.Tensor`` -> ``add.Tensor``; ``copy_`` -> ``copy``; None for functional ops."""
    args = func._schema.arguments
    if not args or args[0].alias_info is None or not args[0].alias_info.is_write:
        return None
    name = func._schema.name
    if not name.endswith("_"):
        return None
    return _get_operation_overload(name[:-1], func._schema.overload_name)


class FunctionalTensorMode(TorchDispatchMode):
    """Unwraps, runs the functional form of each op one level down, and wraps the results."""

    _mode_key = _TorchDispatchModeKey.FUNCTIONAL

    def __init__(self, pre_dispatch: bool = False, export: bool = False,
                 _allow_token_discovery: bool = False) -> None:
        self.export = export
        self.pre_dispatch = pre_dispatch
        self._allow_token_discovery = _allow_token_discovery
        # Effect type -> current token; handle_effects reads and advances it.
        self._tokens: dict[Any, Any] = {}
        self._tokens_forward_output: dict[Any, Any] = {}

    def __torch_dispatch__(self, func: Any, types: tuple, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        view = _is_view(func)
        if not view:  # a view op does not sync its input; every other op syncs its arguments
            for leaf in pytree.tree_leaves((args, kwargs)):
                if isinstance(leaf, FunctionalTensor):
                    _sync(leaf)
        # 1. Effectful ops thread a token (the seed's handle_effects).
        if _effects_handler is not None and _effects_handler[0](func):
            if _dispatch_has_kernel_for_dispatch_key(func.name(), DispatchKey.Functionalize):
                # EFF-29: an op torch functionalizes in C++ cannot also thread a token.
                raise AssertionError(f"func {func.name()} with effects should not have a kernel "
                                     f"for Functionalize dispatch key")
            return _effects_handler[1](self._allow_token_discovery, self._tokens, func, args,
                                       kwargs)
        inner_args = pytree.tree_map(_unwrap, args)
        inner_kwargs = pytree.tree_map(_unwrap, kwargs) if kwargs else {}  # {} maps to a new {}
        # 2. In-place ops: run the functional variant and record the mutation.
        variant = _functional_variant(func)
        if variant is not None:
            return self._mutate(func, variant, args, inner_args, inner_kwargs)
        # 3. Everything else (a fresh constant's lift_fresh too): one level down, wrap.
        out = func(*inner_args, **inner_kwargs)
        if isinstance(out, Tensor):  # one tensor out: tree_map_only's leaf case, without a lambda
            wrapped = FunctionalTensor._wrap(out, self)
            if view and args and isinstance(args[0], FunctionalTensor):
                source = args[0]
                wrapped._storage = source._storage  # its generation stays 0 (a new wrapper's)
                wrapped._view_of = (source, func, args[1:], kwargs)
            return wrapped
        return pytree.tree_map_only(Tensor, lambda t: FunctionalTensor._wrap(t, self), out)

    def _mutate(self, func: OpOverload, variant: OpOverload, args: tuple, inner_args: tuple,
                inner_kwargs: dict) -> Any:
        # [NOTE: mutations] The mutated input keeps its wrapper; its elem now holds the result of
        # the functional op, so the graph computes the new value and aot_export can return it.
        target = args[0]
        if not isinstance(target, FunctionalTensor):
            raise RuntimeError(f"{func}: in-place op on a non-functional tensor under "
                               f"FunctionalTensorMode")
        _run_on_meta(func, inner_args, inner_kwargs)
        result = variant(*inner_args, **inner_kwargs)
        target._replace(result)
        _commit_update(target)
        _sync(target)  # the generated kernel syncs what it wrote: a written view is replayed
        return target


# [NOTE: view regeneration] torch's FunctionalTensorWrapper (torch 2.13): an in-place op commits
# an update to the tensor's storage (its generation moves on) and leaves the tensor's own
# generation behind; a view op makes its result from its input's current value without syncing
# it, sharing the storage, at generation 0 like every new wrapper (the view constructor does not
# copy the base's generation): a view of a storage ever written is stale from the start. Any
# other op syncs its tensor arguments first: a stale view is replayed from the storage's base
# (every view op from the base, in order: a new `view` node; the first one is then dead), and a
# base just catches up. Effectful ops sync their arguments too (handle_effects unwraps them
# through the functionalize API, which syncs). A write through a view (an in-place op on it)
# gives the storage's base its new value through the view inverses (`view(written, base's
# shape)`), then syncs the view it wrote, which replays it from that base at once. At the end
# AOTAutograd syncs the inputs (one written through a view takes the base's value, and so is a
# mutated input) and then the outputs (`sync_functional_tensors`), so an output view of a
# written input is replayed at the end.
class _Storage:
    """What a FunctionalStorageImpl holds here: the value of the storage's base (the tensor the
    first wrapper of the storage wraps, kept current by every write) and its generation."""

    __slots__ = ("base", "generation")

    def __init__(self, base: Tensor) -> None:
        self.base = base
        self.generation = 0


def _is_view(func: Any) -> bool:
    schema = getattr(func, "_schema", None)
    return schema is not None and any(
        r.alias_info is not None and not r.alias_info.is_write for r in schema.returns)


def _view_metas(t: FunctionalTensor) -> list[tuple]:
    """The view ops from the storage's base to ``t``, first one first (its ``view_metas_``)."""
    metas: list[tuple] = []
    while t._view_of is not None:
        source, func, rest, kwargs = t._view_of
        metas.append((func, rest, kwargs))
        t = source
    metas.reverse()
    return metas


def _forward(meta: tuple, base: Tensor) -> Tensor:
    func, rest, kwargs = meta
    return func(base, *pytree.tree_map(_unwrap, rest), **pytree.tree_map(_unwrap, kwargs))


def _reverse(meta: tuple, base: Tensor, mutated_view: Tensor) -> Tensor:
    """The view inverse (``FunctionalInverses``, views reapplied as AOTAutograd does): the value
    of ``base`` once ``mutated_view``, a view of it through ``meta``, was written."""
    func = meta[0]
    if func._schema.name == "aten::view":
        return func(mutated_view, list(base.shape))
    raise NotImplementedError(
        f"refimpl models no write through a view made by {func}: its view inverse is not "
        f"modelled (refimpl/functional_tensor.py, [NOTE: view regeneration])")


def _commit_update(t: FunctionalTensor) -> None:
    """``commit_update`` and the ``apply_updates`` that the next sync runs: the storage's base
    becomes the written value taken back through the view inverses of ``t``'s chain, last view
    first, each against the base replayed up to it; every alias of the storage is stale."""
    storage = t._storage
    metas = _view_metas(t)
    value = t.elem
    if metas:
        bases = [storage.base]
        for meta in metas[:-1]:
            bases.append(_forward(meta, bases[-1]))
        for meta, base in zip(reversed(metas), reversed(bases)):
            value = _reverse(meta, base, value)
    storage.base = value
    storage.generation += 1


def _sync(t: FunctionalTensor) -> None:
    """``sync_``: a stale tensor is regenerated from the storage's base (``regenerate_from_base``:
    every view op of its chain replayed, new nodes for a view; a base takes the value)."""
    if t._gen == t._storage.generation:
        return
    value = t._storage.base
    for meta in _view_metas(t):
        value = _forward(meta, value)
    t.elem = value
    t._gen = t._storage.generation


def sync_functional_tensors(tree: Any) -> None:
    """AOTAutograd syncs the inputs, then the outputs, at the end of the traced function
    (``from_fun``; [NOTE: view regeneration]): an input written through a view takes its new
    value, and a stale output view is replayed at the end of the graph."""
    for t in pytree.tree_leaves(tree):
        if isinstance(t, FunctionalTensor):
            _sync(t)


def _run_on_meta(func: OpOverload, args: tuple, kwargs: dict) -> None:
    """[NOTE: meta before functionalizing] Before an in-place op becomes its functional variant,
    torch's generated functionalization kernel runs the in-place op on meta copies of its
    arguments, so the errors of the in-place form (a result dtype it cannot hold, a broadcast
    it cannot take) are raised, with the meta kernel's texts; nothing is traced."""
    from refimpl.aten import meta_kernels  # noqa: PLC0415 - aten imports this module's users

    kernel = meta_kernels.get(func)
    if kernel is None:
        return

    def to_meta(x: Any) -> Any:
        return Tensor._make(None, x.shape, x.dtype, "meta") if isinstance(x, Tensor) else x

    kernel(*pytree.tree_map(to_meta, args), **pytree.tree_map(to_meta, kwargs))


class PythonFunctionalizeAPI:
    """The functionalize API that higher-order ops' rules use (``ctx``)."""

    def __init__(self, mode: FunctionalTensorMode | None = None,
                 pre_dispatch: bool = False) -> None:
        self.mode = mode if mode else FunctionalTensorMode()
        self.pre_dispatch = pre_dispatch

    def wrap_tensors(self, args: Any) -> Any:
        if isinstance(args, Tensor):  # one tensor (a new token): tree_map_only's leaf case
            return FunctionalTensor._wrap(args, self.mode)
        return pytree.tree_map_only(Tensor, lambda t: FunctionalTensor._wrap(t, self.mode), args)

    def unwrap_tensors(self, args: Any) -> Any:
        return pytree.tree_map_only(FunctionalTensor, FunctionalTensor.from_functional, args)

    def functionalize(self, inner_f: Callable) -> Callable:
        return dispatch_functionalize(inner_f, self.mode)

    def redispatch_to_next(self) -> Any:
        # The FunctionalTensorMode is already popped while its rules run, so "the next key" is
        # simply whatever is below it: nothing to do (torch returns a nullcontext too).
        return nullcontext()


def dispatch_functionalize(func: Callable, mode: FunctionalTensorMode | None = None) -> Callable:
    """Run ``func`` on functional wrappers of its inputs under ``mode``; unwrap the outputs."""
    mode = mode if mode is not None else FunctionalTensorMode()

    def inner(*args: Any, **kwargs: Any) -> Any:
        wrapped = pytree.tree_map_only(Tensor, lambda t: FunctionalTensor._wrap(t, mode),
                                       (args, kwargs))
        with mode:
            out = func(*wrapped[0], **wrapped[1])
        return pytree.tree_map_only(FunctionalTensor, FunctionalTensor.from_functional, out)

    return inner
