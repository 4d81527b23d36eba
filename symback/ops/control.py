"""Loops in the IR: the ``scan`` op and its projection ``scan_get``.

A loop is ONE node, so a model's size (and its compile time) follows its
structure, not its depth.  The node holds its step as a :class:`Body`: a closed
sub-graph whose leaves are placeholders (the carries at the start of a step,
the step's slices of ``xs``, the values captured from outside, the step
index) and constants.  Its arguments are the initial carries, the ``xs``
arrays and the captured values, so DCE, autodiff and scheduling see the loop's
real inputs.  The node's value is a tuple (dtype ``tuple``), read through
``scan_get`` nodes keyed by ``("carry", i)`` (a final carry) or
``("stack", node)``: the values some body node took at every step, stacked.
Any function of the placeholders can be stacked, which is how the reverse
pass gets its tape: the forward loop stores, per step, exactly the values the
backward needs (everything it reads that does not depend on an adjoint), so
the backward never recomputes the forward step.

Rules, all here: the shape rule checks the arguments against the body; the
interpreter runs the body step by step (:class:`LoopValue`); the VJP is a
reverse scan over the tape whose carries are the carries' adjoints and the
captured values' accumulated adjoints; the JVP is a scan over (primal, tangent)
carries; SymPy unrolls; Numba emission is a real ``for`` loop
(:mod:`symback.backend.loops`).  Derivative scans are scans, so they can be
differentiated again.  The front end (``sb.scan``, ``sb.fori_loop``) is
:mod:`symback.control_flow`.
"""
from __future__ import annotations

import itertools

import numpy as np

from .. import ir
from ..ir import TUPLE, topo_order
from ..shapes import ShapeError, dims_equal, show
from . import build as F
from .registry import OPS, Op, apply, const_to_sympy, register

_serial = itertools.count()


def placeholder(shape, dtype, role):
    """A fresh leaf standing for one value of a loop step.  Its name starts
    with ``_`` (no user variable can have it) and is unique, so bodies built
    from other bodies (derivatives of derivatives) never confuse two."""
    return ir.intern("var", (), {"name": f"_{role}{next(_serial)}"}, tuple(shape), dtype)


class Body:
    """One loop step as a closed graph.

    ``carry_in``/``x_in``/``const_in`` are placeholders (the node's arguments
    bind them in that order), ``index`` the int64 step number; ``carry_out``
    the carries after the step; ``y_out`` the per-step outputs the user asked
    for (kept for their structure: any body node can be stacked).  Compared by
    identity, like nodes, so that the node holding it hash-conses.
    """

    __slots__ = ("carry_in", "x_in", "const_in", "index", "carry_out", "y_out")

    def __init__(self, carry_in, x_in, const_in, index, carry_out, y_out=()):
        self.carry_in, self.x_in, self.const_in = tuple(carry_in), tuple(x_in), tuple(const_in)
        self.index, self.carry_out, self.y_out = index, tuple(carry_out), tuple(y_out)
        leaves = {id(p) for p in self.placeholders()}
        for node in topo_order(list(self.carry_out) + list(self.y_out)):
            if node.op == "var" and id(node) not in leaves:
                raise AssertionError(f"loop body is not closed: it reads {node!r}")

    def placeholders(self):
        return self.carry_in + self.x_in + self.const_in + (self.index,)

    def __repr__(self):
        n = len(topo_order(list(self.carry_out) + list(self.y_out)))
        return (f"<loop body: {len(self.carry_in)} carries, {len(self.x_in)} xs, "
                f"{len(self.const_in)} captured, {n} nodes>")


def make_scan(body, init, xs, consts, length, reverse=False):
    """The loop node running ``body`` ``length`` times (from the last step to
    the first when ``reverse``; step ``k`` always reads and stacks row ``k``)."""
    return apply("scan", *init, *xs, *consts, body=body, length=int(length), reverse=bool(reverse))


