"""Vectorisable exp, log, tanh, sin and cos for the fused loops of generated kernels.

Why: Numba lowers ``math.exp`` to a call of the C library's scalar ``exp``, and
LLVM's loop vectoriser cannot widen a loop that calls a scalar function, so a
fused elementwise loop holding one transcendental ran one element at a time.
LLVM could map such calls to glibc's libmvec, but LLVM 22 no longer has the
``-vector-library`` option that llvmlite's ``set_option`` would set (the option
string is absent from llvmlite's library: the option is silently ignored), and
libmvec exists only on x86-64 glibc.  So the generated module carries its own
branch-free versions: range reduction, a polynomial, and the power of two
built from its bits, written as the LLVM instructions of a Numba intrinsic
(llvmlite's IRBuilder; ``_intrinsic`` below), always inlined.  With no call and
no branch left in the loop body, LLVM vectorises the loop (``<8 x double>`` on
AVX-512).  Intrinsics, not njit functions: each njit helper was a whole Numba
compilation at a kernel's first call (~0.1 s for _exp); an intrinsic's LLVM
costs ~0.01 s.  With Numba's DISABLE_JIT the module runs each helper's Python
fallback, the same steps on floats.

Accuracy: within 2 ulp of libm for exp and log over the whole float64 range
(subnormal results of exp: within one subnormal step), within 1e-15 relative for
tanh, within about 1e-13 relative for sin and cos; the special values follow
DESIGN.md (exp(-inf) = 0, exp(inf) = inf, log(0) = -inf, log(x < 0) = nan, NaN
in, NaN out).  Tested in tests/backend/test_vecmath.py.

sin and cos reduce their argument exactly only below ``LIMIT`` (2**20): an exact
reduction of any float64 (Payne-Hanek, a table of 2/pi) costs three times the
rest of the function in every lane of a vector loop, used or not (W1v's forward
took 10.4 ms instead of 3.3).  So a loop nest that calls them also counts the
arguments beyond ``LIMIT`` (or not finite) and, if it met any, runs again with
libm's sin and cos (backend/nest.py): exact everywhere, fast where arguments
are moderate, which is where models put them.

The module also holds the two libm wrappers (``LIBM_WRAPPED``) through which
generated code calls exp and log outside vectorised loops: math helpers of
generated code, compiled with ``fastmath=False`` (the intrinsics' instructions
carry no fastmath flag either).

The printer (backend/printer.py) spells float64 exp, log, tanh, sin and cos in a
fused loop as these helpers (``HELPERS``); the module emitter appends
:func:`source`, the helpers its code calls.  Scalar code keeps libm (nothing to
vectorise there, and libm is correctly rounded more often).
"""
from __future__ import annotations

#: math function -> helper name, for the functions that have a helper.
HELPERS = {"exp": "_exp", "log": "_log", "tanh": "_tanh", "sin": "_sin", "cos": "_cos"}

#: libm functions called through a wrapper compiled without fastmath.  Kernels are
#: compiled with ``reassoc`` (their float sums vectorise), and Numba gives that flag to
#: every float-returning call too, which lets LLVM fold exp(log(x)) -> x and
#: log(exp(x)) -> x: exp(log(-1)) came out -1, not NaN (found by the fuzzer).  A
#: wrapper is a call of another function while the kernel is compiled, so it gets no
#: flag; once LLVM inlines it, its libm call still has none, and nothing folds.
LIBM_WRAPPED = {"exp": "_libm_exp", "log": "_libm_log"}

#: functions whose helper is exact only for arguments of magnitude below ``LIMIT``:
#: a loop calling them checks its arguments and falls back to libm (see above)
RANGE_LIMITED = frozenset({"sin", "cos"})
LIMIT = 1048576.0


def source(used):
    """The source lines of the helpers named in ``used`` (what the module's
    printer wrote: ``Printer.helpers``), with what they need, or ``[]``."""
    used = set(used)
    if not used:
        return []
    if used & {"_sin", "_cos"}:
        used.add("_sin_cos")
    bits = _BITCAST if used - set(LIBM_WRAPPED.values()) else ""
    llvm = _INTRINSIC if used & INTRINSICS else ""
    text = bits + llvm + "".join(_FUNCTIONS[name] for name in sorted(used))
    return text.strip("\n").splitlines()


# LLVM instructions, not njit functions (each njit function or overload is a
# compilation of its own on first call).  Python fallbacks keep the module
# runnable with Numba's DISABLE_JIT.
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

