"""refimpl: a torch-free reference interpreter of PyTorch's effect tokens.

Reading order and one line per module: ``refimpl/README.md``. The public surface mirrors torch:
``refimpl.ops.aten._print.default``, ``refimpl.tensor``, ``refimpl.FakeTensorMode``,
``refimpl.make_fx``, ``refimpl.effects.with_effects``, ``refimpl.export.aot_export``,
``refimpl.check_effect_tokens`` ...
"""

from refimpl import autograd, effects, export, fx, library, passes
from refimpl._higher_order_ops import cond, while_loop
from refimpl.aten import arange, empty, full, ones, rand, randn, tensor, zeros
from refimpl.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from refimpl.backend import available_backends, get_backend, set_backend
from refimpl.dispatch_key import DispatchKey, DispatchKeySet
from refimpl.dtype import bool_, float32, float64, int32, int64
from refimpl.effect_log import record_effects
from refimpl.fake_tensor import FakeTensor, FakeTensorMode
from refimpl.functional_tensor import FunctionalTensor, FunctionalTensorMode
from refimpl.operator import HigherOrderOperator, OpOverload, OpOverloadPacket, ops
from refimpl.passes import EffectTokenError, check_effect_tokens
from refimpl.profiles import get_profile, set_profile
from refimpl.proxy_tensor import make_fx
from refimpl.tensor import Tensor
from refimpl.torchbind import classes

__all__ = [
    "DispatchKey", "DispatchKeySet", "EffectTokenError", "FakeTensor", "FakeTensorMode",
    "FunctionalTensor", "FunctionalTensorMode", "HigherOrderOperator", "OpOverload",
    "OpOverloadPacket", "Tensor", "arange", "autograd", "available_backends", "bool_",
    "check_effect_tokens", "classes", "cond", "effects", "empty", "enable_grad", "export",
    "float32", "float64", "full", "fx", "get_backend", "get_profile", "int32", "int64",
    "is_grad_enabled", "library", "make_fx", "no_grad", "ones", "ops", "passes", "rand", "randn",
    "record_effects", "set_backend", "set_grad_enabled", "set_profile", "tensor", "while_loop",
    "zeros",
]
