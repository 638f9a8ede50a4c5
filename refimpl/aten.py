"""The modelled aten/prims/profiler operators, with their dense and meta kernels.

Models: the native functions of torch 2.13.0 that effect tokens meet: their schemas (as
``str(op._schema)`` prints them), their CPU results and their meta (shape/dtype) rules; also the
tensor methods and factories of ``torch/_tensor.py`` and ``torch/__init__.py`` that call them.
Spec: DSP-13, DSP-20, DSP-21, EFF-8 (the effectful ops exist before they are registered).

Simplifications:
1. No aliasing: ``view`` returns a new tensor; in-place ops replace the array their ``self`` holds.
2. ``empty``/``empty_like`` fill with zeros (torch leaves memory uninitialised).
3. ``rand``/``randn`` take an explicit ``seed`` and draw with numpy's ``default_rng`` on the host.
4. Kernels use only the array API standard (checked by running the dense tests on
   array-api-strict), so the same code runs on numpy and CuPy.
5. ``aten::_async_error`` (in the seed, gone from torch 2.13) is defined as ``(str msg) -> ()`` and
   raises ``RuntimeError(msg)`` when run.
6. A tensor's device is a plain string (``"cpu"``); the factories pass a ``backend.device``
   (a string with torch's repr) only so that a recorded call prints as torch's does
   ([NOTE: tensor options]).
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import numpy as np

from refimpl import dtype as dtypes
from refimpl.backend import device as backend_device
from refimpl.backend import get_backend
from refimpl.dispatch_key import DispatchKey
from refimpl.effect_log import log_effect
from refimpl.mode_stack import _len_torch_dispatch_stack
from refimpl.operator import _CPP_KERNEL_KEYS, OpOverload, define_schema, schema_type_error
from refimpl.profiles import get_profile
from refimpl.tensor import Tensor

__all__ = [
    "arange", "empty", "full", "ones", "rand", "randn", "tensor", "zeros",
]

K = DispatchKey

# [NOTE: schemas as torch prints them] Each string is ``str(op._schema)`` from torch 2.13.0.
SCHEMAS = (
    "aten::_print(str s) -> ()",
    "aten::_async_error(str msg) -> ()",
    "aten::_linalg_check_errors(Tensor info, str api_name, *, bool is_matrix) -> ()",
    "prims::_make_token() -> Tensor",
    "prims::_sink_tokens(Tensor[] tokens) -> ()",
    "profiler::_record_function_exit._RecordFunction("
    "__torch__.torch.classes.profiler._RecordFunction record) -> ()",
    "aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor",
    "aten::add.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor",
    "aten::sub.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor",
    "aten::sub.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor",
    "aten::mul.Tensor(Tensor self, Tensor other) -> Tensor",
    "aten::mul.Scalar(Tensor self, Scalar other) -> Tensor",
    "aten::lt.Scalar(Tensor self, Scalar other) -> Tensor",
    "aten::lt.Tensor(Tensor self, Tensor other) -> Tensor",
    "aten::gt.Scalar(Tensor self, Scalar other) -> Tensor",
    "aten::gt.Tensor(Tensor self, Tensor other) -> Tensor",
    "aten::sin(Tensor self) -> Tensor",
    "aten::cos(Tensor self) -> Tensor",
    "aten::neg(Tensor self) -> Tensor",
    "aten::clone(Tensor self, *, MemoryFormat? memory_format=None) -> Tensor",
    "aten::_to_copy(Tensor self, *, ScalarType? dtype=None, Layout? layout=None, "
    "Device? device=None, bool? pin_memory=None, bool non_blocking=False, "
    "MemoryFormat? memory_format=None) -> Tensor",
    "aten::view(Tensor(a) self, SymInt[] size) -> Tensor(a)",
    "aten::sum(Tensor self, *, ScalarType? dtype=None) -> Tensor",
    "aten::empty_like(Tensor self, *, ScalarType? dtype=None, Layout? layout=None, "
    "Device? device=None, bool? pin_memory=None, MemoryFormat? memory_format=None) -> Tensor",
    "aten::zeros_like(Tensor self, *, ScalarType? dtype=None, Layout? layout=None, "
    "Device? device=None, bool? pin_memory=None, MemoryFormat? memory_format=None) -> Tensor",
    "aten::copy_(Tensor(a!) self, Tensor src, bool non_blocking=False) -> Tensor(a!)",
    "aten::add_.Tensor(Tensor(a!) self, Tensor other, *, Scalar alpha=1) -> Tensor(a!)",
    "aten::mul_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)",
    "aten::absolute_(Tensor(a!) self) -> Tensor(a!)",
    "aten::absolute(Tensor self) -> Tensor",
    "aten::abs(Tensor self) -> Tensor",
    "aten::abs_(Tensor(a!) self) -> Tensor(a!)",
    "aten::copy(Tensor self, Tensor src, bool non_blocking=False) -> Tensor",
    "aten::lift_fresh(Tensor(a) self) -> Tensor(a)",
    "aten::lift_fresh_copy(Tensor self) -> Tensor",
    "aten::empty.memory_format(SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, "
    "Device? device=None, bool? pin_memory=None, MemoryFormat? memory_format=None) -> Tensor",
    "aten::zeros(SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, "
    "Device? device=None, bool? pin_memory=None) -> Tensor",
    "aten::ones(SymInt[] size, *, ScalarType? dtype=None, Layout? layout=None, "
    "Device? device=None, bool? pin_memory=None) -> Tensor",
    "aten::full(SymInt[] size, Scalar fill_value, *, ScalarType? dtype=None, "
    "Layout? layout=None, Device? device=None, bool? pin_memory=None) -> Tensor",
    "aten::arange(Scalar end, *, ScalarType? dtype=None, Layout? layout=None, "
    "Device? device=None, bool? pin_memory=None) -> Tensor",
    # The ops the modelled derivative formulas call (refimpl/autograd/_functions.py).
    "aten::expand(Tensor(a) self, SymInt[] size, *, bool implicit=False) -> Tensor(a)",
    "aten::unsqueeze(Tensor(a) self, int dim) -> Tensor(a)",
    "aten::squeeze.dim(Tensor(a) self, int dim) -> Tensor(a)",
    "aten::sgn(Tensor self) -> Tensor",
    "aten::sum.dim_IntList(Tensor self, int[1]? dim, bool keepdim=False, *, "
    "ScalarType? dtype=None) -> Tensor",
    "aten::ones_like(Tensor self, *, ScalarType? dtype=None, Layout? layout=None, "
    "Device? device=None, bool? pin_memory=None, MemoryFormat? memory_format=None) -> Tensor",
)

# [NOTE: one op table] ``SCHEMAS`` is the one list of modelled operators: the oracle's
# modelled aten ops (``oracle.behaviors.KNOWN_ATEN_OPS``, what programs may call and the fuzzer
# draws) are its ``aten`` ops less ``SEED_ONLY_OPS``; which of them are effectful is the active
# profile's ``import_registrations``. torch's own schemas are recorded by
# ``oracle/tools/record_aten_schemas.py`` and a test checks that they equal these strings.
SEED_ONLY_OPS = frozenset({"aten::_async_error"})  # torch 2.13.0 has none (Simplification 5)

OPS: dict[str, OpOverload] = {}
for _text in SCHEMAS:
    _op = define_schema(_text)
    OPS[_op._name] = _op

dense_kernels: dict[OpOverload, Callable[..., Any]] = {}
meta_kernels: dict[OpOverload, Callable[..., Any]] = {}


def _register(name: str, dense: Callable, meta: Callable) -> None:
    op = OPS[name]
    dense_kernels[op] = dense
    meta_kernels[op] = meta
    op.py_impl(K.CompositeExplicitAutograd)(dense)
    op.py_impl(K.Meta)(meta)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
_TORCH_NAMES = {
    "float32": "Float", "float64": "Double", "int32": "Int", "int64": "Long", "bool": "Bool",
}


def _wrap(data: Any, dt: dtypes.dtype, device: str) -> Tensor:
    return Tensor._make(data, tuple(data.shape), dt, device)


def _meta(shape: tuple[int, ...], dt: dtypes.dtype) -> Tensor:
    return Tensor._make(None, tuple(shape), dt, "meta")


def _device_arg(device: Any) -> str:
    """The device a factory kernel makes its tensor on: the argument as a plain string."""
    return get_backend().device if device is None else str(device)


def _type_error(op: str, expected: str, arg: str, value: Any) -> RuntimeError:
    """torch's argument-check message for ``aten::<op>`` (``"sin"`` or ``"add.Tensor"``)."""
    name, _, overload = op.partition(".")
    schema_op = OPS.get(f"aten::{name}" + (f".{overload}" if overload else ""))
    if schema_op is not None:
        return schema_type_error(schema_op._schema, expected, arg, value)
    return RuntimeError(f"aten::{name}() Expected a value of type '{expected}' for argument "
                        f"'{arg}' but instead found type '{type(value).__name__}'.")


