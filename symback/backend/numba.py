"""The Numba backend: a schedule becomes the source of a plain Python module.

The emitter is a visitor with one method per step kind (``_scalar``, ``_block``,
``_loop``): elementwise nodes become scalar trees bound to their arguments and
rendered by :class:`~symback.backend.printer.Printer`, block nodes are lowered
by the rules of :mod:`symback.backend.lowering`, and a fused loop becomes a
:class:`~symback.backend.nest.LoopNest`, rendered inline or, in big kernels,
outlined into a shared helper.

Each entry point becomes two functions: ``_name``, one flat
``@numba.njit(cache=True)`` body, and ``name``, a small Python wrapper that
checks every argument (count, rank, size, dtype) and the run-time size
equalities the schedule recorded, so that bad input raises a ``TypeError`` or
``ValueError`` naming the argument before any compiled code runs.

The module needs only numpy and numba (its LLVM helpers use llvmlite, which comes
with Numba): it runs where symback is not installed.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

from ..ir import given_name, labels
from ..names import GLOBALS, letters
from ..printing import infix
from ..ops.registry import OPS
from ..ops.scalar import Bin, Call, Cast, Expr, Lit, Unary, Where
from ..passes.dce import live_nodes
from ..passes.schedule import Loop, Scalar, schedule
from .lowering import lower
from .nest import Assign, Fallback, Init, LoopNest, Store
from .outline import OUTLINE_LOOPS, outline
from .printer import ATOM, Bound, Elem, Name, Printer, Shape, empty, literal, same_name
from . import heap, vecmath
from .pack import pack
from . import segment
from ..shapes import dim_expr, resolve, show
from ..version import __version__
from ..gc_pause import paused


@dataclass
class Entry:
    """One entry point: a name, its input vars, its outputs and their names.

    ``structure`` tells the wrapper how to nest the flat outputs: ``None`` for a
    flat tuple, or a list of groups, 0 for one bare item and n for a tuple of n.
    """

    name: str
    inputs: list
    outputs: list
    output_names: list
    structure: list | None = None   # e.g. [0, 3] -> (v, (g1, g2, g3))
    doc: str = ""


#: Every generated njit function: cached on disk, numpy's float semantics, GIL released,
#: and float sums in any order (``reassoc`` alone: LLVM then vectorises a loop's
#: ``total += v`` with several partial sums, as numpy's pairwise sum reorders
#: too; without ``nnan``/``ninf``/``nsz`` it cannot change NaN, inf or -0.0 rules).
#: No C wrapper (``no_cfunc_wrapper``): it only serves a function passed as a
#: first-class value, and costs compile time (its own copy of the signature).
NJIT_FLAGS = 'cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"}, no_cfunc_wrapper=True'
#: Functions that only compiled code calls (outlined loops, segments of a long
#: body) need no wrapper for calls from Python either: skipping it saves compile
#: time per function.
INNER_FLAGS = NJIT_FLAGS + ", no_cpython_wrapper=True"
#: block rules' loop indices, which the lecture letters leave to them
LOOP_INDICES = ("i", "j", "p", "q")
PARALLEL_MIN_AUTO = 1 << 18    # elements; below this, starting threads costs more than it saves
PARALLEL_MIN_FORCED = 1 << 12
#: ops whose result may be a view of another array (not C-contiguous): a matmul
#: operand or a loop's carry of one of these is made contiguous first
VIEW_OPS = ("transpose", "index", "broadcast", "reshape")


class FunctionEmitter:
    """Emits one entry point; the ``em`` that block rules receive."""

    def __init__(self, entry, sched, module):
        self.entry, self.s, self.module = entry, sched, module
        self.printer = module.printer
        # auto mode: loops sized only at call time are ``prange`` loops, and the
        # body is compiled twice, ``_name`` (serial: prange is range there) and
        # ``_name_parallel``, which the wrapper calls when the run-time sizes
        # are large (see ``dynamic_sizes``); a body with a big static loop is
        # compiled once, parallel
        self.dynamic_sizes = []
        self.static_parallel = False
        # node -> its local's name (keyed by the node, not its id: a node hashes
        # by identity, faster than a new int from id() on every lookup)
        self.names = {}
        # inputs go by their local names: ``max`` is ``max_`` here (symback.names)
        self.taken = (set(GLOBALS) | {v.name for v in entry.inputs} | set(sched.local_names.values())
                      | {s.name for s in sched.context.syms})
        self.counter = 0
        # block rules' loop indices (``idx``) keep their letters
        self.letters = letters(self.taken, skip=LOOP_INDICES)
        self.last_letter = None   # the last one picked (another emitter may go on from it)
        self.outlined = len([step for step in sched.steps if isinstance(step, Loop)]) > OUTLINE_LOOPS
        self.loop_prefix = "i"
        while any(f"{self.loop_prefix}{k}" in self.taken for k in range(10)):
            self.loop_prefix += "i"
        self.indices = {}
        self.about = {}   # node -> (given name, adjoint of): see _labels
        for v in entry.inputs:
            self.names[v] = sched.local_names[v.name]
        for c in sched.consts:
            self.names[c] = module.const_name(c)
        self.const_args = [self.names[c] for c in sched.consts]
        self.output_labels = {}
        for node, name in zip(entry.outputs, entry.output_names):
            if node not in self.names and name and name not in self.taken:
                self.names[node] = name
                self.taken.add(name)
                self.output_labels[id(node)] = name
        # what naming starts from, and (after emit) where the leading scalar run
        # ended: see _resume
        self.initial = (dict(self.names), set(self.taken), dict(self.output_labels))
        self.run = None

    # --- the interface block rules use -----------------------------------------
    def fresh(self, prefix="t"):
        """A new local name; ``t`` numbers read ``t0, t1, ...``, others ``m_2``."""
        prefix = re.sub(r"\W", "_", prefix)
        sep = "" if prefix == "t" else "_"
        while True:
            name = f"{prefix}{sep}{self.counter}"
            self.counter += 1
            if name not in self.taken:
                self.taken.add(name)
                return name

    def idx(self, base):
        """The loop index called ``base`` (``i``, ``j``, ``p``, ``q``) in block
        rules, renamed if an input of the kernel already has that name."""
        if base not in self.indices:
            name = base
            while name in self.taken:
                name += "_"
            self.taken.add(name)
            self.indices[base] = name
        return self.indices[base]

    def dims(self, node):
        return [dim_expr(d) for d in self.s.dims[id(node)]]

    def shape_src(self, node):
        d = self.dims(node)
        return "(" + ", ".join(d) + ("," if len(d) == 1 else "") + ")"

    def matmul(self, node, out, into=None):
        """``out = a @ b`` as one call of the module's ``_matmul`` (a BLAS gemm)
        into a new array, or into ``into`` (source of a C-contiguous array).

        A transposed operand is passed untransposed with a flag, so BLAS reads
        it transposed in place: no copy, and ``_matmul`` (an intrinsic: LLVM
        instructions at the call) compiles nothing of its own where numba's
        ``np.dot`` compiles once per pair of memory layouts (about half a second
        each on first call).  Vector operands become
        1-row or 1-column matrices; vector . vector stays ``np.dot``."""
        a, b = node.args
        if a.ndim == 1 and b.ndim == 1:
            return [f"{out} = np.dot({self.ref(a)}, {self.ref(b)})"]
        self.module.uses_matmul = True
        (a_src, ta), (b_src, tb) = self._gemm_operand(a, "(1, -1)"), self._gemm_operand(b, "(-1, 1)")
        dims = self.dims(node)
        if into is None:   # a new array (into: where the result goes, e.g. a row of a loop's stacked output)
            shape = ["1"] + dims if a.ndim == 1 else dims + ["1"] if b.ndim == 1 else dims
            into = empty(f"({', '.join(shape)})", node.dtype)
        call = f"_matmul({a_src}, {ta}, {b_src}, {tb}, {into})"   # reads like BLAS: gemm('N', 'T', ...)
        if a.ndim == 1:
            call += "[0]"
        elif b.ndim == 1:
            call = f"_reshape({call}, (-1,))"
        return [f"{out} = {call}"]

    def _gemm_operand(self, node, as_matrix):
        """(source, transposed flag) of one matmul operand, read in place."""
        if node.ndim == 1:
            return f"_reshape({self.ref(node)}, {as_matrix})", "_N"
        if self.folds(node):
            src, flag = node.args[0], "_T"
        else:
            src, flag = node, "_N"
        text = self.ref(src)
        if src.op in VIEW_OPS:
            text = f"_contiguous({text})"
        return text, flag

    def folds(self, node):
        """Whether ``node`` is a matrix transpose that the matmuls reading it
        take as a flag rather than as a value."""
        return node.op == "transpose" and node.ndim == 2

    def _unused_transpose(self, node):
        """A transpose read only by matmuls (which fold it) and not returned
        needs no line of its own."""
        if not self.folds(node) or any(node is o for o in self.s.outputs):
            return False
        readers = self.s.readers.get(node, ())
        return bool(readers) and all(r.op == "matmul" for r in readers)

    def is_argument(self, node):
        """Whether ``node`` is an argument of the compiled function (a
        C-contiguous array if it is one: the wrapper makes it so)."""
        return any(node is v for v in self.entry.inputs)

    def lit(self, value, dtype):
        return literal(value, dtype)

    def name(self, node):
        """The local that holds ``node``: the name the model gave it
        (``sb.name``), ``g_<name>`` for the adjoint of a named value or
        variable, else the next lecture letter (``a, b, ...``)."""
        name = self.names.get(node)
        if name is None:
            name = self.names[node] = self._pick_name(node)
        return name

    def _labels(self, node):
        """(the name ``sb.name`` gave ``node``, the node whose adjoint it is):
        looked up once per node, for its name and then for its comment."""
        about = self.about.get(node)
        if about is None:
            about = self.about[node] = labels(node)
        return about

    def _pick_name(self, node):
        label, of = self._labels(node)
        if label is None and of is not None:   # adjoints of values already named
            if of.op == "var":
                label = f"g_{of.name}"
            elif of in self.names:
                label = f"g_{self.names[of]}"
        if label is None:
            label = self.last_letter = next(self.letters)
        name, k = label, 2
        while name in self.taken:
            name, k = f"{label}_{k}", k + 1
        self.taken.add(name)
        return name

    def ref(self, node):
        """The source that denotes a whole (materialised) value."""
        if node.op == "const" and not node.shape:
            return literal(node.value, node.dtype)
        return self.name(node)

    # --- the visitor -----------------------------------------------------------
    def emit(self, previous=None, share=False):
        """The function's lines; ``previous``: the emitter of an earlier entry
        point of the module, whose leading statements this one may share;
        ``share``: keep this one's for a later entry point (see _resume)."""
        e = self.entry
        body, group = [], []
        steps = self.s.steps
        start = self._resume(previous, body, group) if previous is not None else 0
        if share:
            run = _scalar_run(steps)   # (>= start: the steps taken over are plain 0-d ones)
            self._statements(steps[start:run], body, group)
            self.run = (run, list(body), list(group), dict(self.names), set(self.taken), self.last_letter)
            self._statements(steps[run:], body, group)
        else:
            self._statements(steps[start:], body, group)
        body.extend(group)
        returned, results = set(), []
        for node in e.outputs:
            src = self.ref(node)
            if node.shape and (node.op in ("var", "const", "transpose", "index", "reshape", "broadcast")
                               or id(node) in returned
                               or node.op == "scan_get" and node.attr("key")[0] == "carry"):   # may alias
                src = f"{src}.copy()"
            returned.add(id(node))
            results.append(src)
        if _returns_final(e):   # the caller's tuple, built here: the wrapper only forwards it
            body.append(f"return {_nest(results, e.structure)}")
        else:
            body.append(f"return ({', '.join(results)}{',' if len(results) == 1 else ''})")
        body = _used_sizes(self.s.context.syms, body) + body
        # array constants are arguments, not globals: Numba would freeze a
        # global array into the machine code (and cannot cache one over 1 MB)
        params = ", ".join([self.names[v] for v in e.inputs] + self.const_args)
        name = f"_{e.name}"
        parts = []
        if not (self.dynamic_sizes and not self.static_parallel):   # long bodies: a chain of parts
            cut = segment.split(name, [self.names[v] for v in e.inputs] + self.const_args, body,
                                lambda parallel: njit_decorator(parallel, inner=True), self.module.last_cut)
            if cut is not None:
                body, parts = cut
                parts += ["", ""]
        parallel = any("numba.prange" in line for line in body)
        body = [("    " + line) if line else "" for line in body]
        if self.dynamic_sizes and not self.static_parallel:
            # one body, two compilations: prange is range without parallel=True
            return [f"def {name}({params}):"] + body + [
                "", "",
                f"{name}_parallel = _parallel_twin({name})",
                f"{name} = {njit_decorator(False)[1:]}({name})"]
        return parts + [njit_decorator(parallel), f"def {name}({params}):"] + body

    def _statements(self, steps, body, group):
        """The lines of ``steps`` added to ``body``, a statement at a time;
        ``group``: the lines since the last comment, updated in place."""
        line, comment, add = self._scalar_line, self._comment, group.append   # (once per statement)
        for step in steps:
            if type(step) is Scalar:   # (a big program's steps nearly all: the short way)
                node = step.node
                add(line(node))
                said = comment(node)
                said = [said] if said else None
            else:
                group.extend(self._step(step))
                said = [c for c in map(comment, _computed(step)) if c]
            if said:   # a group ends with a value the model names: say what it is
                body += ([""] if body else []) + said + group
                group.clear()

    def _resume(self, previous, body, group):
        """Take over the statements of ``previous``'s leading scalar run, when
        they are this function's too: the number of steps taken (0 if none).

        The two entry points of a gradient module (``forward`` and
        ``value_and_grad``) both start with the forward graph, in the same
        order (a graph walk from the same first output); in a big scalar
        program that is a third of the module, named and printed twice.  A
        plain 0-d statement's text depends only on its node, the names given
        so far and the letters picked so far, so the run's lines, names and
        letters are this function's too when its steps start with the same
        nodes and nothing this function names from the start (its other
        outputs, their labels) would have changed a name in the run."""
        if previous.run is None:
            return 0
        k, lines, pending, names, taken, last = previous.run
        mine = self.s.steps
        if k == 0 or k > len(mine) or any(type(b) is not Scalar or a.node is not b.node
                                          for a, b in zip(previous.s.steps[:k], mine[:k])):
            return 0
        names0, taken0, labels0 = previous.initial
        own_names, own_taken, _ = self.initial
        if any(own_names.get(n, None) != name for n, name in names0.items()) or not taken0 <= own_taken:
            return 0
        extra = [n for n in own_names if n not in names0]   # named here from the start only
        extra_taken = own_taken - taken0
        if any(n in names for n in extra) or not extra_taken.isdisjoint(taken - taken0):
            return 0
        extra = set(extra)
        if any(of in extra for _, of in previous.about.values()):   # an adjoint's name (g_...) would differ
            return 0
        extra_ids = {id(n) for n in extra}
        if any(self.output_labels.get(i) != label for i, label in labels0.items()) or \
                any(i not in labels0 and i not in extra_ids for i in self.output_labels):
            return 0
        self.names.update(names)
        self.taken |= taken
        self.about.update(previous.about)
        self.last_letter = last
        self.letters = letters(self.taken, skip=LOOP_INDICES, after=last)
        body += lines
        group += pending
        return k

    def _comment(self, node):
        """``# h1 = sigmoid(X @ W1.T + b1)`` for a value the model names,
        ``# adjoint of h1`` for its adjoint; nothing for other values."""
        label, of = self._labels(node)
        if label is None and id(node) in self.output_labels:
            label = self.output_labels[id(node)]
        if of is not None and (of.op == "var" or self._labels(of)[0]):
            return f"# adjoint of {of.name or self._labels(of)[0]}"
        if label is None:
            return None
        return f"# {label} = {summary(node)}"

    def _step(self, step):
        """The lines of one schedule step; a loop nest of a big kernel becomes
        the call of a shared helper (see outline.py)."""
        if isinstance(step, Loop):
            nest = self._loop(step)
            if self.outlined:
                return outline(nest, self.module.helpers, self.printer)
            return nest.render(printer=self.printer)
        return getattr(self, "_" + type(step).__name__.lower())(step)

    def _scalar(self, step):
        return [self._scalar_line(step.node)]

    def _scalar_line(self, node):
        names = self.names   # (name() inlined: a statement's target is new, its arguments named)
        target = names.get(node)
        if target is None:
            target = names[node] = self._pick_name(node)
        op = OPS[node.op]
        printer = self.printer
        if op.shape_args or not isinstance(op.scalar, Expr) or printer.env is not same_name:
            return f"{target} = {printer.doprint(self._expr(node, None, ()))}"
        # the short way (a big kernel's statements nearly all): its arguments,
        # 0-d as the node is, are names or literals, printed straight into
        # the rule's template; the same text as through _expr and a Bound
        texts, precs = [], []
        for a in node.args:
            if a.op == "const":   # (a few constants, read all over a big kernel: printed once)
                text, prec = self.module.literals.get(a) or self.module.literal(a)
            else:
                text, prec = names.get(a) or self.name(a), ATOM
            texts.append(text)
            precs.append(prec)
        ftype = "float32" if node.dtype == "float32" or (
            node.dtype == "bool" and any(a.dtype == "float32" for a in node.args)) else "float64"
        return f"{target} = {printer.statement(op.scalar, node.dtype, ftype, texts, tuple(precs))}"

    def _block(self, step):
        node = step.node
        if self._unused_transpose(node):
            return []
        args = [self.ref(a) for a in node.args]
        return lower(self, node, self.name(node), args)

    def _loop(self, step):
        """The :class:`LoopNest` of a fused ``Loop`` step."""
        space = [dim_expr(d) for d in step.shape]
        # an axis of static size 1 is index 0, not a loop
        idx = ["0" if resolve(d) == 1 else f"{self.loop_prefix}{k}" for k, d in enumerate(step.shape)]
        inits = []
        for r in step.reductions:
            if r.shape:
                inits.append(Init(self.name(r), "zeros", tuple(self.dims(r)), r.dtype))
            else:
                inits.append(Init(self.name(r), "value", value=Lit(0, r.dtype)))
        for m in step.members:
            if id(m) in self.s.buffered:
                inits.append(Init(self.name(m), "empty", tuple(self.dims(m)), m.dtype))
        here = {id(m) for m in step.members}
        body, local = [], {}
        for m in step.members:
            value = self._expr(m, local, idx)
            local_name = self.name(m)
            if id(m) in self.s.buffered:
                local_name = self.name(m) + "_i"
                if local_name in self.taken:
                    local_name = self.fresh(local_name)
                self.taken.add(local_name)
            body.append(Assign(local_name, value))
            if id(m) in self.s.buffered:
                body.append(Store(self.name(m), tuple(idx), Name(local_name)))
            local[id(m)] = local_name
        for r in step.reductions:
            arg = r.args[0]
            value = Name(local[id(arg)]) if id(arg) in here else self._read(arg, idx, step.shape)
            axes, keep = r.attr("axes"), r.attr("keepdims")
            out_idx = tuple("0" if k in axes else i for k, i in enumerate(idx) if keep or k not in axes)
            body.append(Store(self.name(r), out_idx if r.shape else (), value, "+="))
        outputs = [self.name(m) for m in step.members if id(m) in self.s.buffered]
        outputs += [self.name(r) for r in step.reductions]
        nest = LoopNest(idx, space, outputs, self._parallel(step), inits, body)
        checks = {}
        for st in body:
            for check in range_checks(st.value):
                checks.setdefault(Printer().doprint(check), check)
        if checks:
            flag = self.fresh("far")
            inits.append(Init(flag, "value", value=Lit(0, "int64")))
            body += [Store(flag, (), check, "+=") for check in checks.values()]
            nest.fallback = Fallback(flag, frozenset(vecmath.HELPERS))
        return nest

    def _parallel(self, step):
        """Run this loop nest's outer axis on all cores?  Only when every write
        of an iteration lands in its own slice (reductions into arrays must keep
        axis 0) and the loop is big enough to repay starting the threads."""
        if self.module.parallel is False or not step.shape or all(resolve(d) == 1 for d in step.shape):
            return False
        for r in step.reductions:
            if r.shape and 0 in r.attr("axes"):
                return False
        size = 1
        for d in step.shape:
            d = resolve(d)
            if not isinstance(d, int):
                if self.module.parallel is True:
                    return True
                if self.outlined:   # a shared helper cannot be serial in one
                    return False    # compilation and parallel in the other
                self.dynamic_sizes.append(" * ".join(dim_expr(x) for x in step.shape))
                return True
            size *= d
        if size >= (PARALLEL_MIN_FORCED if self.module.parallel is True else PARALLEL_MIN_AUTO):
            self.static_parallel = True
            return True
        return False

    def _read(self, node, idx, space):
        """``node``'s element at loop index ``idx`` of ``space`` (numpy
        broadcasting), as a printer leaf."""
        if not node.shape:
            if node.op == "const":
                return Lit(node.value, node.dtype)
            return Name(self.name(node))
        lead = len(space) - len(node.shape)
        parts = []
        for k, d in enumerate(self.s.dims[id(node)]):
            o = resolve(space[lead + k])
            parts.append("0" if resolve(d) == 1 and o != 1 else idx[lead + k])
        return Elem(self.ref(node), tuple(parts))

    def _expr(self, node, local, idx):
        """``node``'s scalar rule bound to its arguments' elements."""
        op = OPS[node.op]
        space = self.s.dims[id(node)]
        slots = []
        for i, a in enumerate(node.args):
            if i in op.shape_args:
                slots.append(Shape(tuple(self.dims(a))))
            elif local is not None and id(a) in local:
                slots.append(Name(local[id(a)]))
            else:
                slots.append(self._read(a, idx, space))
        tree = op.scalar if isinstance(op.scalar, Expr) else op.scalar(node)
        # untyped literals take the op's float type (a comparison's: its operands')
        ftype = "float32" if node.dtype == "float32" or (
            node.dtype == "bool" and any(a.dtype == "float32" for a in node.args)) else "float64"
        return Bound(tree, tuple(slots), node.dtype, ftype, vector=self.module.vector if _vectorises(space) else frozenset())


