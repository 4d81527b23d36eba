"""Emission of loop nodes (``scan``): a real ``for`` loop in the kernel.

The body is scheduled like any kernel (its elementwise chains fused into
loops inside the step), with its placeholders bound to locals: the carries
(rebound at the end of each step), the rows of ``xs`` (``x = xs[k]``), the
captured values (the argument's own name) and the step index (the loop
variable).  Body values that depend on no carry, row or index are hoisted
before the loop.  Only what the kernel reads is produced: a carry nothing
needs is dropped, and a body value is stacked (``Y[k] = v``) only when a
``scan_get`` of it is live -- the forward loop of a ``value_and_grad`` kernel
writes the tape its reverse loop reads, the forward-only kernel does not.
"""
from __future__ import annotations

from ..ir import topo_order
from ..passes.schedule import Loop, schedule
from .lowering import copy_loops, lowering
from .nest import Init
from .numba import VIEW_OPS, FunctionEmitter
from .outline import OUTLINE_LOOPS
from .printer import Code, Elem, Name, empty


@lowering("scan_get")
def _scan_get(em, node, out, args):
    return []   # the loop itself writes its outputs (emit_scan)


@lowering("scan")
def _scan(em, node, out, args):
    return emit_scan(em, node, args)


def emit_scan(em, node, args):
    body, n, reverse = node.attr("body"), node.attr("length"), node.attr("reverse")
    nc, nx = len(body.carry_in), len(body.x_in)
    init, xs, consts = args[:nc], args[nc:nc + nx], args[nc + nx:]
    projections, seen = [], set()
    for p in em.s.readers.get(node, ()):
        if p.op == "scan_get" and id(p) not in seen:
            seen.add(id(p))
            projections.append(p)
    carry_proj = {p.attr("key")[1]: p for p in projections if p.attr("key")[0] == "carry"}
    stacks = [(p, p.attr("key")[1]) for p in projections if p.attr("key")[0] == "stack"]

    # the carries something needs: read after the loop, or by a needed value
    needed = set(carry_proj)
    while True:
        reached = {id(x) for x in topo_order([body.carry_out[i] for i in needed] + [v for _, v in stacks])}
        more = {i for i, c in enumerate(body.carry_in) if id(c) in reached} - needed
        if not more:
            break
        needed |= more
    needed = sorted(needed)
    outputs = [body.carry_out[i] for i in needed] + [v for _, v in stacks]

    # what depends on the step (a carry, a row of xs, the index) stays in the loop
    varying = {id(body.carry_in[i]) for i in needed} | {id(p) for p in body.x_in} | {id(body.index)}
    order = topo_order(outputs)
    for x in order:
        if id(x) not in varying and any(id(a) in varying for a in x.args):
            varying.add(id(x))
    hoist, hoisted = [], set()
    for x in [a for x in order if id(x) in varying for a in x.args] + outputs:
        if id(x) not in varying and x.op not in ("var", "const") and id(x) not in hoisted:
            hoisted.add(id(x))
            hoist.append(x)

    ce = BodyEmitter(em)
    for p, ref in zip(body.const_in, consts):
        ce.names[p] = ref
    lines = []
    carries = []
    for i in needed:
        name = em.name(carry_proj[i]) if i in carry_proj else em.fresh("c")
        carries.append(name)
        ce.names[body.carry_in[i]] = name
        lines.append(f"{name} = {_contiguous(em, init[i], node.args[i])}")
    for p, v in stacks:
        lines.append(f"{em.name(p)} = {empty(em.shape_src(p), v.dtype)}")
    if hoist:
        lines += ce.steps(schedule(hoist, list(body.const_in), context=em.s))
    k = em.fresh("k")
    ce.names[body.index] = k
    steps = f"range({n} - 1, -1, -1)" if reverse else f"range({n})"
    lines.append(f"for {k} in {steps}:   # {'reverse ' if reverse else ''}loop of {n} steps")
    inner = []
    sched = schedule(outputs, list(body.placeholders()), known=hoist, context=em.s)
    live = {id(x) for x in topo_order(outputs, stop={id(h) for h in hoist})}
    for p, ref in zip(body.x_in, xs):
        if id(p) in live:
            ce.names[p] = em.fresh("x")
            inner.append(f"{ce.names[p]} = {ref}[{k}]")
    # a stacked value computed by a fused loop is written straight into its row;
    # so is a new carry whose values at the start of each step are stacked (the
    # tape of a layer's input): it is computed into the next step's row
    ce.rows = {id(v): Elem(em.name(p), (k,)) for p, v in stacks if v.shape}
    stacked_ids = {id(v) for _, v in stacks}
    nxt, last, first = (f"{k} - 1", "0", f"{n} - 1") if reverse else (f"{k} + 1", f"{n} - 1", "0")
    for p, v in stacks:
        i = next((i for i in needed if body.carry_in[i] is v), None)
        out = None if i is None else body.carry_out[i]
        if n and v.shape and out is not None and out.args and id(out) in live and id(out) not in stacked_ids:
            lines[-1:-1] = copy_loops(em, em.name(p), ce.ref(v), em.dims(v), lead=first)   # the initial carry
            ce.rows[id(out)] = _next_row(em, em.name(p), k, nxt, last, out)
            ce.carried[id(out)] = id(v)
    inner += ce.steps(sched)
    for p, v in stacks:
        if id(v) not in ce.written:
            inner += copy_loops(em, em.name(p), ce.ref(v), em.dims(v), lead=k)
    if carries:
        new = [_contiguous(ce, ce.ref(body.carry_out[i]), body.carry_out[i]) for i in needed]
        inner.append(f"{', '.join(carries)} = {', '.join(new)}")
    if not inner:
        inner.append("pass")
    lines += ["    " + line for line in inner]
    return lines


