# Minimal C++ torchbind class built with torch.utils.cpp_extension.load_inline (see _tb_ext.py;
# cold build time measured in 00_build_time.py/.out). Counter.add(x) MUTATES (v += 1).
import logging
import torch
from torch._higher_order_ops.effects import _get_effect
import _tb_ext, _tb_driver
logging.getLogger("torch._subclasses.fake_tensor").setLevel(logging.CRITICAL)

t = _tb_ext.build()
print(f"load_inline (cached build dir) took {t:.2f}s")
_tb_ext.register_fakes()
op = torch.ops.effmodel.takes_counter.default
print("op schema:", op._schema)
print("arg0 type:", type(op._schema.arguments[0].type).__name__, "-> default effect:", _get_effect(op))
c = torch.classes.effmodel.Counter(3)
print("methods:", c._method_names(), "add schema:", c.add.schema, "get schema:", c.get.schema)


def f(c, x):
    a = c.add(x)            # call_torchbind, mutates c.v
    b = op(c, a)            # ORDERED op taking the object
    return b + c.get()      # call_torchbind returning int


_tb_driver.run(lambda: torch.classes.effmodel.Counter(3), f, lambda o: o.get(), torch.tensor([1.0, 2.0]))
