"""The Numba lowering of block ops: a table the backend owns.

Ops hold no Numba code.  An elementwise op states its per-element form as a
backend-neutral scalar tree in its registry entry (``Op.scalar``, see
:mod:`symback.ops.scalar`), which :mod:`symback.backend.printer` renders; a
``reduce`` op (``sum``) is accumulated by the fused loop itself.  Every
other op (``kind="block"``: matmul, softmax, indexing, loops, ...) is lowered
here, by a rule registered for its name, as a JAX lowering or a PyTensor
``numba_funcify`` registration is::

    @lowering("softmax")
    def _softmax(em, node, out, args):   # -> lines of source
        ...

``em`` is the function emitter (``fresh``, ``idx``, ``dims``, ``shape_src``,
``lit``, ``dot``), ``out`` the name of the result and ``args`` the sources of
the arguments.

**Where a new op's lowering goes**: an elementwise op needs none (its scalar
tree is its lowering); a block op gets a ``@lowering`` rule in this module,
next to the rules of its family, or in the backend module that emits its kind
of structure (``scan`` in :mod:`symback.backend.loops`).  Importing
:mod:`symback.backend` registers them all, and ``tests/backend/test_lowering.py``
fails for a registered op that has no lowering (or a rule for no op), so the
second place cannot be forgotten.
"""
from __future__ import annotations

from .printer import empty

LOWERINGS: dict = {}


def lowering(*names):
    """Register the decorated function as the Numba lowering of ``names``."""
    def register(rule):
        for name in names:
            if name in LOWERINGS:
                raise ValueError(f"op {name!r} has two Numba lowerings")
            LOWERINGS[name] = rule
        return rule
    return register


def lower(em, node, out, args):
    """The lines that compute block op ``node`` into ``out``."""
    rule = LOWERINGS.get(node.op)
    if rule is None:
        raise NotImplementedError(f"the Numba backend has no lowering for op {node.op!r} "
                                  "(register one with @lowering in symback/backend/lowering.py)")
    return rule(em, node, out, args)


def key_src(key):
    """A normalised index key (``symback.shapes.normalize_key``) as source."""
    parts = []
    for k in key:
        if k[0] == "new":
            parts.append("None")
        elif k[0] == "i":
            parts.append(str(k[1]))
        elif k[1] is None:
            parts.append(":")
        else:
            start, stop, step = k[1:]
            stop_src = "" if stop is None else str(stop)
            parts.append(f"{start}:{stop_src}" + (f":{step}" if step != 1 else ""))
    return ", ".join(parts) if len(parts) != 1 else parts[0] + ","


# --- array structure ---------------------------------------------------------------------------

@lowering("matmul")
def _matmul(em, node, out, args):
    return em.matmul(node, out)   # one BLAS gemm helper, transposes read in place


@lowering("transpose")
def _transpose(em, node, out, args):
    axes = node.attr("axes")
    if len(axes) == 2:
        return [f"{out} = {args[0]}.T"]
    return [f"{out} = np.transpose({args[0]}, {axes})"]


@lowering("reshape")
def _reshape(em, node, out, args):
    return [f"{out} = _reshape({args[0]}, {em.shape_src(node)})"]


@lowering("index")
def _index(em, node, out, args):
    key = node.attr("key")
    if any(k[0] == "new" for k in key):
        # numba has no newaxis indexing: drop the new axes, then reshape to add them
        real = tuple(k for k in key if k[0] != "new")
        view = f"{args[0]}[{key_src(real)}]" if real else args[0]
        return [f"{out} = _reshape({view}, {em.shape_src(node)})"]
    return [f"{out} = {args[0]}[{key_src(key)}]"]


