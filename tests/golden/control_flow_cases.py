"""Effects in `cond` and `while_loop`, written once against an `api` (`control_flow_api.py`).

Each case returns `{kind: text}`: `eager` (the effect log of a plain run), `make_fx` and `aot`
(every graph's code, subgraphs after their parent, read in `get_attr` order), `aot_tokens` (the
signature's token names), `aot_run` (running the exported graph: its effect log, or its error)
and `error` (a trace that fails). `record_control_flow.py` records torch's texts;
`test_control_flow_golden.py` compares refimpl's. The programs are those of
docs/notes/control_flow/01-03.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CASES: dict[str, Callable[[Any], dict[str, str]]] = {}


def case(fn: Callable[[Any], dict[str, str]]) -> Callable[[Any], dict[str, str]]:
    CASES[fn.__name__] = fn
    return fn


def codes(api: Any, gm: Any, name: str = "forward") -> str:
    """The code of ``gm``, then of each subgraph it reads, depth first."""
    texts = [f"# {name}\n{gm.code.strip()}\n"]
    for node in gm.graph.nodes:
        if node.op == "get_attr" and api.is_module(getattr(gm, node.target)):
            texts.append(codes(api, getattr(gm, node.target), f"{name}.{node.target}"))
    return "".join(texts)


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _run(api: Any, fn: Callable, args: tuple) -> dict[str, str]:
    """The eager log, then make_fx and aot_export of ``fn`` and a run of the exported graph."""
    out: dict[str, str] = {}
    api.LOG.clear()
    fn(*args)
    out["eager"] = repr(list(api.LOG))
    try:
        out["make_fx"] = codes(api, api.make_fx(fn, args))
    except Exception as exc:  # noqa: BLE001 - the recorded observation
        out["make_fx"] = error_text(exc)
    try:
        gm, input_tokens, output_tokens = api.aot_export(fn, args)
    except Exception as exc:  # noqa: BLE001
        out["aot"] = error_text(exc)
        return out
    out["aot"] = codes(api, gm)
    out["aot_tokens"] = f"input_tokens={input_tokens} output_tokens={output_tokens}"
    api.LOG.clear()
    try:
        gm(*[api.token() for _ in input_tokens], *args)
        out["aot_run"] = repr(list(api.LOG))
    except Exception as exc:  # noqa: BLE001
        out["aot_run"] = f"{error_text(exc)} (log {list(api.LOG)})"
    return out


@case
def cond_both_branches(api: Any) -> dict[str, str]:
    log = api.log

    def f(p, x):  # unannotated: torch writes a return annotation into the code
        return (api.cond(p, lambda x: log(x, 1) + 1, lambda x: log(x, 2) - 1, (x,)),)

    return _run(api, f, (api.scalar(True), api.ones(3)))


@case
def cond_only_true_branch_taken_false(api: Any) -> dict[str, str]:
    log = api.log

    def f(p, x):  # unannotated: torch writes a return annotation into the code
        return (api.cond(p, lambda x: log(x, 1) + 1, lambda x: x - 1, (x,)),)

    return _run(api, f, (api.scalar(False), api.ones(3)))


@case
def cond_before_and_after(api: Any) -> dict[str, str]:
    log = api.log

    def f(p, x):  # unannotated: torch writes a return annotation into the code
        y = log(x, 0)
        z = api.cond(p, lambda x: log(x, 1) + 1, lambda x: log(x, 2) - 1, (y,))
        return (log(z, 9),)

    return _run(api, f, (api.scalar(True), api.ones(3)))


@case
def cond_pure_branches_effects_outside(api: Any) -> dict[str, str]:
    log = api.log

    def f(p, x):  # unannotated: torch writes a return annotation into the code
        y = log(x, 0)
        z = api.cond(p, lambda x: x + 1, lambda x: x - 1, (y,))
        return (log(z, 9),)

    return _run(api, f, (api.scalar(True), api.ones(3)))


@case
def cond_print_before_and_after(api: Any) -> dict[str, str]:
    pr = api.print

    def t(x: Any) -> Any:
        pr("true branch")
        return x + 1

    def e(x: Any) -> Any:
        pr("false branch")
        return x - 1

    def f(p, x):  # unannotated: torch writes a return annotation into the code
        pr("before")
        z = api.cond(p, t, e, (x,))
        pr("after")
        return (z,)

    out = _run(api, f, (api.scalar(True), api.ones(3)))
    out.pop("eager")  # aten::_print writes to C++'s stdout: neither log sees it
    out.pop("aot_run", None)
    return out


@case
def cond_nested(api: Any) -> dict[str, str]:
    log = api.log

    def inner(x: Any) -> Any:
        return api.cond(x.sum() > 0, lambda y: log(y, 3) * 2, lambda y: y * 3, (x,))

    def f(p, x):  # unannotated: torch writes a return annotation into the code
        return (api.cond(p, inner, lambda x: log(x, 4) + 0, (x,)),)

    return _run(api, f, (api.scalar(True), api.ones(3)))


@case
def while_loop_effect_in_body(api: Any) -> dict[str, str]:
    log = api.log

    def f(i, x):  # unannotated: torch writes a return annotation into the code
        return tuple(api.while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, log(x, 1) + 1),
                                    (i, x)))

    return _run(api, f, (api.scalar(0), api.ones(3)))


@case
def while_loop_effect_in_cond_fn(api: Any) -> dict[str, str]:
    log = api.log

    def f(i, x):  # unannotated: torch writes a return annotation into the code
        return tuple(api.while_loop(lambda i, x: log(i, 7) < 3, lambda i, x: (i + 1, x + 1),
                                    (i, x)))

    return _run(api, f, (api.scalar(0), api.ones(3)))


@case
def while_loop_before_body_after(api: Any) -> dict[str, str]:
    log = api.log

    def f(i, x):  # unannotated: torch writes a return annotation into the code
        y = log(x, 0)
        j, z = api.while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, log(x, 1) + 1), (i, y))
        return (j, log(z, 9))

    return _run(api, f, (api.scalar(0), api.ones(3)))


@case
def while_loop_no_iteration(api: Any) -> dict[str, str]:
    log = api.log

    def f(i, x):  # unannotated: torch writes a return annotation into the code
        return tuple(api.while_loop(lambda i, x: i < 0, lambda i, x: (i + 1, log(x, 1) + 1),
                                    (i, x)))

    return _run(api, f, (api.scalar(0), api.ones(3)))


@case
def cond_dead_nodes_in_a_branch(api: Any) -> dict[str, str]:
    log = api.log

    def t(x):  # unannotated: torch writes a return annotation into the code
        x * 5  # dead: make_fx keeps it, AOTAutograd's DCE drops it (FX-8)
        log(x, 1)  # its result unused: its with_effects is dead under functionalization
        return x + 1

    def f(p, x):  # unannotated: torch writes a return annotation into the code
        return (api.cond(p, t, lambda x: x - 1, (x,)),)

    return _run(api, f, (api.scalar(True), api.ones(3)))
