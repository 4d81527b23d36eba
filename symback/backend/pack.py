"""Packing in the wrapper: stacks of arguments and slices of results move to Python.

A loop over layers reads its parameters stacked (``sb.stack([W1, ..., W50])``)
and returns their gradients stacked, sliced per parameter.  Written inside the
``njit`` function, that is per-parameter code, which is what makes Numba's
compile time grow with depth (measured: stacking 50 arrays there takes 17 s to
compile, assigning them one by one 9 s).  In the Python wrapper it costs
microseconds at run time and nothing at compile time, so:

* a ``stack`` whose arguments are all inputs of the entry point becomes a new
  input of the compiled function, computed by the wrapper with ``np.stack``;
* an output that is a basic-indexing slice of a computed array is returned
  whole by the compiled function and sliced (and copied) by the wrapper.

The kernel's signature and results stay the user's.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..ir import intern, topo_order
from .lowering import key_src


@dataclass
class Packing:
    stacks: list = field(default_factory=list)   # (packed var, [input vars], axis)
    results: list = field(default_factory=list)  # per user output: (raw index, key source or None)
    inputs: list = field(default_factory=list)   # the compiled function's parameters


def pack(entry, order=None):
    """(the entry the compiled function implements, the wrapper's Packing);
    ``order``: ``topo_order(entry.outputs)``, if the caller has it."""
    inputs = {id(v) for v in entry.inputs}
    sub, packing = {}, Packing()
    for node in topo_order(entry.outputs) if order is None else order:
        if node.op == "stack" and len(node.args) > 1 and all(id(a) in inputs for a in node.args) \
                and all(isinstance(d, int) for d in node.shape):
            # named by position, so that the module text is deterministic
            var = intern("var", (), {"name": f"_stack{len(packing.stacks)}"}, node.shape, node.dtype)
            sub[id(node)] = var
            packing.stacks.append((var, list(node.args), node.attr("axis") % node.ndim))
    if sub:
        from ..ops.control import substitute
        outputs = substitute(entry.outputs, sub)
    else:
        outputs = list(entry.outputs)
    raw, names, where, rows = [], [], {}, {}
    for out, name in zip(outputs, entry.output_names):
        if out.op == "index" and out.shape and out.args[0].op not in ("var", "const"):
            whole = out.args[0]
            if id(whole) not in where:
                where[id(whole)] = len(raw)
                raw.append(whole)
                names.append(None)
            packing.results.append((where[id(whole)], key_src(out.attr("key"))))
            rows.setdefault(id(whole), []).append(out.attr("key")[0])
        else:
            packing.results.append((len(raw), None))
            raw.append(out)
            names.append(name)
    # slices of an array the loop has just written, one row each, share nothing:
    # they need no copy; anything else (a view of an input...) is copied
    packing.copy = []
    for (i, key), out in zip(packing.results, outputs):
        whole = raw[i]
        keys = rows.get(id(whole), ())
        fresh = (whole.op == "scan_get" and whole.attr("key")[0] == "stack"
                 and all(k[0] == "i" for k in keys) and len(set(keys)) == len(keys))
        packing.copy.append(key is not None and not fresh)
    if not packing.stacks and all(key is None for _, key in packing.results):
        return entry, None
    # the compiled function takes only what it reads: the stacked parameters
    # are not passed one by one as well (each argument costs Numba compile time)
    used = {id(n) for n in topo_order(raw)}
    packing.inputs = [v for v in entry.inputs if id(v) in used] + [v for v, _, _ in packing.stacks]
    inner = replace(entry, inputs=packing.inputs, outputs=raw, output_names=names, structure=None)
    return inner, packing
