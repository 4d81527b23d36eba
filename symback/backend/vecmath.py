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

The emitter calls :func:`vectorise` on each float64 expression it writes in a
fused loop, and :func:`source` for the helpers the module's functions use.
"""
from __future__ import annotations

import re

#: math function -> helper name, for the functions that have a helper.
HELPERS = {"exp": "_exp", "log": "_log"}

#: Every name this module's source defines (the loop outliner must not take
#: them for a loop's inputs).
NAMES = frozenset(HELPERS.values()) | {"_as_bits", "_from_bits"}

_CALL = re.compile(r"\bmath\.(" + "|".join(HELPERS) + r")\(")
_USE = re.compile(r"\b(" + "|".join(HELPERS.values()) + r")\(")


def vectorise(text):
    """``text`` (a float64 scalar expression) with ``math.exp(`` -> ``_exp(``
    and the like, for the functions that have a vectorisable helper."""
    return _CALL.sub(lambda m: HELPERS[m.group(1)] + "(", text)


def source(lines):
    """The source lines of the helpers that ``lines`` (generated code) call,
    with what they need, or ``[]``."""
    used = {m.group(1) for line in lines for m in _USE.finditer(line)}
    if not used:
        return []
    text = _BITS + "".join(_FUNCTIONS[name] for name in sorted(used))
    return text.strip("\n").splitlines()


_BITS = '''

@numba.extending.intrinsic
def _as_bits(typingctx, x):
    """The bits of a float64 as an int64 (a bitcast, free in machine code)."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(sig.return_type))
    return numba.types.int64(numba.types.float64), codegen


@numba.extending.intrinsic
def _from_bits(typingctx, n):
    """The float64 whose bits are the int64 ``n``."""
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(sig.return_type))
    return numba.types.float64(numba.types.int64), codegen
'''

_FUNCTIONS = {
    "_exp": '''

@numba.njit(cache=True, nogil=True, error_model="numpy")
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
    return p * _from_bits((h + 1023) << 52) * _from_bits((n - h + 1023) << 52)
''',
    "_log": '''

@numba.njit(cache=True, nogil=True, error_model="numpy")
def _log(x):
    """log(x), float64, with no call and no branch, so that loops calling it
    vectorise (libm's log is a scalar call).  x = 2**e m with m in
    [sqrt(2)/2, sqrt(2)] from its bits (subnormals scaled by 2**54 first);
    log(m) = 2 atanh(s), s = (m - 1)/(m + 1), by its series to s**23."""
    sub = x < 2.2250738585072014e-308   # subnormal (or <= 0, replaced below)
    y = x * 18014398509481984.0 if sub else x
    b = _as_bits(y)
    e = ((b >> 52) & 2047) - (1077 if sub else 1023)
    m = _from_bits((b & 4503599627370495) | 4607182418800017408)   # in [1, 2)
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
}
