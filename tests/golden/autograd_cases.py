"""Autograd cases, written once against an `api` and run in torch (recorded) and in refimpl.

Models: the eager autograd of torch 2.13.0 on the ops refimpl models: traced backward graphs
(`make_fx` of a function that calls `autograd.grad`, so the graph holds the formulas' ops in the
engine's order), grads, `grad_fn` names and edges, `.grad` accumulation, and the errors of bad
calls. `record_autograd.py` writes what torch does to `torch-<major.minor>/autograd.json`;
`tests/refimpl/test_autograd.py` compares refimpl with the recording.
Spec: AG-1 .. AG-9 (`specs/autograd.md`).

[NOTE: autograd api] `api` has: `op(name)` (an OpOverload by refimpl's op-table name,
`"aten::add.Tensor"`), `leaf(*shape, dtype="float32")` (a leaf that requires grad, filled with
`VALUES`), `plain(*shape, dtype="float32")` (the same values, no grad), `grad(outputs, inputs,
**kw)`, `backward(t, **kw)`, `make_fx(fn)(*args) -> gm`, `no_grad()`, `float64`, `tolist(t)`.
"""

from __future__ import annotations

from collections.abc import Callable

VALUES = (0.5, -1.25, 2.0, -0.75, 1.5, -2.5)
CASES: dict[str, Callable] = {}


def case(fn: Callable) -> Callable:
    CASES[fn.__name__] = fn
    return fn


def rounded(api, value) -> str:
    if value is None:
        return "None"
    data = api.tolist(value)

    def r(v):
        return [r(x) for x in v] if isinstance(v, list) else round(float(v), 4)

    return repr(r(data))


def error_of(thunk: Callable) -> str:
    try:
        thunk()
    except Exception as e:  # noqa: BLE001 - the type and text are the observation
        return f"{type(e).__name__}: {e}"
    return "no error"


def traced(api, fn, *shapes) -> dict[str, str]:
    """The backward graph make_fx traces, and the grads it computes eagerly."""
    gm = api.make_fx(fn)(*[api.leaf(*s) for s in shapes])
    grads = fn(*[api.leaf(*s) for s in shapes])
    return {"graph": gm.code.strip(), "grads": " ".join(rounded(api, g) for g in grads)}


def _sum(api, t):
    return api.op("aten::sum")(t)


@case
def chain_mul_sin_add_alpha(api):
    def fn(x, y):
        a = api.op("aten::mul.Tensor")(x, y)
        b = api.op("aten::sin")(a)
        c = api.op("aten::add.Tensor")(b, x, alpha=2)
        return api.grad(_sum(api, c), [x, y])

    return traced(api, fn, (3,), (3,))


@case
def abs_cos_sub_view(api):
    def fn(x):
        a = api.op("aten::abs")(x)
        b = api.op("aten::cos")(a)
        c = api.op("aten::sub.Tensor")(b, x, alpha=3)
        d = api.op("aten::mul.Tensor")(c, 2)
        e = api.op("aten::view")(d, [3, 1])
        return api.grad(_sum(api, e), [x])

    return traced(api, fn, (3,))


@case
def inplace_mul_abs_add(api):
    def fn(x):
        y = api.op("aten::clone")(x)
        api.op("aten::mul_.Tensor")(y, x)
        api.op("aten::abs_")(y)
        api.op("aten::add_.Tensor")(y, x)
        return api.grad(_sum(api, y), [x])

    return traced(api, fn, (3,))


@case
def broadcast_sum_to(api):
    def fn(x, w):
        return api.grad(_sum(api, api.op("aten::add.Tensor")(x, w)), [w])

    return traced(api, fn, (2, 3), (3,))


@case
def sum_dim_unsqueeze(api):
    def fn(x):
        s = api.op("aten::sum.dim_IntList")(x, [0])
        return api.grad(_sum(api, s), [x])

    return traced(api, fn, (2, 3))


@case
def expand_sum_to(api):
    def fn(x):
        return api.grad(_sum(api, api.op("aten::expand")(x, [2, 3])), [x])

    return traced(api, fn, (3,))


@case
def to_copy_and_back(api):
    def fn(x):
        s = api.op("aten::_to_copy")(x, dtype=api.float64)
        return api.grad(_sum(api, s), [x])

    return traced(api, fn, (3,))


@case
def copy_into_clone(api):
    def fn(x, y):
        z = api.op("aten::clone")(x)
        api.op("aten::copy_")(z, y)
        return api.grad(_sum(api, z), [x, y])

    return traced(api, fn, (3,), (3,))


