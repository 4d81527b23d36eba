"""The IR: hash-consing, operator semantics, dtype promotion, leaf validation,
and graphs far deeper than Python's recursion limit."""
import math
import sys

import numpy as np
import pytest

import symback as sb
from symback.backend.numba import Entry, emit_module
from symback.ir import Node, topo_order


# --- hash-consing -------------------------------------------------------------------


def test_same_op_args_attrs_give_the_same_node():
    x, y = sb.var("x"), sb.var("y")
    assert sb.exp(x) is sb.exp(x)
    assert (x - y) is (x - y)
    assert (x / y) is (x / y)
    assert sb.where(x > y, x, y) is sb.where(x > y, x, y)
    A = sb.var("A", (3, 4))
    assert sb.sum(A, axis=0) is sb.sum(A, axis=0)
    assert sb.sum(A, axis=0, keepdims=True) is sb.sum(A, axis=0, keepdims=True)
    assert A[1:, 2] is A[1:, 2]
    # different attributes or different ops are different nodes
    assert sb.sum(A, axis=0) is not sb.sum(A, axis=1)
    assert sb.sum(A, axis=0) is not sb.sum(A, axis=0, keepdims=True)
    assert sb.exp(x) is not sb.log(x)
    assert A[1:, 2] is not A[1:, 1]


def test_commutative_ops_are_canonicalised():
    a, b = sb.var("a"), sb.var("b")
    assert a * b is b * a
    assert a + b is b + a
    assert sb.maximum(a, b) is sb.maximum(b, a)
    assert sb.equal(a, b) is sb.equal(b, a)
    assert a + 1.5 is 1.5 + a
    # non-commutative ops keep their order
    assert a - b is not b - a
    assert a / b is not b / a
    assert a ** b is not b ** a
    assert (a < b) is not (b < a)


def test_var_same_name_and_shape_is_the_same_node():
    assert sb.var("w", (3, 4)) is sb.var("w", (3, 4))
    assert sb.var("w", [3, 4]) is sb.var("w", (3, 4))
    assert sb.var("w", 3) is sb.var("w", (3,))
    assert sb.var("n", (None, 2)) is sb.var("n", (None, 2))
    assert sb.var("w", (3, 4)) is not sb.var("w", (4, 3))
    assert sb.var("w", (3,)) is not sb.var("v", (3,))
    assert sb.var("w", (3,)) is not sb.var("w", (3,), "float32")


def test_equal_constants_are_one_node():
    assert sb.const(2.0) is sb.const(2.0)
    assert sb.const(np.arange(3.0)) is sb.const(np.arange(3.0))
    assert sb.const(np.arange(3.0)) is not sb.const(np.arange(1.0, 4.0))
    assert sb.const(2.0) is not sb.const(2)  # float64 vs int64


def test_equal_subexpressions_are_shared_after_rebuilding():
    x, z = sb.var("x"), sb.var("z")
    y1 = sb.exp(x * z) + x * z / sb.log(x)
    y2 = sb.exp(z * x) + z * x / sb.log(x)
    assert y1 is y2
    nodes = topo_order([y1])
    assert sum(1 for n in nodes if n.op == "mul") == 1  # x*z built three times, stored once


# --- == is identity; nodes are dict keys ------------------------------------------


def test_eq_is_identity_and_returns_bool():
    x, y = sb.var("x"), sb.var("y")
    assert (x == y) is False
    assert (x == sb.var("x")) is True
    assert (x * y == y * x) is True
    # != is elementwise (numpy's meaning), so `where(x != 0, ...)` cannot silently
    # become `where(True, ...)`; its truth value is refused like any expression's
    assert (x != y).op == "not_equal" and (x != y).dtype == "bool"
    with pytest.raises(TypeError):
        bool(x != y)
    assert (x + 1.0 == x + 2.0) is False


def test_nodes_work_as_dict_keys_and_in_sets():
    x, y = sb.var("x"), sb.var("y")
    table = {x: "x", x * y: "xy", sb.exp(x): "ex"}
    assert table[sb.var("x")] == "x"
    assert table[y * x] == "xy"
    assert table[sb.exp(x)] == "ex"
    assert sb.exp(y) not in table
    assert len({x * y, y * x, sb.var("x") * sb.var("y")}) == 1


def test_elementwise_equality_is_sb_equal():
    a = sb.var("a", (3,))
    e = sb.equal(a, 2.0)
    assert isinstance(e, Node) and e.dtype == "bool" and e.shape == (3,)
    np.testing.assert_array_equal(sb.evaluate(e, {"a": np.array([1.0, 2.0, 3.0])}), [False, True, False])


# --- comparisons build boolean expressions ----------------------------------------


