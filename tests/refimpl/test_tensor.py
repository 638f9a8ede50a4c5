"""Tests for refimpl/tensor.py and refimpl/dtype.py: key sets, metadata, dtypes, bad inputs.

Models: ``torch.Tensor`` as dispatch sees it (``torch._C._dispatch_keys``), ``torch.result_type``
and the tensor factories of torch 2.13.0.
Spec: DSP-14, DSP-20.

Promotion is checked against a model written from torch's ``ResultTypeState`` (three tiers
combined with ``combine_categories``, ``aten/src/ATen/native/TypeProperties.cpp``), a different
formulation from refimpl's tier loop; test_differential_core.py compares both with torch itself.
Error messages quoted here are torch 2.13.0's (also compared live there).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import refimpl
import tests.strategies as st_
from refimpl import dtype as dtypes
from refimpl import ops
from refimpl.dispatch_key import DispatchKey
from refimpl.fake_tensor import FakeTensorMode
from refimpl.functional_tensor import FunctionalTensor, FunctionalTensorMode

K = DispatchKey
DTYPES = {name: dtypes.get_dtype(name) for name in st_.DTYPE_NAMES}

DENSE_CPU_KEYS = {K.CPU, K.ADInplaceOrView, K.AutogradCPU, K.AutocastCPU}
META_KEYS = {K.Meta, K.ADInplaceOrView, K.AutogradMeta}
PYTHON_KEYS = {K.Python, K.PythonTLSSnapshot}


# -- DSP-14: key sets ------------------------------------------------------------------------------


@pytest.mark.spec("DSP-14")
@pytest.mark.parametrize("dtype_name", st_.DTYPE_NAMES)
def test_dense_tensor_keys(dtype_name):
    t = refimpl.zeros(2, dtype=DTYPES[dtype_name])
    came = set(t.dispatch_keys())
    assert came == DENSE_CPU_KEYS, f"expected {DENSE_CPU_KEYS}, came {came}"


@pytest.mark.spec("DSP-14")
def test_meta_tensor_keys():
    t = ops.aten.zeros.default([2], device="meta")
    came = set(t.dispatch_keys())
    # torch 2.13.0: DispatchKeySet(Meta, ADInplaceOrView, AutogradMeta).
    assert came == META_KEYS, f"expected {META_KEYS}, came {came}"
    assert t.is_meta and t._data is None, "expected a meta tensor without data"


@pytest.mark.spec("DSP-14")
def test_fake_and_functional_wrapper_keys():
    fake = FakeTensorMode().from_tensor(refimpl.ones(2))
    came = set(fake.dispatch_keys())
    assert came == DENSE_CPU_KEYS | PYTHON_KEYS, f"fake tensor keys came {came}"
    wrapper = FunctionalTensor._wrap(refimpl.ones(2), FunctionalTensorMode())
    came = set(wrapper.dispatch_keys())
    assert came == DENSE_CPU_KEYS | PYTHON_KEYS, f"functional wrapper keys came {came}"


@pytest.mark.spec("DSP-14")
@pytest.mark.xfail(
    strict=True,
    reason="FunctionalTensor.elem is the plain inner tensor; torch's inner tensor is a "
    "FunctionalTensorWrapper that also carries DispatchKey.Functionalize",
)
def test_tensor_inside_a_functional_tensor_has_functionalize():
    wrapper = FunctionalTensor._wrap(refimpl.ones(2), FunctionalTensorMode())
    came = set(wrapper.elem.dispatch_keys())
    expected = DENSE_CPU_KEYS | {K.Functionalize}
    assert came == expected, f"expected {expected}, came {came}"


# -- metadata and factories ------------------------------------------------------------------------


def test_metadata():
    t = refimpl.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    came = (t.shape, t.size(), t.size(1), t.dim(), t.ndim, t.numel(), len(t), t.device)
    expected = ((2, 3), (2, 3), 3, 2, 2, 6, 2, "cpu")
    assert came == expected, f"expected {expected}, came {came}"
    assert t.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], f"came {t.tolist()}"
    assert refimpl.tensor(7).item() == 7, "expected item() of a one-element tensor"


@pytest.mark.parametrize(
    ("make", "dtype_name", "shape"),
    [
        # torch 2.13.0's defaults (torch.zeros, torch.full, torch.arange, torch.tensor).
        (lambda: refimpl.zeros(2, 3), "float32", (2, 3)),
        (lambda: refimpl.ones(2, dtype=refimpl.int64), "int64", (2,)),
        (lambda: refimpl.empty(0), "float32", (0,)),
        (lambda: refimpl.full((2,), 3), "int64", (2,)),
        (lambda: refimpl.full((2,), True), "bool", (2,)),
        (lambda: refimpl.full((2,), 1.5), "float32", (2,)),
        (lambda: refimpl.arange(3), "int64", (3,)),
        (lambda: refimpl.arange(3.0), "float32", (3,)),
        (lambda: refimpl.tensor([]), "float32", (0,)),
        (lambda: refimpl.tensor(1), "int64", ()),
        (lambda: refimpl.tensor(True), "bool", ()),
        (lambda: refimpl.tensor(2.5), "float32", ()),
        (lambda: refimpl.tensor([1, 2.5]), "float32", (2,)),
        (lambda: refimpl.tensor([[True]]), "bool", (1, 1)),
    ],
)
def test_factory_dtypes_and_shapes(make, dtype_name, shape):
    t = make()
    assert (t.dtype, t.shape) == (DTYPES[dtype_name], shape), (
        f"expected {dtype_name} {shape}, came {t.dtype} {t.shape}"
    )


def test_dtype_objects_print_like_torch():
    for name, d in DTYPES.items():
        assert repr(d) == f"torch.{name}", f"expected torch.{name}, came {d!r}"
        assert dtypes.get_dtype(f"torch.{name}") is d, f"expected torch.{name} to resolve"


# -- DSP-20: promotion -----------------------------------------------------------------------------

# torch.promote_types on the modelled dtypes (c10/core/ScalarType.h, promoteTypes).
_ORDER = ("bool", "int64", "float32", "float64")


def _promote(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    if {a, b} == {"int64", "float32"}:
        return "float32"
    return max(a, b, key=_ORDER.index)


def _is_float(name: str | None) -> bool:
    return name in st_.FLOAT_DTYPE_NAMES


def _combine_categories(higher: str | None, lower: str | None) -> str | None:
    """torch's combine_categories for the modelled dtypes (no complex types)."""
    if _is_float(higher):
        return higher
    if higher == "bool" or _is_float(lower):
        return _promote(higher, lower)
    return higher if higher is not None else lower


