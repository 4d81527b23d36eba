"""The fuzzer's oracles, run over a batch of random programs.

For each program (see ``programs.py``):

1. the compiled kernel (one module per batch, one entry point per program)
   against the numpy interpreter: the program's output,
   its loss, the gradient of the loss and a JVP, to 1e-12 relative in float64
   (a few float32 ulps otherwise), NaN and inf in the same places;
2. the gradient against central finite differences of the interpreted loss
   (float64 programs; points where the one-sided differences disagree are kinks
   or jumps, where no derivative is checked);
3. the JVP against the directional derivative ``sum(grad * t)``;
4. for scalar programs, the loss and its derivatives against SymPy at 50 digits;
5. where the rerolling pass (on by default in every kernel) finds a repeated
   run and makes it a loop, the rerolled graph -- the one compiled -- against
   the unrolled one in the interpreter: outputs, loss, gradient and JVP.

Where a comparison fails its fixed tolerance, the values are checked again
allowing for the rounding the graph amplifies (:func:`sensitivity`: the
interpreter rerun with every rounded result a few ulps off): ``sin`` of 1e20,
or ``1 - tanh(x)**2`` near saturation, turn the last-bit differences between
libm and numpy into differences no fixed tolerance allows; such a program is
counted as ill-conditioned, not failed (1, 4 and 5; the finite differences
have their own, looser, tolerance).

``check_batch`` returns a list of :class:`Failure` (empty when all agree); a
failure carries the program's source, so the report is its own reproduction.
"""
from __future__ import annotations

import contextlib
import dataclasses
import traceback
import types
from dataclasses import dataclass

import numpy as np

import symback as sb
from symback.backend.numba import Entry, emit_module
from symback.kernel import Kernel
from symback.ops import OPS
from symback.passes.reroll import reroll

KERNEL_RTOL = {"float64": 1e-12, "float32": 2e-5}
#: below this magnitude a value is rounding noise at the programs' scale (their
#: inputs are O(1)): a gradient that cancels to zero comes out as +-1e-17 in one
#: evaluation order and exactly 0 or -7e-17 in another
KERNEL_ATOL = {"float64": 1e-15, "float32": 1e-6}
FD_RTOL = 1e-5


@dataclass
class Failure:
    program: object
    what: str
    detail: str

    def __str__(self):
        return (f"--- {self.what}: {self.detail}\n"
                f"ops: {sorted(self.program.ops)}\n{self.program.source}\n")


@dataclass
class Compiled:
    """One program's place in the batch: its outputs and its tangent inputs."""
    program: object
    outputs: list
    tangents: list
    tangent_values: list
    unrolled: list = None    # the same outputs before rerolling, when the pass made a loop


def _outputs(p, seed, rerolling=True):
    """The batch's outputs for ``p``: its outputs, loss, gradient and a JVP,
    of the graph as a kernel compiles it (rerolled: ``kernel.compile`` and
    ``value_and_grad`` reroll by default)."""
    rng = np.random.default_rng(seed)
    tangents, values = [], []
    for i, v in enumerate(p.variables):
        t = sb.var(f"{p.prefix}t{i}", v.shape, v.dtype)
        tangents.append(t)
        values.append(rng.uniform(-1, 1, p.values[v].shape).astype(v.dtype))

    def derived(outs):
        (dy,) = sb.jvp([outs[-1]], dict(zip(p.variables, tangents)))
        return outs + sb.grad(outs[-1], p.variables) + [dy]

    flat = list(p.outputs) + [p.loss]
    rolled = reroll(flat) if rerolling else flat
    fired = any(a is not b for a, b in zip(rolled, flat, strict=True))
    return Compiled(p, derived(rolled), tangents, values, derived(flat) if fired else None)


