"""Pausing Python's cyclic garbage collector while a pass builds a big graph.

Differentiating, rerolling and emitting a kernel allocate millions of small
container objects (nodes, tuples, dicts, lists of lines) and free almost none
until the pass returns.  The cyclic collector runs every few hundred
allocations and, as the surviving objects pile up, rescans them over and over:
measured on a 100,000-node program (benchmarks/huge_graph.py), a quarter of the
compile's CPU time went to collections that found nothing to free.  The passes
make no reference cycles of their own (nodes only point to their arguments),
so the collector is paused for their duration and resumes, where it was
enabled, when the outermost pass returns; reference counting frees memory as
usual meanwhile.
"""
from __future__ import annotations

import functools
import gc
import threading

_lock = threading.Lock()
_depth = 0          # passes running (in any thread) while the collector is paused
_resume = False     # whether the collector was enabled when the first one began


def paused(fn):
    """Decorate ``fn`` so that the cyclic collector does not run during it."""
    @functools.wraps(fn)
    def run(*args, **kwargs):
        global _depth, _resume
        with _lock:
            if _depth == 0:
                _resume = gc.isenabled()
                gc.disable()
            _depth += 1
        try:
            return fn(*args, **kwargs)
        finally:
            with _lock:
                _depth -= 1
                if _depth == 0 and _resume:
                    gc.enable()
    return run
