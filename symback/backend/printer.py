"""The Numba printer: scalar expression trees (``symback.ops.scalar``) as source.

A visitor in the manner of SymPy's printers: one ``_print_<Kind>`` method per
node kind, each returning its text and its precedence, so that parentheses are
written where Python's precedence needs them and nowhere else.  The printer,
not the op, decides how a function is spelled: for float64 ``exp`` is
``math.exp`` (Numba types ``math.*`` faster than ``np.*``, and its JIT time is
the bottleneck of big kernels; the result is the same), for float32 it is
``np.exp`` (``math.*`` would compute in float64); untyped literals take the
op's float type (``np.float32(1.0)`` in a float32 kernel).  The modules the
printed text uses are collected in ``imports``.

Besides the op-level kinds, a printer knows the leaves the emitter binds
argument slots to: ``Name`` (a local or argument), ``Elem`` (an array element
at loop indices), ``Bound`` (a scalar rule with its slots bound to leaves,
its dtype and float type) and ``Code`` (a short snippet of fixed text and
names).  Every name is written through ``env``, so the same object renders
with the kernel's names or, outlined, with a helper's canonical ones.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..ops.scalar import Expr, Lit
from . import vecmath

#: Python's precedences, loosest first (only those generated code uses)
WHERE, OR, AND, NOT, COMPARE, ADD, MUL, UNARY, POW, ATOM = range(10)
_BINARY = {"or": OR, "and": AND, "<": COMPARE, "<=": COMPARE, ">": COMPARE, ">=": COMPARE,
           "==": COMPARE, "!=": COMPARE, "+": ADD, "-": ADD, "*": MUL, "/": MUL, "**": POW}
#: functions whose float64 form is ``math.*``
_MATH = frozenset({"exp", "log", "sin", "cos", "tan", "tanh", "sqrt"})
_BUILTIN = frozenset({"abs"})
_NO_HELPERS = frozenset()


def _braces(text):
    """``text`` as the literal text of a ``str.format`` pattern."""
    return text.replace("{", "{{").replace("}", "}}")


def empty(shape, dtype):
    """The source of a new array: ``_empty(shape, np.float64)``, the generated
    module's allocation (see backend/numba.py's _EMPTY; ``shape``: the source of
    a tuple or of an int)."""
    return f"_empty({shape}, np.{dtype})"


def literal(value, dtype):
    """A scalar constant as source text, typed so that float32 stays float32."""
    if dtype == "bool":
        return "True" if bool(value) else "False"
    if dtype == "int64":
        return str(int(value))
    v = float(value)
    if math.isnan(v):
        text = "np.nan"
    elif math.isinf(v):
        text = "np.inf" if v > 0 else "-np.inf"
    else:
        text = repr(v)
    return text if dtype == "float64" else f"np.float32({text})"


@dataclass(frozen=True, eq=False)
class Name(Expr):
    name: str


@dataclass(frozen=True, eq=False)
class Elem(Expr):
    """``array[i0, 0, i2]``: ``index`` holds loop-index names and ``"0"``."""
    array: str
    index: tuple


@dataclass(frozen=True, eq=False)
class Shape(Expr):
    """A shape-only argument slot: its dims (literals or size names), for ``Size``."""
    dims: tuple


@dataclass(frozen=True, eq=False)
class Bound(Expr):
    """A scalar rule applied: ``tree`` with ``slots[i]`` for ``Arg(i)``, computed
    in ``dtype`` (the node's), untyped literals in ``ftype``; ``vector``: the
    functions that, in float64 and inside a fused loop, call the module's
    vectorisable helpers (``_exp``, see :mod:`symback.backend.vecmath`), not libm."""
    tree: Expr
    slots: tuple
    dtype: str
    ftype: str
    vector: frozenset = frozenset()


@dataclass(frozen=True, eq=False)
class Code(Expr):
    """Fixed text and names (``Name`` parts are renamed, strings are not)."""
    parts: tuple
    prec: int = ATOM


def same_name(name):
    """The identity renaming: a printer's default ``env``, which callers test for by
    identity to skip renaming on the hot path."""
    return name


def is_number(text):
    return text.lstrip("-").isdigit()


class Printer:
    """Prints expression trees; ``env`` maps each name to the name written."""

    def __init__(self, env=None):
        self.env = env or same_name
        self.imports = set()
        self.helpers = set()   # vecmath helpers the printed code calls (``_exp``, ...)
        self.libm = frozenset()   # functions printed as libm calls even where a Bound would vectorise them
        self._ctx = None   # the Bound being printed
        self._templates = {}   # (rule, dtype, ftype, helpers used, slot precedences) -> its text, in parts

    def doprint(self, expr):
        if type(expr) is Bound:   # (the usual case, straight to its method)
            return self._print_Bound(expr)[0]
        return self._print(expr)[0]

    def name(self, name):
        env = self.env
        return name if env is same_name or is_number(name) else env(name)

    def _print(self, expr):
        return getattr(self, "_print_" + type(expr).__name__)(expr)

    def _wrap(self, expr, paren):
        text, prec = self._print(expr)
        return f"({text})" if paren(prec) else text

    # --- leaves -------------------------------------------------------------------------------
    def _print_Name(self, e):
        return self.name(e.name), ATOM

    def _print_Elem(self, e):
        array = self.name(e.array)
        return f"{array}[{', '.join(self.name(i) for i in e.index)}]", ATOM

    def _print_Code(self, e):
        return "".join(p if isinstance(p, str) else self.name(p.name) for p in e.parts), e.prec

    def _print_Bound(self, e):
        """A rule whose slots are all leaves is printed from a template, made
        once per rule, types and slot precedences: a big kernel applies a
        handful of rules hundreds of thousands of times, and the text of a
        rule depends on its leaves only through their text and precedence.
        The slots are printed where the rule's text has them, in that order,
        as :meth:`_print_rule` would: an ``env`` may name things as it meets them."""
        precs = []
        for slot in e.slots:
            kind = type(slot)
            if kind is Name or kind is Elem:
                precs.append(ATOM)
            elif kind is Lit:
                precs.append(self._print_slot(slot)[1])
            else:
                return self._print_rule(e)
        fixed, order, prec, _ = self._template(e.tree, e.dtype, e.ftype, e.vector, tuple(precs))
        out = [fixed[0]]
        for i, text in zip(order, fixed[1:]):
            slot = e.slots[i]
            out.append(self.name(slot.name) if type(slot) is Name else self._print_slot(slot)[0])
            out.append(text)
        return "".join(out), prec

    def _template(self, tree, dtype, ftype, vector, precs):
        """(the literal parts, the slot numbers between them, the precedence, the
        same as a ``str.format`` pattern) of a rule whose slots have precedences
        ``precs``, made once."""
        key = (tree, dtype, ftype, vector - self.libm if self.libm else vector, precs)
        template = self._templates.get(key)
        if template is None:
            marks = tuple(Code((f"\0{i}\0",), prec) for i, prec in enumerate(precs))
            text, prec = self._print_rule(Bound(tree, marks, dtype, ftype, vector))
            parts = text.split("\0")   # literal text, slot number, literal text, ...
            fixed, order = parts[0::2], [int(i) for i in parts[1::2]]
            pattern = _braces(fixed[0]) + "".join(f"{{{i}}}{_braces(t)}" for i, t in zip(order, fixed[1:]))
            template = self._templates[key] = (fixed, order, prec, pattern)
        return template

    def statement(self, tree, dtype, ftype, texts, precs):
        """The text of a scalar rule (float64/float32 libm, no vector helpers)
        whose slots are already text, with their precedences: what
        ``doprint(Bound(tree, slots, dtype, ftype))`` gives for leaf slots,
        without making a Bound and a leaf per slot.  A big kernel is hundreds
        of thousands of such straight-line statements.  Only for a printer
        whose ``env`` names nothing (the texts are written as they are)."""
        template = self._templates.get((tree, dtype, ftype, _NO_HELPERS, precs))
        if template is None:
            template = self._template(tree, dtype, ftype, _NO_HELPERS, precs)
        return template[3].format(*texts)

    def literal(self, value, dtype):
        """(text, precedence) of a typed scalar constant, as ``_print_Lit`` prints it."""
        return self._print_Lit(Lit(value, dtype))

    def _print_slot(self, slot):
        outer, self._ctx = self._ctx, None   # a slot is printed in its own terms
        try:
            return self._print(slot)
        finally:
            self._ctx = outer

    def _print_rule(self, e):
        outer, self._ctx = self._ctx, e
        try:
            return self._print(e.tree)
        finally:
            self._ctx = outer

    def _print_Arg(self, e):
        ctx = self._ctx
        self._ctx = None   # a slot is printed in its own terms
        try:
            return self._print(ctx.slots[e.index])
        finally:
            self._ctx = ctx

    def _print_Lit(self, e):
        dtype = e.dtype or (self._ctx.ftype if self._ctx is not None else "float64")
        text = literal(e.value, dtype)
        if "np." in text:
            self.imports.add("np")
        # a signed literal binds like unary minus: ``x * (-1.0)``
        return text, UNARY if text.startswith("-") else ATOM

    def _print_Size(self, e):
        dims = self._ctx.slots[e.index].dims
        parts = [self.name(str(dims[a])) for a in e.axes]
        if not parts:
            return "1", ATOM
        return " * ".join(parts), ATOM if len(parts) == 1 else MUL

    # --- operations ---------------------------------------------------------------------------
    def _print_Call(self, e):
        if e.fn in _BUILTIN:
            fn = e.fn
        elif self._ctx is not None and e.fn in self._ctx.vector and e.fn not in self.libm \
                and self._ctx.dtype == "float64":
            fn = vecmath.HELPERS[e.fn]
            self.helpers.add(fn)
        elif e.fn in vecmath.LIBM_WRAPPED and self._ctx is not None and self._ctx.dtype in ("float64", "float32"):
            fn = vecmath.LIBM_WRAPPED[e.fn]   # libm, out of reach of the kernel's reassoc (see vecmath)
            self.helpers.add(fn)
        elif e.fn in _MATH and self._ctx is not None and self._ctx.dtype == "float64":
            fn = f"math.{e.fn}"
            self.imports.add("math")
        else:
            fn = f"np.{e.fn}"
            self.imports.add("np")
        return f"{fn}({', '.join(self._print(a)[0] for a in e.args)})", ATOM

    def _print_Cast(self, e):
        self.imports.add("np")
        return f"np.{e.dtype}({self._print(e.a)[0]})", ATOM

    def _print_Bin(self, e):
        p = _BINARY[e.op]
        # left-associative: an equal precedence on the right needs parentheses;
        # ``**`` and comparisons (which would chain) need them on both sides;
        # a signed operand (``-x``, ``-1.0``) is always parenthesised, for reading
        left = self._wrap(e.a, lambda q: q < p or q == UNARY or (q == p and p in (POW, COMPARE)))
        right = self._wrap(e.b, lambda q: q <= p or q == UNARY)
        return f"{left} {e.op} {right}", p

    def _print_Unary(self, e):
        if e.op == "not":
            return f"not {self._wrap(e.a, lambda q: q < NOT)}", NOT
        return f"-{self._wrap(e.a, lambda q: q <= UNARY)}", UNARY

    def _print_Where(self, e):
        a = self._wrap(e.a, lambda q: q <= WHERE)
        c = self._wrap(e.cond, lambda q: q <= WHERE)
        b = self._wrap(e.b, lambda q: q <= WHERE)
        return f"{a} if {c} else {b}", WHERE
