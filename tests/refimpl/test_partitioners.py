"""The partitioners' op table against the installed torch's.

Models: `torch/_functorch/partitioners.py:get_default_op_list` at the installed torch.
Spec: TRC-22.
"""

from __future__ import annotations

import pytest

from refimpl._functorch.partitioners import RECOMPUTABLE_OPS, VIEW_OPS
from refimpl.aten import OPS


@pytest.mark.torch
@pytest.mark.spec("TRC-22")
def test_recomputable_and_view_ops_are_torchs():
    torch = pytest.importorskip("torch")
    from torch._functorch.partitioners import get_default_op_list

    types = get_default_op_list()
    recomputable, views = set(), set()
    for packet_name in sorted({k.split(".")[0] for k in OPS}):
        ns, name = packet_name.split("::")
        packet = getattr(getattr(torch.ops, ns), name, None)
        if packet is None:
            continue
        if packet in types.recomputable_ops:
            recomputable.add(packet_name)
        if packet in types.view_ops:
            views.add(packet_name)
    assert recomputable | {"operator.getitem"} == set(RECOMPUTABLE_OPS), (
        f"expected torch's recomputable ops, differences "
        f"{sorted((recomputable | {'operator.getitem'}) ^ set(RECOMPUTABLE_OPS))}")
    assert views == set(VIEW_OPS), f"expected torch's view ops {sorted(views)}"
