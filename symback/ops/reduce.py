"""Reductions and the stable ML reductions: sum, count, logsumexp, softmax."""
from __future__ import annotations

import numpy as np

from . import build as F
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
    if not g.shape:
        return F.broadcast_like(g, x)
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

def np_logsumexp(x, axis, keepdims):
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


class AxisView:
    """How a block rule walks one axis of ``x``: as rows of a 2-d array when the
    axis is the last one (no copy for 2-d input), else as (pre, n, post)."""

    def __init__(self, em, x, src, axis, prefix):
        dims = em.dims(x)
        self.p, self.q, self.j = em.idx("p"), em.idx("q"), em.idx("j")
        self.pre = " * ".join(dims[:axis]) or "1"
        self.n = dims[axis]
        self.post = " * ".join(dims[axis + 1:]) or "1"
        self.flat = self.post == "1"
        if self.flat and len(dims) == 2 and axis == 1:   # rows of x itself: no copy
            self.view, self.setup = src, []
        else:
            self.view = em.fresh(f"{prefix}_{'2d' if self.flat else '3d'}")
            self.setup = [f"{self.view} = np.ascontiguousarray({src}).reshape({self.shape()})"]

    def shape(self):
        return f"({self.pre}, {self.n})" if self.flat else f"({self.pre}, {self.n}, {self.post})"

    def at(self, array):
        p, j, q = self.p, self.j, self.q
        return f"{array}[{p}, {j}]" if self.flat else f"{array}[{p}, {j}, {q}]"

    def loops(self):
        """The loop headers over every position but the axis, and their indent."""
        if self.flat:
            return [f"for {self.p} in range({self.pre}):"], "    "
        return [f"for {self.p} in range({self.pre}):", f"    for {self.q} in range({self.post}):"], "        "


def _max_and_sum(em, dtype, v, x, m, s):
    """Lines that set ``m`` to the axis maximum (0 if not finite) and zero ``s``."""
    zero = em.lit(0.0, dtype)
    return [
        f"{m} = {em.lit(float('-inf'), dtype)}",
        f"for {v.j} in range({v.n}):",
        f"    {m} = max({m}, {v.at(x)})",
        f"if not np.isfinite({m}):",
        f"    {m} = {zero}",
        f"{s} = {zero}",
    ]


def _softmax_block(em, node, out, args):
    v = AxisView(em, node.args[0], args[0], node.attr("axis"), args[0])
    o = out if v.setup == [] else em.fresh(f"{out}_{'2d' if v.flat else '3d'}")
    m, s, e = em.fresh("m"), em.fresh("s"), em.fresh("e")
    heads, ind = v.loops()
    body = _max_and_sum(em, node.dtype, v, v.view, m, s) + [
        f"for {v.j} in range({v.n}):",
        f"    {e} = np.exp({v.at(v.view)} - {m})",
        f"    {v.at(o)} = {e}",
        f"    {s} += {e}",
        f"for {v.j} in range({v.n}):",
        f"    {v.at(o)} /= {s}",
    ]
    lines = v.setup + [f"{o} = np.empty({v.shape()}, dtype=np.{node.dtype})"] + heads
    lines += [ind + b for b in body]
    if o != out:
        lines.append(f"{out} = {o}.reshape({em.shape_src(node)})")
    return lines


def _logsumexp_block(em, node, out, args):
    v = AxisView(em, node.args[0], args[0], node.attr("axis"), args[0])
    o = em.fresh(f"{out}_2d")
    m, s = em.fresh("m"), em.fresh("s")
    heads, ind = v.loops()
    at_out = f"{o}[{v.p}, 0]" if v.flat else f"{o}[{v.p}, {v.q}]"
    body = _max_and_sum(em, node.dtype, v, v.view, m, s) + [
        f"for {v.j} in range({v.n}):",
        f"    {s} += np.exp({v.at(v.view)} - {m})",
        f"{at_out} = {m} + np.log({s})",
    ]
    lines = v.setup + [f"{o} = np.empty(({v.pre}, {'1' if v.flat else v.post}), dtype=np.{node.dtype})"] + heads
    lines += [ind + b for b in body]
    lines.append(f"{out} = {o}.reshape({em.shape_src(node)})" if node.shape else f"{out} = {o}[0, 0]")
    return lines


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
    eval=lambda values, attrs: np_logsumexp(values[0], attrs["axis"], attrs["keepdims"]),
    vjp=lambda n, g: (expand_reduced(g, n, n.args[0]) * F.softmax(n.args[0], n.attr("axis")),),
    jvp=lambda n, t: F.sum(F.softmax(n.args[0], n.attr("axis")) * t[0], n.attr("axis"), n.attr("keepdims")),
    block=_logsumexp_block, sympy=_sympy_logsumexp,
))

__all__ = ["expand_reduced", "AxisView"]
