"""How the effect tokens of a branch or loop body meet the outer graph's token map.

Models: two conventions, picked by the profile switch ``subgraph_tokens`` (CF-6):
- ``"shared"``, torch 2.13.0 to 2.15 (``cond_func`` and ``while_loop_func`` call
  ``ctx.functionalize``, i.e. ``dispatch_functionalize(fn, ctx.mode)``): a subgraph runs under the
  outer FunctionalTensorMode and so with its ``_tokens`` dict; its effectful ops chain from the
  outer token and leave their new token in the outer map. No token crosses the HOP boundary.
- ``"threaded"``, the convention of pytorch/pytorch#185116 (closed, in no release): the effect
  types the subgraphs use are collected first; each gets its outer token (discovered as
  ``handle_effects`` discovers one); the tokens become the leading operands of the HOP and the
  leading outputs of every subgraph (a subgraph without that effect passes its token through),
  and the HOP's leading outputs become the outer tokens.

Simplifications:
1. ``"threaded"`` collects the effect types by running each subgraph function once more under a
   scratch FakeTensorMode and a discovering FunctionalTensorMode with the tracer switched off (the
   PR reads them off the materialized branch graphs); the order is that of first use, true branch
   first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from refimpl import _pytree as pytree
from refimpl.fake_tensor import FakeTensorMode
from refimpl.functional_tensor import FunctionalTensorMode, dispatch_functionalize
from refimpl.mode_stack import _get_dispatch_mode, _TorchDispatchModeKey
from refimpl.profiles import get_profile
from refimpl.proxy_tensor import disable_proxy_modes_tracing
from refimpl.tensor import Tensor

__all__ = ["SubgraphTokens", "functionalize_with_tokens"]


class SubgraphTokens:
    """The tokens a HOP call threads: ``operands`` lead its operands; ``take_outputs`` strips
    the leading token outputs off its result and makes them the outer tokens."""

    def __init__(self, ctx: Any, keys: list[Any]) -> None:
        self.ctx, self.keys = ctx, keys
        outer = ctx.mode._tokens
        self.operands = tuple(ctx.unwrap_tensors(outer[k]) for k in keys)

    def take_outputs(self, result: Any) -> Any:
        if not self.keys:
            return result
        n = len(self.keys)
        _record_token_meta(result[0], self.keys)
        for key, token in zip(self.keys, result[:n]):
            self.ctx.mode._tokens[key] = self.ctx.wrap_tensors(token)
        return tuple(result[n:])


def _record_token_meta(first_token: Any, keys: list[Any]) -> None:
    """While tracing, the HOP node says which of its leading operands and outputs are tokens,
    of which effect types (``meta["effect_tokens"]``, read by ``check_effect_tokens``)."""
    proxy_mode = _get_dispatch_mode(_TorchDispatchModeKey.PROXY)
    if proxy_mode is None:
        return
    proxy = proxy_mode.tracer.tensor_tracker.get(first_token)
    if proxy is not None:  # getitem(hop, 0)
        proxy.node.args[0].meta["effect_tokens"] = tuple(keys)


def functionalize_with_tokens(ctx: Any, fns: Sequence[Callable], inputs: Sequence[Any]
                              ) -> tuple[list[Callable], SubgraphTokens]:
    """The functionalized subgraph functions of a HOP and the tokens its call threads."""
    if get_profile().subgraph_tokens == "shared":
        return [ctx.functionalize(fn) for fn in fns], SubgraphTokens(ctx, [])
    keys: list[Any] = []
    for fn in fns:
        for key in _effects_of(fn, inputs):
            if key not in keys:
                keys.append(key)
    tokens = ctx.mode._tokens
    for key in keys:
        if key not in tokens:
            _discover(ctx.mode, key)
    return [ctx.functionalize(_threading(fn, ctx.mode, keys)) for fn in fns], \
        SubgraphTokens(ctx, keys)


def _discover(mode: FunctionalTensorMode, key: Any) -> None:
    from refimpl.effects import _discover_token  # noqa: PLC0415 - effects imports the HOPs' users

    _discover_token(mode._allow_token_discovery, mode._tokens, key, None)


def _threading(fn: Callable, mode: FunctionalTensorMode, keys: list[Any]) -> Callable:
    n = len(keys)

    def threaded(*args: Any) -> tuple:
        outer = mode._tokens
        mode._tokens = dict(zip(keys, args[:n]))
        try:
            outs = fn(*args[n:])
            local = mode._tokens
        finally:
            mode._tokens = outer
        return (*(local[k] for k in keys), *pytree.tree_leaves(outs))

    return threaded


def _effects_of(fn: Callable, inputs: Sequence[Any]) -> list[Any]:
    """The effect types ``fn`` uses, in order of first use (Simplification 1)."""
    fake = FakeTensorMode(allow_non_fake_inputs=True)
    scratch = FunctionalTensorMode(_allow_token_discovery=True)
    with disable_proxy_modes_tracing():
        args = [fake.from_tensor(x) if isinstance(x, Tensor) else x for x in inputs]
        with fake:
            dispatch_functionalize(fn, scratch)(*args)
    return list(scratch._tokens)
