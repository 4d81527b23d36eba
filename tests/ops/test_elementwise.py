"""Elementwise ops: arithmetic, transcendental, kinks, selection, comparison,
logic, casts and the NaN-safe ``adjoint_mul``.

Every case is checked by the interpreter against plain numpy, by finite
differences against ``sb.grad``/``sb.jvp`` (interpreted), and by one batched
compiled kernel against the interpreter.  The non-smooth and NaN-safety
conventions of DESIGN.md have dedicated tests, interpreted and compiled.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st

import symback as sb
from symback.ops import apply

from .helpers import (Case, Compiled, VarTable, assert_same_dtype_shape, check_grad, check_jvp, check_value,
                      covers, params)

COVERED: set = set()

# --- variables --------------------------------------------------------------------------

T = VarTable()
SHAPES = {"s": (), "31": (3, 1), "4": (4,), "23": (2, 3)}
for _k, _shape in SHAPES.items():
    T.add(f"x{_k}", _shape, "signed")     # |x| in [0.2, 1.2], both signs, no zeros
    T.add(f"y{_k}", _shape, "signed")
    T.add(f"p{_k}", _shape, "positive")   # 0.5 .. 1.5
    T.add(f"q{_k}", _shape, "positive")
T.add("e23", (2, 3), "small_int")         # floats in {-1, 0, 1}: comparisons see ties
T.add("f23", (2, 3), "small_int")
T.add("i23", (2, 3), "int", dtype="int64")
T.add("j23", (2, 3), "small_int", dtype="int64")
T.add("i_s", (), "int", dtype="int64", value=3)
T.add("b23", (2, 3), dtype="bool", value=[[True, False, True], [False, False, True]])
T.add("a32", (2, 3), "signed", dtype="float32")

# (x shape, y shape) pairs: equal scalars, (3,1) with (4,), scalar with (2,3) both ways, equal arrays
PAIRS = [("s", "s"), ("31", "4"), ("s", "23"), ("23", "s"), ("23", "23")]
UNARY_SHAPES = ["s", "31", "23"]

CASES: list[Case] = []


def _add(case_id, build, ref, args, **kw):
    CASES.append(Case(case_id, build, ref, tuple(args), **kw))


# binary arithmetic, with every broadcasting pair
BINARY = [
    ("add", lambda a, b: a + b, np.add, "x", "y"),
    ("sub", lambda a, b: a - b, np.subtract, "x", "y"),
    ("mul", lambda a, b: a * b, np.multiply, "x", "y"),
    ("div", lambda a, b: a / b, np.divide, "x", "y"),
    ("pow_var", lambda a, b: a ** b, np.power, "p", "y"),          # variable exponent
    ("maximum", sb.maximum, np.maximum, "x", "y"),
    ("minimum", sb.minimum, np.minimum, "x", "y"),
    ("add_fn", sb.add, np.add, "x", "y"),
    ("subtract_fn", sb.subtract, np.subtract, "x", "y"),
    ("multiply_fn", sb.multiply, np.multiply, "x", "y"),
    ("divide_fn", sb.divide, np.divide, "p", "x"),
    ("power_fn", sb.power, np.power, "p", "q"),
]
for _name, _build, _ref, _a, _b in BINARY:
    for _sa, _sb in PAIRS:
        _add(f"{_name}[{_sa},{_sb}]", _build, _ref, [f"{_a}{_sa}", f"{_b}{_sb}"])

# unary functions on scalars and arrays
UNARY = [
    ("neg", lambda a: -a, np.negative, "x"),
    ("negative_fn", sb.negative, np.negative, "x"),
    ("exp", sb.exp, np.exp, "x"),
    ("log", sb.log, np.log, "p"),
    ("sin", sb.sin, np.sin, "x"),
    ("cos", sb.cos, np.cos, "x"),
    ("tan", sb.tan, np.tan, "x"),
    ("tanh", sb.tanh, np.tanh, "x"),
    ("sqrt", sb.sqrt, np.sqrt, "p"),
    ("abs", sb.abs, np.abs, "x"),
    ("abs_builtin", lambda a: abs(a), np.abs, "x"),
    ("sigmoid", sb.sigmoid, scipy.special.expit, "x"),
    ("relu", sb.relu, lambda a: np.where(a > 0, a, 0.0), "x"),
    ("sign", sb.sign, np.sign, "x"),
    ("square", sb.square, np.square, "x"),
    # pow with constant exponents (some have special emission)
    ("pow2", lambda a: a ** 2, lambda a: a * a, "x"),
    ("pow3", lambda a: a ** 3, lambda a: a * a * a, "x"),
    ("pow_half", lambda a: a ** 0.5, np.sqrt, "p"),
    ("pow_m1", lambda a: a ** -1, lambda a: 1.0 / a, "x"),
    ("pow_2_5", lambda a: a ** 2.5, lambda a: np.power(a, 2.5), "p"),
    ("pow_m1_5", lambda a: a ** -1.5, lambda a: np.power(a, -1.5), "p"),
    ("pow_int_exponent", lambda a: a ** 4, lambda a: a ** 4, "x"),
    ("pow_const_array_exponent", lambda a: a ** np.array([1.5, 2.0, 3.0]),
     lambda a: a ** np.array([1.5, 2.0, 3.0]), "p"),
    # constants on the left, numpy arrays on the left (numpy defers to the node)
    ("rsub_const", lambda a: 1.5 - a, lambda a: 1.5 - a, "x"),
    ("rdiv_const", lambda a: 2.0 / a, lambda a: 2.0 / a, "x"),
    ("rpow_const", lambda a: 2.0 ** a, lambda a: 2.0 ** a, "x"),
    ("radd_int", lambda a: 3 + a, lambda a: 3 + a, "x"),
]
for _name, _build, _ref, _a in UNARY:
    for _s in UNARY_SHAPES:
        if _name == "pow_const_array_exponent" and _s == "31":
            continue
        _add(f"{_name}[{_s}]", _build, _ref, [f"{_a}{_s}"])

_M = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]])
_add("ndarray_left_mul", lambda a: _M * a, lambda a: _M * a, ["x23"])
_add("ndarray_left_sub", lambda a: _M - a, lambda a: _M - a, ["x23"])
_add("ndarray_left_div", lambda a: _M / a, lambda a: _M / a, ["x23"])
_add("chain", lambda a, b: sb.tanh(sb.exp(a) * b - sb.sin(a * b)) / (1.0 + b * b),
     lambda a, b: np.tanh(np.exp(a) * b - np.sin(a * b)) / (1.0 + b * b), ["x31", "y4"])
_add("reuse", lambda a: a * sb.exp(a) + sb.exp(a) / (a * a + 1.0),
     lambda a: a * np.exp(a) + np.exp(a) / (a * a + 1.0), ["x23"])

# selection and comparison
CMPS = [
    ("less", lambda a, b: a < b, sb.less, np.less),
    ("less_equal", lambda a, b: a <= b, sb.less_equal, np.less_equal),
    ("greater", lambda a, b: a > b, sb.greater, np.greater),
    ("greater_equal", lambda a, b: a >= b, sb.greater_equal, np.greater_equal),
    ("equal", sb.equal, sb.equal, np.equal),
    ("not_equal", sb.not_equal, sb.not_equal, np.not_equal),
]
for _name, _op, _fn, _np in CMPS:
    # values (with ties) and their dtype, float and int, broadcasting, against constants
    _add(f"{_name}[ties]", _op, _np, ["e23", "f23"], diff=False)
    _add(f"{_name}_fn[ties]", _fn, _np, ["e23", "f23"], diff=False)
    _add(f"{_name}[int]", _op, _np, ["i23", "j23"], diff=False)
    _add(f"{_name}[31,4]", _op, _np, ["x31", "y4"], diff=False)
    _add(f"{_name}[const]", lambda a, _o=_op: _o(a, 0.0), lambda a, _n=_np: _n(a, 0.0), ["e23"], diff=False)
    _add(f"{_name}[int,float]", _op, _np, ["j23", "e23"], diff=False)
    # gradients flow through the selected branch only
    _add(f"where_{_name}[31,4]", lambda a, b, _o=_op: sb.where(_o(a, b), a * b, a - 2.0 * b),
         lambda a, b, _n=_np: np.where(_n(a, b), a * b, a - 2.0 * b), ["x31", "y4"])

_add("where[s,23]", lambda a, b: sb.where(a > b, sb.exp(a), b * b),
     lambda a, b: np.where(a > b, np.exp(a), b * b), ["xs", "y23"])
_add("where[23,s]", lambda a, b: sb.where(a > b, a, b), lambda a, b: np.where(a > b, a, b), ["x23", "ys"])
_add("where[s,s]", lambda a, b: sb.where(a > b, a * b, b), lambda a, b: np.where(a > b, a * b, b), ["xs", "ys"])
_add("where_const_branch", lambda a: sb.where(a > 0.0, a * a, 0.0),
     lambda a: np.where(a > 0, a * a, 0.0), ["x23"])
_add("where_bool_var", lambda c, a, b: sb.where(c, a, b), lambda c, a, b: np.where(c, a, b),
     ["b23", "x23", "ys"])
_add("where_scalar_cond", lambda a, b: sb.where(a > 0.0, b, -b), lambda a, b: np.where(a > 0, b, -b),
     ["xs", "y23"])
_add("where_int", lambda c, a, b: sb.where(c, a, b), lambda c, a, b: np.where(c, a, b),
     ["b23", "i23", "j23"], diff=False)

# logic
_add("logical_and", lambda a, b: sb.logical_and(a > 0.0, sb.less_equal(b, 0.0)),
     lambda a, b: np.logical_and(a > 0, b <= 0), ["e23", "f23"], diff=False)
_add("logical_and_var", lambda c, a: sb.logical_and(c, sb.equal(a, 0.0)),
     lambda c, a: np.logical_and(c, a == 0), ["b23", "e23"], diff=False)
_add("logical_not", lambda a, b: sb.logical_not(sb.equal(a, b)), lambda a, b: np.logical_not(a == b),
     ["e23", "f23"], diff=False)
_add("logical_not_var", sb.logical_not, np.logical_not, ["b23"], diff=False)
_add("where_logic", lambda a, b: sb.where(sb.logical_and(a > -0.5, sb.logical_not(b > 0.5)), a * b, a),
     lambda a, b: np.where(np.logical_and(a > -0.5, np.logical_not(b > 0.5)), a * b, a), ["x23", "y23"])

# integers and mixed dtypes
_add("int_add", lambda a, b: a + b, np.add, ["i23", "j23"], diff=False)
_add("int_sub", lambda a, b: a - b, np.subtract, ["i23", "j23"], diff=False)
_add("int_mul", lambda a, b: a * b, np.multiply, ["i_s", "i23"], diff=False)
_add("int_neg", lambda a: -a, np.negative, ["i23"], diff=False)
_add("int_abs", sb.abs, np.abs, ["i23"], diff=False)
_add("int_sign", sb.sign, np.sign, ["i23"], diff=False)
_add("int_maximum", sb.maximum, np.maximum, ["i23", "j23"], diff=False)
_add("int_minimum", sb.minimum, np.minimum, ["i23", "j23"], diff=False)
_add("int_plus_pyint", lambda a: a + 2, lambda a: a + 2, ["i23"], diff=False)
_add("int_float_add", lambda a, b: a + b, np.add, ["i23", "x23"])
_add("int_float_mul", lambda a, b: a * b, np.multiply, ["i_s", "x23"])
_add("int_div", lambda a, b: a / b, lambda a, b: np.true_divide(a, b).astype(np.float64),
     ["i_s", "j23"], diff=False)
_add("f32_times_pyfloat", lambda a: a * 2.0, lambda a: a * np.float32(2.0), ["a32"], diff=False)
_add("f32_exp", sb.exp, np.exp, ["a32"], diff=False, value_rtol=1e-6)
_add("f32_plus_f64", lambda a, b: a + b, np.add, ["a32", "x23"], diff=False)

# casts
_add("astype_f32", lambda a: sb.astype(a, "float32"), lambda a: a.astype(np.float32), ["x23"], diff=False)
_add("astype_method", lambda a: a.astype(np.float32), lambda a: a.astype(np.float32), ["x23"], diff=False)
_add("astype_int", lambda a: sb.astype(a * 3.0, "int64"), lambda a: (a * 3.0).astype(np.int64),
     ["x23"], diff=False)
_add("astype_bool_to_float", lambda a: sb.astype(a > 0.0, "float64"), lambda a: (a > 0).astype(np.float64),
     ["x23"], diff=False)
_add("astype_int_to_float", lambda a, b: sb.astype(a, "float64") * b, lambda a, b: a.astype(np.float64) * b,
     ["i23", "x23"])
_add("astype_f32_roundtrip", lambda a, b: sb.astype(sb.astype(a, "float32"), "float64") * b,
     lambda a, b: a.astype(np.float32).astype(np.float64) * b, ["x23", "y23"], fd_h=1e-3, fd_rtol=1e-3, jvp_rtol=1e-6)
_add("astype_f32_to_f64", lambda a: sb.astype(a, "float64") * 2.0, lambda a: a.astype(np.float64) * 2.0,
     ["a32"], diff=False)

# the NaN-safe adjoint product: 0 wherever its first argument is 0 (even against inf)
_add("adjoint_mul", lambda g, d: apply("adjoint_mul", g, d), lambda g, d: g * d, ["x31", "y4"])
_add("adjoint_mul_zero", lambda g, d: apply("adjoint_mul", g, 1.0 / d),
     lambda g, d: np.where(g == 0, 0.0, g / d), ["e23", "f23"], diff=False)


# The compiled kernel takes a subset: Numba's compile time grows faster than
# linearly with kernel size.  Every op is in it at least once (values), every
# differentiable op in its total loss; the aliases (sb.add, ...) build the very
# same nodes as the operators and are left out.
_BIN_CORE = ["add", "sub", "mul", "div", "pow_var", "maximum", "minimum"]
_UNARY_CORE = ["exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "abs", "sigmoid", "relu", "sign", "square",
               "pow3", "pow_half", "pow_m1", "pow_2_5", "pow_m1_5", "pow_const_array_exponent", "rsub_const",
               "rdiv_const", "rpow_const", "neg"]
_COMPILED = (
    {f"{b}[31,4]" for b in _BIN_CORE} | {f"{b}[s,s]" for b in _BIN_CORE} | {"add[s,23]", "mul[s,23]", "div[23,s]"}
    | {f"{u}[23]" for u in _UNARY_CORE} | {f"{u}[s]" for u in ("exp", "log", "sqrt", "sigmoid", "relu", "abs",
                                                                "pow_half", "pow_m1", "sign")}
    | {f"{c[0]}[31,4]" for c in CMPS} | {f"{c[0]}[int]" for c in CMPS} | {"equal[ties]", "less_equal[ties]"}
    | {"where_less[31,4]", "where_equal[31,4]", "where[s,23]", "where_bool_var", "where_int", "where_scalar_cond",
       "logical_and", "logical_and_var", "logical_not", "logical_not_var", "where_logic",
       "int_add", "int_mul", "int_abs", "int_sign", "int_maximum", "int_div", "int_float_mul",
       "f32_times_pyfloat", "f32_exp", "f32_plus_f64", "astype_f32", "astype_int", "astype_bool_to_float",
       "astype_int_to_float", "astype_f32_roundtrip", "astype_f32_to_f64", "adjoint_mul", "adjoint_mul_zero",
       "ndarray_left_mul", "chain"})
_COMPILED_DIFF = (
    {f"{b}[31,4]" for b in _BIN_CORE} | {"pow_var[s,s]", "maximum[s,s]", "div[s,s]", "mul[s,23]"}
    | {f"{u}[23]" for u in ("exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "abs", "sigmoid", "relu",
                            "sign", "pow_half", "pow_m1_5", "rpow_const")}
    | {"exp[s]", "where_less[31,4]", "where_bool_var", "where_logic", "astype_int_to_float",
       "astype_f32_roundtrip", "adjoint_mul", "chain", "int_float_mul"})
assert _COMPILED_DIFF <= _COMPILED <= {c.id for c in CASES}, _COMPILED - {c.id for c in CASES}
for _c in CASES:
    _c.compiled = _c.id in _COMPILED
    _c.compiled_diff = _c.id in _COMPILED_DIFF

#: a few cases for the sb.value_and_grad entry point (its own small kernel)
VAG_CASES = [c for c in CASES if c.id in {"mul[31,4]", "div[s,s]", "where_less[31,4]", "log[23]", "tanh[s]"}]

DIFF_CASES = [c for c in CASES if c.diff]


def _ids(cases):
    return [c.id for c in cases]


assert len(set(_ids(CASES))) == len(CASES)


# --- oracle 1: interpreter vs numpy ------------------------------------------------------------


@pytest.mark.parametrize("case", params(CASES))
def test_value(case):
    got = check_value(case, T)
    assert_same_dtype_shape(got, case.expr(T))


# --- oracle 2: finite differences vs grad, jvp vs grad -----------------------------------------


@pytest.mark.parametrize("case", params(DIFF_CASES))
def test_grad_matches_finite_differences(case):
    check_grad(case, T)


@pytest.mark.parametrize("case", params(DIFF_CASES))
def test_jvp_matches_grad_and_finite_differences(case):
    check_jvp(case, T)


# --- oracle 3: compiled == interpreted ----------------------------------------------------------


@pytest.fixture(scope="module")
def compiled():
    return Compiled(CASES, T, "ops_elementwise", vag_cases=VAG_CASES, check_forward=True)


# one test per kernel, so that pytest-xdist workers never compile the same kernel twice


def test_compiled_matches_interpreter(compiled):
    assert compiled.check_values() > 80
    assert compiled.check_derivatives() >= 8


def test_compiled_value_and_grad_matches_interpreter(compiled):
    grads = compiled.check_value_and_grad()
    assert len(grads) >= 5


# --- DESIGN conventions: kinks, ties, NaN-safety, large magnitudes --------------------------------

C = VarTable()
C.add("z", (5,), value=[-2.0, -0.0, 0.0, 0.5, 3.0])
C.add("zs", (), value=0.0)
C.add("u", (4,), value=[1.0, 2.0, 3.0, 4.0])
C.add("v", (4,), value=[1.0, 0.0, 3.0, 5.0])
C.add("us", (), value=1.5)
C.add("vs", (), value=1.5)
C.add("w", (3,), value=[-1.0, 0.0, 4.0])
C.add("w2", (3,), value=[-2.0, 0.0, 0.5])
C.add("x0", (), value=0.0)
C.add("y2", (), value=2.0)
C.add("px", (3,), value=[0.0, 0.0, 2.0])
C.add("py", (3,), value=[2.0, 3.0, 0.5])
C.add("big", (3,), value=[-1000.0, 0.0, 1000.0])


def _conventions():
    z, zs, u, v, us, vs = C["z"], C["zs"], C["u"], C["v"], C["us"], C["vs"]
    w, w2, x0, y2, px, py, big = C["w"], C["w2"], C["x0"], C["y2"], C["px"], C["py"], C["big"]
    ones5, ones3 = np.ones(5), np.ones(3)
    s2 = np.sqrt(2.0)
    return {
        # relu'(0) = 0 and abs'(0) = 0 (also at -0.0), reverse and forward mode
        "relu_grad_at_0": ([sb.grad(sb.sum(sb.relu(z)), z), sb.jvp(sb.relu(z), {z: ones5})],
                           [[0, 0, 0, 1, 1], [0, 0, 0, 1, 1]]),
        "abs_grad_at_0": ([sb.grad(sb.sum(sb.abs(z)), z), sb.jvp(sb.abs(z), {z: ones5})],
                          [[-1, 0, 0, 1, 1], [-1, 0, 0, 1, 1]]),
        "relu_abs_scalar_at_0": ([sb.grad(sb.relu(zs), zs), sb.grad(sb.abs(zs), zs), sb.relu(zs)],
                                 [0.0, 0.0, 0.0]),
        # maximum/minimum: a tie splits the adjoint 0.5/0.5
        "maximum_self": ([sb.grad(sb.sum(sb.maximum(z, z)), z), sb.maximum(z, z)], [ones5, C.values["z"]]),
        "minimum_self": ([sb.grad(sb.sum(sb.minimum(z, z)), z)], [ones5]),
        "maximum_tie": (sb.grad(sb.sum(sb.maximum(u, v)), [u, v]), [[0.5, 1, 0.5, 0], [0.5, 0, 0.5, 1]]),
        "minimum_tie": (sb.grad(sb.sum(sb.minimum(u, v)), [u, v]), [[0.5, 0, 0.5, 1], [0.5, 1, 0.5, 0]]),
        "maximum_tie_scalar": (sb.grad(sb.maximum(us, vs), [us, vs]) + sb.grad(sb.minimum(us, vs), [us, vs]),
                               [0.5, 0.5, 0.5, 0.5]),
        "maximum_tie_jvp": ([sb.jvp(sb.maximum(u, v), {u: np.ones(4), v: 2 * np.ones(4)}),
                             sb.jvp(sb.minimum(u, v), {u: np.ones(4), v: 2 * np.ones(4)})],
                            [[1.5, 1, 1.5, 2], [1.5, 2, 1.5, 1]]),
        # NaN-safety through where
        "where_sqrt": ([sb.where(w > 0.0, sb.sqrt(w), 0.0), sb.grad(sb.sum(sb.where(w > 0.0, sb.sqrt(w), 0.0)), w),
                        sb.jvp(sb.where(w > 0.0, sb.sqrt(w), 0.0), {w: ones3})],
                       [[0, 0, 2], [0, 0, 0.25], [0, 0, 0.25]]),
        "where_reciprocal": ([sb.grad(sb.sum(sb.where(sb.not_equal(w2, 0.0), 1.0 / w2, 0.0)), w2),
                              sb.jvp(sb.where(sb.not_equal(w2, 0.0), 1.0 / w2, 0.0), {w2: ones3})],
                             [[-0.25, 0, -4], [-0.25, 0, -4]]),
        "where_divide": ([sb.grad(sb.sum(sb.where(sb.not_equal(w2, 0.0), w / w2, 0.0)), [w, w2])[1]],
                         [[0.25, 0, -16.0]]),
        "where_log": ([sb.grad(sb.sum(sb.where(w > 0.0, sb.log(w), 0.0)), w)], [[0, 0, 0.25]]),
        "where_pow_half": ([sb.grad(sb.sum(sb.where(w > 0.0, w ** 0.5, 0.0)), w)], [[0, 0, 0.25]]),
        "where_pow_1_5": ([sb.grad(sb.sum(sb.where(w > 0.0, w ** 1.5, 0.0)), w)], [[0, 0, 3.0]]),
        # pow at a zero base: d/dy x**y = 0 at x = 0 (y = 2), d/dx = 0 too
        "pow_zero_base": ([x0 ** y2] + sb.grad(x0 ** y2, [x0, y2]) + [sb.jvp(x0 ** y2, {x0: 1.0, y2: 1.0})],
                          [0.0, 0.0, 0.0, 0.0]),
        "pow_zero_base_array": (sb.grad(sb.sum(px ** py), [px, py]),
                                [[0, 0, 0.5 / s2], [0, 0, s2 * np.log(2.0)]]),
        # large magnitudes
        "sigmoid_large": ([sb.sigmoid(big), sb.grad(sb.sum(sb.sigmoid(big)), big)],
                          [[0, 0.5, 1], [0, 0.25, 0]]),
        "tanh_large": ([sb.tanh(big), sb.grad(sb.sum(sb.tanh(big)), big)], [[-1, 0, 1], [0, 1, 0]]),
    }


CONVENTIONS = _conventions()


@pytest.mark.parametrize("name", list(CONVENTIONS))
def test_convention_interpreter(name):
    outputs, expected = CONVENTIONS[name]
    got = sb.evaluate(list(outputs), C.env())
    assert len(got) == len(expected)
    for g, e, node in zip(got, expected, outputs, strict=True):
        assert np.all(np.isfinite(g)), (name, g)
        assert_same_dtype_shape(g, node)
        np.testing.assert_allclose(g, np.asarray(e, dtype=np.float64), rtol=1e-14, atol=1e-300, err_msg=name)


def test_conventions_compiled():
    """The same conventions in one compiled kernel (one test: one compile)."""
    names, outputs = [], []
    for name, (outs, _) in CONVENTIONS.items():
        for o in outs:
            names.append(name)
            outputs.append(o)
    kernel = sb.compile(outputs, None, name="ops_conventions")
    env = C.env()
    results = kernel(*[env[n] for n in kernel.inputs])
    failures = []
    for name, (outs, expected) in CONVENTIONS.items():
        got = [r for n, r in zip(names, results, strict=True) if n == name]
        assert len(got) == len(expected) == len(outs)
        for g, e, node in zip(got, expected, outs, strict=True):
            g = np.asarray(g)
            ok = (g.shape == tuple(node.shape) and g.dtype == np.float64 and np.all(np.isfinite(g))
                  and np.allclose(g, np.asarray(e, dtype=np.float64), rtol=1e-14, atol=1e-300))
            if not ok:
                failures.append(f"{name}: got {g!r}, expected {e!r}")
    assert not failures, "\n".join(failures)


# --- adjoint_mul: NaN-safe product, directly ------------------------------------------------------


@covers(COVERED, "adjoint_mul")
def test_adjoint_mul_is_zero_where_adjoint_is_zero():
    g = sb.var("g_am", (4,))
    d = sb.var("d_am", (4,))
    out = apply("adjoint_mul", g, d)
    gv = np.array([0.0, 0.0, 2.0, -1.0])
    dv = np.array([np.inf, np.nan, 3.0, -np.inf])
    got = sb.evaluate(out, {g: gv, d: dv})
    np.testing.assert_array_equal(got, [0.0, 0.0, 6.0, np.inf])
    # the rule with a nonzero constant adjoint is a plain product
    assert apply("adjoint_mul", 2.0, d).op == "mul"


def test_sign_has_zero_gradient():
    x = T["x23"]
    (g,) = sb.grad(sb.sum(sb.sign(x) * x), [x])
    np.testing.assert_array_equal(sb.evaluate(g, T.env()), np.sign(T.values["x23"]))


def test_int_division_by_zero():
    """Integer division follows numpy's true division (inf/nan at 0, no error)."""
    a, b = sb.var("ia", (3,), "int64"), sb.var("ib", (3,), "int64")
    got = sb.evaluate(a / b, {a: np.array([1, 0, -4]), b: np.array([0, 0, 2])})
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [np.inf, np.nan, -2.0])


