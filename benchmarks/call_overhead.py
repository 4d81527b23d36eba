"""The cost of a call: W1 (the lecture scalar) through symback's layers
against a hand-written Numba function computing the same value and gradient.

    python -m benchmarks.call_overhead

Prints microseconds per call (best of 5 repeats of 200,000 calls) for
``kernel(x, z)`` (the Kernel object), ``kernel.value_and_grad`` (the generated
module's checked wrapper), the compiled body alone (no argument checks) and the
hand-written function, all measured side by side in one process.
"""
from __future__ import annotations

import math
import timeit

import numba

import symback as sb


@numba.njit(cache=True)
def hand(x, z):
    a = x * z
    b = math.exp(a)
    c = math.log(x)
    d = a / c
    h = math.sin(c) / a
    ga = -h / a + 1.0 / c + b
    gc = math.cos(c) / a - d / c
    return b + d + h, (gc / x + ga * z, ga * x)


def main(calls=200_000, repeat=5):
    x, z = sb.var("x"), sb.var("z")
    y = sb.exp(x * z) + x * z / sb.log(x) + sb.sin(sb.log(x)) / (x * z)
    kernel = sb.value_and_grad(y, [x, z])
    body = kernel.module._value_and_grad
    want, got = hand(2.0, 3.0), kernel(2.0, 3.0)
    assert abs(got[0] - want[0]) < 1e-12 * abs(want[0]), (got, want)
    assert all(abs(g - w) < 1e-12 * abs(w) for g, w in zip(got[1], want[1], strict=True)), (got, want)
    cases = {"kernel(x, z)": lambda: kernel(2.0, 3.0),
             "kernel.value_and_grad(x, z)": (lambda f: lambda: f(2.0, 3.0))(kernel.value_and_grad),
             "compiled body alone": lambda: body(2.0, 3.0),
             "hand-written njit": lambda: hand(2.0, 3.0)}
    times = {k: min(timeit.repeat(f, number=calls, repeat=repeat)) / calls * 1e6 for k, f in cases.items()}
    base = times["hand-written njit"]
    for k, t in times.items():
        print(f"{k:30s} {t:7.3f} us   {t / base:5.2f}x hand-written")


if __name__ == "__main__":
    main()
