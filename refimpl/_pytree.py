"""Flatten and map nested containers of tensors.

Models: ``torch/utils/_pytree.py`` at torch 2.13.0 (``tree_flatten``, ``tree_map``,
``tree_map_only``, ``tree_leaves``, ``arg_tree_leaves``).
Spec: used by DSP-4 (key extraction) and EFF-16 (``track_tensor_tree``).

Simplifications:
1. Only ``tuple``, ``list`` and ``dict`` are containers; everything else is a leaf. Named tuples,
   dataclasses and registered node types are not modelled.
2. A tree spec is a plain nested structure of those container types, not a ``TreeSpec`` object.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["arg_tree_leaves", "tree_flatten", "tree_leaves", "tree_map", "tree_map_only",
           "tree_unflatten"]


def tree_leaves(tree: Any) -> list[Any]:
    """Every leaf of ``tree``, depth first, left to right."""
    out: list[Any] = []
    _collect(tree, out)
    return out


def _collect(tree: Any, out: list[Any]) -> None:
    if type(tree) in (tuple, list):
        for item in tree:
            _collect(item, out)
    elif type(tree) is dict:
        for item in tree.values():
            _collect(item, out)
    else:
        out.append(tree)


def arg_tree_leaves(*args: Any, **kwargs: Any) -> list[Any]:
    """Leaves of ``(args, kwargs)``, as torch's ``arg_tree_leaves``."""
    out: list[Any] = []
    _collect(args, out)
    _collect(kwargs, out)
    return out


def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    """Apply ``fn`` to every leaf, keeping the container structure."""
    kind = type(tree)
    if kind is tuple:
        return tuple(tree_map(fn, item) for item in tree)
    if kind is list:
        return [tree_map(fn, item) for item in tree]
    if kind is dict:
        return {key: tree_map(fn, item) for key, item in tree.items()}
    return fn(tree)


def tree_map_only(cls: type | tuple[type, ...], fn: Callable[[Any], Any], tree: Any) -> Any:
    """Apply ``fn`` to the leaves that are instances of ``cls``; leave the others."""
    return tree_map(lambda leaf: fn(leaf) if isinstance(leaf, cls) else leaf, tree)


def tree_flatten(tree: Any) -> tuple[list[Any], Any]:
    """Leaves and a spec from which ``tree_unflatten`` rebuilds the tree."""
    leaves = tree_leaves(tree)
    spec = tree_map(lambda _leaf: None, tree)
    return leaves, spec


def tree_unflatten(leaves: list[Any], spec: Any) -> Any:
    """Inverse of ``tree_flatten``."""
    it = iter(leaves)
    return tree_map(lambda _slot: next(it), spec)
