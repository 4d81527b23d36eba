"""The SymPy bridge: IR <-> SymPy, and ``check``, the derivative report.

``to_sympy`` runs each op's ``sympy`` rule over numpy object arrays of SymPy
scalars, so array models (matmul, reductions, softmax) expand elementwise and
array variables become readable indexed symbols (``W[0, 1]``).  SymPy is
imported only when this module's functions run, to keep ``import symback`` light.

A round trip gives the user's own symbols back: ``from_sympy`` remembers, per
scalar variable, the SymPy Symbol it came from (assumptions included), and
``to_sympy`` uses it, so ``to_sympy(from_sympy(expr, [a, b])) - expr``
simplifies to 0 and ``.subs({a: ...})`` works.  Variables are hash-consed by
name, shape and dtype, so ``Symbol("x")`` and ``Symbol("x", positive=True)``
become the same variable ``x``: one ``from_sympy`` call refuses an expression
holding both, and across calls the latest ``from_sympy`` decides which Symbol
``x`` gives back (pass ``symbols=`` to ``to_sympy`` to choose explicitly).
"""
from __future__ import annotations

import weakref

import numpy as np

from .errors import InputError
from .interpret import point
from .ir import Node, topo_order, variables
from .ops.registry import OPS, const_to_sympy
from .shapes import ShapeError, show

#: scalar var node -> the SymPy Symbol that from_sympy made it from; weak, so
#: an entry lives exactly as long as the variable
_ORIGIN: "weakref.WeakKeyDictionary[Node, object]" = weakref.WeakKeyDictionary()


def _sympy():
    import sympy
    return sympy


def symbols_for(var):
    """The SymPy symbol (scalar) or object array of symbols (array) of ``var``."""
    sp = _sympy()
    if not var.shape:
        return sp.Symbol(var.name, real=True)
    if any(d is None for d in var.shape):
        raise ShapeError(f"to_sympy: variable {var.name} has a size known only at call time {show(var.shape)}")
    out = np.empty(var.shape, dtype=object)
    for idx in np.ndindex(*var.shape):
        out[idx] = sp.Symbol(f"{var.name}[{', '.join(map(str, idx))}]", real=True)
    return out


def to_sympy(expr, symbols=None):
    """A SymPy expression for scalar IR; a SymPy Matrix (2-d) or object array for arrays.

    A variable becomes, in order of preference: its entry in ``symbols`` (keyed
    by variable node or by name), the SymPy Symbol ``from_sympy`` made it from
    (so round trips come back in the user's own symbols), or a new real Symbol
    of its name (``W[0, 1]`` for array elements)."""
    sp = _sympy()
    single = isinstance(expr, Node)
    exprs = [expr] if single else list(expr)
    by_node, by_name = {}, {}
    for k, v in (symbols or {}).items():
        if isinstance(k, Node) and k.op == "var":
            by_node[k] = v
        elif isinstance(k, str):
            by_name[k] = v
        else:
            raise InputError(f"to_sympy: symbols keys must be variables or their names, got {k!r}")
    values = {}
    for node in topo_order(exprs):
        if node.op == "var":
            if node in by_node:
                values[id(node)] = by_node[node]
            elif node.name in by_name:
                values[id(node)] = by_name[node.name]
            elif node in _ORIGIN:
                values[id(node)] = _ORIGIN[node]
            else:
                values[id(node)] = symbols_for(node)
            continue
        if node.op == "const":
            v = node.value
            if node.dtype == "int64":
                values[id(node)] = v
            else:
                values[id(node)] = const_to_sympy(sp, v)
            continue
        op = OPS[node.op]
        if op.sympy is None:
            raise NotImplementedError(f"to_sympy: op {node.op!r} has no SymPy translation")
        values[id(node)] = op.sympy(sp, [values[id(a)] for a in node.args], dict(node.attrs))
    out = [_finish(sp, values[id(e)]) for e in exprs]
    return out[0] if single else out


def _finish(sp, value):
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return value[()]
        if value.ndim == 2:
            return sp.Matrix(value.tolist())
        return sp.Array(value.tolist())
    return value


# --- SymPy -> IR ----------------------------------------------------------------------


