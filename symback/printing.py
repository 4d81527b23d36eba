"""Short human-readable text for nodes (``repr``)."""
from __future__ import annotations

from .shapes import show


def format_expr(node, depth=2):
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
