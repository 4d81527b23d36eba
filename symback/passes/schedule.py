"""Scheduling: order the live nodes of a kernel into steps and fuse loops.

A kernel body is a list of steps, each of one of three kinds:

* ``Scalar``  -- one 0-d elementwise node, a straight-line statement;
* ``Block``   -- one node emitted by its op's ``block`` rule (matmul, softmax, ...);
* ``Loop``    -- a fused loop nest over one iteration space: elementwise nodes of
  that shape computed as scalar locals, plus ``sum`` reductions accumulated in
  the same pass.  Only the members that something outside the loop reads get
  an array (``buffered``); the rest never leave registers.

Nodes are placed greedily in topological order: an elementwise node joins the
earliest loop of its shape all of whose inputs are already available (computed
in an earlier step, or an earlier member of that loop); otherwise it opens a new
loop.  This fuses both long elementwise chains and independent chains over the
same shape (forward and backward elementwise work, for instance).

Run-time sizes are resolved here too: every op's shape rule is re-run with the
inputs' unknown sizes as :class:`~symback.shapes.Sym`, which records every
equality the kernel must check before it runs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice

from ..ir import Node
from ..names import local_names
from ..ops.registry import OPS
from ..shapes import DimContext, ShapeError, resolve, set_context, show
from .dce import live_nodes


@dataclass
class Scalar:
    node: Node


@dataclass
class Block:
    node: Node


@dataclass
class Loop:
    shape: tuple                       # run-time dims of the iteration space
    members: list = field(default_factory=list)     # elementwise nodes, in order
    reductions: list = field(default_factory=list)  # sum nodes fed by this space


@dataclass
class Schedule:
    inputs: list
    outputs: list
    steps: list
    dims: dict          # id(node) -> run-time shape (ints and Syms)
    buffered: set       # ids of loop members that need an array
    consts: list        # array constants, in order of first use
    context: DimContext
    readers: dict       # node -> list of consumer nodes
    local_names: dict = field(default_factory=dict)  # var name -> its name in generated code
    order: list = None  # the nodes placed, in order
    place: dict = None  # node -> (step index, kind)


def _same_space(a, b):
    return len(a) == len(b) and all(resolve(x) is resolve(y) or resolve(x) == resolve(y)
                                    for x, y in zip(a, b))


def _read_args(node):
    shape_args = OPS[node.op].shape_args
    if not shape_args:   # (most ops: their arguments as they are)
        return node.args
    return [a for i, a in enumerate(node.args) if i not in shape_args]


def schedule(outputs, inputs, known=(), context=None, order=None, earlier=None):
    """Order and fuse the nodes that ``outputs`` need, given the ``inputs`` vars.

    ``known`` nodes are already computed where this schedule runs (a loop body
    reads the values hoisted before its loop): they are treated as leaves.
    ``context``: the enclosing kernel's schedule, for a loop body: its run-time
    sizes (computed for the bodies of its loops too) are the body's.
    ``order``: ``live_nodes(outputs)``, when the caller has walked the graph
    already (a walk of a big graph is a noticeable share of scheduling it).
    ``earlier``: the schedule of another kernel of the module (no ``known``
    nodes): where its order starts this one's and its steps are all 0-d
    statements, its placement is taken as it is and goes on from there (a
    gradient module's value_and_grad starts with forward's graph: in a big
    scalar program a third of its nodes).  Placing 0-d statements depends on
    nothing but the order, so the result is the same."""
    known_ids = {id(k) for k in known}
    if order is None or known_ids:
        order = live_nodes(outputs, stop=known_ids)
    input_ids = {id(v) for v in inputs}
    names = {}
    for v in inputs:
        other = names.setdefault(v.name, v)
        if other is not v:
            raise ValueError(f"compile: two different inputs are named {v.name!r} "
                             f"(shapes {show(other.shape)} and {show(v.shape)})")
    for node in order:
        if node.op == "var" and id(node) not in input_ids and id(node) not in known_ids:
            raise ValueError(f"compile: the outputs depend on variable {node.name!r}, "
                             "which is not among the inputs")

    # a variable named like something generated code uses (math, max, out...)
    # is renamed inside the kernel; run-time sizes are read from that name
    local = local_names(list(names))
    if context is not None:
        ctx, dims = context.context, context.dims
    else:
        ctx = DimContext(reserved=set(names) | set(local.values()))
        previous = set_context(ctx)
        try:
            dims = _runtime_shapes(order, ctx, local, known_ids)
        finally:
            set_context(previous)

    # one pass: each node's readers (what reads it, in order) and its place (both keyed
    # by the node: a node hashes faster than its id, which is a new int each time)
    steps, place, consts, readers = [], {}, [], {}
    start, looped = 0, False
    if earlier is not None and not known_ids and _continues(earlier, order):
        start = len(earlier.order)
        steps, place, consts = list(earlier.steps), dict(earlier.place), list(earlier.consts)
        readers = {a: list(r) for a, r in earlier.readers.items()}   # (lists this one goes on)
    get, ops, add_step = readers.get, OPS, steps.append   # (locals: once per node of a big program)
    for node in islice(order, start, None):
        if known_ids and id(node) in known_ids:
            place[node] = (-1, "leaf")
            continue
        op = ops[node.op]
        for a in (_read_args(node) if op.shape_args else node.args):
            seen = get(a)
            if seen is None:
                readers[a] = [node]
            else:
                seen.append(node)
        kind = op.kind
        if kind == "elementwise" and not node.shape:   # (first: a big scalar program is all these)
            place[node] = (len(steps), "scalar")
            add_step(Scalar(node))
        elif kind == "leaf":
            if node.op == "const" and node.shape:
                consts.append(node)
            place[node] = (-1, "leaf")
        elif kind == "elementwise":
            looped = True
            i = _join_loop(steps, place, node, dims[id(node)], member=True)
            steps[i].members.append(node)
            place[node] = (i, "member")
        elif kind == "reduce":
            arg = node.args[0]
            looped = True
            i = _join_loop(steps, place, node, dims[id(arg)], member=False)
            steps[i].reductions.append(node)
            place[node] = (i, "reduction")
        else:
            steps.append(Block(node))
            place[node] = (len(steps) - 1, "block")

    out_ids = {id(o) for o in outputs}
    buffered = set()
    if looped:   # (a program without loops, a big scalar one, has neither pass over its steps)
        _sink(steps, place, readers, out_ids)
        buffered = _buffered(steps, readers, out_ids)
    return Schedule(list(inputs), list(outputs), steps, dims, buffered, consts, ctx, readers, local,
                    order, place)


def _buffered(steps, readers, out_ids):
    """Ids of the loop members that something outside their loop reads: they need an array."""
    buffered = set()
    for step in steps:
        if isinstance(step, Loop):
            here = {id(m) for m in step.members} | {id(r) for r in step.reductions}
            for m in step.members:
                if id(m) in out_ids or any(id(r) not in here for r in readers.get(m, ())):
                    buffered.add(id(m))
    return buffered


def _continues(earlier, order):
    """Whether ``order`` starts with ``earlier``'s and all its steps are 0-d statements."""
    done = earlier.order
    return done is not None and len(done) <= len(order) and all(type(s) is Scalar for s in earlier.steps) \
        and all(a is b for a, b in zip(done, order))