def range_checks(expr):
    """``0 if abs(a) < LIMIT else 1`` (as trees) for each argument ``a`` of
    a vectorised helper that is exact only below ``vecmath.LIMIT`` (sin, cos)
    in ``expr``: what a loop nest adds up to know it must run again with libm."""
    found = []

    def walk(e, bound):
        if isinstance(e, Bound):
            for slot in e.slots:
                walk(slot, None)
            walk(e.tree, e)
        elif isinstance(e, Call) and bound is not None and bound.dtype == "float64" \
                and e.fn in bound.vector and e.fn in vecmath.RANGE_LIMITED:
            # an integer count: its sum vectorises without reassociation; NaN counts
            far = Where(Bin("<", Call("abs", (e.args[0],)), Lit(vecmath.LIMIT, "float64")),
                        Lit(0, "int64"), Lit(1, "int64"))
            found.append(Bound(far, bound.slots, "int64", "float64"))
        if isinstance(e, (Call, Bin, Unary, Where, Cast)):
            for child in (e.args if isinstance(e, Call) else
                          [getattr(e, f) for f in ("cond", "a", "b") if hasattr(e, f)]):
                walk(child, bound)

    walk(expr, None)
    return found


#: innermost loops shorter than this keep libm: LLVM's vector body (up to 8 lanes
#: times 4) would never run, and a scalar _exp is slower than libm's exp
#: (measured: W2's 16-wide sigmoid layer 1.4x slower with the helpers)
VECTOR_MIN_INNER = 32


