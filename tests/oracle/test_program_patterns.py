"""Name patterns are whole-string matches: a trailing newline is not part of a valid name.

A `$` at the end of a regular expression also matches just before a final newline
(`re.search("^a$", "a\\n")` matches), so the schema patterns end in `\\Z` instead.
"""

from __future__ import annotations

import copy

import pytest

from oracle.program import ProgramError, json_path, load_program

BASE = {
    "format": "effects-program/1",
    "name": "p",
    "inputs": [{"name": "x", "shape": [2], "dtype": "float32"}],
    "body": [{"op": "aten::sin.default", "args": [{"ref": "x"}], "outs": ["y"]}],
    "outputs": ["y"],
}


def _with(location: tuple, value: str) -> dict:
    doc = copy.deepcopy(BASE)
    node = doc
    for step in location[:-1]:
        node = node[step]
    node[location[-1]] = value
    return doc


@pytest.mark.spec("PRG-2")
@pytest.mark.parametrize(
    "location, name",
    [
        (("name",), "p\n"),
        (("inputs", 0, "name"), "x\n"),
        (("body", 0, "op"), "aten::sin.default\n"),
        (("body", 0, "outs", 0), "y\n"),
    ],
)
def test_a_name_with_a_trailing_newline_is_rejected(location: tuple, name: str) -> None:
    load_program(BASE)  # the base program is valid
    with pytest.raises(ProgramError) as info:
        load_program(_with(location, name))
    assert info.value.path == json_path(location), (
        f"expected a fault at {json_path(location)} for {name!r}, got {info.value}"
    )
