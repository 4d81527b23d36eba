"""``sb.scan`` and ``sb.fori_loop``: loops traced once into one IR node.

The user's step function is called ONCE, on placeholders, and what it returns
becomes the loop's body (see :mod:`symback.ops.control`).  Values the step
reads from outside (parameters, data, anything computed before the loop) are
captured: each maximal outside subexpression becomes an argument of the loop,
computed once before it, and a placeholder inside it, so the body is a closed
graph that every pass can treat on its own.

Mistakes are reported when the loop is built, naming the argument: a carry
that changes shape or dtype, a step that does not return ``(carry, y)``, xs of
different lengths.  The number of steps is static; other sizes may be known
only at call time (``None``), as anywhere else.
"""
from __future__ import annotations

from .errors import UserError
from .ir import Node, topo_order
from .ops.control import Body, carry, make_scan, placeholder, stacked
from .ops.registry import apply, as_node
from .shapes import ShapeError, show


class LoopError(UserError, TypeError):
    """A loop's step function does not fit its carry or its xs."""


def _flatten(tree, path):
    """(leaves, paths, structure) of nested tuples/lists of values; ``None`` has no leaves."""
    if tree is None:
        return [], [], None
    if isinstance(tree, (tuple, list)):
        leaves, paths, parts = [], [], []
        for i, t in enumerate(tree):
            sub_leaves, sub_paths, sub = _flatten(t, f"{path}[{i}]")
            leaves += sub_leaves
            paths += sub_paths
            parts.append(sub)
        return leaves, paths, (type(tree), tuple(parts))
    return [tree], [path], "leaf"


def _unflatten(structure, leaves):
    it = iter(leaves)

    def build(s):
        if s is None:
            return None
        if s == "leaf":
            return next(it)
        kind, parts = s
        return kind(build(p) for p in parts)
    return build(structure)


def _describe(structure):
    if structure is None:
        return "None"
    if structure == "leaf":
        return "an array"
    kind, parts = structure
    return ("(" if kind is tuple else "[") + ", ".join(_describe(p) for p in parts) + (")" if kind is tuple else "]")


def _length(xs, paths, length):
    n = length
    for x, path in zip(xs, paths):
        if not x.shape:
            raise ShapeError(f"scan: {path} is a scalar; xs are scanned along their first axis")
        if not isinstance(x.shape[0], int):
            raise ShapeError(f"scan: {path} has shape {show(x.shape)}; the scanned axis needs a static size")
        if n is None:
            n = x.shape[0]
        elif x.shape[0] != n:
            what = f"length={length}" if length is not None else f"{paths[0]} has {xs[0].shape[0]} rows"
            raise ShapeError(f"scan: {path} has {x.shape[0]} rows but {what}")
    if n is None:
        raise TypeError("scan: give xs or length (the number of steps)")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise TypeError(f"scan: length must be a non-negative int, got {n!r}")
    return n


def _capture(outputs, inside):
    """The body's outputs with every maximal outside subexpression (a node that
    depends on no placeholder, constants aside) replaced by a new placeholder;
    returns (new outputs, placeholders, the outside values they stand for)."""
    order = topo_order(outputs)
    dep = set(inside)
    for n in order:
        if id(n) not in dep and any(id(a) in dep for a in n.args):
            dep.add(id(n))
    captured, new = [], {}
    readers = [a for n in order if id(n) in dep for a in n.args] + list(outputs)
    for a in readers:
        if id(a) not in dep and a.op != "const" and id(a) not in new:
            p = placeholder(a.shape, a.dtype, "k")
            new[id(a)] = p
            captured.append((p, a))
    out = {}
    for n in order:
        if id(n) in new:
            out[id(n)] = new[id(n)]
        elif id(n) not in dep or not n.args:
            out[id(n)] = n
        else:
            args = [out[id(a)] for a in n.args]
            out[id(n)] = n if all(x is y for x, y in zip(args, n.args)) else \
                apply(n.op, *args, **dict(n.attrs))
    return [out[id(o)] for o in outputs], [p for p, _ in captured], [a for _, a in captured]


