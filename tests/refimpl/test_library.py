"""Tests for refimpl/library.py and refimpl/_library/custom_ops.py: libraries and custom ops.

Models: ``torch/library.py`` (``Library``, ``_scoped_library``) and
``torch/_library/custom_ops.py`` / ``infer_schema.py`` at torch 2.13.0.
Spec: DSP-17, DSP-18 (and EFF-4 for the effect registrations a library undoes).

Every library here is scoped, so each test leaves the operator registry as it found it; the
``isolated_effects`` fixture restores the effect registry too.
"""

from __future__ import annotations

from typing import Optional

import pytest

import refimpl
from refimpl import ops
from refimpl._library import simple_registry
from refimpl._library.custom_ops import CustomOpDef, infer_schema
from refimpl._library.effects import EffectType
from refimpl.effects import _get_effect, _register_effectful_op
from refimpl.fake_tensor import FakeTensor, FakeTensorMode
from refimpl.library import Library, _scoped_library, custom_op
from refimpl.mode_stack import TorchDispatchMode
from refimpl.tensor import Tensor

pytestmark = pytest.mark.usefixtures("isolated_effects")


class FuncLog(TorchDispatchMode):
    def __init__(self) -> None:
        self.funcs = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.funcs.append(func)
        return func(*args, **(kwargs or {}))


# -- DSP-17: Library ------------------------------------------------------------------------------


@pytest.mark.spec("DSP-17")
@pytest.mark.parametrize("kind", ["DEF", "FRAGMENT", "IMPL"])
def test_library_kinds(kind):
    lib = Library("libq", kind)
    try:
        assert (lib.ns, lib.kind) == ("libq", kind), f"came {lib.ns}, {lib.kind}"
    finally:
        lib._destroy()


@pytest.mark.spec("DSP-17")
def test_unsupported_kind_message():
    with pytest.raises(ValueError) as excinfo:
        Library("libq", "BAD")
    assert str(excinfo.value) == "Unsupported kind: BAD", f"came {excinfo.value}"


@pytest.mark.spec("DSP-17")
def test_unsupported_kind_is_a_value_error():
    with pytest.raises(ValueError):
        Library("libq", "BAD")


@pytest.mark.spec("DSP-17")
def test_define_and_impl_then_destroy_undoes_everything():
    with _scoped_library("libq", "FRAGMENT") as lib:
        assert lib.define("twice(Tensor x) -> Tensor") == "twice", "expected the op name back"
        lib.define("libq::twice.named(Tensor x, int n) -> Tensor")
        lib.impl("twice", lambda x: x * 2, "CompositeExplicitAutograd")
        lib.impl("twice.named", lambda x, n: x * n, "CPU")
        lib._register_fake("twice", lambda x: refimpl.ops.aten.empty_like.default(x))
        x = refimpl.tensor([1.0, 2.0])
        assert ops.libq.twice.default(x).numpy().tolist() == [2.0, 4.0], "default overload"
        assert ops.libq.twice.named(x, 3).numpy().tolist() == [3.0, 6.0], "named overload"
        assert simple_registry.singleton.get("libq::twice").fake_impl.kernel is not None, (
            "expected the fake impl stored"
        )
    with pytest.raises(AttributeError):
        _ = ops.libq.twice
    assert simple_registry.singleton.get("libq::twice") is None, "expected the entry removed"


@pytest.mark.spec("DSP-17")
def test_impl_on_an_existing_op_is_undone():
    x = refimpl.tensor([0.0])
    with _scoped_library("aten", "IMPL") as lib:
        lib.impl("sin", lambda self: refimpl.tensor([42.0]), "CPU")
        came = ops.aten.sin.default(x).numpy().tolist()
        assert came == [42.0], f"expected the library's CPU kernel to win, came {came}"
    came = ops.aten.sin.default(x).numpy().tolist()
    assert came == [0.0], f"expected aten.sin's own kernel back, came {came}"


@pytest.mark.spec("DSP-17")
def test_scoped_library_is_destroyed_when_the_block_raises():
    with pytest.raises(KeyError), _scoped_library("libq", "FRAGMENT") as lib:
        lib.define("doomed(Tensor x) -> Tensor")
        assert ops.libq.doomed.default is not None, "expected the op defined"
        raise KeyError("boom")
    with pytest.raises(AttributeError):
        _ = ops.libq.doomed