def _sink(steps, place, readers, out_ids):
    """Move loop members that only one later loop reads into that loop.

    Greedy placement puts a node in the earliest loop that can compute it: the
    ReLU mask ``relu(x) > 0`` lands in the forward layer's loop, though only the
    backward pass reads it, and would be stored as an array of its own.  Moved
    (with the register-only values it alone needs) to its readers' loop, whose
    other inputs are arrays already, it is computed where it is used and never
    stored: the same work, less memory traffic."""
    for i, step in enumerate(steps):
        if not isinstance(step, Loop):
            continue
        for m in reversed(list(step.members)):
            if place[m][0] != i:
                continue   # moved with an earlier group
            targets = {place[r][0] for r in readers.get(m, ())}
            if id(m) in out_ids or len(targets) != 1:
                continue
            j = targets.pop()
            if j <= i or not isinstance(steps[j], Loop) or not _same_space(steps[j].shape, step.shape):
                continue
            group = _sink_group(m, step, i, place, readers, out_ids)
            if group is None:
                continue
            target = steps[j].members
            first = min((target.index(r) for g in group for r in readers.get(g, ()) if r in target),
                        default=len(target))
            for g in group:   # in their order in loop i
                step.members.remove(g)
                place[g] = (j, "member")
            target[first:first] = group
    steps[:] = [s for s in steps if not isinstance(s, Loop) or s.members or s.reductions]