def _vectorises(space):
    """Whether a fused loop over ``space`` is worth vecmath's helpers: its
    innermost loop is sized at call time or at least VECTOR_MIN_INNER long."""
    if not space:
        return False
    inner = [resolve(d) for d in space if resolve(d) != 1]
    if not inner:
        return False
    return not isinstance(inner[-1], int) or inner[-1] >= VECTOR_MIN_INNER


class ModuleEmitter:
    """Emits a whole module: header, constants, helpers, entry points."""

    def __init__(self, entries, model_name, parallel=None, vector=frozenset(vecmath.HELPERS)):
        self.entries, self.model_name, self.parallel = entries, model_name, parallel
        self.vector = vector   # functions fused loops compute with vecmath's helpers
        self.consts = {}
        self.helpers = {}  # canonical body text -> Helper (see outline.py)
        self.uses_matmul = False
        self.printer = Printer()   # one per module: it collects the imports the code needs
        self.last_cut = segment.Analysis()   # the last long body cut into parts
        self.literals = {}   # 0-d constant node -> (text, precedence)

    def literal(self, node):
        """(text, precedence) of the 0-d constant ``node``, kept for its next use."""
        self.literals[node] = self.printer.literal(node.value, node.dtype)
        return self.literals[node]

    def const_name(self, node):
        if id(node) not in self.consts:
            self.consts[id(node)] = (f"_C{len(self.consts)}", node)
        return self.consts[id(node)][0]

    def emit(self, doc=""):
        functions, previous, walk = [], None, (None, ())
        for i, e in enumerate(self.entries):
            # value_and_grad's outputs start with forward's: its walk goes on from there
            done, walked = walk
            if done is not None and len(done) <= len(e.outputs) and all(a is b for a, b in zip(done, e.outputs)):
                order = live_nodes(e.outputs[len(done):], walked=walked)
            else:
                order = live_nodes(e.outputs)
            walk = (e.outputs, order)
            inner, packing = pack(e, order)
            # every input is scheduled (it names the locals), the compiled function takes inner.inputs
            sched = schedule(inner.outputs, list(e.inputs) + [v for v, _, _ in packing.stacks] if packing
                             else inner.inputs, order=None if packing else order,
                             earlier=previous.s if previous is not None else None)
            fe = FunctionEmitter(inner, sched, self)
            functions.append(fe.emit(previous, share=i + 1 < len(self.entries)))
            previous = fe
            functions.append(_wrapper(e, sched, fe.dynamic_sizes if not fe.static_parallel else (),
                                      fe.const_args, packing, _read_by_rows(functions[-1], packing)))
        lines = []
        for name, node in self.consts.values():
            lines.append(f"{name} = np.array({np.asarray(node.value).tolist()!r}, dtype=np.{node.dtype})")
        if self.consts:
            lines.append("")
        # (searched in each function's text at once: a big kernel has 100,000s of lines)
        texts = ["\n".join(f) for f in functions]
        used = {name for name in _CHECKS if any(f"{name}(" in text for text in texts)}
        if "_stack" in used:
            used.add("_array")
        for name in _CHECKS:
            if name in used:
                lines += ["", ""] + _CHECKS[name].strip("\n").splitlines()
        if any("_empty(" in text for text in texts) or any("_empty(" in line for h in self.helpers.values()
                                                             for line in h.body):
            lines += ["", ""] + _EMPTY.strip("\n").splitlines()
        for name, text in (("_reshape", _RESHAPE), ("_contiguous", _CONTIGUOUS)):
            if any(f"{name}(" in t for t in texts) or any(f"{name}(" in line for h in self.helpers.values()
                                                           for line in h.body):
                lines += ["", ""] + text.strip("\n").splitlines()
        if self.uses_matmul:
            lines += ["", ""] + _MATMUL.strip("\n").splitlines()
        if any("_parallel_twin(" in text for text in texts):
            lines += ["", ""] + _PARALLEL_TWIN.strip("\n").splitlines()
        for helper in self.helpers.values():
            lines += ["", ""] + helper.source(INNER_FLAGS)
        vector_helpers = vecmath.source(self.printer.helpers)
        if vector_helpers:
            lines += ["", ""] + vector_helpers
        for f in functions:
            lines += ["", ""] + f
        if any(v.shape for e in self.entries for v in list(e.inputs) + list(e.outputs)):
            lines += heap.SOURCE.rstrip().splitlines() + ["", "", heap.CALL]
        code = "\n".join(lines).rstrip() + "\n"
        missing = self.printer.imports - _IMPORTED
        if missing:   # a printer method that names a new module must import it here
            raise AssertionError(f"generated code uses {sorted(missing)}, which the module does not import")
        digest = hashlib.sha256(code.encode()).hexdigest()[:16]
        module_name = f"symback_generated_{self.model_name}_{digest}"
        body = _PROLOGUE.format(module_name=module_name) + code + _EPILOGUE
        return "\n".join(_header(self.entries, self.model_name, doc, digest)) + "\n" + body