#: helpers written as LLVM instructions (``_intrinsic``), not njit functions
INTRINSICS = frozenset({"_exp", "_log", "_tanh", "_sin", "_cos"})

# Each njit helper is a whole Numba compilation of its own at a kernel's first call
# (~0.1 s for _exp, almost all of it Numba's Python side); an intrinsic is LLVM
# instructions only.  They go in a library of their own, not into the caller's
# module: Numba gives every float instruction of a module compiled with fastmath
# the kernel's flags (numba/core/fastmathpass.py), and these must stay strict.
_INTRINSIC = '''

from llvmlite import ir


def _intrinsic(emit):
    """A float64 -> float64 helper whose LLVM instructions ``emit(b, x)`` writes
    with llvmlite's IRBuilder ``b``: built once per process as the function of a
    library of its own, linked into each caller and always inlined.  Not written
    into the caller: Numba gives every float instruction of a kernel's module the
    kernel's fastmath flags, and reassociation would undo the rounding tricks."""
    name = "symback" + emit.__name__
    built = []

    def codegen(context, builder, sig, args):
        fnty = ir.FunctionType(ir.DoubleType(), [ir.DoubleType()])
        if not built:
            library = context.codegen().create_library(name)
            module = library.create_ir_module(name)
            fn = ir.Function(module, fnty, name)
            fn.attributes.add("alwaysinline")
            b = ir.IRBuilder(fn.append_basic_block())
            b.ret(emit(b, fn.args[0]))
            library.add_ir_module(module)
            library.finalize()
            built.append(library)
        context.active_code_library.add_linking_library(built[0])
        return builder.call(numba.core.cgutils.get_or_insert_function(builder.module, fnty, name), args)

    def typer(typingctx, x):
        return numba.float64(numba.float64), codegen
    typer.__name__ = emit.__name__
    return numba.extending.intrinsic(typer)
'''

