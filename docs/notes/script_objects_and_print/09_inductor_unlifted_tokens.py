# What inductor actually receives: effect tokens unlifted to prims._make_token/_sink_tokens
# (config.unlift_effect_tokens=True, torch/_inductor/compile_fx.py:3307). Run with TORCH_LOGS=post_grad_graphs.
import os
os.environ.setdefault("TORCH_LOGS", "post_grad_graphs")
import torch
from torch._higher_order_ops import print as hop_print


def f(x):
    y = x + 1
    hop_print("y={}", y)
    torch.ops.aten._print("aten")
    return y * 2


torch._dynamo.reset()
print("result:", torch.compile(f, backend="inductor", fullgraph=True)(torch.tensor([1.0, 2.0])))
