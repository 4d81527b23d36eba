"""Change a model's floating-point precision: every float variable, constant and
cast becomes ``dtype``, and the graph is rebuilt through ``apply`` so that
shapes, dtypes and simplifications are re-derived (a float32 model then stays
float32 end to end)."""
from __future__ import annotations

from .. import ir
from ..ops.registry import apply

FLOAT_ATTRS = ("dtype",)


def cast(outputs, dtype):
    """``outputs`` (a node or list) recomputed in ``dtype`` ('float32' or 'float64');
    returns the new outputs and a dict old var -> new var."""
    if dtype not in ir.FLOAT_DTYPES:
        raise ValueError(f"cast: dtype must be one of {', '.join(ir.FLOAT_DTYPES)}, got {dtype!r}")
    single = isinstance(outputs, ir.Node)
    outputs = [outputs] if single else list(outputs)
    new, variables = {}, {}
    for node in ir.topo_order(outputs):
        if node.op == "var":
            out = ir.var(node.name, node.shape, dtype) if node.dtype in ir.FLOAT_DTYPES else node
            variables[node] = out
        elif node.op == "const":
            out = ir.const(node.value, dtype) if node.dtype in ir.FLOAT_DTYPES else node
        else:
            attrs = dict(node.attrs)
            for key in FLOAT_ATTRS:
                if attrs.get(key) in ir.FLOAT_DTYPES:
                    attrs[key] = dtype
            out = apply(node.op, *[new[id(a)] for a in node.args], **attrs)
        new[id(node)] = out
    result = [new[id(o)] for o in outputs]
    return (result[0] if single else result), variables
