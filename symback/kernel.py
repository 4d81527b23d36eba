"""compile(): IR -> source -> file -> import -> Kernel.

The module is written (atomically) to a file named by a hash of its text and
imported from there, never ``exec``'d from a string: Numba's on-disk cache
only works for file-backed modules, and with a content-addressed name a second
process that builds the same model finds both the module and its machine code.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import tempfile
import threading
from pathlib import Path

from .autodiff import grad
from .backend import blas
from .backend.numba import Entry, emit_module
from .ir import Node, variables
from .ops.registry import as_node
from .passes import reroll as rerolling
from .shapes import show
from .gc_pause import paused


def cache_dir():
    """Where compiled modules live: ``$SYMBACK_CACHE_DIR`` or ``~/.cache/symback``."""
    root = os.environ.get("SYMBACK_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "symback")
    path = Path(root) / "kernels"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_atomic(path, text):
    """Write ``text`` to ``path`` so that no reader ever sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


_IMPORT_LOCK = threading.Lock()   # threads of one process (Dask's threaded scheduler) import once


def _import(path, module_name):
    with _IMPORT_LOCK:
        if module_name in sys.modules:
            return sys.modules[module_name]
        blas.preload()   # Numba's BLAS without ``import scipy.linalg`` (first time only)
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
        return module


def load_source(source, name):
    """Import a generated module from its text: written (atomically, once) into
    :func:`cache_dir` under a name made of ``name`` and a hash of the text, then
    imported by file path, so that Numba's on-disk cache works and a process
    that loads the same text again reuses the machine code.  This is how a Dask
    worker, which is handed only the text, gets the kernel."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    path = cache_dir() / f"{name}_{digest}.py"
    if not path.exists() or path.read_text(encoding="utf-8") != source:
        write_atomic(path, source)
    return _import(path, f"symback_kernels.{name}_{digest}"), path


class Kernel:
    """A compiled model: call it for its main entry point; other entry points
    are attributes (``kernel.forward``); ``source`` is the module's text."""

    def __init__(self, source, entries, main, name):
        self.source = source
        self.name = name
        self.entries = {e.name: e for e in entries}
        self.inputs = [v.name for v in entries[0].inputs]
        self.module, self.path = load_source(source, name)
        self._main = getattr(self.module, main)
        for e in entries:   # plain attributes: ``kernel.value_and_grad`` costs a dict lookup
            if not hasattr(type(self), e.name) and e.name not in self.__dict__:
                self.__dict__[e.name] = getattr(self.module, e.name)

    def __call__(self, *args):
        return self._main(*args)

    def __getattr__(self, item):
        entries = self.__dict__.get("entries", {})
        if item in entries:
            return getattr(self.module, item)
        raise AttributeError(f"Kernel {self.__dict__.get('name')!r} has no entry point {item!r} "
                             f"(it has {', '.join(entries)})")

    def save(self, path):
        """Write the module as a standalone file (atomically)."""
        write_atomic(path, self.source)
        return Path(path)

    def __repr__(self):
        return f"<symback Kernel {self.name!r}: {', '.join(self.entries)}; inputs {', '.join(self.inputs)}>"


def kernel_name(name, default):
    """``name`` (or ``default``) checked to be usable as a module's name."""
    name = name or default
    if not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise ValueError(f"compile: kernel name {name!r} must be a Python identifier")
    return name


def _check_inputs(inputs, outputs, what):
    for v in inputs:
        if not isinstance(v, Node) or v.op != "var":
            raise TypeError(f"{what}: inputs must be variables made with sb.var, got {v!r}")
    if len({id(v) for v in inputs}) != len(inputs):
        raise ValueError(f"{what}: an input is listed twice")


def compile(outputs, inputs=None, name=None, parallel=None, reroll=True, vector_math="auto"):  # noqa: A001
    """A :class:`Kernel` computing ``outputs``; calling it with positional arrays
    for ``inputs`` returns a tuple, one item per output.  ``parallel``: see
    :func:`symback.backend.numba.emit_module` (None: where it pays);
    ``vector_math``: see :func:`symback.backend.numba.vector_functions`.
    ``reroll``: compile long repeated runs of the graph as loops
    (:mod:`symback.passes.reroll`)."""
    single = isinstance(outputs, Node)
    outputs = [as_node(outputs)] if single else [as_node(o) for o in outputs]
    inputs = variables(outputs) if inputs is None else list(inputs)
    if reroll:
        outputs = rerolling.reroll(outputs)
    _check_inputs(inputs, outputs, "compile")
    name = kernel_name(name, "kernel")
    entry = Entry("forward", inputs, outputs, [f"out{i}" if len(outputs) > 1 else "out" for i in range(len(outputs))])
    return Kernel(emit_module([entry], name, parallel=parallel, vector_math=vector_math), [entry], "forward", name)


