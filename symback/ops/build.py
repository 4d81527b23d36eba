"""Constructors: numpy-named functions that build IR, and Node's operators.

Everything here is a thin, argument-checking front for ``apply``.  The op
rules (VJPs, JVPs, compound ops) build their IR with these functions, and the
user-facing DSL (:mod:`symback.dsl`) re-exports them: the rules never import
the DSL, so the layers import one way (dsl -> ops.build -> ops.registry).
"""
from __future__ import annotations

import numpy as np

from .. import ir
from ..ir import Node
from ..shapes import ShapeError, normalize_axes, normalize_key, show
from .registry import apply, as_node

# --- elementwise ---------------------------------------------------------------


def _op(op, name, arity, doc):
    """The DSL function ``name`` that applies the registry's ``op``."""
    def fn(*args):
        if len(args) != arity:
            raise TypeError(f"{name}() takes {arity} argument{'s' if arity > 1 else ''}, got {len(args)}")
        return apply(op, *args)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return fn


exp, log, sin, cos, tan, tanh, sqrt, sigmoid, relu, sign = (
    _op(n, n, 1, f"Elementwise {n}.")
    for n in ("exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "sigmoid", "relu", "sign"))
abs = _op("abs", "abs", 1, "Elementwise absolute value; abs'(0) = 0.")  # noqa: A001 - numpy's name
negative = _op("neg", "negative", 1, "Elementwise -a.")
logical_not = _op("logical_not", "logical_not", 1, "Elementwise not of a boolean expression.")
add = _op("add", "add", 2, "a + b, broadcasting.")
subtract = _op("sub", "subtract", 2, "a - b, broadcasting.")
multiply = _op("mul", "multiply", 2, "a * b, broadcasting.")
divide = _op("div", "divide", 2, "a / b, broadcasting.")
power = _op("pow", "power", 2, "a ** b, broadcasting.")
maximum = _op("maximum", "maximum", 2, "Elementwise maximum; at a tie the adjoint is split 0.5/0.5.")
minimum = _op("minimum", "minimum", 2, "Elementwise minimum; at a tie the adjoint is split 0.5/0.5.")
where = _op("where", "where", 3, "``a`` where ``cond`` holds, else ``b``: where(cond, a, b).")
equal = _op("equal", "equal", 2, "Elementwise a == b (``==`` on nodes stays structural identity).")
not_equal = _op("not_equal", "not_equal", 2, "Elementwise a != b.")
less = _op("less", "less", 2, "Elementwise a < b.")
less_equal = _op("less_equal", "less_equal", 2, "Elementwise a <= b.")
greater = _op("greater", "greater", 2, "Elementwise a > b.")
greater_equal = _op("greater_equal", "greater_equal", 2, "Elementwise a >= b.")
logical_and = _op("logical_and", "logical_and", 2, "Elementwise and of boolean expressions.")


def astype(x, dtype):
    """Convert to another dtype (a no-op when it already has it)."""
    x = as_node(x)
    dtype = np.dtype(dtype).name
    return x if x.dtype == dtype else apply("astype", x, dtype=dtype)


def square(x):
    return apply("pow", x, 2.0)


# --- shapes ----------------------------------------------------------------------


def _axes_attr(x, axis, what):
    return normalize_axes(axis, x.ndim, what)


def sum(x, axis=None, keepdims=False):  # noqa: A001 - numpy's name
    """Sum over ``axis`` (None: all axes; int or tuple), as ``numpy.sum``."""
    x = as_node(x)
    axes = _axes_attr(x, axis, "sum")
    if not axes and not keepdims:
        return x
    return apply("sum", x, axes=axes, keepdims=bool(keepdims))


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis``; the count comes from the run-time shape if needed."""
    x = as_node(x)
    axes = _axes_attr(x, axis, "mean")
    return sum(x, axes, keepdims) / apply("count", x, axes=axes)


def matmul(a, b):
    """Matrix product with numpy's rules for 1-D and 2-D operands."""
    return apply("matmul", a, b)


def dot(a, b):
    return matmul(a, b)


def transpose(x, axes=None):
    x = as_node(x)
    axes = tuple(range(x.ndim))[::-1] if axes is None else tuple(a % x.ndim if isinstance(a, int) and x.ndim else a for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ShapeError(f"transpose: axes {axes} are not a permutation of {x.ndim} axes of shape {show(x.shape)}")
    if axes == tuple(range(x.ndim)):
        return x
    return apply("transpose", x, axes=axes)


def reshape(x, shape):
    x = as_node(x)
    if isinstance(shape, int):
        shape = (shape,)
    return apply("reshape", x, shape=tuple(int(d) for d in shape))


def broadcast_to(x, shape):
    """Broadcast to a static ``shape`` (``None`` entries must match ``None`` in x)."""
    x = as_node(x)
    if isinstance(shape, int):
        shape = (shape,)
    return apply("broadcast", x, shape=tuple(shape))


def broadcast_like(x, ref):
    """Broadcast ``x`` to the (run-time) shape of ``ref``; ``ref`` is not read."""
    x, ref = as_node(x), as_node(ref)
    if x.shape == ref.shape:
        return x
    return apply("broadcast", x, ref, shape=ref.shape)


def zeros_like(x):
    """Zeros of ``x``'s shape; ``x`` itself is referenced only for sizes known at
    call time (so a static zero needs no value for ``x``)."""
    x = as_node(x)
    zero = ir.const(0.0, dtype=x.dtype if x.dtype in ir.FLOAT_DTYPES else "float64")
    if ir.shapes_static(x.shape):
        return broadcast_to(zero, x.shape) if x.shape else zero
    return broadcast_like(zero, x)


def expand_dims(x, axis):
    x = as_node(x)
    axis = axis % (x.ndim + 1)
    key = (slice(None),) * axis + (None,)
    return x[key]


def stack(items, axis=0):
    items = [as_node(i) for i in items]
    return apply("stack", *items, axis=axis)


# --- ML -----------------------------------------------------------------------------


def _single_axis(x, axis, what):
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{what}: axis must be a single int, got {axis!r}")
    return normalize_axes(int(axis), x.ndim, what)[0]


def softmax(x, axis=-1):
    """Numerically stable softmax along one axis."""
    x = as_node(x)
    return apply("softmax", x, axis=_single_axis(x, axis, "softmax"))


def logsumexp(x, axis=-1, keepdims=False):
    """Numerically stable log(sum(exp(x))) along one axis."""
    x = as_node(x)
    return apply("logsumexp", x, axis=_single_axis(x, axis, "logsumexp"), keepdims=bool(keepdims))


def log_softmax(x, axis=-1):
    x = as_node(x)
    return x - logsumexp(x, axis, keepdims=True)


def softmax_cross_entropy(logits, labels):
    """Per-row loss ``logsumexp(logits[i]) - logits[i, labels[i]]``, shape ``(N,)``.

    ``labels`` are integer class indices (an int64 variable or constant array).
    """
    logits = as_node(logits)
    labels = ir.const(np.asarray(labels)) if not isinstance(labels, Node) else labels
    return apply("softmax_cross_entropy", logits, labels)


def one_hot(labels, num_classes, dtype="float64"):
    labels = ir.const(np.asarray(labels)) if not isinstance(labels, Node) else labels
    return apply("one_hot", labels, num_classes=int(num_classes), dtype=np.dtype(dtype).name)


# --- operators on Node ------------------------------------------------------------------


def _index(x, key):
    return apply("index", x, key=normalize_key(key, x.shape))


def _install_operators():
    def binary(name, reflected=False):
        if reflected:
            return lambda self, other: apply(name, other, self)
        return lambda self, other: apply(name, self, other)

    for dunder, name in [("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "div"),
                         ("pow", "pow"), ("matmul", "matmul")]:
        setattr(Node, f"__{dunder}__", binary(name))
        setattr(Node, f"__r{dunder}__", binary(name, reflected=True))
    for dunder, name in [("lt", "less"), ("le", "less_equal"), ("gt", "greater"), ("ge", "greater_equal")]:
        setattr(Node, f"__{dunder}__", binary(name))
    Node.__neg__ = lambda self: apply("neg", self)
    Node.__pos__ = lambda self: self
    Node.__abs__ = lambda self: apply("abs", self)
    Node.__getitem__ = _index
    Node.T = property(lambda self: transpose(self))
    Node.sum = lambda self, axis=None, keepdims=False: sum(self, axis, keepdims)
    Node.mean = lambda self, axis=None, keepdims=False: mean(self, axis, keepdims)
    Node.reshape = lambda self, *shape: reshape(self, shape[0] if len(shape) == 1 else shape)
    Node.astype = lambda self, dtype: astype(self, dtype)
    # ``==`` stays identity (structural, thanks to hash-consing), so nodes are dict
    # keys; elementwise equality is sb.equal.  ``!=`` is elementwise, as in numpy:
    # ``where(x != 0, 1 / x, 0)`` must not quietly become ``where(True, ...)``.
    Node.__eq__ = object.__eq__
    Node.__hash__ = object.__hash__
    Node.__ne__ = binary("not_equal")


_install_operators()
