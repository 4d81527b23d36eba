"""The computation graph as Graphviz DOT, drawn the way the lecture draws it.

One rectangle per input, output and intermediate: the function inside the box,
the variable's name outside it (``xlabel``); edges directed, unlabelled, and
arguments ordered left to right.  ``grad=True`` draws the graph of the value
together with its gradient (the adjoint graph, sharing the forward nodes).
"""
from __future__ import annotations

from . import ir
from . import autodiff
from .explain import lecture_names
from .ops.registry import as_node
from .printing import BINARY, format_value

SYMBOLS = {"neg": "-", **{k: v[0] for k, v in BINARY.items()}}


def _label(node):
    if node.op == "var":
        return node.name
    if node.op == "const":
        return format_value(node.value, 6) if node.value.ndim == 0 else f"const{node.shape}"
    return SYMBOLS.get(node.op, node.op)


def to_dot(expr, grad=False, wrt=None, name="symback"):
    """DOT text for ``expr`` (a node or list); with ``grad`` also its gradient
    with respect to ``wrt`` (default: every float variable)."""
    outputs = [as_node(expr)] if isinstance(expr, ir.Node) else [as_node(e) for e in expr]
    labels = {}
    if grad:
        y = outputs[0]
        wrt = list(wrt) if wrt is not None else [v for v in ir.variables([y]) if v.dtype in ir.FLOAT_DTYPES]
        gs = autodiff.grad(y, wrt)
        for w, g in zip(wrt, gs):
            labels[id(g)] = f"g_{w.name}"
        outputs = outputs + gs
    order = ir.topo_order(outputs)
    index = {id(n): f"n{i}" for i, n in enumerate(order)}
    names = lecture_names(order, outputs[0], labels)
    out_ids = {id(o) for o in outputs}
    lines = [f"digraph {name} {{", "  rankdir=BT;", "  ordering=in;",
             '  node [shape=box, fontname="Helvetica"];', "  edge [arrowsize=0.7];"]
    for n in order:
        attrs = [f'label="{_label(n)}"']
        if n.op not in ("var", "const"):
            attrs.append(f'xlabel="{names[id(n)]}"')
        if id(n) in out_ids:
            attrs.append("peripheries=2")
        lines.append(f"  {index[id(n)]} [{', '.join(attrs)}];")
    for n in order:
        for a in n.args:
            lines.append(f"  {index[id(a)]} -> {index[id(n)]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(dot_text, path):
    """Render DOT to ``path`` (.svg or .png) with the optional ``graphviz``
    package and the ``dot`` program; returns the path, or ``None`` (with the
    DOT text written beside it as .dot) when they are not installed."""
    import pathlib
    import shutil
    path = pathlib.Path(path)
    fmt = path.suffix.lstrip(".") or "svg"
    try:
        import graphviz  # optional extra
    except ImportError:
        graphviz = None
    if graphviz is None or shutil.which("dot") is None:
        path.with_suffix(".dot").write_text(dot_text)
        return None
    graphviz.Source(dot_text).render(outfile=str(path), format=fmt, cleanup=True)
    return path
