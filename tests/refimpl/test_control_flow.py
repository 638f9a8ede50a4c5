"""cond and while_loop in refimpl: the rules' checks and messages, and tokens across the HOP.

Models: torch/_higher_order_ops/cond.py and while_loop.py at torch 2.13.0 (the messages are
torch's; the graphs of these programs are compared with torch's recordings in
tests/golden/test_control_flow_golden.py).
Spec: CF-1 .. CF-12, FX-8.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

import refimpl
from refimpl import check_effect_tokens, ops
from refimpl._higher_order_ops.utils import UncapturedHigherOrderOpError
from refimpl.effect_log import record_effects
from refimpl.effects import _EffectType, _register_effectful_op
from refimpl.export import aot_export
from refimpl.fake_tensor import FakeTensorMode
from refimpl.library import Library, custom_op
from refimpl.passes import EffectTokenError
from refimpl.profiles import get_profile, set_profile

logged: list[int] = []


@pytest.fixture
def log() -> Iterator[object]:
    """An ORDERED custom op ``cfu::log(x, tag)`` that appends ``tag`` to ``logged``."""
    lib = Library("cfu", "FRAGMENT")

    def impl(x: refimpl.Tensor, tag: int) -> refimpl.Tensor:
        logged.append(tag)
        return x.clone()

    op = custom_op("cfu::log", mutates_args=(), schema="(Tensor x, int tag) -> Tensor",
                   lib=lib)(impl)
    op.register_fake(lambda x, tag: x.clone())
    handle = _register_effectful_op("cfu::log", _EffectType.ORDERED)
    logged.clear()
    try:
        yield ops.cfu.log.default
    finally:
        handle.destroy()
        lib._destroy()


@pytest.fixture
def threaded() -> Iterator[None]:
    previous = get_profile()
    set_profile(dataclasses.replace(previous, name="threaded", subgraph_tokens="threaded"))
    try:
        yield
    finally:
        set_profile(previous)


X = refimpl.ones(3)
T, F = refimpl.tensor(True), refimpl.tensor(False)


@pytest.mark.spec("CF-1", "CF-2", "CF-5")
@pytest.mark.parametrize(("pred", "expected"), [(T, [1]), (F, [2]), (True, [1]), (0, [2])])
def test_cond_runs_only_the_branch_taken(log, pred, expected) -> None:
    out = refimpl.cond(pred, lambda x: log(x, 1) + 1, lambda x: log(x, 2) - 1, (X,))
    assert logged == expected
    assert out.tolist() == ([2.0] * 3 if expected == [1] else [0.0] * 3)


@pytest.mark.spec("CF-1")
def test_cond_keeps_the_branch_output_structure() -> None:
    out = refimpl.cond(T, lambda x: (x + 1, [x * 2]), lambda x: (x - 1, [x * 3]), (X,))
    assert isinstance(out, tuple) and isinstance(out[1], list)
    assert [out[0].tolist(), out[1][0].tolist()] == [[2.0] * 3, [2.0] * 3]


@pytest.mark.spec("CF-1")
@pytest.mark.parametrize(("args", "message"), [
    (("p", abs, abs, (X,)), "Expected pred to be bool or tensor, but got p."),
    ((refimpl.ones(2), abs, abs, (X,)), "Expected pred to be bool or single-element tensor"),
    ((T, 1, abs, (X,)), "Expect both branches to be callable."),
    ((T, abs, abs, (X, 1)), "Expect operands to be a tuple of possibly nested dict/list/tuple"),
])
def test_cond_rejects_bad_arguments_with_torchs_messages(args, message) -> None:
    with pytest.raises(RuntimeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        refimpl.cond(*args)


@pytest.mark.spec("CF-4")
def test_fake_cond_merges_outputs_and_checks_their_dtypes() -> None:
    mode = FakeTensorMode()
    with mode:
        x = mode.from_tensor(X)
        out = refimpl.cond(mode.from_tensor(T), lambda x: x + 1, lambda x: x - 1, (x,))
        assert isinstance(out, refimpl.FakeTensor) and out.shape == (3,)
        with pytest.raises(RuntimeError, match="When merging two branches' output in "
                                               "torch.cond,  expected same dtype but got "
                                               "torch.float32 and torch.float64."):
            refimpl.cond(mode.from_tensor(T), lambda x: x + 1,
                         lambda x: ops.aten._to_copy.default(x, dtype=refimpl.float64), (x,))
        with pytest.raises(NotImplementedError, match="unbacked SymInts"):
            refimpl.cond(mode.from_tensor(T), lambda x: x + 1, lambda x: refimpl.ones(4), (x,))


@pytest.mark.spec("CF-3")
def test_branches_with_different_output_counts_fail_tracing() -> None:
    def f(p, x):
        return refimpl.ops.higher_order.cond(p, lambda x: (x + 1,), lambda x: (x, x * 2), (x,))

    with pytest.raises(RuntimeError, match="true branch returns 1 item"):
        refimpl.make_fx(f, tracing_mode="fake")(T, X)


@pytest.mark.spec("CF-2")
def test_cond_through_autograd_is_refused_not_silently_wrong() -> None:
    x = refimpl.ones(3).requires_grad_()
    with pytest.raises(NotImplementedError, match="autograd through cond"):
        refimpl.cond(T, lambda x: x + 1, lambda x: x - 1, (x,))
    with refimpl.no_grad():
        assert refimpl.cond(T, lambda x: x + 1, lambda x: x - 1, (x,)).tolist() == [2.0] * 3


@pytest.mark.spec("CF-8", "CF-9", "CF-5")
def test_while_loop_runs_cond_fn_then_body_per_iteration(log) -> None:
    i, x = refimpl.while_loop(lambda i, x: log(i, 7) < 3, lambda i, x: (i + 1, log(x, 1) + 1),
                              (refimpl.tensor(0), X))
    assert logged == [7, 1, 7, 1, 7, 1, 7]
    assert (i.tolist(), x.tolist()) == (3, [4.0] * 3)


@pytest.mark.spec("CF-9")
def test_while_loop_checks_cond_output_and_body_arity() -> None:
    with pytest.raises(RuntimeError, match="cond_fn must return a boolean scalar tensor"):
        refimpl.while_loop(lambda x: x, lambda x: (x,), (X,))
    with pytest.raises(AssertionError, match="body_fn should return a tuple"):
        refimpl.while_loop(lambda i: i < 1, lambda i: i + 1, (refimpl.tensor(0),))
    with pytest.raises(RuntimeError, match="carried_inputs must be a tuple or list, got"):
        refimpl.ops.higher_order.while_loop(lambda x: x, lambda x: x, X, ())


@pytest.mark.spec("CF-10")
def test_fake_while_loop_runs_the_body_once_and_checks_its_metadata(log) -> None:
    mode = FakeTensorMode(shape_env=refimpl.fake_tensor.ShapeEnv())
    with mode:
        i = mode.from_tensor(refimpl.tensor(0))
        x = mode.from_tensor(X)
        with pytest.raises(UncapturedHigherOrderOpError,
                           match="Expected carried_inputs and body_output to have same metadata"):
            refimpl.while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, refimpl.ones(2)), (i, x))
    with FakeTensorMode() as bare, pytest.raises(AttributeError, match="'NoneType' object has "
                                                 "no attribute 'ignore_fresh_unbacked_symbols'"):
        refimpl.while_loop(lambda i: i < 3, lambda i: (i + 1,), (bare.from_tensor(X),))


@pytest.mark.spec("CF-6", "CF-7", "CF-12")
def test_shared_tokens_leave_constants_that_the_checker_names(log) -> None:
    def f(p, x):
        y = log(x, 0)
        return (log(refimpl.cond(p, lambda x: log(x, 1) + 1, lambda x: x - 1, (y,)), 9),)

    gm, sig = aot_export(f, (T, X))
    assert sig.input_tokens == ["arg0_1"] and gm.true_graph_0.graph.find_nodes(op="get_attr")
    with pytest.raises(EffectTokenError, match="with_effects takes _tensor_constant0"):
        check_effect_tokens(gm)

    def branch_only(p, x):
        return (refimpl.cond(p, lambda x: log(x, 1) + 1, lambda x: x - 1, (x,)),)

    gm, _ = aot_export(branch_only, (T, X))
    with pytest.raises(EffectTokenError, match="in subgraph true_graph_0: with_effects takes "
                                               "_tensor_constant0"):
        check_effect_tokens(gm)
    with pytest.raises(AssertionError, match="Please convert all Tensors to FakeTensors"):
        gm(refimpl.tensor([]), T, X)
    logged.clear()
    gm(refimpl.tensor([]), F, X)  # the fault is latent while the pure branch is taken
    assert logged == []


@pytest.mark.spec("CF-6", "CF-12")
@pytest.mark.parametrize(("pred", "expected"), [(T, [0, 1, 9]), (F, [0, 9])])
def test_threaded_tokens_chain_through_the_cond(log, threaded, pred, expected) -> None:
    def f(p, x):
        y = log(x, 0)
        return (log(refimpl.cond(p, lambda x: log(x, 1) + 1, lambda x: x - 1, (y,)), 9),)

    gm, sig = aot_export(f, (pred, X))
    chains = check_effect_tokens(gm)
    assert [n.name for n in chains[_EffectType.ORDERED]] == ["with_effects", "cond",
                                                              "with_effects_1"]
    false_out = gm.false_graph_0.graph.output_node().args[0]
    assert false_out[0].op == "placeholder"  # a branch without the effect passes its token on
    logged.clear()
    gm(refimpl.tensor([]), pred, X)
    assert logged == expected


@pytest.mark.spec("FX-8")
def test_make_fx_keeps_dead_nodes_of_a_branch_and_aot_export_drops_them(log) -> None:
    def f(p, x):
        def t(x):
            x * 5  # dead
            log(x, 1)  # its result unused
            return x + 1

        return (refimpl.cond(p, t, lambda x: x - 1, (x,)),)

    gm = refimpl.make_fx(f, tracing_mode="fake")(T, X)
    targets = [n.target for n in gm.true_graph_0.graph.nodes if n.op == "call_function"]
    assert targets == [ops.aten.mul.Tensor, log, ops.aten.add.Tensor]  # as torch 2.13 keeps them
    gm, _ = aot_export(f, (T, X))
    targets = [n.target for n in gm.true_graph_0.graph.nodes if n.op == "call_function"]
    assert targets == [ops.aten.add.Tensor]  # the unused with_effects is dead there (CF-7)


@pytest.mark.spec("CF-5")
def test_the_effect_log_records_branch_effects_in_program_order(log) -> None:
    with record_effects() as events:
        refimpl.cond(T, lambda x: ops.aten._print.default("in branch") or x + 1,
                     lambda x: x - 1, (X,))
    assert [e[0] for e in events] == ["aten::_print"]
