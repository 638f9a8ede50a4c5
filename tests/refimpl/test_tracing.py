"""Tests for tracing with effects: make_fx, FunctionalTensorMode, dead-code elimination.

The golden tests (`tests/golden/test_golden_refimpl.py`) compare whole graphs with torch's; the
tests here pin down the rules behind them one at a time: placeholder names, what plain make_fx
records and runs, the aliasing error and what it leaves behind, a traced function's bad output,
token discovery and its error text, and what DCE keeps. Expected names and messages were checked
with torch 2.13.0's `make_fx` where the comment says so.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterator

import pytest

import refimpl
from refimpl.effects import EffectType, new_token_tensor, with_effects
from refimpl.export import Module
from refimpl.functional_tensor import (
    FunctionalTensor,
    FunctionalTensorMode,
    dispatch_functionalize,
)
from refimpl.library import _scoped_library, custom_op
from refimpl.mode_stack import _len_torch_dispatch_stack
from refimpl.passes.effect_tokens import check_effect_tokens
from refimpl.proxy_tensor import make_fx
from tests.helpers import placeholders, printed

aten = refimpl.ops.aten
NS = "trctest"
KERNEL_LOG: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def rec_ops() -> Iterator[None]:
    """`trctest::rec(Tensor x, str tag) -> Tensor` (ORDERED, logs `tag`, returns x + 1) and
    `trctest::plain(Tensor x) -> Tensor` (no effect), removed after the module."""
    with _scoped_library(NS, "FRAGMENT") as lib:

        def rec(x, tag):
            KERNEL_LOG.append(tag)
            return aten.add.Tensor(x, 1)

        rec_op = custom_op(
            f"{NS}::rec", mutates_args=(), schema="(Tensor x, str tag) -> Tensor", lib=lib
        )(rec)
        rec_op.register_fake(lambda x, tag: aten.empty_like.default(x))
        rec_op.register_effect(EffectType.ORDERED)
        plain = custom_op(f"{NS}::plain", mutates_args=(), schema="(Tensor x) -> Tensor", lib=lib)(
            lambda x: aten.add.Tensor(x, 1)
        )
        plain.register_fake(lambda x: aten.empty_like.default(x))
        yield


@pytest.fixture(autouse=True)
def empty_kernel_log() -> None:
    KERNEL_LOG.clear()


def rec(x, tag):
    return getattr(refimpl.ops, NS).rec.default(x, tag)


def plain(x):
    return getattr(refimpl.ops, NS).plain.default(x)


def body(gm):
    """The `.code` text without the `def` line, stripped (placeholder-independent)."""
    return "\n".join(gm.code.strip().splitlines()[1:])


# ---------------------------------------------------------------------------------------------
# TRC-9: placeholder names (checked with torch 2.13.0's make_fx)
# ---------------------------------------------------------------------------------------------


def _two(x, y):
    return aten.add.Tensor(x, y)


def _varargs(*args):
    return aten.add.Tensor(args[0], args[1])


def _one_then_varargs(x, *rest):
    return aten.add.Tensor(x, rest[0])


def _suffix_first(x_1, x):
    return aten.add.Tensor(x_1, x)


def _suffix_second(x, x_1):
    return aten.add.Tensor(x, x_1)


def _kwargs_only(x, **kw):
    return aten.sin.default(x)


def _decorated(fn):
    @functools.wraps(fn)
    def wrapper(*args):
        return fn(*args)

    return wrapper


class _Sum(Module):
    def forward(self, x, y):
        return aten.add.Tensor(x, y)


NAMING_CASES = [
    ("plain parameters", _two, 2, ["x_1", "y_1"]),
    ("*args", _varargs, 2, ["arg0_1", "arg1_1"]),
    ("a parameter then *args", _one_then_varargs, 2, ["arg0_1", "arg1_1"]),
    ("parameter named x_1 first", _suffix_first, 2, ["x_1_1", "x_1"]),
    ("parameter named x_1 second", _suffix_second, 2, ["x_1", "x_1_1"]),
    ("one parameter and **kwargs", _kwargs_only, 1, ["input_0"]),
    ("lambda", lambda a, b: aten.add.Tensor(a, b), 2, ["a_1", "b_1"]),
    ("functools.partial", functools.partial(_two, y=refimpl.ones(2)), 1, ["arg0_1"]),
    ("functools.wraps wrapper", _decorated(_two), 2, ["x_1", "y_1"]),
    ("module instance", _Sum(), 2, ["arg0_1", "arg1_1"]),
]


@pytest.mark.spec("TRC-9")
@pytest.mark.parametrize(
    ("fn", "n", "expected"), [c[1:] for c in NAMING_CASES], ids=[c[0] for c in NAMING_CASES]
)
def test_make_fx_names_placeholders_as_torch(fn, n, expected):
    gm = make_fx(fn, tracing_mode="fake")(*[refimpl.ones(2) for _ in range(n)])
    assert placeholders(gm) == expected, (
        f"expected placeholders {expected}, came {placeholders(gm)}"
    )


@pytest.mark.spec("TRC-9")
def test_make_fx_with_a_defaulted_parameter_left_out_is_an_error():
    def f(x, y=2):
        return x

    with pytest.raises(RuntimeError) as info:
        make_fx(f)(refimpl.ones(2))
    expected = "Tracing expected 2 arguments but got 1 concrete arguments"
    assert str(info.value) == expected, f"expected {expected!r}, came {str(info.value)!r}"


@pytest.mark.spec("TRC-9")
def test_make_fx_rejects_keyword_only_parameters_explicitly():
    def f(x, *, scale):
        return x

    with pytest.raises(NotImplementedError, match="keyword-only"):
        make_fx(f)(refimpl.ones(2), refimpl.ones(2))


# ---------------------------------------------------------------------------------------------
# TRC-9: what plain make_fx records and runs
# ---------------------------------------------------------------------------------------------


def _p1_rec_p2(x):
    aten._print.default("first")
    y = rec(x, "a")
    aten._print.default("second")
    return aten.sin.default(y)


@pytest.mark.spec("TRC-9")
def test_fake_make_fx_records_plain_effectful_calls_and_runs_nothing():
    gm, lines = printed(make_fx(_p1_rec_p2, tracing_mode="fake"), refimpl.ones(3))
    expected = "\n".join(
        [
            "    _print = torch.ops.aten._print.default('first');  _print = None",
            f"    rec = torch.ops.{NS}.rec.default(x_1, 'a');  x_1 = None",
            "    _print_1 = torch.ops.aten._print.default('second');  _print_1 = None",
            "    sin = torch.ops.aten.sin.default(rec);  rec = None",
            "    return sin",
        ]
    )
    assert body(gm) == expected, f"expected the body\n{expected}\ncame\n{body(gm)}"
    assert (lines, KERNEL_LOG) == ([], []), (
        f"expected nothing printed or logged while fake tracing, came {lines} and {KERNEL_LOG}"
    )
    targets = {n.target for n in gm.graph.nodes}
    assert with_effects not in targets, f"expected no with_effects in plain make_fx, came {targets}"


@pytest.mark.spec("TRC-9")
def test_real_make_fx_runs_each_effect_once_and_the_graph_runs_them_again():
    gm, lines = printed(make_fx(_p1_rec_p2, tracing_mode="real"), refimpl.ones(3))
    assert (lines, KERNEL_LOG) == (["first", "second"], ["a"]), (
        f"expected one run of each effect while tracing, came {lines} and {KERNEL_LOG}"
    )
    out, lines = printed(gm, refimpl.ones(3))
    assert (lines, KERNEL_LOG) == (["first", "second"], ["a", "a"]), (
        f"expected the graph to run each effect again, came {lines} and {KERNEL_LOG}"
    )
    assert out.tolist() == pytest.approx([0.9093] * 3, abs=1e-4), f"expected sin(2), came {out}"


# ---------------------------------------------------------------------------------------------
# TRC-8: the aliasing error, eager and while tracing
# ---------------------------------------------------------------------------------------------

ALIASING = "Ops with aliasing is not supported"


@pytest.mark.spec("TRC-8")
def test_aliasing_error_while_tracing_leaves_no_mode_and_no_graph():
    x = refimpl.tensor([-1.0, 2.0])
    traced = make_fx(lambda t, a: with_effects(t, aten.absolute_.default, a), "fake")
    with pytest.raises(AssertionError) as info:
        traced(new_token_tensor(), x)
    assert str(info.value) == ALIASING, f"expected {ALIASING!r}, came {str(info.value)!r}"
    assert _len_torch_dispatch_stack() == 0, (
        f"expected no mode left on the stack, came {_len_torch_dispatch_stack()}"
    )
    assert x.tolist() == [-1.0, 2.0], f"expected absolute_ never to run, came {x.tolist()}"
    gm = make_fx(lambda a: aten.sin.default(a), "fake")(x)
    expected = "def forward(self, a_1):\n    sin = torch.ops.aten.sin.default(a_1);  a_1 = None"
    assert gm.code.strip().startswith(expected), (
        f"expected the next trace to start from an empty graph, came\n{gm.code.strip()}"
    )


@pytest.mark.spec("TRC-8")
def test_aliasing_error_eagerly_matches_the_traced_one():
    with pytest.raises(AssertionError) as info:
        with_effects(new_token_tensor(), aten.absolute_.default, refimpl.tensor([-1.0]))
    assert str(info.value) == ALIASING, f"expected {ALIASING!r}, came {str(info.value)!r}"


@pytest.mark.spec("TRC-8")
def test_explicit_with_effects_on_a_pure_op_is_traced_verbatim(torch_2_13_profile):
    gm = make_fx(lambda t, a: with_effects(t, aten.add.Tensor, a, a), "fake")(
        new_token_tensor(), refimpl.ones(2)
    )
    calls = [(n.name, n.target) for n in gm.graph.nodes if n.op == "call_function"]
    assert [name for name, _ in calls] == ["with_effects", "getitem", "getitem_1"], (
        f"expected one with_effects and both getitems, came {calls}"
    )


# ---------------------------------------------------------------------------------------------
# TRC-9: a traced function must return values fx can hold
# ---------------------------------------------------------------------------------------------


@pytest.mark.spec("TRC-9")
@pytest.mark.parametrize("bad", [object(), {1, 2}, [refimpl.ones(1), object()]],
                         ids=["object", "set", "list-with-object"])
def test_traced_function_returning_a_non_tensor_is_a_type_error(bad):
    with pytest.raises(TypeError, match="make_fx: the traced function returned a"):
        make_fx(lambda x: bad, "fake")(refimpl.ones(2))
    assert _len_torch_dispatch_stack() == 0, "expected no mode left on the stack after the error"


@pytest.mark.spec("TRC-9")
@pytest.mark.parametrize("good", [None, 3, 1.5, "abc", (1.5,)], ids=repr)
def test_traced_function_may_return_constants(good):
    gm = make_fx(lambda x: good, "fake")(refimpl.ones(2))
    expected = f"return {good!r}"
    assert gm.code.strip().endswith(expected), f"expected {expected!r}, came\n{gm.code.strip()}"


# ---------------------------------------------------------------------------------------------
# TRC-10: FunctionalTensorMode driven directly
# ---------------------------------------------------------------------------------------------


def _functional_trace(fn, *args, discovery):
    mode = FunctionalTensorMode(_allow_token_discovery=discovery)
    return make_fx(dispatch_functionalize(fn, mode), "fake")(*args)


@pytest.mark.spec("TRC-10")
def test_functional_mode_without_discovery_names_the_missing_effect():
    with pytest.raises(AssertionError) as info:
        _functional_trace(_p1_rec_p2, refimpl.ones(2), discovery=False)
    expected = (
        "Could not find a token for effect EffectType.ORDERED which came from the function "
        "aten._print.default"
    )
    assert str(info.value) == expected, f"expected {expected!r}, came {str(info.value)!r}"
    assert _len_torch_dispatch_stack() == 0, "expected no mode left on the stack after the error"


@pytest.mark.spec("TRC-10")
def test_functional_mode_with_discovery_appends_tangents_token_and_drops_the_final_token():
    gm = _functional_trace(_p1_rec_p2, refimpl.ones(2), discovery=True)
    assert placeholders(gm) == ["arg0_1", "tangents_token"], (
        f"expected the discovered token placeholder last, came {placeholders(gm)}"
    )
    (chain,) = check_effect_tokens(gm, require_sink=False).values()
    assert chain[0].args[0].name == "tangents_token", (
        f"expected the chain to start at tangents_token, came {chain[0].args[0].name}"
    )
    with pytest.raises(TypeError) as info:
        gm(refimpl.ones(2))
    expected = "forward() missing 1 required positional argument: 'tangents_token'"
    assert str(info.value) == expected, f"expected {expected!r}, came {str(info.value)!r}"
    out, lines = printed(gm, refimpl.ones(2), new_token_tensor())
    assert (lines, KERNEL_LOG) == (["first", "second"], ["a"]), (
        f"expected each effect once, came {lines} and {KERNEL_LOG}"
    )
    assert not isinstance(out, tuple), f"expected only the user output, came {out!r}"


@pytest.mark.spec("TRC-10")
def test_functional_mode_seeded_with_a_token_chains_from_it():
    def seeded(token, x):
        mode = FunctionalTensorMode()
        mode._tokens = {EffectType.ORDERED: FunctionalTensor._wrap(token, mode)}
        with mode:
            out = _p1_rec_p2(FunctionalTensor._wrap(x, mode))
        final = mode._tokens[EffectType.ORDERED]
        return final.from_functional(), out.from_functional()

    gm = make_fx(seeded, "fake")(new_token_tensor(), refimpl.ones(2))
    (chain,) = check_effect_tokens(gm).values()
    assert [n.args[0].name for n in chain[:1]] == ["token_1"], (
        f"expected the chain to start at the token input, came {chain[0].args[0].name}"
    )
    assert len(chain) == 3, f"expected _print, rec, _print on the chain, came {len(chain)}"


# ---------------------------------------------------------------------------------------------
# TRC-12: dead-code elimination
# ---------------------------------------------------------------------------------------------


def _dce(gm):
    changed = gm.graph.eliminate_dead_code()
    gm.recompile()
    return changed


@pytest.mark.spec("TRC-12")
def test_dce_keeps_unused_effectful_calls_and_drops_unused_pure_ones():
    def f(x):
        rec(x, "u")
        aten._print.default("p")
        plain(x)
        return aten.cos.default(x)

    gm = make_fx(f, "fake")(refimpl.ones(2))
    assert _dce(gm), "expected DCE to change the graph (the unused plain op goes)"
    names = [n.name for n in gm.graph.nodes if n.op == "call_function"]
    assert names == ["rec", "_print", "cos"], f"expected rec, _print, cos kept, came {names}"
    _, lines = printed(gm, refimpl.ones(2))
    assert (lines, KERNEL_LOG) == (["p"], ["u"]), (
        f"expected the kept effects to run, came {lines} and {KERNEL_LOG}"
    )


@pytest.mark.spec("TRC-12")
def test_dce_drops_with_effects_whose_outputs_are_all_unused():
    def g(tok, x):
        t1, _ = with_effects(tok, aten._print.default, "p")
        with_effects(t1, aten._print.default, "q")
        return aten.cos.default(x)

    gm = make_fx(g, "fake")(new_token_tensor(), refimpl.ones(2))
    _dce(gm)
    names = [n.name for n in gm.graph.nodes if n.op == "call_function"]
    assert names == ["cos"], f"expected only cos to survive, came {names}"


@pytest.mark.spec("TRC-12")
def test_dce_keeps_a_chain_whose_token_is_returned():
    def h(tok, x):
        t1, _ = with_effects(tok, getattr(refimpl.ops, NS).rec.default, x, "u")
        t2, _ = with_effects(t1, aten._print.default, "p")
        return t2, aten.cos.default(x)

    gm = make_fx(h, "fake")(new_token_tensor(), refimpl.ones(2))
    _dce(gm)
    (chain,) = check_effect_tokens(gm).values()
    assert [n.name for n in chain] == ["with_effects", "with_effects_1"], (
        f"expected the whole chain kept, came {[n.name for n in chain]}"
    )
    getitems = [n.args[1] for n in gm.graph.nodes if n.target is operator.getitem]
    assert getitems == [0, 0], f"expected only the token getitems kept, came indices {getitems}"
