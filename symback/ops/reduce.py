"""Reductions and the stable ML reductions: sum, count, logsumexp, softmax."""
from __future__ import annotations

import numpy as np

from . import build as F
from .registry import Op, float_dtype, register, result_dtype
from .scalar import Cast, Size


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

register(Op(
    name="count", kind="elementwise", shape_args=(0,),
    infer=lambda shapes, dtypes, attrs: ((), float_dtype([dtypes[0]], "count")),
    eval=lambda values, attrs: np.float64(np.prod([np.shape(values[0])[a] for a in attrs["axes"]])),
    scalar=lambda node: Cast(node.dtype, Size(0, node.attr("axes"))),
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


def _softmax_vjp(node, g):
    axis = node.attr("axis")
    return (node * (g - F.sum(g * node, axis, keepdims=True)),)


def _softmax_jvp(node, t):
    axis = node.attr("axis")
    return node * (t[0] - F.sum(node * t[0], axis, keepdims=True))


def _softmax_from(n):
    """softmax(x) for ``n = logsumexp(x)`` as ``exp(x - n)``: the forward's max and
    sum are reused (one fused elementwise pass, where a softmax would scan each
    row twice more), stable since ``x - n <= 0``, and NaN where softmax is."""
    x = n.args[0]
    return F.exp(x - expand_reduced(n, n, x))


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
    vjp=_softmax_vjp, jvp=_softmax_jvp, sympy=_sympy_softmax,
))

register(Op(
    name="logsumexp", kind="block",
    infer=lambda shapes, dtypes, attrs: (
        _reduced(shapes[0], (attrs["axis"],), attrs["keepdims"]), float_dtype([dtypes[0]], "logsumexp")),
    eval=lambda values, attrs: np_logsumexp(values[0], attrs["axis"], attrs["keepdims"]),
    vjp=lambda n, g: (expand_reduced(g, n, n.args[0]) * _softmax_from(n),),
    jvp=lambda n, t: F.sum(_softmax_from(n) * t[0], n.attr("axis"), n.attr("keepdims")),
    sympy=_sympy_logsumexp,
))

__all__ = ["expand_reduced"]
