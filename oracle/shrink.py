"""Reduce a failing program to a smallest one that still fails the same way.

Models: nothing upstream. The reduction is delta debugging (Zeller and Hildebrandt's `ddmin`)
over the body's statements, followed by C-Reduce-style passes, each of which proposes smaller
variants of the program; a variant is kept when the predicate still holds for it.
Spec: RPT-26 (the order and the passes), RPT-27 (valid candidates only, determinism), RPT-28
(`python -m oracle shrink` and the campaign, in `oracle.fuzz`).

[NOTE: why a reduction pass of our own] Hypothesis shrinks the choice sequence that generated a
program, within its own budget: a campaign found an effect-order violation whose program stayed
at 13 statements after ~300 s of shrinking, and Hypothesis does not shrink an example it replays
from its database at all. This pass works on the program itself, so it can delete a statement
that feeds others (its uses then read its first tensor argument instead), and it runs until no
pass makes progress, however long the predicate takes.

How `shrink(doc, predicate)` runs:
1. The program is normalised (`program_to_json(load_program(doc))`).
2. Sweeps of the passes in `PASSES` run until a whole sweep keeps nothing. `ddmin` deletes
   chunks of statements (halves, quarters, ... down to single statements) and the others
   propose one change each: delete one statement (last first), one output, one input, one
   custom op or `register_effects` entry; replace a ref by an input; simplify a literal
   (strings to `""` or their first character, numbers to `0` or `1`, an int list to `[-1]`);
   make an input smaller (shape `[]`, `[1]`, a dimension halved or dropped), `float32`, the
   default fill.
3. A candidate is run only when it is smaller by `complexity` (so the reduction ends) and
   valid (`load_program`); each distinct candidate is run at most once.

Simplifications:
1. Greedy: the first smaller candidate that keeps the predicate is taken, then the pass goes on
   from the same position. The result is minimal with respect to the passes (no single proposed
   change keeps the predicate), not the smallest program there is.
2. A predicate that raises `StopShrinking` (a spent budget) ends the reduction with the smallest
   program found so far; so do `max_runs` and `deadline`.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from oracle.program import ProgramError, load_program, program_to_json

__all__ = ["PASSES", "ShrinkResult", "StopShrinking", "complexity", "shrink"]

Doc = dict[str, Any]
Predicate = Callable[[Doc], bool]


class StopShrinking(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a predicate to end the reduction now (the smallest program so far is kept)."""


@dataclass
class ShrinkResult:
    doc: Doc
    statements_before: int
    statements_after: int
    runs: int = 0  # predicate calls
    invalid: int = 0  # candidates `load_program` rejected (never run)
    seconds: float = 0.0
    stopped: bool = False  # ended by StopShrinking, max_runs or deadline


# ---------------------------------------------------------------------------------------------
# The order: what "smaller" means (RPT-26)
# ---------------------------------------------------------------------------------------------


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _call(stmt: Doc) -> Doc:
    """The call part of a statement (the inner call of a `with_effects` statement; a cond or
    while_loop statement has no call part: `{}`)."""
    if "cond" in stmt or "while_loop" in stmt:
        return {}
    return stmt.get("with_effects", stmt)


def _blocks(stmt: Doc) -> list[tuple[str, Doc]]:
    """A cond's branches, a while_loop's condition and body: `(key, block)`."""
    hop = stmt.get("cond") or stmt.get("while_loop")
    if hop is None:
        return []
    return [(k, hop[k]) for k in ("true", "false", "cond", "body") if k in hop]


def _all_statements(body: list) -> Iterator[Doc]:
    """Every statement, those inside blocks included (PRG-53)."""
    for stmt in body:
        yield stmt
        for _, block in _blocks(stmt):
            yield from _all_statements(block.get("body", []))


def _standins(stmt: Doc, subst: dict) -> list[Doc | None]:
    """What stands in for each result of a deleted statement: its first tensor argument; a
    cond's first operand; a while_loop's k-th carried value for its k-th result."""
    hop = stmt.get("cond") or stmt.get("while_loop")
    outs = stmt.get("outs", [])
    if hop is None:
        return [_first_ref(_substitute(_call(stmt).get("args", []), subst))] * len(outs)
    names = hop.get("carried") or hop.get("operands", [])
    picks = names if "carried" in hop else names[:1] * len(outs)
    return [_substitute({"ref": n}, subst) for n in picks]


def _literal_weight(value: Any) -> int:
    if isinstance(value, dict):
        return 0 if "ref" in value else sum(_literal_weight(v) for v in value.values())
    if isinstance(value, list):
        return sum(_literal_weight(v) for v in value)
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return 0 if value == 0 else 1 if value == 1 else 2
    return 0


