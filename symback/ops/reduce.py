"""Reductions and the stable ML reductions: sum, count, logsumexp, softmax."""
from __future__ import annotations

import numpy as np

from .. import dsl as F
from ..shapes import resolve
from .registry import Op, float_dtype, register, result_dtype


def _keep(shape, axes):
    """``shape`` with the reduced ``axes`` set to 1 (keepdims form)."""
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _reduced(shape, axes, keepdims):
    return _keep(shape, axes) if keepdims else tuple(d for i, d in enumerate(shape) if i not in axes)


def _attr_axes(attrs):
    if "axes" in attrs:
        return attrs["axes"]
    return (attrs["axis"],)


def expand_reduced(g, node, x):
    """Bring an adjoint of a reduction over ``x`` back to ``x``'s rank (size 1 on
    the reduced axes) and broadcast it to ``x``'s shape."""
    axes = _attr_axes(dict(node.attrs))
    if not dict(node.attrs).get("keepdims", False):
        key = tuple(None if i in axes else slice(None) for i in range(x.ndim))
        g = g[key] if axes else g
    return F.broadcast_like(g, x)


# --- sum ------------------------------------------------------------------------

register(Op(
    name="sum", kind="reduce",
    infer=lambda shapes, dtypes, attrs: (
        _reduced(shapes[0], attrs["axes"], attrs["keepdims"]),
        result_dtype(list(dtypes), "sum")),
    eval=lambda values, attrs: np.sum(values[0], axis=attrs["axes"], keepdims=attrs["keepdims"]),
    vjp=lambda n, g: (expand_reduced(g, n, n.args[0]),),
    jvp=lambda n, t: F.sum(t[0], n.attr("axes"), n.attr("keepdims")),
    sympy=lambda sp, values, attrs: np.sum(np.asarray(values[0], dtype=object),
                                          axis=attrs["axes"], keepdims=attrs["keepdims"]),
))


# --- count: the number of elements over some axes (for mean) ------------------------

def _count_scalar(args, node, em):
    dims = [em.dims(node.args[0])[a] for a in node.attr("axes")]
    size = " * ".join(dims) if dims else "1"
    return f"np.{node.dtype}({size})"


register(Op(
    name="count", kind="elementwise", shape_args=(0,),
    infer=lambda shapes, dtypes, attrs: ((), float_dtype([dtypes[0]], "count")),
    eval=lambda values, attrs: np.float64(np.prod([np.shape(values[0])[a] for a in attrs["axes"]])),
    scalar=_count_scalar,
    vjp=lambda n, g: (None,), jvp=lambda n, t: None,
    sympy=lambda sp, values, attrs: sp.Integer(int(np.prod([np.shape(values[0])[a] for a in attrs["axes"]]))),
))


# --- logsumexp and softmax: stable loops over one axis --------------------------------

def _np_logsumexp(x, axis, keepdims):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))
    return out if keepdims else np.squeeze(out, axis=axis)


