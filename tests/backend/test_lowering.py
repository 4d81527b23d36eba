"""The backend owns lowering: every op has one, the printer renders scalar trees
(names by dtype, typed literals, parentheses by precedence), and the ops never
import the backend.  No Numba compile here: all of it is source text."""
import ast
import math
import operator
import pathlib

import numpy as np
import pytest

import symback  # noqa: F401  (registers every op and, through kernel, every lowering)
from symback.backend.lowering import LOWERINGS
from symback.backend.printer import Bound, Name, Printer
from symback.ops import OPS
from symback.ops.scalar import X0, X1, X2, Bin, Expr, Lit, Unary, Where, binary, call, lit, where


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_op_has_a_numba_lowering(op):
    """Adding an op touches one place, and this test says when it is not enough."""
    entry = OPS[op]
    if entry.kind == "block":
        assert op in LOWERINGS, f"{op}: block op without a @lowering rule in symback/backend/lowering.py"
    elif entry.kind == "elementwise":
        assert isinstance(entry.scalar, Expr) or callable(entry.scalar), f"{op}: no scalar rule"
        assert op not in LOWERINGS, f"{op}: an elementwise op is lowered by its scalar rule, not a block"


def test_every_lowering_is_for_a_registered_block_op():
    for name in LOWERINGS:
        assert name in OPS and OPS[name].kind == "block", f"lowering for {name!r}, which is no block op"


def _print(tree, dtype="float64", args=("x", "y", "z")):
    ftype = "float32" if dtype == "float32" else "float64"
    return Printer().doprint(Bound(tree, tuple(Name(a) for a in args), dtype, ftype))


def test_printer_picks_math_or_numpy_by_dtype_and_types_literals():
    # exp and log go through the module's libm wrappers (compiled without fastmath:
    # vecmath.LIBM_WRAPPED), the other functions through math (float64) or numpy
    sigmoid = OPS["sigmoid"].scalar
    assert _print(sigmoid) == "1.0 / (1.0 + _libm_exp(-x))"
    assert _print(sigmoid, "float32") == "np.float32(1.0) / (np.float32(1.0) + _libm_exp(-x))"
    assert _print(call("sin", X0)) == "math.sin(x)" and _print(call("sin", X0), "float32") == "np.sin(x)"
    assert _print(call("sign", X0)) == "np.sign(x)"
    assert _print(call("abs", X0)) == "abs(x)"
    assert _print(OPS["relu"].scalar, "float32") == "np.maximum(x, np.float32(0.0))"
    p = Printer()
    p.doprint(Bound(call("exp", X0) + call("sin", X0), (Name("x"),), "float64", "float64"))
    assert p.imports == {"math"} and p.helpers == {"_libm_exp"}


@pytest.mark.parametrize("tree, text", [
    ((X0 + X1) * X2, "(x + y) * z"),
    (X0 + X1 * X2, "x + y * z"),
    (X0 - X1 - X2, "x - y - z"),
    (X0 - (X1 - X2), "x - (y - z)"),
    (X0 / (X1 * X2), "x / (y * z)"),
    (-(X0 + X1), "-(x + y)"),
    ((-X0) ** X1, "(-x) ** y"),
    ((X0 ** X1) ** X2, "(x ** y) ** z"),
    (X0 ** lit(-1.0), "x ** (-1.0)"),
    (X0 * lit(-1.5), "x * (-1.5)"),
    (where(X0 > X1, lit(-1.5), X2), "-1.5 if x > y else z"),
    (where(X0 > X1, where(X1 > X2, X0, X1), X2), "(x if y > z else y) if x > y else z"),
    (call("maximum", X0, lit(-1.5)), "np.maximum(x, -1.5)"),
    (binary("and", X0 < X1, X1 < X2), "x < y and y < z"),
])
def test_printer_parenthesises_by_precedence(tree, text):
    assert _print(tree) == text


_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
        "**": operator.pow, "<": operator.lt, ">": operator.gt}


def _random_tree(rng, depth):
    if depth == 0 or rng.random() < 0.2:
        return [X0, X1, X2][rng.integers(3)] if rng.random() < 0.8 else lit(float(rng.choice([-1.5, 0.5, 2.0])))
    kind = rng.integers(4)
    if kind == 0:
        return -_random_tree(rng, depth - 1)
    if kind == 1:
        return where(Bin(">", _random_tree(rng, depth - 1), _random_tree(rng, depth - 1)),
                     _random_tree(rng, depth - 1), _random_tree(rng, depth - 1))
    op = ["+", "-", "*", "/", "**"][rng.integers(5)]
    return Bin(op, _random_tree(rng, depth - 1), _random_tree(rng, depth - 1))


def _evaluate(tree, env):
    if isinstance(tree, Lit):
        return tree.value
    if isinstance(tree, Unary):
        return -_evaluate(tree.a, env)
    if isinstance(tree, Where):
        return _evaluate(tree.a, env) if _evaluate(tree.cond, env) else _evaluate(tree.b, env)
    if isinstance(tree, Bin):
        return _OPS[tree.op](_evaluate(tree.a, env), _evaluate(tree.b, env))
    return env[tree.index]


def test_printed_trees_compute_what_the_trees_say():
    """Parentheses by precedence, checked by meaning: 300 random trees printed
    and run by Python agree with the trees evaluated directly."""
    rng = np.random.default_rng(0)
    env = [np.float64(1.25), np.float64(0.75), np.float64(1.5)]
    for _ in range(300):
        tree = _random_tree(rng, 4)
        with np.errstate(all="ignore"):
            want = _evaluate(tree, env)
            got = eval(_print(tree), {"math": math, "np": np}, dict(zip("xyz", env)))   # noqa: S307
        assert (np.isnan(want) and np.isnan(got)) or got == want, _print(tree)


def test_ops_do_not_import_the_backend():
    """IR -> passes -> backend: nothing in symback/ops names symback.backend."""
    ops_dir = pathlib.Path(symback.__file__).parent / "ops"
    for path in sorted(ops_dir.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                target = "." * node.level + (node.module or "")
                assert "backend" not in target, f"{path.name} imports {target}"


def test_no_import_cycle():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("symback")
    cycles = [c for c in _strongly_connected(graph) if len(c) > 1]
    assert not cycles, cycles


def _strongly_connected(graph):
    """Tarjan's algorithm over grimp's module graph (iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.find_modules_directly_imported_by(w)))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    out.append(comp)
    return out