def _sink_group(m, step, i, place, readers, out_ids):
    """``m`` and the members of loop ``i`` that only it needs (in loop order),
    if everything else they read is stored; else None.  One backward pass:
    members are in dependency order, so a member's readers in the loop are all
    decided when it is reached."""
    here = {id(x) for x in step.members} | {id(x) for x in step.reductions}
    ids = {id(m)}
    needed = {id(a) for a in _read_args(m)}

    def read_outside(a):
        return id(a) in out_ids or any(id(r) not in here and id(r) not in ids for r in readers.get(a, ()))

    for x in reversed(step.members[:step.members.index(m)]):
        if id(x) in needed and not read_outside(x) and all(
                id(r) in ids for r in readers.get(x, ()) if id(r) in here):
            ids.add(id(x))
            needed.update(id(a) for a in _read_args(x))
    group = [x for x in step.members if id(x) in ids]
    for g in group:
        if g is not m and any(id(r) in here and id(r) not in ids for r in readers.get(g, ())):
            return None
        for a in _read_args(g):
            if place[a] == (i, "member") and id(a) not in ids and not read_outside(a):
                return None
            if place[a] == (i, "reduction"):
                return None   # a sum finished only after loop i: not readable inside it
    return group


def _join_loop(steps, place, node, space, member):
    """Index of the loop over ``space`` that ``node`` can join, opening one if none can."""
    def available(i):
        for a in _read_args(node):
            step, kind = place[a]
            if step < i or kind == "leaf":
                continue
            if step == i and kind == "member" and member:
                continue
            if step == i and kind == "member" and not member and a is node.args[0]:
                continue  # a reduction reads its own loop's member as a local
            return False
        return True

    for i, step in enumerate(steps):
        if isinstance(step, Loop) and _same_space(step.shape, space) and available(i):
            return i
    steps.append(Loop(tuple(space)))
    return len(steps) - 1


def _runtime_shapes(order, ctx, local, known_ids=frozenset(), dims=None):
    """Run-time dims of every node of ``order`` (added to ``dims``).  A loop's
    body gets its dims here too, its placeholders bound to the dims of the
    loop's arguments, so that its sizes are the kernel's run-time sizes and its
    equalities are checked before the kernel runs."""
    from ..ops.control import runtime_dims
    if dims is None and not any(None in node.shape or node.op == "scan" for node in order):
        # every size is known now (no loop body to bind either): each node's
        # dims are its shape, and nothing is checked at run time -- the case
        # of a big scalar program, where the walk below is a noticeable cost
        return {id(node): node.shape for node in order}
    dims = {} if dims is None else dims
    keys = {}
    for node in order:
        if node.op == "scan_get":
            keys.setdefault(id(node.args[0]), []).append(node.attr("key"))
    static = set()   # nodes whose every size is known now: their shape is their dims
    for node in order:
        if id(node) in dims:
            continue
        if node.op == "var":
            dims[id(node)] = tuple(ctx.input_dim(local[node.name], i) if d is None else d
                                   for i, d in enumerate(node.shape))
            if None not in node.shape:
                static.add(node)
        elif node.op == "const":
            dims[id(node)] = node.shape
            static.add(node)
        elif node.op != "scan" and None not in node.shape and static.issuperset(node.args):
            # the shape rule ran on these very sizes when the node was built
            # (and checks nothing at run time): skip it, a large share of
            # scheduling a big scalar program
            dims[id(node)] = node.shape
            static.add(node)
        elif node.op == "scan_get":
            kind, what = node.attr("key")
            body = node.args[0].attr("body")
            inner = dims[id(body.carry_out[what] if kind == "carry" else what)]
            dims[id(node)] = tuple(inner) if kind == "carry" else (node.shape[0],) + tuple(inner)
        else:
            op = OPS[node.op]
            try:
                shape, _ = op.infer([dims[id(a)] for a in node.args], [a.dtype for a in node.args],
                                    dict(node.attrs))
            except ShapeError as e:
                raise ShapeError(f"compile: {e}") from None
            dims[id(node)] = tuple(shape)
            if node.op == "scan":
                stacked = [k[1] for k in keys.get(id(node), ()) if k[0] == "stack"]
                dims.update(runtime_dims(node, [dims[id(a)] for a in node.args], stacked,
                                         lambda o, d: _runtime_shapes(o, ctx, local, known_ids, d)))
    return dims
