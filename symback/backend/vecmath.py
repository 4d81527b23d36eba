"""Vectorisable exp, log, sin and cos for the fused loops of generated kernels.

Why: Numba lowers ``math.exp`` to a call of the C library's scalar ``exp``, and
LLVM's loop vectoriser cannot widen a loop that calls a scalar function, so a
fused elementwise loop holding one transcendental ran one element at a time.
LLVM could map such calls to glibc's libmvec, but LLVM 22 no longer has the
``-vector-library`` option that llvmlite's ``set_option`` would set (the option
string is absent from llvmlite's library: the option is silently ignored), and
libmvec exists only on x86-64 glibc.  So the generated module carries its own
branch-free versions, written in plain Numba-compatible Python: range
reduction, a polynomial, and the power of two built from its bits.  With no
call and no branch left in the loop body, LLVM vectorises the loop (``<8 x
double>`` on AVX-512).

Accuracy: within 2 ulp of libm for exp and log over the whole float64 range
(subnormal results of exp: within one subnormal step), within about 1e-13
relative for sin and cos; the special values follow DESIGN.md (exp(-inf) = 0,
exp(inf) = inf, log(0) = -inf, log(x < 0) = nan, NaN in, NaN out).  Tested in
tests/backend/test_vecmath.py.

The printer (backend/printer.py) spells float64 exp, log, sin and cos in a
fused loop as these helpers (``HELPERS``); the module emitter appends
:func:`source`, the helpers its code calls.  Scalar code keeps libm (nothing to
vectorise there, and libm is correctly rounded more often).
"""
from __future__ import annotations

#: math function -> helper name, for the functions that have a helper.
HELPERS = {"exp": "_exp", "log": "_log", "sin": "_sin", "cos": "_cos"}


def source(used):
    """The source lines of the helpers named in ``used`` (what the module's
    printer wrote: ``Printer.helpers``), with what they need, or ``[]``."""
    used = set(used)
    if not used:
        return []
    if used & {"_sin", "_cos"}:
        used.add("_sin_cos")
    text = _BITCAST + (_FMA if "_sin_cos" in used else "") + "".join(_FUNCTIONS[name] for name in sorted(used))
    return text.strip("\n").splitlines()


# LLVM instructions, not njit functions: a helper calling them compiles as one
# function (each njit function or overload is a compilation of its own on first
# call).  Python fallbacks keep the module runnable with Numba's DISABLE_JIT.
_BITCAST = '''

@numba.extending.intrinsic
def _bitcast(typingctx, x, like):
    """The bits of ``x`` as a ``like`` (float64 <-> int64): free in compiled code."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(sig.return_type))
    return like.instance_type(x, like), codegen


if numba.config.DISABLE_JIT:   # run as plain Python: numpy's view
    def _bitcast(x, like):
        return np.asarray(x).view(like).item()
'''

_FMA = '''

@numba.extending.intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once: one instruction where the CPU has FMA."""
    def codegen(context, builder, sig, args):
        return builder.fma(*args)
    return a(a, b, c), codegen


if numba.config.DISABLE_JIT:   # run as plain Python: exact rationals (an int / int division rounds once)
    def _fma(a, b, c):
        (p, q), (r, t), (u, v) = a.as_integer_ratio(), b.as_integer_ratio(), c.as_integer_ratio()
        return (p * r * v + u * q * t) / (q * t * v)
'''

