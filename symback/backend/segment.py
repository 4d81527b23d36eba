"""Segmentation: a long straight-line kernel becomes a chain of bounded njit functions.

Numba's compile time grows faster than the size of a function: measured on
random non-repeating scalar programs (benchmarks/huge_graph.py, numba 0.68),
doubling a kernel from 2,900 to 5,600 lines made its compile 2.7x slower, most of
the excess in ``reconstruct_ssa`` and ``inline_closure_likes`` (4x each), so a
100,000-node model could never compile.  Compiling a function of bounded size
costs a bounded time, so a kernel body above :data:`SEGMENT_LINES` lines is cut,
between top-level statements, into parts of about that many lines, each its own
``@numba.njit`` function (``_value_and_grad_1``, ``_value_and_grad_2``, ...), and
the kernel's function calls them in order.  Small kernels stay one flat function.

Each part takes, as arguments, the values it reads that earlier code made
(the kernel's parameters included), and returns the values that later code
reads; the kernel's function holds those between calls, under the names of the
flat kernel.  Only values that cross a cut are passed, so the calls add work
in proportion to the program, not to its square.  (A float64 array holding the
crossing scalars was tried too: Numba compiles an indexed load or store about
twice as slowly as an argument, so it lost.)

The split works on the emitted text, so that it needs nothing from the emitter
but the lines of the body: the reads and writes of a statement are found by
name (generated code assigns each value's name once, and each loop's locals
are its own).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..names import GLOBALS
from .nest import AGAIN

#: Kernel bodies longer than this (in lines of code) are split: below it one
#: flat function compiles about as fast, and reads better.
SEGMENT_ABOVE = 3000

#: The size of a part, in lines of code.  Numba's time per line is flat up to a
#: few hundred lines (150 and 400 measured alike) and grows beyond.
SEGMENT_LINES = 400

# an identifier not after a word character or a dot (``math.exp``'s ``exp`` is no
# value, nor ``e3`` in ``1.5e3``); written as a word boundary and a one-character
# lookbehind, which matches the same and runs about a quarter faster than ``(?<![\w.])``
_IDENT = re.compile(r"\b(?<!\.)[A-Za-z_]\w*")
_TARGET = re.compile(r"\s*(?:for\s+(\w+)\s+in\b|([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*\s*,?)\s*([+\-*/]?)=(?!=))")
# keywords (``elsewhere = 1`` starts a statement), and a loop nest's run again with libm,
# which rewrites the nest's values: it stays in the nest's part
_CONTINUES = re.compile(r"(?:else|elif|except|finally)\b|if .*" + re.escape(AGAIN))


def _code(line):
    """``line`` without its comment (generated code has no '#' in strings
    except in error messages, which are left whole)."""
    if "#" in line and "'" not in line and '"' not in line:
        line = line[:line.index("#")]
    return line


def _code_lines(lines):
    """How many of ``lines`` hold code (not blank, not only a comment); one
    expression, no call per line: a big kernel counts its 100,000s of lines
    twice (the body, then each statement)."""
    return sum(1 for line in lines if line.lstrip()[:1] not in ("", "#"))


def _statements(body):
    """The top-level statements of ``body``: lists of lines, a comment or
    blank line going with the statement after it."""
    out, current, has_code = [], [], False
    for line in body:
        first = line[:1]
        if first == " " or first == "\t":   # inside the current statement
            current.append(line)
            has_code = has_code or not line.lstrip().startswith("#")
            continue
        code = first not in ("", "#")
        if has_code and not (code and _CONTINUES.match(line)):
            out.append(current)
            current, has_code = [], False
        current.append(line)
        has_code = has_code or code
    if current:
        out.append(current)
    return out


def _reads_writes(lines, values):
    """The names of ``values`` that ``lines`` read before writing them, and the
    names they write (adding those to ``values``), in order of appearance."""
    reads, writes = {}, {}
    target, identifiers = _TARGET.match, _IDENT.findall   # (a big kernel has 100,000s of lines)
    for line in lines:
        if "#" in line:
            line = _code(line)
        head, eq, tail = line.partition(" = ")
        if eq and head.isascii() and head.isidentifier() and tail[:1] != "=":   # ``name = expr``: most lines
            for name in identifiers(tail):
                if name in values and name not in reads and name not in writes:
                    reads[name] = None
            writes[head] = None
            values.add(head)
            continue
        if not line or line.isspace():
            continue
        m = target(line)
        if m is None:
            targets, augmented, rest = (), False, line
        else:
            loop_index, names, op = m.groups()
            targets = (loop_index,) if loop_index else [t.strip() for t in names.split(",") if t.strip()]
            augmented = bool(op)
            rest = line if augmented else line[m.end():]
        for name in identifiers(rest):
            if name in values and name not in reads and name not in writes:
                reads[name] = None
        for name in targets:
            if augmented and name in values and name not in writes:
                reads[name] = None
            writes[name] = None
            values.add(name)
    return list(reads), list(writes)


@dataclass
class Analysis:
    """What :func:`split` found in the last body it cut: its parameters, its
    chunks of statements and their reads and writes.  A module's next function
    reuses the reads and writes of the chunks it starts with, when they are the
    same lines: ``value_and_grad`` starts with the statements of ``forward``
    (see ``FunctionEmitter._resume``), and finding the names a line reads is
    most of the time of cutting a big body."""
    params: list = None
    chunks: list = field(default_factory=list)
    io: list = field(default_factory=list)


def split(name, params, body, decorator, last=None):
    """Cut the body of the njit function ``name``, if it is longer than
    :data:`SEGMENT_ABOVE` lines, into parts of about :data:`SEGMENT_LINES`.

    ``params``: the function's parameter names; ``body``: its lines (unindented,
    the last statement its ``return``); ``decorator(parallel)``: the njit
    decorator line; ``last``: an :class:`Analysis` to reuse and then update.  Returns ``None`` when the body stays flat, else
    ``(body, parts)``: the new body and the source lines of the part
    functions, to be placed before the kernel's function in the module.
    """
    limit = SEGMENT_LINES
    statements = _statements(body)
    size = _code_lines(body)
    if size <= SEGMENT_ABOVE or len(statements) < 3 or not statements[-1][-1].startswith("return"):
        return None
    *statements, ret = statements

    # cut between statements, about ``limit`` lines of code per part
    chunks, current, lines = [], [], 0
    for st in statements:
        current.append(st)
        lines += _code_lines(st) if len(st) > 1 else st[0].lstrip()[:1] not in ("", "#")
        if lines >= limit:
            chunks.append(current)
            current, lines = [], 0
    if current:
        chunks.append(current)
    if len(chunks) < 2:
        return None

    values = set(params) - GLOBALS
    io = []
    same = last is not None and last.params == params   # so far, the last body's chunks
    for k, chunk in enumerate(chunks):
        same = same and k < len(last.chunks) and last.chunks[k] == chunk
        if same:   # the same reads and writes, after the same names
            io.append(last.io[k])
            values.update(last.io[k][1])
        else:
            io.append(_reads_writes([line for st in chunk for line in st], values))
    if last is not None:
        last.params, last.chunks, last.io = list(params), chunks, io
    ret_reads, _ = _reads_writes(ret, set(values))

    # liveness, backwards: what each part must hand on
    needed, outs = set(ret_reads), [None] * len(chunks)
    for k in range(len(chunks) - 1, -1, -1):
        reads, writes = io[k]
        outs[k] = [w for w in writes if w in needed]
        needed.difference_update(writes)   # in place: the live set may be large
        needed.update(reads)

    param_set = set(params)
    parts, main = [], []
    for k, (chunk, (reads, writes)) in enumerate(zip(chunks, io)):
        fname = f"{name}_{k + 1}"
        read = set(reads)
        args = [p for p in params if p in read] + [r for r in reads if r not in param_set]
        returned = outs[k]
        text = [f"# part {k + 1} of {len(chunks)} of {name}"]
        text += [line for st in chunk for line in st]
        if returned:
            text.append(f"return {', '.join(returned)}{',' if len(returned) == 1 else ''}")
        parallel = "numba.prange" in "\n".join(text)   # (one search, not one per line)
        parts += ["", "", decorator(parallel), f"def {fname}({', '.join(args)}):"]
        parts += [("    " + line) if line else "" for line in text]
        call = f"{fname}({', '.join(args)})"
        main.append(f"{', '.join(returned)}{',' if len(returned) == 1 else ''} = {call}" if returned else call)
    return main + ret, parts[2:]