def test_comparison_dunders_build_expressions():
    x = T["x23"]
    for expr in (x < 0.0, x <= 0.0, x > 0.0, x >= 0.0):
        assert isinstance(expr, sb.Node) and expr.dtype == "bool"
    # `==` keeps its structural meaning (nodes are dict keys); sb.equal is elementwise
    assert (x == x) is True and sb.equal(x, x).dtype == "bool"
    assert isinstance(np.ones((2, 3)) + x, sb.Node)


# --- hypothesis: random broadcast shapes and values, interpreter only ------------------------------

_BIN = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "maximum": (sb.maximum, np.maximum),
    "minimum": (sb.minimum, np.minimum),
    "where": (lambda a, b: sb.where(a > b, a, b * 2.0), lambda a, b: np.where(a > b, a, b * 2.0)),
}


@st.composite
def _broadcast_pair(draw):
    nd = draw(st.integers(0, 3))
    full = [draw(st.integers(1, 3)) for _ in range(nd)]

    def side():
        k = draw(st.integers(0, nd))
        return tuple(1 if draw(st.booleans()) else d for d in full[nd - k:])
    return side(), side()


@settings(max_examples=40, deadline=None)
@given(op=st.sampled_from(sorted(_BIN)), shapes=_broadcast_pair(), seed=st.integers(0, 2 ** 16))
def test_binary_broadcasting_random(op, shapes, seed):
    build, ref = _BIN[op]
    r = np.random.default_rng(seed)
    a = sb.var("ha", shapes[0])
    b = sb.var("hb", shapes[1])
    av, bv = r.normal(size=shapes[0]), r.normal(size=shapes[1])
    y = build(a, b)
    want = ref(av, bv)
    got = sb.evaluate(y, {a: av, b: bv})
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-15)
    # the gradient of sum(y) has each argument's shape and sums over the broadcast axes
    ga, gb = sb.evaluate(sb.grad(sb.sum(y), [a, b]), {a: av, b: bv})
    assert ga.shape == shapes[0] and gb.shape == shapes[1]
    if op == "add":
        full = np.broadcast_shapes(shapes[0], shapes[1])
        np.testing.assert_allclose(ga, np.full(shapes[0], np.prod(full) / max(1, np.prod(shapes[0]))))


@settings(max_examples=40, deadline=None)
@given(x=st.floats(-30, 30), y=st.floats(0.1, 5))
def test_unary_scalars_random(x, y):
    xv, yv = sb.var("hx"), sb.var("hy")
    outs = [sb.exp(xv), sb.sin(xv), sb.cos(xv), sb.tanh(xv), sb.sigmoid(xv), sb.log(yv), sb.sqrt(yv),
            sb.abs(xv), sb.relu(xv), yv ** xv]
    refs = [np.exp(x), np.sin(x), np.cos(x), np.tanh(x), scipy.special.expit(x), np.log(y), np.sqrt(y),
            abs(x), max(x, 0.0), y ** x]
    got = sb.evaluate(outs, {xv: x, yv: y})
    for g, r in zip(got, refs, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-13, atol=1e-300)
