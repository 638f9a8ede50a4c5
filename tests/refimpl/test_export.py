"""Tests for refimpl.export and the token-chain checker: aot_export, unlifted tokens,
remove_effect_tokens, aot_export_backward and check_effect_tokens.

The golden tests compare whole graphs with torch's; these pin down one rule at a time, break
graphs by hand to see `check_effect_tokens` name the offending node, and run random programs of
prints, ORDERED custom ops and pure ops through `aot_export` (Hypothesis): the result keeps one
token chain in program order, runs like the eager program, and `remove_effect_tokens` of it makes
the same calls as plain `make_fx`.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

import refimpl
import tests.strategies as st_
from refimpl.effects import EffectType, new_token_tensor, with_effects
from refimpl.export import Module, aot_export, aot_export_backward, remove_effect_tokens
from refimpl.fx import node_code_line
from refimpl.library import _scoped_library, custom_op
from refimpl.mode_stack import _len_torch_dispatch_stack
from refimpl.passes.effect_tokens import EffectTokenError, check_effect_tokens
from refimpl.proxy_tensor import make_fx
from tests.helpers import placeholders, printed

aten = refimpl.ops.aten
NS = "exptest"
KERNEL_LOG: list[str] = []

# name -> (schema, kernel, fake); every op is registered ORDERED.
_OPS = {
    "rec": (
        "(Tensor x, str tag) -> Tensor",
        lambda x, tag: (KERNEL_LOG.append(tag), aten.add.Tensor(x, 1))[1],
        lambda x, tag: aten.empty_like.default(x),
    ),
    "obs": (
        "(Tensor x, str tag) -> ()",
        lambda x, tag: KERNEL_LOG.append(tag),
        lambda x, tag: None,
    ),
    "two": (
        "(Tensor x) -> (Tensor, Tensor)",
        lambda x: (aten.add.Tensor(x, 1), aten.mul.Tensor(x, 2)),
        lambda x: (aten.empty_like.default(x), aten.empty_like.default(x)),
    ),
    "lst": (
        "(Tensor x) -> Tensor[]",
        lambda x: [aten.add.Tensor(x, 1), aten.add.Tensor(x, 2)],
        lambda x: [aten.empty_like.default(x), aten.empty_like.default(x)],
    ),
    "none": ("(Tensor x) -> ()", lambda x: None, lambda x: None),
}


@pytest.fixture(scope="module", autouse=True)
def effect_ops() -> Iterator[None]:
    """The ORDERED custom ops of `_OPS` in namespace `exptest`, removed after the module."""
    with _scoped_library(NS, "FRAGMENT") as lib:
        for name, (schema, kernel, fake) in _OPS.items():
            op = custom_op(f"{NS}::{name}", mutates_args=(), schema=schema, lib=lib)(kernel)
            op.register_fake(fake)
            op.register_effect(EffectType.ORDERED)
        yield


@pytest.fixture(autouse=True)
def empty_kernel_log() -> None:
    KERNEL_LOG.clear()


def op(name):
    return getattr(getattr(refimpl.ops, NS), name).default


def outputs(gm):
    return [getattr(o, "name", o) for o in gm.graph.output_node().args[0]]


def calls(gm):
    """`(target, constant args)` of every call except getitem, in graph order."""
    return [
        (n.target, tuple(a for a in n.args if not hasattr(a, "op")))
        for n in gm.graph.nodes
        if n.op == "call_function" and n.target is not operator.getitem
    ]


class PrintAdd(Module):
    def forward(self, x):
        aten._print.default("before")
        y = aten.add.Tensor(x, x)
        aten._print.default("after")
        return (y,)


# ---------------------------------------------------------------------------------------------
# TRC-1 .. TRC-5: the calling convention of aot_export
# ---------------------------------------------------------------------------------------------


@pytest.mark.spec("TRC-1")
def test_aot_export_puts_the_token_first_in_and_first_out():
    (gm, sig), lines = printed(aot_export, PrintAdd(), (refimpl.ones(2),))
    assert lines == [], f"expected nothing printed while exporting, came {lines}"
    assert (sig.input_tokens, sig.user_inputs) == (["arg0_1"], ["arg1_1"]), (
        f"expected token arg0_1 then user input arg1_1, came {sig}"
    )
    assert outputs(gm)[:1] == sig.output_tokens == ["getitem_2"], (
        f"expected the last token getitem first out, came {outputs(gm)} and {sig}"
    )
    out, lines = printed(gm, new_token_tensor(), refimpl.ones(2))
    assert lines == ["before", "after"], f"expected both prints in order, came {lines}"
    assert (out[0].shape, out[0].dtype, out[1].tolist()) == ((0,), refimpl.float32, [2.0, 2.0]), (
        f"expected (empty float32 token, [2, 2]), came {out}"
    )


# [NOTE: single-pass export]: the token placeholder is made when the first effect is seen, but
# it still comes first. The expected names were observed from torch 2.13's aot_export_module on
# the same two programs.
@pytest.mark.spec("TRC-1", "TRC-4")
def test_token_placeholder_comes_first_when_the_effect_comes_late():
    def late(x, y):
        aten.add_.Tensor(x, 1)
        z = aten.sin.default(y)
        aten._print.default("late")
        return (z,)

    gm, sig = aot_export(late, (refimpl.ones(2), refimpl.ones(2)))
    got = (placeholders(gm), outputs(gm), sig.input_tokens, sig.user_inputs_to_mutate)
    expected = (["arg0_1", "arg1_1", "arg2_1"], ["getitem", "add", "sin"], ["arg0_1"],
                {"add": "arg1_1"})
    assert got == expected, f"expected {expected}, came {got}"


@pytest.mark.spec("TRC-1")
def test_token_placeholder_of_a_function_without_inputs():
    def no_inputs():
        ones = refimpl.ones(2)
        aten._print.default("hi")
        return (aten.sin.default(ones),)

    gm, sig = aot_export(no_inputs, ())
    got = (placeholders(gm), outputs(gm), sig.input_tokens, sig.user_inputs)
    expected = (["arg0_1"], ["getitem", "sin"], ["arg0_1"], [])
    assert got == expected, f"expected {expected}, came {got}"
    first = next(iter(gm.graph.nodes))
    assert first.op == "placeholder", f"expected the token first, came {node_code_line(first)}"


# Bad input: the error comes through unchanged and no mode is left behind, also when an effect
# had already made its token placeholder.
@pytest.mark.spec("TRC-1")
def test_aot_export_of_a_function_that_raises_after_an_effect_leaves_no_mode_behind():
    def fails(x):
        aten._print.default("before the error")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        aot_export(fails, (refimpl.ones(2),))
    assert _len_torch_dispatch_stack() == 0, "expected no mode left on the stack after the error"


@pytest.mark.spec("TRC-1", "TRC-9")
def test_aot_export_of_a_function_returning_a_non_tensor_names_aot_export():
    def returns_object(x):
        aten._print.default("before the error")
        return (object(),)

    with pytest.raises(TypeError, match="^aot_export: the traced function returned a object"):
        aot_export(returns_object, (refimpl.ones(2),))
    assert _len_torch_dispatch_stack() == 0, "expected no mode left on the stack after the error"


@pytest.mark.spec("TRC-1", "TRC-4")
def test_aot_export_without_effects_has_no_tokens():
    gm, sig = aot_export(lambda x: (aten.sin.default(x),), (refimpl.ones(2),))
    assert (sig.input_tokens, sig.output_tokens) == ([], []), f"expected no tokens, came {sig}"
    assert (placeholders(gm), outputs(gm)) == (["arg0_1"], ["sin"]), (
        f"expected (arg0_1) -> (sin,), came {placeholders(gm)} -> {outputs(gm)}"
    )


@pytest.mark.spec("TRC-2")
def test_unused_ordered_op_stays_and_runs_once_per_call():
    def f(x):
        op("rec")(x, "unused")
        return (aten.cos.default(x),)

    gm, _ = aot_export(f, (refimpl.ones(2),))
    assert KERNEL_LOG == [], f"expected no kernel run while exporting, came {KERNEL_LOG}"
    targets = [n.args[1] for n in gm.graph.nodes if n.target is with_effects]
    assert targets == [op("rec")], f"expected the unused rec threaded, came {targets}"
    gm(new_token_tensor(), refimpl.ones(2))
    assert KERNEL_LOG == ["unused"], f"expected the kernel to run once, came {KERNEL_LOG}"


@pytest.mark.spec("TRC-4")
def test_input_mutation_is_returned_and_the_given_input_is_left_alone():
    def f(x):
        aten._print.default("p")
        aten.add_.Tensor(x, 1)
        return (aten.mul.Tensor(x, 2),)

    x = refimpl.ones(2)
    gm, sig = aot_export(f, (x,))
    assert sig.user_inputs_to_mutate == {"add": "arg1_1"}, f"expected add -> arg1_1, came {sig}"
    assert outputs(gm) == ["getitem", "add", "mul"], f"expected token, add, mul, came {outputs(gm)}"
    out, _ = printed(gm, new_token_tensor(), x)
    assert [t.tolist() for t in out[1:]] == [[2.0, 2.0], [4.0, 4.0]], f"came {out}"
    assert x.tolist() == [1.0, 1.0], f"expected the input untouched by export and call, came {x}"


class BufferModule(Module):
    def __init__(self, mutate):
        super().__init__()
        self.mutate = mutate
        self.register_buffer("buf", refimpl.zeros(2))
        self.register_buffer("other", refimpl.ones(2))

    def forward(self, x):
        aten._print.default("p")
        if self.mutate:
            aten.add_.Tensor(self.buf, x)
        return (aten.add.Tensor(self.buf, self.other),)


@pytest.mark.spec("TRC-5")
@pytest.mark.parametrize("mutate", [False, True], ids=["read", "mutated"])
def test_buffers_come_after_tokens_and_before_user_inputs(mutate):
    mod = BufferModule(mutate)
    gm, sig = aot_export(mod, (refimpl.ones(2),))
    assert placeholders(gm) == ["arg0_1", "arg1_1", "arg2_1", "arg3_1"], (
        f"expected token, buf, other, x, came {placeholders(gm)}"
    )
    assert sig.inputs_to_buffers == {"arg1_1": "buf", "arg2_1": "other"}, f"came {sig}"
    expected = {"add": "buf"} if mutate else {}
    assert sig.buffers_to_mutate == expected, f"expected {expected}, came {sig.buffers_to_mutate}"
    assert mod.buf.tolist() == [0.0, 0.0], f"expected export not to run, came {mod.buf.tolist()}"


# ---------------------------------------------------------------------------------------------
# TRC-6: unlifted tokens
# ---------------------------------------------------------------------------------------------


@pytest.mark.spec("TRC-6")
def test_unlifted_tokens_are_made_and_sunk_inside_the_graph():
    gm, sig = aot_export(PrintAdd(), (refimpl.ones(2),), unlift_effect_tokens=True)
    lines = gm.code.strip().splitlines()
    assert placeholders(gm) == ["arg1_1"], f"expected no token input, came {placeholders(gm)}"
    assert lines[1].startswith("    _make_token_default = torch.ops.prims._make_token.default()"), (
        f"expected _make_token first, came {lines[1]!r}"
    )
    assert lines[-2].startswith(
        "    _sink_tokens_default = torch.ops.prims._sink_tokens.default([getitem_2])"
    ), f"expected _sink_tokens just before the return, came {lines[-2]!r}"
    assert (sig.input_tokens, sig.output_tokens) == ([], []), f"expected no tokens, came {sig}"
    check_effect_tokens(gm)
    out, printed_lines = printed(gm, refimpl.ones(2))
    assert printed_lines == ["before", "after"], f"expected both prints, came {printed_lines}"
    assert len(out) == 1, f"expected only the user output, came {out}"


# ---------------------------------------------------------------------------------------------
# TRC-7, TRC-11: remove_effect_tokens
# ---------------------------------------------------------------------------------------------


class MultiOutput(Module):
    def forward(self, x):
        a, b = op("two")(x)
        c, d = op("lst")(a)
        op("none")(d)
        return (aten.add.Tensor(b, c),)


# torch 2.13.0: _remove_effect_tokens(export(MultiOutput()).run_decompositions()), input `x`
# renamed to aot_export's `arg1_1`. The list result's getitem is replaced by the call itself.
MULTI_OUTPUT_REMOVED = f"""def forward(self, arg1_1):
    two_default = torch.ops.{NS}.two.default(arg1_1);  arg1_1 = None
    getitem_1 = two_default[0]
    getitem_2 = two_default[1];  two_default = None
    lst_default = torch.ops.{NS}.lst.default(getitem_1);  getitem_1 = None
    getitem_5 = lst_default[0]
    getitem_6 = lst_default[1];  lst_default = None
    none_default = torch.ops.{NS}.none.default(getitem_6);  getitem_6 = none_default = None
    add = torch.ops.aten.add.Tensor(getitem_2, getitem_5);  getitem_2 = getitem_5 = None
    return (add,)"""


@pytest.mark.spec("TRC-7", "TRC-11")
def test_remove_effect_tokens_shifts_the_getitems_of_multi_output_ops():
    gm, _ = aot_export(MultiOutput(), (refimpl.ones(2),))
    came = remove_effect_tokens(gm).code.strip()
    assert came == MULTI_OUTPUT_REMOVED, f"expected\n{MULTI_OUTPUT_REMOVED}\ncame\n{came}"
    (out,) = gm(refimpl.ones(2))
    assert out.tolist() == [5.0, 5.0], f"expected (x * 2) + (x + 1 + 1), came {out}"


@pytest.mark.spec("TRC-11")
def test_remove_effect_tokens_keeps_unused_effects_and_drops_the_tokens():
    def f(x):
        aten._print.default("p1")
        op("rec")(x, "unused")
        aten._print.default("p2")
        return (aten.sin.default(x),)

    gm, sig = aot_export(f, (refimpl.ones(2),))
    stripped = remove_effect_tokens(gm)
    assert placeholders(stripped) == sig.user_inputs, (
        f"expected only {sig.user_inputs} left, came {placeholders(stripped)}"
    )
    assert outputs(stripped) == sig.user_outputs, f"came {outputs(stripped)}"
    assert all(n.target is not with_effects for n in stripped.graph.nodes), "with_effects left"
    _, lines = printed(stripped, refimpl.ones(2))
    assert (lines, KERNEL_LOG) == (["p1", "p2"], ["unused"]), f"came {lines} and {KERNEL_LOG}"


# ---------------------------------------------------------------------------------------------
# TRC-13: the backward
# ---------------------------------------------------------------------------------------------


@pytest.mark.spec("TRC-13")
def test_backward_without_effects_gets_no_token():
    def bw(saved, grad):
        return (aten.mul.Tensor(grad, aten.cos.default(saved)),)

    gm = aot_export_backward(bw, (refimpl.ones(2), refimpl.ones(2)))
    assert placeholders(gm) == ["saved_1", "grad_1"], f"came {placeholders(gm)}"
    assert all(n.target is not with_effects for n in gm.graph.nodes), "expected no with_effects"


@pytest.mark.spec("TRC-13", "TRC-14")
def test_backward_token_is_discovered_last_in_and_returned_last():
    def bw(saved, grad):
        g = op("rec")(grad, "bw1")
        aten._print.default("bw2")
        return (aten.mul.Tensor(g, aten.cos.default(saved)),)

    gm = aot_export_backward(bw, (refimpl.ones(2), refimpl.ones(2)))
    assert placeholders(gm) == ["saved_1", "grad_1", "tangents_token"], f"{placeholders(gm)}"
    (chain,) = check_effect_tokens(gm).values()
    last_out = gm.graph.output_node().args[0][-1]
    assert last_out.args == (chain[-1], 0) and len(chain) == 2, (
        f"expected a 2-link chain whose token is returned last, came {outputs(gm)}"
    )
    out, lines = printed(gm, refimpl.ones(2), refimpl.ones(2), new_token_tensor())
    assert (lines, KERNEL_LOG, len(out)) == (["bw2"], ["bw1"], 2), (
        f"expected one run of each effect and (grad, token), came {lines}, {KERNEL_LOG}, {out}"
    )


# ---------------------------------------------------------------------------------------------
# TRC-14: check_effect_tokens on graphs broken by hand
# ---------------------------------------------------------------------------------------------


def _print_with(token, tag):
    return with_effects(token, aten._print.default, tag)


def _broken(fn, *args):
    return make_fx(fn, "fake")(*args)


def _token_used_twice(tok, x):
    t1, _ = _print_with(tok, "a")
    t2, _ = _print_with(tok, "b")
    return t1, t2


def _two_chains(t1, t2, x):
    a, _ = _print_with(t1, "a")
    b, _ = _print_with(t2, "b")
    return a, b


def _not_a_token(tok, x):
    t1, y = with_effects(tok, op("rec"), x, "a")
    t2, _ = _print_with(y, "b")
    return t1, t2


def _chain_dropped(tok, x):
    t1, _ = _print_with(tok, "a")
    _print_with(t1, "b")
    return aten.sin.default(x)


BROKEN = [
    ("token used twice", _token_used_twice, 1, "token tok_1 is used by two with_effects nodes"),
    ("two chains", _two_chains, 1, "has 2 chains (starting at with_effects, with_effects_1)"),
    ("result used as token", _not_a_token, 1, "with_effects takes getitem_1, which is not a"),
    ("chain not returned", _chain_dropped, 1, "reaches neither the output nor _sink_tokens"),
]


@pytest.mark.spec("TRC-14")
@pytest.mark.parametrize(
    ("fn", "culprit", "message"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_check_effect_tokens_names_the_offending_node(fn, culprit, message):
    n_tokens = 2 if fn is _two_chains else 1
    gm = _broken(fn, *[new_token_tensor() for _ in range(n_tokens)], refimpl.ones(2))
    offending = [n for n in gm.graph.nodes if n.target is with_effects][culprit]
    with pytest.raises(EffectTokenError) as info:
        check_effect_tokens(gm)
    text = str(info.value)
    assert message in text, f"expected {message!r} in the error, came {text!r}"
    assert text.endswith(f"at: {node_code_line(offending)}"), (
        f"expected the error to end with {offending.name}'s line, came {text!r}"
    )
    assert isinstance(info.value, AssertionError), "expected EffectTokenError to be an assertion"


@pytest.mark.spec("TRC-14")
def test_check_effect_tokens_without_a_sink_requirement_accepts_a_dropped_final_token():
    gm = _broken(_chain_dropped, new_token_tensor(), refimpl.ones(2))
    (chain,) = check_effect_tokens(gm, require_sink=False).values()
    assert [n.name for n in chain] == ["with_effects", "with_effects_1"], f"came {chain}"


@pytest.mark.spec("TRC-14")
def test_check_effect_tokens_rejects_a_token_extracted_twice():
    gm, _ = aot_export(PrintAdd(), (refimpl.ones(2),))
    last = [n for n in gm.graph.nodes if n.target is with_effects][-1]
    output = gm.graph.output_node()
    with gm.graph.inserting_before(output):
        again = gm.graph.call_function(operator.getitem, (last, 0))
    output.args = ((*output.args[0], again),)
    gm.recompile()
    with pytest.raises(EffectTokenError, match="extracted more than once") as info:
        check_effect_tokens(gm)
    assert str(info.value).endswith(node_code_line(last)), f"came {str(info.value)!r}"


# ---------------------------------------------------------------------------------------------
# Random programs (TRC-1, TRC-3, TRC-11, TRC-14)
# ---------------------------------------------------------------------------------------------

# A statement is (kind, a, b): a and b pick earlier values modulo their number, so any
# statement list is a valid program and Hypothesis shrinks by deleting statements.
KINDS = ("print", "rec", "obs", "sin", "cos", "add", "mul")
EFFECTFUL = {"print", "rec", "obs"}


def statements():
    pick = st.integers(0, 15)
    return st.lists(st.tuples(st.sampled_from(KINDS), pick, pick), min_size=0, max_size=10)


def program(stmts):
    """A function of one tensor that runs `stmts` and returns every value it made."""

    def p(x):
        values = [x]
        for i, (kind, a, b) in enumerate(stmts):
            u, v = values[a % len(values)], values[b % len(values)]
            tag = f"s{i}"
            if kind == "print":
                aten._print.default(tag)
            elif kind == "obs":
                op("obs")(u, tag)
            elif kind == "rec":
                values.append(op("rec")(u, tag))
            elif kind in ("sin", "cos"):
                values.append(getattr(aten, kind).default(u))
            else:
                values.append(getattr(aten, kind).Tensor(u, v))
        return tuple(values)

    return p


def effect_sequence(stmts):
    """`(op, tag)` of every effectful statement, in program order."""
    ops = {"print": aten._print.default, "rec": op("rec"), "obs": op("obs")}
    return [(ops[kind], f"s{i}") for i, (kind, _, _) in enumerate(stmts) if kind in EFFECTFUL]


@pytest.mark.spec("TRC-1", "TRC-3", "TRC-14")
@st_.fast_settings()
@given(data=st.data())
def test_random_programs_keep_one_chain_in_program_order(data):
    stmts = data.draw(statements(), label="statements")
    gm, sig = aot_export(program(stmts), (refimpl.ones(2),))
    expected = effect_sequence(stmts)
    chains = check_effect_tokens(gm)
    came = [(n.args[1], n.args[-1]) for chain in chains.values() for n in chain]
    assert came == expected, f"expected the chain {expected}, came {came}"
    assert len(sig.input_tokens) == (1 if expected else 0), f"expected one token or none: {sig}"


@pytest.mark.spec("TRC-1", "TRC-2")
@st_.fast_settings()
@given(data=st.data())
def test_random_programs_run_like_the_eager_program(data):
    stmts = data.draw(statements(), label="statements")
    p = program(stmts)
    KERNEL_LOG.clear()  # the autouse fixture clears it per test, not per example
    eager, eager_lines = printed(p, refimpl.ones(2))
    eager_log = list(KERNEL_LOG)
    KERNEL_LOG.clear()
    gm, sig = aot_export(p, (refimpl.ones(2),))
    tokens = [new_token_tensor() for _ in sig.input_tokens]
    out, lines = printed(gm, *tokens, refimpl.ones(2))
    assert (lines, KERNEL_LOG) == (eager_lines, eager_log), (
        f"expected prints {eager_lines} and log {eager_log}, came {lines} and {KERNEL_LOG}"
    )
    values = [v for t in out[len(tokens) :] for v in t.tolist()]
    expected = [v for t in eager for v in t.tolist()]
    assert values == pytest.approx(expected, rel=1e-6), f"expected {expected}, came {values}"


@pytest.mark.spec("TRC-9", "TRC-11")
@st_.fast_settings()
@given(data=st.data())
def test_removing_tokens_gives_the_calls_of_plain_make_fx(data):
    stmts = data.draw(statements(), label="statements")
    p = program(stmts)
    gm, _ = aot_export(p, (refimpl.ones(2),))
    stripped = calls(remove_effect_tokens(gm))
    plain = calls(make_fx(p, "fake")(refimpl.ones(2)))
    assert stripped == plain, f"expected make_fx's calls {plain}, came {stripped}"