@case
def engine_order_sin_cos(api):
    """Two branches from one leaf: the ready node with the higher sequence number (cos, made
    later) runs first, and the leaf's grads are summed in that order."""

    def fn(x):
        a = api.op("aten::sin")(x)
        b = api.op("aten::cos")(x)
        c = api.op("aten::mul.Tensor")(a, b)
        return api.grad(_sum(api, c), [x])

    return traced(api, fn, (3,))


@case
def scalar_overloads(api):
    def fn(x):
        a = api.op("aten::mul.Scalar")(x, 3)
        b = api.op("aten::add.Scalar")(a, 2)
        c = api.op("aten::sub.Scalar")(b, 1)
        d = api.op("aten::neg")(c)
        e = api.op("aten::clone")(d)
        return api.grad(_sum(api, e), [x])

    return traced(api, fn, (3,))


@case
def grad_fn_names(api):
    x, y = api.leaf(2), api.leaf(2)
    calls = {
        "add": lambda: api.op("aten::add.Tensor")(x, y),
        "add_scalar": lambda: api.op("aten::add.Scalar")(x, 1),
        "sub": lambda: api.op("aten::sub.Tensor")(x, y),
        "sub_scalar": lambda: api.op("aten::sub.Scalar")(x, 1),
        "mul": lambda: api.op("aten::mul.Tensor")(x, y),
        "mul_number": lambda: api.op("aten::mul.Tensor")(x, 2),
        "mul_scalar": lambda: api.op("aten::mul.Scalar")(x, 2),
        "sin": lambda: api.op("aten::sin")(x), "cos": lambda: api.op("aten::cos")(x),
        "neg": lambda: api.op("aten::neg")(x), "abs": lambda: api.op("aten::abs")(x),
        "absolute": lambda: api.op("aten::absolute")(x), "sgn": lambda: api.op("aten::sgn")(x),
        "clone": lambda: api.op("aten::clone")(x),
        "to_copy": lambda: api.op("aten::_to_copy")(x, dtype=api.float64),
        "view": lambda: api.op("aten::view")(x, [2, 1]),
        "unsqueeze": lambda: api.op("aten::unsqueeze")(x, 0),
        "expand": lambda: api.op("aten::expand")(x, [3, 2]),
        "sum": lambda: api.op("aten::sum")(x),
        "sum_dim": lambda: api.op("aten::sum.dim_IntList")(x, [0], True),
        "copy": lambda: api.op("aten::copy")(x, y),
        "lift_fresh_copy": lambda: api.op("aten::lift_fresh_copy")(x),
        # lift_fresh returns its argument itself: the leaf gets the op's grad_fn.
        "lift_fresh": lambda: api.op("aten::lift_fresh")(api.leaf(2)),
        "zeros_like": lambda: api.op("aten::zeros_like")(x),
        "ones_like": lambda: api.op("aten::ones_like")(x),
    }
    lines = []
    for name, call in calls.items():
        out = call()
        fn = out.grad_fn
        edges = [(e.name() if e is not None else None, i) for e, i in fn.next_functions] \
            if fn is not None else []
        lines.append(f"{name}: {fn.name() if fn is not None else None} "
                     f"requires_grad={out.requires_grad} edges={edges}")
    w = api.op("aten::clone")(x)
    for name, call in [("add_", lambda: api.op("aten::add_.Tensor")(w, y)),
                       ("mul_", lambda: api.op("aten::mul_.Tensor")(w, w)),
                       ("abs_", lambda: api.op("aten::abs_")(w)),
                       ("copy_", lambda: api.op("aten::copy_")(w, y))]:
        call()
        lines.append(f"{name}: {w.grad_fn.name()} version={w._version}")
    return {"names": "\n".join(lines)}


@case
def accumulation_and_retain(api):
    x = api.leaf(3)
    y = _sum(api, api.op("aten::mul.Tensor")(x, x))
    api.backward(y, retain_graph=True)
    first = rounded(api, x.grad)
    api.backward(y)
    second = rounded(api, x.grad)
    z = api.leaf(3)
    w = api.leaf(3)
    api.backward(_sum(api, api.op("aten::mul.Tensor")(z, w)), inputs=[z])
    return {"grads": f"{first} {second} inputs=[z]: {rounded(api, z.grad)} {rounded(api, w.grad)}"}


@case
def grad_mode(api):
    x = api.leaf(2)
    with api.no_grad():
        a = api.op("aten::sin")(x)
    b = api.op("aten::sin")(x)
    return {"names": f"no_grad: {a.requires_grad} {a.grad_fn}; enabled: {b.requires_grad} "
                     f"{b.grad_fn.name()}; leaf: {x.is_leaf} {b.is_leaf}"}


