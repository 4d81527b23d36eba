"""Safe algebraic identities, as data: one table of rewrite rules per op.

``apply`` consults :data:`RULES` before it interns a node, so every graph --
the model and its derivatives -- is built already simplified.  A rule takes
``(args, attrs, shape, dtype)`` and returns an existing node that stands for
the result, a :class:`Build` (another op to apply instead), or ``None``.
Rules never build nodes themselves: ``apply`` is their only caller and the
only constructor, so this module imports nothing of the ops.

Deliberately absent: ``x * 0 -> 0`` (and ``0 * x``, ``x - x -> 0``,
``x / x -> 1``).  Under IEEE semantics ``inf * 0`` and ``nan * 0`` are nan, so
folding them would turn a kernel that should report nan into one that silently
returns 0.  Reverse mode never needs them: symbolic zero adjoints are ``None``
and are never materialised.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Build:
    """A rewrite's result still to be built: ``apply(op, *args, **attrs)``;
    an argument may itself be a ``Build``."""
    op: str
    args: tuple
    attrs: dict = field(default_factory=dict)


def is_const(node, value=None):
    """A constant (looking through a broadcast of one) equal to ``value`` everywhere."""
    while node.op == "broadcast":
        node = node.args[0]
    if node.op != "const":
        return False
    if value is None:
        return True
    array = node.value
    if array.ndim == 0:   # (most constants: a Python comparison, not numpy's, costs 1/20)
        return array.item() == value
    return bool(np.all(array == value))


def scalar_value(node):
    """The value of a scalar constant, or of a broadcast of one; else ``None``."""
    while node.op == "broadcast":
        node = node.args[0]
    if node.op == "const" and node.value.size == 1:
        return node.value.reshape(()).item()
    return None


def _same(node, shape, dtype):
    """``node`` can stand for the result only if nothing about it changes."""
    return node.shape == shape and node.dtype == dtype


def _identity(position, value):
    """``op(.., x, ..)`` with the other argument the constant ``value`` is x."""
    other = 1 - position

    def rule(args, attrs, shape, dtype):
        if is_const(args[other], value) and _same(args[position], shape, dtype):
            return args[position]
    return rule


def _sub_from_zero(args, attrs, shape, dtype):
    if is_const(args[0], 0) and _same(args[1], shape, dtype):
        return Build("neg", (args[1],))


def _times_minus_one(args, attrs, shape, dtype):
    for i in (0, 1):
        if is_const(args[1 - i], -1) and _same(args[i], shape, dtype):
            return Build("neg", (args[i],))


def _double_negation(args, attrs, shape, dtype):
    if args[0].op == "neg":
        return args[0].args[0]


def _same_branches(args, attrs, shape, dtype):
    if args[1] is args[2] and _same(args[1], shape, dtype):
        return args[1]


def _noop_shape(args, attrs, shape, dtype):
    if _same(args[0], shape, dtype):
        return args[0]


def _transpose_of_transpose(args, attrs, shape, dtype):
    inner = args[0]
    if inner.op == "transpose":
        outer = attrs["axes"]
        first = inner.attr("axes")
        return Build("transpose", (inner.args[0],), {"axes": tuple(first[a] for a in outer)})


def _identity_transpose(args, attrs, shape, dtype):
    if attrs["axes"] == tuple(range(len(attrs["axes"]))):
        return args[0]


def _transpose_of_matmul(args, attrs, shape, dtype):
    """``(a @ b).T = b.T @ a.T``: BLAS takes transposed operands for free,
    while transposing a product's result would cost a copy."""
    inner = args[0]
    if inner.op == "matmul" and inner.args[0].ndim == 2 and inner.args[1].ndim == 2:
        a, b = inner.args
        return Build("matmul", (Build("transpose", (b,), {"axes": (1, 0)}),
                                Build("transpose", (a,), {"axes": (1, 0)})))


def _reshape_of_reshape(args, attrs, shape, dtype):
    if args[0].op == "reshape":
        return Build("reshape", (args[0].args[0],), {"shape": attrs["shape"]})


def _index_everything(args, attrs, shape, dtype):
    if all(k == ("s", None, None, None) or (k[0] == "s" and k[1] == 0 and k[3] == 1
                                             and k[2] == d)
           for k, d in zip(attrs["key"], args[0].shape)) and _same(args[0], shape, dtype):
        return args[0]


def _square_is_product(args, attrs, shape, dtype):
    """``x ** 2`` is ``x * x``: one node for both spellings, so the square in a
    loss and the ``n * n`` of tanh's derivative are computed once."""
    if args[0].dtype in ("float64", "float32") and scalar_value(args[1]) == 2 \
            and args[1].shape == () and _same(args[0], shape, dtype):
        return Build("mul", (args[0], args[0]))


def _adjoint_of_constant(args, attrs, shape, dtype):
    """``adjoint_mul(c, d)`` with a nonzero constant ``c`` is plain ``c * d``."""
    c = scalar_value(args[0])
    if c is not None and c != 0:
        return Build("mul", (args[0], args[1]))


RULES = {
    "adjoint_mul": [_adjoint_of_constant],
    "add": [_identity(0, 0), _identity(1, 0)],
    "sub": [_identity(0, 0), _sub_from_zero],
    "mul": [_identity(0, 1), _identity(1, 1), _times_minus_one],
    "div": [_identity(0, 1)],
    "pow": [_identity(0, 1), _square_is_product],
    "neg": [_double_negation],
    "where": [_same_branches],
    "broadcast": [_noop_shape],
    "reshape": [_noop_shape, _reshape_of_reshape],
    "transpose": [_identity_transpose, _transpose_of_transpose, _transpose_of_matmul],
    "astype": [_noop_shape],
    "index": [_index_everything],
}


def rewrite(op, args, attrs, shape, dtype):
    """The first rule of ``op`` that fires, or ``None``."""
    for rule in RULES.get(op, ()):
        out = rule(args, attrs, shape, dtype)
        if out is not None:
            return out
    return None

