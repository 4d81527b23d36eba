"""The names a generated module reserves for itself, defined once.

A variable's name becomes a parameter of the kernel and of its checking
wrapper, so a user's ``math``, ``max``, ``range`` or ``out`` would hide the module,
builtin or local that generated code means by that name (before this module
existed, a variable called ``math`` gave a Numba TypingError).  Users do name
variables ``sum``, ``max`` or ``range``, so instead of refusing these names the
emitter renames such a variable *inside* the generated functions (``max`` ->
``max_``) while the public wrapper keeps the user's name as its parameter, so
that keyword calls and error messages use the names the user chose.

Only names starting with ``_`` are refused outright (:func:`check_var_name`):
they are the module's own helpers (``_scalar``, ``_array``, ``_matmul``, ``_loop0``,
``_C0``, ``_forward``, ...), so no user name can ever collide with one.

``var()``, the Numba emitter, the scheduler (run-time sizes are read from the
renamed parameters) and the loop-index and lecture-letter pickers all use
the sets and the function below.
"""
from __future__ import annotations

import itertools
import keyword
import string

#: The modules a generated module imports, under these names.
MODULES = frozenset({"math", "sys", "numba", "np"})

#: Python builtins, spelled out (not ``dir(builtins)``) so that the generated
#: text does not depend on the Python version.  Generated code uses some of them
#: (``range``, ``max``, ``min``, ``abs``, ``float``, ``int``, ``len``, ``type``,
#: ``ValueError``, ...); all are reserved so that a new lowering rule may use any.
BUILTINS = frozenset("""
    abs aiter all anext any ascii bin bool breakpoint bytearray bytes callable chr
    classmethod compile complex delattr dict dir divmod enumerate eval exec filter float
    format frozenset getattr globals hasattr hash help hex id input int isinstance
    issubclass iter len list locals map max memoryview min next object oct open ord pow
    print property range repr reversed round set setattr slice sorted staticmethod str sum
    super tuple type vars zip
    ArithmeticError AssertionError AttributeError Exception FloatingPointError IndexError
    KeyError NotImplementedError OSError OverflowError RuntimeError StopIteration TypeError
    ValueError ZeroDivisionError Ellipsis NotImplemented
""".split())

#: Keyword-argument names generated code writes (``np.zeros(..., dtype=...)``):
#: reserved too, so that no local of generated code is spelled like one.
KEYWORD_ARGUMENTS = frozenset({"dtype"})

#: Names generated functions refer to without defining them.
GLOBALS = MODULES | BUILTINS | KEYWORD_ARGUMENTS

#: Locals of the wrapper (``out = _forward(...)``, ``parallel = n >= ...``).
WRAPPER_LOCALS = frozenset({"out", "parallel"})

#: A variable with one of these names is renamed inside generated functions.
RESERVED = GLOBALS | WRAPPER_LOCALS


def check_var_name(name):
    """Raise ``ValueError`` unless ``name`` can name a variable."""
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"var: name {name!r} must be a Python identifier that is not a keyword")
    if name.startswith("_"):
        raise ValueError(f"var: name {name!r} starts with '_', which generated code reserves for "
                         "its own helpers (_scalar, _array, _matmul, _loop0, _C0, ...)")


def local_names(names):
    """The name each variable of ``names`` (distinct strings) has inside
    generated functions: its own, or for a :data:`RESERVED` name the name with
    ``_`` appended until it is free (``max`` -> ``max_``, or ``max__`` when the
    model also has a variable ``max_``).  Deterministic: depends on ``names`` only."""
    taken = set(names) | RESERVED
    out = {}
    for name in names:
        local = name
        if name in RESERVED:
            while local in taken:
                local += "_"
            taken.add(local)
        out[name] = local
    return out


def letters(taken, skip=(), after=None):
    """Lecture-style names, ``a, b, ..., z, aa, ab, ...``, skipping those in
    ``taken`` (a set the caller may keep adding to), in ``skip``, and ``g`` and
    ``y``, which stand for adjoints and the output; ``after``: start after this
    name of the sequence (to go on where another picker stopped)."""
    skip = {"g", "y"} | set(skip)
    start = () if after is None else tuple(after)
    for n in itertools.count(len(start) or 1):
        combos = itertools.product(string.ascii_lowercase, repeat=n)
        if n == len(start):   # (the sequence is in lexicographic order within a length)
            combos = itertools.dropwhile(start.__ge__, combos)
        for combo in combos:
            name = "".join(combo)
            if name not in taken and name not in skip and not keyword.iskeyword(name):
                yield name
