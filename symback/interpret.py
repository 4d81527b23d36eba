"""The numpy reference interpreter: every compiled kernel is tested against it."""
from __future__ import annotations

import numpy as np

from .errors import InputError
from .ir import TUPLE, Node, topo_order
from .ops.registry import OPS


def point(at, variables, what):
    """``at`` (a dict keyed by variable nodes or by their names) as a dict
    name -> numpy value, for the ``variables`` of a model.

    Both keys are accepted because users hold both: the nodes they built
    (``at={x: 2.0}``) and names (``at={"x": 2.0}``, a model file's point).  A key
    that is neither a variable of the model nor its name, a variable given
    twice, or a value of the wrong shape raises :class:`InputError` naming it.
    """
    if at is None:
        return {}
    if not isinstance(at, dict):
        raise InputError(f"{what}: expected a dict of variable (or name) -> value, got {type(at).__name__}")
    by_name = {v.name: v for v in variables}
    out = {}
    for key, value in at.items():
        name = key.name if isinstance(key, Node) and key.op == "var" else key
        v = by_name.get(name) if isinstance(name, str) else None
        if v is None or (isinstance(key, Node) and key is not v):
            known = ", ".join(by_name) or "none"
            raise InputError(f"{what}: {key!r} is not a variable of the model nor its name "
                             f"(variables: {known})")
        if name in out:
            raise InputError(f"{what}: variable {name!r} is given twice (as a node and as a name)")
        try:
            array = np.asarray(value, dtype=v.dtype)
        except (TypeError, ValueError) as e:
            raise InputError(f"{what}: the value of {name!r} is not a {v.dtype} array: {e}") from None
        if array.ndim != v.ndim or any(d is not None and d != s for d, s in zip(v.shape, array.shape)):
            raise InputError(f"{what}: {name!r} has shape {v.shape}, got a value of shape {array.shape}")
        out[name] = array if array.ndim else (array.item() if v.dtype != "float32" else array[()])
    return out


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
        values[id(node)] = out if node.dtype == TUPLE else np.asarray(out).astype(node.dtype, copy=False)
    result = [values[id(o)] for o in outputs]
    return result[0] if single else result
