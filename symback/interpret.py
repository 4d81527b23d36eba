"""The numpy reference interpreter: every compiled kernel is tested against it."""
from __future__ import annotations

import numpy as np

from .ir import Node, topo_order
from .ops.registry import OPS


def evaluate(outputs, env):
    """Values of ``outputs`` (a node or a list) given ``env``: var node or name -> value."""
    single = isinstance(outputs, Node)
    outputs = [outputs] if single else list(outputs)
    by_name = {k: v for k, v in env.items() if isinstance(k, str)}
    values = {}
    for node in topo_order(outputs):
        if node.op == "var":
            if node in env:
                value = env[node]
            elif node.name in by_name:
                value = by_name[node.name]
            else:
                raise KeyError(f"evaluate: no value for variable {node.name!r}")
            value = np.asarray(value, dtype=node.dtype)
            if value.ndim != node.ndim or any(d is not None and d != s for d, s in zip(node.shape, value.shape)):
                raise ValueError(f"evaluate: variable {node.name!r} expects shape {node.shape}, got {value.shape}")
            values[id(node)] = value
            continue
        args = [values[id(a)] for a in node.args]
        with np.errstate(all="ignore"):
            out = OPS[node.op].eval(args, dict(node.attrs))
        values[id(node)] = np.asarray(out).astype(node.dtype, copy=False)
    result = [values[id(o)] for o in outputs]
    return result[0] if single else result
