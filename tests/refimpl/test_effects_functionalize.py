"""Effectful ops that torch functionalizes in C++ (EFF-29)."""

from __future__ import annotations

import pytest

from refimpl import aten
from refimpl.dispatch_key import DispatchKey
from refimpl.effects import EffectType, _register_effectful_op
from refimpl.export import Module, aot_export
from refimpl.operator import _dispatch_has_kernel_for_dispatch_key

MODELLED = sorted(q for q, op in aten.OPS.items()
                  if op.namespace == "aten" and q not in aten.SEED_ONLY_OPS)


@pytest.mark.spec("EFF-29")
@pytest.mark.parametrize("qualname", ["aten::_to_copy", "aten::lift_fresh_copy"])
def test_an_effectful_op_with_a_functionalize_kernel_is_refused(qualname: str) -> None:
    op = aten.OPS[qualname]
    module = Module()
    module.forward = lambda x: (op(x),)
    handle = _register_effectful_op(op, EffectType.ORDERED)
    try:
        with pytest.raises(AssertionError) as info:
            aot_export(module, (aten.ones(2),))
    finally:
        handle.destroy()
    assert str(info.value) == (f"func {op.name()} with effects should not have a kernel for "
                               "Functionalize dispatch key"), f"got {info.value}"


@pytest.mark.spec("EFF-29")
@pytest.mark.parametrize(("qualname", "tokens"), [("aten::sin", 1), ("aten::view", 0)])
def test_others_thread_a_token_or_alias(qualname: str, tokens: int) -> None:
    """sin has no Functionalize kernel; view has one but aliases, so it has no effect."""
    op = aten.OPS[qualname]
    module = Module()
    module.forward = (lambda x: (op(x),)) if qualname == "aten::sin" else (lambda x: (op(x, [2]),))
    handle = _register_effectful_op(op, EffectType.ORDERED)
    try:
        _, sig = aot_export(module, (aten.ones(2),))
    finally:
        handle.destroy()
    assert len(sig.input_tokens) == tokens, f"expected {tokens} token(s), got {sig}"


@pytest.mark.torch
@pytest.mark.spec("EFF-29")
@pytest.mark.parametrize("qualname", MODELLED)
def test_the_functionalize_kernel_table_is_torchs(qualname: str) -> None:
    import torch  # noqa: PLC0415

    name = aten.OPS[qualname].name()
    want = torch._C._dispatch_has_kernel_for_dispatch_key(name, "Functionalize")
    got = _dispatch_has_kernel_for_dispatch_key(name, DispatchKey.Functionalize)
    assert got == want, f"expected {name} Functionalize kernel {want}, got {got}"