def _trace(fn, init, xs, length, reverse, what, with_index):
    init_leaves, init_paths, init_structure = _flatten(init, "init")
    init_leaves = [as_node(x) for x in init_leaves]
    x_leaves, x_paths, x_structure = _flatten(xs, "xs")
    x_leaves = [as_node(x) for x in x_leaves]
    n = _length(x_leaves, x_paths, length)
    carry_in = [placeholder(c.shape, c.dtype, "c") for c in init_leaves]
    x_in = [placeholder(x.shape[1:], x.dtype, "x") for x in x_leaves]
    index = placeholder((), "int64", "i")
    carry_arg = _unflatten(init_structure, carry_in)
    if with_index:
        new_carry, y = fn(index, carry_arg), None
    else:
        result = fn(carry_arg, _unflatten(x_structure, x_in))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise LoopError(f"{what}: the step function must return a pair (carry, y), "
                            f"got {type(result).__name__}")
        new_carry, y = result
    out_leaves, out_paths, out_structure = _flatten(new_carry, "carry")
    if out_structure != init_structure:
        raise LoopError(f"{what}: the step function returns a carry of structure {_describe(out_structure)}, "
                        f"but init is {_describe(init_structure)}")
    carry_out = []
    for leaf, ph, path, ipath in zip(out_leaves, carry_in, out_paths, init_paths):
        leaf = as_node(leaf, like=ph)
        if leaf.shape != ph.shape:
            raise ShapeError(f"{what}: the step function returns {path} of shape {show(leaf.shape)}, "
                             f"but {ipath} has shape {show(ph.shape)}")
        if leaf.dtype != ph.dtype:
            raise LoopError(f"{what}: the step function returns {path} of dtype {leaf.dtype}, "
                            f"but {ipath} has dtype {ph.dtype}")
        carry_out.append(leaf)
    y_leaves, y_paths, y_structure = _flatten(y, "y")
    y_leaves = [as_node(v) for v in y_leaves]
    for leaf, path in zip(y_leaves, y_paths):
        if not isinstance(leaf, Node):
            raise LoopError(f"{what}: {path} is not an expression")

    inside = {id(p) for p in carry_in + x_in + [index]}
    outputs, const_in, consts = _capture(carry_out + y_leaves, inside)
    used = {id(n) for n in topo_order(outputs)}
    keep = [j for j, p in enumerate(x_in) if id(p) in used]
    body = Body(carry_in, [x_in[j] for j in keep], const_in, index,
                outputs[:len(carry_out)], outputs[len(carry_out):])
    node = make_scan(body, init_leaves, [x_leaves[j] for j in keep], consts, n, reverse)
    final = _unflatten(init_structure, [carry(node, i) for i in range(len(carry_in))])
    ys = _unflatten(y_structure, [stacked(node, v) for v in body.y_out])
    return final, ys


def scan(body, init, xs=None, length=None, reverse=False):
    """Loop ``body(carry, x) -> (carry, y)`` over the rows of ``xs`` (or
    ``length`` times with ``x = None``), as ``jax.lax.scan``.

    Returns ``(final_carry, ys)``, ``ys`` the per-step ``y`` stacked on a new
    first axis.  Carries, xs and ys may be (nested) tuples or lists of arrays.
    ``body`` is called once, to trace it; the loop is one node of the graph,
    differentiable in both modes and again, and compiles to a ``for`` loop.
    With ``reverse=True`` the steps run from the last row to the first.
    """
    return _trace(body, init, xs, length, reverse, "scan", with_index=False)


def fori_loop(n, body, init):
    """``body(i, carry) -> carry`` for ``i`` in ``range(n)``; returns the final
    carry.  ``i`` is an int64 scalar expression (``sb.astype(i, float)`` to
    compute with it)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise TypeError(f"fori_loop: n must be a non-negative int (the number of steps), got {n!r}")
    final, _ = _trace(body, init, None, n, False, "fori_loop", with_index=True)
    return final