def _scalar_run(steps):
    """How many of ``steps`` lead with plain 0-d statements (no op reading
    an argument's run-time shape): the part :meth:`FunctionEmitter._resume`
    may share."""
    for k, step in enumerate(steps):
        if type(step) is not Scalar or OPS[step.node.op].shape_args:
            return k
    return len(steps)


def _computed(step):
    if isinstance(step, Loop):
        return step.members + step.reductions
    return [step.node]


def summary(node, width=96, depth=5):
    """``node`` as a formula in the model's names (variables and named values),
    ``...`` below ``depth`` levels, cut to ``width`` characters."""
    names, frontier = {}, [(a, 1) for a in node.args]
    seen = set()
    while frontier:
        n, d = frontier.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if given_name(n) is not None:
            names[id(n)] = given_name(n)
        elif d >= depth and n.op not in ("var", "const"):
            names[id(n)] = "..."
        else:
            frontier.extend((a, d + 1) for a in n.args)
    text = infix(node, names)
    return text if len(text) <= width else text[:width - 3] + "..."


def _used_sizes(syms, body):
    """The size bindings (``X_d0 = X.shape[0]``) that ``body`` reads, with the
    ones they read in turn, in binding order."""
    if not syms:
        return []
    text = "\n".join(body)
    used = set(re.findall(r"\w+", text))
    keep = []
    for sym in reversed(syms):
        if sym.name in used:
            keep.append(sym)
            used |= set(re.findall(r"\w+", sym.expr))
    return [f"{sym.name} = {sym.expr}" for sym in reversed(keep)]