def _next_row(em, target, k, nxt, last, out):
    """``Y[k + 1] if k != n - 1 else _empty(...)``: the row the next step
    reads, or scratch space on the last step."""
    dims = em.dims(out)
    shape = []
    for i, d in enumerate(dims):
        shape += [", "] * bool(i) + [Name(d) if not d.isdigit() else d]
    return Code((Name(target), "[", Name(k), nxt[len(k):], "] if ", Name(k), f" != {last} else _empty((",
                 *shape, "," * (len(dims) == 1), f"), np.{out.dtype})"))


def _contiguous(em, src, node):
    """``src`` made C-contiguous if it may be a view: one Numba array type per
    loop variable.  The kernel's own array arguments are C-contiguous (the
    wrapper makes them so); a loop body's leaves may be bound to anything."""
    if node.shape and (node.op in VIEW_OPS or node.op == "var" and not em.is_argument(node)):
        return f"_contiguous({src})"
    return src


class BodyEmitter(FunctionEmitter):
    """Emits the steps of a loop body inside the enclosing function: one name
    space (``fresh`` is the parent's), one module (constants, helpers), and
    names of its own for the body's nodes."""

    def __init__(self, parent):   # noqa: super().__init__ sets up a whole entry point
        self.parent = parent
        self.entry, self.s, self.module = None, None, parent.module
        self.dynamic_sizes = parent.dynamic_sizes
        self.names, self.taken, self.indices = {}, parent.taken, parent.indices
        self.about = {}
        self.printer = parent.printer
        self.loop_prefix, self.outlined = parent.loop_prefix, False
        self.letters, self.output_labels = parent.letters, {}
        self.rows, self.written = {}, set()   # id -> Y[k] (a printer tree): buffers that are rows of a stacked output
        self.carried = {}   # id of a new carry -> id of the carry whose stacked rows it writes

    def fresh(self, prefix="t"):
        return self.parent.fresh(prefix)

    def is_argument(self, node):
        return False   # a leaf of the body: bound to a row, a captured value...

    @property
    def static_parallel(self):   # one flag per compiled function
        return self.parent.static_parallel

    @static_parallel.setter
    def static_parallel(self, value):
        self.parent.static_parallel = value

    def _loop(self, step):
        nest = super()._loop(step)
        reductions = {id(r) for r in step.reductions if r.shape}
        for m in step.members + step.reductions:
            row = self.rows.get(id(m))
            if row is not None and (id(m) in self.s.buffered or id(m) in reductions):   # computed straight into its row
                name = self.name(m)
                nest.inits = [Init(name, "value", dtype=i.dtype, value=row, zero=i.kind == "zeros")
                              if i.name == name and i.kind in ("empty", "zeros") else i for i in nest.inits]
                self.written.add(self.carried.get(id(m), id(m)))
        return nest

    def _block(self, step):
        node = step.node
        row = self.rows.get(id(node))
        if row is not None and node.op == "matmul" and node.ndim == 2 and node.args[0].ndim == 2:
            self.written.add(self.carried.get(id(node), id(node)))   # the product goes straight into its row
            return self.matmul(node, self.name(node), into=self.printer.doprint(row))
        return super()._block(step)

    def steps(self, sched):
        """The lines of ``sched``'s steps (big bodies outline their fused loops)."""
        self.s = sched
        root = self.parent
        while isinstance(root, BodyEmitter):
            root = root.parent
        for c in sched.consts:   # array constants are arguments of the compiled function
            name = self.names.setdefault(c, self.module.const_name(c))
            if name not in root.const_args:
                root.const_args.append(name)
        self.outlined = sum(isinstance(step, Loop) for step in sched.steps) > OUTLINE_LOOPS
        lines = []
        for step in sched.steps:
            lines.extend(self._step(step))
        return lines