def complexity(doc: Doc) -> tuple[int, ...]:
    """The reduction's order, compared as a tuple: statements, inputs, custom ops,
    `register_effects` entries, outputs, refs to non-inputs, input elements, input dimensions,
    inputs not float32, inputs with a fill, the literals' weight, the JSON length. Every pass
    lowers one part and raises no earlier one, so the reduction ends."""
    inputs = doc.get("inputs", [])
    names = {i["name"] for i in inputs}
    users = [*doc.get("body", []), *doc.get("outputs", [])]
    inner_refs = sum(1 for v in _walk(users)
                     if isinstance(v, dict) and "ref" in v and v["ref"] not in names)
    inner_refs += sum(1 for o in doc.get("outputs", []) if isinstance(o, str) and o not in names)
    return (
        sum(1 for _ in _all_statements(doc.get("body", []))),
        len(inputs),
        len(doc.get("custom_ops", [])),
        len(doc.get("register_effects", {})),
        len(doc.get("outputs", [])),
        inner_refs,
        sum(math.prod(i["shape"]) for i in inputs),
        sum(len(i["shape"]) for i in inputs),
        sum(1 for i in inputs if i["dtype"] != "float32"),
        sum(1 for i in inputs if "fill" in i),
        sum(_literal_weight(_call(s).get("args", [])) + _literal_weight(_call(s).get("kwargs", {}))
            for s in _all_statements(doc.get("body", []))),
        len(json.dumps(doc, sort_keys=True)),
    )


# ---------------------------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------------------------


def _first_ref(value: Any) -> Doc | None:
    for item in _walk(value):
        if isinstance(item, dict) and "ref" in item:
            return item
    return None


def _substitute(value: Any, subst: dict[str, Doc | None]) -> Any:
    """Refs to deleted values replaced by their stand-ins (a ref with no stand-in is kept, so
    the candidate is a dangling ref that `load_program` rejects)."""
    if isinstance(value, dict) and "ref" in value:
        standin = subst.get(value["ref"])
        return dict(standin) if standin is not None else value
    if isinstance(value, dict):
        return {k: _substitute(v, subst) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, subst) for v in value]
    return value


def delete_statements(doc: Doc, indices: set[int]) -> Doc:
    """`doc` without the statements at `indices`. A deleted statement's results are replaced,
    where they are used, by its first tensor argument (after its own replacement), or dropped
    from the outputs when it has none."""
    subst: dict[str, Doc | None] = {}
    body = []
    for i, stmt in enumerate(doc["body"]):
        if i in indices:
            for out, standin in zip(stmt.get("outs", []), _standins(stmt, subst)):
                subst[out] = standin
        else:
            body.append(_substitute(stmt, subst))
    outputs = []
    for output in doc.get("outputs", []):
        if isinstance(output, list):  # a list output (PRG-36): its items one by one
            items = [new for item in output
                     if (new := _substitute_output(item, subst)) is not None]
            if items:
                outputs.append(items)
            continue
        new = _substitute_output(output, subst)
        if new is not None:
            outputs.append(new)
    return {**doc, "body": body, "outputs": outputs}


def _substitute_output(output: str | Doc, subst: dict[str, Doc | None]) -> str | Doc | None:
    """One output (a name or a ref) after deletions; None when its value is gone."""
    ref = {"ref": output} if isinstance(output, str) else output
    if ref["ref"] in subst and subst[ref["ref"]] is None:
        return None
    new = _substitute(ref, subst)
    return new["ref"] if isinstance(output, str) and set(new) == {"ref"} else new


def _without(doc: Doc, key: str, index: int) -> Doc:
    items = list(doc[key])
    del items[index]
    return {**doc, key: items}


def _used_names(doc: Doc) -> set[str]:
    names = {v["ref"] for v in _walk(doc["body"]) if isinstance(v, dict) and "ref" in v}
    for output in doc.get("outputs", []):
        for item in output if isinstance(output, list) else [output]:
            names.add(item if isinstance(item, str) else item["ref"])
    return names


def one_statement(doc: Doc) -> Iterator[Doc]:
    """Delete one statement, the last first (it has the fewest users); then one statement of a
    block, whose uses in the block read a stand-in (`delete_statements` on the block)."""
    for i in reversed(range(len(doc["body"]))):
        yield delete_statements(doc, {i})
    for path, block in _block_sites(doc["body"], ("body",)):
        for j in reversed(range(len(block.get("body", [])))):
            smaller = delete_statements({"body": block["body"],
                                         "outputs": block.get("outputs", [])}, {j})
            new_block = {**block, "body": smaller["body"]}
            if "outputs" in block:
                new_block["outputs"] = smaller["outputs"]
            yield _replaced(doc, path, new_block)