def _check_tensor(value: Any, op: str, arg: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise _type_error(op, "Tensor", arg, value)
    return value


def _check_scalar(value: Any, op: str, arg: str, expected: str = "Scalar") -> Any:
    if isinstance(value, Tensor) or not isinstance(value, (bool, int, float)):
        raise _type_error(op, expected, arg, value)
    return value


# torch refuses these bool forms with its own messages (aten/src/ATen/native/BinaryOps.cpp).
_SUB_BOOL_BOOL = ("Subtraction, the `-` operator, with two bool tensors is not supported. Use the "
                  "`^` or `logical_xor()` operator instead.")
_SUB_BOOL = ("Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
             "trying to invert a mask, use the `~` or `logical_not()` operator instead.")
_NEG_BOOL = ("Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
             "invert a mask, use the `~` or `logical_not()` operator instead.")


def _bool_arith_error(message: str) -> Exception:
    """torch 2.13 raises these as RuntimeError, 2.14 as NotImplementedError (DSP-24)."""
    kind = {"RuntimeError": RuntimeError, "NotImplementedError": NotImplementedError}
    return kind[get_profile().bool_arith_error](message)


def _is_bool(x: Any) -> bool:
    return x.dtype is dtypes.bool_ if isinstance(x, Tensor) else isinstance(x, bool)


def _check_sub(self: Tensor, other: Any, *, meta: bool = False) -> None:
    """torch's bool checks of ``sub``; the meta kernel's are those of fake tensors (DSP-24).

    [NOTE: bool sub under fake] A fake tensor runs ``torch._refs.sub``, which checks after type
    promotion and only when both operands are tensors: so under fake only two bool tensors are
    refused, and ``bool - float``, ``bool - True`` and ``sub.Scalar`` trace (recorded:
    tests/golden, 12d_bool_arith_errors).
    """
    if meta:
        if isinstance(self, Tensor) and isinstance(other, Tensor) and _is_bool(self) \
                and _is_bool(other):
            raise _bool_arith_error(_SUB_BOOL_BOOL)
        return
    if _is_bool(self) and _is_bool(other):
        raise _bool_arith_error(_SUB_BOOL_BOOL)
    if _is_bool(self) or _is_bool(other):
        raise _bool_arith_error(_SUB_BOOL)


def _check_alpha(dt: dtypes.dtype, alpha: Any) -> None:
    """The eager kernels' ``alpha_check`` on the result dtype (``BinaryOps.h``)."""
    if isinstance(alpha, bool) and dt is not dtypes.bool_:
        raise RuntimeError("Boolean alpha only supported for Boolean results.")
    if isinstance(alpha, float) and not dt.is_floating_point:
        raise RuntimeError(
            "For integral input tensors, argument alpha must not be a floating point number."
        )


_PYTHON_TYPE_RANK = {bool: 0, int: 1, float: 2}


def _check_alpha_meta(dt: dtypes.dtype, alpha: Any) -> None:
    """What a fake ``add.Tensor``/``sub.Tensor`` checks instead (``torch._refs.add``/``sub``,
    run as their decomposition): an ``alpha`` of a Python type above the result's (a float for
    an integer result) is a ValueError; a bool result and a bool ``alpha`` pass."""
    if dt is dtypes.bool_:
        return
    result_type = float if dt.is_floating_point else int
    if _PYTHON_TYPE_RANK.get(type(alpha), 3) > _PYTHON_TYPE_RANK[result_type]:
        raise ValueError(f"alpha argument of type {type(alpha)} cannot be safely cast to type "
                         f"{result_type}!")


def broadcast_shapes(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """Torch's broadcasting, with its error message for mismatched sizes."""
    if a == b:
        return a
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        da = a[-i] if i <= len(a) else 1
        db = b[-i] if i <= len(b) else 1
        if da != db and 1 not in (da, db):
            dim = max(len(a), len(b)) - i
            raise RuntimeError(
                f"The size of tensor a ({da}) must match the size of tensor b ({db}) at "
                f"non-singleton dimension {dim}"
            )
        out.append(da if db == 1 else db)
    return tuple(reversed(out))


def _binary_dtype(self: Tensor, other: Any) -> dtypes.dtype:
    if isinstance(other, Tensor):
        if other.dtype is self.dtype:
            return self.dtype
        tiers: tuple[list, list] = ([], [])
        for t in (self, other):
            tiers[0 if t.shape else 1].append(t.dtype)
        return dtypes.result_type(tiers[0], tiers[1], [])
    tier = [self.dtype]
    return dtypes.result_type(tier if self.shape else [], [] if self.shape else tier, [other])


def _operand(x: Any, dt: dtypes.dtype) -> Any:
    backend = get_backend()
    target = backend.dtypes[dt.name]
    if isinstance(x, Tensor):
        data = x._data
        return data if x.dtype is dt else backend.xp.astype(data, target)
    return backend.xp.asarray(x, dtype=target)


def _binary(fn: Callable[[Any, Any], Any], overload: str, with_alpha: bool,
            scalar_other: bool) -> tuple[Callable, Callable]:
    """Dense and meta kernels of an elementwise binary op (``add.Tensor`` & co.).

    On bool results ``add``/``mul`` are ``logical_or``/``logical_and``: the array API has no
    ``+``/``*`` for bool arrays, and that is what torch computes.
    """
    opname = overload.split(".")[0]
    bool_fn = _BOOL_FNS.get(opname)

    def check(self: Any, other: Any, alpha: Any, meta: bool) -> tuple[dtypes.dtype, Tensor | None]:
        """The result dtype, and the tensor operand whose shape and device the result has
        (None when both operands are numbers)."""
        if not isinstance(self, Tensor) and not isinstance(other, Tensor):
            # [NOTE: numbers only] Both operands numbers (``add.Tensor(2, 3)``,
            # ``mul.Scalar(2.5, 2)``): torch wraps each into a zero-dim tensor, promotes them
            # as Python scalars (int -> int64, float -> the default dtype, bool -> bool) and
            # returns a zero-dim result.
            _check_scalar(self, overload, "self", "Tensor")
            _check_scalar(other, overload, "other", "Scalar" if scalar_other else "Tensor")
            tensor, number = None, other
        elif not isinstance(self, Tensor) and not scalar_other and isinstance(other, Tensor):
            # A number for ``self`` of a Tensor overload: torch wraps it (a "wrapped number",
            # promoted as a Python scalar), so ``other`` decides shape and device.
            _check_scalar(self, overload, "self", "Tensor")
            tensor, number = other, self
        else:
            _check_tensor(self, overload, "self")
            if scalar_other or not isinstance(other, Tensor):
                # A Tensor overload also takes a Python number for ``other``.
                _check_scalar(other, overload, "other", "Scalar" if scalar_other else "Tensor")
            tensor, number = self, other
        if opname == "sub":
            _check_sub(self, other, meta=meta)
        dt = (dtypes.result_type([], [], [self, other]) if tensor is None
              else _binary_dtype(tensor, number))
        if with_alpha:
            # [NOTE: alpha checks] Eager kernels (and a fake call on numbers only, which
            # holds no fake tensor) run alpha_check; a fake Tensor overload runs the
            # reference's check instead; a fake Scalar overload checks nothing (observed on
            # torch 2.13: tests/refimpl/test_alpha.py).
            if not meta or tensor is None:
                _check_alpha(dt, alpha)
            elif not scalar_other:
                _check_alpha_meta(dt, alpha)
        return dt, tensor

    def shape_of(self: Any, other: Any, tensor: Tensor | None) -> tuple[int, ...]:
        if isinstance(self, Tensor) and isinstance(other, Tensor):
            return broadcast_shapes(self.shape, other.shape)
        return () if tensor is None else tensor.shape

    def dense(self: Any, other: Any, alpha: Any = 1) -> Tensor:
        dt, tensor = check(self, other, alpha, False)
        shape = shape_of(self, other, tensor)
        b = _operand(other, dt)
        if with_alpha and alpha != 1:
            b = b * _operand(alpha, dt)
        a = _operand(self, dt)
        out = (bool_fn or fn)(a, b) if dt is dtypes.bool_ else fn(a, b)
        device = _device_arg(None) if tensor is None else tensor.device
        return Tensor._make(out, shape, dt, device)

    def meta(self: Any, other: Any, alpha: Any = 1) -> Tensor:
        dt, tensor = check(self, other, alpha, True)
        return _meta(shape_of(self, other, tensor), dt)

    if with_alpha and not scalar_other:
        def dense_kw(self, other, *, alpha=1):
            return dense(self, other, alpha)

        def meta_kw(self, other, *, alpha=1):
            return meta(self, other, alpha)

        return dense_kw, meta_kw
    return dense, meta


_BOOL_FNS = {
    "add": lambda a, b: get_backend().xp.logical_or(a, b),
    "mul": lambda a, b: get_backend().xp.logical_and(a, b),
}

for _name, _fn, _alpha, _scalar in (
    ("aten::add.Tensor", lambda a, b: a + b, True, False),
    ("aten::add.Scalar", lambda a, b: a + b, True, True),
    ("aten::sub.Tensor", lambda a, b: a - b, True, False),
    ("aten::sub.Scalar", lambda a, b: a - b, True, True),
    ("aten::mul.Tensor", lambda a, b: a * b, False, False),
    ("aten::mul.Scalar", lambda a, b: a * b, False, True),
):
    _register(_name, *_binary(_fn, _name.split("::")[1], _alpha, _scalar))


def _compare(xp_name: str, overload: str, scalar_other: bool) -> tuple[Callable, Callable]:
    """Dense and meta kernels of a comparison (``lt.Scalar`` & co.): the operands promoted as
    for arithmetic, compared elementwise, a bool result of the broadcast shape."""

    def check(self: Any, other: Any) -> tuple[dtypes.dtype, tuple[int, ...]]:
        _check_tensor(self, overload, "self")
        if scalar_other or not isinstance(other, Tensor):
            _check_scalar(other, overload, "other", "Scalar" if scalar_other else "Tensor")
            return _binary_dtype(self, other), self.shape
        return _binary_dtype(self, other), broadcast_shapes(self.shape, other.shape)

    def dense(self: Any, other: Any) -> Tensor:
        dt, shape = check(self, other)
        out = getattr(get_backend().xp, xp_name)(_operand(self, dt), _operand(other, dt))
        return Tensor._make(out, shape, dtypes.bool_, self.device)

    def meta(self: Any, other: Any) -> Tensor:
        _, shape = check(self, other)
        return _meta(shape, dtypes.bool_)

    return dense, meta


for _name, _xp_name in (("aten::lt.Scalar", "less"), ("aten::lt.Tensor", "less"),
                        ("aten::gt.Scalar", "greater"), ("aten::gt.Tensor", "greater")):
    _register(_name, *_compare(_xp_name, _name.split("::")[1], _name.endswith("Scalar")))


def _unary(xp_name: str, opname: str, floating: bool) -> tuple[Callable, Callable]:
    """Dense and meta kernels of an elementwise unary op; ``floating`` ops promote ints."""

    def out_dtype(self: Tensor) -> dtypes.dtype:
        if floating and not self.dtype.is_floating_point:
            return dtypes.DEFAULT_FLOAT
        return self.dtype

    def dense(self: Tensor) -> Tensor:
        _check_tensor(self, opname, "self")
        if opname == "neg" and self.dtype is dtypes.bool_:
            raise _bool_arith_error(_NEG_BOOL)
        dt = out_dtype(self)
        return Tensor._make(getattr(get_backend().xp, xp_name)(_operand(self, dt)),
                            self.shape, dt, self.device)

    def meta(self: Tensor) -> Tensor:
        _check_tensor(self, opname, "self")
        if opname == "neg" and self.dtype is dtypes.bool_:
            raise _bool_arith_error(_NEG_BOOL)
        return _meta(self.shape, out_dtype(self))

    return dense, meta


_register("aten::sin", *_unary("sin", "sin", True))
_register("aten::cos", *_unary("cos", "cos", True))
_register("aten::neg", *_unary("negative", "neg", False))


def clone_dense(self: Tensor, *, memory_format: Any = None) -> Tensor:
    _check_tensor(self, "clone", "self")
    return Tensor._make(get_backend().xp.asarray(self._data, copy=True), self.shape, self.dtype,
                        self.device)


def clone_meta(self: Tensor, *, memory_format: Any = None) -> Tensor:
    return _meta(self.shape, self.dtype)


_register("aten::clone", clone_dense, clone_meta)


# ``_to_copy`` is what functionalization calls when an in-place op's functional result has
# another dtype than the tensor it writes ([NOTE: in-place dtype cast] in functional_tensor.py);
# a program may call it too. ``device`` must be the tensor's own (refimpl moves no data).
def _to_copy_dtype(self: Tensor, dtype: Any, layout: Any, device: Any) -> dtypes.dtype:
    _check_tensor(self, "_to_copy", "self")
    if layout not in (None, dtypes.strided):
        raise RuntimeError(f"_to_copy: unsupported layout {layout!r}")
    if device is not None and str(device) != str(self.device):
        raise RuntimeError(f"_to_copy: refimpl copies within a device, got {device!r}")
    return self.dtype if dtype is None else dtype


def _to_copy_dense(self: Tensor, *, dtype: Any = None, layout: Any = None, device: Any = None,
                   pin_memory: Any = None, non_blocking: bool = False,
                   memory_format: Any = None) -> Tensor:
    dt = _to_copy_dtype(self, dtype, layout, device)
    backend = get_backend()
    arr = backend.xp.asarray(self._data, dtype=backend.dtypes[dt.name], copy=True)
    return Tensor._make(arr, self.shape, dt, self.device)


def _to_copy_meta(self: Tensor, *, dtype: Any = None, layout: Any = None, device: Any = None,
                  pin_memory: Any = None, non_blocking: bool = False,
                  memory_format: Any = None) -> Tensor:
    return _meta(self.shape, _to_copy_dtype(self, dtype, layout, device))


_register("aten::_to_copy", _to_copy_dense, _to_copy_meta)


def _view_shape(self: Tensor, size: Any) -> tuple[int, ...]:
    if not isinstance(size, (list, tuple)) or not all(isinstance(s, int) for s in size):
        raise TypeError(f"view(): argument 'size' must be tuple of ints, not {size!r}")
    size = list(size)
    numel = self.numel()
    if size.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if -1 in size:
        known = 1
        for s in size:
            known *= s if s != -1 else 1
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{size}' is invalid for input of size {numel}")
        size[size.index(-1)] = numel // known
    total = 1
    for s in size:
        total *= s
    if total != numel:
        raise RuntimeError(f"shape '{list(size)}' is invalid for input of size {numel}")
    return tuple(size)


def view_dense(self: Tensor, size: Any) -> Tensor:
    _check_tensor(self, "view", "self")
    shape = _view_shape(self, size)
    return Tensor._make(get_backend().xp.reshape(self._data, shape), shape, self.dtype,
                        self.device)


def view_meta(self: Tensor, size: Any) -> Tensor:
    return _meta(_view_shape(self, size), self.dtype)


_register("aten::view", view_dense, view_meta)


def _sum_dtype(self: Tensor, dtype: Any) -> dtypes.dtype:
    if dtype is not None:
        return dtypes.get_dtype(dtype)
    return self.dtype if self.dtype.is_floating_point else dtypes.int64


def sum_dense(self: Tensor, *, dtype: Any = None) -> Tensor:
    _check_tensor(self, "sum", "self")
    dt = _sum_dtype(self, dtype)
    xp = get_backend().xp
    return Tensor._make(xp.sum(_operand(self, dt)), (), dt, self.device)


def sum_meta(self: Tensor, *, dtype: Any = None) -> Tensor:
    return _meta((), _sum_dtype(self, dtype))


_register("aten::sum", sum_dense, sum_meta)


def _sum_dims(self: Tensor, dim: Any) -> tuple[int, ...]:
    """``make_dim_mask``: ``None`` or ``[]`` reduces every dimension."""
    ndim = len(self.shape)
    if not dim:
        return tuple(range(ndim))
    bound = max(ndim, 1)
    out: list[int] = []
    for d in dim:
        d = _wrap_dim(d, bound)
        if d in out:
            raise RuntimeError(f"dim {d} appears multiple times in the list of dims")
        out.append(d)
    return tuple(d for d in out if d < ndim)


def _sum_dim_shape(self: Tensor, dims: tuple[int, ...], keepdim: bool) -> tuple[int, ...]:
    return tuple(1 if i in dims else s for i, s in enumerate(self.shape)
                 if keepdim or i not in dims)


def sum_dim_dense(self: Tensor, dim: Any, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    _check_tensor(self, "sum", "self")
    dims = _sum_dims(self, dim)
    dt = _sum_dtype(self, dtype)
    xp = get_backend().xp
    data = xp.sum(_operand(self, dt), axis=dims, keepdims=keepdim) if dims else \
        xp.asarray(_operand(self, dt), copy=True)
    return Tensor._make(data, _sum_dim_shape(self, dims, keepdim), dt, self.device)


def sum_dim_meta(self: Tensor, dim: Any, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    dims = _sum_dims(self, dim)
    return _meta(_sum_dim_shape(self, dims, keepdim), _sum_dtype(self, dtype))


_register("aten::sum.dim_IntList", sum_dim_dense, sum_dim_meta)


def _expand_shape(self: Tensor, size: Any) -> tuple[int, ...]:
    """``inferExpandGeometry``: -1 keeps a size; new dimensions go in front."""
    if not isinstance(size, (list, tuple)) or not all(isinstance(s, int) for s in size):
        raise TypeError(f"expand(): argument 'size' must be tuple of ints, not {size!r}")
    shape = self.shape
    if len(size) < len(shape):
        raise RuntimeError(
            f"expand({_type_string(self)}{{[{', '.join(map(str, shape))}]}}, "
            f"size=[{', '.join(map(str, size))}]): the number of sizes provided ({len(size)}) "
            f"must be greater or equal to the number of dimensions in the tensor "
            f"({len(shape)})")
    lead = len(size) - len(shape)
    out: list[int] = []
    for i, target in enumerate(size):
        if i < lead:
            if target < 0:
                raise RuntimeError(f"The expanded size of the tensor ({target}) isn't allowed in "
                                   f"a leading, non-existing dimension {i}")
            out.append(target)
            continue
        have = shape[i - lead]
        if target == -1:
            target = have
        if have != target and have != 1:
            raise RuntimeError(
                f"The expanded size of the tensor ({target}) must match the existing size "
                f"({have}) at non-singleton dimension {i}.  Target sizes: "
                f"[{', '.join(map(str, size))}].  Tensor sizes: [{', '.join(map(str, shape))}]")
        out.append(target)
    return tuple(out)


def _type_string(t: Tensor) -> str:
    return f"torch.{'cuda.' if t.device == 'cuda' else ''}{_TORCH_NAMES[t.dtype.name]}Tensor"


def expand_dense(self: Tensor, size: Any, *, implicit: bool = False) -> Tensor:
    _check_tensor(self, "expand", "self")
    shape = _expand_shape(self, size)
    data = get_backend().xp.broadcast_to(self._data, shape)
    return Tensor._make(get_backend().xp.asarray(data, copy=True), shape, self.dtype,
                        self.device)


def expand_meta(self: Tensor, size: Any, *, implicit: bool = False) -> Tensor:
    return _meta(_expand_shape(self, size), self.dtype)


_register("aten::expand", expand_dense, expand_meta)


def _wrap_dim(dim: int, bound: int) -> int:
    """``maybe_wrap_dim``: ``dim`` in ``[-bound, bound)``, made non-negative."""
    if not -bound <= dim < bound:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-bound}, "
                         f"{bound - 1}], but got {dim})")
    return dim % bound


def _unsqueeze_shape(self: Tensor, dim: Any) -> tuple[int, ...]:
    dim = _wrap_dim(dim, len(self.shape) + 1)
    return (*self.shape[:dim], 1, *self.shape[dim:])


def _squeeze_shape(self: Tensor, dim: Any) -> tuple[int, ...]:
    """``squeeze.dim``: drop ``dim`` if its size is 1, else keep the shape (a 0-dim tensor
    takes dims -1 and 0)."""
    dim = _wrap_dim(dim, max(len(self.shape), 1))
    if not self.shape or self.shape[dim] != 1:
        return self.shape
    return (*self.shape[:dim], *self.shape[dim + 1:])


def _reshaping_view(name: str, shape_of: Callable) -> tuple[Callable, Callable]:
    """The dense and meta kernels of a view op whose result is ``self`` reshaped to
    ``shape_of(self, dim)`` (``unsqueeze``, ``squeeze.dim``)."""
    def dense(self: Tensor, dim: int) -> Tensor:
        _check_tensor(self, name, "self")
        shape = shape_of(self, dim)
        return Tensor._make(get_backend().xp.reshape(self._data, shape), shape, self.dtype,
                            self.device)

    return dense, lambda self, dim: _meta(shape_of(self, dim), self.dtype)


_register("aten::unsqueeze", *_reshaping_view("unsqueeze", _unsqueeze_shape))
_register("aten::squeeze.dim", *_reshaping_view("squeeze", _squeeze_shape))


def sgn_dense(self: Tensor) -> Tensor:
    """``sgn`` of a real tensor is its ``sign`` (bool stays bool)."""
    _check_tensor(self, "sgn", "self")
    xp = get_backend().xp
    data = self._data if self.dtype is dtypes.bool_ else xp.sign(self._data)
    return Tensor._make(xp.asarray(data, copy=True), self.shape, self.dtype, self.device)


_register("aten::sgn", sgn_dense, lambda self: _meta(self.shape, self.dtype))


def _like(fill: int) -> tuple[Callable, Callable]:
    def dense(self: Tensor, *, dtype=None, layout=None, device=None, pin_memory=None,
              memory_format=None) -> Tensor:
        _check_tensor(self, "zeros_like" if fill == 0 else "ones_like", "self")
        dt = dtypes.get_dtype(dtype) if dtype is not None else self.dtype
        backend = get_backend()
        make = backend.xp.zeros if fill == 0 else backend.xp.ones
        data = make(self.shape, dtype=backend.dtypes[dt.name])
        return Tensor._make(data, self.shape, dt, self.device)

    def meta(self: Tensor, *, dtype=None, layout=None, device=None, pin_memory=None,
             memory_format=None) -> Tensor:
        return _meta(self.shape, dtypes.get_dtype(dtype) if dtype is not None else self.dtype)

    return dense, meta


_register("aten::empty_like", *_like(0))
_register("aten::zeros_like", *_like(0))
_register("aten::ones_like", *_like(1))


def _check_inplace_dtype(self: Tensor, result: dtypes.dtype) -> None:
    if result.category > self.dtype.category:
        raise RuntimeError(
            f"result type {_TORCH_NAMES[result.name]} can't be cast to the desired output type "
            f"{_TORCH_NAMES[self.dtype.name]}"
        )


def copy__dense(self: Tensor, src: Tensor, non_blocking: bool = False) -> Tensor:
    _check_tensor(self, "copy_", "self")
    if not isinstance(src, Tensor):  # a wrapped number (DSP-22)
        _check_scalar(src, "copy_", "src", "Tensor")
        src = Tensor._make(get_backend().xp.asarray(src), (), dtypes.result_type([], [], [src]),
                           self.device)
    if broadcast_shapes(self.shape, src.shape) != self.shape:
        raise RuntimeError(
            f"output with shape {list(self.shape)} doesn't match the broadcast shape "
            f"{list(broadcast_shapes(self.shape, src.shape))}"
        )
    xp = get_backend().xp
    self._data = xp.broadcast_to(_operand(src, self.dtype), self.shape)
    self._data = xp.asarray(self._data, copy=True)
    return self


def inplace_meta(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    return self


# [NOTE: in-place meta checks] Fake in-place ops run torch's Python meta registrations
# (torch/_meta_registrations.py), not the eager kernels' checks, and functionalization runs the
# same meta kernel on meta copies before it turns the op functional (functional_tensor.py).
# ``add_``: an int tensor and a float other, or a bool tensor and a non-bool other, are refused
# before anything else; ``mul_`` checks no dtype at all; both check the broadcast with the
# shapes as Python prints them (``torch.Size([2])``, ``(3, 2)``); ``copy_`` checks its broadcast
# with the eager text. Observed on torch 2.13 (tests/refimpl/test_inplace_meta.py).
def _check_inplace_broadcast_meta(self: Tensor, other: Any) -> None:
    if isinstance(other, Tensor):
        shape = broadcast_shapes(self.shape, other.shape)
        if shape != self.shape:
            raise RuntimeError(f"output with shape torch.Size({list(self.shape)}) doesn't match "
                               f"the broadcast shape {tuple(shape)!r}")


def _kind(x: Any) -> str:
    """``bool``, ``int`` or ``float``: a tensor's dtype category or a Python number's type."""
    if isinstance(x, Tensor):
        return ("bool", "int", "float")[x.dtype.category]
    return "bool" if isinstance(x, bool) else "int" if isinstance(x, int) else "float"


def copy__meta(self: Tensor, src: Any, non_blocking: bool = False) -> Tensor:
    if isinstance(src, Tensor) and broadcast_shapes(self.shape, src.shape) != self.shape:
        raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast "
                           f"shape {list(broadcast_shapes(self.shape, src.shape))}")
    return self


_register("aten::copy_", copy__dense, copy__meta)


def add__dense(self: Tensor, other: Tensor, *, alpha: Any = 1) -> Tensor:
    result = dense_kernels[OPS["aten::add.Tensor"]](self, other, alpha=alpha)
    _check_inplace_dtype(self, result.dtype)
    if result.shape != self.shape:
        raise RuntimeError(
            f"output with shape {list(self.shape)} doesn't match the broadcast shape "
            f"{list(result.shape)}"
        )
    self._data = _operand(result, self.dtype)
    return self


def add__meta(self: Tensor, other: Tensor, *, alpha: Any = 1) -> Tensor:
    # [NOTE: in-place meta checks]; no alpha check ([NOTE: alpha checks]).
    if _kind(self) == "int" and _kind(other) == "float":
        raise RuntimeError("Promotion of int.add/sub_(float) in in-place ops are not possible "
                           "due to element size change.")
    if _kind(self) == "bool" and _kind(other) != "bool":
        raise RuntimeError("Promotion of bool.add/sub_(others) in in-place ops are not possible "
                           "due to element size change.")
    _check_inplace_broadcast_meta(self, other)
    return self


_register("aten::add_.Tensor", add__dense, add__meta)


def _inplace_from(functional: str) -> tuple[Callable, Callable]:
    """Dense and meta kernels of an in-place op from its functional form (``mul_`` <- ``mul``)."""
    op = OPS[functional]

    def dense(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        result = dense_kernels[op](self, *args, **kwargs)
        _check_inplace_dtype(self, result.dtype)
        if result.shape != self.shape:
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the "
                               f"broadcast shape {list(result.shape)}")
        self._data = _operand(result, self.dtype)
        return self

    def meta(self: Tensor, other: Any) -> Tensor:
        meta_kernels[op](self, other)  # the functional op's own checks (operand types)
        _check_inplace_broadcast_meta(self, other)  # [NOTE: in-place meta checks]: no dtype
        return self

    return dense, meta


_register("aten::mul_.Tensor", *_inplace_from("aten::mul.Tensor"))


def _check_not_bool_abs(self: Tensor) -> None:
    if self.dtype is dtypes.bool_:
        raise NotImplementedError("\"abs_cpu\" not implemented for 'Bool'")


def abs__dense(self: Tensor) -> Tensor:
    _check_tensor(self, "abs_", "self")
    _check_not_bool_abs(self)
    self._data = get_backend().xp.abs(self._data)
    return self


_register("aten::abs_", abs__dense, inplace_meta)


def abs_dense(self: Tensor) -> Tensor:
    _check_tensor(self, "abs", "self")
    _check_not_bool_abs(self)
    return Tensor._make(get_backend().xp.abs(self._data), self.shape, self.dtype, self.device)


_register("aten::abs", abs_dense, lambda self: _meta(self.shape, self.dtype))

# ``absolute`` and ``absolute_`` are CompositeImplicitAutograd in torch (an alias of ``abs``): the
# kernel runs at the autograd keys, so every mode sees ``abs``/``abs_`` ([NOTE: op fallthrough
# keys] in refimpl/operator.py) and only export preserves the functional one (refimpl/export.py,
# [NOTE: preserved composite ops]).
OPS["aten::absolute"].py_impl(K.CompositeImplicitAutograd)(lambda self: OPS["aten::abs"](self))
OPS["aten::absolute_"].py_impl(K.CompositeImplicitAutograd)(lambda self: OPS["aten::abs_"](self))


def copy_dense(self: Tensor, src: Tensor, non_blocking: bool = False) -> Tensor:
    """The functional form of ``copy_``: a new tensor shaped like ``self`` holding ``src``."""
    out = clone_dense(self)
    return copy__dense(out, src)


_register("aten::copy", copy_dense, lambda self, src, non_blocking=False:
          _meta(self.shape, self.dtype))


def lift_fresh_dense(self: Tensor) -> Tensor:
    return self


_register("aten::lift_fresh", lift_fresh_dense, lambda self: _meta(self.shape, self.dtype))
_register("aten::lift_fresh_copy", clone_dense, clone_meta)


# --------------------------------------------------------------------------------------------
# effectful ops
# --------------------------------------------------------------------------------------------
def _print_dense(s: str) -> None:
    if not isinstance(s, str):
        raise _type_error("_print", "str", "s", s)
    builtins.print(s, flush=True)
    log_effect(("aten::_print", (s,), ()))


def _no_output_meta(*args: Any, **kwargs: Any) -> None:
    return None


_register("aten::_print", _print_dense, _no_output_meta)


def _async_error_dense(msg: str) -> None:
    log_effect(("aten::_async_error", (msg,), ()))
    raise RuntimeError(msg)


_register("aten::_async_error", _async_error_dense, _no_output_meta)


class _LinAlgError(RuntimeError):
    """``torch._C._LinAlgError`` (``torch.linalg.LinAlgError``): ``TORCH_CHECK_LINALG``'s error."""


_LinAlgError.__module__ = "torch._C"

# [NOTE: linalg info checks] ``_linalg_check_errors`` (aten/src/ATen/native/BatchLinearAlgebra.cpp)
# asserts an int32 info tensor, returns when every info is 0, else reads the info (``item()``
# when ``is_matrix``, the first non-zero one, with its flat index as the batch element, when
# not) and raises by the ``api_name``: a negative info is an internal assert; a positive one
# a ``_LinAlgError`` whose text depends on which substring ``api_name`` contains. The assert
# messages name the source line of each of the three asserts in the build, which moves from
# build to build: the profile's ``linalg_assert_lines`` (dtype, illegal value, unknown code),
# recorded from each build by ``tests/golden/record.py``.
_INTERNAL_ASSERT_AT = '"/__w/pytorch/pytorch/aten/src/ATen/native/BatchLinearAlgebra.cpp":{}'
_ASSERT_INDEX = {"dtype": 0, "illegal": 1, "unknown": 2}  # in ``linalg_assert_lines``


def _internal_assert(condition: str, where: str, message: str = "") -> RuntimeError:
    line = get_profile().linalg_assert_lines[_ASSERT_INDEX[where]]
    where_at = _INTERNAL_ASSERT_AT.format(line)
    return RuntimeError(f"{condition} INTERNAL ASSERT FAILED at {where_at}, please report a bug "
                        f"to PyTorch. {message}")


_LINALG_MESSAGES = (  # (substring of api_name, exception, text after the batch element)
    ("inv", _LinAlgError, "The diagonal element {0} is zero, the inversion could not be completed "
     "because the input matrix is singular."),
    ("solve", _LinAlgError, "The solver failed because the input matrix is singular."),
    ("cholesky", _LinAlgError, "The factorization could not be completed because the input is not "
     "positive-definite (the leading minor of order {0} is not positive-definite)."),
    ("svd", _LinAlgError, "The algorithm failed to converge because the input matrix is "
     "ill-conditioned or has too many repeated singular values (error code: {0})."),
    ("eig", _LinAlgError, "The algorithm failed to converge because the input matrix is "
     "ill-conditioned or has too many repeated eigenvalues (error code: {0})."),
    ("syevd", _LinAlgError, "The algorithm failed to converge because the input matrix is "
     "ill-conditioned or has too many repeated eigenvalues (error code: {0})."),
    ("lstsq", _LinAlgError, "The least squares solution could not be computed because the input "
     "matrix does not have full rank (error code: {0})."),
    ("lu_factor", RuntimeError, "U[{0},{0}] is zero and using it on lu_solve would result in a "
     "division by zero. If you still want to perform the factorization, consider calling "
     "linalg.lu(A, pivot) or linalg.lu_factor_ex(A, pivot)"),
)


def _check_linalg_info(info: Tensor, api_name: str) -> None:
    _check_tensor(info, "_linalg_check_errors", "info")
    if info.dtype is not dtypes.int32:
        raise _internal_assert("infos.scalar_type() == kInt", "dtype")


def _linalg_check_errors_dense(info: Tensor, api_name: str, *, is_matrix: bool) -> None:
    _check_linalg_info(info, api_name)
    # torch's kernel only reads the info and raises: it writes nothing anyone can observe, so it
    # logs no effect event (unlike ``_print``, whose line is the event).
    values = info.numpy().reshape(-1)
    nonzero = np.flatnonzero(values)
    if not nonzero.size:
        return
    if is_matrix:
        if values.size != 1:
            raise RuntimeError(f"a Tensor with {values.size} elements cannot be converted to "
                               f"Scalar")
        code, batch = int(values[0]), ""
    else:
        code, batch = int(values[nonzero[0]]), f": (Batch element {nonzero[0]})"
    if code < 0:
        if "svd" in api_name and code == -4:
            raise _LinAlgError(f"{api_name}{batch}: The algorithm failed to converge because "
                               f"the input matrix contained non-finite values.")
        raise _internal_assert("false", "illegal", f"{api_name}{batch}: Argument {-code} has "
                               f"illegal value. Most certainly there is a bug in the "
                               f"implementation calling the backend library.")
    for needle, error, text in _LINALG_MESSAGES:
        if needle in api_name:
            raise error(f"{api_name}{batch}: {text.format(code)}")
    raise _internal_assert("false", "unknown", f"{api_name}: Unknown error code: {code}.")


def _linalg_check_errors_meta(info: Tensor, api_name: str, *, is_matrix: bool) -> None:
    _check_linalg_info(info, api_name)


_register("aten::_linalg_check_errors", _linalg_check_errors_dense, _linalg_check_errors_meta)


def _make_token_dense() -> Tensor:
    return _new_empty_float()


def _make_token_meta() -> Tensor:
    return _meta((0,), dtypes.float32)


_register("prims::_make_token", _make_token_dense, _make_token_meta)


def _sink_tokens_dense(tokens: list) -> None:
    return None


_register("prims::_sink_tokens", _sink_tokens_dense, _no_output_meta)


def _record_function_exit_dense(record: Any) -> None:
    exit_fn = getattr(record, "exit", None)
    if callable(exit_fn):
        exit_fn()


_register("profiler::_record_function_exit._RecordFunction", _record_function_exit_dense,
          _no_output_meta)


# --------------------------------------------------------------------------------------------
# factories
# --------------------------------------------------------------------------------------------
def _size(size: Any, op: str = "size") -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (list, tuple)):
        size = size[0]
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in size):
        raise TypeError(f"{op}(): argument 'size' must be tuple of ints, got {list(size)!r}")
    if any(s < 0 for s in size):
        raise RuntimeError(f"{op}: Dimension size must be non-negative.")
    return tuple(size)


