"""The vectorisable exp/log/tanh/sin/cos helpers of generated modules (backend/vecmath.py).

Oracles: the C library (Python's ``math`` module, what Numba calls for
``math.exp``), exact special values from DESIGN.md, and the numpy interpreter
``sb.evaluate`` for a whole compiled kernel.  One compiled kernel serves all the
sweeps (compiles are slow).
"""
import math
import re

import numba
import numpy as np
import pytest

import symback as sb
from symback.backend import vecmath

TINY = 2.2250738585072014e-308      # smallest normal float64
SUB = 5e-324                        # subnormal step


@pytest.fixture(scope="module")
def elementwise():
    """One fused loop computing exp, log, sin, cos and tanh of the same array."""
    x = sb.var("x", (None,))
    return sb.compile([sb.exp(x), sb.log(x), sb.sin(x), sb.cos(x), sb.tanh(x)], [x], name="vecmath_sweep",
                      parallel=False, vector_math=True)


def _libm(f, x):
    return np.array([f(v) if math.isfinite(v) else math.nan for v in x.tolist()])


def _check(got, x, f, rel=1e-12, sub_steps=1):
    """``got`` within ``rel`` of libm's ``f`` for normal results, within
    ``sub_steps`` subnormal steps for subnormal ones; equal where libm gives
    0, inf or nan (specials are tested separately)."""
    with np.errstate(all="ignore"):
        want = np.array([_safe(f, v) for v in x.tolist()])
    exact = ~np.isfinite(want) | (want == 0)
    np.testing.assert_array_equal(got[exact], want[exact], err_msg=f"{f.__name__}: specials")
    normal = ~exact & (np.abs(want) >= TINY)
    err = np.abs(got[normal] - want[normal]) / np.abs(want[normal])
    worst = int(np.argmax(err)) if err.size else 0
    assert err.size == 0 or err.max() <= rel, \
        f"{f.__name__}({x[normal][worst]!r}) = {got[normal][worst]!r}, libm {want[normal][worst]!r}: rel {err.max():.3g}"
    subnormal = ~exact & ~normal
    assert np.all(np.abs(got[subnormal] - want[subnormal]) <= sub_steps * SUB), f.__name__


def _safe(f, v):
    try:
        return f(v)
    except OverflowError:
        return math.inf
    except ValueError:   # log(0), log(< 0), sin(inf)
        if f is math.log and v == 0.0:
            return -math.inf
        return math.nan


def _random_bits(rng, n, negative=False):
    x = rng.integers(0, 0x7FF0000000000000, n).view(np.float64)   # every finite positive
    return -x if negative else x


def test_exp_matches_libm(elementwise):
    rng = np.random.default_rng(1)
    k = np.arange(-1080, 1030)
    x = np.concatenate([np.linspace(-760.0, 720.0, 150_001), rng.uniform(-1, 1, 20_000),
                        np.linspace(-745.2, -707.0, 20_001),          # subnormal results
                        k * math.log(2), np.nextafter(k * math.log(2), np.inf),
                        [709.782712893384, 709.7827128933841, -745.1332191019411, -745.1332191019412,
                         1e-300, -1e-300, SUB, -SUB, 1e300, -1e300]])
    _check(elementwise(x)[0], x, math.exp)


def test_log_matches_libm(elementwise):
    rng = np.random.default_rng(2)
    powers = 2.0 ** np.arange(-1074, 1024)
    x = np.concatenate([_random_bits(rng, 150_000), powers, np.nextafter(powers, 0), np.nextafter(powers, np.inf),
                        np.linspace(0.5, 2.0, 20_001), 1 + rng.uniform(-1e-6, 1e-6, 2000),
                        [SUB, TINY, np.nextafter(TINY, 0), 1.7976931348623157e308]])
    _check(elementwise(x)[1], x, math.log)


@pytest.mark.parametrize("which", ["sin", "cos"])
def test_sin_cos_match_libm(elementwise, which):
    rng = np.random.default_rng(3)
    k = rng.integers(1, 1 << 40, 20_000).astype(np.float64)
    quarter = k * (np.pi / 2)                   # results near 0 test the reduction
    x = np.concatenate([_random_bits(rng, 60_000), _random_bits(rng, 60_000, negative=True),
                        np.linspace(-1e7, 1e7, 50_001), np.linspace(-10, 10, 20_001),
                        quarter, np.nextafter(quarter, 0), np.arange(1, 20_000) * np.pi,
                        [1048576.0, np.nextafter(1048576.0, 0), 1.7976931348623157e308, 5.319372648326541e+255,
                         SUB, -SUB, 1e-300]])
    got = elementwise(x)[2 if which == "sin" else 3]
    _check(got, x, getattr(math, which))


