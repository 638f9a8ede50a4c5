"""Views of a written tensor are replayed where they are next used or returned (TRC-18); the
graphs torch 2.13 makes are compared live by the catalog program `view_regeneration`."""

from __future__ import annotations

import pytest

from refimpl import aten
from refimpl.export import Module, aot_export

OPS = aten.OPS


def _calls(fn, *inputs) -> list[tuple[str, tuple]]:
    module = Module()
    module.forward = fn
    gm, _ = aot_export(module, inputs)
    return [(str(n.target), tuple(str(a) for a in n.args)) for n in gm.graph.nodes
            if n.op == "call_function"]


@pytest.mark.spec("TRC-18")
def test_a_view_of_a_written_tensor_is_replayed_where_it_is_used() -> None:
    def fn(x):
        OPS["aten::abs_"](x)
        v = OPS["aten::view"](x, [2])
        return (OPS["aten::cos"](v),)

    calls = _calls(fn, aten.ones(2))
    assert [c[0] for c in calls] == ["aten.abs.default", "aten.view.default",
                                     "aten.cos.default"], f"got {calls}"
    assert calls[2][1] == ("view_1",), f"expected cos to read the replayed view, got {calls}"


@pytest.mark.spec("TRC-18")
def test_a_view_of_a_view_is_replayed_from_the_base_at_the_output() -> None:
    def fn(x):
        OPS["aten::add_.Tensor"](x, x)
        v = OPS["aten::view"](x, [6])
        return (OPS["aten::view"](v, [3, 2]),)

    calls = _calls(fn, aten.ones(2, 3))
    views = [c[1] for c in calls if c[0] == "aten.view.default"]
    assert len(views) == 2 and views[0] == ("add", "[6]") and views[1][1] == "[3, 2]" \
        and views[1][0] != "add", (
        f"expected both views replayed from the base, the first ones dead: {calls}")


@pytest.mark.spec("TRC-18")
def test_an_unwritten_tensor_s_views_are_not_replayed() -> None:
    def fn(x):
        v = OPS["aten::view"](x, [2])
        return (OPS["aten::cos"](v),)

    calls = _calls(fn, aten.ones(2))
    assert calls == [("aten.view.default", ("arg0_1", "[2]")), ("aten.cos.default", ("view",))], (
        f"got {calls}")


@pytest.mark.spec("TRC-18")
def test_a_view_taken_after_the_write_is_still_replayed_at_the_output() -> None:
    # A view starts at generation 0 whatever its base's generation: the base was synced by `cos`
    # before the view was taken, and torch 2.13's aot_export_module still replays the view at the
    # end of its graph (finding 3098ac9318ae; catalog `output_view_of_written_input`).
    def fn(x):
        OPS["aten::abs_"](x)
        c = OPS["aten::cos"](x)
        v = OPS["aten::view"](x, [])
        OPS["aten::_print"]("")
        return (v, c)

    calls = _calls(fn, aten.ones(()))
    targets = [c[0] for c in calls]
    assert targets[:3] == ["aten.abs.default", "aten.cos.default", "with_effects"] \
        and targets[-1] == "aten.view.default" and targets.count("aten.view.default") == 1, (
        f"got {calls}")
    assert calls[-1][1] == ("abs_1", "[]"), f"expected the view replayed last, got {calls}"


@pytest.mark.spec("TRC-18")
def test_a_write_through_a_view_reaches_the_base_through_the_view_inverse() -> None:
    # torch 2.13, aot_export_module of `v = x.view([6]); v.abs_(); return (v,)` on a [2, 3]
    # input: view, abs, view(abs_1, [2, 3]) (the input's new value, returned as its mutation),
    # view(view_1, [6]) (the written view, replayed from the new base at once).
    def fn(x):
        v = OPS["aten::view"](x, [6])
        OPS["aten::abs_"](v)
        return (v,)

    module = Module()
    module.forward = fn
    gm, sig = aot_export(module, (aten.ones(2, 3),))
    calls = [(str(n.target), tuple(str(a) for a in n.args)) for n in gm.graph.nodes
             if n.op == "call_function"]
    assert calls == [("aten.view.default", ("arg0_1", "[6]")), ("aten.abs.default", ("view",)),
                     ("aten.view.default", ("abs_1", "[2, 3]")),
                     ("aten.view.default", ("view_1", "[6]"))], f"got {calls}"
    assert sig.user_inputs_to_mutate == {"view_1": "arg0_1"}, sig.user_inputs_to_mutate


@pytest.mark.spec("TRC-18")
def test_a_write_through_a_view_of_a_view_replays_the_chain_from_the_base() -> None:
    # torch 2.13 on `v = x.view([6]); w = v.view([3, 2]); w.abs_(); return (w,)`: the inverse
    # of the last view runs against the base replayed up to it (a dead `view_2`), then the
    # inverse of the first: view_3 = view(abs_1, [6]), view_4 = view(view_3, [2, 3]).
    def fn(x):
        v = OPS["aten::view"](x, [6])
        w = OPS["aten::view"](v, [3, 2])
        OPS["aten::abs_"](w)
        return (OPS["aten::cos"](w),)

    calls = _calls(fn, aten.ones(2, 3))
    assert calls[3:5] == [("aten.view.default", ("abs_1", "[6]")),
                          ("aten.view.default", ("view_3", "[2, 3]"))], f"got {calls}"
