"""Effect tokens: ``with_effects`` and ``handle_effects``, the seed in refimpl.

Models: the seed, ``torch/_higher_order_ops/effects.py`` (``../shared/seeds/
000_a02b72b6ee7c5680.txt``), with torch 2.13/2.14 differences behind profile switches
(``refimpl.profiles``). Identifiers are upstream's.
Spec: EFF-1 .. EFF-25.

Simplifications:
1. ``_get_op_qualname`` and the registry live here and in ``refimpl._library`` exactly as upstream;
   only ``call_torchbind`` among higher-order ops is effectful at import (``higher_order.print``
   and ``invoke_leaf_function`` of the torch-2.13 profile are registered by qualname but are not
   modelled as operators).
2. The ``register_fake`` fake rule of torch >= 2.13 is modelled as a FakeTensorMode rule that runs
   the dense rule under the mode; its observable results equal the seed's ``with_effects_fake``.
3. Profile switches are read on every call, or re-derived on every profile change, so
   ``set_profile`` takes effect at once ([NOTE: profile switches]).
4. What cannot change between calls is computed once: an overload's aliasing answer, the
   profiler skip set ([NOTE: effects fast paths]); assertion messages are formatted only on
   failure, as an ``assert``'s are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

from refimpl import _pytree as pytree
from refimpl._library import simple_registry
from refimpl._library.custom_ops import CustomOpDef
from refimpl._library.effects import EffectType
from refimpl._library.utils import RegistrationHandle
from refimpl.aten import tensor
from refimpl.dispatch_key import DispatchKey
from refimpl.fake_tensor import FakeTensorMode
from refimpl.functional_tensor import (
    FunctionalTensorMode,
    PythonFunctionalizeAPI,
    register_effects_handler,
)
from refimpl.fx import node as fx_node
from refimpl.fx.node import has_side_effect
from refimpl.mode_stack import _get_dispatch_mode, _TorchDispatchModeKey
from refimpl.operator import HigherOrderOperator, OpOverload, ops
from refimpl.profiles import Profile, get_profile, on_profile_change
from refimpl.proxy_tensor import (
    ProxyTorchDispatchMode,
    disable_proxy_modes_tracing,
    track_tensor_tree,
)
from refimpl.schema import FunctionSchema
from refimpl.tensor import Tensor
from refimpl.torchbind import call_torchbind

__all__ = [
    "WithEffects", "_EffectType", "_get_effect", "_get_op_qualname", "_get_schema",
    "_register_effectful_op", "handle_effects", "has_aliasing", "has_effects",
    "new_token_tensor", "with_effects", "with_effects_dense", "with_effects_fake",
    "with_effects_functional", "with_effects_proxy",
]

_op_identifier = Union[str, OpOverload, CustomOpDef, HigherOrderOperator]
OpType = Union[HigherOrderOperator, OpOverload]

_EffectType = EffectType


def _get_op_qualname(op: _op_identifier) -> str:
    """Convert an op identifier to a qualified string key (EFF-2)."""
    if isinstance(op, OpOverload):
        return op._name
    elif isinstance(op, HigherOrderOperator):
        return f"{op.namespace}::{op.name()}"
    elif isinstance(op, CustomOpDef):
        return op._qualname
    elif isinstance(op, str):
        return op
    raise ValueError(f"Invalid operator input {op}")


def _register_effectful_op(op: _op_identifier, effect: EffectType | None) -> RegistrationHandle:
    """Set the effect of ``op``; the handle's ``destroy()`` restores the default (EFF-4)."""
    qualname = _get_op_qualname(op)
    entry = simple_registry.singleton.find(qualname)
    handle = entry.effect.register(effect)
    return handle


def _get_effect(op: _op_identifier) -> EffectType | None:
    """The registered effect of ``op`` (EFF-7)."""
    qualname = _get_op_qualname(op)
    entry = simple_registry.singleton.find(qualname)
    return entry.effect.effect


# [NOTE: profile switches] The seed registers four ops at import; torch 2.13 a different set.
# The active profile's list is registered now and re-registered on every profile change.
_import_handles: list[RegistrationHandle] = []


