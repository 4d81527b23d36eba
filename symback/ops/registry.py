"""The op registry: every op is one :class:`Op` entry holding all of its rules.

Adding an op means adding one entry (in the family module it belongs to); the
interpreter, autodiff, backend and SymPy bridge only ever look rules up here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import ir
from . import simplify

OPS: dict[str, "Op"] = {}

#: Constant folding evaluates ops on constants up to this many elements.
FOLD_LIMIT = 4096


@dataclass(frozen=True)
class Op:
    """All the rules of one op.

    kind:
      ``elementwise`` -- scalar function of broadcast arguments; ``scalar`` is
      its per-element form as a backend-neutral expression tree over argument
      slots (``call("exp", X0)``, see :mod:`symback.ops.scalar`), or
      ``f(node) -> tree`` when it depends on the node; fused into loops.
      ``reduce`` -- ``sum``-like reduction, fused into the loop of its argument.
      ``block`` -- computed whole after its arguments are materialised
      (matmul, softmax, reshape, ...); each backend lowers it by a rule of its
      own (the Numba one: :mod:`symback.backend.lowering`).
      ``leaf`` -- var and const.
    infer(shapes, dtypes, attrs) -> (shape, dtype): the shape/dtype rule; it
      raises ShapeError/TypeError naming the op and the shapes.
    eval(values, attrs) -> ndarray: numpy reference semantics.
    vjp(node, g) -> tuple with one adjoint (IR, or None for zero) per argument.
    jvp(node, tangents) -> IR or None; ``tangents`` holds IR or None per argument.
    sympy(sp, values, attrs) -> value: the op on numpy object arrays of SymPy
      scalars (elementwise ops give a scalar rule that is vectorised).
    shape_args: argument positions that only lend their shape (never read,
      never differentiated).
    commutative: the two arguments may be swapped (canonicalised at build).
    """

    name: str
    kind: str
    infer: Callable
    eval: Callable
    vjp: Callable | None = None
    jvp: Callable | None = None
    scalar: object = None   # an ops.scalar.Expr, or node -> Expr
    sympy: Callable | None = None
    shape_args: tuple = ()
    commutative: bool = False
    nondiff: tuple = ()  # argument positions with no derivative (labels, conditions)
    vjp_active: bool = False  # vjp(node, g, active) also gets which arguments are active


def register(op: Op) -> Op:
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} is registered twice")
    OPS[op.name] = op
    return op


def as_node(x, like=None):
    """Promote a Python number or numpy array to a constant node.

    Python scalars are weakly typed (as in JAX): next to a float32 node a float
    becomes a float32 constant, so float32 models stay float32.
    """
    if isinstance(x, ir.Node):
        return x
    if isinstance(x, (bool, np.bool_)):
        return ir.const(x)
    if isinstance(x, (int, float, np.integer, np.floating)):
        is_int = isinstance(x, (int, np.integer))
        if like is not None and like.dtype == "int64" and is_int:
            return ir.const(x, dtype="int64")
        if like is not None and like.dtype in ir.FLOAT_DTYPES and not isinstance(x, np.floating):
            return ir.const(x, dtype=like.dtype)
        return ir.const(x, dtype="float64" if is_int else None)
    if isinstance(x, (list, tuple, np.ndarray)):
        return ir.const(np.asarray(x))
    raise TypeError(f"cannot use {type(x).__name__} {x!r} in a symback expression")


def apply(name, *args, **attrs):
    """Build ``name(*args, **attrs)``: infer its shape and dtype, simplify, fold
    constants, then hash-cons.  The only way ops make nodes."""
    op = OPS[name]
    for a in args:   # (a loop, not all() of a generator: this runs once per node built)
        if not isinstance(a, ir.Node):   # (autodiff passes nodes only)
            nodes = [a for a in args if isinstance(a, ir.Node)]
            like = next((a for a in nodes if a.dtype in ir.FLOAT_DTYPES), nodes[0] if nodes else None)
            args = tuple(as_node(a, like) for a in args)
            break
    shape, dtype = op.infer([a.shape for a in args], [a.dtype for a in args], attrs)
    rewritten = simplify.rewrite(name, args, attrs, shape, dtype)
    if isinstance(rewritten, simplify.Build):
        return _build(rewritten)
    if rewritten is not None:
        return rewritten
    if args and args[0].op == "const" and dtype != ir.TUPLE and all(a.op == "const" for a in args) \
            and ir.shapes_static(shape) \
            and int(np.prod(shape, dtype=np.int64)) <= FOLD_LIMIT:
        with np.errstate(all="ignore"):
            value = op.eval([a.value for a in args], attrs)
        return ir.const(np.asarray(value).astype(dtype).reshape(shape), dtype=dtype)
    return ir.intern(name, args, attrs, shape, dtype, commutative=op.commutative)


def _build(request):
    args = tuple(_build(a) if isinstance(a, simplify.Build) else a for a in request.args)
    return apply(request.op, *args, **request.attrs)


def result_dtype(dtypes, what, allow=("float64", "float32", "int64")):
    """numpy-like promotion over the dtypes we support."""
    for d in dtypes:
        if d not in allow:
            raise TypeError(f"{what}: dtype {d} is not supported here (allowed: {', '.join(allow)})")
    if "float64" in dtypes:
        return "float64"
    if "float32" in dtypes:
        return "float32" if "int64" not in dtypes else "float64"
    return dtypes[0] if dtypes else "float64"


def float_dtype(dtypes, what):
    """Promotion for ops whose result is always floating point."""
    d = result_dtype(dtypes, what)
    return d if d in ir.FLOAT_DTYPES else "float64"


def const_to_sympy(sp, v):
    """Constants as exact SymPy numbers where the user evidently meant one:
    integers stay integers and short decimals (0.5, 0.1) become rationals, so
    that proofs are exact; other floats keep their 17 significant digits."""
    def one(x):
        x = x.item() if hasattr(x, "item") else x
        if isinstance(x, bool):
            return sp.true if x else sp.false
        if not np.isfinite(x):
            return sp.nan if np.isnan(x) else (sp.oo if x > 0 else -sp.oo)
        if float(x).is_integer() and abs(x) < 2 ** 53:
            return sp.Integer(int(x))
        if len(repr(float(x))) <= 8:
            return sp.Rational(repr(float(x)))
        return sp.Float(x, 17)
    if v.ndim == 0:
        return one(v)
    out = np.empty(v.shape, dtype=object)
    for idx in np.ndindex(*v.shape):
        out[idx] = one(v[idx])
    return out
