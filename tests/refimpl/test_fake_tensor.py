"""Tests for refimpl/fake_tensor.py: FakeTensor and FakeTensorMode.

Models: ``torch/_subclasses/fake_tensor.py`` at torch 2.13.0, observed in
/work/shared/reference/torch-2.13/scenarios/07_fake_tensor_mode.
Spec: DSP-14, DSP-15 (and EFF-15 for with_effects under the mode, in test_effects.py).

Fake outputs must have exactly the shape and dtype the dense kernels produce, on every backend
(``scripts/gpu-check.sh`` runs this file with ``REFIMPL_BACKEND=cupy``).
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import refimpl
import tests.strategies as st_
from refimpl import dtype as dtypes
from refimpl import ops
from refimpl.dispatch_key import DispatchKey
from refimpl.effect_log import record_effects
from refimpl.fake_tensor import FakeTensor, FakeTensorMode
from refimpl.library import _scoped_library, custom_op
from refimpl.tensor import Tensor

K = DispatchKey
DTYPES = {name: dtypes.get_dtype(name) for name in st_.DTYPE_NAMES}


def _dense(shape, dtype_name) -> Tensor:
    return refimpl.zeros(*shape, dtype=DTYPES[dtype_name])


# Ops whose fake result is compared with the dense result: name -> (call, dtypes it accepts).
_BINARY = ("add.Tensor", "sub.Tensor", "mul.Tensor")
_UNARY = (
    "sin.default",
    "cos.default",
    "neg.default",
    "clone.default",
    "sum.default",
    "absolute.default",
    "zeros_like.default",
    "empty_like.default",
)


def _call(name: str, *args, **kwargs):
    packet, overload = name.split(".")
    return getattr(getattr(ops.aten, packet), overload)(*args, **kwargs)


@pytest.mark.spec("DSP-15")
@st_.fast_settings(80)
@given(data=st.data())
def test_fake_binary_outputs_match_dense(data):
    name = data.draw(st.sampled_from(_BINARY), label="op")
    shape_a, shape_b = data.draw(st_.broadcast_shapes(), label="shapes")
    dtype_a = data.draw(st_.dtype_names(), label="self dtype")
    dtype_b = data.draw(st_.dtype_names(), label="other dtype")
    assume(not (name == "sub.Tensor" and "bool" in (dtype_a, dtype_b)))
    dense = _call(name, _dense(shape_a, dtype_a), _dense(shape_b, dtype_b))
    mode = FakeTensorMode()
    with mode:
        fake = _call(
            name,
            mode.from_tensor(_dense(shape_a, dtype_a)),
            mode.from_tensor(_dense(shape_b, dtype_b)),
        )
    assert isinstance(fake, FakeTensor), f"expected a FakeTensor, came {type(fake)}"
    assert (fake.shape, fake.dtype) == (dense.shape, dense.dtype), (
        f"{name}: expected dense {dense.shape} {dense.dtype}, came {fake.shape} {fake.dtype}"
    )
    assert fake._data is None and fake.fake_mode is mode, "expected no data, the same mode"


@pytest.mark.spec("DSP-15")
@st_.fast_settings(80)
@given(data=st.data())
def test_fake_unary_outputs_match_dense(data):
    name = data.draw(st.sampled_from(_UNARY), label="op")
    shape = data.draw(st_.shapes(), label="shape")
    dtype_name = data.draw(st_.dtype_names(), label="dtype")
    assume(not (name in ("neg.default", "absolute.default") and dtype_name == "bool"))
    dense = _call(name, _dense(shape, dtype_name))
    with FakeTensorMode() as mode:
        fake = _call(name, mode.from_tensor(_dense(shape, dtype_name)))
    assert (fake.shape, fake.dtype) == (dense.shape, dense.dtype), (
        f"{name}: expected dense {dense.shape} {dense.dtype}, came {fake.shape} {fake.dtype}"
    )


@pytest.mark.spec("DSP-15")
@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("zeros", lambda: refimpl.zeros(2, 3, dtype=refimpl.int64)),
        ("ones", lambda: refimpl.ones(4)),
        ("empty", lambda: refimpl.empty(3, 4)),
        ("full", lambda: refimpl.full((2,), True)),
        ("arange", lambda: refimpl.arange(5)),
        ("tensor", lambda: refimpl.tensor([1.0, 2.0])),
        ("token", lambda: refimpl.tensor([])),
        ("view", lambda: refimpl.arange(6).view(3, 2)),
        ("make_token", lambda: ops.prims._make_token.default()),
    ],
)
def test_factories_under_the_mode_are_fake(name, make):
    dense = make()
    with FakeTensorMode():
        fake = make()
    assert isinstance(fake, FakeTensor), f"{name}: expected a FakeTensor, came {type(fake)}"
    assert (fake.shape, fake.dtype) == (dense.shape, dense.dtype), f"{name}: {fake!r}"


@pytest.mark.spec("DSP-15")
def test_print_under_the_mode_prints_nothing_and_returns_none(capsys):
    # ref 07_fake_tensor_mode: "direct aten._print under FakeTensorMode returns: None".
    with FakeTensorMode(), record_effects() as log:
        out = ops.aten._print.default("direct print in fake mode")
    assert out is None, f"expected None, came {out!r}"
    assert capsys.readouterr().out == "", "expected nothing printed"
    assert log == [], f"expected no effect events, came {log}"


@pytest.mark.spec("DSP-15")
def test_custom_op_fake_impl_and_missing_fake_impl():
    # ref 07_fake_tensor_mode: the fake impl runs (its dtype wins); without one, RuntimeError.
    log = []
    with _scoped_library("fakeq", "FRAGMENT") as lib:
        rec = custom_op(
            "fakeq::rec",
            lambda x, tag: log.append(("real", tag)) or x + 1,
            mutates_args=(),
            lib=lib,
            schema="(Tensor x, str tag) -> Tensor",
        )
        rec.register_fake(
            lambda x, tag: (
                log.append(("fake", tag)) or ops.aten.empty_like.default(x, dtype=refimpl.float64)
            )
        )
        def nofake(x):  # torch's message names the implementing function
            return x.clone()

        custom_op(
            "fakeq::nofake",
            nofake,
            mutates_args=(),
            lib=lib,
            schema="(Tensor x) -> Tensor",
        )
        with FakeTensorMode():
            x = refimpl.empty(3, 4)
            out = ops.fakeq.rec.default(x, "a")
            with pytest.raises(RuntimeError) as excinfo:
                ops.fakeq.nofake.default(x)
    assert log == [("fake", "a")], f"expected only the fake impl to run, came {log}"
    assert (out.shape, out.dtype) == ((3, 4), refimpl.float64), f"came {out!r}"
    expected = (
        "There was no fake impl registered for <CustomOpDef(fakeq::nofake)>. This is necessary "
        "for torch.compile/export/fx tracing to work. Please use `nofake.register_fake` to add "
        "an fake impl."
    )
    assert str(excinfo.value) == expected, f"expected {expected!r}, came {excinfo.value}"


@pytest.mark.spec("DSP-15")
def test_real_inputs_are_rejected_unless_allowed():
    real = refimpl.ones(2)
    with FakeTensorMode() as mode:
        fake = refimpl.ones(2)
        with pytest.raises(AssertionError) as excinfo:
            real + fake
    prefix = (
        "Please convert all Tensors to FakeTensors first or instantiate FakeTensorMode with "
        "'allow_non_fake_inputs'. Found in aten.add.Tensor"
    )  # torch 2.13.0's message, which then prints the arguments
    assert str(excinfo.value).startswith(prefix), f"expected {prefix!r}..., {excinfo.value}"
    with FakeTensorMode(allow_non_fake_inputs=True):
        out = real + refimpl.ones(2)
    assert isinstance(out, FakeTensor) and out.shape == (2,), f"came {out!r}"
    assert isinstance(fake, FakeTensor) and fake.fake_mode is mode, "expected the mode's tensor"


@pytest.mark.spec("DSP-15")
def test_shape_errors_under_the_mode_match_dense():
    with FakeTensorMode(), pytest.raises(RuntimeError) as excinfo:
        refimpl.empty(2) + refimpl.empty(3)
    expected = (
        "The size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 0"
    )
    assert str(excinfo.value) == expected, f"expected {expected!r}, came {excinfo.value}"


@pytest.mark.spec("DSP-14", "DSP-15")
def test_from_tensor_and_fake_keys():
    mode = FakeTensorMode()
    dense = refimpl.ones(2, 3, dtype=refimpl.int64)
    fake = mode.from_tensor(dense)
    assert (fake.shape, fake.dtype, fake.device) == ((2, 3), refimpl.int64, dense.device), (
        f"expected the dense metadata, came {fake!r}"
    )
    assert mode.from_tensor(fake) is fake, "expected a fake tensor of the same mode unchanged"
    expected = set(dense.dispatch_keys()) | {K.Python, K.PythonTLSSnapshot}
    assert set(fake.dispatch_keys()) == expected, (
        f"expected {expected}, came {fake.dispatch_keys()}"
    )
    assert repr(fake) == f"FakeTensor(shape=(2, 3), dtype=torch.int64, device={dense.device})", (
        f"came {fake!r}"
    )
    with pytest.raises(RuntimeError):
        fake.numpy()


@pytest.mark.spec("DSP-13", "DSP-15")
def test_fake_tensor_used_without_the_mode_reenters_it():
    fake = FakeTensorMode().from_tensor(refimpl.ones(2))
    out = fake.sin() + fake
    assert isinstance(out, FakeTensor) and out.fake_mode is fake.fake_mode, f"came {out!r}"