def test_tanh_matches_libm(elementwise):
    """Small arguments keep their relative accuracy (tanh x ~ x: the expm1 form), the
    switch between reductions (|2x| near multiples of ln2/2), the approach to 1."""
    rng = np.random.default_rng(4)
    k = np.arange(1, 120)
    x = np.concatenate([_random_bits(rng, 60_000), _random_bits(rng, 60_000, negative=True),
                        np.linspace(-25, 25, 100_001), rng.uniform(-1e-3, 1e-3, 20_000),
                        k * math.log(2) / 4, np.nextafter(k * math.log(2) / 4, 0),
                        2.0 ** np.arange(-1074, 6), -(2.0 ** np.arange(-1074, 6)),
                        [19.06154746539849, 19.0615474653985, 22.0, np.nextafter(22.0, 0), 1e300]])
    got = elementwise(x)[4]
    _check(got, x, math.tanh, rel=1e-15)


def test_special_values(elementwise):
    inf, nan = np.inf, np.nan
    x = np.array([-inf, inf, nan, 0.0, -0.0, -1.0, 1.0, 800.0, -800.0])
    e, lg, s, c, th = elementwise(x)
    np.testing.assert_array_equal(th[[0, 1, 2, 3, 7, 8]], [-1.0, 1.0, nan, 0.0, 1.0, -1.0])
    assert math.copysign(1, th[4]) == -1.0 and th[4] == 0.0
    np.testing.assert_array_equal(e[[0, 1, 2, 3, 4, 7, 8]], [0.0, inf, nan, 1.0, 1.0, inf, 0.0])
    np.testing.assert_array_equal(lg[[0, 1, 2, 3, 4, 5, 6, 8]], [nan, inf, nan, -inf, -inf, nan, 0.0, nan])
    np.testing.assert_array_equal(s[:3], [nan, nan, nan])
    np.testing.assert_array_equal(c[:3], [nan, nan, nan])
    assert s[3] == 0.0 and c[3] == 1.0 and math.copysign(1, s[4]) == -1.0


def test_fused_loop_calls_helpers_and_vectorises(elementwise):
    src = elementwise.source
    for name in ("_exp(", "_log(", "_sin(", "_cos(", "_tanh("):
        assert name in src
    assert "= _libm_exp(" not in src.split("# again, with libm:")[0] and "def _exp(x):" in src
    # the cached machine code cannot be inspected: compile the kernel's body again
    kernel = numba.njit(error_model="numpy")(elementwise.module._forward.py_func)
    kernel(np.linspace(0.5, 2.0, 16))
    llvm = "\n".join(kernel.inspect_llvm().values())
    assert re.search(r"<\d+ x double>", llvm), "the fused loop did not vectorise"


def test_scalar_code_keeps_libm():
    x = sb.var("x")
    src = sb.compile([sb.exp(x) + sb.sin(x)], [x], name="vecmath_scalar").source
    assert "_libm_exp(" in src and "_exp(" not in src.replace("_libm_exp(", "")


def test_lecture_kernel_matches_interpreter():
    """W1v's formula over arrays: the compiled value and gradient (helpers in
    the fused loops) against the numpy interpreter."""
    rng = np.random.default_rng(0)
    x, z = sb.var("x", (None,)), sb.var("z", (None,))
    y = sb.exp(x * z) + x * z / sb.log(x) + sb.sin(sb.log(x)) / (x * z)
    loss = sb.sum(y)
    k = sb.value_and_grad(loss, [x, z], name="vecmath_lecture", vector_math=True)
    xv, zv = rng.uniform(1.5, 3.0, 1000), rng.uniform(0.5, 4.0, 1000)
    value, (gx, gz) = k(xv, zv)
    env = {x: xv, z: zv}
    want = sb.evaluate([loss] + sb.grad(loss, [x, z]), env)
    np.testing.assert_allclose(value, want[0], rtol=1e-12)
    np.testing.assert_allclose(gx, want[1], rtol=1e-12)
    np.testing.assert_allclose(gz, want[2], rtol=1e-12)
    assert "_exp(" in k.source and "_cos(" in k.source


