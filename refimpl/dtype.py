"""Tensor element types and torch's type promotion.

Models: ``c10/core/ScalarType.h`` (``promoteTypes``) and ``torch/_prims_common``
(``elementwise_dtypes``, the dimensioned / zero-dim / Python-scalar tiers) at torch 2.13.0.
Spec: DSP-20.

Simplifications:
1. Five dtypes: ``bool``, ``int32``, ``int64``, ``float32``, ``float64``. The default dtype is
   ``float32``. ``int32`` is there for ``aten::_linalg_check_errors``, whose info must be int32.
2. Promotion follows torch's three categories (bool < integer < floating) and three tiers
   (dimensioned tensors, zero-dim tensors, Python scalars) as described in [NOTE: promotion tiers].
"""

from __future__ import annotations

__all__ = [
    "DTYPES", "dtype", "float32", "float64", "int32", "int64", "bool_", "get_dtype", "layout",
    "result_type", "strided", "memory_format", "contiguous_format", "preserve_format",
]


class dtype:
    """An element type. ``str(refimpl.float32) == "torch.float32"``, as torch prints it."""

    __slots__ = ("name", "category", "itemsize", "is_floating_point")

    def __init__(self, name: str, category: int, itemsize: int) -> None:
        self.name = name
        self.category = category  # 0 bool, 1 integer, 2 floating
        self.itemsize = itemsize
        self.is_floating_point = category == 2

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):
        return (get_dtype, (self.name,))


class _TorchConstant:
    """A named torch constant (``torch.strided``, ``torch.contiguous_format``) that prints and
    pickles as torch's; each subclass keeps the instances it has in ``_ALL``."""

    __slots__ = ("name",)
    _ALL: dict[str, _TorchConstant]

    def __init__(self, name: str) -> None:
        self.name = name
        type(self)._ALL[name] = self

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):
        return (_get_constant, (type(self), self.name))


def _get_constant(kind: type[_TorchConstant], name: str) -> _TorchConstant:
    try:
        return kind._ALL[name]
    except KeyError:
        raise ValueError(f"unknown {kind.__name__} {name!r}") from None


class layout(_TorchConstant):  # noqa: N801 - upstream name (torch.layout)
    """A memory layout (``torch.layout``); refimpl has one, ``strided``."""

    __slots__ = ()
    _ALL: dict[str, _TorchConstant] = {}


class memory_format(_TorchConstant):  # noqa: N801 - upstream name (torch.memory_format)
    """A memory format (``torch.memory_format``); refimpl's tensors have no strides, so it only
    travels into traced calls (``zeros_like(g, memory_format=...)``)."""

    __slots__ = ()
    _ALL: dict[str, _TorchConstant] = {}


strided = layout("strided")
contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")


def _get_layout(name: str) -> layout:
    return _get_constant(layout, name)


bool_ = dtype("bool", 0, 1)
int32 = dtype("int32", 1, 4)
int64 = dtype("int64", 1, 8)
float32 = dtype("float32", 2, 4)
float64 = dtype("float64", 2, 8)

DTYPES: dict[str, dtype] = {d.name: d for d in (bool_, int32, int64, float32, float64)}
DEFAULT_FLOAT = float32


def get_dtype(name: str | dtype) -> dtype:
    """Look a dtype up by name (``"float32"`` or ``"torch.float32"``)."""
    if isinstance(name, dtype):
        return name
    if isinstance(name, str):
        found = DTYPES.get(name.removeprefix("torch."))
        if found is not None:
            return found
    raise TypeError(
        f"unknown dtype {name!r}; expected one of {', '.join(sorted(DTYPES))}"
    )


def promote_types(a: dtype, b: dtype) -> dtype:
    """``torch.promote_types`` for the modelled dtypes."""
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    return a if a.itemsize >= b.itemsize else b


def _scalar_dtype(value: object) -> dtype:
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        return int64
    if isinstance(value, float):
        return DEFAULT_FLOAT
    raise TypeError(f"expected a Tensor or a Python number, got {type(value).__name__}")


# [NOTE: promotion tiers]
# torch promotes in tiers: dimensioned tensors decide the dtype unless a lower tier (zero-dim
# tensors, then Python scalars) has a *higher category* (bool < integer < floating).  When a
# lower tier wins on category, a zero-dim tensor contributes its own dtype and a Python float the
# default dtype (float32).  So ``int64[4] + 2.5 -> float32`` and ``float32[4] + float64[] ->
# float32`` while ``float32[4] + float64[4] -> float64``.
def result_type(tensor_dtypes: list[dtype], zero_dim_dtypes: list[dtype],
                scalars: list[object]) -> dtype:
    """The dtype of an elementwise op over the three tiers of operands."""
    result: dtype | None = None
    scalar_dtypes = [_SCALAR_DEFAULT[_scalar_dtype(s).category] for s in scalars]
    for tier in (tensor_dtypes, zero_dim_dtypes, scalar_dtypes):
        if not tier:
            continue
        best = tier[0]
        for d in tier[1:]:
            best = promote_types(best, d)
        if result is None or best.category > result.category:
            result = best
    if result is None:
        raise TypeError("result_type needs at least one operand")
    return result


_SCALAR_DEFAULT = {0: bool_, 1: int64, 2: DEFAULT_FLOAT}
