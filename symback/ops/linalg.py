"""Array-structure ops: matmul, transpose, reshape, broadcast, indexing, stack."""
from __future__ import annotations

import numpy as np

from . import build as F
from ..shapes import ShapeError, broadcast_shapes, derived_dim, dims_equal, normalize_key, resolve, show, size_of  # noqa: F401
from .registry import Op, apply, float_dtype, register
from .scalar import X0

# --- matmul -----------------------------------------------------------------------


def _matmul_infer(shapes, dtypes, attrs):
    a, b = shapes
    if not (1 <= len(a) <= 2 and 1 <= len(b) <= 2):
        raise ShapeError(f"matmul: operands must be 1-d or 2-d, got shapes {show(a)} and {show(b)}")
    for d in dtypes:
        if d not in ("float64", "float32"):
            raise TypeError(f"matmul: operands must be float64 or float32, got {dtypes[0]} and {dtypes[1]}")
    try:
        dims_equal(a[-1], b[0] if len(b) == 1 else b[-2], "matmul")
    except ShapeError:
        raise ShapeError(f"matmul: inner dimensions of shapes {show(a)} and {show(b)} differ") from None
    shape = (a[:-1] if len(a) == 2 else ()) + (b[-1:] if len(b) == 2 else ())
    return shape, float_dtype(list(dtypes), "matmul")


def _matmul_vjp(node, g):
    a, b = node.args
    if a.ndim == 2 and b.ndim == 2:
        return g @ b.T, a.T @ g
    if a.ndim == 1 and b.ndim == 2:          # (k,) @ (k, n) -> (n,)
        return b @ g, F.expand_dims(a, 1) @ F.expand_dims(g, 0)
    if a.ndim == 2 and b.ndim == 1:          # (m, k) @ (k,) -> (m,)
        return F.expand_dims(g, 1) @ F.expand_dims(b, 0), a.T @ g
    return g * b, g * a                      # (k,) @ (k,) -> ()


def _matmul_jvp(node, t):
    a, b = node.args
    terms = [x for x in (None if t[0] is None else t[0] @ b, None if t[1] is None else a @ t[1]) if x is not None]
    return terms[0] if len(terms) == 1 else terms[0] + terms[1]


register(Op(
    name="matmul", kind="block", infer=_matmul_infer,
    eval=lambda values, attrs: np.matmul(values[0], values[1]),
    vjp=_matmul_vjp, jvp=_matmul_jvp,
    sympy=lambda sp, values, attrs: np.dot(np.asarray(values[0], dtype=object), np.asarray(values[1], dtype=object)),
))

# --- transpose -----------------------------------------------------------------------