ENTRY_KINDS = ("forward", "value_and_grad", "jvp", "hvp")


@paused
def gradient_entries(y, wrt, inputs, kinds=("forward", "value_and_grad"), reroll=True):
    """The entry points of a gradient module, all with ``inputs`` first.

    forward(*inputs) -> value; value_and_grad(*inputs) -> (value, (g...));
    jvp(*inputs, t_w...) -> (value, directional derivative along t);
    hvp(*inputs, v_w...) -> (Hv_w...), the Hessian times v, per variable.
    With ``reroll``, long repeated runs of ``y`` (a Python loop of layers or
    steps) are made loops first (:mod:`symback.passes.reroll`).
    """
    if reroll:
        y = rerolling.reroll(as_node(y))
    from .autodiff import hvp, jvp
    from .ir import var
    _check_inputs(inputs, [y], "compile")
    unknown = [k for k in kinds if k not in ENTRY_KINDS]
    if unknown:
        raise ValueError(f"unknown entry point {unknown[0]!r}; choose from {', '.join(ENTRY_KINDS)}")
    entries = []
    for kind in kinds:
        if kind == "forward":
            entries.append(Entry("forward", inputs, [y], ["value"], [0], "the value alone"))
        elif kind == "value_and_grad":
            entries.append(Entry("value_and_grad", inputs, [y] + grad(y, wrt),
                                 ["value"] + [f"g_{w.name}" for w in wrt], [0, len(wrt)],
                                 "(value, (" + ", ".join(f"d value/d {w.name}" for w in wrt) + "))"))
        elif kind == "jvp":
            tangents = [var(f"t_{w.name}", w.shape, w.dtype) for w in wrt]
            (dy,) = jvp([y], dict(zip(wrt, tangents)))
            entries.append(Entry("jvp", inputs + tangents, [y, dy], ["value", "dvalue"], [0, 0],
                                 "(value, sum_w d value/d w . t_w)"))
        else:
            directions = [var(f"v_{w.name}", w.shape, w.dtype) for w in wrt]
            hv = hvp(y, wrt, directions)
            entries.append(Entry("hvp", inputs + directions, hv, [f"hv_{w.name}" for w in wrt],
                                 None, "Hessian times v, one array per variable"))
    return entries


def value_and_grad(y, wrt, inputs=None, name=None, entries=("forward", "value_and_grad"), doc="",
                   parallel=None, reroll=True, vector_math="auto"):
    """A :class:`Kernel` whose call returns ``(value, (g1, g2, ...))``; its
    ``forward`` entry point computes the value alone, with the same arguments
    (``entries`` may add ``jvp`` and ``hvp``).  ``reroll``: compile long
    repeated runs of the model (a Python loop of layers or steps) as loops;
    ``vector_math``: which float64 functions fused loops compute with
    vectorisable helpers (see :func:`symback.backend.numba.vector_functions`)."""
    y = as_node(y)
    single = isinstance(wrt, Node)
    wrt = [wrt] if single else list(wrt)
    if inputs is None:
        rest = [v for v in variables([y]) if all(v is not w for w in wrt)]
        inputs = wrt + rest
    inputs = list(inputs)
    for w in wrt:
        if all(w is not v for v in inputs):
            raise ValueError(f"value_and_grad: {w.name} is differentiated but not among the inputs")
    if y.shape != ():
        raise ValueError(f"value_and_grad: the output must be a scalar, got shape {show(y.shape)}")
    name = kernel_name(name, "model")
    built = gradient_entries(y, wrt, inputs, entries, reroll)
    main = "value_and_grad" if "value_and_grad" in entries else built[0].name
    return Kernel(emit_module(built, name, doc, parallel, vector_math), built, main, name)


def compile_model(model, entries=("forward", "value_and_grad")):
    """The kernel of a :class:`~symback.model.Model`."""
    return value_and_grad(model.loss, model.params, model.arguments, model.name, entries, model.doc)