def _factory(fill: Callable[[Any, tuple, Any], Any]) -> tuple[Callable, Callable]:
    def dense(size, *, dtype=None, layout=None, device=None, pin_memory=None,
              memory_format=None) -> Tensor:
        shape = _size(size)
        dt = dtypes.get_dtype(dtype) if dtype is not None else dtypes.DEFAULT_FLOAT
        backend = get_backend()
        data = fill(backend.xp, shape, backend.dtypes[dt.name])
        return Tensor._make(data, shape, dt, _device_arg(device))

    def meta(size, *, dtype=None, layout=None, device=None, pin_memory=None,
             memory_format=None) -> Tensor:
        return _meta(_size(size), dtypes.get_dtype(dtype) if dtype is not None
                     else dtypes.DEFAULT_FLOAT)

    return dense, meta


_register("aten::empty.memory_format", *_factory(lambda xp, s, d: xp.zeros(s, dtype=d)))
_register("aten::zeros", *_factory(lambda xp, s, d: xp.zeros(s, dtype=d)))
_register("aten::ones", *_factory(lambda xp, s, d: xp.ones(s, dtype=d)))


def full_dense(size, fill_value, *, dtype=None, layout=None, device=None,
               pin_memory=None) -> Tensor:
    dt = dtypes.get_dtype(dtype) if dtype is not None else dtypes.result_type([], [], [fill_value])
    backend = get_backend()
    data = backend.xp.full(_size(size), fill_value, dtype=backend.dtypes[dt.name])
    return Tensor._make(data, _size(size), dt, _device_arg(device))


