"""Automatic rerolling: a Python loop that was unrolled into the graph becomes a scan.

A model written as ``for layer in range(50): o = sigmoid(o @ W[layer].T + b[layer])``
(W4), or a chain of 1,000 identical steps (W5), reaches symback as a graph
that repeats one block of nodes.  Compiling it unrolled costs Numba time in
proportion to the depth; as a loop it costs the same for any depth.

Nodes are ordered as the user's code built them (``ir.build_order``: creation
order, unless hash-consing gave back an older node), a topological order that
follows the user's Python loop: iteration after iteration, the same ops in the
same order.  The pass looks for a period ``P`` in that sequence (the op,
attributes, shape and dtype of node ``i`` and node ``i + P`` agree over a long
run), then checks that the run really is ``K`` copies of one block:

* every argument of a node in block ``k`` is a node of the same block at the
  same offset, a node of block ``k - 1`` at the same offset (a carry: block 0
  reads the loop's initial value there instead), or something from outside the
  run: the same node in every block (captured) or one node per block of one
  shape and dtype (a per-step input, e.g. each layer's own parameter);
* nothing reaches further back than one block.

The run is then rebuilt as ``sb.scan`` over the per-step inputs, stacked: the
block's nodes become the body, the carries are the values the next block
reads, and whatever the rest of the graph reads from inside the run becomes a
final carry or a row of a stacked per-step output.  Any repeated structure
qualifies -- the pass knows no layer types -- and a graph with no long enough
repetition is returned unchanged (the very same nodes).  The kernel's
arguments and gradients stay one per variable: stacks of arguments are made in
the kernel's Python wrapper (backend/pack.py).
"""
from __future__ import annotations

from collections import Counter

from ..ir import TUPLE, Node, build_order, topo_order
from ..gc_pause import paused

#: a run is rerolled when it repeats at least this many times ...
MIN_STEPS = 4
#: ... and covers at least this many nodes
MIN_NODES = 24
#: periods tried per pass, most frequent first
CANDIDATES = 8


@paused
def reroll(outputs):
    """``outputs`` (a node or a list) with every long repeated run made a loop."""
    single = isinstance(outputs, Node)
    outs = [outputs] if single else list(outputs)
    for _ in range(16):   # one loop per pass; a model may hold several
        new = _reroll_once(outs)
        if new is None:
            break
        outs = new
    return outs[0] if single else outs


def _token(node):
    return (node.op, node.attrs, node.shape, node.dtype, len(node.args))


def _reroll_once(outputs):
    order = topo_order(outputs)
    seq = [n for n in build_order(outputs) if n.args]
    if len(seq) < MIN_NODES:
        return None
    ids, tokens = {}, []
    for n in seq:
        tokens.append(ids.setdefault(_token(n), len(ids)))
    pos = {id(n): i for i, n in enumerate(seq)}
    for P, r0, r1 in _runs(tokens):
        found = _align(seq, pos, tokens, P, r0, r1)
        if found is not None:
            return _rewrite(outputs, order, seq, *found)
    return None


def _runs(tokens):
    """Candidate (period, start, end) runs, the longest first: ``tokens[i] ==
    tokens[i + P]`` for every i in [start, end)."""
    last, distances = {}, Counter()
    for i, t in enumerate(tokens):
        if t in last:
            distances[i - last[t]] += 1
        last[t] = i
    runs = []
    for P, count in distances.most_common(CANDIDATES):
        if count < MIN_STEPS - 1:
            continue
        start = None
        for i in range(len(tokens) - P + 1):
            same = i < len(tokens) - P and tokens[i] == tokens[i + P]
            if same and start is None:
                start = i
            elif not same and start is not None:
                if i - start + P >= max(MIN_STEPS * P, MIN_NODES):
                    runs.append((i - start + P, -P, P, start, i))
                start = None
    return [(P, r0, r1) for _, _, P, r0, r1 in sorted(runs, reverse=True)]


def _roles(seq, pos, s, P, k):
    """How the arguments of block ``k`` (starting at ``s``) relate to the run."""
    base = s + k * P
    roles = []
    for j in range(P):
        r = []
        for a in seq[base + j].args:
            p = pos.get(id(a), -1)
            if p < s:
                r.append(("ext",))
            elif 0 <= p - base < j:
                r.append(("in", p - base))
            elif -P <= p - base < 0:
                r.append(("carry", p - base + P))
            else:
                return None
        roles.append(r)
    return roles


def _align(seq, pos, tokens, P, r0, r1):
    """The first alignment of blocks in the run that checks out, as
    (start, P, K, roles), or ``None``."""
    for s in range(r0, min(r0 + P, r1)):
        K = (r1 + P - s) // P
        if K < MIN_STEPS:
            break
        template = _roles(seq, pos, s, P, 1)
        if template is None or any(n.dtype == TUPLE for n in seq[s:s + P]) \
                or not _may_slot(seq, s, P, template):
            continue
        k = 1
        while k < K and _roles(seq, pos, s, P, k) == template and \
                all(tokens[s + k * P + j] == tokens[s + j] for j in range(P)):
            k += 1
        K = k
        if K < MIN_STEPS or K * P < MIN_NODES:
            continue
        first = _roles(seq, pos, s, P, 0)
        if first is None or any(f != t and not (f == ("ext",) and t[0] == "carry")
                                for fr, tr in zip(first, template) for f, t in zip(fr, tr)):
            continue
        found = _slots(seq, s, P, K, template)
        if found is not None:
            return s, P, K, template, *found
    return None


