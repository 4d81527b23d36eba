"""The IR: immutable, hash-consed expression nodes.

Every distinct value is exactly one ``Node``: building the same op on the same
arguments with the same attributes returns the node that already exists.  That
gives common-subexpression elimination for free, before and after
differentiation, and makes ``==`` on nodes (plain identity) a structural
comparison, so nodes can be dict keys.

This module knows nothing about individual ops; ``symback.ops`` owns their rules
and calls :func:`intern` once it has worked out a node's shape and dtype.
"""
from __future__ import annotations

import itertools
import weakref

import numpy as np

from .names import check_var_name

DTYPES = ("float64", "float32", "int64", "bool")
FLOAT_DTYPES = ("float64", "float32")
#: The dtype of a node whose value is a tuple of arrays (a loop's outputs),
#: read through projection nodes; it is never an input or an output of a kernel.
TUPLE = "tuple"

_serial = itertools.count()
_table: "weakref.WeakValueDictionary[tuple, Node]" = weakref.WeakValueDictionary()


class Node:
    """One value of the DAG: ``op(args..., **attrs)`` with a static shape and dtype.

    ``shape`` is a tuple whose entries are ints or ``None`` (a size known only at
    call time).  ``attrs`` is a sorted tuple of ``(key, value)`` pairs so that it
    hashes.  ``serial`` records creation order, ``stamp`` the last time the node
    was asked for (made, or given back by hash-consing): see :func:`build_order`.
    """

    __slots__ = ("op", "args", "attrs", "shape", "dtype", "serial", "stamp", "__weakref__")
    __array_ufunc__ = None  # numpy defers to our reflected operators

    def __init__(self, op, args, attrs, shape, dtype):
        self.op = op
        self.args = args
        self.attrs = attrs
        self.shape = shape
        self.dtype = dtype
        self.serial = self.stamp = next(_serial)

    def attr(self, key, default=None):
        for k, v in self.attrs:
            if k == key:
                return v
        return default

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def name(self):
        """The variable's name for a ``var`` leaf, else ``None``."""
        return self.attr("name") if self.op == "var" else None

    @property
    def value(self):
        """The numpy value of a ``const`` leaf."""
        return self.attr("value").array if self.op == "const" else None

    def __repr__(self):
        from .printing import format_expr
        return format_expr(self)

    def __bool__(self):
        raise TypeError(
            "the truth value of a symback expression is not known at build time; "
            "use sb.where(cond, a, b) for a data-dependent choice")

    def __iter__(self):
        raise TypeError("symback expressions are not iterable; index them explicitly")

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a scalar expression")
        if self.shape[0] is None:
            raise TypeError("len() of an expression whose first dimension is only known at call time")
        return self.shape[0]


class ConstValue:
    """A numpy array wrapped so that it hashes and compares by content."""

    __slots__ = ("array", "_key")

    def __init__(self, array):
        array = np.array(array, copy=True)
        array.flags.writeable = False
        self.array = array
        self._key = (array.dtype.str, array.shape, array.tobytes())

    def __hash__(self):
        return hash(self._key)

    def __eq__(self, other):
        return isinstance(other, ConstValue) and self._key == other._key

    def __repr__(self):
        return np.array2string(self.array, threshold=6)


def freeze_attrs(attrs):
    """Attributes as a hashable, order-independent tuple."""
    return tuple(sorted(attrs.items()))


