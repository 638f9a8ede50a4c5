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

from collections.abc import Callable
from typing import Any

__all__ = ["arg_tree_leaves", "tree_flatten", "tree_leaves", "tree_map", "tree_map_only",
           "tree_unflatten"]


# [NOTE: pytree fast paths] The dispatcher flattens and maps every op's arguments several
# times, and almost always they are a flat tuple of tensors and scalars. So each function looks
# at an item's exact type before recursing: a leaf is handled in the loop, only a container
# costs a call. The order in which leaves are visited (and ``fn`` is called) is unchanged.
_CONTAINERS = (tuple, list, dict)


def tree_leaves(tree: Any) -> list[Any]:
    """Every leaf of ``tree``, depth first, left to right."""
    out: list[Any] = []
    _collect(tree, out)
    return out


def _collect(tree: Any, out: list[Any]) -> None:
    kind = type(tree)
    if kind is tuple or kind is list:
        items = tree
    elif kind is dict:
        items = tree.values()
    else:
        out.append(tree)
        return
    for item in items:
        if type(item) in _CONTAINERS:
            _collect(item, out)
        else:
            out.append(item)


def arg_tree_leaves(*args: Any, **kwargs: Any) -> list[Any]:
    """Leaves of ``(args, kwargs)``, as torch's ``arg_tree_leaves``."""
    out: list[Any] = []
    _collect(args, out)
    if kwargs:
        _collect(kwargs, out)
    return out


def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    """Apply ``fn`` to every leaf, keeping the container structure."""
    kind = type(tree)
    if kind is tuple:
        try:
            return tuple([tree_map(fn, x) if type(x) in _CONTAINERS else fn(x) for x in tree])
        except StopIteration as exc:
            # What the generator expression this list replaces did (PEP 479): tree_unflatten
            # with too few leaves raises this, not StopIteration.
            raise RuntimeError("generator raised StopIteration") from exc
    if kind is list:
        return [tree_map(fn, x) if type(x) in _CONTAINERS else fn(x) for x in tree]
    if kind is dict:
        return {k: tree_map(fn, x) if type(x) in _CONTAINERS else fn(x) for k, x in tree.items()}
    return fn(tree)


def tree_map_only(cls: type | tuple[type, ...], fn: Callable[[Any], Any], tree: Any) -> Any:
    """Apply ``fn`` to the leaves that are instances of ``cls``; leave the others."""
    # ``tree_map`` with ``lambda leaf: fn(leaf) if isinstance(leaf, cls) else leaf``, the filter
    # written into each branch ([NOTE: pytree fast paths]): no lambda per call, no call per leaf.
    kind = type(tree)
    if kind is tuple:
        try:
            return tuple([tree_map_only(cls, fn, x) if type(x) in _CONTAINERS
                          else fn(x) if isinstance(x, cls) else x for x in tree])
        except StopIteration as exc:  # as in tree_map
            raise RuntimeError("generator raised StopIteration") from exc
    if kind is list:
        return [tree_map_only(cls, fn, x) if type(x) in _CONTAINERS
                else fn(x) if isinstance(x, cls) else x for x in tree]
    if kind is dict:
        return {k: tree_map_only(cls, fn, x) if type(x) in _CONTAINERS
                else fn(x) if isinstance(x, cls) else x for k, x in tree.items()}
    return fn(tree) if isinstance(tree, cls) else tree


def tree_flatten(tree: Any) -> tuple[list[Any], Any]:
    """Leaves and a spec from which ``tree_unflatten`` rebuilds the tree."""
    leaves = tree_leaves(tree)
    spec = tree_map(lambda _leaf: None, tree)
    return leaves, spec


def tree_unflatten(leaves: list[Any], spec: Any) -> Any:
    """Inverse of ``tree_flatten``."""
    it = iter(leaves)
    return tree_map(lambda _slot: next(it), spec)
