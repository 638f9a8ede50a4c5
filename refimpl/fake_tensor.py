"""Fake tensors: metadata without data, and the mode that computes it.

Models: ``torch/_subclasses/fake_tensor.py`` at torch 2.13.0 (``FakeTensor``, ``FakeTensorMode``,
``from_tensor``, dispatch to fake impls and meta kernels).
Spec: DSP-14, DSP-15, EFF-15.

Simplifications:
1. No symbolic shapes, no dispatch cache, no constant propagation. A mode has a ``shape_env``
   when torch's would (make_fx's fake tracing, dynamo), ``None`` otherwise (``aot_export``):
   ``ShapeEnv`` holds no symbols and only offers what the control-flow rules call on it.
2. A FakeTensor holds no inner meta tensor: it *is* the metadata (shape, dtype, device).
3. Ops run (a) the custom op's fake impl from the simple registry, else (b) the op's ``Meta``
   kernel; a real (non-fake) tensor argument is an error unless ``allow_non_fake_inputs``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from refimpl import _pytree as pytree
from refimpl._library import simple_registry
from refimpl._utils import render_call
from refimpl.aten import OPS
from refimpl.dispatch_key import DispatchKey
from refimpl.mode_stack import TorchDispatchMode, _TorchDispatchModeKey
from refimpl.operator import OpOverload
from refimpl.tensor import PYTHON_KEYS, Tensor, dense_keys

__all__ = ["FakeTensor", "FakeTensorMode"]


class FakeTensor(Tensor):
    """A tensor with shape, dtype and device and no data; carries ``DispatchKey.Python``."""

    __slots__ = ("fake_mode",)

    @classmethod
    def _make_fake(cls, mode: FakeTensorMode, shape: tuple[int, ...], dtype_: Any,
                   device: str) -> FakeTensor:
        t = object.__new__(cls)
        t._data = None
        t.shape = tuple(shape)
        t.dtype = dtype_
        t.device = device
        t._keys = dense_keys(device) | PYTHON_KEYS
        t._autograd_meta = None
        t.fake_mode = mode
        return t

    def __repr__(self) -> str:
        return f"FakeTensor(shape={self.shape}, dtype={self.dtype!r}, device={self.device})"

    @classmethod
    def __torch_dispatch__(cls, func: Any, types: tuple, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        # A fake tensor used with no mode active: re-enter its own mode (torch does the same).
        modes = [a.fake_mode for a in pytree.arg_tree_leaves(*args, **(kwargs or {}))
                 if isinstance(a, FakeTensor)]
        with modes[0]:
            return func(*args, **(kwargs or {}))


class ShapeEnv:
    """torch's ``ShapeEnv`` (torch/fx/experimental/symbolic_shapes.py) without symbols: a mode
    that has one can run ``while_loop``'s fake rule, one without cannot (CF-10)."""

    @contextmanager
    def ignore_fresh_unbacked_symbols(self) -> Iterator[None]:
        yield


class FakeTensorMode(TorchDispatchMode):
    """Runs every op on metadata: fake impls for custom ops, meta kernels for the rest."""

    _mode_key = _TorchDispatchModeKey.FAKE

    def __init__(self, *, allow_non_fake_inputs: bool = False,
                 shape_env: ShapeEnv | None = None) -> None:
        self.allow_non_fake_inputs = allow_non_fake_inputs
        self.shape_env = shape_env

    def from_tensor(self, t: Tensor) -> FakeTensor:
        """A fake tensor with ``t``'s metadata."""
        if not isinstance(t, Tensor):
            raise TypeError(f"from_tensor(): expected a Tensor, got {type(t).__name__}")
        if isinstance(t, FakeTensor) and t.fake_mode is self:
            return t
        device = "cpu" if t.device == "meta" else t.device
        fake = FakeTensor._make_fake(self, t.shape, t.dtype, device)
        if t.requires_grad:  # the metadata torch's MetaConverter copies: a leaf requiring grad
            fake.requires_grad_(True)
        return fake

    def __torch_dispatch__(self, func: OpOverload, types: tuple, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        # 1. A freshly made real tensor (torch.tensor under the mode) becomes fake.
        if func is OPS["aten::lift_fresh"]:
            return self.from_tensor(args[0])
        self._check_inputs(func, args, kwargs)
        # 2. A custom op's fake impl runs with the mode active, so its factories are fake too.
        fake_impl = simple_registry.singleton.get(func._name)
        if fake_impl is not None and fake_impl.fake_impl.kernel is not None:
            with self:
                return fake_impl.fake_impl.kernel(*args, **kwargs)
        # 3. Otherwise the op's meta kernel computes the output metadata.
        out = func.redispatch(DispatchKey.Meta, *args, **kwargs)
        device = _common_device(args, kwargs)
        if type(out) is Tensor:  # the common case: one tensor out
            return self._fakeify(out, device)
        return pytree.tree_map(lambda x: self._fakeify(x, device), out)

    def _fakeify(self, x: Any, device: str) -> Any:
        if type(x) is Tensor and x.device == "meta":
            return FakeTensor._make_fake(self, x.shape, x.dtype, device)
        return x

    def _check_inputs(self, func: OpOverload, args: tuple, kwargs: dict) -> None:
        if self.allow_non_fake_inputs:
            return
        for leaf in pytree.arg_tree_leaves(*args, **kwargs):
            if isinstance(leaf, Tensor) and not isinstance(leaf, FakeTensor) \
                    and leaf.device != "meta":
                raise AssertionError(
                    f"Please convert all Tensors to FakeTensors first or instantiate "
                    f"FakeTensorMode with 'allow_non_fake_inputs'. Found in "
                    f"{render_call(func, args, kwargs)}"
                )


def _common_device(args: tuple, kwargs: dict) -> str:
    for arg in args:  # most ops' first argument is a tensor: no tree walk then
        if isinstance(arg, Tensor):
            if arg.device != "meta":
                return arg.device
        elif isinstance(arg, (list, tuple, dict)):
            break  # a container comes first: walk the leaves in order
    for leaf in pytree.arg_tree_leaves(*args, **kwargs):
        if isinstance(leaf, Tensor) and leaf.device != "meta":
            return leaf.device
    device = kwargs.get("device")
    return str(device) if isinstance(device, str) else "cpu"  # str(): a plain string