def _inverse(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


register(Op(
    name="transpose", kind="block",
    infer=lambda shapes, dtypes, attrs: (tuple(shapes[0][a] for a in attrs["axes"]), dtypes[0]),
    eval=lambda values, attrs: np.transpose(values[0], attrs["axes"]),
    vjp=lambda n, g: (F.transpose(g, _inverse(n.attr("axes"))),),
    jvp=lambda n, t: F.transpose(t[0], n.attr("axes")),
    sympy=lambda sp, values, attrs: np.transpose(np.asarray(values[0], dtype=object), attrs["axes"]),
))

# --- reshape ---------------------------------------------------------------------------


def _reshape_infer(shapes, dtypes, attrs):
    src, target = shapes[0], attrs["shape"]
    if sum(1 for d in target if d == -1) > 1 or any(d < -1 for d in target):
        raise ShapeError(f"reshape: target shape {target} may hold at most one -1 and no other negative size")
    known = size_of(d for d in target if d != -1)
    total = size_of(src)
    if total is not None:
        if -1 in target:
            if known == 0 or total % known:
                raise ShapeError(f"reshape: cannot reshape {show(src)} into {target}")
            return tuple(total // known if d == -1 else d for d in target), dtypes[0]
        if total != known:
            raise ShapeError(f"reshape: cannot reshape {show(src)} ({total} elements) into {target}")
        return tuple(target), dtypes[0]
    if -1 not in target:
        raise ShapeError(f"reshape: {show(src)} has a size known only at call time; "
                         f"give the target {target} a -1 for it")
    return tuple(derived_dim(src, known) if d == -1 else d for d in target), dtypes[0]


def _reshape_back(g, x):
    target = tuple(-1 if d is None else d for d in x.shape)
    if sum(1 for d in target if d == -1) > 1:
        raise ShapeError(f"reshape: cannot differentiate a reshape of {show(x.shape)}: "
                         "more than one size is known only at call time")
    return F.reshape(g, target)


register(Op(
    name="reshape", kind="block", infer=_reshape_infer,
    eval=lambda values, attrs: np.reshape(values[0], attrs["shape"]),
    vjp=lambda n, g: (_reshape_back(g, n.args[0]),),
    jvp=lambda n, t: F.reshape(t[0], n.attr("shape")),
    sympy=lambda sp, values, attrs: np.reshape(np.asarray(values[0], dtype=object), attrs["shape"]),
))

# --- broadcast ----------------------------------------------------------------------------


def _broadcast_infer(shapes, dtypes, attrs):
    target = tuple(shapes[1]) if len(shapes) > 1 else tuple(attrs["shape"])
    src = shapes[0]
    if len(src) > len(target):
        raise ShapeError(f"broadcast_to: cannot broadcast {show(src)} to {show(target)}")
    out = broadcast_shapes([src, target], "broadcast_to")
    if len(out) != len(target) or any(resolve(o) != resolve(t) and resolve(t) is not None
                                      for o, t in zip(out, target)):
        raise ShapeError(f"broadcast_to: cannot broadcast {show(src)} to {show(target)}")
    return target, dtypes[0]


def _broadcast_eval(values, attrs):
    shape = np.shape(values[1]) if len(values) > 1 else attrs["shape"]
    return np.broadcast_to(values[0], shape)


def _broadcast_jvp(node, t):
    return F.broadcast_like(t[0], node.args[1]) if len(node.args) > 1 else F.broadcast_to(t[0], node.shape)


register(Op(
    name="broadcast", kind="elementwise", shape_args=(1,), infer=_broadcast_infer,
    eval=_broadcast_eval, scalar=X0,
    vjp=lambda n, g: (g,) + (None,) * (len(n.args) - 1),
    jvp=_broadcast_jvp,
    sympy=lambda sp, values, attrs: _broadcast_eval([np.asarray(v, dtype=object) for v in values], attrs),
))

# --- indexing ---------------------------------------------------------------------------


def to_slice(k):
    return slice(k[1], k[2], k[3]) if k[0] == "s" else (None if k[0] == "new" else k[1])


def _index_infer(shapes, dtypes, attrs):
    src = shapes[0]
    out, axis = [], 0
    for k in attrs["key"]:
        if k[0] == "new":
            out.append(1)
            continue
        if k[0] == "s":
            out.append(src[axis] if k[1] is None else len(range(k[1], -1 if k[2] is None else k[2], k[3])))
        axis += 1
    return tuple(out), dtypes[0]


register(Op(
    name="index", kind="block", infer=_index_infer,
    eval=lambda values, attrs: np.asarray(values[0])[tuple(to_slice(k) for k in attrs["key"])],
    vjp=lambda n, g: (apply("index_adjoint", g, n.args[0], key=n.attr("key")),),
    jvp=lambda n, t: apply("index", t[0], key=n.attr("key")),
    sympy=lambda sp, values, attrs: np.asarray(values[0], dtype=object)[tuple(to_slice(k) for k in attrs["key"])],
))


def _index_adjoint_eval(values, attrs):
    g, ref = values
    out = np.zeros(np.shape(ref), dtype=np.result_type(g))
    out[tuple(to_slice(k) for k in attrs["key"])] += g
    return out


register(Op(
    name="index_adjoint", kind="block", shape_args=(1,),
    infer=lambda shapes, dtypes, attrs: (tuple(shapes[1]), dtypes[0]),
    eval=_index_adjoint_eval,
    vjp=lambda n, g: (apply("index", g, key=n.attr("key")), None),
    jvp=lambda n, t: apply("index_adjoint", t[0], n.args[1], key=n.attr("key")),
    sympy=lambda sp, values, attrs: _index_adjoint_eval(
        [np.asarray(values[0], dtype=object), np.asarray(values[1], dtype=object)], attrs),
))

# --- stack ------------------------------------------------------------------------------


def _stack_infer(shapes, dtypes, attrs):
    if not shapes:
        raise ValueError("stack: needs at least one array")
    first = shapes[0]
    for s in shapes[1:]:
        if len(s) != len(first):
            raise ShapeError(f"stack: all shapes must be equal, got {show(first)} and {show(s)}")
        for a, b in zip(first, s):
            dims_equal(a, b, "stack")
    axis = attrs["axis"] % (len(first) + 1)
    return first[:axis] + (len(shapes),) + first[axis:], float_dtype(list(dtypes), "stack")


def _stack_vjp(node, g):
    axis = node.attr("axis") % node.ndim
    return tuple(g[(slice(None),) * axis + (i,)] for i in range(len(node.args)))


def _stack_jvp(node, t):
    return F.stack([F.zeros_like(a) if ti is None else ti for a, ti in zip(node.args, t)], node.attr("axis"))


register(Op(
    name="stack", kind="block", infer=_stack_infer,
    eval=lambda values, attrs: np.stack(values, attrs["axis"]),
    vjp=_stack_vjp, jvp=_stack_jvp,
    sympy=lambda sp, values, attrs: np.stack([np.asarray(v, dtype=object) for v in values], attrs["axis"]),
))