def _np_softmax(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def axis_loops(em, x, axis):
    """Source for viewing ``x`` as (pre, n, post) around ``axis``: returns the
    three size expressions and the line binding the 3-d view's name."""
    dims = em.dims(x)
    pre = " * ".join(dims[:axis]) or "1"
    post = " * ".join(dims[axis + 1:]) or "1"
    return pre, dims[axis], post


def _softmax_block(em, node, out, args):
    (x,) = args
    axis = node.attr("axis")
    pre, n, post = axis_loops(em, node.args[0], axis)
    x3, o3 = em.fresh(f"{x}_3d"), em.fresh(f"{out}_3d")
    m, s, e = em.fresh("m"), em.fresh("s"), em.fresh("e")
    zero = em.lit(0.0, node.dtype)
    return [
        f"{x3} = np.ascontiguousarray({x}).reshape(({pre}, {n}, {post}))",
        f"{o3} = np.empty(({pre}, {n}, {post}), dtype=np.{node.dtype})",
        f"for p in range({pre}):",
        f"    for q in range({post}):",
        f"        {m} = -np.inf",
        f"        for j in range({n}):",
        f"            {m} = max({m}, {x3}[p, j, q])",
        f"        if not np.isfinite({m}):",
        f"            {m} = {zero}",
        f"        {s} = {zero}",
        f"        for j in range({n}):",
        f"            {e} = np.exp({x3}[p, j, q] - {m})",
        f"            {o3}[p, j, q] = {e}",
        f"            {s} += {e}",
        f"        for j in range({n}):",
        f"            {o3}[p, j, q] /= {s}",
        f"{out} = {o3}.reshape({em.shape_src(node)})",
    ]


def _logsumexp_block(em, node, out, args):
    (x,) = args
    axis = node.attr("axis")
    pre, n, post = axis_loops(em, node.args[0], axis)
    x3, o2 = em.fresh(f"{x}_3d"), em.fresh(f"{out}_2d")
    m, s = em.fresh("m"), em.fresh("s")
    zero = em.lit(0.0, node.dtype)
    return [
        f"{x3} = np.ascontiguousarray({x}).reshape(({pre}, {n}, {post}))",
        f"{o2} = np.empty(({pre}, {post}), dtype=np.{node.dtype})",
        f"for p in range({pre}):",
        f"    for q in range({post}):",
        f"        {m} = -np.inf",
        f"        for j in range({n}):",
        f"            {m} = max({m}, {x3}[p, j, q])",
        f"        if not np.isfinite({m}):",
        f"            {m} = {zero}",
        f"        {s} = {zero}",
        f"        for j in range({n}):",
        f"            {s} += np.exp({x3}[p, j, q] - {m})",
        f"        {o2}[p, q] = {m} + np.log({s})",
        (f"{out} = {o2}.reshape({em.shape_src(node)})" if node.shape
         else f"{out} = {o2}[0, 0]"),
    ]


def _softmax_vjp(node, g):
    axis = node.attr("axis")
    return (node * (g - F.sum(g * node, axis, keepdims=True)),)


def _softmax_jvp(node, t):
    axis = node.attr("axis")
    return node * (t[0] - F.sum(node * t[0], axis, keepdims=True))


def _sympy_softmax(sp, values, attrs):
    x = np.asarray(values[0], dtype=object)
    e = np.vectorize(sp.exp, otypes=[object])(x)
    return e / np.sum(e, axis=attrs["axis"], keepdims=True)


def _sympy_logsumexp(sp, values, attrs):
    x = np.asarray(values[0], dtype=object)
    e = np.vectorize(sp.exp, otypes=[object])(x)
    s = np.sum(e, axis=attrs["axis"], keepdims=attrs["keepdims"])
    return np.vectorize(sp.log, otypes=[object])(s)


def _float_same_shape(what):
    return lambda shapes, dtypes, attrs: (tuple(shapes[0]), float_dtype([dtypes[0]], what))


register(Op(
    name="softmax", kind="block", infer=_float_same_shape("softmax"),
    eval=lambda values, attrs: _np_softmax(values[0], attrs["axis"]),
    vjp=_softmax_vjp, jvp=_softmax_jvp, block=_softmax_block, sympy=_sympy_softmax,
))

register(Op(
    name="logsumexp", kind="block",
    infer=lambda shapes, dtypes, attrs: (
        _reduced(shapes[0], (attrs["axis"],), attrs["keepdims"]), float_dtype([dtypes[0]], "logsumexp")),
    eval=lambda values, attrs: _np_logsumexp(values[0], attrs["axis"], attrs["keepdims"]),
    vjp=lambda n, g: (expand_reduced(g, n, n.args[0]) * F.softmax(n.args[0], n.attr("axis")),),
    jvp=lambda n, t: F.sum(F.softmax(n.args[0], n.attr("axis")) * t[0], n.attr("axis"), n.attr("keepdims")),
    block=_logsumexp_block, sympy=_sympy_logsumexp,
))

__all__ = ["expand_reduced", "axis_loops", "resolve"]
