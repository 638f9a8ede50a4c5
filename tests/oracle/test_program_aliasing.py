"""Reads of a tensor after a write through another tensor of its storage (PRG-43).

The loader refuses them because refimpl models no storage sharing; the torch test shows, on
the same programs, that torch's values there are not refimpl's, which is why they are refused
rather than compared.
"""

from __future__ import annotations

import pytest

from oracle.program import ProgramError, load_program
from oracle.refimpl_runner import run_refimpl


def _doc(body: list, outputs: list) -> dict:
    return {"format": "effects-program/1", "name": "alias",
            "inputs": [{"name": "x", "shape": [3], "dtype": "float32"}],
            "body": body, "outputs": outputs}


VIEW = {"op": "aten::view.default", "args": [{"ref": "x"}, [3]], "outs": ["v"]}
WRITE_X = {"op": "aten::add_.Tensor", "args": [{"ref": "x"}, 1]}
WRITE_V = {"op": "aten::add_.Tensor", "args": [{"ref": "v"}, 1]}

REFUSED = {
    "a view output after its base is written": (
        [VIEW, WRITE_X], ["v"], "$.outputs[0]", "$.body[1].args[0]"),
    "a view read as an argument after its base is written": (
        [VIEW, WRITE_X, {"op": "aten::sin.default", "args": [{"ref": "v"}], "outs": ["s"]}],
        ["s"], "$.body[2].args[0]", "$.body[1].args[0]"),
    "a base output after a write through its view": (
        [VIEW, WRITE_V], ["x"], "$.outputs[0]", "$.body[1].args[0]"),
    "a view of a view after the base is written": (
        [VIEW, {"op": "aten::view.default", "args": [{"ref": "v"}, [-1]], "outs": ["w"]},
         WRITE_X], [["w"]], "$.outputs[0][0]", "$.body[2].args[0]"),
    "a view of the in-place result after the base is written again": (
        [{"op": "aten::add_.Tensor", "args": [{"ref": "x"}, 1], "outs": ["y"]},
         {"op": "aten::view.default", "args": [{"ref": "y"}, [3]], "outs": ["v"]},
         {"op": "aten::mul_.Tensor", "kwargs": {"self": {"ref": "x"}, "other": 2}}],
        ["v"], "$.outputs[0]", "$.body[2].kwargs.self"),
}

ACCEPTED = {
    "the in-place result is its input itself": (
        [{"op": "aten::add_.Tensor", "args": [{"ref": "x"}, 1], "outs": ["y"]}, WRITE_X], ["y"]),
    "a view taken after the write": ([WRITE_X, VIEW], ["v"]),
    "a view read before the write": (
        [VIEW, {"op": "aten::cos.default", "args": [{"ref": "v"}], "outs": ["c"]}, WRITE_X],
        ["c", "x"]),
    "the stale name bound again": (
        [VIEW, WRITE_X, {"op": "aten::clone.default", "args": [{"ref": "x"}], "outs": ["v"]}],
        ["v"]),
    "a clone is a new storage": (
        [{"op": "aten::clone.default", "args": [{"ref": "x"}], "outs": ["v"]}, WRITE_X], ["v"]),
}


@pytest.mark.spec("PRG-43")
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_read_after_a_write_through_another_view_is_refused(case: str) -> None:
    body, outputs, where, write = REFUSED[case]
    with pytest.raises(ProgramError) as info:
        load_program(_doc(body, outputs))
    message = str(info.value)
    assert message.startswith(f"{where}: "), f"expected the fault at {where}, got {message!r}"
    assert f"written at {write}" in message and "(PRG-43)" in message, (
        f"expected the write at {write} named, got {message!r}")


@pytest.mark.spec("PRG-43")
@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_reads_refimpl_answers_exactly_are_accepted(case: str) -> None:
    body, outputs = ACCEPTED[case]
    run = run_refimpl(load_program(_doc(body, outputs)), "eager")
    assert run.error is None, f"expected {case} to run, got {run.error}"