_FUNCTIONS = {
    "_exp": '''

@numba.njit(cache=True, nogil=True, error_model="numpy", no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _exp(x):
    """exp(x), float64, with no call and no branch, so that loops calling it
    vectorise (libm's exp is a scalar call).  x = k ln2 + r, |r| <= ln2/2
    (Cody-Waite), exp(r) by its Taylor series to r**13, times 2**k built from
    bits in two halves so that subnormal results and overflow come out right."""
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
    "_log": '''

@numba.njit(cache=True, nogil=True, error_model="numpy", no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _log(x):
    """log(x), float64, with no call and no branch, so that loops calling it
    vectorise (libm's log is a scalar call).  x = 2**e m with m in
    [sqrt(2)/2, sqrt(2)] from its bits (subnormals scaled by 2**54 first);
    log(m) = 2 atanh(s), s = (m - 1)/(m + 1), by its series to s**23."""
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
    "_sin": '''

@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _sin(x):
    """sin(x), float64, vectorisable (see _sin_cos); sin(-0.0) is -0.0."""
    return x if x == 0.0 else _sin_cos(x, 0)
''',
    "_cos": '''

@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _cos(x):
    """cos(x), float64, vectorisable (see _sin_cos)."""
    return _sin_cos(x, 1)
''',
    "_sin_cos": '''

def _two_over_pi():
    """Rows (2**E 2/pi) mod 4 for E = -32 ... 971, each as four float64 parts
    of 26, 53, 53 and 53 bits, for the reduction of large arguments in _sin_cos."""
    top = int(   # floor(2/pi 2**1200)
        "a2f9836e4e441529fc2757d1f534ddc0db6295993c439041fe5163abdebbc561b7246e3a"
        "424dd2e006492eea09d1921cfe1deb1cb129a73ee88235f52ebb4484e99c7026b45f7e41"
        "3991d639835339f49c845f8bbdf9283b1ff897ffde05980fef2f118b5a0a6d1f6d367ecf"
        "27cb09b74f463f669e5fea2d7527bac7ebe5f17b3d0739f78a5292ea6bfb5fb11f8d5d08"
        "56033046fc7b", 16)
    m53 = (1 << 53) - 1
    rows = []
    for e in range(-32, 972):
        x = (top >> (1017 - e)) & ((1 << 185) - 1)   # 2 integer and 183 fraction bits
        rows.append([float(x >> 159) * 2.0 ** -24, float((x >> 106) & m53) * 2.0 ** -77,
                     float((x >> 53) & m53) * 2.0 ** -130, float(x & m53) * 2.0 ** -183])
    return np.array(rows)


_TWO_OVER_PI = _two_over_pi()


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _sin_cos(x, quarter):
    """sin(x + quarter pi/2), float64, with no call and no branch, so that loops
    calling it vectorise (libm's sin and cos are scalar calls).  x = q pi/2 + r,
    |r| <~ pi/4: for |x| < 2**20 by Cody-Waite (four parts of pi/2), else
    exactly from x = M 2**E, M an integer, as M ((2**E 2/pi) mod 4) in
    double-double arithmetic (the rows of _TWO_OVER_PI); both are computed and
    one is selected.  Then sin r and cos r by their Taylor series, and the
    quadrant q picks one and its sign.  Inlined by Numba: too big for LLVM's
    inliner, and a call would keep the loop scalar."""
    y = x if abs(x) < 1048576.0 else 0.0
    k = (y * 0.6366197723675814 + 6755399441055744.0) - 6755399441055744.0   # round(y 2/pi)
    w = y - k * 1.5707963267341256      # exact
    v = k * 6.077100506303966e-11       # exact
    t = w - v
    u = t - w
    err = (w - (t - u)) + (-v - u)      # the rounding error of w - v
    r_small = t + ((err - k * 2.0222662487111665e-21) - k * 8.4784276603689e-32)
    # |x| >= 2**20: |x| = M 2**E, so |x| 2/pi = M c mod 4 with c = (2**E 2/pi) mod 4,
    # M = mh + ml split so that every product below is exact or carries its error
    b = _bitcast(abs(x), np.int64)
    e = ((b >> 52) & 2047) - 1075
    e = -32 if e < -32 else e
    e = 971 if e > 971 else e
    mant = (b & 4503599627370495) | 4503599627370496
    mh = float((mant >> 26) << 26)
    ml = float(mant & 67108863)
    c0 = _TWO_OVER_PI[e + 32, 0]
    c1 = _TWO_OVER_PI[e + 32, 1]
    c2 = _TWO_OVER_PI[e + 32, 2]
    c3 = _TWO_OVER_PI[e + 32, 3]
    a0 = ml * c0                        # exact (mh c0 is a multiple of 4)
    a0 = a0 - 4.0 * math.floor(a0 * 0.25)
    h1 = mh * c1
    l1 = _fma(mh, c1, -h1)
    h1 = h1 - 4.0 * math.floor(h1 * 0.25)
    h2 = ml * c1
    l2 = _fma(ml, c1, -h2)
    h3 = mh * c2
    l3 = _fma(mh, c2, -h3)
    # sum the terms, largest first, taking out whole numbers (the quadrant) and
    # collecting every rounding error in ``err``
    s = a0 + h1
    u = s - a0
    err = (a0 - (s - u)) + (h1 - u)
    n = (s + 6755399441055744.0) - 6755399441055744.0
    s = s - n
    t = s + h2
    u = t - s
    err += (s - (t - u)) + (h2 - u)
    m = (t + 6755399441055744.0) - 6755399441055744.0
    s = t - m
    n += m
    t = s + l1
    u = t - s
    err += (s - (t - u)) + (l1 - u)
    s = t + h3
    u = s - t
    err += (t - (s - u)) + (h3 - u)
    t = s + l2
    u = t - s
    err += (s - (t - u)) + (l2 - u)
    err += l3 + ml * c2 + mh * c3 + ml * c3
    r_large = (t + err) * 1.5707963267948966
    n = -n if x < 0.0 else n
    r_large = -r_large if x < 0.0 else r_large
    small = abs(x) < 1048576.0
    r = r_small if small else r_large
    q = np.int64(k if small else n) + quarter
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
    v = c if q & 1 else s
    v = -v if q & 2 else v
    return v if abs(x) < np.inf else np.nan
''',
}