def _signature(e):
    def spec(v):
        return f"{v.name}: {v.dtype}{show(v.shape) if v.shape else ' scalar'}"
    outs = ", ".join(f"{n or 'out'}{show(o.shape) if o.shape else ''}" for n, o in zip(e.output_names, e.outputs))
    return f"{e.name}({', '.join(spec(v) for v in e.inputs)}) -> {outs}"


def _header(entries, model_name, doc, digest):
    lines = ['"""' + f"{model_name}: kernels generated by symback {__version__}" + (f" -- {doc}" if doc else "."),
             "",
             "Entry points:"]
    for e in entries:
        lines.append(f"  {_signature(e)}")
        if e.doc:
            lines.append(f"      {e.doc}")
    lines += ["",
              "Only numpy and numba are needed to use this module.  Sizes shown as ? are",
              "fixed at call time.  Do not edit: regenerate it with symback.",
              f"Content hash (sha256 of the generated functions): {digest}",
              '"""']
    return lines


#: the modules the prologue imports
_IMPORTED = frozenset({"math", "sys", "numba", "np"})

_PROLOGUE = '''import math
import sys

import numba
import numpy as np

# Numba's on-disk cache refers to a module by its name: this fixed name lets a
# second process reuse the machine code however it imports this file.
__name__ = "{module_name}"
'''

_EPILOGUE = '''

if sys.modules.get(__name__) is None:   # imported by file path: make the name importable
    sys.modules[__name__] = type(sys)(__name__)
    sys.modules[__name__].__dict__.update(globals())
'''

#: the argument checks of the wrappers, each emitted only where a wrapper calls it
_CHECKS = {
    "_scalar": '''
def _scalar(value, name, dtype):
    """A scalar argument checked and converted to ``dtype``."""
    if isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise ValueError(f"{name}: expected a scalar, got an array of shape {value.shape}")
        value = value[()]
    if dtype == "bool":
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
    elif isinstance(value, (bool, np.bool_)):
        pass
    elif dtype == "int64":
        if isinstance(value, (int, np.integer)):
            return int(value)
    elif isinstance(value, (int, float, np.integer, np.floating)):
        if isinstance(value, np.floating) and np.dtype(type(value)).itemsize > np.dtype(dtype).itemsize:
            raise TypeError(f"{name}: expected a {dtype} scalar, got {type(value).__name__}")
        return np.float32(value) if dtype == "float32" else float(value)
    raise TypeError(f"{name}: expected a {dtype} scalar, got {type(value).__name__} {value!r}")
''',
    "_array": '''
def _array(value, name, shape, dtype):
    """An array argument checked for rank, static sizes and dtype; made C-contiguous."""
    if type(value) is np.ndarray and value.shape == shape and value.dtype == dtype and value.flags.c_contiguous:
        return value   # the usual case, in one test (a deep model checks a hundred arguments a call)
    if not isinstance(value, np.ndarray):
        try:
            value = np.asarray(value, dtype=dtype)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{name}: cannot make a {dtype} array of {type(value).__name__}: {e}") from None
    if value.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {dtype}, got {value.dtype}")
    if value.ndim != len(shape):
        raise ValueError(f"{name}: expected a {len(shape)}-d array of shape {_show(shape)}, got shape {value.shape}")
    for axis, (want, got) in enumerate(zip(shape, value.shape)):
        if want is not None and want != got:
            raise ValueError(f"{name}: expected shape {_show(shape)}, got {value.shape} (axis {axis})")
    return np.ascontiguousarray(value)


def _show(shape):
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
''',
    "_stack": '''
def _stack(values, names, shape, dtype, rows=False):
    """Arrays of one shape and dtype stacked on a new first axis, each checked as by _array.
    ``rows``: for a loop that reads them a row at a time, the arrays themselves (no copy)
    if they are all C-contiguous, writeable and aligned (then compiled code indexes the tuple)."""
    kind = np.dtype(dtype)   # (comparing with a dtype, not a string: 4x faster)
    if not all(type(v) is np.ndarray and v.dtype == kind and v.shape == shape for v in values):
        values = [_array(v, n, shape, dtype) for v, n in zip(values, names)]   # (raises for the first bad one)
    elif rows and all(v.flags.c_contiguous and v.flags.writeable and v.flags.aligned for v in values):
        return values
    return np.concatenate(values).reshape((len(values),) + shape)   # (twice as fast as np.stack)
''',
}