def _block_sites(body: list, path: tuple) -> Iterator[tuple[tuple, Doc]]:
    for i, stmt in enumerate(body):
        kind = "cond" if "cond" in stmt else "while_loop" if "while_loop" in stmt else None
        for key, block in _blocks(stmt):
            where = (*path, i, kind, key)
            yield where, block
            yield from _block_sites(block.get("body", []), (*where, "body"))


def outputs_pass(doc: Doc) -> Iterator[Doc]:
    for k in range(len(doc.get("outputs", []))):
        yield _without(doc, "outputs", k)


def inputs_pass(doc: Doc) -> Iterator[Doc]:
    """Delete an input: one nothing uses, or one whose uses then read another input."""
    used = _used_names(doc)
    names = [spec["name"] for spec in doc.get("inputs", [])]
    for k, name in enumerate(names):
        if name not in used:
            yield _without(doc, "inputs", k)
            continue
        for other in names:
            if other != name:
                merged = _rename_uses(doc, name, other)
                yield _without(merged, "inputs", k)


def _rename_uses(doc: Doc, name: str, other: str) -> Doc:
    body = _substitute(doc["body"], {name: {"ref": other}})

    def renamed(o: Any) -> Any:
        if isinstance(o, list):
            return [renamed(item) for item in o]
        return other if o == name else _substitute(o, {name: {"ref": other}})

    outputs = [renamed(o) for o in doc.get("outputs", [])]
    return {**doc, "body": body, "outputs": outputs}


def custom_ops_pass(doc: Doc) -> Iterator[Doc]:
    """Delete a custom op no statement calls (with its `register_effects` entry), or one
    `register_effects` entry."""
    called = {_call(s)["op"] for s in _all_statements(doc["body"]) if _call(s)}
    for k, spec in enumerate(doc.get("custom_ops", [])):
        overload = f"{spec['name']}.default"
        if overload not in called:
            candidate = _without(doc, "custom_ops", k)
            register = {o: e for o, e in doc.get("register_effects", {}).items() if o != overload}
            yield {**candidate, "register_effects": register}
    for key in doc.get("register_effects", {}):
        yield {**doc, "register_effects": {o: e for o, e in doc["register_effects"].items()
                                           if o != key}}


def _ref_sites(value: Any, path: tuple = ()) -> Iterator[tuple]:
    """Paths (keys and indices) of every ref inside `value`."""
    if isinstance(value, dict) and "ref" in value:
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _ref_sites(item, (*path, key))
    elif isinstance(value, list):
        for k, item in enumerate(value):
            yield from _ref_sites(item, (*path, k))


def _replaced(doc: Doc, path: tuple, value: Any) -> Doc:
    new = copy.deepcopy(doc)
    target = new
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return new


