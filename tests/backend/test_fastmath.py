"""NaN and inf rules under the kernels' ``fastmath={"reassoc"}`` (backend/numba.py NJIT_FLAGS).

Found by the fuzzer (Numba tier, seeds 30200-30219, program p13): LLVM folds
``exp(log(x))`` to ``x`` and ``log(exp(x))`` to ``x`` on calls flagged ``reassoc``, and
Numba gives a kernel's flags to every float-returning call and to every function the
kernel calls that does not set fastmath itself.  exp(log(-1.17)) came out -1.17 instead
of NaN, log(exp(1000)) 1000 instead of inf.  Now libm's exp and log are called through
wrappers compiled with ``fastmath=False`` (vecmath.LIBM_WRAPPED), and the vectorisable
helpers set it too, so their rounding tricks are never reassociated.
"""
import numpy as np
import pytest

import symback as sb

def test_scalar_exp_of_log_of_a_negative_is_nan():
    x = sb.var("x")
    k = sb.compile([sb.exp(sb.log(x)), sb.log(sb.exp(x))], [x], name="fastmath_scalar")
    a, _ = k(-1.17)
    _, b = k(1000.0)
    assert np.isnan(a) and b == np.inf


def test_short_loop_exp_of_log_of_a_negative_is_nan():
    x = sb.var("x", (3,))
    k = sb.compile([sb.exp(sb.log(x))], [x], name="fastmath_loop")
    out = k(np.array([0.5, -1.17, 2.0]))[0]
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.5)


def test_vectorised_loop_keeps_nan():
    """Call-time sized loops use the helpers, which LLVM cannot fold."""
    x = sb.var("x", (None,))
    k = sb.compile([sb.exp(sb.log(x))], [x], name="fastmath_vector", vector_math="auto")
    out = k(np.array([0.5, 2.0, 3.0, 4.0]))[0]
    np.testing.assert_allclose(out, [0.5, 2.0, 3.0, 4.0], rtol=1e-15)
    assert np.isnan(k(np.array([0.5, 2.0, -3.0, 4.0]))[0][2])


def test_a_nest_run_again_with_libm_keeps_nan():
    """The fuzzer's case: sin of a NaN sends the nest to its libm run, where
    exp(log(x)) of a negative x was folded to x."""
    x = sb.var("x", (3, None))
    t = sb.exp(sb.log(x))
    k = sb.compile([t, sb.sin(t - sb.log(x))], [x], name="fastmath_again")
    assert "# again, with libm:" in k.source
    xv = np.array([[0.6, 0.46], [-1.17, 1.0], [0.2, 1.05]])
    got = k(xv)
    want = sb.evaluate([t, sb.sin(t - sb.log(x))], {x: xv})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-14)   # NaN where the interpreter has NaN


def test_products_and_quotients_of_powers_keep_nan_and_inf():
    """LLVM folds pow(x, a) * pow(x, b) -> pow(x, a + b) and sqrt(x) * sqrt(x) -> x
    under reassoc, which would turn NaN (a negative base) into a number.  Numba
    lowers ``**`` and sqrt so that nothing folds today; this guards it."""
    x, a, b = (sb.var(n, (None,)) for n in "xab")
    outs = [x ** a * x ** b, sb.sqrt(x) * sb.sqrt(x), x ** a / x ** b, x ** 2.5 * x ** 0.5]
    k = sb.compile(outs, [x, a, b], name="fastmath_pow")
    xv = np.array([-2.0, -2.0, 0.0, np.inf, 3.0] * 4)
    av = np.array([0.5, 1.5, -1.0, -1.0, 0.3] * 4)
    bv = np.array([0.5, 1.5, 1.0, 1.0, 0.2] * 4)
    got = k(xv, av, bv)
    want = sb.evaluate(outs, {x: xv, a: av, b: bv})
    assert np.isnan(got[0][0]) and np.isnan(got[1][0]) and got[2][2] == np.inf
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-14)   # NaN/inf exactly where the interpreter has them