def test_which_functions_are_vectorised():
    """By default (and with True) every function with a helper; none with
    vector_math=False; or those named."""
    from symback.backend.numba import emit_module, vector_functions
    from symback.kernel import gradient_entries
    x = sb.var("x", (None,))
    y = sb.sum(sb.exp(x) + sb.log(x) + sb.sin(x) + sb.tanh(x))
    def source(choice):
        return emit_module(gradient_entries(y, [x], [x]), "vm", vector_math=choice)
    auto = source("auto")
    assert auto == source(True)
    first, again = auto.split("# again, with libm:", 1)
    for helper in ("_exp(", "_log(", "_tanh(", "_sin(", "_cos("):
        assert helper in first
    assert "math.sin(" not in first and "math.sin(" in again and "_libm_exp(" in again
    off = source(False)
    assert "def _exp(" not in off and "_libm_exp(" in off and "# again" not in off
    assert "_sin(" in source(["sin"]) and "def _exp(" not in source(["sin"])
    assert "# again" not in source(["exp"])
    with pytest.raises(ValueError, match="vector_math: no vectorised tan"):
        vector_functions(["tan"])


def test_short_inner_loops_keep_libm():
    """A scalar _exp is slower than libm's: loops too short for LLVM's vector body
    (a 16-wide layer) keep math.exp; long or call-time-sized ones use _exp."""
    from symback.backend.numba import emit_module
    from symback.kernel import gradient_entries
    for cols, helper in ((16, False), (64, True), (None, True)):
        x = sb.var("x", (None, cols))
        src = emit_module(gradient_entries(sb.sum(sb.exp(x)), [x], [x]), "vm_inner")
        assert ("= _exp(" in src) is helper and ("_libm_exp(" in src) is not helper, cols


def test_source_lists_only_what_is_used():
    assert vecmath.source([]) == []
    text = "\n".join(vecmath.source(["_exp"]))
    assert "def _exp(" in text and "def _log(" not in text and "_TWO_OVER_PI" not in text
    text = "\n".join(vecmath.source(["_cos"]))
    assert "def _cos(" in text and "def _sin_cos(" in text and "def _sin(" not in text


def test_helpers_run_as_plain_python():
    """With Numba's DISABLE_JIT (the fuzz tests' Python tier) the helpers are
    plain functions: the bit casts and fma have Python fallbacks."""
    import types
    source = "\n".join(["import math", "import numba", "import numpy as np"]
                       + vecmath.source(vecmath.HELPERS.values()))
    module = types.ModuleType("vecmath_python")
    old, numba.config.DISABLE_JIT = numba.config.DISABLE_JIT, True
    try:
        exec(compile(source, "<vecmath>", "exec"), module.__dict__)
    finally:
        numba.config.DISABLE_JIT = old
    for v in (0.3, -2.5, 1e5, 1e10, 1e300, 5e-324):
        for f in ("exp", "sin", "cos", "tanh"):
            if f in vecmath.RANGE_LIMITED and abs(v) >= vecmath.LIMIT:
                continue
            assert getattr(module, "_" + f)(v) == pytest.approx(_safe(getattr(math, f), v), rel=1e-12)
        assert module._log(abs(v)) == pytest.approx(math.log(abs(v)), rel=1e-12)
    assert module._log(0.0) == -math.inf


def test_sin_cos_beyond_the_helpers_range_run_again_with_libm():
    """_sin/_cos reduce exactly only below LIMIT: a loop nest meeting a larger
    (or non-finite) argument runs again with libm, serial and on all cores, and
    every element comes out right, not only the far ones."""
    x = sb.var("x", (None,))
    y = sb.sum(sb.sin(x) * sb.cos(3.0 * x))
    want_grad = sb.grad(y, [x])[0]
    rng = np.random.default_rng(5)
    for parallel in (False, True):
        k = sb.value_and_grad(y, [x], name=f"vecmath_far_{parallel}", vector_math=True, parallel=parallel)
        assert "# again, with libm:" in k.source and "math.sin(" in k.source
        for far in (None, 3e6, 1e300, -np.inf, np.nan):
            xv = rng.uniform(-4, 4, 5000)
            if far is not None:
                xv[1234] = far
            value, (g,) = k(xv)
            want = sb.evaluate([y, want_grad], {x: xv})
            np.testing.assert_allclose(value, want[0], rtol=1e-12, err_msg=str(far))
            np.testing.assert_allclose(g, want[1], rtol=1e-12, atol=1e-12, err_msg=str(far))


def test_a_loop_and_its_run_again_stay_in_one_segment():
    from symback.backend import segment
    body = ["a = 1.0", "far_0 = 0", "for i0 in range(n):", "    b[i0] = _sin(x[i0])",
            "    far_0 += 0 if abs(x[i0]) < 1048576.0 else 1",
            "if far_0 != 0:   # again, with libm: an argument of sin/cos was too large or not finite",
            "    for i0 in range(n):", "        b[i0] = math.sin(x[i0])", "c = b[0]"]
    statements = segment._statements(body)
    assert [s[0] for s in statements] == ["a = 1.0", "far_0 = 0", "for i0 in range(n):", "c = b[0]"]
