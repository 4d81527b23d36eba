"""The helpers written as LLVM intrinsics (backend/vecmath.py, ``INTRINSICS``) give
bit for bit what the njit helpers they replaced gave, in a fused loop compiled
with the kernels' fastmath flags and called alone.  The njit versions are kept
here as they were generated (their text), the oracle."""
import re
import types

import numba
import numpy as np
import pytest

from symback.backend import vecmath

OLD = {
    "_exp": '''
@numba.njit(nogil=True, error_model="numpy", fastmath=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _exp(x):
    y = 710.0 if x > 710.0 else x       # exp overflows to inf from here; NaN stays NaN
    y = -750.0 if y < -750.0 else y     # and underflows to 0 from here
    t = y if y == y else 0.0            # keeps the integer conversion below defined for NaN
    k = (t * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0   # round(y / ln2)
    r = (y - k * 0.6931471803691238) - k * 1.9082149292705877e-10
    p = 1.6059043836821613e-10
    p = p * r + 2.08767569878681e-09
    p = p * r + 2.505210838544172e-08
    p = p * r + 2.755731922398589e-07
    p = p * r + 2.7557319223985893e-06
    p = p * r + 2.48015873015873e-05
    p = p * r + 0.0001984126984126984
    p = p * r + 0.001388888888888889
    p = p * r + 0.008333333333333333
    p = p * r + 0.041666666666666664
    p = p * r + 0.16666666666666666
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    n = np.int64(k)
    h = n >> 1
    return p * _bitcast((h + 1023) << 52, np.float64) * _bitcast((n - h + 1023) << 52, np.float64)
''',
    "_tanh": '''
@numba.njit(nogil=True, error_model="numpy", fastmath=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _tanh(x):
    a = abs(x)
    y = 2.0 * a if a < 22.0 else 44.0   # tanh rounds to 1 from |x| > 19.1; NaN goes here too
    k = (y * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0   # round(y / ln2)
    r = (y - k * 0.6931471803691238) - k * 1.9082149292705877e-10
    q = 1.6059043836821613e-10          # (exp(r) - 1 - r) / r**2 to r**11, Taylor
    q = q * r + 2.08767569878681e-09
    q = q * r + 2.505210838544172e-08
    q = q * r + 2.755731922398589e-07
    q = q * r + 2.7557319223985893e-06
    q = q * r + 2.48015873015873e-05
    q = q * r + 0.0001984126984126984
    q = q * r + 0.001388888888888889
    q = q * r + 0.008333333333333333
    q = q * r + 0.041666666666666664
    q = q * r + 0.16666666666666666
    q = q * r + 0.5
    s = _bitcast((np.int64(k) + 1023) << 52, np.float64)   # 2**k, 0 <= k <= 64
    e = s * (r + r * r * q) + (s - 1.0)
    t = e / (e + 2.0)
    t = -t if x < 0.0 else t
    return x if x == 0.0 or x != x else t      # -0.0 and NaN as they came
''',
    "_log": '''
@numba.njit(nogil=True, error_model="numpy", fastmath=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _log(x):
    sub = x < 2.2250738585072014e-308   # subnormal (or <= 0, replaced below)
    y = x * 18014398509481984.0 if sub else x
    b = _bitcast(y, np.int64)
    e = ((b >> 52) & 2047) - (1077 if sub else 1023)
    m = _bitcast((b & 4503599627370495) | 4607182418800017408, np.float64)   # in [1, 2)
    big = m > 1.4142135623730951
    m = 0.5 * m if big else m
    k = float(e + 1 if big else e)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    p = 0.08695652173913043
    p = p * z + 0.09523809523809523
    p = p * z + 0.10526315789473684
    p = p * z + 0.11764705882352941
    p = p * z + 0.13333333333333333
    p = p * z + 0.15384615384615385
    p = p * z + 0.18181818181818182
    p = p * z + 0.2222222222222222
    p = p * z + 0.2857142857142857
    p = p * z + 0.4
    p = p * z + 0.6666666666666666
    r = k * 0.6931471803691238 + ((s * z * p + k * 1.9082149292705877e-10) + 2.0 * s)
    r = -np.inf if x == 0.0 else r
    r = np.nan if x < 0.0 else r
    return x if x == np.inf or x != x else r
''',
    "_sin_cos": '''
@numba.njit(nogil=True, error_model="numpy", fastmath=False, forceinline=True,
            no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _sin_cos(x):
    y = x if abs(x) < 1048576.0 else 0.0
    k = (y * 0.6366197723675814 + 6755399441055744.0) - 6755399441055744.0   # round(y 2/pi)
    w = y - k * 1.5707963267341256      # exact
    v = k * 6.077100506303966e-11       # exact
    t = w - v
    u = t - w
    err = (w - (t - u)) + (-v - u)      # the rounding error of w - v
    r = t + ((err - k * 2.0222662487111665e-21) - k * 8.4784276603689e-32)
    q = np.int64(k)
    z = r * r
    s = 2.8114572543455206e-15          # sin r = r - r**3/3! + ... + r**17/17!
    s = s * z - 7.647163731819816e-13
    s = s * z + 1.6059043836821613e-10
    s = s * z - 2.505210838544172e-08
    s = s * z + 2.7557319223985893e-06
    s = s * z - 0.0001984126984126984
    s = s * z + 0.008333333333333333
    s = s * z - 0.16666666666666666
    s = r + r * z * s
    c = 1.5619206968586225e-16          # cos r = 1 - r**2/2! + ... + r**18/18!
    c = c * z - 4.779477332387385e-14
    c = c * z + 1.1470745597729725e-11
    c = c * z - 2.08767569878681e-09
    c = c * z + 2.755731922398589e-07
    c = c * z - 2.48015873015873e-05
    c = c * z + 0.001388888888888889
    c = c * z - 0.041666666666666664
    c = c * z + 0.5
    c = 1.0 - z * c
    sin_x = c if q & 1 else s           # x = q pi/2 + r: sin x = sin r, cos r, -sin r, -cos r
    sin_x = -sin_x if q & 2 else sin_x
    cos_x = s if q & 1 else c           # cos x = cos r, -sin r, -cos r, sin r
    cos_x = -cos_x if (q + 1) & 2 else cos_x
    return sin_x, cos_x
''',
    "_sin": '''
@numba.njit(nogil=True, error_model="numpy", fastmath=False, forceinline=True,
            no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _sin(x):
    return x if x == 0.0 else _sin_cos(x)[0]
''',
    "_cos": '''
@numba.njit(nogil=True, error_model="numpy", fastmath=False, forceinline=True,
            no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _cos(x):
    return _sin_cos(x)[1]
''',
}

