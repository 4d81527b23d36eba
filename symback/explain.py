"""``explain``: the forward and backward pass written out as the lecture does.

The forward pass is one line per intermediate, ``c = a / b = 3.2``; the backward
pass is the adjoint equations in the same names, ``g_c = g_f * (1 / a) = ...``,
one term per consumer, summed at fan-out.  The local derivatives come from the
ops' own VJP rules applied to a symbolic adjoint, so what is printed is exactly
what reverse mode computes.
"""
from __future__ import annotations

from . import ir
from .autodiff import check_wrt, sweep
from .errors import InputError
from .interpret import evaluate, point
from .names import letters
from .ops.registry import as_node
from .printing import format_value, infix


class Explanation:
    """The lines of an explanation; ``str()`` gives the text, ``values`` the numbers."""

    def __init__(self, forward, backward, gradient):
        self.forward, self.backward, self.gradient = forward, backward, gradient

    def __str__(self):
        out = ["forward pass:"] + ["  " + line for line, _ in self.forward]
        out += ["", "backward pass (adjoints g_v = d y / d v):"] + ["  " + line for line, _ in self.backward]
        out += ["", "gradient:"] + [f"  d y / d {name} = {format_value(v)}" for name, v in self.gradient.items()]
        return "\n".join(out)

    __repr__ = __str__


def lecture_names(order, y, fixed=None):
    """Names as the lecture gives them: inputs keep theirs, the output is ``y``,
    intermediates the name ``sb.name`` gave them or ``a, b, c, ...`` (never
    ``g``, kept for adjoints)."""
    fixed = dict(fixed or {})
    for n in order:
        if id(n) not in fixed and ir.given_name(n) and n is not y:
            fixed[id(n)] = ir.given_name(n)
    taken = {n.name for n in order if n.op == "var"} | set(fixed.values())
    fresh = letters(taken)
    names = {}
    for n in order:
        if n.op == "var":
            names[id(n)] = n.name
        elif id(n) in fixed:
            names[id(n)] = fixed[id(n)]
        elif n.op != "const":
            names[id(n)] = "y" if n is y else next(fresh)
    return names


def explain(y, wrt, at):
    """Forward values and adjoint equations of scalar ``y`` at the point ``at``
    (a dict keyed by variable or by name: ``{x: 2.0}`` or ``{"x": 2.0}``)."""
    y = as_node(y)
    wrt = [wrt] if isinstance(wrt, ir.Node) else list(wrt)
    check_wrt(wrt, "explain")
    order = ir.topo_order([y])
    used = [n for n in order if n.op == "var"]
    at = point(at, used, "explain: at")
    missing = [n.name for n in used if n.name not in at]
    if missing:
        raise InputError(f"explain: at gives no value for {', '.join(missing)}")
    names = lecture_names(order, y)
    values = dict(zip([id(n) for n in order], evaluate(order, at)))

    forward = []
    for n in order:
        if n.op in ("var", "const") or n.op == "broadcast":
            continue
        if n.dtype == ir.TUPLE:   # a loop: its outputs get lines (and values) of their own
            forward.append((f"{names[id(n)]} = {infix(n, {k: v for k, v in names.items() if k != id(n)})}", None))
            continue
        rhs = infix(ir.intern(n.op, n.args, n.attrs, n.shape, n.dtype), {k: v for k, v in names.items()
                                                                           if k != id(n)})
        forward.append((f"{names[id(n)]} = {rhs} = {format_value(values[id(n)])}", values[id(n)]))

    if any(n.dtype == ir.TUPLE for n in order):
        return _explain_loops(y, wrt, at, forward)
    at_nodes = {n: at[n.name] for n in order if n.op == "var"}
    adjoint, terms, stand_in = {id(y): 1.0}, {}, {}

    def symbolic_adjoint(n):   # a stand-in var for g_n in n's VJP rule
        if id(n) not in adjoint:
            return None
        stand_in[id(n)] = ir.var(f"adjoint{len(stand_in)}", n.shape, n.dtype)
        return stand_in[id(n)]

    for n, arg, c in sweep(y, wrt, symbolic_adjoint, "explain"):
        g = stand_in[id(n)]
        value = evaluate(c, {**at_nodes, g: adjoint[id(n)]})
        terms.setdefault(id(arg), []).append(infix(c, {**names, id(g): f"g_{names[id(n)]}"}))
        adjoint[id(arg)] = adjoint[id(arg)] + value if id(arg) in adjoint else value

    backward = [("g_y = 1", 1.0)]
    for n in reversed(order):
        if n is y or id(n) not in terms:
            continue
        v = adjoint[id(n)]
        backward.append((f"g_{names[id(n)]} = {' + '.join(terms[id(n)])} = {format_value(v)}", v))
    gradient = {w.name: adjoint.get(id(w), 0.0) for w in wrt}
    return Explanation(forward, backward, gradient)


def _explain_loops(y, wrt, at, forward):
    """A model with loops: the forward lines name each loop output, but a
    loop's adjoint equations hold for every step, so instead of writing them
    out the backward pass says so and the gradient comes from the reverse loop."""
    from .autodiff import grad
    values = evaluate(grad(y, wrt), {w.name: at[w.name] for w in wrt} | at)
    backward = [("g_y = 1", 1.0),
                ("(each loop's adjoints are computed by a reverse loop over its steps, not written out here)", None)]
    return Explanation(forward, backward, {w.name: v for w, v in zip(wrt, values)})
