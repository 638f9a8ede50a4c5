"""Golden tracing scenarios, written once against a "world" and run in torch and in refimpl.

Models: the torch 2.13.0 reference scenarios in `/work/shared/reference/torch-2.13/scenarios/`
(02, 04, 05a-h, 06 B-D, 08, 10, 10b, 11 A-D) and the tests of upstream
`test/higher_order_ops/test_with_effects.py` that use only the operators refimpl models.

Spec: TRC-1 .. TRC-13 (`specs/tracing.md`); each scenario lists the clauses it pins down.

Simplifications:
1. Every tensor operation is an explicit `OpOverload` call (`aten.add.Tensor(x, x)` rather than
   `x + x`): the traced graph is the same in torch, and a world needs no tensor methods.
2. Custom ops are declared with explicit schema strings, so kernels need no type annotations.
3. Texts are world-neutral: `gm.code.strip()`, signature fields as plain lists and dicts, values
   as `tensor([...])` with floats rounded to 4 places, errors as `Type: first line`.
4. Tracing uses fake tensors throughout (upstream's `make_fx(M())` traces real tensors and
   `test_dce` traces symbolic ones; the graphs are the same for these programs).

[NOTE: world protocol]
A world `w` is any object with these attributes. `TorchWorld` in `torch_world.py` is the torch
one; `refimpl_world.py` implements it with refimpl.

- `w.name` -- `"torch"`, `"refimpl"`, ...
- `w.namespace(scenario) -> str` -- the custom-op namespace for one run of a scenario. A world
  that cannot forget custom ops (torch) returns a fresh one; `run_scenario` rewrites it back to
  `GOLD_NS` (`"gold"`) in every text.
- `w.ops` -- `torch.ops`-like: `w.ops.aten._print.default`, `w.ops.prims._make_token.default`,
  `getattr(w.ops, ns).rec.default`.
- `w.custom_op(qualname, mutates_args=(), schema=None)` -- `torch.library.custom_op`-like
  decorator factory; the `CustomOpDef` it makes has `register_fake(fn)` and
  `register_autograd(backward, setup_context=None)` (`ctx.save_for_backward`,
  `ctx.saved_tensors`).
- `w.register_effect(op, "ORDERED" | None) -> handle` -- `_register_effectful_op`; the handle
  has `destroy()`. `op` is a `CustomOpDef` or an `OpOverload`.
- `w.tensor(data, requires_grad=False, dtype=None)` (`dtype` a name such as `"int32"`),
  `w.ones(*shape, requires_grad=False)`,
  `w.zeros(*shape, requires_grad=False)`, `w.arange(end, requires_grad=False)`,
  `w.new_token()` (`torch.tensor([])`) -- float32 tensors, except integer `w.tensor` data.
- `w.is_tensor(value) -> bool`, `w.tolist(tensor) -> list | float`.
- `w.Module` -- `torch.nn.Module`-like base class: `__init__`, `register_buffer(name, t)`,
  `forward`, `__call__`.
- `w.with_effects` -- the `with_effects` higher-order operator.
- `w.capture_prints(fn, *args) -> (result, list[str])` -- call `fn(*args)`; the lines that
  `aten::_print` wrote while it ran.
- `w.make_fx(fn, tracing_mode="fake") -> callable(*args) -> GraphModule` -- no
  functionalization, as `torch.fx.experimental.proxy_tensor.make_fx`.
- `w.aot_export(mod_or_fn, args, unlift_effect_tokens=False) -> (gm, sig)` --
  `aot_export_module(mod, args, trace_joint=False)`; `sig` has `input_tokens, output_tokens,
  user_inputs, user_outputs, inputs_to_buffers, buffers_to_mutate, user_inputs_to_mutate`.
- `w.aot_export_joint(mod, args, output_loss_index) -> (gm, sig)` --
  `aot_export_module(mod, args, trace_joint=True, output_loss_index=...)`; `sig` as above plus
  `backward_signature` (`gradients_to_parameters`, `gradients_to_user_inputs`, `loss_output`).
- `w.functional_make_fx(fn, args, allow_token_discovery=False, seed_token=False) -> gm` --
  make_fx of `fn` under a Python `FunctionalTensorMode` (reference 06 B/C), or, with
  `seed_token`, of a graph `(token, *args) -> (final_token, out)` whose mode starts from that
  token (reference 06 D).
- `w.export_graph(mod, args) -> (gm, sig)` -- `torch.export.export`; `sig` as above.
- `w.export_decomposed(mod, args) -> (gm, sig)` -- the same after `run_decompositions()`.
- `w.export_functional(mod, args) -> (gm, sig)` -- the same after `run_decompositions({})`
  (the oracle's export path).
- `w.remove_effect_tokens(gm) -> gm` -- strip tokens from a graph `export_decomposed` returned
  (may change `gm` in place).
- `w.dce(gm) -> bool` -- `gm.graph.eliminate_dead_code(); gm.recompile()`; whether it changed.
- `w.backward_trace(fn, args, partition="default") -> (forward_gm, backward_gm | None)` --
  `aot_function` with capturing compilers and the default partitioner (`"min_cut"`:
  `min_cut_rematerialization_partition`, torch.compile's); runs the forward and, when an input
  requires grad, `out.sum().backward()` on the first output.

Graph modules need `.code` (torch.fx text), `.graph.nodes` (each with `.op`, `.name`) and
`__call__`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from refimpl.export import SIGNATURE_FIELDS  # the one list; both oracle runners read it

GOLD_NS = "gold"


REC_SCHEMA = "(Tensor x, str tag) -> Tensor"


@dataclass(frozen=True)
class Scenario:
    """One golden scenario: `fn(w, ns) -> {kind: text}`."""

    name: str
    fn: Callable
    specs: tuple[str, ...]
    source: str
    summary: str


SCENARIOS: dict[str, Scenario] = {}


def scenario(name, *, specs, source, summary):
    """Register `fn(w, ns)` as the golden scenario `name`."""

    def register(fn):
        if name in SCENARIOS:
            raise ValueError(f"scenario {name!r} registered twice")
        SCENARIOS[name] = Scenario(name, fn, tuple(specs), source, summary)
        return fn

    return register


def run_scenario(w, name):
    """Run scenario `name` in world `w`; texts with the namespace rewritten to `GOLD_NS`."""
    ns = w.namespace(name)
    texts = SCENARIOS[name].fn(w, ns)
    return {kind: text.replace(ns, GOLD_NS) for kind, text in texts.items()}


# ---------------------------------------------------------------------------------------------
# Text forms (Simplification 3)
# ---------------------------------------------------------------------------------------------


def code(gm):
    return gm.code.strip()


def placeholders(gm):
    return [node.name for node in gm.graph.nodes if node.op == "placeholder"]


def fmt_signature(sig):
    lines = []
    for field in SIGNATURE_FIELDS:
        value = getattr(sig, field)
        value = dict(value) if isinstance(value, Mapping) else list(value)
        lines.append(f"{field} = {value!r}")
    return "\n".join(lines)


def fmt_error(exc):
    message = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {message}"


def fmt_value(w, value):
    if w.is_tensor(value):
        return f"tensor({_rounded(w.tolist(value))!r})"
    if isinstance(value, tuple):
        inner = ", ".join(fmt_value(w, v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(fmt_value(w, v) for v in value) + "]"
    return repr(value)


def _rounded(data):
    if isinstance(data, list):
        return [_rounded(d) for d in data]
    if isinstance(data, float):
        return round(data, 4) + 0.0  # + 0.0 turns -0.0 into 0.0
    return data


def attempt(thunk):
    """`(result, None)`, or `(None, "Type: message")` when `thunk()` raises."""
    try:
        return thunk(), None
    except Exception as exc:  # noqa: BLE001 - the error text is the observable
        return None, fmt_error(exc)


def lines(*items):
    return "\n".join(items)


# ---------------------------------------------------------------------------------------------
# Custom ops used by the scenarios
# ---------------------------------------------------------------------------------------------


def overload(w, ns, name):
    """`torch.ops.<ns>.<name>.default` in world `w`."""
    return getattr(getattr(w.ops, ns), name).default


def define_op(w, ns, name, schema, kernel, fake, effect="ORDERED"):
    """Declare custom op `ns::name`, give it a fake impl, register its effect."""
    op = w.custom_op(f"{ns}::{name}", mutates_args=(), schema=schema)(kernel)
    op.register_fake(fake)
    if effect is not None:
        w.register_effect(op, effect)
    return op


def define_rec(w, ns, log, name="rec", effect="ORDERED"):
    """The reference scenarios' `rec(Tensor x, str tag) -> Tensor`: logs `tag`, returns x + 1."""
    aten = w.ops.aten

    def rec(x, tag):
        log.append(tag)
        return aten.add.Tensor(x, 1)

    def rec_fake(x, tag):
        return aten.empty_like.default(x)

    define_op(w, ns, name, REC_SCHEMA, rec, rec_fake, effect)
    return overload(w, ns, name)