def full_meta(size, fill_value, *, dtype=None, layout=None, device=None,
              pin_memory=None) -> Tensor:
    dt = dtypes.get_dtype(dtype) if dtype is not None else dtypes.result_type([], [], [fill_value])
    return _meta(_size(size), dt)


_register("aten::full", full_dense, full_meta)


def _arange_dtype(end: Any, dtype: Any) -> dtypes.dtype:
    if dtype is not None:
        return dtypes.get_dtype(dtype)
    return dtypes.int64 if isinstance(end, int) else dtypes.DEFAULT_FLOAT


def arange_dense(end, *, dtype=None, layout=None, device=None, pin_memory=None) -> Tensor:
    dt = _arange_dtype(end, dtype)
    backend = get_backend()
    data = backend.xp.arange(end, dtype=backend.dtypes[dt.name])
    return Tensor._make(data, tuple(data.shape), dt, _device_arg(device))


def arange_meta(end, *, dtype=None, layout=None, device=None, pin_memory=None) -> Tensor:
    n = max(0, int(np.ceil(end)))
    return _meta((n,), _arange_dtype(end, dtype))


_register("aten::arange", arange_dense, arange_meta)

# The modelled ops torch 2.13 has a C++ Functionalize kernel for ([NOTE: kernels torch has in
# C++]): the view, the in-place ops but the CompositeImplicitAutograd absolute_, _to_copy and the
# lift_fresh pair (observed with torch._C._dispatch_has_kernel_for_dispatch_key; the same on
# 2.14.1; tests/refimpl/test_effects_functionalize.py compares the table with torch's).
for _name in ("aten::view", "aten::_to_copy", "aten::lift_fresh", "aten::lift_fresh_copy",
              "aten::add_.Tensor", "aten::mul_.Tensor", "aten::copy_", "aten::abs_",
              "aten::expand", "aten::unsqueeze", "aten::squeeze.dim"):
    _CPP_KERNEL_KEYS[OPS[_name].name()] = {DispatchKey.Functionalize}


