"""Loop outlining: big kernels call one small njit function per distinct loop.

Numba's compile time grows faster than linearly with the size of a function
(measured: 25 fused loops in one function take 1.8 s, 100 take 8.6 s, 200 take
29 s).  Deep networks repeat the same loop nest layer after layer, so when a
kernel has many loops each :class:`~symback.backend.nest.LoopNest` is lifted
into a :class:`Helper` rendered with canonical names (inputs ``a0, a1, ...``,
outputs ``o0, ...``, locals ``v0, ...``, each numbered in order of first
appearance).  Identical nests share one helper, compiled once, and the kernel
body becomes a short sequence of calls.  Small kernels stay one flat
function, for reading.  The nest knows its names, so nothing is re-parsed.
"""
from __future__ import annotations

from dataclasses import dataclass

#: Kernels with more loop nests than this are outlined.
OUTLINE_LOOPS = 12


@dataclass
class Helper:
    """A shared njit function of the module: ``name(params)`` running ``body``."""
    name: str
    params: list
    body: list
    parallel: bool = False

    def source(self, flags):
        lines = [f"@numba.njit({flags}{', parallel=True' if self.parallel else ''})",
                 f"def {self.name}({', '.join(self.params)}):"]
        return lines + ["    " + line for line in self.body]


def outline(nest, helpers, printer=None):
    """The call that replaces ``nest`` in the kernel body, adding to ``helpers``
    (canonical body text -> :class:`Helper`) the helper it calls if new."""
    (inputs, locals_), outputs = nest.interface(), list(nest.outputs)
    rename = {n: f"a{i}" for i, n in enumerate(inputs)}
    rename.update({n: f"o{i}" for i, n in enumerate(outputs)})
    rename.update({n: f"v{i}" for i, n in enumerate(locals_)})
    body = nest.render(rename.__getitem__, printer)
    ret = ", ".join(rename[o] for o in outputs)
    body.append(f"return {ret}{',' if len(outputs) == 1 else ''}")
    text = "\n".join(body)
    helper = helpers.get(text)
    if helper is None:
        helper = helpers[text] = Helper(f"_loop{len(helpers)}", [rename[n] for n in inputs], body, nest.parallel)
    targets = ", ".join(outputs) + ("," if len(outputs) == 1 else "")
    return [f"{targets} = {helper.name}({', '.join(inputs)})"]
