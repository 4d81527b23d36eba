"""Loop outlining: big kernels call one small njit function per distinct loop.

Numba's compile time grows faster than linearly with the size of a function
(measured: 25 fused loops in one function take 1.8 s, 100 take 8.6 s, 200 take
29 s).  Deep networks repeat the same loop nest layer after layer, so when a
kernel has many loops each loop nest is lifted into a helper whose text is
canonical (inputs ``a0, a1, ...``, outputs ``o0, ...``, locals ``v0, ...``).
Identical nests share one helper, compiled once, and the kernel body becomes a
short sequence of calls.  Small kernels stay one flat function, for reading.
"""
from __future__ import annotations

import keyword
import re

from ..names import GLOBALS

#: Kernels with more loop nests than this are outlined.
OUTLINE_LOOPS = 12

_IDENT = re.compile(r"(?<![\w.])([A-Za-z_]\w*)")
# names that are never a loop's inputs: modules, builtins and keyword arguments
# (a variable with one of these names has another name inside the kernel)
_BUILTINS = GLOBALS


def _assigned(line):
    m = re.match(r"\s*(?:for\s+(\w+)\s+in|(\w+)\s*(?:\[[^\]]*\])?\s*[+\-*/]?=)", line)
    return (m.group(1) or m.group(2)) if m else None


def outline(lines, outputs, helpers):
    """Replace a loop step's ``lines`` by a call of a (shared) helper.

    ``outputs`` are the names the rest of the kernel reads; ``helpers`` maps
    canonical helper text -> name and collects new helpers.  Returns the lines
    that replace the loop in the kernel body.
    """
    assigned = {a for a in (_assigned(line) for line in lines) if a}
    used = []
    for line in lines:
        for name in _IDENT.findall(line):
            if name not in used:
                used.append(name)
    inputs = [n for n in used if n not in assigned and n not in _BUILTINS
              and not keyword.iskeyword(n)]
    locals_ = [n for n in used if n in assigned and n not in outputs]
    rename = {n: f"a{i}" for i, n in enumerate(inputs)}
    rename.update({n: f"o{i}" for i, n in enumerate(outputs)})
    rename.update({n: f"v{i}" for i, n in enumerate(locals_)})
    body = [_IDENT.sub(lambda m: rename.get(m.group(1), m.group(1)), line) for line in lines]
    ret = ", ".join(rename[o] for o in outputs)
    text = "\n".join(body + [f"return {ret}{',' if len(outputs) == 1 else ''}"])
    name = helpers.get(text)
    if name is None:
        name = f"_loop{len(helpers)}"
        helpers[text] = name
    targets = ", ".join(outputs) + ("," if len(outputs) == 1 else "")
    return [f"{targets} = {name}({', '.join(inputs)})"]


def helper_source(text, name):
    params = sorted({m for m in re.findall(r"\ba\d+\b", text)}, key=lambda s: int(s[1:]))
    from .numba import NJIT_FLAGS
    flags = NJIT_FLAGS + (", parallel=True" if "numba.prange" in text else "")
    lines = [f"@numba.njit({flags})", f"def {name}({', '.join(params)}):"]
    lines += ["    " + line for line in text.splitlines()]
    return lines
