"""Reverse mode (grad), forward mode (jvp), Jacobians and Hessian-vector products.

Both modes are driven by the op registry: reverse mode asks each op for its
VJP, forward mode for its JVP.  Derivatives are built from the same IR ops as
the model, through the same hash-consing constructor, so the gradient shares
every subexpression with the forward pass and can be differentiated again.
"""
from __future__ import annotations

import numpy as np

from .ops import build as F
from .ir import FLOAT_DTYPES, TUPLE, Node, mark_adjoint, topo_order
from .ops.registry import OPS, as_node
from .shapes import ShapeError, broadcast_axes, resolve, show
from .gc_pause import paused


def check_wrt(wrt, what):
    for w in wrt:
        if not isinstance(w, Node):
            raise TypeError(f"{what}: can only differentiate with respect to symback variables, got {w!r}")
        if w.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{what}: cannot differentiate with respect to {w!r}, whose dtype is {w.dtype}; "
                            "only float64 and float32 values have derivatives")


def active_nodes(order, wrt):
    """The nodes that depend on some ``wrt`` node (the only ones with adjoints).

    Integer and boolean values are never active: a cast to int64 is a step
    function, so no adjoint may flow back through it (as none does through a
    comparison), even where numpy promotion later mixes it with floats."""
    active = {id(w) for w in wrt}
    for node in order:
        op = OPS[node.op]
        if differentiable(node) and any(id(a) in active for i, a in enumerate(node.args)
               if i not in op.shape_args and i not in op.nondiff):
            active.add(id(node))
    return active


def differentiable(node):
    """Float values have derivatives, and so do tuples (a loop's outputs), whose
    adjoints and tangents are dicts keyed by output (see ops/control.py)."""
    return node.dtype in FLOAT_DTYPES or node.dtype == TUPLE


def fit(c, target):
    """Adjoint contribution ``c`` brought to ``target``'s shape: summed over the
    axes broadcasting added, broadcast where it is smaller (a scalar zero)."""
    if c.shape == target.shape:
        return c
    if len(c.shape) >= len(target.shape):
        lead = len(c.shape) - len(target.shape)
        axes = broadcast_axes(target.shape, c.shape)
        kept = tuple(a for a in axes if a >= lead)
        if kept:   # target's size-1 axes: summed in place, so no reshape (and
            c = F.sum(c, kept, keepdims=True)   # no guess of run-time sizes)
        if lead:
            c = F.sum(c, tuple(range(lead)))
    if c.shape != target.shape:
        c = F.broadcast_like(c, target)
    return c


def sweep(y, wrt, adjoint_of, what="grad"):
    """The reverse sweep, as a generator of ``(node, arg, contribution)``.

    Nodes are visited in reverse topological order; ``adjoint_of(node)`` gives
    the IR that stands for ``node``'s adjoint (``None``: no adjoint reaches it)
    and is called only after every contribution to ``node`` has been yielded,
    so a caller that accumulates them (``grad``) or evaluates them
    (``explain``) sees complete adjoints.  Each contribution is the op's VJP
    brought to ``arg``'s shape; integer and boolean values, shape-only and
    non-differentiable arguments get none.  ``y`` may be a list of nodes (the
    seeded outputs of a loop's step).  A contribution to a tuple (a loop) is a
    ``(key, adjoint)`` pair for one of its outputs (see :func:`accumulate`)."""
    check_wrt(wrt, what)
    order = topo_order(list(y) if isinstance(y, (list, tuple)) else [y])
    active = active_nodes(order, wrt)
    for node in reversed(order):
        if not node.args or id(node) not in active:
            continue
        g = adjoint_of(node)
        if g is None:
            continue
        op = OPS[node.op]
        if op.vjp is None:
            raise NotImplementedError(f"{what}: op {node.op!r} has no reverse-mode rule")
        if op.vjp_active:   # (a loop differentiates only what is active)
            contributions = op.vjp(node, g, tuple(id(a) in active for a in node.args))
        else:
            contributions = op.vjp(node, g)
        for i, (arg, c) in enumerate(zip(node.args, contributions)):
            if c is None or id(arg) not in active or i in op.shape_args or i in op.nondiff:
                continue
            yield node, arg, (c if arg.dtype == TUPLE else fit(as_node(c, like=arg), arg))