def split_args(node, items=None):
    """``items`` (default: the node's arguments) as (init, xs, consts)."""
    body = node.attr("body")
    items = list(node.args if items is None else items)
    nc, nx = len(body.carry_in), len(body.x_in)
    return items[:nc], items[nc:nc + nx], items[nc + nx:]


def carry(node, i):
    """The final value of carry ``i`` of loop ``node``."""
    out = node.attr("body").carry_out[i]
    return apply("scan_get", node, key=("carry", i), shape=out.shape, dtype=out.dtype)


def stacked(node, value):
    """The values body node ``value`` took at every step, stacked on a new axis 0."""
    return apply("scan_get", node, key=("stack", value), shape=(node.attr("length"),) + value.shape,
                 dtype=value.dtype)


def zeros(ref):
    """Zeros of ``ref``'s (static) shape, built from ``ref`` so that no array
    constant is folded into the module text."""
    zero = ir.const(0.0, dtype=ref.dtype)
    return zero if not ref.shape else F.broadcast_like(zero, ref)


# --- shape rule -----------------------------------------------------------------------------


def _scan_infer(shapes, dtypes, attrs):
    body, n = attrs["body"], attrs["length"]
    expected = ([(p.shape, p.dtype, f"init {i}") for i, p in enumerate(body.carry_in)]
                + [((n,) + p.shape, p.dtype, f"xs {i}") for i, p in enumerate(body.x_in)]
                + [(p.shape, p.dtype, f"captured value {i}") for i, p in enumerate(body.const_in)])
    if len(shapes) != len(expected):
        raise TypeError(f"scan: expected {len(expected)} arguments, got {len(shapes)}")
    for got, dtype, (want, want_dtype, what) in zip(shapes, dtypes, expected):
        if len(got) != len(want):
            raise ShapeError(f"scan: {what} has shape {show(got)}, the body expects {show(want)}")
        for g, w in zip(got, want):
            try:
                dims_equal(g, w, f"scan: {what}")
            except ShapeError:
                raise ShapeError(f"scan: {what} has shape {show(got)}, the body expects {show(want)}") from None
        if dtype != want_dtype:
            raise TypeError(f"scan: {what} has dtype {dtype}, the body expects {want_dtype}")
    return (), TUPLE


def runtime_dims(node, arg_dims, keys, infer):
    """The run-time dims of the body nodes a schedule needs (the carries and the
    stacked ``keys``), its placeholders bound to the dims of ``node``'s
    arguments; ``infer(order, dims)`` completes a dims dict (schedule.py)."""
    body = node.attr("body")
    init, xs, consts = split_args(node, arg_dims)
    dims = {id(body.index): ()}
    dims.update({id(p): tuple(d) for p, d in zip(body.carry_in, init)})
    dims.update({id(p): tuple(d)[1:] for p, d in zip(body.x_in, xs)})
    dims.update({id(p): tuple(d) for p, d in zip(body.const_in, consts)})
    infer(topo_order(list(body.carry_out) + list(keys)), dims)
    return dims


# --- interpreter (and SymPy: the same loop, unrolled over SymPy values) ----------------------


class LoopValue:
    """A loop's value in the interpreter: the final carries and, per step, the
    values its placeholders took, from which any body node is stacked on request."""

    def __init__(self, carries, steps, run, length, symbolic=False):
        self.carries, self.steps, self.run = carries, steps, run
        self.length, self.symbolic = length, symbolic
        self._stacked = {}

    def get(self, key, shape, dtype):
        if key[0] == "carry":
            return self.carries[key[1]]
        node = key[1]
        if id(node) not in self._stacked:
            rows = {k: self.run([node], env)[0] for k, env in self.steps}
            if not rows:   # no steps: sizes known only at call time are 0
                out = np.empty(tuple(0 if d is None else d for d in shape), dtype=dtype)
            elif self.symbolic:
                out = np.empty(len(rows), dtype=object)
                if np.ndim(rows[0]):
                    out = np.empty((len(rows),) + np.shape(rows[0]), dtype=object)
                for k, row in rows.items():
                    # a scalar row may come as a 0-d object array (a value
                    # captured from outside the loop): stored as is, it would
                    # be an element that is itself an array
                    out[k] = row[()] if isinstance(row, np.ndarray) and row.ndim == 0 else row
            else:
                out = np.stack([np.asarray(rows[k]) for k in range(len(rows))]).astype(dtype, copy=False)
            self._stacked[id(node)] = out
        return self._stacked[id(node)]


