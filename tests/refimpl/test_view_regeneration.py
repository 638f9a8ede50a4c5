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
