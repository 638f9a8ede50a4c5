"""oracle/analysis.py and refimpl.passes.effect_order: effect pairs only the token chain orders.

Spec: TRC-15.
"""

from __future__ import annotations

import pytest

from oracle.analysis import analyse
from oracle.program import load_program

REC = {"name": "fz::rec", "schema": "rec(Tensor x, str tag) -> Tensor", "behavior": "record",
       "effect": "ORDERED"}


def _program(body: list, inputs=("x",), mutable=False) -> object:
    return load_program({
        "format": "effects-program/1", "name": "p", "custom_ops": [REC],
        "inputs": [{"name": n, "shape": [2], "dtype": "float32"} for n in inputs],
        "body": body, "outputs": [],
    })


def _rec(arg: str, tag: str, out: str | None = None) -> dict:
    stmt = {"op": "fz::rec.default", "args": [{"ref": arg}, tag]}
    return {**stmt, "outs": [out]} if out else stmt


@pytest.mark.spec("TRC-15")
def test_a_data_path_orders_a_pair_without_the_token():
    analysis = analyse(_program([_rec("x", "a", "y"), _rec("y", "b")]))
    assert analysis.effects == 2 and analysis.pairs == (), f"got {analysis}"


@pytest.mark.spec("TRC-15")
def test_independent_effects_are_ordered_by_the_token_alone():
    body = [_rec("x", "a"),
            {"op": "aten::sin.default", "args": [{"ref": "x"}], "outs": ["s"]},
            {"op": "aten::cos.default", "args": [{"ref": "s"}], "outs": ["c"]},
            _rec("c", "b")]
    (pair,) = analyse(_program(body)).pairs
    assert (pair.first_op, pair.second_op, pair.pure_between) == ("fz::rec", "fz::rec", 2), (
        f"expected one token-only pair with two pure ops between, got {pair}")
    assert not pair.touches_mutated_input and not pair.mutation_between, f"got {pair}"


@pytest.mark.spec("TRC-15")
def test_a_path_through_a_third_effect_counts_as_token_only():
    # a -> c is data, c -> b is token: nothing but tokens orders a before b.
    body = [_rec("x", "a", "y"), _rec("y", "c"), _rec("x", "b")]
    pairs = {(p.first, p.second) for p in analyse(_program(body)).pairs}
    assert pairs == {("with_effects", "with_effects_2"), ("with_effects_1", "with_effects_2")}, (
        f"got {pairs}")


@pytest.mark.spec("TRC-15")
def test_an_input_mutation_between_two_effects_is_reported():
    body = [{"op": "aten::_print.default", "args": ["a"]},
            {"op": "aten::add_.Tensor", "args": [{"ref": "x"}, {"ref": "x"}]},
            {"op": "aten::_print.default", "args": ["b"]}]
    (pair,) = analyse(_program(body)).pairs
    assert pair.mutation_between and pair.pure_between == 1, f"got {pair}"


@pytest.mark.spec("TRC-15")
def test_an_untraceable_program_is_reported_not_raised():
    body = [{"op": "aten::view.default", "args": [{"ref": "x"}, [3]]}]
    analysis = analyse(_program(body))
    assert analysis.error and analysis.pairs == (), f"got {analysis}"