def _scalar_dtype(value) -> str:
    if isinstance(value, bool):
        return "bool"
    return "int64" if isinstance(value, int) else "float32"  # the default dtype


def model_result_type(operands) -> str:
    """torch's ResultTypeState: dimensioned, zero-dim and wrapped-number tiers."""
    tiers = {"tensor": None, "zero_dim": None, "scalar": None}
    for kind, _, value in operands:
        name = _scalar_dtype(value) if kind == "scalar" else value
        tiers[kind] = _promote(tiers[kind], name)
    return _combine_categories(
        tiers["tensor"], _combine_categories(tiers["zero_dim"], tiers["scalar"])
    )


def _refimpl_result_type(operands):
    tiers = {"tensor": [], "zero_dim": [], "scalar": []}
    for kind, _, value in operands:
        tiers[kind].append(value if kind == "scalar" else DTYPES[value])
    return dtypes.result_type(tiers["tensor"], tiers["zero_dim"], tiers["scalar"])


@pytest.mark.spec("DSP-20")
@pytest.mark.parametrize(
    ("operands", "expected"),
    [
        # The examples of DSP-20 and [NOTE: promotion tiers].
        ([("tensor", (4,), "int64"), ("scalar", None, 2.5)], "float32"),
        ([("tensor", (4,), "float32"), ("zero_dim", (), "float64")], "float32"),
        ([("tensor", (4,), "float32"), ("tensor", (4,), "float64")], "float64"),
        ([("tensor", (4,), "bool"), ("scalar", None, 3)], "int64"),
        ([("tensor", (4,), "int64"), ("zero_dim", (), "float64")], "float64"),
        ([("tensor", (4,), "bool"), ("scalar", None, True)], "bool"),
    ],
)
def test_promotion_examples(operands, expected):
    came = _refimpl_result_type(operands)
    assert came is DTYPES[expected], f"expected {expected}, came {came}"
    assert model_result_type(operands) == expected, "the model disagrees with DSP-20's example"


