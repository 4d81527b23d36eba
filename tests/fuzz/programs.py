"""Random symback programs: expression DAGs over every registered op.

A program is built step by step from a pool of nodes (its variables first);
each step applies one op to nodes of the pool, so values fan out to several
consumers as real models do.  Shapes mix static sizes, size-1 axes that
broadcast and ``None`` sizes fixed only at call time; reductions, softmax and
logsumexp run over any axis, with and without keepdims.

Every decision goes through a :class:`Chooser`, so the same generator is driven
by hypothesis (``HypothesisChooser``, for the test profiles) or by a seeded numpy
generator (``RandomChooser``, for reproducing one program).  Each program also
records itself as Python source (``Program.source``): a failure report is a
runnable reproduction, not a seed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import symback as sb
from symback.shapes import ShapeError

from .loops import LoopSteps

#: the size every ``None`` dimension takes at call time, per program
CALL_SIZES = (1, 2, 3)


class Chooser:
    """The decisions a generator makes; subclasses say where they come from."""

    def integer(self, lo, hi):          # inclusive
        raise NotImplementedError

    def choice(self, seq):
        seq = list(seq)
        return seq[self.integer(0, len(seq) - 1)]

    def chance(self, p):
        return self.integer(0, 999) < int(p * 1000)

    def weighted(self, table):
        """A key of ``table`` ({key: weight}), with probability proportional to its weight."""
        total = sum(table.values())
        r = self.integer(0, total - 1)
        for key, w in table.items():
            if r < w:
                return key
            r -= w
        raise AssertionError("unreachable")


class RandomChooser(Chooser):
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def integer(self, lo, hi):
        return int(self.rng.integers(lo, hi + 1))


class HypothesisChooser(Chooser):
    """Decisions drawn from hypothesis' ``data`` (so it can replay and shrink them)."""

    def __init__(self, data):
        from hypothesis import strategies as st
        self.data, self.st = data, st

    def integer(self, lo, hi):
        return self.data.draw(self.st.integers(lo, hi))


@dataclass
class Program:
    """One random program: its variables with values, its outputs and its text."""

    prefix: str
    dtype: str
    call_size: int
    variables: list = field(default_factory=list)     # float vars (differentiated)
    others: list = field(default_factory=list)        # int64 vars (labels)
    values: dict = field(default_factory=dict)        # var node -> value
    lines: list = field(default_factory=list)         # Python source of the build
    names: dict = field(default_factory=dict)         # id(node) -> name in `lines`
    outputs: list = field(default_factory=list)       # the nodes no other step consumed
    loss: object = None                               # a scalar of all of them
    ops: set = field(default_factory=set)
    repeats: int = 0        # blocks repeated by a Python loop (for the rerolling pass)
    keep: list = field(default_factory=list)          # every named node, alive (`names` is keyed by id)
    lossy: bool = False     # rounds through float32: derivative identities hold to float32 only

    @property
    def inputs(self):
        return self.variables + self.others

    @property
    def source(self):
        values = "\n".join(f"{self.names[id(v)]}_value = np.array({np.asarray(x).tolist()!r}, dtype=np.{v.dtype})"
                           for v, x in self.values.items())
        return f"{values}\n" + "\n".join(self.lines)

    def ref(self, node):
        if id(node) in self.names:
            return self.names[id(node)]
        if node.op == "const":
            v = node.value
            return repr(v.item()) if v.ndim == 0 else f"np.array({v.tolist()!r}, dtype=np.{node.dtype})"
        return "?"


class Reject(Exception):
    """This step cannot be built from the current pool: try another."""


