"""Scalar rules as data: the per-element form of an elementwise op.

An elementwise op's entry says what it computes on one element as a small
expression tree over its argument slots (``X0``, ``X1``, ...), not as source
text of one backend: ``call("exp", X0)``, ``X0 * X1``, ``where(X0, X1, X2)``,
``lit(1.0)``.  A backend's printer renders the tree (the Numba one picks
``math.exp`` or ``np.exp`` by dtype, types float literals for float32 and
parenthesises by precedence), so the ops never hold a line of Numba and a new
backend needs no change here.

Node kinds (each a frozen dataclass; a printer has one method per kind):

``Arg(i)``          the i-th argument's element
``Lit(value, dtype)`` a constant; ``dtype=None`` means "the op's float type"
``Call(fn, args)``  a named scalar function (``exp``, ``maximum``, ``abs``, ...)
``Bin(op, a, b)``   an infix operator (``+ - * / **``, comparisons, ``and``)
``Unary(op, a)``    ``-`` or ``not``
``Where(c, a, b)``  ``a`` where ``c`` holds, else ``b``
``Cast(dtype, a)``  conversion to ``dtype``
``Size(i, axes)``   the number of elements of argument ``i`` over ``axes``

Trees compose with Python's operators (``X0 + X1``, ``-X0``, ``X0 > lit(0.0)``),
so a rule reads like the formula it states.
"""
from __future__ import annotations

from dataclasses import dataclass

#: the scalar functions a printer must know (backend-neutral names)
FUNCTIONS = frozenset({"exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "sign", "abs", "maximum", "minimum"})


class Expr:
    """Base of the tree nodes: Python operators build bigger trees."""

    def __add__(self, o): return Bin("+", self, _expr(o))
    def __radd__(self, o): return Bin("+", _expr(o), self)
    def __sub__(self, o): return Bin("-", self, _expr(o))
    def __rsub__(self, o): return Bin("-", _expr(o), self)
    def __mul__(self, o): return Bin("*", self, _expr(o))
    def __rmul__(self, o): return Bin("*", _expr(o), self)
    def __truediv__(self, o): return Bin("/", self, _expr(o))
    def __rtruediv__(self, o): return Bin("/", _expr(o), self)
    def __pow__(self, o): return Bin("**", self, _expr(o))
    def __neg__(self): return Unary("-", self)
    def __lt__(self, o): return Bin("<", self, _expr(o))
    def __le__(self, o): return Bin("<=", self, _expr(o))
    def __gt__(self, o): return Bin(">", self, _expr(o))
    def __ge__(self, o): return Bin(">=", self, _expr(o))

    __hash__ = object.__hash__


@dataclass(frozen=True, eq=False)
class Arg(Expr):
    index: int


@dataclass(frozen=True, eq=False)
class Lit(Expr):
    value: object
    dtype: str | None = None


@dataclass(frozen=True, eq=False)
class Call(Expr):
    fn: str
    args: tuple


@dataclass(frozen=True, eq=False)
class Bin(Expr):
    op: str
    a: Expr
    b: Expr


@dataclass(frozen=True, eq=False)
class Unary(Expr):
    op: str
    a: Expr


@dataclass(frozen=True, eq=False)
class Where(Expr):
    cond: Expr
    a: Expr
    b: Expr


@dataclass(frozen=True, eq=False)
class Cast(Expr):
    dtype: str
    a: Expr


@dataclass(frozen=True, eq=False)
class Size(Expr):
    index: int
    axes: tuple


def _expr(x):
    return x if isinstance(x, Expr) else Lit(x)


def lit(value, dtype=None):
    return Lit(value, dtype)


def call(fn, *args):
    if fn not in FUNCTIONS:
        raise ValueError(f"scalar rule: unknown function {fn!r} (known: {', '.join(sorted(FUNCTIONS))})")
    return Call(fn, tuple(_expr(a) for a in args))


def where(c, a, b):
    return Where(_expr(c), _expr(a), _expr(b))


def binary(op, a, b):
    """An infix operator by name: ``binary("==", X0, X1)``, ``binary("and", X0, X1)``."""
    return Bin(op, _expr(a), _expr(b))


def logical_not(a):
    return Unary("not", _expr(a))


X0, X1, X2 = Arg(0), Arg(1), Arg(2)

__all__ = ["Expr", "Arg", "Lit", "Call", "Bin", "Unary", "Where", "Cast", "Size", "X0", "X1", "X2",
           "lit", "call", "where", "binary", "logical_not", "FUNCTIONS"]