def _loop(values, attrs, run, index, symbolic=False):
    body, n = attrs["body"], attrs["length"]
    nc, nx = len(body.carry_in), len(body.x_in)
    init, xs, consts = values[:nc], values[nc:nc + nx], values[nc + nx:]
    base = dict(zip(body.const_in, consts))
    carries, steps = list(init), []
    for k in (range(n - 1, -1, -1) if attrs["reverse"] else range(n)):
        env = {**base, **dict(zip(body.carry_in, carries)), body.index: index(k)}
        env.update({p: x[k] for p, x in zip(body.x_in, xs)})
        steps.append((k, env))
        carries = run(list(body.carry_out), env) if body.carry_out else []
    return LoopValue(carries, steps, run, n, symbolic)


def _evaluate(nodes, env):
    from ..interpret import evaluate
    with np.errstate(all="ignore"):
        return evaluate(nodes, env)


def _sympy_run(sp):

    def run(nodes, env):
        values = {}
        for node in topo_order(nodes):
            if node.op == "var":
                values[id(node)] = env[node]
            elif node.op == "const":
                values[id(node)] = node.value if node.dtype == "int64" else const_to_sympy(sp, node.value)
            else:
                values[id(node)] = OPS[node.op].sympy(sp, [values[id(a)] for a in node.args], dict(node.attrs))
        return [values[id(n)] for n in nodes]
    return run


# --- reverse mode -----------------------------------------------------------------------------


def _active_inside(body, seeds, extra=()):
    """Ids of the body nodes that depend on ``seeds`` (placeholders), a carry
    counting as seeded once the value it receives depends on a seed."""
    from ..autodiff import active_nodes, differentiable
    seeds = list(seeds)
    while True:
        active = active_nodes(topo_order(list(body.carry_out) + list(extra)), seeds)
        new = [c for c, o in zip(body.carry_in, body.carry_out)
               if id(o) in active and id(c) not in active and differentiable(c)]
        if not new:
            return active
        seeds += new