@pytest.mark.spec("DSP-17")
def test_defining_the_same_overload_twice_raises():
    with _scoped_library("libq", "FRAGMENT") as lib:
        lib.define("dup(Tensor x) -> Tensor")
        with pytest.raises(RuntimeError) as excinfo:
            lib.define("dup(Tensor x) -> Tensor")
    prefix = (
        "Tried to register an operator (libq::dup(Tensor x) -> Tensor) with the same name and "
        "overload name multiple times. Each overload's schema should only be registered with a "
        "single call to def()."
    )
    assert str(excinfo.value).startswith(prefix), f"expected torch's {prefix!r}, {excinfo.value}"


@pytest.mark.spec("DSP-17")
def test_impl_with_an_unknown_dispatch_key_names_it():
    with _scoped_library("libq", "FRAGMENT") as lib:
        lib.define("k(Tensor x) -> Tensor")
        with pytest.raises(ValueError) as excinfo:
            lib.impl("k", lambda x: x, "NotAKey")
    assert "'NotAKey'" in str(excinfo.value), f"expected the key named, came {excinfo.value}"


@pytest.mark.spec("DSP-17", "EFF-4")
def test_destroy_undoes_custom_op_effect_registrations():
    with _scoped_library("libq", "FRAGMENT") as lib:
        op = custom_op(
            "libq::eff",
            lambda x: x.clone(),
            mutates_args=(),
            lib=lib,
            schema="(Tensor x) -> Tensor",
        )
        op.register_effect(EffectType.ORDERED)
        assert _get_effect("libq::eff") is EffectType.ORDERED, "expected ORDERED meanwhile"
    assert _get_effect("libq::eff") is None, "expected the registration gone with the library"


# -- DSP-18: custom ops ---------------------------------------------------------------------------


@pytest.mark.spec("DSP-18")
def test_custom_op_def_runs_through_its_op_overload():
    with _scoped_library("libq", "FRAGMENT") as lib:

        @custom_op("libq::plus_one", mutates_args=(), lib=lib)
        def plus_one(x: Tensor) -> Tensor:
            return x + 1

        assert isinstance(plus_one, CustomOpDef), f"expected a CustomOpDef, {type(plus_one)}"
        assert plus_one._qualname == "libq::plus_one", f"came {plus_one._qualname}"
        assert repr(plus_one) == "<CustomOpDef(libq::plus_one)>", f"came {plus_one!r}"
        x = refimpl.tensor([1.0])
        with FuncLog() as log:
            out = plus_one(x)
        assert log.funcs[0] is ops.libq.plus_one.default, f"expected the op first: {log.funcs}"
        assert out.numpy().tolist() == [2.0], f"expected [2.0], came {out.numpy()}"


@pytest.mark.spec("DSP-18", "DSP-15")
def test_register_fake_is_what_fake_mode_runs():
    seen = []
    with _scoped_library("libq", "FRAGMENT") as lib:
        op = custom_op(
            "libq::f", lambda x: x + 1, mutates_args=(), lib=lib, schema="(Tensor x) -> Tensor"
        )
        op.register_fake(lambda x: seen.append("fake") or refimpl.empty(5))
        with FakeTensorMode():
            out = op(refimpl.empty(2))
    assert seen == ["fake"], f"expected the fake impl to run once, came {seen}"
    assert isinstance(out, FakeTensor) and out.shape == (5,), f"came {out!r}"


@pytest.mark.spec("DSP-18")
def test_register_fake_twice_raises():
    with _scoped_library("libq", "FRAGMENT") as lib:
        op = custom_op(
            "libq::g", lambda x: x, mutates_args=(), lib=lib, schema="(Tensor x) -> Tensor"
        )
        op.register_fake(lambda x: x)
        with pytest.raises(RuntimeError):
            op.register_fake(lambda x: x)


