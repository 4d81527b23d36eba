"""The SymPy bridge and check(): proofs on the lecture's models, and a planted
wrong derivative rule that check() must catch."""
import dataclasses

import numpy as np
import pytest
import sympy

import symback as sb
from symback.ops.registry import OPS


def lecture():
    x, z = sb.var("x"), sb.var("z")
    return sb.exp(x * z) + x * z / sb.log(x) + sb.sin(sb.log(x)) / (x * z), [x, z]


def test_to_sympy_scalar_matches_hand_written_formula():
    y, (x, z) = lecture()
    X, Z = sympy.Symbol("x", real=True), sympy.Symbol("z", real=True)
    expected = sympy.exp(X * Z) + X * Z / sympy.log(X) + sympy.sin(sympy.log(X)) / (X * Z)
    assert sympy.simplify(sb.to_sympy(y) - expected) == 0


def test_to_sympy_arrays_use_indexed_names():
    W, v = sb.var("W", (2, 3)), sb.var("v", (3,))
    out = sb.to_sympy(W @ v)
    assert str(out[0]) == "W[0, 0]*v[0] + W[0, 1]*v[1] + W[0, 2]*v[2]"


def test_check_proves_the_lecture_function_at_the_lecture_point():
    y, wrt = lecture()
    report = sb.check(y, wrt, at={"x": 2.0, "z": 3.0})
    assert report.ok
    assert [r["sympy"] for r in report.rows] == ["proved", "proved"]
    assert report.rows[0]["ad"] == pytest.approx(1208.3812151266, rel=1e-12)
    assert report.rows[1]["ad"] == pytest.approx(809.7074792186, rel=1e-12)
    assert "proved" in str(report) and report.to_dict()["ok"] is True


def test_check_proves_xy2z():
    x, y, z = sb.var("x"), sb.var("y"), sb.var("z")
    report = sb.check(x * (y ** 2 + z), [x, y, z], at={"x": 3.0, "y": -2.0, "z": 1.0})
    assert report.ok and {r["sympy"] for r in report.rows} == {"proved"}
    assert [r["ad"] for r in report.rows] == pytest.approx([5.0, -12.0, 3.0])


def test_check_two_layer_sigmoid_network_with_square_loss():
    x = sb.var("x", (2,))
    W1, b1 = sb.var("W1", (2, 2)), sb.var("b1", (2,))
    W2, b2 = sb.var("W2", (1, 2)), sb.var("b2", (1,))
    target = sb.var("target", (1,))
    out = sb.sigmoid(W2 @ sb.sigmoid(W1 @ x + b1) + b2)
    loss = sb.sum(0.5 * (out - target) ** 2)
    report = sb.check(loss, [W1, b1, W2, b2], timeout=2.0)
    assert report.ok
    assert all(r["sympy"] in ("proved", "agrees") for r in report.rows)
    assert len(report.rows) == 4 + 2 + 2 + 1


def test_check_softmax_cross_entropy_2x3():
    logits = sb.var("logits", (2, 3))
    loss = sb.mean(sb.softmax_cross_entropy(logits, np.array([2, 0])))
    report = sb.check(loss, [logits], timeout=2.0)
    assert report.ok and len(report.rows) == 6


def test_a_planted_wrong_vjp_is_caught(monkeypatch):
    sin = OPS["sin"]
    wrong = dataclasses.replace(sin, vjp=lambda n, g: (g * sb.cos(n.args[0]) * 1.001,))
    monkeypatch.setitem(OPS, "sin", wrong)
    x = sb.var("x")
    report = sb.check(sb.sin(x) * x, [x], at={"x": 0.7})
    assert not report.ok
    assert report.rows[0]["sympy"] == "differs"
    assert not report.rows[0]["fd_ok"]


def test_from_sympy_round_trip_is_equivalent():
    a, b = sympy.symbols("a b", real=True)
    expr = sympy.exp(a) * sympy.Max(a, b) + sympy.Piecewise((sympy.sqrt(a), a > 1), (b ** 2, True)) \
        - sympy.tanh(b) / (1 + sympy.Abs(a))
    va, vb = sb.var("a"), sb.var("b")
    node = sb.from_sympy(expr, {"a": va, "b": vb})
    for pa, pb in [(0.3, 2.0), (1.7, -0.4), (2.5, 2.5)]:
        want = float(expr.subs({a: pa, b: pb}))
        assert float(sb.evaluate(node, {"a": pa, "b": pb})) == pytest.approx(want, rel=1e-12)
    back = sb.from_sympy(sb.to_sympy(node), {"a": va, "b": vb})
    assert float(sb.evaluate(back, {"a": 0.3, "b": 2.0})) == pytest.approx(
        float(sb.evaluate(node, {"a": 0.3, "b": 2.0})), rel=1e-12)


