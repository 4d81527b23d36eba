"""Elementwise ops: scalar functions applied over numpy-broadcast arguments.

Each differentiable op states its partial derivatives once, as IR in terms of
its arguments and its own output; :func:`elementwise` turns them into both the
VJP (``g * d``) and the JVP (``sum t_i * d_i``), as JAX's ``defjvp`` does.

Ops whose derivative can be infinite where the function is finite (log, sqrt,
division, pow) multiply adjoints with ``adjoint_mul``, which is 0 wherever the
incoming adjoint is 0: a branch that ``where`` did not select sends back an
exact 0, never ``0 * inf = nan``.
"""
from __future__ import annotations

import numpy as np

from . import build as F
from ..shapes import broadcast_shapes
from .registry import Op, apply, float_dtype, register, result_dtype
from .scalar import X0, X1, X2, Cast, binary, call, lit, logical_not, where

ARITH = ("float64", "float32", "int64")


def _infer(dtype_rule, arity):
    def infer(shapes, dtypes, attrs, name):
        if len(shapes) != arity:
            raise TypeError(f"{name}: expected {arity} arguments, got {len(shapes)}")
        return broadcast_shapes(shapes, name), dtype_rule(dtypes, name)
    return infer


def _float_rule(dtypes, name):
    return float_dtype(list(dtypes), name)


def _arith_rule(dtypes, name):
    return result_dtype(list(dtypes), name)


def _bool_rule(dtypes, name):
    result_dtype(list(dtypes), name, allow=ARITH + ("bool",))
    return "bool"


def _vectorized(scalar_rule):
    """Lift a rule on SymPy scalars to numpy object arrays of them."""
    def rule(sp, values, attrs):
        values = [np.asarray(v, dtype=object) for v in values]
        out = np.vectorize(lambda *xs: scalar_rule(sp, *xs), otypes=[object])(*values)
        return out
    return rule


def elementwise(name, arity, numpy, scalar, sympy, partials=None, dtype=_float_rule,
                singular=False, commutative=False, vjp=None, jvp=None, nondiff=()):
    """Register an elementwise op.

    ``partials(node) -> tuple`` gives d node / d arg_i as IR (``None`` where an
    argument has no derivative).  With ``singular`` the adjoint product is the
    NaN-safe ``adjoint_mul``.
    """
    mul = (lambda g, d: apply("adjoint_mul", g, d)) if singular else (lambda g, d: g * d)

    if partials is not None and vjp is None:
        def vjp(node, g):
            return tuple(None if d is None else mul(g, d) for d in partials(node))

    if partials is not None and jvp is None:
        def jvp(node, tangents):
            terms = [mul(t, d) for t, d in zip(tangents, partials(node))
                     if t is not None and d is not None]
            if not terms:
                return None
            total = terms[0]
            for t in terms[1:]:
                total = total + t
            return total

    infer = _infer(dtype, arity)
    return register(Op(
        name=name, kind="elementwise",
        infer=lambda shapes, dtypes, attrs: infer(shapes, dtypes, attrs, name),
        eval=lambda values, attrs: numpy(*values),
        vjp=vjp, jvp=jvp, scalar=scalar, sympy=_vectorized(sympy),
        commutative=commutative, nondiff=nondiff))


def _errstate(fn):
    def wrapped(*xs):
        with np.errstate(all="ignore"):
            return fn(*xs)
    return wrapped


# --- arithmetic ------------------------------------------------------------

elementwise("add", 2, np.add, X0 + X1, lambda sp, a, b: a + b, dtype=_arith_rule,
            commutative=True, vjp=lambda n, g: (g, g),
            jvp=lambda n, t: t[0] if t[1] is None else t[1] if t[0] is None else t[0] + t[1])

elementwise("sub", 2, np.subtract, X0 - X1, lambda sp, a, b: a - b, dtype=_arith_rule,
            vjp=lambda n, g: (g, -g),
            jvp=lambda n, t: -t[1] if t[0] is None else t[0] if t[1] is None else t[0] - t[1])

elementwise("neg", 1, np.negative, -X0, lambda sp, a: -a, dtype=_arith_rule,
            vjp=lambda n, g: (-g,), jvp=lambda n, t: -t[0])

elementwise("mul", 2, np.multiply, X0 * X1, lambda sp, a, b: a * b, dtype=_arith_rule,
            commutative=True, partials=lambda n: (n.args[1], n.args[0]))

elementwise("div", 2, _errstate(np.true_divide), X0 / X1, lambda sp, a, b: a / b,
            singular=True, partials=lambda n: (1.0 / n.args[1], -n / n.args[1]))