def test_comparisons_build_bool_expressions():
    x, y = sb.var("x", (4,)), sb.var("y", (4,))
    for expr, op, ref in [(x < y, "less", np.less), (x <= y, "less_equal", np.less_equal),
                          (x > y, "greater", np.greater), (x >= y, "greater_equal", np.greater_equal)]:
        assert isinstance(expr, Node)
        assert expr.op == op and expr.dtype == "bool" and expr.shape == (4,)
        xv, yv = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 2.0, 2.0, 2.0])
        np.testing.assert_array_equal(sb.evaluate(expr, {"x": xv, "y": yv}), ref(xv, yv))


def test_comparison_with_a_number_and_where():
    x = sb.var("x", (4,))
    assert (x > 0.5).op == "greater" and (0.5 < x).op == "greater"
    r = sb.where(x > 0.5, x, -x)
    xv = np.array([-1.0, 0.25, 0.75, 2.0])
    np.testing.assert_array_equal(sb.evaluate(r, {"x": xv}), np.where(xv > 0.5, xv, -xv))


# --- numpy on the left -------------------------------------------------------------


def test_ndarray_on_the_left_builds_a_node():
    assert Node.__array_ufunc__ is None
    v = sb.var("v", (3,))
    M = sb.var("M", (3, 3))
    a = np.array([1.0, 2.0, 3.0])
    for expr, ref in [(a + v, lambda vv, mm: a + vv), (a - v, lambda vv, mm: a - vv),
                      (a * v, lambda vv, mm: a * vv), (a / v, lambda vv, mm: a / vv),
                      (np.eye(3) @ M, lambda vv, mm: np.eye(3) @ mm),
                      (a > v, lambda vv, mm: a > vv)]:
        assert isinstance(expr, Node), type(expr)
        vv, mm = np.array([0.5, -1.0, 4.0]), np.arange(9.0).reshape(3, 3)
        np.testing.assert_allclose(sb.evaluate(expr, {"v": vv, "M": mm}), ref(vv, mm))
    assert (a - v).op == "sub" and (a - v).args[1] is v  # operand order kept
    assert isinstance(np.float64(2.0) * v, Node)


# --- no truth value ---------------------------------------------------------------


def test_bool_of_a_node_raises():
    x, y = sb.var("x"), sb.var("y")
    with pytest.raises(TypeError):
        bool(x)
    with pytest.raises(TypeError):
        bool(x < y)
    with pytest.raises(TypeError):
        if x > 0.0:
            pass
    with pytest.raises(TypeError):
        0.0 < x < 1.0  # chained comparison needs a truth value


# --- constants promote ---------------------------------------------------------------


def test_python_numbers_are_weakly_typed():
    f = sb.var("f", (), "float32")
    F = sb.var("F", (3,), "float32")
    d = sb.var("d")
    i = sb.var("i", (), "int64")
    assert (f * 1.5).dtype == "float32"
    assert (1.5 * f).dtype == "float32"
    assert (f + 2).dtype == "float32"
    assert (F / 3.0 - 1.0).dtype == "float32"
    assert sb.exp(f * 2.0).dtype == "float32"
    assert (f ** 2.0).dtype == "float32"
    assert (d * 1.5).dtype == "float64"
    assert (i + 1).dtype == "int64"
    assert (i + 1.5).dtype == "float64"
    # a numpy array or numpy float64 scalar is strongly typed, as in numpy
    assert (F * np.ones(3)).dtype == "float64"
    assert (F * np.ones(3, np.float32)).dtype == "float32"
    # the constant that got made next to f is a float32 constant
    c = [a for a in (f * 1.5).args if a.op == "const"][0]
    assert c.dtype == "float32" and c.value == np.float32(1.5)


def test_const_dtypes():
    assert sb.const(1.5).dtype == "float64"
    assert sb.const(np.float32(1.5)).dtype == "float32"
    assert sb.const(3).dtype == "int64"
    assert sb.const(np.array([1, 2], np.int32)).dtype == "int64"
    assert sb.const(True).dtype == "bool"
    assert sb.const(np.zeros((2, 3))).shape == (2, 3)
    x = sb.var("x")
    assert sb.const(x) is x


def test_float32_expression_evaluates_in_float32():
    f = sb.var("f", (3,), "float32")
    out = sb.evaluate(sb.sin(f) * 2.0 + 1.0, {"f": np.array([0.1, 0.2, 0.3], np.float32)})
    assert out.dtype == np.float32


# --- bad leaves -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["1x", "x y", "", "a-b", "x.y", 3, None])
def test_bad_var_names_raise(name):
    with pytest.raises((ValueError, TypeError)):
        sb.var(name)


@pytest.mark.parametrize("name", ["class", "lambda", "None"])
def test_keyword_var_names_raise(name):
    with pytest.raises(ValueError):
        sb.var(name)


@pytest.mark.parametrize("shape", [(-1,), (2.5,), ("a",), (3, -2), (None, "n")])
def test_bad_var_shapes_raise(shape):
    with pytest.raises((ValueError, TypeError)):
        sb.var("x", shape)


@pytest.mark.parametrize("dtype", ["float16", "complex128", "int32", "nope", "uint8"])
def test_bad_var_dtypes_raise(dtype):
    with pytest.raises(TypeError):
        sb.var("x", (3,), dtype)