_PARALLEL_TWIN = '''

def _parallel_twin(f):
    """``f`` compiled with ``parallel=True``, its ``prange`` loops on all cores.
    A copy of the function under its own name, so that the serial and the
    parallel machine code have separate entries in Numba's on-disk cache."""
    import types
    twin = types.FunctionType(f.__code__, f.__globals__, f.__name__ + "_parallel")
    twin.__qualname__ = twin.__name__
    return numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"}, parallel=True)(twin)
'''


_EMPTY = '''

@numba.extending.intrinsic
def _empty(typingctx, shape, kind):
    """``np.empty(shape, kind)``, C order, made in place by Numba's runtime: Numba compiles
    np.empty as a function of its own per rank (0.05-0.1 s each on first call)."""
    dims = tuple(shape) if isinstance(shape, numba.types.BaseTuple) else (shape,)
    def codegen(context, builder, sig, args):
        cg, intp = numba.core.cgutils, numba.types.intp
        sizes = cg.unpack_tuple(builder, args[0]) if dims != (shape,) else args[:1]
        sizes = [context.cast(builder, n, t, intp) for n, t in zip(sizes, dims)]
        steps = [context.get_constant(intp, context.get_abi_sizeof(context.get_data_type(kind.dtype)))]
        for n in sizes[::-1]:   # bytes per step along each axis, last first; steps[0]: the whole array's
            steps.insert(0, builder.mul(steps[0], n))
        meminfo = context.nrt.meminfo_alloc_aligned(builder, steps[0], context.get_preferred_array_alignment(kind.dtype))
        array = numba.np.arrayobj.make_array(sig.return_type)(context, builder)
        data = builder.bitcast(context.nrt.meminfo_data(builder, meminfo), array.data.type)
        numba.np.arrayobj.populate_array(array, data, cg.pack_array(builder, sizes, steps[0].type),
                                         cg.pack_array(builder, steps[1:], steps[0].type), steps[-1], meminfo)
        return array._getvalue()
    return numba.types.Array(kind.dtype, len(dims), "C")(shape, kind), codegen


_empty = np.empty if numba.config.DISABLE_JIT else _empty   # run as plain Python: numpy's
'''


_RESHAPE = '''

@numba.extending.intrinsic
def _reshape(typingctx, a, shape):
    """``a`` as a C-contiguous array of ``shape`` (one size may be -1).  Typed C-contiguous,
    ``a`` is viewed in place (its data, the new shape): no compilation of its own, where
    ``a.reshape`` compiles a helper on first call (~0.2 s) and np.ascontiguousarray one
    per type (~0.07 s).  Otherwise (maybe strided, or a scalar) it is copied first, as by those."""
    dims = tuple(shape) if isinstance(shape, numba.types.BaseTuple) else (shape,)
    if not all(isinstance(d, numba.types.Integer) for d in dims):
        return None   # (Numba then names the argument types it could not match)
    kind, aligned = (a.dtype, a.aligned) if isinstance(a, numba.types.Array) else (a, True)
    result = numba.types.Array(kind, len(dims), "C", aligned=aligned)

    def codegen(context, builder, sig, args):
        if not (isinstance(a, numba.types.Array) and a.layout == "C"):   # a copy, compiled as before
            return context.compile_internal(builder, lambda a, s: np.ascontiguousarray(a).reshape(s), sig, args)
        cg, intp = numba.core.cgutils, numba.types.intp
        x = numba.np.arrayobj.make_array(a)(context, builder, args[0])
        sizes = cg.unpack_tuple(builder, args[1]) if dims != (shape,) else args[1:]
        sizes = [context.cast(builder, n, t, intp) for n, t in zip(sizes, dims)]
        total, one = x.nitems, x.nitems.type(1)
        free = [builder.icmp_signed("==", n, n.type(-1)) for n in sizes]   # the size to infer
        known = one
        for n, f in zip(sizes, free):
            known = builder.mul(known, builder.select(f, one, n))
        rest = builder.sdiv(total, builder.select(builder.icmp_signed("==", known, known.type(0)), one, known))
        sizes = [builder.select(f, rest, n) for n, f in zip(sizes, free)]
        count, ok = one, cg.true_bit
        for n in sizes:
            count, ok = builder.mul(count, n), builder.and_(ok, builder.icmp_signed(">=", n, n.type(0)))
        with builder.if_then(builder.not_(builder.and_(ok, builder.icmp_signed("==", count, total))), likely=False):
            context.call_conv.return_dynamic_user_exc(builder, ValueError, (
                "reshape: cannot reshape an array of size", total, "into a shape of size", count), (intp, intp))
        steps = [x.itemsize]
        for n in sizes[:0:-1]:   # bytes per step along each axis, last first
            steps.insert(0, builder.mul(steps[0], n))
        view = numba.np.arrayobj.make_array(result)(context, builder)
        numba.np.arrayobj.populate_array(view, x.data, cg.pack_array(builder, sizes, one.type),
                                         cg.pack_array(builder, steps[:len(sizes)], one.type),
                                         x.itemsize, x.meminfo, x.parent)
        return numba.core.imputils.impl_ret_borrowed(context, builder, result, view._getvalue())
    return result(a, shape), codegen


if numba.config.DISABLE_JIT:   # run as plain Python (NUMBA_DISABLE_JIT=1): numpy's
    def _reshape(a, shape):
        return np.ascontiguousarray(a).reshape(shape)
'''