def _pow_scalar(node):
    """Small constant exponents as products, a square root or a reciprocal."""
    exponent = node.args[1]
    if exponent.op == "const" and exponent.shape == ():
        e = float(exponent.value)
        if e == 2.0:
            return X0 * X0
        if e == 3.0:
            return X0 * X0 * X0
        if e == 0.5:
            return call("sqrt", X0)
        if e == -1.0:
            return lit(1.0) / X0
    return X0 ** X1


def _pow_partials(node):
    x, y = node.args
    dx = y * x ** (y - 1.0)
    if y.op == "const":
        return dx, None
    # d/dy x**y = x**y log x; defined as 0 where x == 0 (the limit for y > 0),
    # selected by where so that log(0) = -inf never multiplies anything.
    dy = F.where(F.equal(x, 0.0), 0.0, node * F.log(x))
    return dx, dy


elementwise("pow", 2, _errstate(np.power), _pow_scalar, lambda sp, a, b: a ** b,
            singular=True, partials=_pow_partials)

# --- transcendental ----------------------------------------------------------

elementwise("exp", 1, np.exp, call("exp", X0), lambda sp, a: sp.exp(a),
            partials=lambda n: (n,))
elementwise("log", 1, _errstate(np.log), call("log", X0), lambda sp, a: sp.log(a),
            singular=True, partials=lambda n: (1.0 / n.args[0],))
elementwise("sin", 1, np.sin, call("sin", X0), lambda sp, a: sp.sin(a),
            partials=lambda n: (F.cos(n.args[0]),))
elementwise("cos", 1, np.cos, call("cos", X0), lambda sp, a: sp.cos(a),
            partials=lambda n: (-F.sin(n.args[0]),))
elementwise("tan", 1, np.tan, call("tan", X0), lambda sp, a: sp.tan(a),
            partials=lambda n: (1.0 + n * n,))
elementwise("tanh", 1, np.tanh, call("tanh", X0), lambda sp, a: sp.tanh(a),
            partials=lambda n: (1.0 - n * n,))
elementwise("sqrt", 1, _errstate(np.sqrt), call("sqrt", X0), lambda sp, a: sp.sqrt(a),
            singular=True, partials=lambda n: (0.5 / n,))


def _sigmoid(x):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


elementwise("sigmoid", 1, _sigmoid, lit(1.0) / (lit(1.0) + call("exp", -X0)),
            lambda sp, a: 1 / (1 + sp.exp(-a)), partials=lambda n: (n * (1.0 - n),))

# --- kinks: relu'(0) = 0, abs'(0) = 0, maximum/minimum split 0.5/0.5 at a tie --

elementwise("sign", 1, np.sign, call("sign", X0), lambda sp, a: sp.sign(a), dtype=_arith_rule,
            vjp=lambda n, g: (None,), jvp=lambda n, t: None)

elementwise("abs", 1, np.abs, call("abs", X0), lambda sp, a: sp.Abs(a), dtype=_arith_rule,
            vjp=lambda n, g: (F.where(n.args[0] > 0.0, g, F.where(n.args[0] < 0.0, -g, 0.0)),),
            jvp=lambda n, t: F.where(n.args[0] > 0.0, t[0], F.where(n.args[0] < 0.0, -t[0], 0.0)))

elementwise("relu", 1, lambda x: np.maximum(x, 0.0), call("maximum", X0, lit(0.0)),
            lambda sp, a: sp.Max(a, 0),
            vjp=lambda n, g: (F.where(_relu_active(n), g, 0.0),),
            jvp=lambda n, t: F.where(_relu_active(n), t[0], 0.0))


def _relu_active(n):
    """``x > 0`` for ``n = relu(x)``, asked of whichever the kernel keeps anyway:
    ``relu(x) > 0`` is the same test, and a layer's output is stored for the next
    matmul, where ``x`` (fused away) would need a mask array of its own."""
    x = n.args[0]
    return (x if x.op in ("var", "const") else n) > 0.0


def _select_rule(first_wins):
    """Adjoint split for maximum (``a > b`` wins) / minimum (``a < b`` wins)."""
    def share(a, b, g):
        wins = a > b if first_wins else a < b
        return F.where(wins, g, F.where(F.equal(a, b), 0.5 * g, 0.0))

    def vjp(node, g):
        a, b = node.args
        return share(a, b, g), share(b, a, g)

    def jvp(node, t):
        a, b = node.args
        ta = 0.0 if t[0] is None else t[0]
        tb = 0.0 if t[1] is None else t[1]
        wins = a > b if first_wins else a < b
        loses = a < b if first_wins else a > b
        return F.where(wins, ta, F.where(loses, tb, 0.5 * (ta + tb)))
    return vjp, jvp


_vjp, _jvp = _select_rule(True)
elementwise("maximum", 2, np.maximum, call("maximum", X0, X1), lambda sp, a, b: sp.Max(a, b),
            dtype=_arith_rule, commutative=True, vjp=_vjp, jvp=_jvp)