@case
def bad_calls(api):
    errors = {}
    x = api.leaf(3)
    errors["non-scalar backward"] = error_of(
        lambda: api.backward(api.op("aten::mul.Tensor")(x, 2)))
    errors["no grad required"] = error_of(lambda: api.backward(_sum(api, api.plain(3))))
    y = _sum(api, api.op("aten::sin")(x))
    api.backward(y)
    errors["second backward, saved tensors freed"] = error_of(lambda: api.backward(y))
    errors["leaf written in place"] = error_of(lambda: api.op("aten::add_.Tensor")(x, 1))
    errors["grad of an unused input"] = error_of(
        lambda: api.grad(_sum(api, api.op("aten::mul.Tensor")(x, 2)), [api.leaf(1)]))
    errors["grad of an input without grad"] = error_of(
        lambda: api.grad(_sum(api, api.op("aten::mul.Tensor")(x, 2)), [api.plain(1)]))
    errors["grad output of the wrong shape"] = error_of(
        lambda: api.backward(api.op("aten::mul.Tensor")(x, 2), gradient=api.plain(2)))
    errors["requires_grad_() on an integer tensor"] = error_of(
        lambda: api.plain(2, dtype="int64").requires_grad_())
    errors["requires_grad = True on an integer tensor"] = error_of(
        lambda: setattr(api.plain(2, dtype="int64"), "requires_grad", True))
    errors["requires_grad set on a non-leaf"] = error_of(
        lambda: setattr(api.op("aten::mul.Tensor")(x, 2), "requires_grad", False))
    a = api.leaf(3)
    b = api.op("aten::cos")(a)
    c = api.op("aten::sin")(b)
    api.op("aten::mul_.Tensor")(b, 2)
    errors["saved input written in place"] = error_of(lambda: api.backward(_sum(api, c)))
    a2 = api.leaf(3)
    c2 = api.op("aten::sin")(a2)
    with api.no_grad():
        api.op("aten::mul_.Tensor")(a2, 2)
    errors["saved leaf written under no_grad"] = error_of(lambda: api.backward(_sum(api, c2)))
    errors["no formula"] = error_of(
        lambda: api.backward(_sum(api, api.op("aten::copy")(x, x))))
    errors["empty inputs"] = error_of(
        lambda: api.backward(_sum(api, api.op("aten::mul.Tensor")(x, 2)), inputs=[]))
    return {"errors": "\n".join(f"{k}: {v}" for k, v in errors.items())}


@case
def anomaly_mode_hint(api):
    """The version error's hint with anomaly mode on (AOTAutograd traces joints so, AG-11)."""
    import warnings  # noqa: PLC0415

    a = api.leaf(3)
    b = api.op("aten::cos")(a)
    c = api.op("aten::sin")(b)
    api.op("aten::mul_.Tensor")(b, 2)
    with warnings.catch_warnings():  # torch warns that anomaly mode is on, and where it failed
        warnings.simplefilter("ignore")
        with api.detect_anomaly(check_nan=False):
            error = error_of(lambda: api.backward(_sum(api, c)))
    a2 = api.leaf(3)
    b2 = api.op("aten::cos")(a2)
    c2 = api.op("aten::sin")(b2)
    api.op("aten::mul_.Tensor")(b2, 2)
    after = error_of(lambda: api.backward(_sum(api, c2)))
    return {"errors": f"under detect_anomaly: {error}\nafter it: {after}"}


def _normalized(api, text: str) -> str:
    return text.replace(api.ns, "ns")


