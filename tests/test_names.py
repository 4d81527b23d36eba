"""Variables named like what generated code uses (modules, builtins, the
wrapper's locals) compile and give the interpreter's numbers: the emitter
renames them inside generated functions and keeps the user's names for the
public wrapper's parameters (keyword calls, error messages)."""
import ast
import builtins
import pathlib

import numpy as np
import pytest

import symback as sb
from symback.backend.nest import Init, LoopNest, Store
from symback.backend.outline import outline
from symback.backend.printer import Bound, Elem, Name
from symback.ops.scalar import X0, X1, call, lit
from symback.names import BUILTINS, GLOBALS, MODULES, RESERVED, local_names

ROOT = pathlib.Path(__file__).resolve().parent.parent

# every kind of clash: modules the module imports, builtins that kernels and the
# wrapper call, the wrapper's own locals, a keyword argument the emitter writes,
# and a name the renaming itself produces (max -> max_ would meet the user's max_)
SCALARS = ["math", "sys", "np", "numba", "out", "parallel", "range", "float", "type",
           "dtype", "sum", "input", "max_"]
ARRAYS = ["max", "min"]   # sized at call time: run-time sizes read from renamed names


@pytest.fixture(scope="module")
def clash():
    scalars = [sb.var(n) for n in SCALARS]
    arrays = [sb.var(n, (None, 3)) for n in ARRAYS]
    s = scalars[0]
    for v in scalars[1:]:
        s = s * 0.9 + sb.sin(v * s)
    mx, mn = arrays
    y = sb.sum(sb.exp(mx * s) * mn) + sb.sum(sb.softmax(mx * mn)) + sb.logsumexp(sb.sum(mx, axis=0))
    wrt = scalars + arrays
    kernel = sb.value_and_grad(y, wrt, name="clashing_names")
    rng = np.random.default_rng(0)
    values = [float(rng.uniform(0.2, 0.8)) for _ in scalars] + [rng.normal(0, 0.5, (4, 3)) for _ in arrays]
    return y, wrt, kernel, values


def test_clashing_names_give_the_interpreters_value_and_gradient(clash):
    y, wrt, kernel, values = clash
    value, grads = kernel(*values)
    env = dict(zip(wrt, values, strict=True))
    ref = sb.evaluate([y] + sb.grad(y, wrt), env)
    assert float(value) == pytest.approx(float(ref[0]), rel=1e-12)
    assert len(grads) == len(wrt)
    for g, r in zip(grads, ref[1:], strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-13)


def test_clashing_names_match_finite_differences(clash):
    _, wrt, kernel, values = clash
    _, grads = kernel(*values)
    h = 1e-6
    for k, (v, g) in enumerate(zip(values, grads, strict=True)):
        flat = np.array(v, dtype=float).reshape(-1)
        for i in range(flat.size):
            def f(delta):
                moved = flat.copy()
                moved[i] += delta
                args = list(values)
                args[k] = moved.reshape(np.shape(v)) if np.ndim(v) else float(moved[0])
                return float(kernel.forward(*args))
            fd = (f(h) - f(-h)) / (2 * h)
            assert np.reshape(g, -1)[i] == pytest.approx(fd, rel=1e-5, abs=1e-7), (wrt[k].name, i)


def test_wrapper_keeps_the_users_names_for_keywords_and_messages(clash):
    _, wrt, kernel, values = clash
    by_name = {v.name: x for v, x in zip(wrt, values, strict=True)}
    assert float(kernel.forward(**by_name)) == float(kernel.forward(*values))
    bad = dict(by_name, min=np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"max\.shape\[0\] is 4 but min\.shape\[0\] is 5"):
        kernel.forward(**bad)
    with pytest.raises(TypeError, match="^float: expected a float64 scalar"):
        kernel.forward(**dict(by_name, float="x"))


def _functions(tree):
    return [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)]


