"""Loop steps of the fuzzer: ``sb.scan``, ``sb.fori_loop`` and repeated blocks.

A loop's step function is a random program of its own, drawn by the same
:class:`~tests.fuzz.programs.Builder` (the same op steps) over a pool that holds
the loop's placeholders -- the carries, the step's rows of ``xs``, the step
index -- and a few values of the enclosing program (captured).  Each carry's
new value is one of the body's values squashed back to the carry's shape
(``0.5 * c + 0.5 * tanh(v)`` and the like), so loops of up to six steps stay
finite.  Bodies may hold loops of their own (one level).

``op_repeat`` writes the other kind of loop: a random block applied K times
(4..7) by a Python ``for``, with fresh variables per repeat, shared values and
one or more carried values, exactly as a user's unrolled model reaches
symback.  The rerolling pass (on by default in every kernel) should find it;
the oracles compare the rerolled graph against the unrolled one
(:func:`tests.fuzz.oracles.check_batch`).

Every loop records itself as Python source (a ``def`` of its step and the call
or the ``for`` loop), so a failing program is still its own reproduction.
"""
from __future__ import annotations

import symback as sb
from symback.ops.control import placeholder, substitute
from symback.shapes import ShapeError

from . import programs as P

FLOATS = ("float64", "float32")


def _fits(v, shape):
    """Whether ``v`` broadcasts to exactly ``shape``."""
    if v.ndim > len(shape):
        return False
    return all(a == b or a == 1 for a, b in zip(reversed(v.shape), reversed(shape)))


