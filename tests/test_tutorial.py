"""The tutorial's code runs: every ```python block of a page, in order, in one namespace.

Models: nothing upstream; doctest-style checking of docs (as Python's ``doctest`` and
``pytest --doctest-glob`` do), for Markdown pages.
Spec: the clauses the page itself walks through (DSP-4, DSP-8, DSP-13, EFF-14, EFF-15, EFF-16,
EFF-21, TRC-1, TRC-9, TRC-14); cited on the test.

- A page's ```python blocks run in order with one shared namespace; a block may ``assert``.
- A ```text block that follows a python block (prose may come between, another python block may
  not) is what that block must print: compared line by line, trailing spaces and leading or
  trailing blank lines ignored.
- Other fences (```sh ...) are not run.

Simplifications:
1. Fences are recognised only at the start of a line (no indented or ``~~~`` fences).
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import refimpl
from refimpl.library import Library

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "docs" / "tutorial.md"]
FENCE = re.compile(r"^```(?P<lang>[\w-]*)[ \t]*$")


@dataclass
class Block:
    lang: str
    line: int  # 1-based line of the opening fence
    text: str


def read_blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, in order."""
    blocks: list[Block] = []
    lang, start, body = None, 0, []
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if lang is None and match:
            lang, start, body = match["lang"], number, []
        elif lang is not None and line.startswith("```"):
            blocks.append(Block(lang, start, "\n".join(body) + "\n"))
            lang = None
        elif lang is not None:
            body.append(line)
    if lang is not None:
        raise AssertionError(f"expected a closing fence for the block at line {start}; found none")
    return blocks


def normalized(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def run_page(page: Path) -> int:
    """Run the page's blocks; return how many python blocks ran. Fails at the first mismatch."""
    namespace: dict = {"__name__": f"tutorial_{page.stem}"}
    try:
        return _run_blocks(page, namespace)
    finally:
        # A page that fails half-way must not leave its operators defined for the next run.
        for value in list(namespace.values()):
            if isinstance(value, Library):
                value._destroy()


def _run_blocks(page: Path, namespace: dict) -> int:
    printed: str | None = None
    ran = 0
    for block in read_blocks(page.read_text(encoding="utf-8")):
        if block.lang == "python":
            sink = io.StringIO()
            code = compile(block.text, f"{page.name}:{block.line}", "exec")
            with contextlib.redirect_stdout(sink):
                exec(code, namespace)  # noqa: S102 - the page's own code
            printed = sink.getvalue()
            ran += 1
        elif block.lang == "text":
            assert printed is not None, (
                f"{page.name}:{block.line}: expected a python block before this text block; "
                f"found none since the last one"
            )
            assert normalized(printed) == normalized(block.text), (
                f"{page.name}:{block.line}: expected the block above to print\n{block.text}\n"
                f"but it printed\n{printed}"
            )
            printed = None
    return ran


@pytest.fixture
def restored_profile():
    """The page picks a profile; the previously active one comes back afterwards."""
    previous = refimpl.get_profile()
    try:
        yield
    finally:
        refimpl.set_profile(previous)


def test_read_blocks_pairs_text_with_the_python_before_it() -> None:
    page = "intro\n```python\nprint(1)\n```\nsome prose\n```text\n1\n```\n```sh\nls\n```\n"
    got = [(b.lang, b.line, b.text) for b in read_blocks(page)]
    expected = [("python", 2, "print(1)\n"), ("text", 6, "1\n"), ("sh", 9, "ls\n")]
    assert got == expected, f"expected blocks {expected}, got {got}"


@pytest.mark.spec(
    "DSP-4", "DSP-8", "DSP-13", "EFF-14", "EFF-15", "EFF-16", "EFF-21", "TRC-1", "TRC-9", "TRC-14"
)
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_runs_and_prints_what_it_shows(page: Path, restored_profile: None) -> None:
    ran = run_page(page)
    assert ran > 0, f"expected {page.name} to hold python blocks, found {ran}"
