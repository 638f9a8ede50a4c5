"""A printed string with newlines is one event per line on every path of both sides (RPT-12).

The expected events were observed from torch 2.13.0 (`python3 -m oracle check` on this program,
every path from eager to compile:inductor): `_print("a\\nb")` -> `a`, `b`;
`_print("c\\n")` -> `c`, `""`.
"""

from __future__ import annotations

import pytest

from oracle.compare import compare_observations
from oracle.program import load_program
from oracle.refimpl_runner import run_refimpl

PROGRAM = load_program({
    "format": "effects-program/1",
    "name": "print_newline",
    "inputs": [{"name": "x", "shape": [2], "dtype": "float32"}],
    "body": [
        {"op": "aten::_print.default", "args": ["a\nb"]},
        {"op": "aten::sin.default", "args": [{"ref": "x"}], "outs": ["y"]},
        {"op": "aten::_print.default", "args": ["c\n"]},
    ],
    "outputs": ["y"],
})
LINES = [("aten::_print", (line,), ()) for line in ("a", "b", "c", "")]
PATHS = ["eager", "make_fx", "functional", "export", "compile:aot_eager"]


@pytest.mark.spec("RPT-12")
@pytest.mark.parametrize("path", PATHS)
def test_refimpl_logs_one_print_event_per_line(path: str) -> None:
    obs = run_refimpl(PROGRAM, path)
    assert obs.error is None, f"unexpected error {obs.error}"
    assert obs.effect_log == LINES, f"expected {LINES}, got {obs.effect_log}"


@pytest.mark.torch
@pytest.mark.spec("RPT-12")
@pytest.mark.parametrize("path", PATHS)
def test_torch_and_refimpl_agree_on_printed_lines(path: str) -> None:
    from oracle.torch_runner import run_torch

    t = run_torch(PROGRAM, path)
    assert t.effect_log == LINES, f"torch: expected {LINES}, got {t.effect_log}"
    result = compare_observations(PROGRAM, t, run_refimpl(PROGRAM, path))
    assert result.status == "agree", f"expected agree, got {result.status}: {result.details}"