# --------------------------------------------------------------------------------------------
# Python-level factories (torch.tensor, torch.zeros...)
# --------------------------------------------------------------------------------------------
def _new_empty_float() -> Tensor:
    backend = get_backend()
    return Tensor._make(backend.xp.zeros((0,), dtype=backend.xp.float32), (0,), dtypes.float32,
                        backend.device)


def _infer_dtype(values: np.ndarray) -> dtypes.dtype:
    kind = values.dtype.kind
    if kind == "b":
        return dtypes.bool_
    if kind in "iu":
        return dtypes.int64
    if kind == "f":
        return dtypes.DEFAULT_FLOAT
    raise TypeError(f"tensor(): cannot make a tensor from values of kind {values.dtype}")


def _check_nested(data: Any, dim: int) -> int | None:
    """torch's checks of nested sequence data: no strings, equal lengths along each dim."""
    if isinstance(data, (str, bytes)):
        raise TypeError(f"new(): invalid data type '{type(data).__name__}'")
    if not isinstance(data, (list, tuple)):
        return None
    lengths = [len(item) if isinstance(item, (list, tuple)) else None for item in data]
    for item in data:
        _check_nested(item, dim + 1)
    if lengths and lengths[0] is not None:
        for got in lengths[1:]:
            if got != lengths[0]:
                raise ValueError(f"expected sequence of length {lengths[0]} at dim {dim + 1} "
                                 f"(got {got})")
    return len(data)


