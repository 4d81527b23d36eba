"""Shape arithmetic shared by every op's shape rule.

A dimension is an ``int``, ``None`` (known only at call time) or, while the
backend schedules a kernel, a :class:`Sym`: a named run-time size.  Shape rules
are written once against the helpers here and serve both moments: at graph build
they see ints and ``None``; at code generation the same rules see ``Sym``s, and
every equality they have to assume is recorded in the active :class:`DimContext`
so that the kernel checks it before any compiled code runs.

Broadcasting follows numpy, decided at build time: only a static size-1
dimension broadcasts; a ``None`` dimension never does.
"""
from __future__ import annotations

import numpy as np

from .errors import UserError


class ShapeError(UserError, ValueError):
    """A shape mismatch found while building the graph (a user error: the
    shapes are the model's)."""


class Sym:
    """A run-time dimension: ``name`` is the variable the kernel binds it to and
    ``expr`` the Python expression that computes it from the arguments."""

    __slots__ = ("name", "expr", "parent", "value")

    def __init__(self, name, expr):
        self.name, self.expr, self.parent, self.value = name, expr, None, None

    def root(self):
        s = self
        while s.parent is not None:
            s = s.parent
        return s

    def __repr__(self):
        return self.name


class DimContext:
    """While a kernel is scheduled: the run-time sizes it binds (``syms``, in
    order) and the equalities it must check before running (``checks``)."""

    def __init__(self, reserved=()):
        self.syms = []
        self.checks = []  # (lhs source, rhs source, what): lhs == rhs must hold
        self.taken = set(reserved)  # names the kernel already uses (its inputs)

    def _name(self, name):
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        return name

    def input_dim(self, var_name, axis):
        sym = Sym(self._name(f"{var_name}_d{axis}"), f"{var_name}.shape[{axis}]")
        self.syms.append(sym)
        return sym

    def derived(self, src, divisor):
        expr = " * ".join(dim_expr(d) for d in src)
        sym = Sym(self._name(f"n{len(self.syms)}"), f"({expr}) // {divisor}")
        self.syms.append(sym)
        self.checks.append((f"({expr}) % {divisor}", "0", "reshape"))
        return sym

    def equal(self, a, b, what):
        ra, rb = resolve(a), resolve(b)
        if isinstance(ra, Sym) and isinstance(rb, Sym):
            if ra is not rb:
                self.checks.append((ra.name, rb.name, what))
                rb.parent = ra
            return ra
        sym, size = (ra, rb) if isinstance(ra, Sym) else (rb, ra)
        self.checks.append((sym.name, str(size), what))
        sym.value = size
        return size


def derived_dim(src, divisor):
    """The size ``prod(src) // divisor`` of a reshape's -1 over run-time sizes:
    ``None`` at build time, a derived Sym while a kernel is scheduled."""
    return None if _context is None else _context.derived(src, divisor)


_context: DimContext | None = None


def resolve(d):
    """A dimension with unions applied: an int where one is known, else its root Sym."""
    if isinstance(d, Sym):
        r = d.root()
        return r.value if r.value is not None else r
    return d


def set_context(ctx):
    global _context
    previous, _context = _context, ctx
    return previous


def dims_equal(a, b, what):
    """Assert two dimensions are the same size; return the common dimension."""
    a, b = resolve(a), resolve(b)
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, int) and isinstance(b, int):
        if a != b:
            raise ShapeError(f"{what}: sizes {a} and {b} differ")
        return a
    if _context is None:
        return a if isinstance(a, int) else b
    return _context.equal(a, b, what)


def broadcast_shapes(shapes, what):
    """numpy broadcasting; a dimension broadcasts only when it is a static 1."""
    first = shapes[0] if shapes else ()
    if not first and not any(shapes):   # all 0-d: every node of a big scalar program
        return ()
    if all(s == first for s in shapes) and all(d is None or type(d) is int for d in first):
        return tuple(first)   # the common case, and building a 10,000-step chain calls this per node
    ndim = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    out = []
    for i in range(ndim):
        dims = [resolve(s[i]) for s in padded if not (isinstance(resolve(s[i]), int) and resolve(s[i]) == 1)]
        if not dims:
            out.append(1)
            continue
        d = dims[0]
        for other in dims[1:]:
            try:
                d = dims_equal(d, other, what)
            except ShapeError:
                raise ShapeError(
                    f"{what}: shapes {' and '.join(show(s) for s in shapes)} do not broadcast "
                    f"(axis {i - ndim})") from None
        out.append(d)
    return tuple(out)


def broadcast_axes(arg_shape, out_shape):
    """The axes of ``out_shape`` that broadcasting ``arg_shape`` to it expands
    (leading new axes and static size-1 axes), as a sorted tuple."""
    lead = len(out_shape) - len(arg_shape)
    axes = list(range(lead))
    for i, d in enumerate(arg_shape):
        o = resolve(out_shape[lead + i])
        if resolve(d) == 1 and not (isinstance(o, int) and o == 1):
            axes.append(lead + i)
    return tuple(axes)


def normalize_axes(axis, ndim, what):
    """``axis`` (None, int or tuple) as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, int):
            raise TypeError(f"{what}: axis {axis!r} must be None, an int or a tuple of ints")
        if not -ndim <= a < ndim:
            raise ShapeError(f"{what}: axis {a} is out of range for {ndim}-d input")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"{what}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def size_of(dims):
    """The product of dimensions: an int, or ``None`` if any is unknown."""
    n = 1
    for d in dims:
        d = resolve(d)
        if not isinstance(d, int):
            return None
        n *= d
    return n


def dim_expr(d):
    """A dimension as Python source: a literal or the name the kernel binds."""
    d = resolve(d)
    return str(d) if isinstance(d, int) else d.name


def show(shape):
    return "(" + ", ".join("?" if d is None else str(resolve(d)) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def normalize_key(key, shape):
    """A numpy basic-indexing key (ints, slices, None, Ellipsis) as a hashable
    tuple of ``("i", k)``, ``("s", start, stop, step)`` and ``("new",)``, with
    every index checked against the static shape."""
    if not isinstance(key, tuple):
        key = (key,)
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if n_real > len(shape):
        raise IndexError(f"index: too many indices ({n_real}) for shape {show(shape)}")
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("index: at most one Ellipsis")
    expanded = []
    for k in key:
        if k is Ellipsis:
            expanded.extend([slice(None)] * (len(shape) - n_real))
        else:
            expanded.append(k)
    expanded.extend([slice(None)] * (len(shape) - sum(1 for k in expanded if k is not None)))
    out, axis = [], 0
    for k in expanded:
        if k is None:
            out.append(("new",))
            continue
        d = shape[axis]
        if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            if d is None:
                raise IndexError(f"index: integer index on axis {axis}, whose size is known only at call time")
            if not -d <= k < d:
                raise IndexError(f"index: index {k} is out of bounds for axis {axis} with size {d}")
            out.append(("i", int(k) % d))
        elif isinstance(k, slice):
            if d is None:
                if k != slice(None):
                    raise IndexError(f"index: only ':' can slice axis {axis}, whose size is known only at call time")
                out.append(("s", None, None, None))
            else:
                start, stop, step = k.indices(d)
                # a negative step that runs to the start ends "before 0": stored as
                # None, since a stop of -1 would mean "the last element"
                out.append(("s", start, None if stop < 0 else stop, step))
        else:
            raise TypeError(f"index: unsupported index {k!r} (ints, slices, None and ... are supported)")
        axis += 1
    return tuple(out)
