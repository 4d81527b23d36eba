"""Neural-network ops with stable forms: softmax cross-entropy and one-hot."""
from __future__ import annotations

import numpy as np

from . import build as F
from ..shapes import ShapeError, dims_equal, show
from .reduce import np_logsumexp
from .registry import Op, float_dtype, register


def _check_labels(logits_shape, labels_shape, labels_dtype, what):
    if len(logits_shape) != 2:
        raise ShapeError(f"{what}: logits must be 2-d (N, C), got shape {show(logits_shape)}")
    if len(labels_shape) != 1:
        raise ShapeError(f"{what}: labels must be 1-d (N,) class indices, got shape {show(labels_shape)}")
    if labels_dtype != "int64":
        raise TypeError(f"{what}: labels must be int64 class indices, got dtype {labels_dtype}")
    try:
        return dims_equal(logits_shape[0], labels_shape[0], what)
    except ShapeError:
        raise ShapeError(f"{what}: logits {show(logits_shape)} and labels {show(labels_shape)} "
                         "have different numbers of rows") from None


def _sce_infer(shapes, dtypes, attrs):
    rows = _check_labels(shapes[0], shapes[1], dtypes[1], "softmax_cross_entropy")
    return (rows,), float_dtype([dtypes[0]], "softmax_cross_entropy")


def _take_labels(x, labels):
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= x.shape[1]):
        raise ValueError(f"softmax_cross_entropy: labels must lie in [0, {x.shape[1]})")
    return x[np.arange(x.shape[0]), labels]


def _sce_eval(values, attrs):
    x, labels = values
    return np_logsumexp(x, 1, False) - _take_labels(x, labels)


def _per_row(g):
    """``g`` (N,) as a column that broadcasts over classes; a broadcast scalar
    (the adjoint of a mean) stays the scalar, so no column is materialised."""
    if g.op == "broadcast" and not g.args[0].shape:
        return g.args[0]
    return g[:, None]


def _sce_vjp(node, g):
    logits, labels = node.args
    delta = F.softmax(logits, 1) - F.one_hot(labels, logits.shape[1], node.dtype)
    return delta * _per_row(g), None


def _sce_jvp(node, t):
    logits, labels = node.args
    delta = F.softmax(logits, 1) - F.one_hot(labels, logits.shape[1], node.dtype)
    return F.sum(delta * t[0], 1)


def _sce_sympy(sp, values, attrs):
    x, labels = np.asarray(values[0], dtype=object), np.asarray(values[1])
    if labels.dtype == object:
        raise TypeError("to_sympy: softmax_cross_entropy needs concrete (constant) labels")
    out = np.empty(x.shape[0], dtype=object)
    for i, label in enumerate(labels):
        out[i] = sp.log(sum(sp.exp(v) for v in x[i])) - x[i, int(label)]
    return out


register(Op(
    name="softmax_cross_entropy", kind="block", infer=_sce_infer, eval=_sce_eval,
    vjp=_sce_vjp, jvp=_sce_jvp, sympy=_sce_sympy, nondiff=(1,),
))


def _one_hot_infer(shapes, dtypes, attrs):
    if len(shapes[0]) != 1 or dtypes[0] != "int64":
        raise ShapeError(f"one_hot: labels must be a 1-d int64 array, got shape {show(shapes[0])} "
                         f"and dtype {dtypes[0]}")
    return (shapes[0][0], attrs["num_classes"]), attrs["dtype"]


def _one_hot_eval(values, attrs):
    labels = np.asarray(values[0])
    c = attrs["num_classes"]
    if labels.size and (labels.min() < 0 or labels.max() >= c):
        raise ValueError(f"one_hot: labels must lie in [0, {c})")
    out = np.zeros((labels.shape[0], c), dtype=attrs["dtype"])
    out[np.arange(labels.shape[0]), labels] = 1
    return out


register(Op(
    name="one_hot", kind="block", infer=_one_hot_infer, eval=_one_hot_eval,
    vjp=lambda n, g: (None,), jvp=lambda n, t: None, nondiff=(0,),
    sympy=lambda sp, values, attrs: _one_hot_eval([np.asarray(values[0]).astype(np.int64)], attrs).astype(object),
))