_BITCAST = '''
@numba.extending.intrinsic
def _bitcast(typingctx, x, like):
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(sig.return_type))
    return like.instance_type(x, like), codegen
'''

# a fused loop as kernels have them: compiled with their fastmath flags
_LOOP = '''
@numba.njit(error_model="numpy", fastmath={{"reassoc"}})
def loop(x):
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = {name}(x[i])
    return out


@numba.njit(error_model="numpy", fastmath={{"reassoc"}})
def one(x):
    return {name}(x)
'''


def _module(text, name):
    module = types.ModuleType(f"vecmath_bits_{name}")
    exec(compile("import math\nimport numba\nimport numpy as np\n" + text + _LOOP.format(name=name),
                 f"<{name}>", "exec"), module.__dict__)
    return module


def _sample(name):
    """Random bit patterns over the whole float64 range (both signs, NaNs with
    payloads, subnormals), the special values, and the function's edges densely."""
    rng = np.random.default_rng(11)
    every = rng.integers(0, 2 ** 63, 1_000_000, dtype=np.int64)
    every = np.concatenate([every, every[:500_000] | np.int64(-2 ** 63)]).view(np.float64)
    subnormal = rng.integers(0, 1 << 52, 100_000, dtype=np.int64).view(np.float64)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 5e-324, -5e-324, 2.2250738585072014e-308,
                        1.7976931348623157e308, -1.7976931348623157e308, 1.0, -1.0])
    parts = [every, subnormal, -subnormal, special, rng.uniform(-1, 1, 100_000)]
    if name == "_exp":
        k = np.arange(-1100, 1030) * np.log(2)
        edges = np.array([709.782712893384, 710.0, -745.1332191019411, -708.3964185322641, -750.0, 700.0, -760.0])
        parts += [np.linspace(700.0, 720.0, 200_001), np.linspace(-760.0, -700.0, 200_001), np.linspace(-50, 50, 200_001),
                  k, np.nextafter(k, np.inf), np.nextafter(k, -np.inf), k / 2, np.nextafter(k / 2, np.inf),
                  edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf)]
        for e in edges:   # the 1000 floats either side of each edge
            parts.append(e + np.arange(-1000, 1001) * np.spacing(e))
    if name == "_tanh":   # tiny arguments, the reductions' switches (|2x| near k ln2/2), the approach to 1
        k = np.arange(1, 130) * np.log(2) / 4
        edges = np.array([22.0, 19.061547465398498, 11.0, 1e-8, 2.0 ** -27, 0.5 * np.log(2)])
        parts += [np.linspace(-25, 25, 400_001), rng.uniform(-1e-3, 1e-3, 100_000), 2.0 ** np.arange(-1074, 7),
                  -(2.0 ** np.arange(-1074, 7)), k, -k, np.nextafter(k, 0), np.nextafter(k, np.inf)]
        for e in edges:
            parts += [e + np.arange(-1000, 1001) * np.spacing(e), -e - np.arange(-1000, 1001) * np.spacing(e)]
    if name == "_log":    # every power of two and its neighbours, the normal/subnormal edge, sqrt(2), near 1
        powers = 2.0 ** np.arange(-1074, 1024)
        edges = np.array([2.2250738585072014e-308, 1.4142135623730951, 0.7071067811865476, 1.0, 2.0, 0.5])
        parts += [powers, np.nextafter(powers, 0), np.nextafter(powers, np.inf), -powers,
                  np.linspace(0.5, 2.0, 400_001), 1 + rng.uniform(-1e-6, 1e-6, 100_000), rng.uniform(0, 10, 100_000)]
        for e in edges:
            parts.append(e + np.arange(-1000, 1001) * np.spacing(e))
    if name in ("_sin", "_cos"):   # the reduction near multiples of pi/2, the range limit 2**20
        k = rng.integers(1, 1 << 40, 50_000).astype(np.float64) * (np.pi / 2)
        q = np.arange(-700_000, 700_000) * (np.pi / 2)
        edges = np.array([1048576.0, np.pi / 4, np.pi / 2, np.pi, 1e-8])
        parts += [np.linspace(-1.1e6, 1.1e6, 400_001), np.linspace(-10, 10, 400_001), k, np.nextafter(k, 0), q,
                  np.nextafter(q, np.inf), np.nextafter(q, -np.inf)]
        for e in edges:
            parts += [e + np.arange(-1000, 1001) * np.spacing(e), -e - np.arange(-1000, 1001) * np.spacing(e)]
    return np.concatenate(parts)