# ---------------------------------------------------------------------------------------------
# Shared drivers
# ---------------------------------------------------------------------------------------------


def aot_texts(w, mod, args, log, *, call_args=None, unlift=False):
    """aot_export `mod`, then call the graph: texts `code`, `signature` and `log`.

    The call passes one new token per input token, then `args`, unless `call_args` is given.
    """
    (gm, sig), export_prints = w.capture_prints(
        lambda: w.aot_export(mod, args, unlift_effect_tokens=unlift)
    )
    export_log = list(log)
    if call_args is None:
        call_args = [w.new_token() for _ in sig.input_tokens] + list(args)
    out, call_prints = w.capture_prints(gm, *call_args)
    log_text = lines(
        f"kernel log during export: {export_log}",
        f"printed during export: {export_prints}",
        f"placeholders: {placeholders(gm)}",
        f"call printed: {call_prints}",
        f"call returned: {fmt_value(w, out)}",
        f"kernel log after call: {log[len(export_log) :]}",
    )
    return {"code": code(gm), "signature": fmt_signature(sig), "log": log_text}


def dce_texts(w, gm):
    """`code` before and `dce` after FX dead-code elimination; `log` says whether it changed."""
    before = code(gm)
    changed = w.dce(gm)
    return {"code": before, "dce": code(gm), "log": f"changed: {changed}"}


def backward_texts(w, fn, args, log):
    """Forward and backward graph of `aot_function(fn)`; `log` has what running them printed
    and logged."""
    (fw, bw), printed = w.capture_prints(lambda: w.backward_trace(fn, args))
    texts = {"forward": code(fw)}
    if bw is not None:
        texts["backward"] = code(bw)
    texts["log"] = lines(
        f"backward graph: {'none' if bw is None else 'yes'}",
        f"printed while tracing and running: {printed}",
        f"kernel log after forward and backward: {log}",
    )
    if bw is not None:  # the same program through torch.compile's partitioner (TRC-22)
        (fw, bw), _ = w.capture_prints(lambda: w.backward_trace(fn, args, partition="min_cut"))
        texts["forward_min_cut"], texts["backward_min_cut"] = code(fw), code(bw)
    return texts


def with_registered_effect(w, op, effect, thunk):
    """Run `thunk()` while `op` has `effect`; the registration is destroyed afterwards."""
    handle = w.register_effect(op, effect)
    try:
        return thunk()
    finally:
        handle.destroy()


# ---------------------------------------------------------------------------------------------
# Reference 02: with_effects errors and non-effectful ops
# ---------------------------------------------------------------------------------------------


@scenario(
    "02_aliasing_error",
    specs=("TRC-8",),
    source="reference 02 A1/A2",
    summary="with_effects on aten.absolute_ (aliasing schema) fails eagerly and under make_fx",
)
def aliasing_error(w, ns):
    absolute_ = w.ops.aten.absolute_.default
    x = w.tensor([-1.0, 2.0])
    _, eager = attempt(lambda: w.with_effects(w.new_token(), absolute_, x))
    traced = w.make_fx(lambda t, a: w.with_effects(t, absolute_, a))
    _, error = attempt(lambda: traced(w.new_token(), x))
    return {"error": error, "eager_error": eager}


@scenario(
    "02_with_effects_add_make_fx",
    specs=("TRC-8", "TRC-9"),
    source="reference 02 B2",
    summary="make_fx traces an explicit with_effects on aten.add.Tensor (no effect) verbatim",
)
def with_effects_add(w, ns):
    add = w.ops.aten.add.Tensor
    x = w.tensor([-1.0, 2.0])
    eager = w.with_effects(w.new_token(), add, x, x)
    gm = w.make_fx(lambda t, a: w.with_effects(t, add, a, a))(w.new_token(), x)
    return {"code": code(gm), "log": f"eager with_effects returned: {fmt_value(w, eager)}"}


# ---------------------------------------------------------------------------------------------
# Reference 04: make_fx without functionalization
# ---------------------------------------------------------------------------------------------