def _close(got, want, rtol, atol=0.0, slack=None):
    """Elementwise agreement relative to the larger of the element and the
    array's scale (sums that cancel keep the error of their terms); ``slack``
    (an array of want's shape, from :func:`sensitivity`) widens it per element."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    nan_g, nan_w = np.isnan(got), np.isnan(want)
    if (nan_g != nan_w).any():
        return f"NaN in different places: kernel {got.ravel()[:6]}, interpreter {want.ravel()[:6]}"
    inf = np.isinf(want) | np.isinf(got)
    if (got[inf] != want[inf]).any():
        return f"inf differs: kernel {got[inf][:6]}, interpreter {want[inf][:6]}"
    ok = ~(nan_w | inf)
    if not ok.any():
        return None
    scale = np.max(np.abs(want[ok]))
    err = np.abs(got[ok] - want[ok])
    bound = rtol * (np.abs(want[ok]) + scale) + atol
    if slack is not None:
        bound = bound + np.broadcast_to(slack, want.shape)[ok]
    bad = err > bound
    if bad.any():
        extra = "" if slack is None else f" (rounding spread up to {np.max(slack):.3g})"
        return (f"max error {err.max():.3g} at scale {scale:.3g}{extra}: kernel {got.ravel()[:6]}, "
                f"interpreter {want.ravel()[:6]}")
    return None


ILL_CONDITIONED = "ill-conditioned: the difference is rounding the graph amplifies"


class _Spread:
    """:func:`sensitivity` of ``outputs``, computed on first use (only a
    comparison that fails at the fixed tolerance pays for it)."""

    def __init__(self, outputs, env, want):
        self.args, self.value = (outputs, env, want), None

    def __getitem__(self, k):
        if self.value is None:
            self.value = sensitivity(*self.args)
        return SENSITIVITY_FACTOR * self.value[k]


#: ops whose float result is exact (a selection, a copy, a sign change) or
#: rounded the same way on both sides (a cast): not perturbed by :func:`sensitivity`
EXACT_OPS = {"abs", "astype", "broadcast", "const", "count", "index", "maximum", "minimum", "neg",
             "one_hot", "relu", "reshape", "scan", "scan_get", "sign", "stack", "transpose", "var",
             "where"}
#: :func:`sensitivity` perturbs each rounded result by up to this many ulps
#: (libm and numpy's loops differ by an ulp or two in transcendental functions)
PERTURB_ULPS = 4
PERTURB_TRIALS = 4
#: a difference within this multiple of the spread :func:`sensitivity` sees
#: is rounding the graph amplifies, not an error
SENSITIVITY_FACTOR = 4


@contextlib.contextmanager
def _perturbed(rng, ulps=PERTURB_ULPS):
    """Every rounding op of the interpreter (loop bodies included: they run
    through the same registry) returns its float result times ``1 + d``,
    ``|d| <= ulps * eps``, d drawn afresh for each element of each call."""
    def wrap(fn):
        def perturbed(values, attrs):
            out = fn(values, attrs)
            a = np.asarray(out)
            if a.dtype.kind != "f":
                return out
            eps = ulps * np.finfo(a.dtype).eps
            return (a * (1 + rng.uniform(-eps, eps, a.shape))).astype(a.dtype)
        return perturbed
    saved = dict(OPS)
    try:
        for name, op in saved.items():
            if name not in EXACT_OPS:
                OPS[name] = dataclasses.replace(op, eval=wrap(op.eval))
        yield
    finally:
        OPS.update(saved)


def sensitivity(outputs, env, want, trials=PERTURB_TRIALS, seed=0):
    """How far the values of ``outputs`` (``want``, evaluated without
    perturbation) move when every rounding in the interpreter is off by a few
    ulps: per output, an array of the largest change seen in ``trials`` runs
    (Monte Carlo arithmetic, as CADNA/CESTAC estimate the digits a float
    computation determines).

    Two correct float64 evaluations of a graph -- the kernel (libm, its own
    order of operations) and the interpreter (numpy) -- round differently in
    the last bit, and the graph amplifies that by its condition number:
    ``sin(x)`` for ``x ~ 1e20`` is not determined at all, ``1 - tanh(x)**2``
    for ``tanh(x) ~ 1 - 1e-6`` (tanh's derivative) keeps 10 of 16 digits.  A
    difference within this spread is no evidence of a bug; a well-conditioned
    value has a spread of a few ulps, so an error there is still caught.
    Non-finite values (and values that turn non-finite) are left to the
    exact inf/NaN comparison: their spread is 0."""
    rng = np.random.default_rng(seed)
    spread = [np.zeros(np.shape(w)) for w in want]
    for _ in range(trials):
        with _perturbed(rng), np.errstate(all="ignore"):
            try:
                got = sb.evaluate(outputs, env)
            except (ArithmeticError, ValueError, IndexError):   # a perturbation broke the program: nothing learnt
                continue
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            g, w = np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64)
            if g.shape != w.shape:
                continue
            with np.errstate(all="ignore"):
                d = np.abs(g - w)
            spread[i] = np.maximum(spread[i], np.where(np.isfinite(d), d, 0.0))
    return spread


def _env(c):
    env = dict(c.program.values)
    env.update(zip(c.tangents, c.tangent_values))
    return env


def compile_batch(compiled, name):
    """One module with one entry point per program.  Numba compiles each entry
    on its first call, so the cost is linear in the batch (one long function
    would cost far more: Numba's time grows faster than its length) and a
    program that fails to compile fails alone."""
    entries = _entries(compiled)
    return Kernel(emit_module(entries, name), entries, entries[0].name, name)


def _entries(compiled):
    return [Entry(f"program{i}", c.program.inputs + c.tangents, c.outputs,
                  [f"out{j}" for j in range(len(c.outputs))]) for i, c in enumerate(compiled)]


def python_batch(compiled, name):
    """The batch's generated module run by CPython instead of Numba (numba's
    ``DISABLE_JIT`` while it is executed: ``njit`` returns the plain function).

    This checks what symback writes -- schedules, fused loops, views, index
    arithmetic, adjoint accumulation -- at thousands of programs a minute;
    what Numba does with it (typing, lowering, its float semantics) is left to
    the compiled tier, which costs about a second a program."""
    import numba
    entries = _entries(compiled)
    source = emit_module(entries, name)
    module = types.ModuleType(name)
    old, numba.config.DISABLE_JIT = numba.config.DISABLE_JIT, True
    try:
        exec(compile(source, f"<fuzz batch {name}>", "exec"), module.__dict__)
    finally:
        numba.config.DISABLE_JIT = old
    return types.SimpleNamespace(module=module, source=source)


#: what CPython raises where Numba (and numpy) return inf or NaN: a program
#: that meets one in the Python tier is left to the compiled tier
PYTHON_ONLY_ERRORS = (OverflowError, ZeroDivisionError)


def _python_only(exc):
    """CPython's float arithmetic raising where IEEE gives inf/NaN, or making a
    complex number (``(-8.0) ** 0.5``) where Numba gives NaN."""
    return isinstance(exc, PYTHON_ONLY_ERRORS) or (
        isinstance(exc, ValueError) and str(exc) == "math domain error") or (
        isinstance(exc, TypeError) and "complex" in str(exc))


def run_program(kernel, i, c):
    args = [c.program.values[v] for v in c.program.inputs] + c.tangent_values
    with np.errstate(all="ignore"):
        return getattr(kernel.module, f"program{i}")(*args)


#: ops whose result jumps (or whose derivative does) where the two sides meet
_COMPARISONS = {"less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
                "maximum", "minimum"}
_AT_ZERO = {"sign", "abs", "relu"}


def rounding_tie(c):
    """Whether some branch of the program is decided by rounding: a comparison
    (or min/max) of two values within 1e-12 of each other, a sign/abs/relu of
    a value within 1e-15 of 0, or a cast to int64 of a value within 1e-12 of
    an integer.  ``x > log(exp(x))`` is such a branch: libm and numpy's SIMD
    exp/log differ in the last bit, so kernel and interpreter may both be
    right and disagree; no tolerance can compare them there."""
    order = sb.ir.topo_order(c.outputs)
    values = dict(zip((id(n) for n in order), sb.evaluate(order, _env(c))))
    with np.errstate(all="ignore"):
        for n in order:
            if n.op in _COMPARISONS and n.args[0] is not n.args[1]:
                a, b = (np.asarray(values[id(x)], dtype=np.float64) for x in n.args[:2])
                if np.any(np.abs(a - b) <= 1e-12 * np.maximum(np.abs(a), np.abs(b))):
                    return True
            elif n.op in _AT_ZERO and np.any(np.abs(np.asarray(values[id(n.args[0])], dtype=np.float64)) <= 1e-15):
                return True
            elif n.op == "astype" and n.dtype == "int64" and n.args[0].dtype in ("float64", "float32"):
                x = np.asarray(values[id(n.args[0])], dtype=np.float64)
                if np.any(np.abs(x - np.round(x)) <= 1e-12 * np.maximum(1.0, np.abs(x))):
                    return True
    return False


def check_rerolled(c, want):
    """The rerolled graph against the unrolled one, both interpreted."""
    if c.unrolled is None:
        return []
    p = c.program
    flat = sb.evaluate(c.unrolled, _env(c))
    labels = [f"output {p.ref(o)}" for o in p.outputs] + ["loss"] + [f"grad {v.name}" for v in p.variables] + ["jvp"]
    rolled = list(sb.evaluate(c.outputs[:len(p.outputs)], _env(c))) + list(want)
    spread = _Spread(c.unrolled, _env(c), flat)
    for k, (label, r, f) in enumerate(zip(labels, rolled, flat, strict=True)):
        problem = _close(r, f, KERNEL_RTOL[p.dtype], KERNEL_ATOL[p.dtype])
        if problem:
            problem = _close(r, f, KERNEL_RTOL[p.dtype], KERNEL_ATOL[p.dtype], spread[k])
        if problem:
            return [Failure(p, "rerolled vs unrolled", f"{label}: {problem.replace('kernel', 'rerolled').replace('interpreter', 'unrolled')}")]
    return []


def check_compiled(c, got, skipped=None):
    """Kernel against interpreter; a mismatch at a rounding tie (see
    :func:`rounding_tie`), or within the rounding an ill-conditioned graph
    amplifies (see :func:`sensitivity`), is not a failure but is recorded in
    ``skipped``."""
    p = c.program
    want = sb.evaluate(c.outputs, _env(c))
    labels = [f"output {p.ref(o)}" for o in p.outputs] + ["loss"] + [f"grad {v.name}" for v in p.variables] + ["jvp"]
    failures, excused = [], False
    spread = _Spread(c.outputs, _env(c), want)
    for k, (label, g, w, node) in enumerate(zip(labels, got, want, c.outputs, strict=True)):
        if np.asarray(g).dtype != np.dtype(node.dtype):
            failures.append(Failure(p, "kernel", f"{label}: dtype {np.asarray(g).dtype}, expected {node.dtype}"))
            continue
        problem = _close(g, w, KERNEL_RTOL[p.dtype], KERNEL_ATOL[p.dtype])
        if problem and rounding_tie(c):
            if skipped is not None:
                skipped.append((p, "a branch decided by rounding"))
            break
        if problem:
            problem = _close(g, w, KERNEL_RTOL[p.dtype], KERNEL_ATOL[p.dtype], spread[k])
            excused |= not problem
        if problem:
            failures.append(Failure(p, "kernel vs interpreter", f"{label}: {problem}"))
    if excused and skipped is not None:
        skipped.append((p, ILL_CONDITIONED))
    return failures, want[len(p.outputs):]


def check_derivatives(c, want):
    """Finite differences and the JVP identity, on the interpreter's numbers."""
    p = c.program
    if p.dtype != "float64" or p.lossy or not all(np.all(np.isfinite(w)) for w in want):
        return []
    failures = []
    f0 = float(want[0])
    grads = want[1:-1]

    def f(env):
        return float(sb.evaluate(p.loss, env))

    for v, g in zip(p.variables, grads, strict=True):
        x = p.values[v]
        for idx in np.ndindex(*x.shape):
            h = 1e-6 * max(1.0, abs(float(x[idx])))
            plus, minus = x.copy(), x.copy()
            plus[idx] += h
            minus[idx] -= h
            fp = f({**p.values, v: plus})
            fm = f({**p.values, v: minus})
            left, right, central = (f0 - fm) / h, (fp - f0) / h, (fp - fm) / (2 * h)
            ad = float(np.asarray(g)[idx])
            tol = FD_RTOL * (1 + abs(ad)) + 1e-8 * (1 + abs(f0))
            if abs(left - right) > 1e-3 * (1 + abs(central)) or not np.isfinite(central):
                continue   # a kink or a jump within h: no derivative to compare
            if abs(central - ad) > tol:
                failures.append(Failure(p, "gradient vs finite differences",
                                        f"d loss/d {v.name}{list(idx)}: AD {ad:.10g}, FD {central:.10g}"))
                break
    directional = sum(float(np.sum(np.asarray(g, dtype=np.float64) * t))
                      for g, t in zip(grads, c.tangent_values, strict=True))
    jvp = float(want[-1])
    scale = sum(float(np.sum(np.abs(np.asarray(g) * t))) for g, t in zip(grads, c.tangent_values, strict=True))
    if abs(jvp - directional) > 1e-10 * (1 + scale):
        failures.append(Failure(p, "jvp vs grad", f"jvp {jvp:.15g}, sum(grad * t) {directional:.15g}"))
    return failures


def _at_kink(expr, point):
    """Whether ``expr`` sits on a kink or a branch boundary at ``point``: a tie
    of Min/Max, the switch of a Piecewise, the zero of Abs or sign.  There
    SymPy's derivative is a convention (Heaviside(0) = 1/2) evaluated on the
    rounding of 50-digit numbers, not an oracle."""
    import sympy

    def near_zero(e):
        try:
            v = complex(sympy.N(e.xreplace(point), 50))
        except (TypeError, ValueError):
            return True
        return abs(v) < 1e-25

    for node in sympy.preorder_traversal(expr):
        if isinstance(node, (sympy.Min, sympy.Max)):
            args = node.args
            if any(near_zero(a - b) for i, a in enumerate(args) for b in args[i + 1:]):
                return True
        elif isinstance(node, (sympy.Abs, sympy.sign, sympy.Heaviside)):
            if near_zero(node.args[0]):
                return True
        elif isinstance(node, sympy.Piecewise):
            for _, cond in node.args:
                if isinstance(cond, sympy.core.relational.Relational) and near_zero(cond.lhs - cond.rhs):
                    return True
    return False


#: SymPy expressions are trees: a loop whose carry is read twice per step
#: doubles its tree every step, and SymPy (Piecewise above all) takes minutes
#: on such a tree; larger programs are not compared with SymPy (and counted)
SYMPY_TREE = 500


def tree_size(outputs, cap=SYMPY_TREE):
    """The size of ``outputs`` written as a tree, loops unrolled (as
    ``to_sympy`` writes them), or ``cap + 1`` as soon as it exceeds ``cap``."""
    from symback.ir import topo_order
    from symback.ops.control import split_args

    def sizes(order, known):
        for n in order:
            if id(n) in known:
                continue
            if n.op == "scan":
                known[id(n)] = loop(n, known)
            elif n.op == "scan_get":
                kind, what = n.attr("key")
                loop_sizes = known[id(n.args[0])]
                known[id(n)] = loop_sizes["carry"][what] if kind == "carry" else \
                    sum(step.get(id(what), 1) for step in loop_sizes["steps"]) + 1
            else:
                known[id(n)] = min(cap + 1, 1 + sum(known[id(a)] for a in n.args))
        return known

    def loop(n, known):
        body = n.attr("body")
        init, xs, consts = split_args(n)
        base = {id(body.index): 1}
        base.update({id(p): known[id(a)] for p, a in zip(body.const_in, consts)})
        base.update({id(p): known[id(a)] + 1 for p, a in zip(body.x_in, xs)})
        carries, steps = [known[id(a)] for a in init], []
        order = topo_order(list(body.carry_out) + list(body.y_out))
        for _ in range(n.attr("length")):
            env = dict(base)
            env.update({id(p): c for p, c in zip(body.carry_in, carries)})
            env = sizes(order, env)
            steps.append(env)
            carries = [env[id(o)] for o in body.carry_out]
            if max(carries, default=0) > cap:
                break
        return {"carry": carries, "steps": steps}

    known = sizes(topo_order(outputs), {})
    return min(cap + 1, sum(known[id(o)] for o in outputs))


def check_sympy(c, want, skipped=None):
    """Scalar programs: value and derivatives against SymPy at 50 digits."""
    import sympy
    p = c.program
    if p.dtype != "float64" or p.lossy or any(v.shape for v in p.inputs) or not np.isfinite(want[0]):
        return []
    if tree_size([p.loss]) > SYMPY_TREE:
        return [] if skipped is None else skipped.append((p, "too large a tree for SymPy")) or []
    expr = sb.to_sympy(p.loss)
    symbols = {v: sympy.Symbol(v.name, real=True) for v in p.variables}
    point = {symbols[v]: sympy.Float(float(p.values[v]), 50) for v in p.variables}
    failures = []
    # the interpreter's loss, gradient and jvp, as the fixed tolerances below
    # may not determine them: a difference within the spread of their rounding
    # (see sensitivity) says nothing of the rules
    spread = _Spread(c.outputs[len(p.outputs):], _env(c), want)
    # xreplace, not subs: subs recurses without end on some Piecewise conditions
    try:
        value = complex(expr.xreplace(point).evalf(50))
    except TypeError:
        # SymPy evaluates the branches a Piecewise does not take too, and a
        # comparison of a complex value there (log of a negative number in an
        # unselected branch) raises: SymPy cannot decide this point
        return failures
    tol = 1e-10 * (1 + abs(float(want[0])))
    if abs(value - float(want[0])) > tol and abs(value - float(want[0])) > tol + float(spread[0]):
        failures.append(Failure(p, "loss vs SymPy", f"SymPy {value}, interpreter {float(want[0])!r}"))
    if _at_kink(expr, point):
        return failures
    for k, (v, g) in enumerate(zip(p.variables, want[1:-1], strict=True), 1):
        d = sympy.diff(expr, symbols[v])
        if d.has(sympy.Subs, sympy.Derivative):
            continue   # SymPy left a derivative unevaluated (of sign, of a Piecewise switch)
        try:
            d = d.xreplace(point).evalf(50)
        except TypeError:
            continue   # a complex comparison in an unselected branch (as for the value)
        if d.has(sympy.nan, sympy.zoo) or not d.is_number:
            continue   # a point where SymPy's derivative is undefined (Heaviside, sign at 0)
        d = complex(d)
        tol = 1e-9 * (1 + abs(float(g)))
        if abs(d.imag) > 1e-30 or (abs(d.real - float(g)) > tol and
                                   abs(d.real - float(g)) > tol + float(spread[k])):
            failures.append(Failure(p, "gradient vs SymPy", f"d/d {v.name}: SymPy {d}, AD {float(g)!r}"))
    return failures


def check_batch(programs, name, seed=0, sympy_check=True, jit=True, skipped=None, stats=None):
    """Build, compile (``jit``: with Numba, else run by CPython, see
    :func:`python_batch`) and check ``programs``; a list of :class:`Failure`.
    Programs not compared, with the reason, are appended to ``skipped`` when
    given: those the Python tier cannot run (``_python_only``) and those whose
    kernel and interpreter part at a rounding tie.  ``stats`` (a Counter)
    counts programs with loops, with repeated blocks, and rerolled."""
    failures, compiled = [], []
    for i, p in enumerate(programs):
        try:
            compiled.append(_outputs(p, seed + i))
        except Exception:
            failures.append(Failure(p, "differentiate", traceback.format_exc(limit=4)))
            continue
        if stats is not None:
            stats["loops"] += "scan" in p.ops
            stats["repeated blocks"] += p.repeats > 0
            stats["rerolled"] += compiled[-1].unrolled is not None
    if not compiled:
        return failures
    kernel = (compile_batch if jit else python_batch)(compiled, name)
    results = []
    for i, c in enumerate(compiled):
        try:
            results.append(run_program(kernel, i, c))
        except Exception as exc:
            if not jit and _python_only(exc):
                if skipped is not None:
                    skipped.append((c.program, "CPython raised where Numba gives inf/NaN"))
            else:
                failures.append(Failure(c.program, "compile" if jit else "run",
                                        traceback.format_exc(limit=6)))
            results.append(None)
    for c, got in zip(compiled, results, strict=True):
        if got is None:
            continue
        fs, want = check_compiled(c, got, skipped)
        failures += fs
        failures += check_rerolled(c, want)
        failures += check_derivatives(c, want)
        if sympy_check:
            try:
                failures += check_sympy(c, want, skipped)
            except Exception:
                failures.append(Failure(c.program, "to_sympy", traceback.format_exc(limit=6)))
    return failures
