"""Reading a program document from bytes, text or Python data, with limits checked before work.

Models: nothing upstream. This is the first step of `oracle.program.load_program`: it turns what a
user gives (a file, JSON text, a dict) into plain JSON data or raises `ProgramError`, whatever the
input (PRG-39 to PRG-42). Every limit is a field of `Limits`, so a caller may lift one
(`load_program(path, limits=Limits(max_depth=200))`); `DEFAULT_LIMITS` is what the CLI uses.

The checks run in the order that bounds the work: the size of the file before reading it whole,
UTF-8 before parsing, nesting depth and number lengths by one linear scan of the text before the
recursive JSON decoder sees it (CPython's decoder raises `RecursionError` for deep nesting and
`ValueError` for integers over 4300 digits), then duplicate keys, string lengths and, for data
given as Python objects, depth and integer size on the decoded tree.

Simplifications:
1. The text scan counts brackets outside well-formed string literals; in a text that is not JSON
   it may report a depth or number fault where the decoder would report a syntax error. Either is
   a `ProgramError`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_LIMITS", "Limits", "read_document"]


@dataclass(frozen=True)
class Limits:
    """Bounds on a program document, checked before the work they bound (PRG-39)."""

    max_file_bytes: int = 16 << 20
    max_depth: int = 64
    max_number_chars: int = 64
    max_string_chars: int = 1 << 20
    max_pattern_chars: int = 4096
    max_value_elements: int = 1 << 24  # any value a program makes (PRG-42, oracle/check.py)


DEFAULT_LIMITS = Limits()

# A string literal, a bracket, or a run of number characters (outside string literals).
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]|[-+0-9.eE]+', re.S)


class _Duplicated(dict):
    """A JSON object that had a key twice; `duplicate` is the first key seen again."""

    duplicate: str


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    marked = _Duplicated(obj)
    marked.duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))
    return marked


def read_document(source: Any, limits: Limits, error: type) -> tuple[Any, str | None]:
    """`(document, origin)` for a dict/list, JSON text (a str starting with `{` or `[`) or a path.

    `error` is `ProgramError` (passed in to keep this module free of the program model); every
    fault in the document raises it. `OSError` for a file that cannot be read is left to the
    caller, as `load_program` documents.
    """
    if isinstance(source, (Mapping, list)):
        _check_tree(source, limits, error, decoded=False)
        return source, None
    if isinstance(source, str) and source.lstrip()[:1] in ("{", "["):
        text, origin = source, None
        if len(text) > limits.max_file_bytes:
            raise error((), f"the JSON text has {len(text)} characters "
                            f"(at most {limits.max_file_bytes}, Limits.max_file_bytes)")
    elif isinstance(source, (str, os.PathLike)):
        text, origin = _read_file(Path(source), limits, error), str(source)
    else:
        raise TypeError(f"load_program expects a dict, JSON text or path, got {type(source)}")
    _scan_text(text, limits, error)
    try:
        doc = json.loads(text, object_pairs_hook=_object_pairs)
    except json.JSONDecodeError as exc:
        raise error((), f"not JSON: {exc}") from exc
    _check_tree(doc, limits, error, decoded=True)
    return doc, origin


def _read_file(path: Path, limits: Limits, error: type) -> str:
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise error((), f"{path} has {size} bytes (at most {limits.max_file_bytes}, "
                        "Limits.max_file_bytes)")
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error((), f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} "
                        f"({exc.reason})") from exc


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    return f"line {line} column {pos - (text.rfind(chr(10), 0, pos) + 1) + 1}"


def _scan_text(text: str, limits: Limits, error: type) -> None:
    """Nesting depth and number lengths in one linear pass, before the recursive decoder."""
    depth = 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limits.max_depth:
                raise error((), f"{_where(text, match.start())}: nesting deeper than "
                                f"{limits.max_depth} (Limits.max_depth)")
        elif token in ("]", "}"):
            depth -= 1
        elif token[0] != '"' and len(token) > limits.max_number_chars:
            raise error((), f"{_where(text, match.start())}: a number of {len(token)} characters "
                            f"(at most {limits.max_number_chars}, Limits.max_number_chars)")


def _check_encodable(text: str, loc: tuple, error: type) -> None:
    """A lone surrogate (`"\\ud800"` in JSON) has no UTF-8 form: torch cannot take it as a `str`."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise error(loc, f"character {exc.start} is a lone surrogate "
                             f"(U+{ord(text[exc.start]):04X}), which UTF-8 cannot encode") from exc


def _check_tree(doc: Any, limits: Limits, error: type, *, decoded: bool) -> None:
    """Duplicate keys, string lengths and (for Python data) depth and integer size, by JSON path."""
    stack: list[tuple[Any, tuple]] = [(doc, ())]
    while stack:
        value, loc = stack.pop()
        if len(loc) > limits.max_depth:
            raise error(loc, f"nesting deeper than {limits.max_depth} (Limits.max_depth)")
        if isinstance(value, _Duplicated):
            raise error(loc + (value.duplicate,), f"duplicate key {value.duplicate!r}")
        if isinstance(value, str):
            if len(value) > limits.max_string_chars:
                raise error(loc, f"a string of {len(value)} characters (at most "
                                 f"{limits.max_string_chars}, Limits.max_string_chars)")
            _check_encodable(value, loc, error)
        elif isinstance(value, int) and not decoded:
            # bit_length, not str(): str() itself raises past 4300 digits.
            if value.bit_length() * 0.30103 > limits.max_number_chars:
                raise error(loc, f"an integer of about {int(value.bit_length() * 0.30103)} digits "
                                 f"(at most {limits.max_number_chars}, Limits.max_number_chars)")
        elif isinstance(value, Mapping):
            for key in value:
                if not isinstance(key, str):
                    raise error(loc, f"key {key!r} is not a string")
                if len(key) > limits.max_string_chars:
                    raise error(loc, f"a key of {len(key)} characters (at most "
                                     f"{limits.max_string_chars}, Limits.max_string_chars)")
                _check_encodable(key, loc, error)
            stack.extend((item, loc + (key,)) for key, item in reversed(value.items()))
        elif isinstance(value, (list, tuple)):
            stack.extend((value[i], loc + (i,)) for i in reversed(range(len(value))))