@lowering("index_adjoint")
def _index_adjoint(em, node, out, args):
    key = node.attr("key")
    real = tuple(k for k in key if k[0] != "new")
    g = args[0]
    lines = [f"{out} = {empty(em.shape_src(node), node.dtype)}", f"{out}[...] = 0"]
    shape = em.dims(node.args[0])
    if len(real) != len(key):   # drop the new axes of g first
        sub = em.fresh(f"{g}_sq")
        shape, g_dims = [], iter(shape)  # g has a dim per slice and per new axis
        for k in key:
            if k[0] == "s":
                shape.append(next(g_dims))
            elif k[0] == "new":
                next(g_dims)
        lines.append(f"{sub} = _reshape({g}, ({', '.join(shape)}{',' if len(shape) == 1 else ''}))")
        g = sub
    if not shape:   # one element
        return lines + [f"{out}[{key_src(real) if real else '...'}] = {g}"]
    view = out
    if real:
        view = em.fresh(f"{out}_at")
        lines.append(f"{view} = {out}[{key_src(real)}]")   # a view: what is written goes to out
    return lines + copy_loops(em, view, g, shape)


def copy_loops(em, target, src, shape, lead=None):
    """``target[...] = src`` (``target[lead] = src`` with ``lead`` an index), arrays
    of one shape, as an explicit loop nest: Numba compiles an array assigned to an
    array (or a slice or row of one) with its shape-mismatch message, whose string
    formatting took 2.4-2.8 s of a first call (numba 0.68, 45 compilations; rows of
    a loop's stacked output: 5 s against 0.2 s); the loop nest compiles in milliseconds."""
    if not shape:
        return [f"{target}[{lead}] = {src}"]
    idx = [f"{em.loop_prefix}{d}" for d in range(len(shape))]
    at = ", ".join(([] if lead is None else [str(lead)]) + idx)
    lines = [f"{'    ' * d}for {i} in range({n}):" for d, (i, n) in enumerate(zip(idx, shape))]
    return lines + [f"{'    ' * len(shape)}{target}[{at}] = {src}[{', '.join(idx)}]"]


@lowering("stack")
def _stack(em, node, out, args):
    return [f"{out} = np.stack(({', '.join(f'np.asarray({a})' for a in args)},), {node.attr('axis') % node.ndim})"]


# --- stable reductions over one axis --------------------------------------------------------

class AxisView:
    """How a block rule walks one axis of ``x``: as rows of a 2-d array when the
    axis is the last one (no copy for 2-d input), else as (pre, n, post)."""

    def __init__(self, em, x, src, axis, prefix):
        dims = em.dims(x)
        self.p, self.q, self.j = em.idx("p"), em.idx("q"), em.idx("j")
        self.pre = " * ".join(dims[:axis]) or "1"
        self.n = dims[axis]
        self.post = " * ".join(dims[axis + 1:]) or "1"
        self.flat = self.post == "1"
        if self.flat and len(dims) == 2 and axis == 1:   # rows of x itself: no copy
            self.view, self.setup = src, []
        else:
            self.view = em.fresh(f"{prefix}_{'2d' if self.flat else '3d'}")
            self.setup = [f"{self.view} = _reshape({src}, {self.shape()})"]

    def shape(self):
        return f"({self.pre}, {self.n})" if self.flat else f"({self.pre}, {self.n}, {self.post})"

    def at(self, array):
        p, j, q = self.p, self.j, self.q
        return f"{array}[{p}, {j}]" if self.flat else f"{array}[{p}, {j}, {q}]"

    def loops(self):
        """The loop headers over every position but the axis, and their indent."""
        if self.flat:
            return [f"for {self.p} in range({self.pre}):"], "    "
        return [f"for {self.p} in range({self.pre}):", f"    for {self.q} in range({self.post}):"], "        "


def _max_and_sum(em, dtype, v, x, m, s):
    """Lines that set ``m`` to the axis maximum (0 if not finite) and zero ``s``."""
    zero = em.lit(0.0, dtype)
    return [
        f"{m} = {em.lit(float('-inf'), dtype)}",
        f"for {v.j} in range({v.n}):",
        f"    {m} = {v.at(x)} if {v.at(x)} > {m} else {m}",   # max(), without compiling its overload
        f"if not np.isfinite({m}):",
        f"    {m} = {zero}",
        f"{s} = {zero}",
    ]


