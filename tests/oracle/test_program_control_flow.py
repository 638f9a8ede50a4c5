"""The cond and while_loop statements of effects-program/1.3: loading, faults, the written source.

Models: nothing upstream directly; the forms are torch.cond and torch._higher_order_ops.while_loop
(torch 2.13.0) as specs/program.md PRG-53 to PRG-57 describe them.
Spec: PRG-53, PRG-54, PRG-55, PRG-56, PRG-57.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

import refimpl
from oracle.program import ProgramError, load_program, program_to_json
from oracle.program_source import write_program
from oracle.refimpl_runner import run_refimpl

LOG_OP = {"name": "cf::log", "schema": "log(Tensor x, str tag) -> Tensor", "behavior": "record",
          "effect": "ORDERED"}


def _log(ref: str, tag: str, out: str | None = None) -> dict:
    stmt: dict[str, Any] = {"op": "cf::log.default", "args": [{"ref": ref}, tag]}
    if out:
        stmt["outs"] = [out]
    return stmt


def _doc(*body: dict, outputs: list | None = None) -> dict:
    return {
        "format": "effects-program/1.3", "name": "cf", "custom_ops": [LOG_OP],
        "inputs": [{"name": "p", "shape": [], "dtype": "bool", "fill": "ones"},
                   {"name": "x", "shape": [3], "dtype": "float32"}],
        "body": list(body), "outputs": outputs if outputs is not None else ["z"],
    }


COND = {"cond": {"pred": "p", "operands": ["x"],
                 "true": {"body": [_log("x", "t", "a")], "outputs": ["a"]},
                 "false": {"body": [{"op": "aten::neg.default", "args": [{"ref": "x"}],
                                     "outs": ["b"]}], "outputs": ["b"]}},
        "outs": ["z"]}
LOOP = {"while_loop": {"carried": ["x"], "iterations": 2,
                       "cond": {"body": [_log("x", "c")]},
                       "body": {"body": [_log("x", "b", "w")], "outputs": ["w"]}},
        "outs": ["z"]}


def _edit(stmt: dict, path: tuple, value: Any) -> dict:
    stmt = copy.deepcopy(stmt)
    target = stmt
    for key in path[:-1]:
        target = target[key]
    if value is _DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return stmt


_DROP = object()


@pytest.mark.spec("PRG-53", "PRG-56")
@pytest.mark.parametrize("stmt", [COND, LOOP], ids=["cond", "while_loop"])
def test_control_flow_round_trips(stmt: dict) -> None:
    program = load_program(_doc(stmt))
    assert load_program(program_to_json(program)) == program
    assert program_to_json(program)["body"] == [stmt]


@pytest.mark.spec("PRG-54", "PRG-55", "PRG-56", "PRG-57", "PRG-58")
@pytest.mark.parametrize(("body", "path", "fragment"), [
    ((_edit(COND, ("cond", "true", "body", 0, "args", 0), {"ref": "p"}),),
     "$.body[0].cond.true.body[0].args[0].ref",
     "the true branch reads 'p', which is not one of its inputs"),
    ((_edit(COND, ("cond", "false", "outputs"), ["b", "b"]),),
     "$.body[0].cond.false.outputs",
     "the true branch returns 1, the false branch 2"),
    ((_edit(COND, ("cond", "true", "outputs"), ["x"]),),
     "$.body[0].cond.true.outputs[0]", "returns its input 'x' itself"),
    ((_edit(COND, ("cond", "true", "outputs"), ["q"]),),
     "$.body[0].cond.true.outputs[0]", "returns 'q', which it does not bind"),
    ((_edit(COND, ("cond", "pred"), "nope"),), "$.body[0].cond.pred", "dangling ref 'nope'"),
    ((_edit(COND, ("cond", "operands"), ["x", "x"]),), "$.body[0].cond.operands[1]",
     "'x' is passed twice"),
    ((_edit(COND, ("outs",), ["z", "y"]),), "$.body[0].outs", "outs must name 0 or 1, got 2"),
    ((_edit(COND, ("cond", "true", "body"),
            [{"op": "aten::add_.Tensor", "args": [{"ref": "x"}, 1]}, _log("x", "t", "a")]),),
     "$.body[0].cond.true.body[0].op", "in-place ops are not allowed in a true branch"),
    ((_edit(LOOP, ("while_loop", "iterations"), 17),), "$.body[0].while_loop.iterations",
     "17 is greater than the maximum of 16"),
    ((_edit(LOOP, ("while_loop", "iterations"), _DROP),), "$.body[0].while_loop",
     "'iterations' is a required property"),
    ((_edit(LOOP, ("while_loop", "body", "outputs"), []),),
     "$.body[0].while_loop.body", "one tensor per carried value (1), got 0"),
    ((_edit(LOOP, ("while_loop", "cond", "outputs"), ["x"]),),
     "$.body[0].while_loop.cond.outputs", "the loop condition returns nothing"),
    ((COND, _log("a", "after", "z2")), "$.body[1].args[0].ref", "dangling ref 'a'"),
    ((_edit(COND, ("cond", "operands"), ["x", "p"]),), "$.body[0].cond.operands[1]",
     "the predicate 'p' is also an operand"),
    ((_edit(_edit(COND, ("cond", "operands"), ["x", "x2"]), ("cond", "pred"), "p"),),
     "$.body[0].cond.operands[1]", "dangling ref 'x2'"),
])
def test_control_flow_faults_name_their_json_path(body: tuple, path: str, fragment: str) -> None:
    with pytest.raises(ProgramError) as info:
        load_program(_doc(*body))
    assert info.value.path == path and fragment in str(info.value), (
        f"expected {fragment!r} at {path}, got {info.value.path}: {info.value}")


@pytest.mark.spec("PRG-56")
def test_a_loop_is_written_with_its_counter() -> None:
    src = write_program(load_program(_doc(LOOP)), lambda q: q, with_effects=None,
                        new_token=None).source
    assert "_c2 = _op2([])" in src and "return _op0(_i2, 2)" in src, src  # zeros, lt.Scalar
    assert "return (_op1(_i2, 1), _v5, )" in src, src  # add.Tensor, then the body's output


@pytest.mark.spec("PRG-53", "PRG-56")
@pytest.mark.parametrize(("pred", "tags"), [("ones", ["t", "c", "b", "c", "b", "c"]),
                                            ("zeros", ["c", "b", "c", "b", "c"])])
def test_refimpl_runs_the_branch_taken_and_every_iteration(pred: str, tags: list) -> None:
    doc = _doc(COND, {"while_loop": {**LOOP["while_loop"], "carried": ["z"],
                                     "cond": {"body": [_log("z", "c")]},
                                     "body": {"body": [_log("z", "b", "w")], "outputs": ["w"]}},
                      "outs": ["r"]}, outputs=["r"])
    doc["inputs"][0]["fill"] = pred
    obs = run_refimpl(load_program(doc), "eager")
    assert obs.error is None, obs.error
    assert [event[1][0] for event in obs.effect_log] == tags
    assert refimpl.get_profile().subgraph_tokens == "shared"


@pytest.mark.spec("PRG-58")
def test_operands_must_have_the_form_dynamo_gives_them() -> None:
    unread = _doc({"op": "aten::cos.default", "args": [{"ref": "x"}], "outs": ["y"]},
                  _edit(COND, ("cond", "operands"), ["x", "y"]))
    with pytest.raises(ProgramError) as info:
        load_program(unread)
    assert info.value.path == "$.body[1].cond.operands[1]" and "no branch reads" in str(info.value)
    inner = {"cond": {"pred": "q", "operands": ["b", "a"],
                      "true": {"body": [{"op": "aten::add.Tensor",
                                         "args": [{"ref": "b"}, {"ref": "a"}], "outs": ["c"]}],
                               "outputs": ["c"]},
                      "false": {"body": [{"op": "aten::sub.Tensor",
                                          "args": [{"ref": "b"}, {"ref": "a"}], "outs": ["d"]}],
                                "outputs": ["d"]}},
             "outs": ["e"]}
    branch = [{"op": "aten::cos.default", "args": [{"ref": "x"}], "outs": ["a"]},
              {"op": "aten::sin.default", "args": [{"ref": "x"}], "outs": ["b"]},
              {"op": "aten::sum.default", "args": [{"ref": "x"}], "outs": ["s"]},
              {"op": "aten::gt.Scalar", "args": [{"ref": "s"}, 0], "outs": ["q"]}, inner]
    nested = _doc(_edit(_edit(COND, ("cond", "true", "body"), branch),
                        ("cond", "true", "outputs"), ["e"]))
    with pytest.raises(ProgramError) as info:
        load_program(nested)
    assert info.value.path == "$.body[0].cond.true.body[4].cond.operands", info.value
    assert "in the order they were bound (a, b)" in str(info.value)
    only_false = _doc({"op": "aten::cos.default", "args": [{"ref": "x"}], "outs": ["y"]},
                      {"cond": {"pred": "p", "operands": ["x", "y"],
                                "true": {"body": [_log("y", "t", "a")], "outputs": ["a"]},
                                "false": {"body": [_log("x", "f", "b")], "outputs": ["b"]}},
                       "outs": ["z"]})
    with pytest.raises(ProgramError) as info:
        load_program(only_false)
    assert info.value.path == "$.body[1].cond.operands" and \
        "the true branch reads first (y, x)" in str(info.value), info.value
    inner["cond"]["operands"] = ["a", "b"]
    load_program(_doc(_edit(_edit(COND, ("cond", "true", "body"), branch),
                            ("cond", "true", "outputs"), ["e"])))


@pytest.mark.spec("PRG-53")
def test_the_shrinker_reduces_inside_blocks() -> None:
    from oracle.shrink import shrink  # noqa: PLC0415

    doc = _doc(_log("x", "before", "y"), COND, LOOP, outputs=["z"])
    doc["body"][2]["while_loop"]["carried"] = ["y"]
    doc["body"][2]["while_loop"]["cond"]["body"] = [_log("y", "c")]
    doc["body"][2]["while_loop"]["body"]["body"] = [_log("y", "b", "w")]
    load_program(doc)

    def keeps_the_loop_condition_effect(candidate: dict) -> bool:
        return "'c'" in repr([s for s in candidate["body"] if "while_loop" in s])

    result = shrink(doc, keeps_the_loop_condition_effect)
    best = result if isinstance(result, dict) else result.doc
    kinds = ["while_loop" if "while_loop" in s else "cond" if "cond" in s else s["op"]
             for s in best["body"]]
    # The cond goes; the statement binding the loop's carried value stays (a block's names are
    # its inputs', so the shrinker cannot rename them into another value).
    assert kinds == ["cf::log.default", "while_loop"], best["body"]
    loop = best["body"][1]["while_loop"]
    assert loop["cond"]["body"] == [_log(loop["carried"][0], "c")]
    assert len(loop["body"]["body"]) <= 1