def _apply_import_registrations(old: Profile | None, new: Profile) -> None:
    for handle in reversed(_import_handles):
        handle.destroy()
    _import_handles.clear()
    for qualname in new.import_registrations:
        _import_handles.append(_register_effectful_op(qualname, _EffectType.ORDERED))
    _import_handles.append(
        _register_effectful_op("profiler::_record_function_exit._RecordFunction", None)
    )


def _check(condition: bool, message: Callable[[], str], *, seed_message: bool = False) -> None:
    """An assertion; the seed's bare ``assert`` has no message unless ``seed_message``.

    ``message`` is called only on failure, as an ``assert``'s message is evaluated only then.
    """
    if not condition:
        if seed_message or get_profile().check_messages == "explicit":
            raise AssertionError(message())
        raise AssertionError


class WithEffects(HigherOrderOperator):
    """
    with_effects(token, op, args, kwargs) -> (new_token, op_results)

    This HOP helps ensure ordering between side effectful ops like prints or ops
    using torchbind objects. It threads "effect tokens" through the graph to enforce
    data dependence between side effectful ops. A token is a dummy value
    (``tensor([])``), one per effect type.
    """

    def __init__(self) -> None:
        super().__init__("with_effects")

    def __call__(self, token: Any, op: OpType, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        # EFF-10: the checks, in the seed's order.
        _check(isinstance(op, (HigherOrderOperator, OpOverload)),
               lambda: f"op must be HigherOrderOperator or OpOverload, got {type(op)}")
        _check(not has_aliasing(op), lambda: "Ops with aliasing is not supported",
               seed_message=True)
        if get_profile().with_effects_asserts_has_effects:
            _check(has_effects(op), lambda: "has_effects(op)")
        _check(isinstance(kwargs, dict), lambda: f"kwargs must be a dict, got {type(kwargs)}")
        return super().__call__(token, op, *args, **kwargs)


with_effects = WithEffects()


# [NOTE: effects fast paths] One effectful op asks has_effects and has_aliasing several times
# (the functional mode, then with_effects at each level); the seed recomputes every answer.
# refimpl keeps what cannot change between calls: the aliasing answer per overload (a schema
# never changes) and has_effects' profiler skip set per profile. The answers are the seed's.
def has_aliasing(op: OpType) -> bool:
    """Whether ``op``'s schema has alias annotations (EFF-11). NOT FOR PUBLIC USE."""
    if isinstance(op, HigherOrderOperator):
        if get_profile().hop_has_aliasing == "false":
            return False
        return not _get_effect(op)
    aliasing = _schema_aliasing.get(op)
    if aliasing is None:
        aliasing = _schema_aliasing[op] = _schema_has_alias_info(op._schema)
    return aliasing


def _schema_has_alias_info(schema: FunctionSchema) -> bool:
    for arg in schema.arguments:
        if arg.alias_info is not None:
            return True
    for arg in schema.returns:
        if arg.alias_info is not None:
            return True
    return False


_schema_aliasing: dict[OpOverload, bool] = {}


def has_effects(op: Any) -> bool:
    """Whether ``op`` is an effectful, non-aliasing operator (EFF-12)."""
    # Skip over the profiler's RecordFunction as they should not show up in the graph.
    # (The seed builds this set on every call: [NOTE: effects fast paths].)
    if _skip_ops and op in _skip_ops:
        return False
    return (
        isinstance(op, (HigherOrderOperator, OpOverload))
        and not has_aliasing(op)
        and _get_effect(op) is not None
    )


# has_effects' ``_skip_ops``: the profiler's RecordFunction op when the profile skips it.
_skip_ops: frozenset[Any] = frozenset()


def _apply_profiler_skip(old: Profile | None, new: Profile) -> None:
    global _skip_ops
    _skip_ops = frozenset(
        {ops.profiler._record_function_exit._RecordFunction}
        if new.has_effects_profiler_skip else ()
    )


def new_token_tensor() -> Tensor:
    """A fresh token: ``tensor([])`` (EFF-13, EFF-25)."""
    return tensor([])


@with_effects.py_impl(DispatchKey.CompositeExplicitAutograd)
def with_effects_dense(token: Tensor, op: OpType, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """Run ``op`` and return ``(new_token, *outs)`` (EFF-14)."""
    out = op(*args, **kwargs)
    new_token = new_token_tensor()
    # [NOTE: with_effects return type]
    # Note that we should only do *out for tuple type, but not list type.
    # This is to match the schema of the op.
    # For tuple output, the length of schema output is the same as the length of out.
    # For list output, the length of schema output is 1 (e.g. Tensor[]) regardless of the
    # length of the list.
    if isinstance(out, tuple):
        return (new_token, *out)
    return (new_token, out)


@with_effects.py_impl(FakeTensorMode)
def with_effects_fake(mode: FakeTensorMode, token: Tensor, op: OpType, *args: Any,
                      **kwargs: Any) -> tuple[Any, ...]:
    """The dense rule under the fake mode: fresh fake token, fake outputs (EFF-15). torch
    registers it with ``register_fake``, so the mode first checks the with_effects call itself
    for real tensors (a real argument next to a fake token: CF-7)."""
    mode._check_inputs(with_effects, (token, op, *args), kwargs)
    with mode:
        result = with_effects_dense(token, op, *args, **kwargs)
        return result


@with_effects.py_impl(ProxyTorchDispatchMode)
def with_effects_proxy(mode: ProxyTorchDispatchMode, token: Tensor, op: OpType, *args: Any,
                       **kwargs: Any) -> tuple[Any, ...]:
    """Run untraced, then record one ``with_effects`` node and its getitems (EFF-16)."""
    with disable_proxy_modes_tracing():
        out = with_effects(token, op, *args, **kwargs)

    proxy_token = mode.tracer.unwrap_proxy(token)
    proxy_args = pytree.tree_map(mode.tracer.unwrap_proxy, args)
    # (No kwargs, the common case: mapping ``{}`` would only give a new ``{}``.)
    proxy_kwargs = pytree.tree_map(mode.tracer.unwrap_proxy, kwargs) if kwargs else {}

    # To avoid being DCEed by graph.eliminate_dead_code if they don't have output or their
    # outputs are not used.
    has_side_effect(op)

    out_proxy = mode.tracer.create_proxy(
        "call_function",
        with_effects,
        (proxy_token, op, *proxy_args),
        proxy_kwargs,
    )
    result = track_tensor_tree(out, out_proxy, constant=None, tracer=mode.tracer)
    return result


with_effects.fallthrough(DispatchKey.AutogradCPU)
with_effects.fallthrough(DispatchKey.AutogradCUDA)


def with_effects_functional(ctx: PythonFunctionalizeAPI, token: Tensor, op: OpType,
                            *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """torch >= 2.13: with_effects is already functional, so re-emit it (EFF-24)."""
    unwrapped_token, unwrapped_args, unwrapped_kwargs = ctx.unwrap_tensors(
        [token, args, kwargs]
    )
    with ctx.redispatch_to_next():
        result = with_effects(unwrapped_token, op, *unwrapped_args, **unwrapped_kwargs)
    return ctx.wrap_tensors(result)


def _with_effects_functional_rule(mode: FunctionalTensorMode, *args: Any, **kwargs: Any) -> Any:
    return with_effects_functional(PythonFunctionalizeAPI(mode), *args, **kwargs)


def _apply_functionalize_rule(old: Profile | None, new: Profile) -> None:
    table = with_effects.python_key_table
    if new.functionalize_rule:
        table[FunctionalTensorMode] = _with_effects_functional_rule
    else:
        table.pop(FunctionalTensorMode, None)
    with_effects._dispatch_cache.clear()


def _get_schema(op: OpType, args: tuple) -> FunctionSchema:
    """The schema whose returns decide how outputs are unpacked (EFF-18)."""
    if isinstance(op, OpOverload):
        return op._schema
    elif op == call_torchbind:
        return getattr(args[0], args[1]).schema
    else:
        raise RuntimeError(f"Unable to get schema for op {op}")


def handle_effects(
    allow_token_discovery: bool,
    tokens: dict[EffectType, Tensor],
    op: OpType,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """
    Args:
        allow_token_discovery: Whether or not we are discovering tokens. If this
        is true, we will create a token for every side effect type seen that
        does not have a token assigned yet.  If this is false, the tokens
        should've all been created ahead of time, so we will error if there is
        no token mapping to every effect type.

        tokens: Map of effect type to tokens. This is to chain operators of the
        same effects together so that they do not get reordered in later
        optimization passes.
    """
    key = _get_effect(op)
    _check(key is not None, lambda: f"effect key must not be None for op {op}")
    if key not in tokens:
        _discover_token(allow_token_discovery, tokens, key, op)
    token = tokens[key]

    ctx = PythonFunctionalizeAPI()
    unwrapped_token = ctx.unwrap_tensors([token])[0]
    unwrapped_args = ctx.unwrap_tensors(args)
    unwrapped_kwargs = ctx.unwrap_tensors(kwargs)
    with ctx.redispatch_to_next():
        (new_token, *unwrapped_outs) = with_effects(
            unwrapped_token, op, *unwrapped_args, **unwrapped_kwargs
        )

    schema = _get_schema(op, unwrapped_args)
    unwrapped_outs = _normalize_outputs(schema, unwrapped_outs)

    # Add the newly created token into the tokens map for a following call to use this token.
    wrapped_token = ctx.wrap_tensors(new_token)
    _check(isinstance(wrapped_token, Tensor),
           lambda: f"expected wrapped_token to be torch.Tensor, got {type(wrapped_token)}")
    tokens[key] = wrapped_token
    return ctx.wrap_tensors(unwrapped_outs)


def _discover_token(allow_token_discovery: bool, tokens: dict, key: EffectType,
                    op: OpType) -> None:
    """A first token for ``key``: a ``tangents_token`` placeholder while tracing (EFF-19/20)."""
    _check(allow_token_discovery,
           lambda: f"Could not find a token for effect {key} which came from the function {op}",
           seed_message=True)
    proxy_tensor_mode = _get_dispatch_mode(_TorchDispatchModeKey.PROXY)
    if proxy_tensor_mode is not None:
        # If we discovered a new token during tracing, we are in backward. Then we patch the
        # graph, adding additional tangents_token as input to the joint graph.
        tracer = proxy_tensor_mode.tracer
        with disable_proxy_modes_tracing():
            token_tensor = new_token_tensor()
        token_proxy = tracer.create_proxy(
            "placeholder", "tangents_token", (), {}, name="tangents_token"
        )
        track_tensor_tree(token_tensor, token_proxy, constant=None, tracer=tracer)
        tokens[key] = token_tensor
    else:
        tokens[key] = new_token_tensor()


def _normalize_outputs(schema: FunctionSchema, unwrapped_outs: list) -> Any:
    """0 returns -> None; 1 -> the value; n -> the list, checked (EFF-22)."""
    if len(schema.returns) == 0:
        _check(unwrapped_outs[0] is None,
               lambda: f"expected no outputs but got {unwrapped_outs[0]}")
        return None
    if len(schema.returns) == 1:
        _check(len(unwrapped_outs) == 1,
               lambda: f"expected 1 output but got {len(unwrapped_outs)}")
        return unwrapped_outs[0]
    _check(len(unwrapped_outs) == len(schema.returns),
           lambda: f"expected {len(schema.returns)} outputs but got {len(unwrapped_outs)}")
    return unwrapped_outs


def _call_torchbind_functional(mode: FunctionalTensorMode, *args: Any, **kwargs: Any) -> Any:
    """torchbind.py's functionalize rule of ``call_torchbind``: thread a token."""
    return handle_effects(mode._allow_token_discovery, mode._tokens, call_torchbind, args, kwargs)


call_torchbind.py_impl(FunctionalTensorMode)(_call_torchbind_functional)


def _is_effectful_target(target: Any) -> bool:
    """torch 2.13's ``Node.is_impure``: a call of an op with a registered effect is impure."""
    if not isinstance(target, (OpOverload, HigherOrderOperator)):
        return False
    return _get_effect(target) is not None


# torch marks these side-effectful where it defines them (torch/_prims/__init__.py,
# torch/_higher_order_ops/torchbind.py); refimpl defines them before fx exists, so marks them here.
has_side_effect(ops.prims._sink_tokens.default)
has_side_effect(call_torchbind)
register_effects_handler(has_effects, handle_effects)
fx_node.register_effectful_predicate(_is_effectful_target)
on_profile_change(_apply_import_registrations)
on_profile_change(_apply_functionalize_rule)
on_profile_change(_apply_profiler_skip)
get_profile()