def test_from_sympy_rejects_unsupported_functions_by_name():
    a = sympy.Symbol("a")
    with pytest.raises(NotImplementedError, match="gamma"):
        sb.from_sympy(sympy.gamma(a), {"a": sb.var("a")})


# --- round trips in the user's own symbols ---------------------------------------------------

def test_round_trip_gives_back_the_users_symbols():
    """to_sympy(from_sympy(expr, [a, b])) is in a and b themselves, so it can be
    compared with expr and substituted with the user's symbols."""
    a, b = sympy.symbols("a b", real=True)
    expr = sympy.exp(a) * sympy.sin(b) + a ** 2 / (1 + b ** 2) - sympy.tanh(a * b)
    back = sb.to_sympy(sb.from_sympy(expr, [a, b]))
    assert back.free_symbols == {a, b}
    assert sympy.simplify(back - expr) == 0
    assert float(back.subs({a: 0.7, b: -1.3})) == pytest.approx(float(expr.subs({a: 0.7, b: -1.3})), rel=1e-14)


def test_round_trip_keeps_assumptions():
    x = sympy.Symbol("x", positive=True)
    back = sb.to_sympy(sb.from_sympy(sympy.sqrt(x ** 2) + sympy.log(x), {x: sb.var("x")}))
    (sym,) = back.free_symbols
    assert sym is x and sym.is_positive
    assert sympy.simplify(back - (x + sympy.log(x))) == 0   # sqrt(x**2) = x only because x > 0


def test_two_symbols_with_one_name_are_refused():
    x_pos, x_any = sympy.Symbol("x", positive=True), sympy.Symbol("x")
    with pytest.raises(ValueError, match=r"two different symbols are named 'x'.*positive=True"):
        sb.from_sympy(x_pos + x_any, [x_pos])


def test_latest_from_sympy_decides_and_symbols_argument_overrides():
    """Vars are hash-consed by name: Symbol('y') and Symbol('y', positive=True)
    are one variable y, and the latest from_sympy decides what y gives back."""
    y_any, y_pos = sympy.Symbol("y"), sympy.Symbol("y", positive=True)
    v = sb.var("y")
    assert v in sb.variables([sb.from_sympy(y_any * 2, [y_any])])   # the same var
    assert sb.to_sympy(v) is y_any
    sb.from_sympy(y_pos * 2, [y_pos])
    assert sb.to_sympy(v) is y_pos
    mine = sympy.Symbol("y", negative=True)
    assert sb.to_sympy(v, symbols={v: mine}) is mine
    assert sb.to_sympy(v, symbols={"y": mine}) is mine


def test_variables_made_directly_keep_real_symbols():
    v = sb.var("fresh_real_var")
    assert sb.to_sympy(v) == sympy.Symbol("fresh_real_var", real=True)


@pytest.mark.parametrize("variables", [{"a": 1.0}, [3], "ab"])
def test_from_sympy_rejects_what_is_not_a_variable_mapping(variables):
    a = sympy.Symbol("a")
    with pytest.raises(ValueError, match="from_sympy"):
        sb.from_sympy(a + 1, variables)


def test_to_sympy_rejects_bad_symbols_keys():
    with pytest.raises(ValueError, match="to_sympy: symbols keys"):
        sb.to_sympy(sb.var("x"), symbols={3: sympy.Symbol("x")})


# --- check(at=...) by variable or by name -----------------------------------------------------

def test_check_accepts_the_point_by_variable_or_by_name():
    y, (x, z) = lecture()
    by_node = sb.check(y, [x, z], at={x: 2.0, z: 3.0})
    by_name = sb.check(y, [x, z], at={"x": 2.0, "z": 3.0})
    assert by_node.ok and by_name.ok
    assert [r["ad"] for r in by_node.rows] == [r["ad"] for r in by_name.rows]
    assert by_node.rows[0]["ad"] == pytest.approx(1208.3812151266, rel=1e-12)


@pytest.mark.parametrize("key", ["q", "xx"])
def test_check_names_a_key_that_is_not_a_variable(key):
    y, (x, z) = lecture()
    with pytest.raises(ValueError, match=f"check: at: '{key}' is not a variable of the model.*x, z"):
        sb.check(y, [x, z], at={x: 2.0, key: 3.0})


def test_check_refuses_a_variable_of_another_shape_with_the_same_name():
    y, (x, z) = lecture()
    with pytest.raises(ValueError, match=r"x\(3,\) is not a variable of the model"):
        sb.check(y, [x, z], at={sb.var("x", (3,)): 2.0})