class Builder(LoopSteps):
    """Builds one :class:`Program`; each ``op_*`` method is one kind of step
    (the loops' are ``loop_*``, in :mod:`tests.fuzz.loops`)."""

    def __init__(self, chooser, prefix, scalar_only=False, loops=True):
        c = self.c = chooser
        dtype = "float32" if c.chance(0.15) else "float64"
        self.p = Program(prefix, dtype, c.choice(CALL_SIZES))
        self.scalar_only = scalar_only
        self.pool = []
        self.counter = 0
        self.decls = self.p.lines      # variables are declared at top level, even inside a loop body
        self.depth, self.loops, self.no_loops = 0, 0, not loops

    # --- leaves ------------------------------------------------------------------
    def shape(self, max_rank=3):
        if self.scalar_only:
            return ()
        rank = self.c.weighted({0: 2, 1: 3, 2: 3, 3: 1} if max_rank >= 3 else {r: 1 for r in range(max_rank + 1)})
        return tuple(self.dim() for _ in range(rank))

    def dim(self):
        return self.c.weighted({1: 3, 2: 4, 3: 3, None: 2})

    def new_var(self, shape, dtype=None, kind="signed"):
        dtype = dtype or self.p.dtype
        name = f"{self.p.prefix}v{len(self.p.values)}"
        node = sb.var(name, shape, dtype)
        size = tuple(self.p.call_size if d is None else d for d in shape)
        rng = np.random.default_rng(self.c.integer(0, 2**31))
        if dtype == "int64":
            value = rng.integers(0, kind, size)
            self.p.others.append(node)
        else:
            value = rng.uniform(0.2, 1.5, size) * rng.choice([-1.0, 1.0], size)
            if kind == "positive":
                value = np.abs(value)
            self.p.variables.append(node)
        self.p.values[node] = np.asarray(value, dtype=dtype)
        self.p.names[id(node)] = name
        self.p.keep.append(node)
        self.decls.append(f"{name} = sb.var({name!r}, {shape!r}, {dtype!r})")
        return node

    def record(self, node, text):
        if id(node) in self.p.names or node.op in ("var", "const"):
            return node
        name = f"t{self.counter}"
        self.counter += 1
        self.p.names[id(node)] = name
        self.p.keep.append(node)
        self.p.lines.append(f"{name} = {text}")
        self.p.ops.add(node.op)
        return node

    def runs(self, node):
        """Whether ``node`` can be computed at the program's call sizes: a
        ``None`` size met with a static one is a run-time check, which the
        program's values (every ``None`` is ``call_size``) may fail."""
        from symback.passes.schedule import schedule
        values = {**self.p.values}
        try:
            with np.errstate(all="ignore"):
                sb.evaluate(node, values)
        except (ValueError, IndexError):
            return False
        # numpy broadcasts a call size of 1 where symback checks equality (a
        # None size never broadcasts): test the kernel's own run-time checks
        inputs = sb.variables([node])
        sched = schedule([node], inputs)
        env = {sched.local_names[v.name]: values[v] for v in inputs}
        for sym in sched.context.syms:
            env[sym.name] = eval(sym.expr, {}, env)  # noqa: S307 - generated size expressions
        return all(eval(lhs, {}, env) == eval(rhs, {}, env) for lhs, rhs, _ in sched.context.checks)  # noqa: S307

    def pick(self, pred=lambda n: True):
        cands = [n for n in self.pool if pred(n)]
        if not cands:
            raise Reject
        # recent nodes more often: deep chains as well as wide fan-out
        k = len(cands)
        return cands[self.c.weighted({i: i + 1 for i in range(k)})] if k > 1 else cands[0]

    def partner(self, a):
        """A node whose shape broadcasts with ``a`` (from the pool, else a scalar or a new var)."""
        def fits(n):
            if n.ndim > a.ndim and a.ndim and not all(d == 1 for d in n.shape[:n.ndim - a.ndim]):
                return False
            for x, y in zip(reversed(n.shape), reversed(a.shape)):
                if not (x == y or x == 1 or y == 1):
                    return False
            return True
        how = self.c.weighted({"pool": 5, "const": 2, "var": 1})
        if how == "pool":
            try:
                return self.pick(fits)
            except Reject:
                how = "const"
        if how == "const" or self.scalar_only:
            value = self.c.choice([0.5, 2.0, -1.5, 3.0, 0.25])
            return sb.const(np.asarray(value, dtype=self.p.dtype))
        shape = tuple(d if self.c.chance(0.7) else 1 for d in a.shape[self.c.integer(0, a.ndim):]) if a.ndim else ()
        return self.new_var(shape)

    def positive(self, x):
        """An expression of ``x`` that is > 0 (for log, sqrt, pow bases, denominators)."""
        form = self.c.choice(["sq", "exp", "abs", "sigmoid"])
        r = self.p.ref(x)
        if form == "sq":
            return self.record(x * x + 0.5, f"{r} * {r} + 0.5")
        if form == "exp":
            return self.record(sb.exp(x), f"sb.exp({r})")
        if form == "abs":
            return self.record(sb.abs(x) + 0.25, f"sb.abs({r}) + 0.25")
        return self.record(sb.sigmoid(x), f"sb.sigmoid({r})")

    def axis_arg(self, x, single=False):
        if single:
            k = self.c.integer(0, x.ndim - 1)
            return k - x.ndim if self.c.chance(0.3) else k
        form = self.c.weighted({"none": 1, "int": 3, "tuple": 2})
        if form == "none":
            return None
        if form == "int":
            k = self.c.integer(0, x.ndim - 1)
            return k - x.ndim if self.c.chance(0.3) else k
        return tuple(k for k in range(x.ndim) if self.c.chance(0.5))

    # --- steps ---------------------------------------------------------------------
    UNARY = ("exp", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "sign", "abs", "negative", "square",
             "log", "sqrt")

    def op_unary(self):
        x = self.pick()
        name = self.c.choice(self.UNARY)
        if name in ("log", "sqrt") and self.c.chance(0.85):
            x = self.positive(x)
        if name == "exp" and self.c.chance(0.5):
            x = self.record(sb.tanh(x), f"sb.tanh({self.p.ref(x)})")     # keep exp(exp(...)) finite
        return getattr(sb, name)(x), f"sb.{name}({self.p.ref(x)})"

    def op_binary(self):
        a = self.pick()
        b = self.partner(a)
        if self.c.chance(0.5):
            a, b = b, a
        name = self.c.weighted({"+": 3, "-": 2, "*": 3, "/": 2, "**": 2, "maximum": 1, "minimum": 1})
        if name == "/" and self.c.chance(0.85):
            b = self.positive(b)
        if name == "**":
            if self.c.chance(0.5):
                b = sb.const(np.asarray(self.c.choice([2.0, 3.0, 0.5, -1.0, 1.5]), dtype=self.p.dtype))
            if self.c.chance(0.9) or b.op != "const":
                a = self.positive(a)
        ra, rb = self.p.ref(a), self.p.ref(b)
        if name in ("maximum", "minimum"):
            return getattr(sb, name)(a, b), f"sb.{name}({ra}, {rb})"
        ops = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
               "**": lambda: a ** b}
        return ops[name](), f"{ra} {name} {rb}"

    def op_where(self):
        a = self.pick()
        b = self.partner(a)
        x, y = self.partner(a), self.partner(a)
        cmp = self.c.choice(["<", "<=", ">", ">=", "equal", "not_equal"])
        fn = {"<": sb.less, "<=": sb.less_equal, ">": sb.greater, ">=": sb.greater_equal,
              "equal": sb.equal, "not_equal": sb.not_equal}[cmp]
        cond, ctext = fn(a, b), f"sb.{fn.__name__}({self.p.ref(a)}, {self.p.ref(b)})"
        if self.c.chance(0.2):
            cond, ctext = sb.logical_not(cond), f"sb.logical_not({ctext})"
        elif self.c.chance(0.2):
            cond = sb.logical_and(cond, sb.greater(a, 0.0))
            ctext = f"sb.logical_and({ctext}, sb.greater({self.p.ref(a)}, 0.0))"
        if self.c.chance(0.15):
            return sb.astype(cond, self.p.dtype) * x, f"sb.astype({ctext}, {self.p.dtype!r}) * {self.p.ref(x)}"
        return sb.where(cond, x, y), f"sb.where({ctext}, {self.p.ref(x)}, {self.p.ref(y)})"

    def op_reduce(self):
        x = self.pick(lambda n: n.ndim >= 1)
        axis, keep = self.axis_arg(x), self.c.chance(0.4)
        fn = self.c.choice(["sum", "mean"])
        return getattr(sb, fn)(x, axis, keep), f"sb.{fn}({self.p.ref(x)}, {axis!r}, {keep})"

    def op_softmax(self):
        x = self.pick(lambda n: n.ndim >= 1)
        axis = self.axis_arg(x, single=True)
        if self.c.chance(0.5):
            return sb.softmax(x, axis), f"sb.softmax({self.p.ref(x)}, axis={axis})"
        if self.c.chance(0.2):
            return sb.log_softmax(x, axis), f"sb.log_softmax({self.p.ref(x)}, axis={axis})"
        keep = self.c.chance(0.4)
        return sb.logsumexp(x, axis, keep), f"sb.logsumexp({self.p.ref(x)}, axis={axis}, keepdims={keep})"

    def op_transpose(self):
        x = self.pick(lambda n: n.ndim >= 2)
        if self.c.chance(0.4):
            return x.T, f"{self.p.ref(x)}.T"
        axes = list(range(x.ndim))
        for i in range(len(axes) - 1, 0, -1):
            j = self.c.integer(0, i)
            axes[i], axes[j] = axes[j], axes[i]
        return sb.transpose(x, tuple(axes)), f"sb.transpose({self.p.ref(x)}, {tuple(axes)!r})"

    def op_reshape(self):
        x = self.pick(lambda n: n.ndim >= 1 and sum(d is None for d in n.shape) <= 1)
        dims = [d for d in x.shape]
        static = int(np.prod([d for d in dims if d is not None]))
        if None in dims:
            # the -1 stays the call-time size itself, so it meets other None dims
            target = [-1] + ([static] if static > 1 else [])
            if self.c.chance(0.5):
                target = target[::-1]
        else:
            factors = [f for f in range(1, static + 1) if static % f == 0]
            f = self.c.choice(factors)
            target = [f, static // f] if self.c.chance(0.6) else [static]
            if self.c.chance(0.3):
                target.insert(self.c.integer(0, len(target)), 1)
            if self.c.chance(0.3):
                target[self.c.integer(0, len(target) - 1)] = -1
        return sb.reshape(x, tuple(target)), f"sb.reshape({self.p.ref(x)}, {tuple(target)!r})"

    def op_broadcast(self):
        x = self.pick(lambda n: n.ndim <= 2)
        lead = tuple(self.c.choice([2, 3]) for _ in range(self.c.integer(0 if x.ndim else 1, 1)))
        target = lead + tuple(self.c.choice([2, 3]) if d == 1 else d for d in x.shape)
        if None in target:
            return sb.expand_dims(x, 0), f"sb.expand_dims({self.p.ref(x)}, 0)"
        return sb.broadcast_to(x, target), f"sb.broadcast_to({self.p.ref(x)}, {target!r})"

    def op_index(self):
        x = self.pick(lambda n: n.ndim >= 1)
        key = []
        for d in x.shape:
            kind = self.c.weighted({"all": 3, "int": 2, "slice": 2, "new": 1}) if d is not None else \
                self.c.weighted({"all": 3, "new": 1})
            if kind == "new":
                key.append(None)
                kind = "all"
            if kind == "all":
                key.append(slice(None))
            elif kind == "int":
                key.append(self.c.integer(-d, d - 1))
            else:
                start, stop = self.c.integer(-d, d - 1), self.c.choice([None, self.c.integer(-d, d)])
                step = self.c.choice([1, 1, 2, -1, -2])
                key.append(slice(start, stop, step))
        if len(key) > 1 and self.c.chance(0.2):
            key = [Ellipsis] + key[len(key) // 2 + 1:] if key[len(key) // 2:].count(None) == 0 else key
        key = tuple(key)
        try:
            out = x[key]
        except (IndexError, ShapeError):
            raise Reject from None
        if 0 in out.shape:
            raise Reject
        return out, f"{self.p.ref(x)}[{_key_text(key)}]"

    def op_stack(self):
        x = self.pick(lambda n: n.ndim <= 2)
        others = [n for n in self.pool if n.shape == x.shape and n is not x]
        y = self.c.choice(others) if others and self.c.chance(0.7) else \
            self.record(sb.sin(x), f"sb.sin({self.p.ref(x)})")
        axis = self.c.integer(-x.ndim - 1, x.ndim)
        return sb.stack([x, y], axis), f"sb.stack([{self.p.ref(x)}, {self.p.ref(y)}], {axis})"

    def op_matmul(self):
        a = self.pick(lambda n: 1 <= n.ndim <= 2)
        k = a.shape[-1]
        form = self.c.choice(["mat", "vec"])
        cands = [n for n in self.pool if (form == "vec" and n.shape == (k,)) or
                 (form == "mat" and n.ndim == 2 and n.shape[0] == k)]
        b = self.c.choice(cands) if cands and self.c.chance(0.5) else \
            self.new_var((k,) if form == "vec" else (k, self.c.choice([1, 2, 3, None])))
        if self.c.chance(0.3) and b.ndim == 2 and a.ndim == 2:
            # a @ b as b.T @ a.T-style shapes: exercise transposed operands
            return (b.T @ a.T).T, f"({self.p.ref(b)}.T @ {self.p.ref(a)}.T).T"
        return a @ b, f"{self.p.ref(a)} @ {self.p.ref(b)}"

    def op_xent(self):
        logits = self.pick(lambda n: n.ndim == 2)
        n, classes = logits.shape
        if classes is None:
            raise Reject
        if self.c.chance(0.5):
            labels = self.new_var((n,), "int64", kind=classes)
        else:
            if n is None:
                raise Reject
            labels = sb.const(np.array([self.c.integer(0, classes - 1) for _ in range(n)], dtype=np.int64))
        if self.c.chance(0.25):
            hot = sb.one_hot(labels, classes, self.p.dtype)
            return sb.sum(hot * logits, axis=1), f"sb.sum(sb.one_hot({self.p.ref(labels)}, {classes}, {self.p.dtype!r}) * {self.p.ref(logits)}, axis=1)"
        return sb.softmax_cross_entropy(logits, labels), \
            f"sb.softmax_cross_entropy({self.p.ref(logits)}, {self.p.ref(labels)})"

    def op_cast(self):
        x = self.pick()
        if x.dtype == "float64" and self.c.chance(0.7):
            return sb.astype(sb.astype(x > 0.0, "int64"), "float64") * x, \
                f"sb.astype(sb.astype({self.p.ref(x)} > 0.0, 'int64'), 'float64') * {self.p.ref(x)}"
        other = "float32" if x.dtype == "float64" else "float64"
        self.p.lossy |= other == "float32"
        return sb.astype(sb.astype(x, other), x.dtype), \
            f"sb.astype(sb.astype({self.p.ref(x)}, {other!r}), {x.dtype!r})"

    def op_grad(self):
        """A gradient inside the program: the loss then differentiates it again."""
        x = self.pick()
        w = self.c.choice(self.p.variables)
        inner = sb.sum(sb.sin(x) * x)
        (g,) = sb.grad(inner, [w])
        return g, f"sb.grad(sb.sum(sb.sin({self.p.ref(x)}) * {self.p.ref(x)}), [{self.p.ref(w)}])[0]"

    STEPS = {"unary": 6, "binary": 6, "where": 2, "reduce": 3, "softmax": 2, "transpose": 1, "reshape": 1,
             "broadcast": 1, "index": 2, "stack": 1, "matmul": 2, "xent": 1, "cast": 1, "grad": 1,
             "scan": 1, "fori": 1, "repeat": 1}
    SCALAR_STEPS = {"unary": 6, "binary": 6, "where": 2, "cast": 1, "grad": 1, "scan": 1, "fori": 1, "repeat": 1}
    LOOPS = ("scan", "fori", "repeat")

    def build(self):
        n_vars = self.c.integer(1, 3)
        for _ in range(n_vars):
            self.pool.append(self.new_var(self.shape()))
        n_steps = self.c.integer(2, 12)
        steps = self.SCALAR_STEPS if self.scalar_only else self.STEPS
        if self.no_loops:
            steps = {k: w for k, w in steps.items() if k not in self.LOOPS}
        made = 0
        for _ in range(4 * n_steps):
            if made == n_steps:
                break
            kind = self.c.weighted(steps)
            if kind in self.LOOPS:
                if self.loops < self.MAX_LOOPS:
                    made += self.loop_step(kind)
                continue
            try:
                node, text = getattr(self, f"op_{kind}")()
            except (Reject, ShapeError):
                # operands the generator paired loosely (x, y, cond of where
                # may not broadcast together): symback rightly refused them
                continue
            if node.dtype not in ("float64", "float32") or node.op in ("var", "const"):
                continue
            if not self.runs(node):
                continue
            if node.dtype != self.p.dtype:
                node = sb.astype(node, self.p.dtype)
                text = f"sb.astype({text}, {self.p.dtype!r})"
            self.record(node, text)
            self.pool.append(node)
            made += 1
        used = set()
        for node in self.pool:
            used |= {id(a) for a in sb.ir.topo_order([node]) if a is not node}
        self.p.outputs = [n for n in self.pool if id(n) not in used and n.op != "var"] or [self.pool[-1]]
        self.p.loss = _loss(self.p.outputs)
        self.p.lines.append(f"loss = {_loss_text(self.p, self.p.outputs)}")
        return self.p


def _weights(out):
    w = np.linspace(0.5, 1.5, int(np.prod(out.shape))).reshape(out.shape)
    return sb.const(w.astype(out.dtype))


def _loss(outputs):
    """A scalar of ``outputs`` whose gradient reaches every element with a different weight."""
    total = None
    for out in outputs:
        if out.shape and all(d is not None for d in out.shape):
            term = sb.sum(out * _weights(out))
        else:
            term = sb.sum(out + 0.5 * out * out)
        total = term if total is None else total + term
    return total


def _loss_text(p, outputs):
    terms = []
    for out in outputs:
        r = p.ref(out)
        if out.shape and all(d is not None for d in out.shape):
            terms.append(f"sb.sum({r} * np.linspace(0.5, 1.5, {int(np.prod(out.shape))}).reshape({out.shape!r}))")
        else:
            terms.append(f"sb.sum({r} + 0.5 * {r} * {r})")
    return " + ".join(terms)


def _key_text(key):
    def one(k):
        if k is None:
            return "None"
        if k is Ellipsis:
            return "..."
        if isinstance(k, slice):
            parts = ["" if k.start is None else str(k.start), "" if k.stop is None else str(k.stop)]
            if k.step not in (None, 1):
                parts.append(str(k.step))
            return ":".join(parts)
        return str(k)
    return ", ".join(one(k) for k in key) + ("," if len(key) == 1 else "")


def build_program(chooser, prefix, scalar_only=False, loops=True):
    """A random program; ``loops=False``: none of the loop steps (``sb.scan``,
    ``sb.fori_loop``, repeated blocks), which cost Numba several times more."""
    return Builder(chooser, prefix, scalar_only, loops).build()


def program_of(prefix, values, output, source=""):
    """A hand-written :class:`Program` (a regression case): ``values`` maps its
    variables to their values, ``output`` is its result; the loss is made as
    for random programs."""
    dtype = output.dtype if output.dtype in ("float64", "float32") else "float64"
    p = Program(prefix, dtype, 0)
    for v, x in values.items():
        (p.others if v.dtype == "int64" else p.variables).append(v)
        p.values[v] = np.asarray(x, dtype=v.dtype)
        p.names[id(v)] = v.name
    p.lines = [source] if source else []
    p.ops = {n.op for n in sb.ir.topo_order([output])}
    p.outputs = [output]
    p.loss = _loss([sb.astype(output, dtype)])
    return p