def accumulate(adjoint, arg, c):
    """Add contribution ``c`` to ``adjoint[id(arg)]``; a tuple's adjoint is a
    dict of adjoints, one per output key, summed separately."""
    if arg.dtype == TUPLE:
        parts = adjoint.setdefault(id(arg), {})
        key, part = c
        parts[key] = part if key not in parts else parts[key] + part
    else:
        previous = adjoint.get(id(arg))
        adjoint[id(arg)] = c if previous is None else previous + c


def backprop(seeds, wrt):
    """Adjoints of ``wrt`` (``None`` for a symbolic zero) given ``seeds``, a list
    of (node, adjoint) pairs: a loop's reverse step seeds every output of one
    step with a placeholder adjoint (ops/control.py)."""
    adjoint = {}
    for node, g in seeds:
        accumulate(adjoint, node, g)
    for _, arg, c in sweep([s for s, _ in seeds], wrt, lambda node: adjoint.get(id(node))):
        accumulate(adjoint, arg, c)
    return [adjoint.get(id(w)) for w in wrt]


@paused
def grad(y, wrt):
    """Reverse mode: one IR expression per item of ``wrt``, with that item's shape.

    ``y`` must be a scalar.  One sweep in reverse topological order; a node
    used by several consumers gets the sum of their contributions; symbolic zero
    adjoints are never materialised (a ``wrt`` that ``y`` does not depend on gets
    an explicit zero only at the end).
    """
    y = as_node(y)
    single = isinstance(wrt, Node)
    wrt = [wrt] if single else list(wrt)
    check_wrt(wrt, "grad")
    if y.shape != ():
        raise ShapeError(f"grad: the output must be a scalar, got shape {show(y.shape)}; "
                         "reduce it first (sb.sum, sb.mean) or use sb.jacobian / sb.jvp")
    if y.dtype not in FLOAT_DTYPES:
        raise TypeError(f"grad: the output must be floating point, got dtype {y.dtype}")
    adjoint, nodes = {id(y): as_node(1.0, like=y)}, {id(y): y}
    for _, arg, c in sweep(y, wrt, lambda node: adjoint.get(id(node))):
        nodes[id(arg)] = arg
        accumulate(adjoint, arg, c)
    for key, g in adjoint.items():
        if nodes[key].dtype != TUPLE:   # (a loop's adjoint is a dict, one per output)
            mark_adjoint(g, nodes[key])
    result = [adjoint[id(w)] if id(w) in adjoint else F.zeros_like(w) for w in wrt]
    result = [F.astype(r, w.dtype) for r, w in zip(result, wrt)]
    return result[0] if single else result


@paused
def jvp(ys, tangents):
    """Forward mode: the directional derivative of each of ``ys`` along
    ``tangents`` (a dict var -> expression or value), one expression per output."""
    single = isinstance(ys, Node)
    ys = [ys] if single else [as_node(y) for y in ys]
    if not isinstance(tangents, dict):
        raise TypeError("jvp: tangents must be a dict mapping variables to expressions or values")
    check_wrt(list(tangents), "jvp")
    tangent = {}
    for v, t in tangents.items():
        t = as_node(t, like=v)
        if t.shape != v.shape:
            try:
                t = F.broadcast_like(t, v)
            except ShapeError:
                raise ShapeError(f"jvp: the tangent of {v.name} has shape {show(t.shape)}, "
                                 f"the variable {show(v.shape)}") from None
        tangent[id(v)] = t
    tangent = tangent_map(topo_order(ys), tangent)
    out = [tangent[id(y)] if id(y) in tangent else F.zeros_like(y) for y in ys]
    return out[0] if single else out


