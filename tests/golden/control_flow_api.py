"""The two `api`s of `control_flow_cases.py`: torch's and refimpl's.

Both define the ORDERED custom op `ctl::log(Tensor x, int tag) -> Tensor` once per process: it
appends `tag` to `api.LOG` and returns `x.clone()` (the op of docs/notes/control_flow/_harness.py).
"""

from __future__ import annotations

from typing import Any

LOG: list[int] = []
_DEFINED: dict[str, Any] = {}


def _log_impl(x: Any, tag: int) -> Any:
    LOG.append(tag)
    return x.clone()


def _log_fake(x: Any, tag: int) -> Any:
    return x.clone()


class TorchApi:
    def __init__(self) -> None:
        import torch  # noqa: PLC0415
        from torch._higher_order_ops import while_loop  # noqa: PLC0415
        from torch.fx.experimental.proxy_tensor import make_fx  # noqa: PLC0415

        self.torch = torch
        self.LOG = LOG
        self.cond = torch.cond
        self.while_loop = while_loop
        self._make_fx = make_fx
        if "torch" not in _DEFINED:
            from torch._higher_order_ops.effects import (  # noqa: PLC0415
                _EffectType,
                _register_effectful_op,
            )

            op = torch.library.custom_op("ctl::log", mutates_args=(),
                                         schema="(Tensor x, int tag) -> Tensor")(_log_impl)
            op.register_fake(_log_fake)
            _register_effectful_op(torch.ops.ctl.log.default, _EffectType.ORDERED)
            _DEFINED["torch"] = op
        self.log = torch.ops.ctl.log.default
        self.print = torch.ops.aten._print.default

    def ones(self, n: int) -> Any:
        return self.torch.ones(n)

    def scalar(self, value: Any) -> Any:
        return self.torch.tensor(value)

    def make_fx(self, fn: Any, args: tuple) -> Any:
        return self._make_fx(fn, tracing_mode="fake")(*args)

    def aot_export(self, fn: Any, args: tuple) -> tuple[Any, list[str], list[str]]:
        from torch._functorch.aot_autograd import aot_export_module  # noqa: PLC0415

        class M(self.torch.nn.Module):
            def forward(self, *a: Any) -> Any:
                return fn(*a)

        gm, sig = aot_export_module(M(), args, trace_joint=False)
        return gm, list(sig.input_tokens), list(sig.output_tokens)

    def token(self) -> Any:
        return self.torch.tensor([])

    def tolist(self, t: Any) -> Any:
        return t.tolist()

    def is_module(self, value: Any) -> bool:
        return isinstance(value, self.torch.fx.GraphModule)


class RefimplApi:
    def __init__(self) -> None:
        import refimpl  # noqa: PLC0415
        from refimpl import fx  # noqa: PLC0415

        self.refimpl = refimpl
        self.fx = fx
        self.LOG = LOG
        self.cond = refimpl.cond
        self.while_loop = refimpl.while_loop
        if "refimpl" not in _DEFINED:
            from refimpl.effects import _EffectType, _register_effectful_op  # noqa: PLC0415
            from refimpl.library import custom_op  # noqa: PLC0415

            op = custom_op("ctl::log", mutates_args=(),
                           schema="(Tensor x, int tag) -> Tensor")(_log_impl)
            op.register_fake(_log_fake)
            _register_effectful_op("ctl::log", _EffectType.ORDERED)
            _DEFINED["refimpl"] = op
        self.log = refimpl.ops.ctl.log.default
        self.print = refimpl.ops.aten._print.default

    def ones(self, n: int) -> Any:
        return self.refimpl.ones(n)

    def scalar(self, value: Any) -> Any:
        return self.refimpl.tensor(value)

    def make_fx(self, fn: Any, args: tuple) -> Any:
        return self.refimpl.make_fx(fn, tracing_mode="fake")(*args)

    def aot_export(self, fn: Any, args: tuple) -> tuple[Any, list[str], list[str]]:
        from refimpl.export import Module, aot_export  # noqa: PLC0415

        class M(Module):
            def forward(self, *a: Any) -> Any:
                return fn(*a)

        gm, sig = aot_export(M(), args)
        return gm, list(sig.input_tokens), list(sig.output_tokens)

    def token(self) -> Any:
        return self.refimpl.tensor([])

    def tolist(self, t: Any) -> Any:
        return t.tolist()

    def is_module(self, value: Any) -> bool:
        return isinstance(value, self.fx.GraphModule)