_FUNCTIONS = {
    "_libm_exp": '''

@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _libm_exp(x):
    """libm's exp, compiled without fastmath: see vecmath.LIBM_WRAPPED in symback."""
    return np.exp(x)
''',
    "_libm_log": '''

@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _libm_log(x):
    """libm's log, compiled without fastmath: see vecmath.LIBM_WRAPPED in symback."""
    return np.log(x)
''',
    "_exp": '''

@_intrinsic
def _exp(b, x):
    """exp(x), float64, with no call and no branch, so that loops calling it
    vectorise (libm's exp is a scalar call).  x = k ln2 + r, |r| <= ln2/2
    (Cody-Waite), exp(r) by its Taylor series to r**13, times 2**k built from
    bits in two halves so that subnormal results and overflow come out right."""
    f, i = x.type, ir.IntType(64)       # f(c), i(c): the constants c as double, int64
    y = b.select(b.fcmp_ordered(">", x, f(710.0)), f(710.0), x)     # exp overflows to inf from here; NaN stays NaN
    y = b.select(b.fcmp_ordered("<", y, f(-750.0)), f(-750.0), y)   # and underflows to 0 from here
    t = b.select(b.fcmp_ordered("==", y, y), y, f(0.0))   # keeps the integer conversion below defined for NaN
    k = b.fsub(b.fadd(b.fmul(t, f(1.4426950408889634)), f(6755399441055744.0)), f(6755399441055744.0))  # round(y/ln2)
    r = b.fsub(b.fsub(y, b.fmul(k, f(0.6931471803691238))), b.fmul(k, f(1.9082149292705877e-10)))
    p = f(1.6059043836821613e-10)       # exp(r) = 1 + r + r**2/2! + ... + r**13/13!, Horner
    for c in (2.08767569878681e-09, 2.505210838544172e-08, 2.755731922398589e-07, 2.7557319223985893e-06,
              2.48015873015873e-05, 0.0001984126984126984, 0.001388888888888889, 0.008333333333333333,
              0.041666666666666664, 0.16666666666666666, 0.5, 1.0, 1.0):
        p = b.fadd(b.fmul(p, r), f(c))
    n = b.fptosi(k, i)
    h = b.ashr(n, i(1))                 # 2**k = 2**h 2**(n - h), each a normal number
    return b.fmul(b.fmul(p, b.bitcast(b.shl(b.add(h, i(1023)), i(52)), f)),
                  b.bitcast(b.shl(b.add(b.sub(n, h), i(1023)), i(52)), f))


if numba.config.DISABLE_JIT:   # run as plain Python: the same steps on floats
    def _exp(x):
        y = 710.0 if x > 710.0 else x       # exp overflows to inf from here; NaN stays NaN
        y = -750.0 if y < -750.0 else y     # and underflows to 0 from here
        t = y if y == y else 0.0            # keeps the integer conversion below defined for NaN
        k = (t * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0   # round(y / ln2)
        r = (y - k * 0.6931471803691238) - k * 1.9082149292705877e-10
        p = 1.6059043836821613e-10
        for c in (2.08767569878681e-09, 2.505210838544172e-08, 2.755731922398589e-07, 2.7557319223985893e-06,
                  2.48015873015873e-05, 0.0001984126984126984, 0.001388888888888889, 0.008333333333333333,
                  0.041666666666666664, 0.16666666666666666, 0.5, 1.0, 1.0):
            p = p * r + c
        n = np.int64(k)
        h = n >> 1
        return p * _bitcast((h + 1023) << 52, np.float64) * _bitcast((n - h + 1023) << 52, np.float64)
''',
    "_tanh": '''

@_intrinsic
def _tanh(b, x):
    """tanh(x), float64, with no call and no branch, so that loops calling it
    vectorise (libm's tanh is a scalar call).  tanh |x| = e / (e + 2) with
    e = expm1(2|x|), computed as _exp computes exp (2|x| = k ln2 + r) but with
    the 1 kept apart: e = 2**k expm1(r) + (2**k - 1), expm1(r) = r + r**2 q(r),
    so that small x keep their relative accuracy (no 1 - 2/(exp(2x) + 1))."""
    f, i = x.type, ir.IntType(64)       # f(c), i(c): the constants c as double, int64
    a = b.call(b.module.declare_intrinsic("llvm.fabs", [f]), [x])
    y = b.select(b.fcmp_ordered("<", a, f(22.0)), b.fmul(f(2.0), a), f(44.0))   # tanh rounds to 1 from |x| > 19.1; NaN too
    k = b.fsub(b.fadd(b.fmul(y, f(1.4426950408889634)), f(6755399441055744.0)), f(6755399441055744.0))  # round(y/ln2)
    r = b.fsub(b.fsub(y, b.fmul(k, f(0.6931471803691238))), b.fmul(k, f(1.9082149292705877e-10)))
    q = f(1.6059043836821613e-10)       # (exp(r) - 1 - r) / r**2 to r**11, Taylor, Horner
    for c in (2.08767569878681e-09, 2.505210838544172e-08, 2.755731922398589e-07, 2.7557319223985893e-06,
              2.48015873015873e-05, 0.0001984126984126984, 0.001388888888888889, 0.008333333333333333,
              0.041666666666666664, 0.16666666666666666, 0.5):
        q = b.fadd(b.fmul(q, r), f(c))
    s = b.bitcast(b.shl(b.add(b.fptosi(k, i), i(1023)), i(52)), f)   # 2**k, 0 <= k <= 64
    e = b.fadd(b.fmul(s, b.fadd(r, b.fmul(b.fmul(r, r), q))), b.fsub(s, f(1.0)))
    t = b.fdiv(e, b.fadd(e, f(2.0)))
    t = b.select(b.fcmp_ordered("<", x, f(0.0)), b.fneg(t), t)
    same = b.or_(b.fcmp_ordered("==", x, f(0.0)), b.fcmp_unordered("!=", x, x))
    return b.select(same, x, t)         # -0.0 and NaN as they came


if numba.config.DISABLE_JIT:   # run as plain Python: the same steps on floats
    def _tanh(x):
        a = abs(x)
        y = 2.0 * a if a < 22.0 else 44.0
        k = (y * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0
        r = (y - k * 0.6931471803691238) - k * 1.9082149292705877e-10
        q = 1.6059043836821613e-10
        for c in (2.08767569878681e-09, 2.505210838544172e-08, 2.755731922398589e-07, 2.7557319223985893e-06,
                  2.48015873015873e-05, 0.0001984126984126984, 0.001388888888888889, 0.008333333333333333,
                  0.041666666666666664, 0.16666666666666666, 0.5):
            q = q * r + c
        s = _bitcast((np.int64(k) + 1023) << 52, np.float64)
        e = s * (r + r * r * q) + (s - 1.0)
        t = e / (e + 2.0)
        t = -t if x < 0.0 else t
        return x if x == 0.0 or x != x else t
''',
    "_log": '''

@_intrinsic
def _log(b, x):
    """log(x), float64, with no call and no branch, so that loops calling it
    vectorise (libm's log is a scalar call).  x = 2**e m with m in
    [sqrt(2)/2, sqrt(2)] from its bits (subnormals scaled by 2**54 first);
    log(m) = 2 atanh(s), s = (m - 1)/(m + 1), by its series to s**23."""
    f, i = x.type, ir.IntType(64)       # f(c), i(c): the constants c as double, int64
    sub = b.fcmp_ordered("<", x, f(2.2250738585072014e-308))   # subnormal (or <= 0, replaced below)
    bits = b.bitcast(b.select(sub, b.fmul(x, f(18014398509481984.0)), x), i)
    e = b.sub(b.and_(b.ashr(bits, i(52)), i(2047)), b.select(sub, i(1077), i(1023)))
    m = b.bitcast(b.or_(b.and_(bits, i(4503599627370495)), i(4607182418800017408)), f)   # in [1, 2)
    big = b.fcmp_ordered(">", m, f(1.4142135623730951))
    m = b.select(big, b.fmul(f(0.5), m), m)
    k = b.sitofp(b.select(big, b.add(e, i(1)), e), f)
    u = b.fsub(m, f(1.0))
    s = b.fdiv(u, b.fadd(f(2.0), u))
    z = b.fmul(s, s)
    p = f(0.08695652173913043)          # (atanh(s)/s - 1) / s**2 = 1/3 + s**2/5 + ..., Horner in z
    for c in (0.09523809523809523, 0.10526315789473684, 0.11764705882352941, 0.13333333333333333,
              0.15384615384615385, 0.18181818181818182, 0.2222222222222222, 0.2857142857142857, 0.4,
              0.6666666666666666):
        p = b.fadd(b.fmul(p, z), f(c))
    r = b.fadd(b.fmul(k, f(0.6931471803691238)),                   # k ln2 (in two parts) + 2 atanh(s)
               b.fadd(b.fadd(b.fmul(b.fmul(s, z), p), b.fmul(k, f(1.9082149292705877e-10))), b.fmul(f(2.0), s)))
    r = b.select(b.fcmp_ordered("==", x, f(0.0)), f(-math.inf), r)
    r = b.select(b.fcmp_ordered("<", x, f(0.0)), f(math.nan), r)
    same = b.or_(b.fcmp_ordered("==", x, f(math.inf)), b.fcmp_unordered("!=", x, x))
    return b.select(same, x, r)         # inf and NaN as they came


if numba.config.DISABLE_JIT:   # run as plain Python: the same steps on floats
    def _log(x):
        sub = x < 2.2250738585072014e-308
        y = x * 18014398509481984.0 if sub else x
        b = _bitcast(y, np.int64)
        e = ((b >> 52) & 2047) - (1077 if sub else 1023)
        m = _bitcast((b & 4503599627370495) | 4607182418800017408, np.float64)
        big = m > 1.4142135623730951
        m = 0.5 * m if big else m
        k = float(e + 1 if big else e)
        f = m - 1.0
        s = f / (2.0 + f)
        z = s * s
        p = 0.08695652173913043
        for c in (0.09523809523809523, 0.10526315789473684, 0.11764705882352941, 0.13333333333333333,
                  0.15384615384615385, 0.18181818181818182, 0.2222222222222222, 0.2857142857142857, 0.4,
                  0.6666666666666666):
            p = p * z + c
        r = k * 0.6931471803691238 + ((s * z * p + k * 1.9082149292705877e-10) + 2.0 * s)
        r = -np.inf if x == 0.0 else r
        r = np.nan if x < 0.0 else r
        return x if x == np.inf or x != x else r
''',
    "_sin": '''

@_intrinsic
def _sin(b, x):
    """sin(x), float64, vectorisable (see _sin_cos); sin(-0.0) is -0.0."""
    return b.select(b.fcmp_ordered("==", x, x.type(0.0)), x, _sin_cos(b, x)[0])


if numba.config.DISABLE_JIT:   # run as plain Python
    def _sin(x):
        return x if x == 0.0 else _sin_cos(x)[0]
''',
    "_cos": '''

@_intrinsic
def _cos(b, x):
    """cos(x), float64, vectorisable (see _sin_cos)."""
    return _sin_cos(b, x)[1]


if numba.config.DISABLE_JIT:   # run as plain Python
    def _cos(x):
        return _sin_cos(x)[1]
''',
    "_sin_cos": '''

def _sin_cos(b, x):
    """(sin x, cos x) for |x| < 2**20, float64, with no call and no branch, so
    that loops calling it vectorise (libm's sin and cos are scalar calls).
    x = q pi/2 + r, |r| <~ pi/4, by Cody-Waite with four parts of pi/2 (exact
    to 2**20); sin r and cos r by their Taylor series; the quadrant q picks,
    for each result, one of them and its sign.  Beyond 2**20, and for inf and
    nan, the result is meaningless: a loop that calls it counts such arguments
    and runs again with libm if it met one (``LIMIT``; see backend/nest.py).
    The instructions of both results, written by _sin and by _cos: once both
    are inlined in a loop, LLVM computes what they share once."""
    f, i = x.type, ir.IntType(64)       # f(c), i(c): the constants c as double, int64
    fabs = b.module.declare_intrinsic("llvm.fabs", [f])
    y = b.select(b.fcmp_ordered("<", b.call(fabs, [x]), f(1048576.0)), x, f(0.0))
    k = b.fsub(b.fadd(b.fmul(y, f(0.6366197723675814)), f(6755399441055744.0)), f(6755399441055744.0))  # round(y 2/pi)
    w = b.fsub(y, b.fmul(k, f(1.5707963267341256)))   # exact
    v = b.fmul(k, f(6.077100506303966e-11))           # exact
    t = b.fsub(w, v)
    u = b.fsub(t, w)
    err = b.fadd(b.fsub(w, b.fsub(t, u)), b.fsub(b.fneg(v), u))   # the rounding error of w - v
    r = b.fadd(t, b.fsub(b.fsub(err, b.fmul(k, f(2.0222662487111665e-21))), b.fmul(k, f(8.4784276603689e-32))))
    q = b.fptosi(k, i)
    z = b.fmul(r, r)
    s = f(2.8114572543455206e-15)       # sin r = r - r**3/3! + ... + r**17/17!, Horner in z
    for a in (-7.647163731819816e-13, 1.6059043836821613e-10, -2.505210838544172e-08, 2.7557319223985893e-06,
              -0.0001984126984126984, 0.008333333333333333, -0.16666666666666666):
        s = b.fadd(b.fmul(s, z), f(a))  # (x - a as x + -a: the same rounding)
    s = b.fadd(r, b.fmul(b.fmul(r, z), s))
    c = f(1.5619206968586225e-16)       # cos r = 1 - r**2/2! + ... + r**18/18!
    for a in (-4.779477332387385e-14, 1.1470745597729725e-11, -2.08767569878681e-09, 2.755731922398589e-07,
              -2.48015873015873e-05, 0.001388888888888889, -0.041666666666666664, 0.5):
        c = b.fadd(b.fmul(c, z), f(a))
    c = b.fsub(f(1.0), b.fmul(z, c))
    odd = b.icmp_signed("!=", b.and_(q, i(1)), i(0))   # x = q pi/2 + r: sin x = sin r, cos r, -sin r, -cos r
    sin_x = b.select(odd, c, s)
    sin_x = b.select(b.icmp_signed("!=", b.and_(q, i(2)), i(0)), b.fneg(sin_x), sin_x)
    cos_x = b.select(odd, s, c)         # cos x = cos r, -sin r, -cos r, sin r
    cos_x = b.select(b.icmp_signed("!=", b.and_(b.add(q, i(1)), i(2)), i(0)), b.fneg(cos_x), cos_x)
    return sin_x, cos_x


if numba.config.DISABLE_JIT:   # run as plain Python: the same steps on floats
    def _sin_cos(x):
        y = x if abs(x) < 1048576.0 else 0.0
        k = (y * 0.6366197723675814 + 6755399441055744.0) - 6755399441055744.0
        w = y - k * 1.5707963267341256
        v = k * 6.077100506303966e-11
        t = w - v
        u = t - w
        err = (w - (t - u)) + (-v - u)
        r = t + ((err - k * 2.0222662487111665e-21) - k * 8.4784276603689e-32)
        q = np.int64(k)
        z = r * r
        s = 2.8114572543455206e-15
        for a in (-7.647163731819816e-13, 1.6059043836821613e-10, -2.505210838544172e-08, 2.7557319223985893e-06,
                  -0.0001984126984126984, 0.008333333333333333, -0.16666666666666666):
            s = s * z + a
        s = r + r * z * s
        c = 1.5619206968586225e-16
        for a in (-4.779477332387385e-14, 1.1470745597729725e-11, -2.08767569878681e-09, 2.755731922398589e-07,
                  -2.48015873015873e-05, 0.001388888888888889, -0.041666666666666664, 0.5):
            c = c * z + a
        c = 1.0 - z * c
        sin_x = c if q & 1 else s
        sin_x = -sin_x if q & 2 else sin_x
        cos_x = s if q & 1 else c
        cos_x = -cos_x if (q + 1) & 2 else cos_x
        return sin_x, cos_x
''',
}