@pytest.mark.spec("DSP-20")
@st_.fast_settings(100)
@given(data=st.data())
def test_promotion_matches_torchs_tier_model(data):
    operands = data.draw(st.lists(st_.operands(), min_size=1, max_size=4), label="operands")
    expected = model_result_type(operands)
    came = _refimpl_result_type(operands)
    assert came is DTYPES[expected], f"{operands}: expected {expected}, came {came}"


def _make_operand(kind, shape, value):
    """A value of the operand's tier; every dimensioned tensor has shape (2,) so they broadcast."""
    if kind == "scalar":
        return value
    return refimpl.zeros(*((2,) if shape else ()), dtype=DTYPES[value])


@pytest.mark.spec("DSP-20")
@st_.fast_settings(100)
@given(data=st.data())
def test_binary_op_output_dtype_follows_promotion(data):
    first = data.draw(st_.operands(allow_scalar=False), label="self")
    second = data.draw(st_.operands(), label="other")
    op = data.draw(st.sampled_from([ops.aten.add.Tensor, ops.aten.mul.Tensor]), label="op")
    expected = model_result_type([first, second])
    out = op(_make_operand(*first), _make_operand(*second))
    assert out.dtype is DTYPES[expected], f"{op}({first}, {second}): expected {expected}"


# -- bad inputs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["float16", "complex64", 5, None.__class__])
def test_unknown_dtypes_are_type_errors(bad):
    with pytest.raises(TypeError) as excinfo:
        refimpl.zeros(2, dtype=bad)
    assert "bool, float32, float64, int32, int64" in str(excinfo.value), (
        f"expected the known dtypes listed, came {excinfo.value}"
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        # torch 2.13.0's messages.
        (
            lambda: refimpl.tensor([1.0, 2.0]) + refimpl.tensor([1.0, 2.0, 3.0]),
            "The size of tensor a (2) must match the size of tensor b (3) at non-singleton "
            "dimension 0",
        ),
        (
            lambda: ops.aten.mul.Tensor(refimpl.ones(2, 3), refimpl.ones(4, 3)),
            "The size of tensor a (2) must match the size of tensor b (4) at non-singleton "
            "dimension 0",
        ),
        (lambda: refimpl.tensor([1.0, 2.0]).view(3), "shape '[3]' is invalid for input of size 2"),
        (
            lambda: refimpl.tensor([1.0, 2.0]).view(-1, 3),
            "shape '[-1, 3]' is invalid for input of size 2",
        ),
        (lambda: refimpl.tensor([1.0, 2.0]).view(-1, -1), "only one dimension can be inferred"),
        (
            lambda: ops.aten.add_.Tensor(refimpl.ones(2), refimpl.ones(2, 2)),
            "output with shape [2] doesn't match the broadcast shape [2, 2]",
        ),
        (
            lambda: ops.aten.add_.Tensor(refimpl.tensor([1]), refimpl.tensor([1.5])),
            "result type Float can't be cast to the desired output type Long",
        ),
        (
            lambda: refimpl.tensor([1.0, 2.0]).item(),
            "a Tensor with 2 elements cannot be converted to Scalar",
        ),
    ],
    ids=[
        "add",
        "mul-2d",
        "view",
        "view-infer",
        "view-two-infer",
        "add_-shape",
        "add_-dtype",
        "item",
    ],
)
def test_shape_and_dtype_errors_match_torch(call, message):
    with pytest.raises(RuntimeError) as excinfo:
        call()
    assert str(excinfo.value) == message, f"expected {message!r}, came {excinfo.value}"


