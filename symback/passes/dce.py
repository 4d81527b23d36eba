"""Dead-code elimination: only what the outputs need is scheduled and emitted.

Graphs are immutable and nodes only reference their arguments, so the live set
of a kernel is exactly what a walk from its outputs reaches; the scheduler
starts from that walk.  Within a kernel, liveness of *values* is decided by the
scheduler: a fused loop stores an intermediate to memory only when something
outside the loop reads it, which is how the forward values that the backward
pass needs are kept and the rest are not.
"""
from __future__ import annotations

from ..ir import Node, topo_order


def live_nodes(outputs, stop=frozenset(), walked=()):
    """Every node the outputs depend on, arguments first; the arguments of the
    nodes in ``stop`` (ids of values computed elsewhere) are not visited;
    ``walked``: see :func:`~symback.ir.topo_order`."""
    return topo_order([outputs] if isinstance(outputs, Node) else list(outputs), stop, walked)
