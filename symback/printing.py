"""Human-readable text for expressions: ``repr`` and infix formulas.

:func:`infix` is a small visitor keyed by op name: binary operators print with
their symbol and the fewest parentheses, functions as ``name(args)``; nodes
that already have a name (``names``) print as that name, so an expression can
be shown in terms of the intermediates of a computation graph.
"""
from __future__ import annotations

import numpy as np

from .shapes import show

BINARY = {"add": ("+", 1), "sub": ("-", 1), "mul": ("*", 2), "div": ("/", 2), "pow": ("**", 4),
          "matmul": ("@", 2), "less": ("<", 0), "less_equal": ("<=", 0), "greater": (">", 0),
          "greater_equal": (">=", 0), "equal": ("==", 0), "not_equal": ("!=", 0),
          "adjoint_mul": ("*", 2)}
ATOM = 5


def format_value(value, digits=10):
    v = np.asarray(value)
    if v.ndim == 0:
        return f"{v.item():.{digits}g}" if v.dtype.kind == "f" else str(v.item())
    return np.array2string(v, precision=4, threshold=8, separator=", ").replace("\n", "")


def infix(node, names=None):
    """``node`` as a formula; named nodes (``names``: id -> str) are not expanded."""
    names = names or {}
    text, _ = _infix(node, names)
    return text


def _infix(node, names):
    if id(node) in names:
        return names[id(node)], ATOM
    if node.op == "var":
        return node.name, ATOM
    if node.op == "const":
        v = node.value
        if v.ndim == 0:
            text = format_value(v, 6)
            return text, ATOM if not text.startswith("-") else 3
        return f"const{show(node.shape)}", ATOM
    if node.op == "div" and node.args[0].op == "sum" and node.args[1].op == "count" \
            and node.args[0].args[0] is node.args[1].args[0] and id(node.args[0]) not in names:
        return _reduction("mean", node.args[0], names), ATOM
    if node.op in BINARY:
        symbol, prec = BINARY[node.op]
        (a, pa), (b, pb) = (_infix(x, names) for x in node.args)
        left_assoc = node.op != "pow"
        a = a if pa > prec or (pa == prec and left_assoc) else f"({a})"
        b = b if pb > prec or (pb == prec and not left_assoc) else f"({b})"
        return f"{a} {symbol} {b}", prec
    if node.op == "neg":
        a, pa = _infix(node.args[0], names)
        return f"-{a if pa > 2 else f'({a})'}", 3
    if node.op == "where":
        c, a, b = (_infix(x, names)[0] for x in node.args)
        return f"where({c}, {a}, {b})", ATOM
    if node.op == "broadcast":
        return _infix(node.args[0], names)
    if node.op == "scan_get":   # a loop's output: its final carry or its stacked per-step values
        kind, what = node.attr("key")
        loop = _infix(node.args[0], names)[0]
        return (f"{loop}.carry[{what}]" if kind == "carry" else f"{loop}.stacked({what.op})"), ATOM
    if node.op == "scan":
        body = node.attr("body")
        steps, n = node.attr("length"), len(body.carry_in)
        args = ", ".join(_infix(a, names)[0] for a in node.args)
        return f"loop({args}; {steps} steps, {n} carr{'y' if n == 1 else 'ies'})", ATOM
    if node.op == "transpose" and node.ndim == 2:
        a, pa = _infix(node.args[0], names)
        return f"{a if pa == ATOM else f'({a})'}.T", ATOM
    if node.op == "sum":
        return _reduction("sum", node, names), ATOM
    args = [_infix(a, names)[0] for i, a in enumerate(node.args)]
    attrs = "".join(f", {k}={v!r}" for k, v in node.attrs if k not in ("value",))
    return f"{node.op}({', '.join(args)}{attrs})", ATOM


def _reduction(what, node, names):
    """``sum(x)``, ``mean(x, axis=1)``: numpy's spelling of a reduction."""
    x = node.args[0]
    axes, keep = node.attr("axes"), node.attr("keepdims")
    text = _infix(x, names)[0]
    if tuple(axes) != tuple(range(x.ndim)):
        text += f", axis={axes[0] if len(axes) == 1 else axes}"
    return f"{what}({text}{', keepdims=True' if keep else ''})"


def format_expr(node, depth=2):
    """The short ``repr`` of a node: its op and a couple of levels of arguments."""
    if node.op == "var":
        return node.name if not node.shape else f"{node.name}{show(node.shape)}"
    if node.op == "const":
        v = node.value
        return repr(v.item()) if v.ndim == 0 else f"const{show(node.shape)}"
    if depth == 0:
        return f"{node.op}(...)"
    args = ", ".join(format_expr(a, depth - 1) for a in node.args)
    attrs = "".join(f", {k}={v!r}" for k, v in node.attrs)
    return f"{node.op}({args}{attrs})"