def intern(op, args, attrs, shape, dtype, commutative=False):
    """The one constructor of nodes: return the existing node or make it.

    For a ``commutative`` op the lookup ignores argument order, so ``a*b`` and
    ``b*a`` are one node, kept in the order it was first written (which is
    what the generated code and ``explain`` show) -- except that a constant
    goes first, as SymPy prints it: ``x * 0.5`` built by an earlier model must
    not make the first step of a loop computing ``0.5 * u`` differ from the
    others (then rerolling would roll one step fewer, as the process's history
    decides).
    """
    args = tuple(args)
    if commutative and len(args) == 2 and args[1].op == "const" and args[0].op != "const":
        args = (args[1], args[0])
    attrs = (freeze_attrs(attrs) if attrs else ()) if isinstance(attrs, dict) else tuple(attrs)
    shape = tuple(shape)
    ids = tuple(map(id, args))
    if commutative:
        ids = tuple(sorted(ids))
    key = (op, ids, attrs, shape, dtype)
    # (the table's own dict read directly, as WeakValueDictionary.get does without
    # its Python-level call: this runs once per node built; a dead entry is a miss)
    ref = _table.data.get(key)
    node = ref() if ref is not None else None
    if node is None:
        node = Node(op, args, attrs, shape, dtype)
        _table[key] = node
    else:
        node.stamp = next(_serial)
    return node


def var(name, shape=(), dtype="float64"):
    """An input leaf.  ``shape`` entries may be ``None`` (sized at call time).

    Any identifier that is not a keyword and does not start with ``_`` works,
    ``math``, ``max`` or ``np`` included: generated code renames a variable
    whose name it uses itself (see :mod:`symback.names`)."""
    check_var_name(name)
    if isinstance(shape, int):
        shape = (shape,)
    shape = tuple(shape)
    for d in shape:
        if d is not None and (not isinstance(d, (int, np.integer)) or d < 0):
            raise ValueError(f"var {name!r}: shape {shape} must hold non-negative ints or None")
    shape = tuple(None if d is None else int(d) for d in shape)
    dtype = np.dtype(dtype).name
    if dtype not in DTYPES:
        raise TypeError(f"var {name!r}: dtype {dtype} is not one of {', '.join(DTYPES)}")
    return intern("var", (), {"name": name}, shape, dtype)


#: constants made from Python numbers, by (type, repr, dtype): a model or a
#: derivative rule writes ``0.5`` or ``1.0`` thousands of times, and making the
#: array, its bytes and its key each time cost more than the node it names.
#: Emptied when it reaches NUMBER_CONSTS_MAX: it holds its nodes strongly, and a
#: long-running process (a fuzzer, a server) may write any number of numbers.
_number_consts: "dict[tuple, Node]" = {}
NUMBER_CONSTS_MAX = 4096


def const(value, dtype=None):
    """A constant leaf; Python numbers and numpy arrays promote automatically."""
    if isinstance(value, Node):
        return value
    number = type(value) in (int, float) and value == value   # (not NaN: its sign is not in its repr)
    if number:
        node = _number_consts.get((type(value), repr(value), dtype))
        if node is not None:
            return node
    array = np.asarray(value)
    if dtype is None:
        if array.dtype.kind == "f":
            dtype = array.dtype.name if array.dtype.name in FLOAT_DTYPES else "float64"
        elif array.dtype.kind in "iu":
            dtype = "int64"
        elif array.dtype.kind == "b":
            dtype = "bool"
        else:
            raise TypeError(f"const: cannot make a constant of dtype {array.dtype}")
    array = array.astype(dtype)
    node = intern("const", (), {"value": ConstValue(array)}, array.shape, dtype)
    if number:
        if len(_number_consts) >= NUMBER_CONSTS_MAX:
            _number_consts.clear()
        _number_consts[(type(value), repr(value), dtype)] = node
    return node


# --- names for the reader --------------------------------------------------------
# Names are not part of a node's identity (hash-consing would otherwise keep two
# nodes for one value): they live beside the graph, held weakly.
_given_names: "weakref.WeakKeyDictionary[Node, str]" = weakref.WeakKeyDictionary()
_adjoint_of: "weakref.WeakKeyDictionary[Node, Node]" = weakref.WeakKeyDictionary()


def name(node, label):
    """Give the intermediate ``node`` the name ``label`` in generated code (and
    in comments there); returns ``node``.  ``e.named(label)`` is the same.

    The name is for readers: it changes no value.  Hash-consing makes one node
    of equal expressions, so naming one names them all; a later name wins."""
    if not isinstance(node, Node):
        raise TypeError(f"name: expected a symback expression, got {type(node).__name__}")
    try:
        check_var_name(label)
    except ValueError as e:
        raise ValueError(str(e).replace("var: name", "name: label", 1)) from None
    if node.op not in ("var", "const"):
        _given_names[node] = label
    return node


