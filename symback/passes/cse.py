"""Common-subexpression elimination.

In symback CSE is structural and happens by construction: every node is made by
``ops.registry.apply``, which hash-conses, so two computations of the same value
are one node -- in the model, in its gradient, and across both.  This module
holds the two tools that remain useful: :func:`duplicates`, which verifies the
property (tests count duplicates in gradient graphs), and :func:`rebuild`,
which re-runs every node through ``apply`` so that graphs transformed outside
the constructor (or made before a rewrite rule was added) are re-simplified and
re-shared.
"""
from __future__ import annotations

from ..ir import Node, topo_order


def structural_key(node, ids):
    return (node.op, tuple(ids[id(a)] for a in node.args), node.attrs, node.shape, node.dtype)


def duplicates(outputs):
    """Groups of distinct nodes that compute the same value structurally."""
    outputs = [outputs] if isinstance(outputs, Node) else list(outputs)
    ids, seen, dups = {}, {}, []
    for node in topo_order(outputs):
        key = structural_key(node, ids)
        if key in seen:
            ids[id(node)] = ids[id(seen[key])]
            dups.append((seen[key], node))
        else:
            seen[key] = node
            ids[id(node)] = len(seen)
    return dups


def rebuild(outputs):
    """The same computation rebuilt through ``apply``: simplified and shared."""
    from ..ops.registry import apply
    single = isinstance(outputs, Node)
    outputs = [outputs] if single else list(outputs)
    new = {}
    for node in topo_order(outputs):
        if not node.args:
            new[id(node)] = node
        else:
            new[id(node)] = apply(node.op, *[new[id(a)] for a in node.args], **dict(node.attrs))
    result = [new[id(o)] for o in outputs]
    return result[0] if single else result