def test_len_of_a_zero_dim_tensor():
    with pytest.raises(TypeError) as excinfo:
        len(refimpl.tensor(1.0))
    assert str(excinfo.value) == "len() of a 0-d tensor", f"came {excinfo.value}"


KNOWN_MESSAGE_BUGS = [
    pytest.param(
        lambda: ops.aten.add.Tensor(refimpl.tensor([1.0]), "x"),
        RuntimeError,
        "aten::add() Expected a value of type 'Tensor' for argument 'other' but instead found "
        "type 'str'.",
        id="add-str-other",
    ),
    pytest.param(
        lambda: ops.aten.sin.default("x"),
        RuntimeError,
        "aten::sin() Expected a value of type 'Tensor' for argument 'self' but instead found "
        "type 'str'.",
        id="sin-str",
    ),
    pytest.param(
        lambda: ops.aten._print.default(3),
        RuntimeError,
        "aten::_print() Expected a value of type 'str' for argument 's' but instead found type "
        "'int'.",
        id="print-int",
    ),
    pytest.param(
        lambda: ops.aten.sub.Tensor(refimpl.tensor([True]), refimpl.tensor([False])),
        RuntimeError,
        "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
        "`logical_xor()` operator instead.",
        id="sub-bool-bool",
    ),
    pytest.param(
        lambda: ops.aten.sub.Tensor(refimpl.tensor([True]), refimpl.tensor([1])),
        RuntimeError,
        "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying "
        "to invert a mask, use the `~` or `logical_not()` operator instead.",
        id="sub-bool-int",
    ),
    pytest.param(
        lambda: ops.aten.neg.default(refimpl.tensor([True])),
        RuntimeError,
        "Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
        "invert a mask, use the `~` or `logical_not()` operator instead.",
        id="neg-bool",
    ),
    pytest.param(
        lambda: ops.aten.add.Tensor(refimpl.tensor([1]), refimpl.tensor([1]), alpha=1.5),
        RuntimeError,
        "For integral input tensors, argument alpha must not be a floating point number.",
        id="int-float-alpha",
    ),
    pytest.param(
        lambda: ops.aten.absolute.default(refimpl.tensor([True])),
        NotImplementedError,
        "\"abs_cpu\" not implemented for 'Bool'",
        id="absolute-bool",
    ),
    pytest.param(
        lambda: refimpl.zeros(-1),
        RuntimeError,
        "zeros: Dimension size must be non-negative.",
        id="negative-size",
    ),
    pytest.param(
        lambda: bool(refimpl.tensor([1.0, 2.0])),
        RuntimeError,
        "Boolean value of Tensor with more than one value is ambiguous",
        id="bool-of-two",
    ),
    pytest.param(
        lambda: refimpl.tensor([[1, 2], [3]]),
        ValueError,
        "expected sequence of length 2 at dim 1 (got 1)",
        id="ragged",
    ),
    pytest.param(
        lambda: refimpl.tensor("abc"),
        TypeError,
        "new(): invalid data type 'str'",
        id="str-data",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), KNOWN_MESSAGE_BUGS)
def test_bad_inputs_raise_torchs_error(call, error, message):
    # torch 2.13.0's type and message (run here; test_differential_core.py compares live).
    with pytest.raises(error) as excinfo:
        call()
    # torch's argument-check messages go on with Position/Value/Declaration lines (compared
    # live in test_differential_core.py); the first line is the message proper.
    first = str(excinfo.value).splitlines()[0]
    assert first == message, f"expected {message!r}, came {excinfo.value}"


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: ops.aten.add.Tensor(refimpl.tensor([1.0]), "x"), (TypeError, RuntimeError)),
        (lambda: refimpl.tensor("abc"), TypeError),
        (lambda: refimpl.tensor(None), TypeError),
    ],
    ids=["add-str", "tensor-str", "tensor-none"],
)
def test_bad_inputs_raise_clear_errors(call, error):
    with pytest.raises(error):
        call()