@pytest.mark.torch
@pytest.mark.spec("PRG-43")
@pytest.mark.parametrize("case", ["a view output after its base is written",
                                  "a base output after a write through its view"])
def test_torch_shows_the_write_through_the_other_view(case: str) -> None:
    import torch  # noqa: PLC0415

    x = torch.arange(3, dtype=torch.float32)
    v = x.view([3])
    (x if case.startswith("a view") else v).add_(1)
    read = v if case.startswith("a view") else x
    assert read.tolist() == [1.0, 2.0, 3.0], f"expected torch to show the write, got {read}"
    # refimpl keeps no shared storage: its value there would be the one before the write.
    from refimpl import aten  # noqa: PLC0415

    rx = aten.arange(3, dtype="float32")
    rv = aten.OPS["aten::view"](rx, [3])
    aten.OPS["aten::add_.Tensor"](rx if case.startswith("a view") else rv, 1)
    stale = rv if case.startswith("a view") else rx
    assert stale.tolist() == [0.0, 1.0, 2.0], (
        f"expected refimpl's stale value (what PRG-43 refuses to compare), got {stale}")


EXPAND = {"op": "aten::expand.default", "args": [{"ref": "x"}, [2, 3]], "outs": ["e"]}


@pytest.mark.spec("PRG-44")
@pytest.mark.parametrize("body", [
    [EXPAND, {"op": "aten::add_.Tensor", "args": [{"ref": "e"}, 1]}],
    [EXPAND, {"op": "aten::view.default", "args": [{"ref": "e"}, [6]], "outs": ["w"]},
     {"op": "aten::abs_.default", "args": [{"ref": "w"}]}],
], ids=["the expanded tensor", "a view of it"])
def test_a_write_through_a_view_other_than_view_is_refused(body: list) -> None:
    where = f"$.body[{len(body) - 1}].args[0]"
    with pytest.raises(ProgramError) as info:
        load_program(_doc(body, ["x"]))
    message = str(info.value)
    assert message.startswith(f"{where}: ") and "aten::expand.default" in message \
        and "(PRG-44)" in message, f"expected the write at {where} refused, got {message!r}"


@pytest.mark.spec("PRG-44")
def test_a_write_through_a_view_of_views_is_accepted() -> None:
    body = [VIEW, {"op": "aten::view.default", "args": [{"ref": "v"}, [1, 3]], "outs": ["w"]},
            {"op": "aten::abs_.default", "args": [{"ref": "w"}]}]
    run = run_refimpl(load_program(_doc(body, ["w"])), "functional")
    assert run.error is None, f"expected the write through views to run, got {run.error}"


@pytest.mark.spec("PRG-45")
@pytest.mark.parametrize("body, where", [
    ([VIEW, {"op": "aten::mul_.Tensor", "args": [{"ref": "v"}, {"ref": "x"}]}],
     "$.body[1].args[1]"),
    ([VIEW, {"op": "aten::copy_.default", "args": [{"ref": "x"}, {"ref": "v"}]}],
     "$.body[1].args[1]"),
], ids=["a view written, its base read", "the base written, its view read"])
def test_an_inplace_op_reading_another_tensor_of_its_storage_is_refused(body, where) -> None:
    with pytest.raises(ProgramError) as info:
        load_program(_doc(body, ["x"] if "copy_" in body[1]["op"] else ["v"]))
    message = str(info.value)
    assert message.startswith(f"{where}: ") and "(PRG-45)" in message, (
        f"expected the read at {where} refused, got {message!r}")


@pytest.mark.torch
@pytest.mark.spec("PRG-45")
def test_torch_refuses_the_partial_overlap() -> None:
    import torch  # noqa: PLC0415

    x = torch.ones(())
    with pytest.raises(RuntimeError, match="refer to a single memory location"):
        x.view([-1]).mul_(x)