def from_sympy(expr, variables):
    """IR for a SymPy expression.  ``variables`` maps SymPy symbols (or their
    names) to symback variables, or lists symback variables, SymPy Symbols
    (each becomes a float64 scalar variable of its name) or both.  Anything the
    op table cannot map raises.  Each scalar variable remembers the Symbol it
    came from, for :func:`to_sympy` (see the module's docstring)."""
    from .ops import build as F
    from .ir import var
    from .ops.registry import as_node
    sp = _sympy()
    if isinstance(variables, dict):
        pairs = list(variables.items())
    elif isinstance(variables, (list, tuple)):
        pairs = [(v.name, v) if isinstance(v, Node) else (v, var(str(v))) if isinstance(v, sp.Symbol)
                 else (v, None) for v in variables]
    else:
        raise InputError(f"from_sympy: variables must be a dict or a list, got {type(variables).__name__}")
    for k, v in pairs:
        if not (isinstance(v, Node) and v.op == "var") or not isinstance(k, (str, sp.Symbol)):
            raise InputError(f"from_sympy: cannot map {k!r} to {v!r}: give symback variables "
                             "(sb.var) keyed by SymPy Symbols or names, or a list of either")
    by_name = {str(k): v for k, v in pairs}
    named = {}
    for s in getattr(expr, "free_symbols", ()):
        other = named.setdefault(str(s), s)
        if other != s:
            raise InputError(f"from_sympy: two different symbols are named {str(s)!r} "
                             f"({sp.srepr(other)} and {sp.srepr(s)}); "
                             "both would become one variable: rename one")
    unary = {sp.exp: F.exp, sp.log: F.log, sp.sin: F.sin, sp.cos: F.cos, sp.tan: F.tan,
             sp.tanh: F.tanh, sp.Abs: F.abs, sp.sign: F.sign}
    compare = {sp.StrictLessThan: F.less, sp.LessThan: F.less_equal, sp.StrictGreaterThan: F.greater,
               sp.GreaterThan: F.greater_equal, sp.Equality: F.equal, sp.Unequality: F.not_equal}
    done = {}
    stack = [expr]
    while stack:
        e = stack[-1]
        if e in done:
            stack.pop()
            continue
        pending = [a for a in e.args if a not in done] if not e.is_Atom else []
        if pending and not isinstance(e, sp.Piecewise):
            stack.extend(pending)
            continue
        if isinstance(e, sp.Piecewise):
            parts = [x for pair in e.args for x in pair if x not in done and x is not sp.true]
            if parts:
                stack.extend(parts)
                continue
        stack.pop()
        args = [done[a] for a in e.args] if not e.is_Atom and not isinstance(e, sp.Piecewise) else []
        if e.is_Symbol:
            if str(e) not in by_name:
                raise KeyError(f"from_sympy: no symback variable given for symbol {e}")
            done[e] = by_name[str(e)]
            if not done[e].shape:
                _ORIGIN[done[e]] = e
        elif e.is_Number or e in (sp.pi, sp.E):
            done[e] = as_node(float(e))
        elif e is sp.true or e is sp.false:
            done[e] = as_node(bool(e))
        elif isinstance(e, sp.Add):
            done[e] = _fold(args, lambda a, b: a + b)
        elif isinstance(e, sp.Mul):
            done[e] = _fold(args, lambda a, b: a * b)
        elif isinstance(e, sp.Pow):
            base, exponent = args
            done[e] = F.sqrt(base) if e.args[1] == sp.Rational(1, 2) else base ** exponent
        elif e.func in unary:
            done[e] = unary[e.func](args[0])
        elif isinstance(e, (sp.Max, sp.Min)):
            f = F.maximum if isinstance(e, sp.Max) else F.minimum
            done[e] = _fold(args, f)
        elif e.func in compare:
            done[e] = compare[e.func](*args)
        elif isinstance(e, sp.Heaviside):
            x = args[0]
            half = 0.5 if len(e.args) == 1 else float(e.args[1])
            done[e] = F.where(x > 0.0, 1.0, F.where(F.equal(x, 0.0), half, 0.0))
        elif isinstance(e, sp.Piecewise):
            result = None
            for value, cond in reversed(e.args):
                v = done[value]
                result = v if cond is sp.true or result is None else F.where(done[cond], v, result)
            done[e] = result
        else:
            raise NotImplementedError(f"from_sympy: SymPy function {e.func.__name__} is not supported")
    return done[expr]


def _fold(args, f):
    out = args[0]
    for a in args[1:]:
        out = f(out, a)
    return out


# --- check: AD vs SymPy vs finite differences ------------------------------------------


class CheckReport:
    """The verdicts of :func:`check`, one row per differentiated scalar."""

    def __init__(self, rows):
        self.rows = rows

    @property
    def ok(self):
        return all(r["sympy"] != "differs" and r["fd_ok"] for r in self.rows)

    def to_dict(self):
        return {"ok": self.ok, "rows": [dict(r) for r in self.rows]}

    def __str__(self):
        head = f"{'wrt':<14} {'AD value':>22} {'SymPy':>9} {'FD error':>10}  verdict"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r['wrt']:<14} {r['ad']:>22.15g} {r['sympy']:>9} {r['fd_error']:>10.2e}  "
                         f"{'ok' if r['sympy'] != 'differs' and r['fd_ok'] else 'FAIL'}")
        lines.append(f"ok: {self.ok}")
        return "\n".join(lines)

    __repr__ = __str__