_CONTIGUOUS = '''

@numba.extending.intrinsic
def _contiguous(typingctx, a):
    """``np.ascontiguousarray(a)``: ``a`` itself when Numba types it C-contiguous, with no
    compilation of its own (np.ascontiguousarray compiles once per type, ~0.07 s)."""
    if not isinstance(a, numba.types.Array):
        return None
    if a.layout == "C" and a.ndim:   # (typed as np.ascontiguousarray types it)
        def codegen(context, builder, sig, args):
            return numba.core.imputils.impl_ret_borrowed(context, builder, sig.return_type, args[0])
        return a.copy(readonly=False)(a), codegen

    def copy(context, builder, sig, args):   # maybe strided: a copy if it is, compiled as before
        return context.compile_internal(builder, lambda a: np.ascontiguousarray(a), sig, args)
    copied = typingctx.resolve_function_type(typingctx.resolve_value_type(np.ascontiguousarray), (a,), {})
    return copied.return_type(a), copy


if numba.config.DISABLE_JIT:   # run as plain Python (NUMBA_DISABLE_JIT=1): numpy's
    def _contiguous(a):
        return np.ascontiguousarray(a)
'''


_MATMUL = '''

# BLAS's flags: 'N' reads an operand as stored, 'T' transposed
_N, _T = False, True


@numba.extending.intrinsic
def _matmul(typingctx, a, a_transposed, b, b_transposed, out):
    """``out[...] = a @ b`` (``a.T`` where ``a_transposed``, likewise ``b``) by one call
    of SciPy's BLAS gemm (Numba's ``numba_xxgemm``), transposes read in place; returns
    ``out``.  LLVM instructions, not an njit function: that would be a compilation of
    its own on first call (~0.1 s).  Row-major out = a @ b is column-major out.T = b.T @ a.T."""
    if not (all(isinstance(x, numba.types.Array) and x.ndim == 2 and x.dtype == out.dtype for x in (a, b, out))
            and out.dtype in (numba.types.float32, numba.types.float64)):
        return None   # (Numba then names the argument types it could not match)

    def codegen(context, builder, sig, args):
        from llvmlite import ir
        cg, byte = numba.core.cgutils, ir.IntType(8)
        arrays = [numba.np.arrayobj.make_array(t)(context, builder, v) for t, v in zip(sig.args[::2], args[::2])]
        (ar, ac), (br, bc), (m, n) = [cg.unpack_tuple(builder, x.shape, 2) for x in arrays]
        for t, x in zip(sig.args[::2], arrays):
            if t.layout != "C":   # typed as maybe strided: check at run time that it is not
                (rows, cols), (s0, s1), one = cg.unpack_tuple(builder, x.shape, 2), cg.unpack_tuple(builder, x.strides, 2), n.type(1)
                ok = builder.and_(builder.or_(builder.icmp_signed("<=", cols, one), builder.icmp_signed("==", s1, x.itemsize)),
                                  builder.or_(builder.icmp_signed("<=", rows, one), builder.icmp_signed("==", s0, builder.mul(cols, x.itemsize))))
                with builder.if_then(builder.not_(ok), likely=False):
                    context.call_conv.return_user_exc(builder, ValueError, ("matmul: the arrays must be C-contiguous",))
        ta, tb = (context.cast(builder, args[i], sig.args[i], numba.types.boolean) for i in (1, 3))
        flag = lambda transposed: builder.select(transposed, byte(ord("t")), byte(ord("n")))
        # leading dimensions of at least 1, even for empty operands (BLAS: nothing to do if m or n is 0, out = 0 if k is)
        ld = lambda d: builder.select(builder.icmp_signed("==", d, d.type(0)), d.type(1), d)
        pointer = lambda p: builder.bitcast(p, byte.as_pointer())
        element = sig.args[4].dtype
        alpha, beta = (pointer(cg.alloca_once_value(builder, context.get_constant(element, v))) for v in (1, 0))
        intp, ptr = n.type, byte.as_pointer()
        gemm = cg.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), [
            byte, byte, byte, intp, intp, intp, ptr, ptr, intp, ptr, intp, ptr, ptr, intp]), "numba_xxgemm")
        status = builder.call(gemm, [byte(ord("d" if element.bitwidth == 64 else "s")), flag(tb), flag(ta),
                                     n, m, builder.select(ta, ar, ac), alpha, pointer(arrays[1].data), ld(bc),
                                     pointer(arrays[0].data), ld(ac), beta, pointer(arrays[2].data), ld(n)])
        with builder.if_then(builder.icmp_signed("!=", status, status.type(0)), likely=False):
            context.call_conv.return_user_exc(builder, RuntimeError, ("matmul: the BLAS call failed (is SciPy installed?)",))
        return numba.core.imputils.impl_ret_borrowed(context, builder, sig.return_type, args[4])
    return out(a, a_transposed, b, b_transposed, out), codegen


if numba.config.DISABLE_JIT:   # run as plain Python (NUMBA_DISABLE_JIT=1): numpy's product
    def _matmul(a, a_transposed, b, b_transposed, out):
        out[...] = np.dot(a.T if a_transposed else a, b.T if b_transposed else b)
        return out
'''


#: At most this many arrays are passed as a tuple (see _read_by_rows): Numba indexes
#: a tuple by a switch over its items, compiled per read (measured, forward of 16x16
#: tanh layers: 50 layers 0.36 -> 0.91 s first call and 0.10 -> 0.08 ms a call;
#: 400 layers 0.38 -> 11.7 s and 0.58 -> 0.89 ms)
ROWS_MAX = 64


def _read_by_rows(function, packing):
    """The stacked arguments that ``function`` (its lines) only reads a row at a
    time (``x_1 = _stack0[k_0]``), when it returns no stacked result: the wrapper
    passes those as the tuple of the user's arrays, which compiled code indexes
    like the stack, rather than copying them into one (measured: W4r's forward
    1.07x the unrolled model's time with its four stacks, 800 KB a call)."""
    if packing is None or any(key is not None for _, key in packing.results) \
            or any("prange" in line or "_parallel_twin" in line for line in function):
        return frozenset()
    body = "\n".join(line.split("#")[0] for line in function[2:])   # (comments name the stacks too)
    return frozenset(v.name for v, args, axis in packing.stacks if axis == 0 and len(args) <= ROWS_MAX and
                     len(re.findall(rf"\b{v.name}\b", body)) == len(re.findall(rf"= {v.name}\[\w+\]$", body, re.M)))