@pytest.mark.parametrize("name", sorted(vecmath.INTRINSICS))
def test_intrinsic_is_bit_identical_to_the_njit_helper(name):
    old = _module(_BITCAST + OLD.get("_sin_cos", "") * (name in ("_sin", "_cos")) + OLD[name], name)
    new = _module("\n".join(vecmath.source([name])), name)
    x = _sample(name)
    want, got = old.loop(x), new.loop(x)
    differ = np.flatnonzero(want.view(np.int64) != got.view(np.int64))
    assert differ.size == 0, f"{name}({x[differ[0]]!r}): {got[differ[0]]!r}, njit {want[differ[0]]!r} ({differ.size} differ)"
    few = x[::997]    # called alone, not in a vector loop
    np.testing.assert_array_equal(np.array([new.one(v) for v in few]).view(np.int64),
                                  np.array([old.one(v) for v in few]).view(np.int64))


@pytest.mark.parametrize("name", sorted(vecmath.INTRINSICS))
def test_intrinsic_loop_vectorises_without_fastmath_flags(name):
    """The helper's instructions come inlined into the loop, none with a fastmath
    flag (Numba flags every float instruction of a fastmath kernel's own module;
    the loop has none of its own)."""
    new = _module("\n".join(vecmath.source([name])), name)
    new.loop(np.linspace(0.5, 2.0, 16))
    llvm = new.loop.inspect_llvm(new.loop.signatures[0])
    assert "<8 x double>" in llvm or "<4 x double>" in llvm or "<2 x double>" in llvm
    assert f"@symback{name}" not in llvm.split("declare")[0], "not inlined"
    flagged = [line for line in llvm.splitlines() if re.search(r"\b(reassoc|fast|contract|nnan|ninf|nsz|arcp|afn)\b", line)]
    assert not flagged, flagged[:3]


_BOTH = '''
@numba.njit(error_model="numpy", fastmath={"reassoc"})
def both(x):
    s, c = np.empty_like(x), np.empty_like(x)
    for i in range(x.size):
        s[i] = _sin(x[i])
        c[i] = _cos(x[i])
    return s, c
'''


def test_sin_and_cos_in_one_loop_are_bit_identical():
    """Both in one loop (LLVM shares their reduction once both are inlined)."""
    old = _module(_BITCAST + OLD["_sin_cos"] + OLD["_sin"] + OLD["_cos"] + _BOTH, "_sin")
    new = _module("\n".join(vecmath.source(["_sin", "_cos"])) + _BOTH, "_sin")
    x = _sample("_sin")
    for want, got in zip(old.both(x), new.both(x)):
        np.testing.assert_array_equal(got.view(np.int64), want.view(np.int64))


def test_python_fallbacks_give_the_old_python_results():
    """With DISABLE_JIT the module runs each helper's fallback: the same values
    as the njit helpers' bodies run as plain Python gave (their text above)."""
    def plain(text):
        module = types.ModuleType("vecmath_plain")
        old, numba.config.DISABLE_JIT = numba.config.DISABLE_JIT, True
        try:
            exec(compile("import math\nimport numba\nimport numpy as np\n" + text, "<plain>", "exec"), module.__dict__)
        finally:
            numba.config.DISABLE_JIT = old
        return module
    old = plain(_BITCAST + "\n\nif numba.config.DISABLE_JIT:\n    def _bitcast(x, like):\n"
                "        return np.asarray(x).view(like).item()\n" + "".join(OLD.values()))
    new = plain("\n".join(vecmath.source(vecmath.HELPERS.values())))
    rng = np.random.default_rng(12)
    x = np.concatenate([rng.integers(-2 ** 63, 2 ** 63, 3000, dtype=np.int64).view(np.float64),
                        rng.uniform(-30, 30, 3000), [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, 709.8, -745.2]])
    with np.errstate(all="ignore"):
        for name in vecmath.INTRINSICS:
            for v in x.tolist():
                if name in ("_sin", "_cos") and not abs(v) < vecmath.LIMIT:
                    continue
                a, b = getattr(old, name)(v), getattr(new, name)(v)
                assert np.float64(a).view(np.int64) == np.float64(b).view(np.int64), (name, v, a, b)
