"""A fused loop nest as an object, rendered to source only at the end.

The emitter builds one :class:`LoopNest` per ``Loop`` step of a schedule: the
arrays and scalars it sets up (``inits``), the loops (one index and one size
per axis, ``"0"`` for an axis of static size 1, which is no loop), and the
statements of the innermost body, whose right-hand sides are printer trees
(:mod:`symback.backend.printer`).  Because every name it uses is held as a
name, not as text, the nest knows its ``inputs`` (read, never written), its
``outputs`` (what the rest of the kernel reads) and its ``locals`` -- which is
all that outlining (:mod:`symback.backend.outline`) needs to lift it into a
helper function with canonical names.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import vecmath
from .printer import Printer, empty, is_number


@dataclass
class Init:
    """Before the loops: ``name = _empty(dims)`` (``kind`` ``empty``, or
    ``zeros``: then also ``name[...] = 0``), or ``name = value`` (``kind``
    ``value``: a printer tree; ``zero``: then set to 0 too).

    Zeros are written as an empty array set to 0, not as ``np.zeros``: Numba
    compiles ``np.zeros`` as a function of its own per rank and dtype (0.15 s
    each on first call), where ``_empty`` is needed anyway and ``[...] = 0``
    costs next to nothing."""
    name: str
    kind: str
    dims: tuple = ()
    dtype: str = ""
    value: object = None
    zero: bool = False


def zero(dtype):
    """0 as source, for filling an array of ``dtype``."""
    return "False" if dtype == "bool" else "0" if dtype == "int64" else "0.0"


@dataclass
class Assign:
    """``target = value`` in the body (a scalar local)."""
    target: str
    value: object


@dataclass
class Store:
    """``array[index] = value`` (``op="="``) or ``array[index] += value``
    (``op="+="``); an empty ``index`` is a scalar accumulator."""
    array: str
    index: tuple
    value: object
    op: str = "="


@dataclass
class Fallback:
    """The nest runs again, computing ``functions`` with libm, when ``flag``
    (an integer the nest sets to 0 and adds 1 to for each argument its helpers
    cannot take, see vecmath.RANGE_LIMITED) is not 0 after the loops.  The run
    again is rare: plain libm and serial, the cheapest code for Numba to compile."""
    flag: str
    functions: frozenset


#: the comment on the line that runs a nest again (segment.py keeps it with the nest)
AGAIN = "# again, with libm:"


@dataclass
class LoopNest:
    indices: list            # per axis: an index name, or "0" for no loop
    sizes: list              # per axis: a size (literal or name)
    outputs: list            # names the rest of the kernel reads
    parallel: bool = False   # the outermost loop is a prange
    inits: list = field(default_factory=list)
    body: list = field(default_factory=list)
    fallback: Fallback | None = None

    def render(self, env=None, printer=None):
        """The nest's lines, every name written through ``env``."""
        p = printer or Printer()
        outer_env = p.env
        if env is not None:
            p.env = env
        try:
            return self._render(p)
        finally:
            p.env = outer_env

    def _render(self, p):
        lines = self._render_once(p)
        fb = self.fallback
        if fb is None:
            return lines
        names = "/".join(sorted(vecmath.RANGE_LIMITED, reverse=True))
        lines.append(f"if {p.name(fb.flag)} != 0:   {AGAIN} an argument of {names} was too large or not finite")
        outer, p.libm = p.libm, p.libm | fb.functions
        try:
            return lines + ["    " + line for line in self._render_once(p, again=True)]
        finally:
            p.libm = outer

    def _render_once(self, p, again=False):
        """The inits and the loops; ``again``: without the fallback's flag, and
        serial (a rare path: a second prange costs Numba a parallel region to compile)."""
        skip = self.fallback.flag if again else None
        lines = []
        for init in self.inits:
            if init.name == skip:
                continue
            target = p.name(init.name)   # (names are met in the order they are written)
            if init.kind == "value":
                lines.append(f"{target} = {p.doprint(init.value)}")
            else:
                shape = "(" + ", ".join(p.name(str(d)) for d in init.dims) + ("," if len(init.dims) == 1 else "") + ")"
                lines.append(f"{target} = {empty(shape, init.dtype)}")
            if init.zero or init.kind == "zeros":
                lines.append(f"{target}[...] = {zero(init.dtype)}")
        indent = ""
        outer = "numba.prange" if self.parallel and not again else "range"
        for i, d in zip(self.indices, self.sizes):
            if i == "0":
                continue
            lines.append(f"{indent}for {p.name(i)} in {outer}({p.name(str(d))}):")
            outer, indent = "range", indent + "    "
        for st in self.body:
            if isinstance(st, Store) and st.array == skip:
                continue
            if isinstance(st, Assign):
                lines.append(f"{indent}{p.name(st.target)} = {p.doprint(st.value)}")
            elif st.index:
                target = f"{p.name(st.array)}[{', '.join(p.name(i) for i in st.index)}]"
                lines.append(f"{indent}{target} {st.op} {p.doprint(st.value)}")
            else:
                lines.append(f"{indent}{p.name(st.array)} {st.op} {p.doprint(st.value)}")
        return lines

    def names(self):
        """Every name the nest writes or reads, in order of first appearance."""
        seen = []

        def record(name):
            if name not in seen:
                seen.append(name)
            return name
        self.render(record)
        return seen

    def assigned(self):
        out = {i.name for i in self.inits} | {i for i in self.indices if not is_number(i)}
        for st in self.body:
            out.add(st.target if isinstance(st, Assign) else st.array)
        return out

    def interface(self):
        """``(inputs, locals)``: the names the nest reads but never writes
        (arrays, scalars, sizes), and those it writes that nothing outside
        reads (loop indices, scalars), each in order of first appearance."""
        names, written, outputs = self.names(), self.assigned(), set(self.outputs)
        return ([n for n in names if n not in written],
                [n for n in names if n in written and n not in outputs])

    @property
    def inputs(self):
        return self.interface()[0]

    @property
    def locals(self):
        return self.interface()[1]
