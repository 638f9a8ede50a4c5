"""refimpl's grads agree with central finite differences on drawn chains of the modelled ops.

Models: the gradcheck idea (``torch.autograd.gradcheck``): for a scalar function f of a float64
input, each partial derivative is ``(f(x + h e_i) - f(x - h e_i)) / 2h``; the analytic grad from
``refimpl.autograd.grad`` must agree within a tolerance. Programs are drawn by Hypothesis: a
chain of unary ops (``sin``, ``cos``, ``neg``, ``clone``, ``view``), binary ops with the other
input or a number (``add``/``sub`` with ``alpha``, ``mul``), in-place forms on clones,
broadcasting against a row, ``sum.dim_IntList`` and ``expand``, and the sum that ends it.
Spec: AG-3, AG-4, AG-5, AG-6.

Simplifications:
1. No ``abs``: its derivative jumps at 0, where a chain may bring a value.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refimpl import aten, autograd

OPS = aten.OPS
STEPS = st.lists(st.sampled_from(["sin", "cos", "neg", "clone", "view", "add_y", "sub_y_alpha",
                                  "mul_y", "mul_2", "add_row", "mul_inplace", "add_inplace",
                                  "sum_dim", "expand"]), min_size=1, max_size=8)
VALUES = st.lists(st.floats(0.1, 2.0) | st.floats(-2.0, -0.1), min_size=6, max_size=6)


def _chain(steps: list[str], x, y, row):
    t = x
    for step in steps:
        if step == "sin":
            t = OPS["aten::sin"](t)
        elif step == "cos":
            t = OPS["aten::cos"](t)
        elif step == "neg":
            t = OPS["aten::neg"](t)
        elif step == "clone":
            t = OPS["aten::clone"](t)
        elif step == "view":
            t = OPS["aten::view"](OPS["aten::view"](t, [-1]), list(t.shape))
        elif step == "add_y":
            t = OPS["aten::add.Tensor"](t, y)
        elif step == "sub_y_alpha":
            t = OPS["aten::sub.Tensor"](t, y, alpha=0.5)
        elif step == "mul_y":
            t = OPS["aten::mul.Tensor"](t, y)
        elif step == "mul_2":
            t = OPS["aten::mul.Tensor"](t, 2)
        elif step == "add_row":
            t = OPS["aten::add.Tensor"](t, row)
        elif step == "mul_inplace":
            t = OPS["aten::clone"](t)
            OPS["aten::mul_.Tensor"](t, y)
        elif step == "add_inplace":
            t = OPS["aten::clone"](t)
            OPS["aten::add_.Tensor"](t, row, alpha=2)
        elif step == "sum_dim":
            t = OPS["aten::expand"](OPS["aten::sum.dim_IntList"](t, [0]), [2, 3])
        elif step == "expand":
            t = OPS["aten::sum.dim_IntList"](OPS["aten::expand"](t, [2, 2, 3]), [0])
    return OPS["aten::sum"](t)


def _tensor(values: list[float], shape: tuple[int, ...]):
    return OPS["aten::view"](aten.tensor(values, dtype="float64"), list(shape))


@pytest.mark.spec("AG-3", "AG-4", "AG-5", "AG-6")
@settings(max_examples=60, deadline=None)
@given(steps=STEPS, xs=VALUES, ys=VALUES, rs=st.lists(st.floats(-2.0, 2.0), min_size=3,
                                                      max_size=3))
def test_grads_agree_with_finite_differences(steps, xs, ys, rs) -> None:
    x = _tensor(xs, (2, 3)).requires_grad_()
    y = _tensor(ys, (2, 3)).requires_grad_()
    row = _tensor(rs, (3,)).requires_grad_()
    gx, gy, grow = autograd.grad(_chain(steps, x, y, row), [x, y, row], allow_unused=True)

    def f(xv, yv, rv):
        with autograd.no_grad():
            out = _chain(steps, _tensor(xv, (2, 3)), _tensor(yv, (2, 3)), _tensor(rv, (3,)))
        return float(out.item())

    h = 1e-6
    inputs = [xs, ys, rs]
    for k, (name, grad) in enumerate([("x", gx), ("y", gy), ("row", grow)]):
        numeric = []
        for i in range(len(inputs[k])):
            up = [list(v) for v in inputs]
            down = [list(v) for v in inputs]
            up[k][i] += h
            down[k][i] -= h
            numeric.append((f(*up) - f(*down)) / (2 * h))
        values = inputs[k]
        analytic = np.zeros(len(values)) if grad is None else grad.numpy().reshape(-1)
        assert np.allclose(analytic, numeric, rtol=1e-4, atol=1e-4), (
            f"d/d{name} of {steps}: autograd {analytic.tolist()} vs finite differences "
            f"{numeric}")