def _scan_vjp(node, g, active):
    """Adjoints of the loop's arguments: one reverse scan over the tape."""
    from ..autodiff import backprop
    from ..ir import FLOAT_DTYPES
    body = node.attr("body")
    init, xs, consts = split_args(node)
    a_init, a_xs, a_consts = split_args(node, active)
    floats = lambda nodes, flags: [p for p, a in zip(nodes, flags) if a and p.dtype in FLOAT_DTYPES]  # noqa: E731
    stack_keys = [k[1] for k in g if k[0] == "stack"]
    seeds = ([c for c, a in zip(body.carry_in, a_init) if a and c.dtype in FLOAT_DTYPES]
             + floats(body.x_in, a_xs) + floats(body.const_in, a_consts))
    act = _active_inside(body, seeds, stack_keys)
    carries = [i for i, c in enumerate(body.carry_in) if id(c) in act]
    gc = {i: placeholder(body.carry_in[i].shape, body.carry_in[i].dtype, "gc") for i in carries}
    pairs = [(body.carry_out[i], gc[i]) for i in carries if id(body.carry_out[i]) in act]
    gy = []
    for value in stack_keys:
        if id(value) in act:
            p = placeholder(value.shape, value.dtype, "gy")
            pairs.append((value, p))
            gy.append((p, F.astype(g[("stack", value)], value.dtype)))
    xs_act = [j for j, p in enumerate(body.x_in) if id(p) in act]
    ks_act = [j for j, p in enumerate(body.const_in) if id(p) in act]
    wrt = [body.carry_in[i] for i in carries] + [body.x_in[j] for j in xs_act] + [body.const_in[j] for j in ks_act]
    adj = backprop(pairs, wrt) if pairs else [None] * len(wrt)
    a_c, a_x, a_k = adj[:len(carries)], adj[len(carries):len(carries) + len(xs_act)], adj[len(carries) + len(xs_act):]

    # the reverse step: carries' adjoints, accumulated adjoints of captured values
    carry_in = [gc[i] for i in carries]
    carry_out = [zeros(body.carry_in[i]) if a is None else a for i, a in zip(carries, a_c)]
    accs = [(j, placeholder(body.const_in[j].shape, body.const_in[j].dtype, "acc"), a)
            for j, a in zip(ks_act, a_k) if a is not None]
    carry_in += [p for _, p, _ in accs]
    carry_out += [p + a for _, p, a in accs]
    ys = [(j, a) for j, a in zip(xs_act, a_x) if a is not None]
    outputs = carry_out + [a for _, a in ys]
    if not outputs:
        return (None,) * len(node.args)

    # the tape: what the reverse step reads that does not depend on an adjoint
    # but does depend on the carries, computed once by the forward loop
    adjoint_leaves = {id(p) for p in carry_in} | {id(p) for p, _ in gy}
    order = topo_order(outputs)
    on_adjoint = _depends(order, adjoint_leaves)
    on_carry = _depends(order, {id(c) for c in body.carry_in})
    tape, sub = [], {}
    for n in order:
        reads = n.args if id(n) in on_adjoint else ()
        for a in list(reads) + ([n] if n in outputs and id(n) not in on_adjoint else []):
            if id(a) in on_carry and id(a) not in on_adjoint and id(a) not in sub:
                sub[id(a)] = placeholder(a.shape, a.dtype, "tape")
                tape.append(a)
    outputs = substitute(outputs, sub)
    carry_out, y_nodes = outputs[:len(carry_in)], outputs[len(carry_in):]

    used = {id(n) for n in topo_order(outputs)}
    x_keep = [j for j, p in enumerate(body.x_in) if id(p) in used]
    k_keep = [j for j, p in enumerate(body.const_in) if id(p) in used]
    tape_ph = [sub[id(t)] for t in tape]
    rev_body = Body(carry_in, tape_ph + [body.x_in[j] for j in x_keep] + [p for p, _ in gy],
                    [body.const_in[j] for j in k_keep], body.index, carry_out, y_nodes)
    rev_init = [F.astype(g[("carry", i)], body.carry_in[i].dtype) if ("carry", i) in g else zeros(init[i])
                for i in carries]
    rev_init += [zeros(consts[j]) for j, _, _ in accs]
    rev_xs = [stacked(node, t) for t in tape] + [xs[j] for j in x_keep] + [a for _, a in gy]
    rev = make_scan(rev_body, rev_init, rev_xs, [consts[j] for j in k_keep], node.attr("length"),
                    not node.attr("reverse"))

    out = [None] * len(node.args)
    nc, nx = len(init), len(xs)
    for k, i in enumerate(carries):
        out[i] = carry(rev, k)
    for k, (j, _, _) in enumerate(accs):
        out[nc + nx + j] = carry(rev, len(carries) + k)
    for (j, _), y in zip(ys, y_nodes):
        out[nc + j] = stacked(rev, y)
    return tuple(out)


def _depends(order, sources):
    dep = set(sources)
    for n in order:
        if id(n) not in dep and any(id(a) in dep for a in n.args):
            dep.add(id(n))
    return dep