def _wrapper(e, sched, dynamic_sizes=(), const_args=(), packing=None, rows=frozenset()):
    """The Python function that checks the arguments and calls the kernel.

    Its parameters are the variables' names, so that keyword calls work; when a
    variable has another name inside generated code (``max`` -> ``max_``, see
    :mod:`symback.names`), the public function only forwards its arguments to
    ``_name_checked``, whose body can then use the builtins and locals that a
    parameter called ``max`` or ``out`` would hide."""
    local = [sched.local_names[v.name] for v in e.inputs]
    params = ", ".join(local)
    lines = []
    public = e.name
    if local != [v.name for v in e.inputs]:
        public = f"_{e.name}_checked"
        lines += [f"def {e.name}({', '.join(v.name for v in e.inputs)}):",
                  f'    """{_signature(e)}"""',
                  f"    return {public}({', '.join(v.name for v in e.inputs)})",
                  "",
                  ""]
    lines += [f"def {public}({params}):",
              f'    """{_signature(e)}"""']
    # arguments that reach the kernel only stacked (a loop's per-layer parameters)
    # are checked where they are stacked, one line per stack rather than per argument
    grouped = set()
    if packing is not None:
        direct = {id(v) for v in packing.inputs}
        grouped = {id(a) for _, args, axis in packing.stacks if axis == 0 and args[0].shape
                   for a in args if id(a) not in direct}
    for v, name in zip(e.inputs, local, strict=True):
        if id(v) in grouped:
            continue
        if v.shape:
            lines.append(f"    {name} = _array({name}, {v.name!r}, {v.shape!r}, {v.dtype!r})")
        elif v.dtype == "float64":
            lines.append(f"    if type({name}) is not float:")
            lines.append(f"        {name} = _scalar({name}, {v.name!r}, 'float64')")
        else:
            lines.append(f"    {name} = _scalar({name}, {v.name!r}, {v.dtype!r})")
    if sched.context.checks or dynamic_sizes:
        for sym in sched.context.syms:
            lines.append(f"    {sym.name} = {sym.expr}")
        # messages name the user's variable, not its local name (``max.shape[0]``)
        user = {name: v.name for v, name in zip(e.inputs, local, strict=True)}
        labels = {sym.name: re.sub(r"^\w+", lambda m: user.get(m.group(), m.group()), sym.expr)
                  for sym in sched.context.syms if ".shape[" in sym.expr}
        for lhs, rhs, what in sched.context.checks:
            left, right = labels.get(lhs, lhs), labels.get(rhs, rhs)
            lines.append(f"    if {lhs} != {rhs}:")
            lines.append(f"        raise ValueError(f\"{what}: {left} is {{{lhs}}} but {right} is {{{rhs}}}; they must be equal\")")
    if packing is not None:   # stacks of arguments are made here (see pack.py)
        for var, args, axis in packing.stacks:
            parts = ", ".join(sched.local_names[a.name] for a in args)
            if axis == 0 and args[0].shape:
                names = ", ".join(repr(a.name) for a in args)
                row = ", rows=True" if var.name in rows else ""
                lines.append(f"    {var.name} = _stack(({parts},), ({names},), {args[0].shape!r}, {args[0].dtype!r}{row})")
            else:
                lines.append(f"    {var.name} = np.stack(({parts},), {axis})")
        params = ", ".join(sched.local_names[v.name] for v in packing.inputs)
    args = ", ".join([params] * bool(params) + list(const_args))
    call = f"_{e.name}({args})"
    if dynamic_sizes:
        sizes = sorted(set(dynamic_sizes))
        size = sizes[0] if len(sizes) == 1 else f"max({', '.join(sizes)})"
        lines.append(f"    parallel = {size} >= {PARALLEL_MIN_AUTO}   # elements: worth starting threads")
        call = f"(_{e.name}_parallel if parallel else _{e.name})({args})"
    if packing is None and _returns_final(e):
        lines.append(f"    return {call}")
        return lines
    lines.append(f"    out = {call}")
    items = [f"np.{o.dtype}(out[{i}])" if not o.shape else f"out[{i}]" for i, o in enumerate(e.outputs)]
    if packing is not None:   # results sliced from a whole array the compiled function returns
        items = [f"np.{o.dtype}(out[{i}])" if not o.shape else f"out[{i}]" if key is None
                 else f"out[{i}][{key}]" + (".copy()" if copy else "")
                 for o, (i, key), copy in zip(e.outputs, packing.results, packing.copy, strict=True)]
    lines.append(f"    return {_nest(items, e.structure)}")
    return lines


def _returns_final(e):
    """Whether the compiled function can return the caller's tuple as it is:
    Numba returns float64 scalars as Python floats (what a float64 is in
    Python), but float32, int64 and bool scalars would lose their dtype."""
    return all(o.shape or o.dtype == "float64" for o in e.outputs)


def _nest(items, structure):
    """``items`` as the source of a tuple nested by ``structure`` (see Entry)."""
    if structure is None:
        return f"({', '.join(items)}{',' if len(items) == 1 else ''})"
    groups, k = [], 0
    for size in structure:   # 0: one bare item; n: a tuple of n items
        part = items[k:k + max(size, 1)]
        groups.append(part[0] if size == 0 else f"({', '.join(part)}{',' if len(part) == 1 else ''})")
        k += max(size, 1)
    return f"({', '.join(groups)})"


@paused
def emit_module(entries, model_name="model", doc="", parallel=None, vector_math="auto"):
    """The full module source for ``entries`` (a list of :class:`Entry`).

    ``parallel``: ``None`` (auto) runs loop nests of at least
    PARALLEL_MIN_AUTO static elements on all cores; ``True`` also those whose
    size is known only at call time; ``False`` never.
    ``vector_math``: see :func:`vector_functions`.
    """
    return ModuleEmitter(entries, model_name, parallel, vector_functions(vector_math)).emit(doc)


def vector_functions(choice):
    """The float64 functions that fused loops compute with the module's
    vectorisable helpers (:mod:`symback.backend.vecmath`) rather than libm.

    ``"auto"`` or ``True``: every function with a helper (exp, log, tanh, sin,
    cos: 2-13x faster loops, a few tenths of a second more JIT each, paid once
    per machine with the on-disk cache), in loops long enough to vectorise
    (:func:`_vectorises`); ``False``: none, libm everywhere; or a collection of
    names."""
    if choice == "auto" or choice is True:
        return frozenset(vecmath.HELPERS)
    if choice is False or choice is None:
        return frozenset()
    names = frozenset([choice] if isinstance(choice, str) else choice)
    unknown = sorted(names - set(vecmath.HELPERS))
    if unknown:
        raise ValueError(f"vector_math: no vectorised {', '.join(unknown)} (choose from "
                         f"{', '.join(sorted(vecmath.HELPERS))}, or 'auto', True, False)")
    return names


def njit_decorator(parallel=False, inner=False):
    """``nogil=True``: the kernels touch no Python object, so they let other
    threads run (a threaded Dask scheduler then scales over row chunks).
    ``inner``: a function only compiled code calls (see INNER_FLAGS)."""
    flags = (INNER_FLAGS if inner else NJIT_FLAGS) + (", parallel=True" if parallel else "")
    return f"@numba.njit({flags})"