def test_var_dtype_spellings():
    assert sb.var("x", (), np.float32).dtype == "float32"
    assert sb.var("x", (), np.dtype("int64")).dtype == "int64"
    assert sb.var("x", (), bool).dtype == "bool"


def test_node_metadata():
    A = sb.var("A", (None, 3), "float32")
    assert A.shape == (None, 3) and A.ndim == 2 and A.dtype == "float32" and A.name == "A"
    assert (A.T).shape == (3, None)
    assert sb.sum(A, axis=1).shape == (None,)
    with pytest.raises(TypeError):
        len(A)  # first dimension only known at call time
    with pytest.raises(TypeError):
        iter(A)
    assert len(sb.var("v", (5, 2))) == 5


# --- a 100,000-node chain -------------------------------------------------------------

K_CHAIN = 50_000
C = 1.0001


@pytest.fixture(scope="module")
def chain():
    x = sb.var("x")
    u = x
    for _ in range(K_CHAIN):
        u = u * C + 0.5
    return x, u


def test_deep_chain_builds_iteratively(chain):
    x, u = chain
    assert sys.getrecursionlimit() < K_CHAIN
    nodes = topo_order([u])
    assert len(nodes) >= 2 * K_CHAIN
    assert nodes[-1] is u
    assert sb.variables([u]) == [x]
    repr(u)  # printing is bounded


def test_deep_chain_grad_evaluate_and_emit(chain):
    x, u = chain
    (g,) = sb.grad(u, [x])
    assert g.shape == ()
    val, gval = sb.evaluate([u, g], {"x": 0.1})
    # u_K = C^K x + 0.5 (C^K - 1) / (C - 1);  du_K/dx = C^K
    ck = C ** K_CHAIN
    np.testing.assert_allclose(gval, ck, rtol=1e-9)
    np.testing.assert_allclose(val, ck * 0.1 + 0.5 * (ck - 1.0) / (C - 1.0), rtol=1e-9)
    source = emit_module([Entry("value_and_grad", [x], [u, g], ["value", "g_x"], [0, 1])], "chain")
    compile(source, "<chain>", "exec")  # valid Python (no numba compile: it would take minutes)
    assert "def _value_and_grad(x):" in source
    assert "g_x" in source
    assert source.count("\n") > 2 * K_CHAIN


def test_deep_sin_chain_grad_matches_the_chain_rule():
    x = sb.var("x")
    u = x
    n = 20_000
    for _ in range(n):
        u = sb.sin(u)
    assert len(topo_order([u])) == n + 1
    (g,) = sb.grad(u, [x])
    got = sb.evaluate(g, {"x": 0.3})
    v, d = 0.3, 1.0
    for _ in range(n):
        d *= math.cos(v)
        v = math.sin(v)
    np.testing.assert_allclose(got, d, rtol=1e-9)
    src = emit_module([Entry("forward", [x], [u, g], ["value", "g_x"])], "sinchain")
    compile(src, "<sinchain>", "exec")


def test_number_constants_are_shared_and_their_cache_is_bounded():
    import symback.ir as ir
    assert ir.const(0.5) is ir.const(0.5) and ir.const(-0.0) is not ir.const(0.0)
    assert ir.const(2) is not ir.const(2.0)             # int64 and float64 constants differ
    for i in range(ir.NUMBER_CONSTS_MAX + 10):
        ir.const(float(i) + 0.25)
    assert len(ir._number_consts) <= ir.NUMBER_CONSTS_MAX
    assert ir.const(0.5) is ir.const(0.5)


def test_commutative_nodes_put_a_constant_first_whatever_was_written_first():
    x = sb.var("x")
    assert (x * 0.5) is (0.5 * x)
    assert [a.op for a in (x * 0.5).args] == ["const", "var"]
    assert [a.op for a in (x + 2.0).args] == ["const", "var"]


def test_build_order_follows_the_latest_build_not_creation():
    """A node made by an earlier model and asked for again is placed where the
    new model asked for it (before its readers); variables keep creation order
    (DESIGN.md's default inputs)."""
    from symback.ir import build_order, variables
    b_old, a_old = sb.var("b_order"), sb.var("a_order")
    held = 0.5 * a_old                   # an earlier model keeps this alive
    a, b = sb.var("a_order"), sb.var("b_order")
    s = sb.sin(a)
    half = 0.5 * a
    y = s * half + b
    assert a is a_old and b is b_old and half is held
    assert [v.name for v in variables([y])] == ["b_order", "a_order"]
    order = [n for n in build_order([y]) if n.args]
    assert order == [s, half, s * half, y]
    # a node of this model asked for again after its readers exist (as autodiff
    # does) stays where it was made: compiling the model twice gives one order
    fresh = sb.cos(a)
    z = fresh * b + s
    before = [n for n in build_order([z]) if n.args]
    assert sb.cos(a) is fresh and before == [s, fresh, fresh * b, z]
    assert [n for n in build_order([z]) if n.args] == before