_EMPTY_HOST = np.asarray([])  # tensor([])'s host array; never written: astype copies it
_EMPTY_HOST.flags.writeable = False


def tensor(data: Any, *, dtype: Any = None, device: str | None = None) -> Tensor:
    """``torch.tensor``: a new tensor holding a copy of ``data`` (nested lists, scalars, arrays).

    Under an active mode the new tensor goes through ``aten.lift_fresh`` as in torch, so a
    FakeTensorMode turns it into a fake tensor.
    """
    if type(data) is list and not data and dtype is None:
        # ``tensor([])``, every effect token (EFF-13): the general path below with its answers
        # known (no nesting to check; ``np.asarray([])`` is an empty float64 array -> float32).
        host, dt = _EMPTY_HOST, dtypes.float32
    else:
        if isinstance(data, Tensor):
            data = data.numpy()
        elif isinstance(data, (list, tuple, str, bytes)) or not hasattr(data, "__array__"):
            _check_nested(data, 0)
        host = np.asarray(data)
        if host.dtype == object or host.dtype.kind in "USV":
            raise TypeError(f"new(): invalid data type '{type(data).__name__}'")
        dt = dtypes.get_dtype(dtype) if dtype is not None else (
            dtypes.float32 if host.size == 0 and host.dtype.kind == "f" else _infer_dtype(host))
    backend = get_backend()
    arr = backend.xp.asarray(host.astype(dt.name if dt.name != "bool" else np.bool_),
                             dtype=backend.dtypes[dt.name])
    out = Tensor._make(arr, tuple(host.shape), dt, device or backend.device)
    if _len_torch_dispatch_stack():
        return OPS["aten::lift_fresh"](out)
    return out


