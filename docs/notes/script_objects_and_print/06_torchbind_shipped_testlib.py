# Real torchbind class WITHOUT compiling anything: torch/lib/libtorchbind_test.so ships in the 2.13
# CPU wheel, and torch.testing._internal.torchbind_impls registers its fake classes / fake kernels.
import os, time, logging
import torch
from torch._higher_order_ops.effects import _get_effect
import _tb_driver
logging.getLogger("torch._subclasses.fake_tensor").setLevel(logging.CRITICAL)
logging.getLogger("torch._library.fake_class_registry").setLevel(logging.ERROR)  # "fake object ... doesn't implement method info" noise

so = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorchbind_test.so")
try:
    torch.classes._TorchScriptTesting._Foo
    print("before load_library: _Foo exists")
except Exception as e:
    print("before load_library:", type(e).__name__, e)
t0 = time.perf_counter()
from torch.testing._internal import torchbind_impls
try:
    torchbind_impls.init_torchbind_implementations()
except Exception as e:  # needs torch.testing._internal.common_utils -> `expecttest` (not installed here)
    print("init_torchbind_implementations() ERROR:", type(e).__name__, e)
torch.ops.load_library(so)
torchbind_impls.register_fake_operators()   # Python fake/Meta impls (takes_foo Meta via py_impl, queue_*)
torchbind_impls.register_fake_classes()     # FakeFoo(add_tensor), FakeTensorQueue, ...
print(f"load_library({so}) + register_fake_operators() + register_fake_classes() took {time.perf_counter()-t0:.2f}s")
ops = sorted(str(s) for s in torch._C._jit_get_all_schemas() if str(s).startswith("_TorchScriptTesting::"))
print(f"{len(ops)} _TorchScriptTesting ops:"); [print("  ", s) for s in ops]
print("classes (from .so strings, not exhaustive): _Foo, _TensorQueue, _StackString, _PickleTester, _ContainsTensor, ...")
foo = torch.classes._TorchScriptTesting._Foo(1, 2)
print("_Foo methods:", foo._method_names())
print("_Foo.add_tensor schema:", foo.add_tensor.schema)
takes_foo = torch.ops._TorchScriptTesting.takes_foo.default
for name in ["takes_foo", "queue_push", "takes_foo_python_meta"]:
    op = getattr(torch.ops._TorchScriptTesting, name).default
    print(f"{name} effect (default, from schema ClassType arg):", _get_effect(op))


def f(foo, x):
    a = foo.add_tensor(x)          # torchbind method returning Tensor -> call_torchbind
    return takes_foo(foo, a)       # op taking the object               -> ORDERED by default


_tb_driver.run(lambda: torch.classes._TorchScriptTesting._Foo(1, 2), f,
               lambda o: tuple(dict(o.__obj_flatten__()).values()), torch.tensor([1.0, 2.0]))
