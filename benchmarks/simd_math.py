"""Vectorised transcendentals (symback/backend/vecmath.py) against libm, side by side.

1. One function over 1e6 float64 elements, one core: a Numba loop calling libm
   (``math.exp``, what Numba emits) against the same loop calling the generated
   module's helper (``_exp``), which LLVM vectorises.
2. W1v (WORKLOADS.md) value_and_grad and forward: the kernel with libm calls and
   without the ``reassoc`` flag (the code symback generated before the helpers),
   exp and log vectorised, and the default (sin and cos too); whole call (both
   cores past 2**18 points) and the serial compiled function alone (one core).

Run:  python -m benchmarks.simd_math [--rounds 5] [--n 1000000]
"""
import argparse
import math
import re

import numba
import numpy as np

import symback as sb
from symback.backend import vecmath
from symback.kernel import load_source

from . import sb_models, timing, workloads

_LOOP = '''

@numba.njit(error_model="numpy")
def {name}(x, out):
    for i in range(x.shape[0]):
        out[i] = {call}(x[i])
'''

DOMAINS = {"exp": (-5.0, 5.0), "log": (0.1, 10.0), "tanh": (-5.0, 5.0), "sin": (-10.0, 10.0), "cos": (-10.0, 10.0)}


def _micro_module():
    lines = ["import math", "", "import numba", "import numpy as np"]
    lines += vecmath.source(vecmath.HELPERS.values())
    for f, h in vecmath.HELPERS.items():
        lines += _LOOP.format(name=f"libm_{f}", call=f"math.{f}").splitlines()
        lines += _LOOP.format(name=f"vec_{f}", call=h).splitlines()
    module, _ = load_source("\n".join(lines) + "\n", "bench_simd_math")
    return module


def micro(n, rounds):
    m = _micro_module()
    rng = np.random.default_rng(0)
    rows = []
    for f, (lo, hi) in DOMAINS.items():
        x = rng.uniform(lo, hi, n)
        out = {k: np.empty_like(x) for k in ("libm", "vec")}
        fns = {k: getattr(m, f"{k}_{f}") for k in out}
        args = {k: (x, out[k]) for k in out}
        best = timing.compare(fns, args, rounds=rounds)
        err = np.max(np.abs(out["vec"] - out["libm"]) / np.abs(out["libm"]))
        rows.append((f, best["libm"], best["vec"], err))
    return rows


def _libm_variant(source):
    """The kernel as symback wrote it before vecmath: libm calls, no reassoc."""
    source = source.replace(', fastmath={"reassoc"}', "")
    return re.sub(r'__name__ = "(\w+)"', r'__name__ = "\1_libm"', source)


def w1v(n, rounds):
    """W1v three ways, timed in the same rounds: libm (the kernel as symback wrote
    it before vecmath), exp and log vectorised (the default until sin and cos had a
    fast helper) and the default (``vector_math="auto"``: sin and cos too)."""
    data = workloads.data_W1v(n)
    args = workloads.args("W1v", data)
    loss, params, inputs = sb_models.build_W1v()
    explog = sb.value_and_grad(loss, params, params + inputs, name="bench_simd_W1v", vector_math=["exp", "log"])
    every = sb.value_and_grad(loss, params, params + inputs, name="bench_simd_W1v_all")
    off = sb.value_and_grad(loss, params, params + inputs, name="bench_simd_W1v_off", vector_math=False)
    old, _ = load_source(_libm_variant(off.source), "bench_simd_W1v_libm")
    v_old, g_old = old.value_and_grad(*args)
    for k in (explog, every):
        v, g = k.value_and_grad(*args)
        assert np.isclose(v, v_old, rtol=1e-12) and all(np.allclose(a, b, rtol=1e-12) for a, b in zip(g, g_old))
    fns = {}
    for label, m in (("libm", old), ("auto", explog.module), ("all", every.module)):
        fns[f"{label} value_and_grad"] = m.value_and_grad
        fns[f"{label} forward"] = m.forward
        fns[f"{label} value_and_grad 1 core"] = m._value_and_grad
    for f in fns.values():
        f(*args)
    return timing.compare(fns, args, rounds=rounds)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=1_000_000)
    opts = parser.parse_args(argv)
    print(f"numba {numba.__version__}; {opts.n:,} float64 elements, one core")
    print(f"{'function':<10} {'libm ms':>9} {'vector ms':>10} {'speed-up':>9} {'max rel diff':>13}")
    for f, libm, vec, err in micro(opts.n, opts.rounds):
        print(f"{f:<10} {libm * 1e3:9.2f} {vec * 1e3:10.2f} {libm / vec:8.1f}x {err:13.2e}")
    print(f"\nW1v, n = {opts.n:,}")
    best = w1v(opts.n, opts.rounds)
    print(f"{'':<24} {'libm':>9} {'exp+log':>17} {'exp+log+sin+cos':>17}")
    for what in ("value_and_grad", "forward", "value_and_grad 1 core"):
        old, auto, every = (best[f"{k} {what}"] for k in ("libm", "auto", "all"))
        print(f"{what:<24} {old * 1e3:6.2f} ms {auto * 1e3:7.2f} ms {old / auto:5.2f}x "
              f"{every * 1e3:7.2f} ms {old / every:5.2f}x")


if __name__ == "__main__":
    main()