def tangent_map(order, tangent):
    """Forward sweep over ``order``: ``tangent`` (id -> tangent of the seeded
    nodes) completed with the tangent of every node that has one."""
    for node in order:
        if not node.args:
            continue
        op = OPS[node.op]
        ts = [None if i in op.shape_args or i in op.nondiff else tangent.get(id(a))
              for i, a in enumerate(node.args)]
        if all(t is None for t in ts) or not differentiable(node):
            continue   # integer and boolean values have no tangent (see active_nodes)
        if op.jvp is None:
            raise NotImplementedError(f"jvp: op {node.op!r} has no forward-mode rule")
        t = op.jvp(node, ts)
        if t is not None and node.dtype != TUPLE:   # (a loop's tangent is looked up by key)
            t = as_node(t, like=node)
            if t.shape != node.shape:
                t = F.broadcast_like(t, node)
        if t is not None:
            tangent[id(node)] = t
    return tangent


def _elements(shape, what):
    if any(not isinstance(resolve(d), int) for d in shape):
        raise ShapeError(f"{what}: needs static shapes, got {show(shape)}")
    return list(np.ndindex(*shape)) if shape else [()]


def jacobian(ys, wrt, mode="rev"):
    """The Jacobian of each ``y`` with respect to each ``w``: shape ``y.shape + w.shape``.

    ``mode="rev"`` runs one reverse sweep per output element, ``"fwd"`` one
    forward sweep per input element; both give the same expression values.
    Returns ``J[i][j]`` for lists, or a single expression for single items.
    """
    single_y, single_w = isinstance(ys, Node), isinstance(wrt, Node)
    ys = [ys] if single_y else [as_node(y) for y in ys]
    wrt = [wrt] if single_w else list(wrt)
    check_wrt(wrt, "jacobian")
    if mode not in ("rev", "fwd"):
        raise ValueError(f"jacobian: mode must be 'rev' or 'fwd', got {mode!r}")
    table = []
    for y in ys:
        row = []
        if mode == "rev":
            rows = [grad(y[idx] if idx else y, wrt) for idx in _elements(y.shape, "jacobian")]
            for j, w in enumerate(wrt):
                parts = [r[j] for r in rows]
                row.append(parts[0] if not y.shape else F.reshape(F.stack(parts), y.shape + w.shape))
        else:
            for w in wrt:
                cols = []
                for idx in _elements(w.shape, "jacobian"):
                    e = np.zeros(w.shape, dtype=w.dtype)
                    e[idx] = 1
                    cols.append(jvp(y, {w: e}))
                if not w.shape:
                    row.append(cols[0])
                else:  # stack puts the input index first; move it to the back
                    stacked = F.reshape(F.stack(cols), w.shape + y.shape)
                    nw = len(w.shape)
                    row.append(F.transpose(stacked, tuple(range(nw, nw + y.ndim)) + tuple(range(nw))))
        table.append(row)
    if single_y and single_w:
        return table[0][0]
    if single_y:
        return table[0]
    return [r[0] for r in table] if single_w else table


def hvp(y, wrt, v):
    """Hessian-vector product by reverse over reverse: grad of <grad y, v>.

    ``v`` gives one expression or array per ``wrt`` item (same shapes).
    """
    single = isinstance(wrt, Node)
    wrt = [wrt] if single else list(wrt)
    v = [v] if single else list(v)
    if len(v) != len(wrt):
        raise ValueError(f"hvp: got {len(v)} directions for {len(wrt)} variables")
    gs = grad(y, wrt)
    inner = None
    for g, d, w in zip(gs, v, wrt):
        d = as_node(d, like=w)
        if d.shape != w.shape:
            raise ShapeError(f"hvp: direction for {w.name} has shape {show(d.shape)}, expected {show(w.shape)}")
        term = F.sum(g * d)
        inner = term if inner is None else inner + term
    out = grad(inner, wrt)
    return out[0] if single else out