class LoopSteps:
    """Mixin of :class:`~tests.fuzz.programs.Builder`: the loop steps."""

    #: the steps a loop body draws from (no gradients inside bodies: a grad of
    #: the body's values w.r.t. an outer variable is a different feature)
    BODY_STEPS = {"unary": 6, "binary": 6, "where": 2, "reduce": 3, "softmax": 2, "transpose": 1,
                  "reshape": 1, "broadcast": 1, "index": 2, "stack": 1, "matmul": 2, "xent": 1, "cast": 1,
                  "scan": 1}
    SCALAR_BODY_STEPS = {"unary": 6, "binary": 6, "where": 2, "cast": 1, "scan": 1}
    #: at most this many loops (and repeated blocks) per program, at top level
    MAX_LOOPS = 2

    # --- helpers ---------------------------------------------------------------------
    def _inner(self, node):
        """Whether ``node`` depends on a placeholder of the body being built."""
        return any(v.name.startswith("_") for v in sb.variables([node]))

    def _name(self, node, name):
        self.p.names[id(node)] = name
        self.p.keep.append(node)
        return node

    def _body(self, pool, n_steps):
        """Random steps over ``pool``; returns (the body's values, its source lines)."""
        saved = self.pool, self.p.lines
        self.pool, self.p.lines = list(pool), []
        self.depth += 1
        try:
            steps = self.SCALAR_BODY_STEPS if self.scalar_only else self.BODY_STEPS
            if self.depth > 1 or self.no_loops:
                steps = {k: w for k, w in steps.items() if k != "scan"}
            made, values = 0, []
            for _ in range(4 * n_steps):
                if made == n_steps:
                    break
                kind = self.c.weighted(steps)
                if kind == "scan":
                    try:
                        nodes = self.loop_scan()
                    except (P.Reject, ShapeError):
                        continue
                    values += nodes
                    self.pool += nodes
                    made += 1
                    continue
                try:
                    node, text = getattr(self, f"op_{kind}")()
                except (P.Reject, ShapeError):
                    continue
                if node.dtype not in FLOATS or node.op in ("var", "const") or not self._inner(node):
                    continue
                if node.dtype != self.p.dtype:
                    node = sb.astype(node, self.p.dtype)
                    text = f"sb.astype({text}, {self.p.dtype!r})"
                self.record(node, text)
                self.pool.append(node)
                values.append(node)
                made += 1
            return values, self.p.lines
        finally:
            self.depth -= 1
            self.pool, self.p.lines = saved

    def _update(self, c, values, lines):
        """The carry's new value: one of the body's ``values`` brought back to
        the carry's shape and kept bounded over the steps."""
        cands = [v for v in values if _fits(v, c.shape) and v.dtype == c.dtype]
        recurrent = [v for v in cands if any(a is c for a in sb.ir.topo_order([v]))]
        if recurrent and self.c.chance(0.7):
            cands = recurrent
        rc = self.p.ref(c)
        if cands:
            v = cands[self.c.weighted({i: i + 1 for i in range(len(cands))})] if len(cands) > 1 else cands[0]
            rv = self.p.ref(v)
        else:   # nothing of the carry's shape: a scalar of some body value
            src = self.c.choice(values) if values else c
            v, rv = sb.sum(src), f"sb.sum({self.p.ref(src)})"
        same = v.shape == c.shape
        form = self.c.weighted({"mix": 3, "gate": 2, "tanh": 2, "raw": 1 if same else 0, "sin": 1 if same else 0})
        new, text = {
            "mix": lambda: (0.5 * c + 0.5 * sb.tanh(v), f"0.5 * {rc} + 0.5 * sb.tanh({rv})"),
            "gate": lambda: (c * sb.sigmoid(v), f"{rc} * sb.sigmoid({rv})"),
            "tanh": lambda: (sb.tanh(c + v), f"sb.tanh({rc} + {rv})"),
            "raw": lambda: (v, rv),
            "sin": lambda: (sb.sin(v), f"sb.sin({rv})"),
        }[form]()
        if form == "raw":
            return v
        name = f"n{self.counter}"
        self.counter += 1
        lines.append(f"{name} = {text}")
        self.p.ops.add(new.op)
        return self._name(new, name)

    def _carries(self):
        """1-3 initial carries from the pool (values of the program's dtype)."""
        cands = lambda n: n.dtype == self.p.dtype   # noqa: E731
        return [self.pick(cands) for _ in range(self.c.weighted({1: 3, 2: 3, 3: 1}))]

    def _outer(self):
        """A few values of the enclosing program that the body may read (captured)."""
        return [self.pick() for _ in range(self.c.integer(0, 2))] if self.pool else []

    def _commit(self, head, body_lines, tail):
        self.p.lines.append(head)
        self.p.lines.extend("    " + line for line in body_lines)
        self.p.lines.extend(tail)

    # --- sb.scan ---------------------------------------------------------------------
    def loop_scan(self):
        """``sb.scan`` with a random body; returns the pool's new nodes (final
        carries and stacked ys)."""
        k = self.counter
        self.counter += 1
        f = f"f{k}"
        init = self._carries()
        length = self.c.integer(1, 6)
        xs = []
        if not self.scalar_only:
            for _ in range(self.c.weighted({0: 2, 1: 3, 2: 1})):
                rows = [n for n in self.pool if n.ndim >= 1 and n.shape[0] == length and n.dtype == self.p.dtype]
                if rows and self.c.chance(0.4):
                    xs.append(self.c.choice(rows))
                else:
                    xs.append(self.new_var((length,) + self.shape(max_rank=2)))
        reverse = self.c.chance(0.3)
        bare_c = len(init) == 1 and self.c.chance(0.3)
        bare_x = len(xs) == 1 and self.c.chance(0.3)
        outer = self._outer()
        n_steps = self.c.integer(1, 6)
        n_ys = self.c.weighted({0: 2, 1: 3, 2: 1})
        saved_ops = set(self.p.ops)
        captured = {}

        def step(carry, x):
            cs = [carry] if bare_c else list(carry)
            xr = [] if x is None else [x] if bare_x else list(x)
            for j, ph in enumerate(cs):
                self._name(ph, f"{f}c{j}")
            for j, ph in enumerate(xr):
                self._name(ph, f"{f}x{j}")
            values, lines = self._body(outer + cs + xr, n_steps)
            new = [self._update(c, values, lines) for c in cs]
            ys = [self.c.choice(values) for _ in range(n_ys)] if values else []
            captured.update(cs=cs, xr=xr, lines=lines, new=new, ys=ys)
            return (new[0] if bare_c else tuple(new)), tuple(ys)

        try:
            final, ys = sb.scan(step, init[0] if bare_c else tuple(init),
                                (xs[0] if bare_x else tuple(xs)) if xs else None,
                                length=None if xs and self.c.chance(0.5) else length, reverse=reverse)
        except (P.Reject, ShapeError):
            self.p.ops = saved_ops
            raise
        finals = [final] if bare_c else list(final)
        nodes = finals + list(ys)
        if self.depth == 0 and not all(self.runs(n) for n in nodes):
            self.p.ops = saved_ops
            raise P.Reject
        c = captured
        unpack = [f"{', '.join(self.p.ref(p) for p in c['cs'])}{',' if not bare_c else ''} = carry"]
        if c["xr"]:
            unpack.append(f"{', '.join(self.p.ref(p) for p in c['xr'])}{',' if not bare_x else ''} = x")
        ret = (self.p.ref(c["new"][0]) if bare_c else "(" + "".join(self.p.ref(n) + ", " for n in c["new"]) + ")")
        ret += ", (" + "".join(self.p.ref(y) + ", " for y in c["ys"]) + ")"
        init_src = self.p.ref(init[0]) if bare_c else "(" + "".join(self.p.ref(n) + ", " for n in init) + ")"
        xs_src = "None" if not xs else self.p.ref(xs[0]) if bare_x else \
            "(" + "".join(self.p.ref(n) + ", " for n in xs) + ")"
        call = f"s{k}c, s{k}y = sb.scan({f}, {init_src}, {xs_src}, length={length}, reverse={reverse})"
        self._commit(f"def {f}(carry, x):", unpack + c["lines"] + [f"return {ret}"], [call])
        self.p.ops |= {"scan", "scan_get"}
        for j, n in enumerate(finals):
            self.record(n, f"s{k}c" if bare_c else f"s{k}c[{j}]")
        for j, n in enumerate(ys):
            self.record(n, f"s{k}y[{j}]")
        return nodes

    # --- sb.fori_loop ----------------------------------------------------------------
    def loop_fori(self):
        k = self.counter
        self.counter += 1
        f = f"f{k}"
        init = self._carries()
        n = self.c.integer(1, 6)
        bare = len(init) == 1 and self.c.chance(0.3)
        outer = self._outer()
        n_steps = self.c.integer(1, 6)
        saved_ops = set(self.p.ops)
        captured = {}

        def step(i, carry):
            cs = [carry] if bare else list(carry)
            for j, ph in enumerate(cs):
                self._name(ph, f"{f}c{j}")
            self._name(i, f"{f}i")
            fi = self._name(sb.astype(i, self.p.dtype) * 0.3, f"{f}r")
            values, lines = self._body(outer + [fi] + cs, n_steps)
            lines.insert(0, f"{f}r = sb.astype({f}i, {self.p.dtype!r}) * 0.3")
            new = [self._update(c, values, lines) for c in cs]
            captured.update(cs=cs, lines=lines, new=new)
            return new[0] if bare else tuple(new)

        try:
            final = sb.fori_loop(n, step, init[0] if bare else tuple(init))
        except (P.Reject, ShapeError):
            self.p.ops = saved_ops
            raise
        finals = [final] if bare else list(final)
        if self.depth == 0 and not all(self.runs(x) for x in finals):
            self.p.ops = saved_ops
            raise P.Reject
        c = captured
        unpack = [f"{', '.join(self.p.ref(p) for p in c['cs'])}{',' if not bare else ''} = carry"]
        ret = self.p.ref(c["new"][0]) if bare else "(" + "".join(self.p.ref(x) + ", " for x in c["new"]) + ")"
        init_src = self.p.ref(init[0]) if bare else "(" + "".join(self.p.ref(x) + ", " for x in init) + ")"
        self._commit(f"def {f}({f}i, carry):", unpack + c["lines"] + [f"return {ret}"],
                     [f"s{k}c = sb.fori_loop({n}, {f}, {init_src})"])
        self.p.ops |= {"scan", "scan_get"}
        for j, x in enumerate(finals):
            self.record(x, f"s{k}c" if bare else f"s{k}c[{j}]")
        return finals

    # --- a block repeated by a Python loop ------------------------------------------
    def loop_repeat(self):
        """A random block applied K times: what a Python ``for`` over layers or
        time steps gives the graph, and what the rerolling pass looks for."""
        k = self.counter
        self.counter += 1
        f = f"b{k}"
        init = self._carries()
        K = self.c.integer(4, 7)
        x_shapes = [self.shape(max_rank=2) for _ in range(self.c.weighted({0: 1, 1: 3, 2: 2}))]
        cs = [self._name(placeholder(c.shape, c.dtype, "c"), f"{f}c{j}") for j, c in enumerate(init)]
        xp = [self._name(placeholder(s, self.p.dtype, "x"), f"{f}x{j}") for j, s in enumerate(x_shapes)]
        saved_ops = set(self.p.ops)
        no_loops, self.no_loops = self.no_loops, True   # unrolled by substitution: plain ops only
        try:
            values, lines = self._body(self._outer() + cs + xp, self.c.integer(2, 7))
            new = [self._update(c, values, lines) for c in cs]
        finally:
            self.no_loops = no_loops
        outs = [self.c.choice(values) for _ in range(self.c.weighted({0: 2, 1: 2, 2: 1}))] if values else []
        # unroll: fresh variables per repeat, carries passed on
        carries, per_rep, xvars = list(init), [], []
        for _ in range(K):
            xv = [self.new_var(s) for s in x_shapes]
            xvars.append(xv)
            sub = {id(p): v for p, v in zip(cs + xp, carries + xv)}
            got = substitute(new + outs, sub)
            carries, o = got[:len(new)], got[len(new):]
            per_rep.append((carries, o))
        # what the rest of the program reads: the final carries, some per-repeat
        # outputs and sometimes a carry from the middle of the run
        reads = [(f"{f}c[{j}]", x) for j, x in enumerate(carries)]
        for j in range(len(outs)):
            for r in sorted({self.c.integer(0, K - 1) for _ in range(self.c.integer(1, 2))}):
                reads.append((f"{f}o[{r}][{j}]", per_rep[r][1][j]))
        if K > 1 and self.c.chance(0.3):
            r = self.c.integer(0, K - 2)
            reads.append((f"{f}h[{r}][0]", per_rep[r][0][0]))
        if self.depth == 0 and not all(self.runs(x) for _, x in reads):
            self.p.ops = saved_ops
            raise P.Reject
        unpack = [f"{', '.join(self.p.ref(p) for p in cs)}, = carry"]
        if xp:
            unpack.append(f"{', '.join(self.p.ref(p) for p in xp)}, = x")
        ret = "(" + "".join(self.p.ref(x) + ", " for x in new) + "), (" + \
            "".join(self.p.ref(x) + ", " for x in outs) + ")"
        rows = ", ".join("(" + "".join(self.p.ref(v) + ", " for v in xv) + ")" for xv in xvars)
        tail = [f"{f}c, {f}o, {f}h = ({''.join(self.p.ref(x) + ', ' for x in init)}), [], []",
                f"for {f}xk in [{rows}]:",
                f"    {f}c, o = {f}({f}c, {f}xk)",
                f"    {f}o.append(o)",
                f"    {f}h.append({f}c)"]
        self._commit(f"def {f}(carry, x):", unpack + lines + [f"return {ret}"], tail)
        self.p.repeats += 1
        nodes = []
        for text, x in reads:
            if id(x) in self.p.names:
                continue
            self.record(x, text)
            nodes.append(x)
        return nodes

    def loop_step(self, kind):
        """Build one loop step (``scan``, ``fori`` or ``repeat``) at top level;
        the number of pool nodes it made (0 when rejected)."""
        try:
            nodes = getattr(self, f"loop_{kind}")()
        except (P.Reject, ShapeError):
            return 0
        self.pool += nodes
        self.loops += 1
        return 1 if nodes else 0