def substitute(outputs, sub):
    """``outputs`` rebuilt with the nodes whose id is in ``sub`` replaced."""
    if not sub:
        return list(outputs)
    new = dict(sub)
    for n in topo_order(list(outputs), stop=set(sub)):
        if id(n) in new:
            continue
        if not n.args or not any(id(a) in new for a in n.args):
            new[id(n)] = n
            continue
        new[id(n)] = apply(n.op, *[new.get(id(a), a) for a in n.args], **dict(n.attrs))
    return [new[id(o)] for o in outputs]


# --- forward mode ---------------------------------------------------------------------------


class LoopTangent:
    """The tangent of a loop: one scan over (primal, tangent) carries, whose
    outputs are looked up by key (any stacked body node has a tangent)."""

    def __init__(self, node, loop, seeds, carries):
        self.node, self.loop, self.seeds, self.carries = node, loop, seeds, carries

    def get(self, key):
        from ..autodiff import tangent_map
        if key[0] == "carry":
            k = self.carries.get(key[1])
            return None if k is None else carry(self.loop, k)
        value = key[1]
        t = tangent_map(topo_order([value]), dict(self.seeds)).get(id(value))
        return None if t is None else stacked(self.loop, t)


def _scan_jvp(node, ts):
    from ..autodiff import tangent_map
    body = node.attr("body")
    init, xs, consts = split_args(node)
    t_init, t_xs, t_consts = split_args(node, ts)
    seeds = {}
    tx = [(p, placeholder(p.shape, p.dtype, "tx"), t) for p, t in zip(body.x_in, t_xs) if t is not None]
    tk = [(p, placeholder(p.shape, p.dtype, "tk"), t) for p, t in zip(body.const_in, t_consts) if t is not None]
    start = [c for c, t in zip(body.carry_in, t_init) if t is not None] + [p for p, _, _ in tx + tk]
    act = _active_inside(body, start)
    carries = [i for i, c in enumerate(body.carry_in) if id(c) in act]
    tc = {i: placeholder(body.carry_in[i].shape, body.carry_in[i].dtype, "tc") for i in carries}
    seeds.update({id(body.carry_in[i]): tc[i] for i in carries})
    seeds.update({id(p): q for p, q, _ in tx + tk})
    tmap = tangent_map(topo_order(list(body.carry_out)), dict(seeds))
    t_out = [tmap.get(id(body.carry_out[i])) for i in carries]
    t_out = [zeros(body.carry_in[i]) if t is None else t for i, t in zip(carries, t_out)]
    loop_body = Body(body.carry_in + tuple(tc[i] for i in carries), body.x_in + tuple(q for _, q, _ in tx),
                     body.const_in + tuple(q for _, q, _ in tk), body.index, body.carry_out + tuple(t_out))
    t0 = [zeros(init[i]) if t_init[i] is None else t_init[i] for i in carries]
    loop = make_scan(loop_body, list(init) + t0, list(xs) + [t for _, _, t in tx],
                     list(consts) + [t for _, _, t in tk], node.attr("length"), node.attr("reverse"))
    index = {i: len(init) + k for k, i in enumerate(carries)}
    return LoopTangent(node, loop, seeds, index)


register(Op(
    name="scan", kind="block", infer=_scan_infer,
    eval=lambda values, attrs: _loop(values, attrs, _evaluate, lambda k: k),
    vjp=_scan_vjp, jvp=_scan_jvp, vjp_active=True,
    sympy=lambda sp, values, attrs: _loop(values, attrs, _sympy_run(sp), sp.Integer, symbolic=True),
))


def _get_vjp(node, g):
    return ((node.attr("key"), g),)


register(Op(
    name="scan_get", kind="block",
    infer=lambda shapes, dtypes, attrs: (tuple(attrs["shape"]), attrs["dtype"]),
    eval=lambda values, attrs: values[0].get(attrs["key"], attrs["shape"], attrs["dtype"]),
    vjp=_get_vjp,
    jvp=lambda node, ts: ts[0].get(node.attr("key")),
    sympy=lambda sp, values, attrs: values[0].get(attrs["key"], attrs["shape"], attrs["dtype"]),
))