def _recording_ops(api, log: list):
    """`rec(x, tag)`: appends `tag` to `log` and returns a clone (its grad passes through); `f1`
    is sin with a backward
    that records `f1.backward`, `f2` cos with one that records `f2.backward`."""
    op = api.op

    rec = api.custom_op("rec", "(Tensor x, str tag) -> Tensor",
                        lambda x, tag: (log.append(tag), op("aten::clone")(x))[1])
    f1 = api.custom_op("f1", "(Tensor x) -> Tensor", lambda x: op("aten::sin")(x))
    f2 = api.custom_op("f2", "(Tensor x) -> Tensor", lambda x: op("aten::cos")(x))

    def save(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    def f1_backward(ctx, g):
        (x,) = ctx.saved_tensors
        return op("aten::mul.Tensor")(rec(g, "f1.backward"), op("aten::cos")(x))

    def f2_backward(ctx, g):
        (x,) = ctx.saved_tensors
        return op("aten::mul.Tensor")(rec(g, "f2.backward"), op("aten::neg")(
            op("aten::sin")(x)))

    rec.register_autograd(lambda ctx, g: (g, None))  # the tag is a str: no grad
    f1.register_autograd(f1_backward, setup_context=save)
    f2.register_autograd(f2_backward, setup_context=save)
    return rec, f1, f2


@case
def custom_op_backward_effects(api):
    """Backward formulas that call a recording custom op: the log holds the forward events,
    then the backward events in the engine's order (the node made later first when both are
    ready; a chain in dependency order)."""
    log: list = []
    rec, f1, f2 = _recording_ops(api, log)
    x = api.leaf(3)
    a = f1(rec(x, "forward a"))
    b = f2(rec(x, "forward b"))
    api.backward(_sum(api, api.op("aten::mul.Tensor")(a, b)))
    branches = list(log)
    log.clear()
    y = api.leaf(3)
    api.backward(_sum(api, f1(f2(y))))
    return {"log": f"branches: {branches}\nchain: {log}", "grads": f"{rounded(api, x.grad)} "
            f"{rounded(api, y.grad)}",
            "names": _normalized(api, f"{a.grad_fn.name()} "
                                      f"{[(n.name(), i) for n, i in a.grad_fn.next_functions]}")}


@case
def custom_op_backward_traced(api):
    log: list = []
    rec, f1, f2 = _recording_ops(api, log)

    def fn(x):
        return api.grad(_sum(api, api.op("aten::mul.Tensor")(f1(x), f2(x))), [x])

    texts = traced(api, fn, (3,))
    texts["graph"] = _normalized(api, texts["graph"])
    return texts


@case
def custom_op_bad_backwards(api):
    op = api.op
    no_formula = api.custom_op("plain", "(Tensor x) -> Tensor", lambda x: op("aten::sin")(x))
    too_many = api.custom_op("many", "(Tensor x) -> Tensor", lambda x: op("aten::sin")(x))
    too_many.register_autograd(lambda ctx, g: (g, g))
    wrong_shape = api.custom_op("shape", "(Tensor x) -> Tensor", lambda x: op("aten::sin")(x))
    wrong_shape.register_autograd(lambda ctx, g: api.plain(5))
    x = api.leaf(2)
    errors = {name: error_of(lambda f=f: api.backward(_sum(api, f(x))))
              for name, f in [("no formula", no_formula), ("too many grads", too_many),
                              ("wrong shape", wrong_shape)]}
    return {"errors": _normalized(api, "\n".join(f"{k}: {v}" for k, v in errors.items()))}


@case
def custom_op_undefined_grad_materialized(api):
    """A formula returns None for the input that an earlier custom op's output feeds: that op's
    node is still reached, its grad materialized as zeros (AG-10), so its backward runs and the
    leaf gets zeros through it; a builtin node with no defined grad (sin) adds nothing."""
    op = api.op
    log: list = []

    def record(tag):
        def backward(ctx, g):
            log.append(f"{tag}: {rounded(api, g)}")
            return g
        return backward

    first = api.custom_op("first", "(Tensor x) -> Tensor", lambda x: op("aten::sin")(x))
    first.register_autograd(record("first"))
    both = api.custom_op("both", "(Tensor x, Tensor other) -> Tensor",
                         lambda x, other: op("aten::sin")(x))
    both.register_autograd(lambda ctx, g: (g, None))
    x, y = api.leaf(3), api.leaf(3)
    z = both(x, first(y))
    w = both(x, op("aten::sin")(y))
    api.backward(_sum(api, op("aten::add.Tensor")(z, w)))
    return {"log": "\n".join(log), "grads": f"{rounded(api, x.grad)} {rounded(api, y.grad)}"}


@case
def function_returning_its_input(api):
    """A Function whose forward returns its input: the output is a view of it whose grad_fn is
    the Function's node, and the input keeps its own history (a leaf stays a leaf)."""
    op = api.op

    class Twice(api.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return op("aten::mul.Tensor")(g, 2)

    x = api.leaf(3)
    y = Twice.apply(x)
    api.backward(_sum(api, y))
    return {"history": f"same object {y is x}, input is leaf {x.grad_fn is None}, output node "
                       f"{type(y.grad_fn).__name__}",
            "grads": rounded(api, x.grad)}


@case
def function_marks_an_output_non_differentiable(api):
    """``ctx.mark_non_differentiable``: that output requires no grad and has no node; the
    backward still runs with a materialized zero grad for it."""
    op = api.op
    seen: list = []

    class Pair(api.Function):
        @staticmethod
        def forward(ctx, x):
            a, b = op("aten::sin")(x), op("aten::cos")(x)
            ctx.mark_non_differentiable(b)
            return a, b

        @staticmethod
        def backward(ctx, ga, gb):
            seen.append(f"ga {rounded(api, ga)} gb {rounded(api, gb)}")
            return ga

    x = api.leaf(3)
    a, b = Pair.apply(x)
    history = f"a {a.requires_grad} {type(a.grad_fn).__name__}, b {b.requires_grad} {b.grad_fn}"
    api.backward(_sum(api, a))
    return {"history": history, "log": "\n".join(seen), "grads": rounded(api, x.grad)}