def check(y, wrt, at=None, points=3, seed=0, timeout=5.0, digits=50):
    """Check every derivative of scalar ``y`` with respect to ``wrt`` three ways.

    For each element of each ``wrt`` variable: the automatic derivative
    (``to_sympy`` of the gradient IR) against ``sympy.diff`` of ``to_sympy(y)``
    -- ``proved`` when their difference simplifies to 0 within ``timeout``
    seconds, ``agrees`` when it matches to ``digits`` digits at ``points``
    random points, ``differs`` otherwise -- and the compiled kernel's gradient
    against central finite differences at ``at`` (a dict keyed by variable or
    by name; random values in [0.5, 1.5] where missing).
    """
    from .autodiff import grad
    from .kernel import value_and_grad
    sp = _sympy()
    single = isinstance(wrt, Node)
    wrt = [wrt] if single else list(wrt)
    inputs = wrt + [v for v in variables([y]) if all(v is not w for w in wrt)]
    rng = np.random.default_rng(seed)
    at = point(at, inputs, "check: at")
    values = {}
    for v in inputs:
        if v.name in at:
            values[v.name] = np.asarray(at[v.name], dtype=v.dtype)
        elif v.dtype == "int64":
            raise InputError(f"check: give a value for the integer variable {v.name} in at=")
        else:
            values[v.name] = rng.uniform(0.5, 1.5, size=v.shape).astype(v.dtype)
    symbols = {v.name: symbols_for(v) for v in inputs if v.dtype != "int64"}
    for v in inputs:
        if v.dtype == "int64":
            symbols[v.name] = values[v.name]
    f_sym = to_sympy(y, symbols)
    grads = grad(y, wrt)
    kernel = value_and_grad(y, wrt, inputs=inputs, name="check")
    args = [values[v.name] if v.shape else values[v.name].item() for v in inputs]
    _, ad_grads = kernel(*args)
    rows = []
    for w, g, ad in zip(wrt, grads, ad_grads):
        g_sym = np.asarray(to_sympy(g, symbols), dtype=object).reshape(w.shape)
        w_syms = np.asarray(symbols[w.name], dtype=object).reshape(w.shape)
        ad = np.asarray(ad)
        for idx in (np.ndindex(*w.shape) if w.shape else [()]):
            verdict = _compare(sp, g_sym[idx], sp.diff(f_sym, w_syms[idx]), symbols, inputs,
                               rng, points, timeout, digits)
            fd, err, tol = _finite_difference(kernel, inputs, values, w, idx, float(ad[idx]))
            label = w.name + (f"[{', '.join(map(str, idx))}]" if idx else "")
            rows.append({"wrt": label, "ad": float(ad[idx]), "fd": fd, "sympy": verdict,
                         "fd_error": err, "fd_ok": err <= tol})
    return CheckReport(rows)


def _compare(sp, auto, exact, symbols, inputs, rng, points, timeout, digits):
    diff = auto - exact
    if _simplifies_to_zero(sp, diff, timeout):
        return "proved"
    free = sorted(diff.free_symbols, key=str)
    for _ in range(points):
        subs = {s: sp.Float(rng.uniform(0.5, 1.5), digits + 10) for s in free}
        a = sp.N(auto.subs(subs), digits + 5)
        b = sp.N(exact.subs(subs), digits + 5)
        scale = max(abs(b), sp.Float(1, digits))
        if not (abs(a - b) <= scale * sp.Float(10, digits) ** (-digits)):
            return "differs"
    return "agrees"


def _simplifies_to_zero(sp, diff, timeout):
    import threading
    result = []

    def work():
        try:
            result.append(sp.simplify(diff) == 0)
        except Exception:  # SymPy could not decide: fall back to numbers
            result.append(False)
    if diff == 0:
        return True
    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(timeout)
    return bool(result and result[0])


def _finite_difference(kernel, inputs, values, w, idx, ad):
    x = values[w.name].astype(np.float64)
    h = 1e-6 * max(1.0, abs(float(x[idx]) if x.shape else float(x)))

    def f(delta):
        xs = x.copy()
        if xs.shape:
            xs[idx] += delta
        else:
            xs = xs + delta
        args = [xs.astype(v.dtype) if v is w else values[v.name] for v in inputs]
        args = [a if np.ndim(a) else np.asarray(a).item() for a in args]
        return float(kernel.forward(*args))
    fd = (f(h) - f(-h)) / (2 * h)
    err = abs(fd - ad)
    # budget: the O(h^2) truncation error, relative to the derivative, plus the
    # rounding of f's values, which the division by 2h magnifies (~eps |f| / h)
    tol = 1e-5 * max(1.0, abs(ad)) + 1e-14 * abs(f(0.0)) / h
    return fd, err, tol