def _get(doc: Doc, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def refs_pass(doc: Doc) -> Iterator[Doc]:
    """Replace a ref to a statement's result (in the body or the outputs) by an input."""
    names = [i["name"] for i in doc.get("inputs", [])]
    for output_k, output in enumerate(doc.get("outputs", [])):
        items = [((output_k, j), item) for j, item in enumerate(output)] \
            if isinstance(output, list) else [((output_k,), output)]
        for where, item in items:
            ref = item if isinstance(item, str) else item["ref"]
            if ref not in names:
                for name in names:
                    yield _replaced(doc, ("outputs", *where),
                                    name if len(where) == 1 else {"ref": name})
    for site in _ref_sites(doc["body"], ("body",)):
        if _get(doc, site)["ref"] not in names:
            for name in names:
                yield _replaced(doc, site, {"ref": name})


def _literal_sites(value: Any, path: tuple) -> Iterator[tuple[tuple, Any]]:
    if isinstance(value, dict) and "ref" not in value:
        for key, item in value.items():
            yield from _literal_sites(item, (*path, key))
    elif isinstance(value, list) and value and all(type(v) is int for v in value):
        yield path, value
    elif isinstance(value, list):
        for k, item in enumerate(value):
            yield from _literal_sites(item, (*path, k))
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        yield path, value


def _simpler_literals(value: Any) -> list[Any]:
    if isinstance(value, str):
        return ["", value[:1]]
    if isinstance(value, list):
        return [[-1]]
    return [0, 1]


def literals_pass(doc: Doc) -> Iterator[Doc]:
    """Strings to `""` or their first character, numbers to 0 or 1, int lists to `[-1]`."""
    for k, stmt in enumerate(doc["body"]):
        base = ("body", k, "with_effects") if "with_effects" in stmt else ("body", k)
        call = _call(stmt)
        for part in ("args", "kwargs"):
            for site, value in _literal_sites(call.get(part, []), (*base, part)):
                for simpler in _simpler_literals(value):
                    yield _replaced(doc, site, simpler)


def _smaller_shapes(shape: list[int]) -> list[list[int]]:
    shapes = [[], [1]]
    shapes += [shape[:d] + [shape[d] // 2] + shape[d + 1:] for d in range(len(shape))
               if shape[d] > 1]
    shapes += [shape[:d] + shape[d + 1:] for d in range(len(shape))]
    return shapes


def inputs_smaller_pass(doc: Doc) -> Iterator[Doc]:
    """An input with a smaller shape, dtype float32, or the default fill."""
    for k, spec in enumerate(doc.get("inputs", [])):
        for shape in _smaller_shapes(list(spec["shape"])):
            yield _replaced(doc, ("inputs", k, "shape"), shape)
        if spec["dtype"] != "float32":
            yield _replaced(doc, ("inputs", k, "dtype"), "float32")
        if "fill" in spec:
            yield _replaced(doc, ("inputs", k), {x: v for x, v in spec.items() if x != "fill"})


# The single-change passes, in the order a sweep runs them (after `ddmin`).
PASSES: tuple[Callable[[Doc], Iterator[Doc]], ...] = (
    one_statement,
    outputs_pass,
    inputs_pass,
    custom_ops_pass,
    refs_pass,
    literals_pass,
    inputs_smaller_pass,
)


# ---------------------------------------------------------------------------------------------
# The reduction
# ---------------------------------------------------------------------------------------------


@dataclass
class _Reducer:
    predicate: Predicate
    best: Doc
    result: ShrinkResult
    max_runs: int | None
    deadline: float | None
    seen: set[str]

    def accept(self, candidate: Doc) -> bool:
        """Run the predicate on a smaller, valid candidate not run before; keep it if it holds."""
        if complexity(candidate) >= complexity(self.best):
            return False
        key = json.dumps(candidate, sort_keys=True)
        if key in self.seen:
            return False
        self.seen.add(key)
        try:
            candidate = program_to_json(load_program(candidate))
        except ProgramError:
            self.result.invalid += 1
            return False
        if self.max_runs is not None and self.result.runs >= self.max_runs:
            raise StopShrinking
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise StopShrinking
        self.result.runs += 1
        if not self.predicate(candidate):
            return False
        self.best = candidate
        return True

    def ddmin(self) -> bool:
        """Delete chunks of statements: n chunks, each and each complement, n doubling."""
        kept, n = False, 2
        while len(self.best["body"]) >= 2:
            size = len(self.best["body"])
            n = min(n, size)
            chunks = [set(range(size * j // n, size * (j + 1) // n)) for j in range(n)]
            tries = chunks + ([set(range(size)) - c for c in chunks] if n > 2 else [])
            if any(self.accept(delete_statements(self.best, c)) for c in tries):
                kept, n = True, max(n - 1, 2)
            elif n >= size:
                break
            else:
                n *= 2
        return kept

    def greedy(self, pass_: Callable[[Doc], Iterator[Doc]]) -> bool:
        """Take the first candidate that holds; go on from the same position."""
        kept, position = False, 0
        while True:
            for k, candidate in enumerate(pass_(self.best)):
                if k >= position and self.accept(candidate):
                    kept, position = True, k
                    break
            else:
                return kept

    def sweep(self) -> bool:
        kept = self.ddmin()
        for pass_ in PASSES:
            kept = self.greedy(pass_) or kept
        return kept


def shrink(doc: Doc, predicate: Predicate, *, max_runs: int | None = None,
           deadline: float | None = None) -> ShrinkResult:
    """The smallest program, by `complexity`, that the passes reach from `doc` while
    `predicate` holds (`predicate(doc)` itself is assumed, not checked). `predicate` receives
    valid programs as JSON documents; `deadline` is a `time.monotonic()` value."""
    start = time.monotonic()
    best = program_to_json(load_program(doc))
    result = ShrinkResult(best, len(best["body"]), len(best["body"]))
    reducer = _Reducer(predicate, best, result, max_runs, deadline,
                       {json.dumps(best, sort_keys=True)})
    try:
        while reducer.sweep():
            pass
    except StopShrinking:
        result.stopped = True
    result.doc = reducer.best
    result.statements_after = len(reducer.best["body"])
    result.seconds = time.monotonic() - start
    return result
