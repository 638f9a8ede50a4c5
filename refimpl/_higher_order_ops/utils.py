"""Helpers the control-flow operators share.

Models: ``torch/_higher_order_ops/utils.py`` at torch 2.13.0 (``validate_subgraph_args_types``,
``unique_graph_id``, ``check_meta_consistency``, ``reenter_make_fx`` is in
``refimpl.proxy_tensor``) and ``torch._dynamo.exc.UncapturedHigherOrderOpError``.
Spec: CF-2, CF-5.

Simplifications:
1. ``check_meta_consistency`` compares shape and dtype (torch's ``TensorMetadata`` also holds
   stride, memory format and quantization, which refimpl tensors do not have) and the device.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from refimpl.tensor import Tensor

__all__ = ["UncapturedHigherOrderOpError", "check_meta_consistency", "unique_graph_id",
           "validate_subgraph_args_types"]


class UncapturedHigherOrderOpError(RuntimeError):
    """``torch._dynamo.exc.UncapturedHigherOrderOpError`` (a RuntimeError there too)."""


def validate_subgraph_args_types(lifted_args: Sequence[Any]) -> None:
    """A subgraph's operands are tensors or ints (torch also takes SymInts)."""
    if not all(isinstance(arg, (Tensor, int)) for arg in lifted_args):
        raise AssertionError(
            f"{lifted_args} can only be of (<class 'torch.Tensor'>, <class 'int'>, "
            f"<class 'torch.SymInt'>) but got {tuple(type(arg) for arg in lifted_args)}")


def unique_graph_id(root: Any, prefix: str) -> tuple[int, str]:
    """The first ``<prefix>_<i>`` that ``root`` does not hold yet, and ``i``."""
    i = 0
    while hasattr(root, f"{prefix}_{i}"):
        i += 1
    return i, f"{prefix}_{i}"


def _torch_size(shape: tuple[int, ...]) -> str:
    return f"torch.Size([{', '.join(map(str, shape))}])"


def _diff_meta(lhs: Any, rhs: Any) -> list[str]:
    if isinstance(lhs, Tensor) and isinstance(rhs, Tensor):
        diffs = []
        if tuple(lhs.shape) != tuple(rhs.shape):
            diffs.append(f"'shape: {_torch_size(lhs.shape)} vs {_torch_size(rhs.shape)}'")
        if lhs.dtype is not rhs.dtype:
            diffs.append(f"'dtype: {lhs.dtype} vs {rhs.dtype}'")
        return diffs
    both_int = isinstance(lhs, int) and isinstance(rhs, int)
    if not both_int:
        return [f"type: {lhs} vs {rhs}"]
    return []


def check_meta_consistency(lhs_list: Sequence[Any], rhs_list: Sequence[Any], lhs_name: str,
                           rhs_name: str) -> None:
    """Pairwise equal metadata, or torch's ``UncapturedHigherOrderOpError`` listing each pair."""
    if len(lhs_list) != len(rhs_list):
        raise UncapturedHigherOrderOpError(
            f"Expected {lhs_name} and {rhs_name} to have same number of outputs but got "
            f"lhs:{list(lhs_list)} and rhs:{list(rhs_list)}")
    all_diffs = []
    for i, (lhs, rhs) in enumerate(zip(lhs_list, rhs_list)):
        if diff := ", ".join(_diff_meta(lhs, rhs)):
            all_diffs.append(f"pair[{i}] differ in {diff}, where lhs is {lhs} and rhs is {rhs}")
        if isinstance(lhs, Tensor) and isinstance(rhs, Tensor) and lhs.device != rhs.device:
            all_diffs.append(f"pair[{i}] differ in device, where lhs is {lhs} and rhs is {rhs}")
    if all_diffs:
        diff_str = "\n".join(all_diffs)
        raise UncapturedHigherOrderOpError(
            f"Expected {lhs_name} and {rhs_name} to have same metadata but found:\n{diff_str}")