@scenario(
    "04_make_fx_plain",
    specs=("TRC-9",),
    source="reference 04",
    summary="plain make_fx keeps _print and an ORDERED custom op as plain calls, no tokens",
)
def make_fx_plain(w, ns):
    aten = w.ops.aten
    log = []
    rec = define_rec(w, ns, log)

    def f(x):
        aten._print.default("first")
        y = rec(x, "a")
        aten._print.default("second")
        return aten.sin.default(y)

    gm, printed = w.capture_prints(w.make_fx(f), w.ones(3))
    return {"code": code(gm), "log": f"printed during fake tracing: {printed}"}


@scenario(
    "04b_factories_in_graph",
    specs=("TRC-9", "TRC-1"),
    source="refimpl: factories called inside the traced function",
    summary="ones/zeros/arange made while tracing are recorded with torch's tensor options",
)
def factories_in_graph(w, ns):
    aten = w.ops.aten

    def f(x):
        aten._print.default("made")
        ones, zeros, steps = w.ones(2), w.zeros(2), w.arange(2)
        return (aten.add.Tensor(aten.add.Tensor(x, ones), aten.mul.Tensor(zeros, steps)),)

    gm = w.make_fx(f)(w.ones(2))
    exported, sig = w.aot_export(f, (w.ones(2),))
    return {"make_fx": code(gm), "code": code(exported), "signature": fmt_signature(sig)}


# ---------------------------------------------------------------------------------------------
# Reference 05: aot_export_module(trace_joint=False)
# ---------------------------------------------------------------------------------------------


@scenario(
    "05a_prints_add",
    specs=("TRC-1",),
    source="reference 05a",
    summary="two _print around an add: one token in, chained through both prints, one out",
)
def prints_add(w, ns):
    aten = w.ops.aten

    class M(w.Module):
        def forward(self, x):
            aten._print.default("before")
            y = aten.add.Tensor(x, x)
            aten._print.default("after")
            return (y,)

    return aot_texts(w, M(), (w.ones(2),), [])


@scenario(
    "05b_custom_used",
    specs=("TRC-2",),
    source="reference 05b",
    summary="ORDERED custom op whose result is used: getitem 0 is the token, 1 the result",
)
def custom_used(w, ns):
    aten = w.ops.aten
    log = []
    rec = define_rec(w, ns, log)

    class M(w.Module):
        def forward(self, x):
            y = rec(x, "a")
            return (aten.sin.default(y),)

    return aot_texts(w, M(), (w.ones(2),), log)


@scenario(
    "05c_custom_unused",
    specs=("TRC-2",),
    source="reference 05c",
    summary="ORDERED custom op whose result is unused: the with_effects node is kept",
)
def custom_unused(w, ns):
    aten = w.ops.aten
    log = []
    rec = define_rec(w, ns, log)

    class M(w.Module):
        def forward(self, x):
            rec(x, "unused")
            return (aten.cos.default(x),)

    return aot_texts(w, M(), (w.ones(2),), log)


@scenario(
    "05d_interleaved",
    specs=("TRC-3",),
    source="reference 05d",
    summary="p1, rec a, p2, rec b, p3: one token chain through all five effects",
)
def interleaved(w, ns):
    aten = w.ops.aten
    log = []
    rec = define_rec(w, ns, log)

    class M(w.Module):
        def forward(self, x):
            aten._print.default("p1")
            a = rec(x, "a")
            aten._print.default("p2")
            b = rec(aten.mul.Tensor(a, 2), "b")
            aten._print.default("p3")
            return (aten.add.Tensor(a, b),)

    return aot_texts(w, M(), (w.ones(2),), log)


@scenario(
    "05e_input_mutation",
    specs=("TRC-4",),
    source="reference 05e",
    summary="x.add_ between prints: outputs are token, mutated input, user output",
)
def input_mutation(w, ns):
    aten = w.ops.aten

    class M(w.Module):
        def forward(self, x):
            aten._print.default("p1")
            aten.add_.Tensor(x, 1)
            aten._print.default("p2")
            return (aten.mul.Tensor(x, 2),)

    return aot_texts(w, M(), (w.ones(2),), [])