def given_name(node):
    """The name ``sb.name`` gave ``node``, or ``None``."""
    return _given_names.get(node)


def mark_adjoint(adjoint, of):
    """Record that ``adjoint`` is the adjoint of ``of`` (autodiff calls this,
    so that generated code can say so); the first record wins."""
    if adjoint is not of and adjoint.op not in ("var", "const"):
        _adjoint_of.setdefault(adjoint, of)   # (one lookup: grad records every adjoint)


def adjoint_of(node):
    """The node whose adjoint ``node`` is, or ``None``."""
    return _adjoint_of.get(node)


def labels(node):
    """``(given_name(node), adjoint_of(node))`` from one weak reference: the
    emitter asks both of every node of a kernel, and a WeakKeyDictionary
    lookup makes a new weak reference each time."""
    key = weakref.ref(node)
    return _given_names.data.get(key), _adjoint_of.data.get(key)


Node.named = name


def shapes_static(shape):
    """True when every dimension is a known int."""
    return all(isinstance(d, int) for d in shape)


def topo_order(outputs, stop=frozenset(), walked=()):
    """Every node reachable from ``outputs``, each after its arguments.

    Iterative (no recursion), deterministic: arguments are visited left to right.
    The arguments of nodes whose id is in ``stop`` are not visited.  ``walked``:
    what this function returned (with the same ``stop``) for outputs that come
    before these ones; the result is then the walk from all of them, and the
    nodes already walked are not visited again.

    Each stack entry holds its node's argument iterator, so a node resumes
    where it left off, and the seen set holds the nodes themselves (they hash
    by identity): every compile walks its graph several times, and this form
    is about twice as fast as indexing arguments and keying by ``id``.
    """
    order, seen = list(walked), set(walked)
    append, add = order.append, seen.add
    for root in outputs:
        if root in seen:
            continue
        add(root)
        stack = [(root, iter(() if id(root) in stop else root.args))]
        push, pop = stack.append, stack.pop
        while stack:
            node, args = stack[-1]
            for arg in args:
                if arg not in seen:
                    add(arg)
                    push((arg, iter(() if id(arg) in stop else arg.args)))
                    break
            else:
                pop()
                append(node)
    return order


def build_order(outputs):
    """Every node reachable from ``outputs``, in the order the user's code built them.

    Creation order is that order in a fresh process, but hash-consing gives back
    a node that already exists with its old serial: had an earlier model built
    ``x * 0.5``, the first step of a loop computing ``cos(u * 0.5)`` from ``u = x``
    would sort before everything else (and rerolling, which reads the user's
    loop from this order, would roll one step fewer).  So a node is placed when
    it was last asked for, if that is before everything here that reads it (a
    rebuilt model, a notebook cell run again); otherwise, asked for again after
    its readers exist (by autodiff, say), when it was made -- so compiling a
    model twice sees one order.  (A node of an earlier model asked for again
    after its readers here exist falls back to its old serial: not fixed.)
    Either way a node comes after its arguments.
    """
    order = topo_order(outputs)
    first_read, key = {}, {}
    for n in reversed(order):   # readers before their arguments
        k = n.stamp if n.stamp < first_read.get(n, n.stamp + 1) else n.serial
        key[n] = k
        for a in n.args:
            if k < first_read.get(a, k + 1):
                first_read[a] = k
    return sorted(order, key=key.__getitem__)


def variables(outputs):
    """The ``var`` leaves that ``outputs`` depend on, in order of creation (the
    contract of DESIGN.md for a kernel's default inputs: a variable declared again
    keeps its place, unlike :func:`build_order`'s computed nodes)."""
    return sorted((n for n in topo_order(outputs) if n.op == "var"), key=lambda n: n.serial)