_vjp, _jvp = _select_rule(False)
elementwise("minimum", 2, np.minimum, call("minimum", X0, X1), lambda sp, a, b: sp.Min(a, b),
            dtype=_arith_rule, commutative=True, vjp=_vjp, jvp=_jvp)

# --- selection and comparison -------------------------------------------------


def _where_dtype(dtypes, name):
    if dtypes[0] != "bool":
        raise TypeError(f"{name}: the condition must be a boolean expression, got dtype {dtypes[0]}")
    return result_dtype(list(dtypes[1:]), name)


def _where_sympy(sp, c, a, b):
    return sp.Piecewise((a, c), (b, True))


elementwise("where", 3, np.where, where(X0, X1, X2), _where_sympy, dtype=_where_dtype,
            vjp=lambda n, g: (None, F.where(n.args[0], g, 0.0), F.where(n.args[0], 0.0, g)),
            jvp=lambda n, t: None if t[1] is None and t[2] is None else F.where(
                n.args[0], 0.0 if t[1] is None else t[1], 0.0 if t[2] is None else t[2]),
            nondiff=(0,))

for _name, _np, _sym, _sp in [
        ("less", np.less, "<", lambda sp, a, b: sp.StrictLessThan(a, b)),
        ("less_equal", np.less_equal, "<=", lambda sp, a, b: sp.LessThan(a, b)),
        ("greater", np.greater, ">", lambda sp, a, b: sp.StrictGreaterThan(a, b)),
        ("greater_equal", np.greater_equal, ">=", lambda sp, a, b: sp.GreaterThan(a, b)),
        ("equal", np.equal, "==", lambda sp, a, b: sp.Eq(a, b)),
        ("not_equal", np.not_equal, "!=", lambda sp, a, b: sp.Ne(a, b))]:
    elementwise(_name, 2, _np, binary(_sym, X0, X1), _sp, dtype=_bool_rule,
                commutative=_name in ("equal", "not_equal"),
                vjp=lambda n, g: (None, None), jvp=lambda n, t: None, nondiff=(0, 1))

elementwise("logical_and", 2, np.logical_and, binary("and", X0, X1), lambda sp, a, b: sp.And(a, b),
            dtype=_bool_rule, commutative=True, vjp=lambda n, g: (None, None),
            jvp=lambda n, t: None, nondiff=(0, 1))
elementwise("logical_not", 1, np.logical_not, logical_not(X0), lambda sp, a: sp.Not(a),
            dtype=_bool_rule, vjp=lambda n, g: (None,), jvp=lambda n, t: None, nondiff=(0,))

# --- adjoint plumbing -----------------------------------------------------------


def _adjoint_mul(g, d):
    with np.errstate(all="ignore"):
        return np.where(g == 0, np.zeros_like(g * d), g * d)


elementwise("adjoint_mul", 2, _adjoint_mul, where(binary("==", X0, lit(0.0)), lit(0.0), X0 * X1),
            lambda sp, a, b: a * b,
            vjp=lambda n, gb: (apply("adjoint_mul", gb, n.args[1]), gb * n.args[0]),
            jvp=lambda n, t: (None if t[0] is None else apply("adjoint_mul", t[0], n.args[1])) if t[1] is None
            else (t[1] * n.args[0] if t[0] is None
                  else apply("adjoint_mul", t[0], n.args[1]) + t[1] * n.args[0]))


def _cast_infer(shapes, dtypes, attrs):
    return tuple(shapes[0]), attrs["dtype"]


register(Op(
    name="astype", kind="elementwise", infer=_cast_infer,
    eval=lambda values, attrs: np.asarray(values[0]).astype(attrs["dtype"]),
    scalar=lambda node: Cast(node.dtype, X0),
    vjp=lambda n, g: (F.astype(g, n.args[0].dtype) if n.args[0].dtype in ("float64", "float32") else None,),
    jvp=lambda n, t: F.astype(t[0], n.dtype) if n.dtype in ("float64", "float32") else None,
    sympy=lambda sp, values, attrs: _vectorized(
        lambda sp, a: _sympy_cast(sp, a, attrs["dtype"]))(sp, values, attrs)))


def _sympy_cast(sp, a, dtype):
    """A boolean becomes 1/0; a cast to int64 truncates toward zero, as numpy's.
    (float32 rounding has no SymPy counterpart: the value passes unchanged.)"""
    if isinstance(a, (sp.logic.boolalg.Boolean, bool)):
        a = sp.Piecewise((sp.Integer(1), a), (sp.Integer(0), True))
    if dtype == "int64" and not (a.is_integer or False):
        a = sp.Piecewise((sp.floor(a), a >= 0), (sp.ceiling(a), True))
    return a