@scenario(
    "05f_buffer_mutation",
    specs=("TRC-5",),
    source="reference 05f",
    summary="buffer add_ with a print and a custom op: inputs are token, buffer, user input",
)
def buffer_mutation(w, ns):
    aten = w.ops.aten
    log = []
    rec = define_rec(w, ns, log)

    class M(w.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("buf", w.zeros(2))

        def forward(self, x):
            aten._print.default("p1")
            aten.add_.Tensor(self.buf, x)
            return (rec(self.buf, "a"),)

    call_args = [w.new_token(), w.zeros(2), w.ones(2)]
    return aot_texts(w, M(), (w.ones(2),), log, call_args=call_args)


@scenario(
    "05g_unlift_tokens",
    specs=("TRC-6",),
    source="reference 05g",
    summary="unlift_effect_tokens: _make_token at the start, _sink_tokens at the end",
)
def unlift_tokens(w, ns):
    aten = w.ops.aten
    log = []
    rec = define_rec(w, ns, log)

    class M(w.Module):
        def forward(self, x):
            aten._print.default("p1")
            a = rec(x, "a")
            aten._print.default("p2")
            return (aten.sin.default(a),)

    return aot_texts(w, M(), (w.ones(2),), log, unlift=True)


@scenario(
    "05h_multi_output",
    specs=("TRC-7",),
    source="reference 05h",
    summary="ORDERED ops returning (Tensor, Tensor), Tensor[] and nothing: getitem layout",
)
def multi_output(w, ns):
    aten = w.ops.aten

    def two(x):
        return aten.add.Tensor(x, 1), aten.mul.Tensor(x, 2)

    def lst(x):
        return [aten.add.Tensor(x, 1), aten.add.Tensor(x, 2)]

    def like2(x):
        return aten.empty_like.default(x), aten.empty_like.default(x)

    define_op(w, ns, "two", "(Tensor x) -> (Tensor, Tensor)", two, like2)
    define_op(w, ns, "lst", "(Tensor x) -> Tensor[]", lst, lambda x: list(like2(x)))
    define_op(w, ns, "none", "(Tensor x) -> ()", lambda x: None, lambda x: None)
    two_op, lst_op, none_op = (overload(w, ns, n) for n in ("two", "lst", "none"))

    class M(w.Module):
        def forward(self, x):
            a, b = two_op(x)
            c, d = lst_op(a)
            none_op(d)
            return (aten.add.Tensor(b, c),)

    return aot_texts(w, M(), (w.ones(2),), [])


# ---------------------------------------------------------------------------------------------
# Reference 06: FunctionalTensorMode driven directly
# ---------------------------------------------------------------------------------------------


def _p1_rec_p2(w, ns, log):
    aten = w.ops.aten
    rec = define_rec(w, ns, log)

    def f(x):
        aten._print.default("p1")
        y = rec(x, "a")
        aten._print.default("p2")
        return aten.sin.default(y)

    return f


@scenario(
    "06b_functional_no_discovery",
    specs=("TRC-10",),
    source="reference 06 B",
    summary="FunctionalTensorMode() without token discovery: no token for _print, an error",
)
def functional_no_discovery(w, ns):
    f = _p1_rec_p2(w, ns, [])
    _, error = attempt(lambda: w.functional_make_fx(f, (w.ones(2),)))
    return {"error": error}


@scenario(
    "06c_functional_discovery",
    specs=("TRC-10",),
    source="reference 06 C/G",
    summary="token discovery: appended tangents_token placeholder, final token dropped",
)
def functional_discovery(w, ns):
    log = []
    f = _p1_rec_p2(w, ns, log)
    gm = w.functional_make_fx(f, (w.ones(2),), allow_token_discovery=True)
    _, error = attempt(lambda: gm(w.ones(2)))
    out, printed = w.capture_prints(gm, w.ones(2), w.new_token())
    log_text = lines(
        f"placeholders: {placeholders(gm)}",
        f"calling gm(x): {error}",
        f"calling gm(x, token) printed: {printed}",
        f"calling gm(x, token) returned: {fmt_value(w, out)}",
        f"kernel log: {log}",
    )
    return {"code": code(gm), "log": log_text}


@scenario(
    "06d_functional_seeded",
    specs=("TRC-10",),
    source="reference 06 D/F",
    summary="mode seeded with a token input and the final token returned: a full chain",
)
def functional_seeded(w, ns):
    log = []
    f = _p1_rec_p2(w, ns, log)
    gm = w.functional_make_fx(f, (w.ones(2),), seed_token=True)
    out, printed = w.capture_prints(gm, w.new_token(), w.ones(2))
    log_text = lines(
        f"placeholders: {placeholders(gm)}",
        f"call printed: {printed}",
        f"call returned: {fmt_value(w, out)}",
        f"kernel log: {log}",
    )
    return {"code": code(gm), "log": log_text}


# ---------------------------------------------------------------------------------------------
# Reference 08: torch.export
# ---------------------------------------------------------------------------------------------


def _export_module(w, ns):
    aten = w.ops.aten
    rec = define_rec(w, ns, [])

    class M(w.Module):
        def forward(self, x):
            aten._print.default("p1")
            y = rec(x, "a")
            rec(x, "unused")
            aten._print.default("p2")
            return aten.sin.default(y)

    return M()


@scenario(
    "08_export",
    specs=("TRC-11",),
    source="reference 08",
    summary="torch.export.export: plain effectful calls, no tokens in graph or signature",
)
def export_plain(w, ns):
    gm, sig = w.export_graph(_export_module(w, ns), (w.ones(2),))
    return {"code": code(gm), "signature": fmt_signature(sig)}


@scenario(
    "08_export_decomposed",
    specs=("TRC-11",),
    source="reference 08 run_decompositions",
    summary="after run_decompositions: token placeholder `token`, a 4-link chain, token output",
)
def export_decomposed(w, ns):
    gm, sig = w.export_decomposed(_export_module(w, ns), (w.ones(2),))
    return {"code": code(gm), "signature": fmt_signature(sig)}


@scenario(
    "08_remove_effect_tokens",
    specs=("TRC-11",),
    source="torch/export/_remove_effect_tokens_pass.py on reference 08",
    summary="remove_effect_tokens on the decomposed export: plain calls again, no tokens",
)
def remove_effect_tokens(w, ns):
    gm, _ = w.export_decomposed(_export_module(w, ns), (w.ones(2),))
    stripped = w.remove_effect_tokens(gm)
    return {"code": code(stripped), "log": f"placeholders: {placeholders(stripped)}"}


@scenario(
    "08_composite_ops",
    specs=("TRC-16",),
    source="torch/export/exported_program.py:_override_composite_implicit_decomp",
    summary="absolute/absolute_ (CompositeImplicitAutograd): make_fx and aot_export see abs, "
    "run_decompositions({}) keeps the functional absolute",
)
def composite_ops(w, ns):
    aten = w.ops.aten

    class M(w.Module):
        def forward(self, x):
            a = aten.absolute.default(x)
            y = aten.clone.default(x)
            aten.absolute_.default(y)
            aten._print.default("p")
            return a, y

    x = w.tensor([-1.0, 2.0])
    traced = w.make_fx(lambda t: M()(t))(x)
    exported, _ = w.aot_export(M(), (x,))
    preserved, sig = w.export_functional(M(), (x,))
    return {"make_fx": code(traced), "aot_export": code(exported), "code": code(preserved),
            "signature": fmt_signature(sig)}


# ---------------------------------------------------------------------------------------------
# Reference 10 / 10b: effects in the backward
# ---------------------------------------------------------------------------------------------


def _define_mysin(w, ns, bw_rec):
    """`mysin(x) = sin(x)` (not effectful) whose backward calls `bw_rec(grad, "bw") * cos(x)`."""
    aten = w.ops.aten

    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return aten.mul.Tensor(bw_rec(grad, "bw"), aten.cos.default(x))

    op = w.custom_op(f"{ns}::mysin", mutates_args=(), schema="(Tensor x) -> Tensor")(
        lambda x: aten.sin.default(x)
    )
    op.register_fake(lambda x: aten.empty_like.default(x))
    op.register_autograd(backward, setup_context=setup_context)
    return overload(w, ns, "mysin")


def _define_bw_rec(w, ns, log):
    aten = w.ops.aten

    def bw_rec(g, tag):
        log.append(tag)
        return aten.clone.default(g)

    op = define_op(w, ns, "bw_rec", REC_SCHEMA, bw_rec, lambda g, tag: aten.empty_like.default(g))
    return op, overload(w, ns, "bw_rec")


@scenario(
    "10_backward_only",
    specs=("TRC-13",),
    source="reference 10",
    summary="ORDERED op only in the backward: no forward token, backward gets tangents_token",
)
def backward_only(w, ns):
    log = []
    _, bw_rec = _define_bw_rec(w, ns, log)
    mysin = _define_mysin(w, ns, bw_rec)
    aten = w.ops.aten

    def f(x):
        return aten.mul.Tensor(mysin(x), 2)

    return backward_texts(w, f, (w.arange(3.0, requires_grad=True),), log)


@scenario(
    "10b_forward_and_backward",
    specs=("TRC-13",),
    source="reference 10b",
    summary="ORDERED op in forward and backward: separate forward and backward token chains",
)
def forward_and_backward(w, ns):
    log = []
    bw_rec_def, bw_rec = _define_bw_rec(w, ns, log)
    bw_rec_def.register_autograd(lambda ctx, g: (g, None), setup_context=_no_context)
    mysin = _define_mysin(w, ns, bw_rec)
    aten = w.ops.aten

    def f(x):
        return aten.mul.Tensor(bw_rec(mysin(x), "fw"), 2)

    return backward_texts(w, f, (w.arange(3.0, requires_grad=True),), log)


def _no_context(ctx, inputs, output):
    return None


# ---------------------------------------------------------------------------------------------
# Reference 05j: aot_export_module(trace_joint=True), the joint forward + backward graph
# ---------------------------------------------------------------------------------------------


def joint_texts(w, mod, args, output_loss_index=0):
    """The joint graph's `code`, its `signature` (backward signature included) and the values
    the graph returns on `args`; or, when the export raises, its `error`."""
    result, error = attempt(lambda: w.aot_export_joint(mod, args, output_loss_index))
    if error is not None:
        return {"error": error}
    gm, sig = result
    back = sig.backward_signature
    signature = lines(
        fmt_signature(sig),
        f"gradients_to_parameters = {dict(back.gradients_to_parameters)!r}",
        f"gradients_to_user_inputs = {dict(back.gradients_to_user_inputs)!r}",
        f"loss_output = {back.loss_output!r}",
    )
    return {"code": code(gm), "signature": signature,
            "values": fmt_value(w, tuple(gm(*args)))}


@scenario(
    "05j_joint_no_effects",
    specs=("TRC-19",),
    source="reference 05j",
    summary="joint graph of sin(x) * y: forward, ones_like seed, the formulas' ops, x's grad",
)
def joint_no_effects(w, ns):
    aten = w.ops.aten

    class M(w.Module):
        def forward(self, x, y):
            return (aten.sum.default(aten.mul.Tensor(aten.sin.default(x), y)),)

    return joint_texts(w, M(), (w.arange(3.0, requires_grad=True), w.ones(3)))


@scenario(
    "05j_joint_two_inputs_require_grad",
    specs=("TRC-19",),
    source="reference 05j",
    summary="both inputs require grad, a non-loss output that does not: grads in input order",
)
def joint_two_inputs(w, ns):
    aten = w.ops.aten

    class M(w.Module):
        def forward(self, x, y, n):
            a = aten.add.Tensor(aten.mul.Tensor(x, 2), aten.cos.default(y), alpha=3)
            b = aten.sub.Tensor(aten.neg.default(a), x)
            return (aten.add.Tensor(n, 1), aten.sum.default(aten.mul.Tensor(b, b)))

    args = (w.arange(3.0, requires_grad=True), w.ones(3, requires_grad=True), w.ones(2))
    return joint_texts(w, M(), args, output_loss_index=1)


@scenario(
    "05j_joint_forward_effect",
    specs=("TRC-19",),
    source="reference 05j",
    summary="an effect in the forward: the joint call passes no tokens (IndexError)",
)
def joint_forward_effect(w, ns):
    aten = w.ops.aten

    class M(w.Module):
        def forward(self, x):
            aten._print.default("fw print")
            return (aten.sum.default(aten.mul.Tensor(x, x)),)

    return joint_texts(w, M(), (w.ones(2, requires_grad=True),))


@scenario(
    "05j_joint_backward_effect",
    specs=("TRC-19", "TRC-13"),
    source="reference 05j, 10",
    summary="an effect only in a backward formula: tangents_token outside the joint spec",
)
def joint_backward_effect(w, ns):
    _, bw_rec = _define_bw_rec(w, ns, [])
    mysin = _define_mysin(w, ns, bw_rec)
    aten = w.ops.aten

    class M(w.Module):
        def forward(self, x):
            return (aten.sum.default(aten.mul.Tensor(mysin(x), 2)),)

    return joint_texts(w, M(), (w.arange(3.0, requires_grad=True),))


@scenario(
    "05j_joint_loss_checks",
    specs=("TRC-19",),
    source="reference 05j",
    summary="fn_to_trace's checks: no loss index, a non-loss output that requires grad, a "
            "loss that does not require grad, a loss that is not a scalar",
)
def joint_loss_checks(w, ns):
    aten = w.ops.aten

    class M(w.Module):
        def __init__(self, outputs):
            super().__init__()
            self.outputs = outputs

        def forward(self, x, y):
            values = {"x2": aten.mul.Tensor(x, 2), "sum_x": aten.sum.default(x),
                      "sum_y": aten.sum.default(y)}
            return tuple(values[name] for name in self.outputs)

    cases = (("none", ("sum_x",), None), ("grad_output", ("x2", "sum_x"), 1),
             ("no_grad", ("sum_y",), 0), ("not_scalar", ("x2",), 0))
    texts = {}
    for name, outputs, index in cases:
        args = (w.ones(2, requires_grad=True), w.ones(2))
        texts[f"error_{name}"] = joint_texts(w, M(outputs), args, index).get("error", "none")
    return texts


# ---------------------------------------------------------------------------------------------
# Reference 11: FX dead-code elimination
# ---------------------------------------------------------------------------------------------


def _dce_ops(w, ns):
    rec = define_rec(w, ns, [])
    aten = w.ops.aten
    define_op(
        w,
        ns,
        "plain",
        "(Tensor x) -> Tensor",
        lambda x: aten.add.Tensor(x, 1),
        lambda x: aten.empty_like.default(x),
        effect=None,
    )
    return rec, overload(w, ns, "plain")


@scenario(
    "11a_dce_plain",
    specs=("TRC-12",),
    source="reference 11 A",
    summary="plain make_fx: DCE keeps unused effectful rec and _print, drops unused plain op",
)
def dce_plain(w, ns):
    aten = w.ops.aten
    rec, plain = _dce_ops(w, ns)

    def f(x):
        rec(x, "u")
        aten._print.default("p")
        plain(x)
        return aten.cos.default(x)

    return dce_texts(w, w.make_fx(f)(w.ones(2)))


@scenario(
    "11b_dce_unused_with_effects",
    specs=("TRC-12",),
    source="reference 11 B",
    summary="explicit with_effects whose outputs (token included) are unused: DCE removes them",
)
def dce_unused_with_effects(w, ns):
    aten = w.ops.aten
    rec, _ = _dce_ops(w, ns)

    def g(tok, x):
        w.with_effects(tok, rec, x, "u")
        w.with_effects(tok, aten._print.default, "p")
        return aten.cos.default(x)

    return dce_texts(w, w.make_fx(g)(w.new_token(), w.ones(2)))


@scenario(
    "11c_dce_token_returned",
    specs=("TRC-12",),
    source="reference 11 C",
    summary="chain whose final token is returned: DCE keeps it, drops unused result getitems",
)
def dce_token_returned(w, ns):
    aten = w.ops.aten
    rec, _ = _dce_ops(w, ns)

    def h(tok, x):
        t1, _ = w.with_effects(tok, rec, x, "u")
        t2, _ = w.with_effects(t1, aten._print.default, "p")
        return t2, aten.cos.default(x)

    return dce_texts(w, w.make_fx(h)(w.new_token(), w.ones(2)))


@scenario(
    "11d_dce_make_sink_tokens",
    specs=("TRC-12",),
    source="reference 11 D",
    summary="_make_token ... _sink_tokens chain: _sink_tokens is impure, the chain is kept",
)
def dce_make_sink_tokens(w, ns):
    aten, prims = w.ops.aten, w.ops.prims
    rec, _ = _dce_ops(w, ns)

    def k(x):
        tok = prims._make_token.default()
        t1, _ = w.with_effects(tok, rec, x, "u")
        prims._sink_tokens.default([t1])
        return aten.cos.default(x)

    return dce_texts(w, w.make_fx(k)(w.ones(2)))


# ---------------------------------------------------------------------------------------------
# Upstream test/higher_order_ops/test_with_effects.py (TestWithEffects)
# ---------------------------------------------------------------------------------------------


def _moo_module(w):
    aten = w.ops.aten

    class M(w.Module):
        def forward(self, x):
            aten._print.default("moo")
            res = aten.add.Tensor(x, x)
            aten._print.default("moo")
            return (res,)

    return M


@scenario(
    "up_print",
    specs=("TRC-1", "TRC-6", "TRC-9"),
    source="upstream test_print",
    summary="prints around x + x: make_fx, aot_export, and aot_export with unlifted tokens",
)
def up_print(w, ns):
    moo_module = _moo_module(w)
    x = w.ones(3)
    gm_fx = w.make_fx(moo_module())(x)
    gm, sig = w.aot_export(moo_module(), (x,))
    gm_unlifted, sig_unlifted = w.aot_export(moo_module(), (x,), unlift_effect_tokens=True)
    return {
        "make_fx": code(gm_fx),
        "code": code(gm),
        "signature": fmt_signature(sig),
        "unlifted": code(gm_unlifted),
        "unlifted_signature": fmt_signature(sig_unlifted),
    }


@scenario(
    "up_print_with_buffer_mutations",
    specs=("TRC-1", "TRC-5"),
    source="upstream test_print_with_buffer_mutations",
    summary="prints around a buffer add_: token, buffer, user input; one buffer mutation",
)
def up_print_with_buffer_mutations(w, ns):
    aten = w.ops.aten

    class M(w.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("buf", w.ones(3))

        def forward(self, x):
            aten._print.default("moo")
            res = aten.add.Tensor(x, x)
            aten.add_.Tensor(self.buf, res)
            res = aten.add.Tensor(self.buf, x)
            aten._print.default("moo")
            return (res,)

    gm, sig = w.aot_export(M(), (w.ones(3),))
    return {"code": code(gm), "signature": fmt_signature(sig)}


@scenario(
    "up_print_with_input_mutations",
    specs=("TRC-1", "TRC-4"),
    source="upstream test_print_with_input_mutations",
    summary="prints around an input add_: one user input mutation",
)
def up_print_with_input_mutations(w, ns):
    aten = w.ops.aten

    class M(w.Module):
        def forward(self, x):
            aten._print.default("moo")
            res = aten.add.Tensor(x, x)
            aten.add_.Tensor(x, res)
            res = aten.add.Tensor(x, x)
            aten._print.default("moo")
            return (res,)

    gm, sig = w.aot_export(M(), (w.ones(3),))
    return {"code": code(gm), "signature": fmt_signature(sig)}


@scenario(
    "up_alias_op",
    specs=("TRC-8",),
    source="upstream test_alias_op",
    summary="make_fx of with_effects(aten.absolute_) on a 0-d tensor: aliasing error",
)
def up_alias_op(w, ns):
    absolute_ = w.ops.aten.absolute_.default

    def f(token, x):
        token, out = w.with_effects(token, absolute_, x)
        return token, out

    _, error = attempt(lambda: w.make_fx(f)(w.new_token(), w.tensor(4)))
    return {"error": error}


@scenario(
    "up_dce",
    specs=("TRC-12",),
    source="upstream test_dce (adapted: fake not symbolic, the op takes x, no scalar_tensor)",
    summary="plain make_fx of an unused ORDERED op: DCE keeps it, and running the graph logs",
)
def up_dce(w, ns):
    aten = w.ops.aten
    log = []

    def my_logger3(s, t):
        log.append(s)
        return w.zeros(1)

    define_op(
        w, ns, "my_logger3", "(str s, Tensor t) -> Tensor", my_logger3, lambda s, t: w.zeros(1)
    )
    logger = overload(w, ns, "my_logger3")

    def foo(x):
        logger("moo", x)
        return aten.add.Tensor(x, x)

    gm = w.make_fx(foo)(w.ones(3, 3))
    texts = dce_texts(w, gm)
    gm(w.ones(3, 3))
    texts["log"] = lines(texts["log"], f"kernel log after calling the graph: {log}")
    return texts


@scenario(
    "up_effects_and_input_mutation_return",
    specs=("TRC-1", "TRC-4"),
    source="upstream test_effects_and_input_mutation_return (adapted: b.copy_(a.sin()))",
    summary="print, then an input written and returned: token, mutated input, output",
)
def up_effects_and_input_mutation_return(w, ns):
    aten = w.ops.aten

    def fn(a, b):
        aten._print.default("effect")
        return aten.copy_.default(b, aten.sin.default(a))

    return backward_texts(w, fn, (w.ones(3, 3), w.ones(3, 3)), [])


@scenario(
    "up_effects_and_input_output_view_simple",
    specs=("TRC-4",),
    source="upstream test_effects_and_input_output_view_simple",
    summary="no effects, output a view of the input: no tokens at all",
)
def up_effects_and_input_output_view_simple(w, ns):
    aten = w.ops.aten

    def fn(a):
        return aten.view.default(a, [-1])

    return backward_texts(w, fn, (aten.add.Tensor(w.ones(2, 2, requires_grad=True), 1),), [])


@scenario(
    "up_effects_and_aliased_outputs",
    specs=("TRC-1", "TRC-4"),
    source="upstream test_effects_and_aliased_outputs (records the inference graph)",
    summary="a print between an intermediate and its view, both returned",
)
def up_effects_and_aliased_outputs(w, ns):
    aten = w.ops.aten

    def fn(a):
        b = aten.mul.Tensor(a, 2)
        aten._print.default("effect")
        c = aten.view.default(b, [-1])
        return b, c

    return backward_texts(w, fn, (w.ones(3),), [])


@scenario(
    "up_effects_and_input_mutation_is_output",
    specs=("TRC-1", "TRC-4"),
    source="upstream test_effects_and_input_mutation_is_output",
    summary="a.mul_(2), print, return a: the mutation is traced before the print",
)
def up_effects_and_input_mutation_is_output(w, ns):
    aten = w.ops.aten

    def fn(a):
        aten.mul_.Tensor(a, 2)
        aten._print.default("effect")
        return a

    return backward_texts(w, fn, (w.ones(3, 3),), [])


@scenario(
    "up_effectful_op_in_backward",
    specs=("TRC-13",),
    source="upstream test_effectful_op_in_backward (dense inputs only)",
    summary="ORDERED foo whose backward calls foo: forward and backward token chains",
)
def up_effectful_op_in_backward(w, ns):
    aten = w.ops.aten

    def foo(a):
        return aten.clone.default(a)

    op = define_op(w, ns, "foo", "(Tensor x) -> Tensor", foo, foo)
    foo_op = overload(w, ns, "foo")
    op.register_autograd(lambda ctx, grad: foo_op(grad))

    def fn(x, y):
        return aten.add.Tensor(foo_op(x), y)

    x = w.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = w.tensor([4.0, 5.0, 6.0], requires_grad=True)
    return backward_texts(w, fn, (x, y), [])


def _regular_effectful(w, fn):
    cos = w.ops.aten.cos.default
    x = w.tensor([1.0, 2.0, 3.0], requires_grad=True)
    return with_registered_effect(w, cos, "ORDERED", lambda: backward_texts(w, fn, (x,), []))


@scenario(
    "up_regular_effectful_op_only_in_backward",
    specs=("TRC-13",),
    source="upstream test_regular_effectful_op_only_in_backward (dense inputs only)",
    summary="aten.cos made ORDERED, used only by sin's backward: token only in the backward",
)
def up_regular_effectful_op_only_in_backward(w, ns):
    aten = w.ops.aten
    return _regular_effectful(w, lambda x: aten.sin.default(x))


@scenario(
    "up_regular_effectful_op_in_forward_and_backward",
    specs=("TRC-13",),
    source="upstream test_regular_effectful_op_in_forward_and_backward",
    summary="aten.cos made ORDERED, used in forward and in sin's backward",
)
def up_regular_effectful_op_in_forward_and_backward(w, ns):
    aten = w.ops.aten
    return _regular_effectful(w, lambda x: aten.sin.default(aten.cos.default(x)))


@scenario(
    "up_with_effects_through_functional_tensor_mode",
    specs=("TRC-10",),
    source="upstream test_with_effects_through_functional_tensor_mode (adapted: traced)",
    summary="explicit with_effects(_make_token(), add) under FunctionalTensorMode",
)
def up_with_effects_through_functional_tensor_mode(w, ns):
    aten, prims = w.ops.aten, w.ops.prims

    def fn_with_effects(x, y):
        token = prims._make_token.default()
        new_token, result = w.with_effects(token, aten.add.Tensor, x, y)
        return result

    x, y = w.tensor([1.0, 2.0]), w.tensor([3.0, 5.0])
    gm = w.functional_make_fx(fn_with_effects, (x, y))
    return {"code": code(gm), "log": f"gm(x, y) returned: {fmt_value(w, gm(x, y))}"}


# ---------------------------------------------------------------------------------------------
# Argument forms: what a mode, and so a traced graph, receives (DSP-22)
# ---------------------------------------------------------------------------------------------

FORMS_SCHEMA = ("(Tensor x, float s, int n=2, Scalar c=1, *, float k=1.5, bool b=False, "
                "Scalar d=3, int[] L=[1, 2]) -> Tensor")


def _define_forms(w, ns, log):
    """`forms(...)`: every parameter kind; the kernel logs what it received."""
    aten = w.ops.aten

    def forms(x, s, n=2, c=1, *, k=1.5, b=False, d=3, L=(1, 2)):
        log.append(repr((s, n, c, k, b, d, list(L))))
        return aten.add.Tensor(x, 1)

    def forms_fake(x, *args, **kwargs):
        return aten.empty_like.default(x)

    define_op(w, ns, "forms", FORMS_SCHEMA, forms, forms_fake)
    return overload(w, ns, "forms")


def _argument_forms_fn(w, forms):
    aten = w.ops.aten

    def f(x):
        a = aten.sub.Scalar(x, 1, alpha=2)  # keyword for a positional-or-keyword parameter
        a = aten.sub.Scalar(a, 1, alpha=1)  # equal to the default: left out
        a = aten.sub.Scalar(a, 1, 1.0)  # 1.0 is not the default 1
        a = aten.clone.default(a, memory_format=None)
        a = aten.mul.Tensor(a, 2)  # a number for a Tensor parameter
        a = aten.add.Tensor(a, other=2.5)
        a = aten.mul.Tensor(3, a)
        a = aten.sum.default(a, dtype=None)
        a = forms(a, 3)  # int for float
        a = forms(a, 3, 2, 1, k=1.5, b=False, d=3, L=[1, 2])  # every default given
        a = forms(a, s=3, n=4)
        a = forms(a, 3.0, True)  # bool for int
        a = forms(a, 3.0, 2, 5)
        a = forms(a, 3.0, 2, 1.0, k=2, d=True, L=(3,))
        a = forms(a, True, L=(1, 2))
        return (a,)

    return f


@scenario(
    "12_argument_forms",
    specs=("DSP-22", "TRC-9"),
    source="refimpl: torch's argument parser and parseIValuesToPyArgsKwargs",
    summary="keywords, defaults, ints for floats, numbers for tensors as a traced graph has them",
)
def argument_forms(w, ns):
    log = []
    forms = _define_forms(w, ns, log)
    f = _argument_forms_fn(w, forms)
    x = w.ones(2)
    gm = w.make_fx(f)(x)
    eager_log = list(log)
    f(x)
    exported, sig = w.aot_export(f, (x,))
    return {"make_fx": code(gm), "code": code(exported),
            "log": lines(f"kernel log while tracing: {eager_log}",
                         f"kernel log in eager: {log[len(eager_log):]}")}


@scenario(
    "12b_argument_errors",
    specs=("DSP-22",),
    source="refimpl: torch's createStackForSchema errors",
    summary="binding errors: too many, positional for keyword-only, missing, unknown, twice; "
            "numbers for tensors",
)
def argument_errors(w, ns):
    aten = w.ops.aten
    x = w.ones(2)
    log = []
    rec = define_rec(w, ns, log)
    calls = {
        "number for a custom op's Tensor": lambda y: rec(2, "a"),
        "number for sin's Tensor": lambda y: aten.sin.default(2),
        "number for copy_'s Tensor": lambda y: aten.copy_.default(aten.clone.default(y), 2),
        "too many": lambda y: aten.sin.default(y, 1),
        "positional for keyword-only": lambda y: aten.add.Tensor(y, y, 2),
        "missing": lambda y: aten.sub.Scalar(y),
        "missing before unknown": lambda y: aten.sub.Scalar(y, beta=2),
        "unknown keyword": lambda y: aten.sub.Scalar(y, 1, beta=2),
        "positional and keyword": lambda y: aten.sub.Scalar(y, 1, other=2),
    }
    out = []
    for label, thunk in calls.items():
        for mode, run in (("eager", lambda t=thunk: t(x)),
                          ("make_fx", lambda t=thunk: w.make_fx(t)(x))):
            result, err = attempt(run)
            out.append(f"{label} ({mode}): {err or 'ok'}")
    return {"log": lines(*out)}


@scenario(
    "12c_linalg_check_errors",
    specs=("DSP-23",),
    source="refimpl: aten::_linalg_check_errors (BatchLinearAlgebra.cpp)",
    summary="info dtype assert, then the message chosen by api_name, is_matrix and the info",
)
def linalg_check_errors(w, ns):
    check = w.ops.aten._linalg_check_errors.default
    out = []
    for dtype in ("int32", "int64", "float32"):
        for mode, run in (
            ("eager", lambda d=dtype: check(w.tensor([0], dtype=d), "api", is_matrix=True)),
            ("make_fx", lambda d=dtype: w.make_fx(
                lambda i: check(i, "api", is_matrix=True))(w.tensor([0], dtype=d))),
        ):
            _, err = attempt(run)
            out.append(f"{dtype} ({mode}): {err or 'ok'}")
    for api in ("api", "linalg.inv", "cholesky", "linalg.solve", "linalg.svd", "linalg.eigh",
                "linalg.lstsq", "torch.linalg.lu_factor"):
        for info, is_matrix in (([0], True), ([1], True), ([0, 2], False), ([-1], True),
                                ([0, -4], False), ([[0, 0], [3, 0]], False), ([0, 2], True)):
            _, err = attempt(lambda i=info, a=api, m=is_matrix: check(
                w.tensor(i, dtype="int32"), a, is_matrix=m))
            out.append(f"{api} {info} is_matrix={is_matrix}: {err or 'ok'}")
    return {"log": lines(*out)}


@scenario(
    "12d_bool_arith_errors",
    specs=("DSP-24",),
    source="refimpl: torch's bool checks of neg and sub (BinaryOps.cpp, UnaryOps.cpp)",
    summary="negating a bool tensor and subtracting with a bool operand, eager and traced",
)
def bool_arith_errors(w, ns):
    aten = w.ops.aten
    b, f = w.tensor([True, False], dtype="bool"), w.ones(2)
    calls = {
        "neg(bool)": (aten.neg.default, (b,)),
        "sub.Tensor(bool, bool)": (aten.sub.Tensor, (b, b)),
        "sub.Tensor(bool, float)": (aten.sub.Tensor, (b, f)),
        "sub.Tensor(float, bool)": (aten.sub.Tensor, (f, b)),
        "sub.Tensor(bool, True)": (aten.sub.Tensor, (b, True)),
        "sub.Tensor(bool, 1)": (aten.sub.Tensor, (b, 1)),
        "sub.Scalar(bool, True)": (aten.sub.Scalar, (b, True)),
        "sub.Scalar(float, True)": (aten.sub.Scalar, (f, True)),
        "sub.Scalar(bool, 1)": (aten.sub.Scalar, (b, 1)),
    }
    out = []
    for label, (op, args) in calls.items():
        result, err = attempt(lambda o=op, a=args: o(*a))
        out.append(f"{label} (eager): {err or fmt_value(w, result)}")
        _, err = attempt(lambda o=op, a=args: w.make_fx(lambda *t: o(*t))(*a))
        out.append(f"{label} (make_fx): {err or 'ok'}")
    return {"log": lines(*out)}


# ---------------------------------------------------------------------------------------------
# Profile switches observed in a world (tests/golden/record.py writes them to MANIFEST.json)
# ---------------------------------------------------------------------------------------------

_ASSERT_LINE = re.compile(r'BatchLinearAlgebra\.cpp":(\d+)')


def _error_of(thunk):
    try:
        thunk()
    except Exception as exc:  # noqa: BLE001 - the exception is the observation
        return exc
    raise AssertionError("expected the probe to raise, came no error")


def observe_bool_arith_error(w):
    """`bool_arith_error`: the type name of negating a bool tensor (DSP-24)."""
    return type(_error_of(lambda: w.ops.aten.neg.default(w.tensor([True], dtype="bool")))).__name__


def observe_linalg_assert_lines(w):
    """`linalg_assert_lines`: the source lines `_linalg_check_errors`' three asserts name
    (int64 info, a negative info, an unknown positive info; DSP-23)."""
    check = w.ops.aten._linalg_check_errors.default
    probes = (("int64", [0]), ("int32", [-1]), ("int32", [1]))
    found = []
    for dtype, info in probes:
        error = _error_of(lambda d=dtype, i=info: check(w.tensor(i, dtype=d), "api",
                                                          is_matrix=True))
        found.append(int(_ASSERT_LINE.search(str(error))[1]))
    return found


# Each observable profile switch and its probe: `record.py` records what torch answers, and
# the tests compare every profile with the recording of the builds it claims.
SWITCH_PROBES = {
    "bool_arith_error": observe_bool_arith_error,
    "linalg_assert_lines": observe_linalg_assert_lines,
}


def observe_switches(w):
    """`{switch: value}` of every probe in `SWITCH_PROBES`, as JSON values."""
    return {name: probe(w) for name, probe in SWITCH_PROBES.items()}