# [NOTE: tensor options] ``torch.ones(2)`` does not call ``aten.ones`` with what it was given:
# torch's argument parser fills in the tensor options, so the call, and the node make_fx records,
# is ``aten.ones.default([2], device = device(type='cpu'), pin_memory = False)``: ``dtype`` only
# when given, ``layout`` never, the device always (the default one when none is given),
# ``pin_memory=False`` always. The factories below do the same, with the device as a
# ``backend.device`` so that it prints as torch's; the kernels store a plain string.
def _tensor_options(dtype: Any, device: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {} if dtype is None else {"dtype": dtype}
    options["device"] = backend_device(device if device is not None else get_backend().device)
    options["pin_memory"] = False
    return options


def empty(*size: Any, dtype: Any = None, device: str | None = None) -> Tensor:
    return OPS["aten::empty.memory_format"](list(_size(size, "empty")),
                                            **_tensor_options(dtype, device))


def zeros(*size: Any, dtype: Any = None, device: str | None = None) -> Tensor:
    return OPS["aten::zeros"](list(_size(size, "zeros")), **_tensor_options(dtype, device))


def ones(*size: Any, dtype: Any = None, device: str | None = None) -> Tensor:
    return OPS["aten::ones"](list(_size(size, "ones")), **_tensor_options(dtype, device))


def full(size: Any, fill_value: Any, *, dtype: Any = None, device: str | None = None) -> Tensor:
    return OPS["aten::full"](list(_size((size,) if isinstance(size, int) else tuple(size))),
                             fill_value, **_tensor_options(dtype, device))


def arange(end: Any, *, dtype: Any = None, device: str | None = None) -> Tensor:
    return OPS["aten::arange"](end, **_tensor_options(dtype, device))


def _random(draw: str, size: tuple, seed: int, dtype: Any) -> Tensor:
    if not isinstance(seed, int):
        raise TypeError(f"{draw}(): argument 'seed' must be int, not {type(seed).__name__}")
    rng = np.random.default_rng(seed)
    shape = _size(size)
    values = rng.standard_normal(shape) if draw == "randn" else rng.random(shape)
    dt = dtypes.get_dtype(dtype) if dtype is not None else dtypes.DEFAULT_FLOAT
    return tensor(values.astype(dt.name), dtype=dt)


def randn(*size: Any, seed: int, dtype: Any = None) -> Tensor:
    """Standard-normal values from ``numpy.random.default_rng(seed)``."""
    return _random("randn", size, seed, dtype)


def rand(*size: Any, seed: int, dtype: Any = None) -> Tensor:
    """Uniform [0, 1) values from ``numpy.random.default_rng(seed)``."""
    return _random("rand", size, seed, dtype)


# --------------------------------------------------------------------------------------------
# Tensor methods (torch binds these in C++; see tensor.py, simplification 3)
# --------------------------------------------------------------------------------------------
def _binary_method(tensor_op: str, reverse: bool = False) -> Callable:
    op = OPS[tensor_op]

    def method(self: Tensor, other: Any) -> Tensor:
        if not isinstance(other, (Tensor, bool, int, float)):
            return NotImplemented
        if reverse and isinstance(other, Tensor):
            return op(other, self)
        return op(self, other)

    return method


def _with_alpha(op: OpOverload, self: Tensor, other: Any, alpha: Any) -> Tensor:
    # torch leaves a default alpha out of the call (and so out of traced graphs).
    return op(self, other) if alpha == 1 else op(self, other, alpha=alpha)


def _size_arg(size: tuple) -> list:
    if len(size) == 1 and isinstance(size[0], (list, tuple)):
        size = size[0]
    return list(size)


def _rsub(self: Tensor, other: Any) -> Tensor:
    return OPS["aten::add.Tensor"](OPS["aten::neg"](self), other)


def _compare_method(name: str, self: Tensor, other: Any) -> Any:
    """``a < b``: ``lt.Tensor`` for a tensor ``b``, ``lt.Scalar`` for a number."""
    if isinstance(other, Tensor):
        return OPS[f"aten::{name}.Tensor"](self, other)
    if isinstance(other, (bool, int, float)):
        return OPS[f"aten::{name}.Scalar"](self, other)
    return NotImplemented


_METHODS: dict[str, Callable] = {
    "__add__": _binary_method("aten::add.Tensor"),
    "__radd__": _binary_method("aten::add.Tensor", reverse=True),
    "__sub__": _binary_method("aten::sub.Tensor"),
    "__rsub__": _rsub,
    "__mul__": _binary_method("aten::mul.Tensor"),
    "__rmul__": _binary_method("aten::mul.Tensor", reverse=True),
    "__neg__": lambda self: OPS["aten::neg"](self),
    "__lt__": lambda self, other: _compare_method("lt", self, other),
    "__gt__": lambda self, other: _compare_method("gt", self, other),
    "add": lambda self, other, *, alpha=1: _with_alpha(OPS["aten::add.Tensor"], self, other,
                                                       alpha),
    "sub": lambda self, other: self.__sub__(other),
    "mul": lambda self, other: self.__mul__(other),
    "sin": lambda self: OPS["aten::sin"](self),
    "cos": lambda self: OPS["aten::cos"](self),
    "neg": lambda self: OPS["aten::neg"](self),
    "clone": lambda self: OPS["aten::clone"](self),
    "view": lambda self, *size: OPS["aten::view"](self, _size_arg(size)),
    "sum": lambda self, *, dtype=None: OPS["aten::sum"](self, dtype=dtype),
    "mul_": lambda self, other: OPS["aten::mul_.Tensor"](self, other),
    "add_": lambda self, other, *, alpha=1: _with_alpha(OPS["aten::add_.Tensor"], self, other,
                                                        alpha),
    "copy_": lambda self, src: OPS["aten::copy_"](self, src),
    "absolute_": lambda self: OPS["aten::absolute_"](self),
}
for _method_name, _method in _METHODS.items():
    setattr(Tensor, _method_name, _method)

# The autograd layer: a kernel at the ``Autograd`` keys of every op with a derivative formula
# (refimpl/autograd/variable_type.py), and the tensor methods autograd adds.
from refimpl.autograd.variable_type import register_autograd_kernels  # noqa: E402

register_autograd_kernels(OPS)