@lowering("softmax")
def _softmax(em, node, out, args):
    v = AxisView(em, node.args[0], args[0], node.attr("axis"), args[0])
    o = out if v.setup == [] else em.fresh(f"{out}_{'2d' if v.flat else '3d'}")
    m, s, e = em.fresh("m"), em.fresh("s"), em.fresh("e")
    heads, ind = v.loops()
    body = _max_and_sum(em, node.dtype, v, v.view, m, s) + [
        f"for {v.j} in range({v.n}):",
        f"    {e} = np.exp({v.at(v.view)} - {m})",
        f"    {v.at(o)} = {e}",
        f"    {s} += {e}",
        f"for {v.j} in range({v.n}):",
        f"    {v.at(o)} /= {s}",
    ]
    lines = v.setup + [f"{o} = {empty(v.shape(), node.dtype)}"] + heads
    lines += [ind + b for b in body]
    if o != out:
        lines.append(f"{out} = _reshape({o}, {em.shape_src(node)})")
    return lines


@lowering("logsumexp")
def _logsumexp(em, node, out, args):
    v = AxisView(em, node.args[0], args[0], node.attr("axis"), args[0])
    o = em.fresh(f"{out}_2d")
    m, s = em.fresh("m"), em.fresh("s")
    heads, ind = v.loops()
    at_out = f"{o}[{v.p}, 0]" if v.flat else f"{o}[{v.p}, {v.q}]"
    body = _max_and_sum(em, node.dtype, v, v.view, m, s) + [
        f"for {v.j} in range({v.n}):",
        f"    {s} += np.exp({v.at(v.view)} - {m})",
        f"{at_out} = {m} + np.log({s})",
    ]
    lines = v.setup + [f"{o} = {empty(f'({v.pre}, {1 if v.flat else v.post})', node.dtype)}"] + heads
    lines += [ind + b for b in body]
    lines.append(f"{out} = _reshape({o}, {em.shape_src(node)})" if node.shape else f"{out} = {o}[0, 0]")
    return lines


# --- neural-network ops ----------------------------------------------------------------------


@lowering("softmax_cross_entropy")
def _softmax_cross_entropy(em, node, out, args):
    x, labels = args
    n, c = em.dims(node.args[0])
    m, s, lab = em.fresh("m"), em.fresh("s"), em.fresh("label")
    i, j = em.idx("i"), em.idx("j")
    zero = em.lit(0.0, node.dtype)
    return [
        f"{out} = {empty(n, node.dtype)}",
        f"for {i} in range({n}):",
        f"    {lab} = {labels}[{i}]",
        f"    if {lab} < 0 or {lab} >= {c}:",
        "        raise ValueError('softmax_cross_entropy: a label is outside [0, number of classes)')",
        f"    {m} = {em.lit(float('-inf'), node.dtype)}",
        f"    for {j} in range({c}):",
        f"        {m} = {x}[{i}, {j}] if {x}[{i}, {j}] > {m} else {m}",   # max(), without compiling its overload
        f"    if not np.isfinite({m}):",
        f"        {m} = {zero}",
        f"    {s} = {zero}",
        f"    for {j} in range({c}):",
        f"        {s} += np.exp({x}[{i}, {j}] - {m})",
        f"    {out}[{i}] = {m} + np.log({s}) - {x}[{i}, {lab}]",
    ]


@lowering("one_hot")
def _one_hot(em, node, out, args):
    n, c = em.dims(node)
    i = em.idx("i")
    return [
        f"{out} = {empty(f'({n}, {c})', node.dtype)}",
        f"{out}[...] = 0",
        f"for {i} in range({n}):",
        f"    if {args[0]}[{i}] < 0 or {args[0]}[{i}] >= {c}:",
        "        raise ValueError('one_hot: a label is outside [0, number of classes)')",
        f"    {out}[{i}, {args[0]}[{i}]] = 1",
    ]