@pytest.mark.spec("DSP-18", "EFF-4")
def test_register_effect_is_register_effectful_op_on_the_qualname():
    with _scoped_library("libq", "FRAGMENT") as lib:
        op = custom_op(
            "libq::h", lambda x: x, mutates_args=(), lib=lib, schema="(Tensor x) -> Tensor"
        )
        op.register_effect(EffectType.ORDERED)
        assert _get_effect("libq::h") is EffectType.ORDERED, "expected ORDERED on 'libq::h'"
        _register_effectful_op("libq::h", None)
        assert _get_effect(op) is None, "expected the same entry through the CustomOpDef"


def _all_types(
    x: Tensor,
    tag: str,
    n: int,
    a: float,
    b: bool,
    xs: list[Tensor],
    o: Optional[Tensor],  # noqa: UP045 - the typing form; X | None is a known gap (below)
) -> tuple[Tensor, Tensor]:
    return x, x


def _defaults(x: Tensor, n: int = 3) -> list[Tensor]:
    return [x]


def _nothing(x: Tensor) -> None:
    return None


@pytest.mark.spec("DSP-18")
@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        # torch.library.infer_schema in torch 2.13.0 gives the same texts (see
        # test_differential_core.py).
        (
            _all_types,
            "(Tensor x, str tag, SymInt n, float a, bool b, Tensor[] xs, Tensor? o) "
            "-> (Tensor, Tensor)",
        ),
        (_defaults, "(Tensor x, SymInt n=3) -> Tensor[]"),
        (_nothing, "(Tensor x) -> ()"),
    ],
    ids=["all-types", "defaults", "no-return"],
)
def test_schema_inference(fn, expected):
    came = infer_schema(fn, ())
    assert came == expected, f"expected {expected!r}, came {came!r}"


def _mutates_two(x: Tensor, y: Tensor) -> None:
    return None


@pytest.mark.spec("DSP-18")
def test_schema_inference_numbers_mutated_arguments():
    came = infer_schema(_mutates_two, ("x", "y"))
    expected = "(Tensor(a0!) x, Tensor(a1!) y) -> ()"
    assert came == expected, f"expected {expected!r}, came {came!r}"


def _str_default(x: Tensor, s: str = "a") -> Tensor:
    return x


@pytest.mark.spec("DSP-18")
def test_schema_inference_prints_str_defaults_like_torch():
    came = infer_schema(_str_default, ())
    expected = '(Tensor x, str s="a") -> Tensor'
    assert came == expected, f"expected {expected!r}, came {came!r}"


def _pep604(x: Tensor, o: Tensor | None) -> Tensor:
    return x


@pytest.mark.spec("DSP-18")
def test_schema_inference_accepts_pep604_optionals():
    came = infer_schema(_pep604, ())
    assert came == "(Tensor x, Tensor? o) -> Tensor", f"came {came!r}"


@pytest.mark.spec("DSP-18")
def test_schema_inference_rejects_unannotated_parameters():
    with pytest.raises(ValueError) as excinfo:
        infer_schema(lambda x: x, ())
    assert "Parameter x must have a type annotation" in str(excinfo.value), f"{excinfo.value}"


@pytest.mark.spec("DSP-18", "DSP-16")
def test_custom_op_schema_is_the_parsed_inferred_text():
    with _scoped_library("libq", "FRAGMENT") as lib:
        custom_op("libq::typed", _defaults, mutates_args=(), lib=lib)
        came = str(ops.libq.typed.default._schema)
    assert came == "libq::typed(Tensor x, SymInt n=3) -> Tensor[]", f"came {came!r}"


def _body_named_otherwise(x):
    return x.clone()


@pytest.mark.spec("DSP-15", "DSP-18")
def test_missing_fake_impl_message_names_the_function():
    with _scoped_library("libq", "FRAGMENT") as lib:
        custom_op(
            "libq::renamed",
            _body_named_otherwise,
            mutates_args=(),
            lib=lib,
            schema="(Tensor x) -> Tensor",
        )
        with FakeTensorMode(), pytest.raises(RuntimeError) as excinfo:
            ops.libq.renamed.default(refimpl.empty(2))
    expected = "Please use `_body_named_otherwise.register_fake` to add an fake impl."
    assert str(excinfo.value).endswith(expected), f"expected ...{expected!r}, {excinfo.value}"