def _may_slot(seq, s, P, template):
    """Whether the first two blocks' external arguments pass :func:`_slots`'
    test: the same node, leaves both, or rows of one array.  A cheap early
    rejection: a long run of a chain that reads a different computed value at
    each step (a loss summing thousands of terms) is then not compared block
    by block, once per candidate period, before ``_slots`` refuses it."""
    for j, roles in enumerate(template):
        for m, role in enumerate(roles):
            if role[0] == "ext":
                a, b = seq[s + j].args[m], seq[s + P + j].args[m]
                if not (a is b or (not a.args and not b.args)
                        or (a.op == "index" and b.op == "index" and a.args[0] is b.args[0])):
                    return False
    return True


def _slots(seq, s, P, K, template):
    """(initial value per carry, external argument slots) or ``None`` when
    they do not fit a loop."""
    init, external = {}, {}
    for j, roles in enumerate(template):
        for m, role in enumerate(roles):
            if role[0] == "carry":
                a = seq[s + j].args[m]
                q = role[1]
                if init.setdefault(q, a) is not a:
                    return None
                carried = seq[s + q]
                if a.shape != carried.shape or a.dtype != carried.dtype:
                    return None
            elif role[0] == "ext":
                values = [seq[s + k * P + j].args[m] for k in range(K)]
                first = values[0]
                if any(v.shape != first.shape or v.dtype != first.dtype or v.dtype == TUPLE for v in values):
                    return None
                if not (all(v is first for v in values) or all(not v.args for v in values)
                        or _rows_of(values) is not None):
                    return None   # stacking computed values would be per-step code in the kernel
                external[(j, m)] = values
    return init, external


def _rows_of(values):
    """The array whose rows 0, 1, ... ``values`` are (``Y[0], Y[1], ...``, as a
    previous loop's stacked outputs are read), or ``None``."""
    whole = values[0].args[0] if values[0].op == "index" else None
    for k, v in enumerate(values):
        if v.op != "index" or v.args[0] is not whole:
            return None
        key = v.attr("key")
        if key[0] != ("i", k) or any(part[0] != "s" or part[1:] not in ((None, None, None), (0, d, 1))
                                     for part, d in zip(key[1:], whole.shape[1:])):
            return None
    return whole if whole is not None and whole.shape[0] == len(values) else None


def _rewrite(outputs, order, seq, s, P, K, template, init, external):
    from ..ops import build as F
    from ..control_flow import scan
    from ..ops.control import substitute
    from ..ops.registry import apply
    region = {id(n): divmod(i - s, P) for i, n in enumerate(seq[s:s + K * P], start=s)}
    carries = sorted(init)
    # per-step inputs: one stack per distinct sequence of nodes (shared ones are captured)
    stacks, slot = {}, {}
    for key, values in external.items():
        if all(v is values[0] for v in values):
            slot[key] = ("shared", values[0])
        else:
            ident = tuple(id(v) for v in values)
            if ident not in stacks:
                stacks[ident] = (len(stacks), values)
            slot[key] = ("x", stacks[ident][0])
    xs = tuple(_rows_of(values) if values[0].args else F.stack(values)
               for _, values in sorted(stacks.values(), key=lambda t: t[0]))
    # what the rest of the graph reads from inside the run
    reads = set()
    for n in order:
        if id(n) not in region:
            reads.update(region[id(a)] for a in n.args if id(a) in region)
    reads.update(region[id(o)] for o in outputs if id(o) in region)
    ys = sorted({j for k, j in reads if not (k == K - 1 and j in init)})

    def body(carry, x):
        new = []
        for j in range(P):
            t = seq[s + j]
            args = []
            for m, role in enumerate(template[j]):
                if role[0] == "in":
                    args.append(new[role[1]])
                elif role[0] == "carry":
                    args.append(carry[carries.index(role[1])])
                elif slot[(j, m)][0] == "shared":
                    args.append(slot[(j, m)][1])
                else:
                    args.append(x[slot[(j, m)][1]])
            new.append(apply(t.op, *args, **dict(t.attrs)))
        return tuple(new[q] for q in carries), tuple(new[j] for j in ys)

    final, stacked_ys = scan(body, tuple(init[q] for q in carries), xs, length=K)
    sub = {}
    for n in seq[s:s + K * P]:
        k, j = region[id(n)]
        if (k, j) not in reads:
            continue
        if j in ys:   # (read at other steps too: every row from one stacked array)
            sub[id(n)] = stacked_ys[ys.index(j)][k]
        else:
            sub[id(n)] = final[carries.index(j)]
    return substitute(outputs, sub)