def _bound(f):
    names = {a.arg for a in f.args.args}
    for node in ast.walk(f):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def _assert_nothing_shadowed(source):
    """No generated function binds a name that generated code uses as a
    global (a module or builtin) or passes a module as an argument -- except
    the public wrapper, whose parameters are the user's names and whose body
    only forwards them.  The fixed argument-checking helpers (no user names in
    them) are not looked at."""
    for f in _functions(ast.parse(source)):
        if f.name in {"_scalar", "_array", "_show", "_stack"}:
            continue
        body = [s for s in f.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        call = body[0].value if len(body) == 1 and isinstance(body[0], ast.Return) else None
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == f"_{f.name}_checked":
            assert [a.id for a in call.args] == [a.arg for a in f.args.args], f.name
            continue
        assert not _bound(f) & GLOBALS, f.name
        passed = {a.id for c in ast.walk(f) if isinstance(c, ast.Call) for a in c.args if isinstance(a, ast.Name)}
        assert not passed & MODULES, f"{f.name}: a module passed as an argument"


def test_generated_functions_never_shadow_a_global(clash):
    _, _, kernel, _ = clash
    assert "def value_and_grad(math, sys, np, numba, out, parallel, range, float," in kernel.source
    _assert_nothing_shadowed(kernel.source)


@pytest.mark.parametrize("path", sorted((ROOT / "generated").glob("*.py")), ids=lambda p: p.stem)
def test_committed_kernels_never_shadow_a_global(path):
    _assert_nothing_shadowed(path.read_text())


def test_every_builtin_generated_code_calls_is_reserved():
    """A builtin that generated code reads but the reserved set missed would be
    hidden by a variable of that name: read every committed kernel."""
    used = set()
    for path in (ROOT / "generated").glob("*.py"):
        tree = ast.parse(path.read_text())
        for f in _functions(tree):
            bound = _bound(f)
            used |= {n.id for n in ast.walk(f) if isinstance(n, ast.Name)
                     and isinstance(n.ctx, ast.Load) and n.id not in bound and hasattr(builtins, n.id)}
    assert {"range", "max", "float", "type"} <= used   # the scan sees them
    assert used <= BUILTINS


def test_reserved_builtins_cover_this_pythons_builtin_functions():
    missing = {n for n in dir(builtins) if n[0].islower() and not n.startswith("_")
               and callable(getattr(builtins, n))} - BUILTINS
    # site.py adds these interactive helpers; generated code never calls them
    assert missing <= {"copyright", "credits", "exit", "license", "quit"}


def test_local_names_rename_only_reserved_names_and_never_collide():
    local = local_names(["x", "max", "max_", "out", "np", "W1"])
    assert local == {"x": "x", "max": "max__", "max_": "max_", "out": "out_", "np": "np_", "W1": "W1"}
    assert not set(local.values()) & RESERVED
    assert len(set(local.values())) == len(local)


def test_outlined_loops_take_no_module_or_builtin_as_input():
    tree = call("exp", X0) + call("maximum", X1, lit(0.0))
    nest = LoopNest(["i0", "0"], ["n", "1"], ["t1"], inits=[Init("t1", "empty", ("n", 3), "float64")],
                    body=[Store("t1", ("i0", "0"), Bound(tree, (Elem("x", ("i0",)), Name("y")), "float64", "float64"))])
    helpers = {}
    (line,) = outline(nest, helpers)
    assert line == "t1, = _loop0(n, x, y)"   # not math, np, range, maximum or dtype
    assert nest.inputs == ["n", "x", "y"] and nest.locals == ["i0"]
    (helper,) = helpers.values()
    assert helper.body == ["o0 = _empty((a0, 3), np.float64)",
                           "for v0 in range(a0):",
                           "    o0[v0, 0] = _libm_exp(a1[v0]) + np.maximum(a2, 0.0)",
                           "return o0,"]


@pytest.mark.parametrize("name", ["_x", "_scalar", "_C0", "__init__"])
def test_underscore_names_raise_naming_the_rule(name):
    with pytest.raises(ValueError, match=f"'{name}' starts with '_'.*_scalar, _array"):
        sb.var(name)
