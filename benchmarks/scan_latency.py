"""Loops against unrolled graphs: first-call latency, size of the generated code, time per call.

    python -m benchmarks.scan_latency            # the table below, W4r unrolled and W5 K=1000 unrolled aside
    python -m benchmarks.scan_latency --all      # also those two (a minute or more of Numba each)
    python -m benchmarks.scan_latency one W5 rerolled 1000   # one measurement, printed as JSON
    python -m benchmarks.scan_latency steady W4 W4r W5      # time per call, rerolled vs unrolled, interleaved

Variants: "rerolled" is the workload as WORKLOADS.md writes it (a Python loop, one
variable per layer) compiled as symback compiles it by default, which makes the
repeated layers a loop (symback/passes/reroll.py); "unrolled" is the same graph with
``reroll=False`` (symback before loops); "loop" is written with sb.fori_loop / sb.scan
over stacked parameters by hand.

Each measurement runs in a fresh process whose symback and Numba caches are a new
empty directory (SYMBACK_CACHE_DIR and NUMBA_CACHE_DIR), so "first call" is cold:
graph build + differentiation + code generation + import + JIT + the call itself.
"import symback" and drawing the data are not timed.  Time per call is the best of
7 rounds of repeated calls after warm-up (value_and_grad and forward).
"first_call_cpu_s" is the CPU time of the same span (the machine is shared:
wall time there is the CPU time stretched by whoever else is running).

Figures (2 shared cores, busy; issue 10, December 2026): median of 5 fresh
processes per row, "before" (d53b245) and "after" interleaved, the rerolled
variant (``one W4 rerolled 0`` ...); first call in wall and CPU seconds:

| workload   | first call before | after          | CPU before | after  | lines before | after (vag fn) |
|------------|-------------------|----------------|------------|--------|--------------|----------------|
| W4         | 2.81 s            | 3.12 s (noise) | 2.62 s     | 2.20 s | 318          | 275 (70)       |
| W4r        | 4.99 s            | 3.14 s         | 3.39 s     | 2.70 s | 359          | 312 (94)       |
| W5 K=1000  | 1.25 s            | 1.29 s         | 1.13 s     | 1.17 s | 148          | 125 (44)       |
| W5 K=10000 | 2.24 s            | 2.29 s         | 1.91 s     | 1.96 s | 148          | 125 (44)       |

Where W4's first call went before (CPU, one process, from Numba's compile
events): the kernel function itself ~0.9 s (typing ~0.2, lowering ~0.45, LLVM
~0.25), _matmul 0.34 s (with its np.empty and ascontiguousarray overloads),
_exp 0.16 s (with its _from_bits overload), np.zeros 0.16 s, the np.empty
overloads (one per rank and dtype spelling) ~0.25 s, Numba's first-use set-up
(registries, SciPy's BLAS import) and the call ~0.4 s.  After: the kernel
function ~0.7 s, _matmul 0.14 s, _exp 0.09 s, np.empty 3 ranks ~0.2 s, the
rest unchanged.

Time per call, ``steady W4 W4r W5`` after (min and median of 21 interleaved
rounds, ms; rerolled / unrolled): W4 vag 0.796 / 0.846 = 0.94 (median 0.97), forward
0.487 / 0.489 = 1.00 (median 1.02; before: 1.07, the per-call stacking of the
per-layer parameters, now one all() check and np.concatenate); W4r vag 0.84
(0.83), forward 1.07 (median 1.33, a busy run: its four stacks copy 800 KB a
call); W5 K=1000 vag 0.66 (0.52), forward 0.95 (0.81).

Issue 10, second pass (branch firstcall2; 2 shared cores, another job running,
load 3-4): before = b5cb961, after = 8b579dc, 5 fresh processes each, interleaved,
``d=$(mktemp -d); SYMBACK_CACHE_DIR=$d NUMBA_CACHE_DIR=$d python -m
benchmarks.scan_latency one W4 rerolled 0`` (and W4r); median (range):

| workload | CPU before       | CPU after        | wall before      | wall after       | lines before | after |
|----------|------------------|------------------|------------------|------------------|--------------|-------|
| W4       | 2.03 (1.74-2.25) | 1.69 (1.60-1.79) | 2.09 (1.83-2.30) | 1.79 (1.70-1.82) | 296          | 325   |
| W4r      | 2.36 (2.16-2.70) | 2.10 (1.93-2.37) | 2.62 (2.13-2.84) | 2.30 (1.85-2.60) | 333          | 362   |
| W5 K=1000 module lines                                                             | 125          | 149   |

Again at 06:10 on a quieter machine (load 0.1-0.8), final tree (47b18d7), 3 runs
each: W4 CPU 2.32 (2.28-2.39) -> 1.81 (1.64-1.87) s, wall 2.23 (2.19-2.34) -> 1.72
(1.55-1.78) s; W4r CPU 2.14 (2.07-2.58) -> 1.97 (1.78-2.10) s, wall 2.05 (1.97-2.50)
-> 1.87 (1.68-1.99) s (CPU above wall: BLAS and Numba threads).

What changed: (1) arrays are allocated by the module's ``_empty`` intrinsic,
built in place from Numba's runtime, not ``np.empty``/``np.zeros``, which Numba
compiled as a function of its own per rank, plus its allocator trampoline (W4: 4
compilations, ~0.25 s); (2) ``_matmul`` lets BLAS handle empty operands (no
``out[...] = 0`` branch; ``x or 1`` leading dimensions, not ``max``, whose overload
Numba compiled too): 0.15 -> 0.11 s; (3) entry kernels are compiled without
Numba's C wrapper (``no_cfunc_wrapper``).  Where W4's first call goes now (CPU,
one process, compile events): import numba ~0.3 s, Numba's first-use set-up ~0.45
s (of which importing scipy.linalg, which Numba does for its BLAS check, ~0.26 s:
scipy's array-API layer imports numpy.f2py and numpy.testing), the kernel function
~0.65 s, _matmul ~0.11 s, _exp ~0.08 s.  The first two are fixed costs of any
Numba kernel that calls BLAS: W4 < 1.5 s and W4r < 2 s need the kernel's own
lowering smaller still (fewer statements and array accesses per loop).

Forward of W4r: a forward entry whose loop only reads rows of the stacked
per-layer parameters now gets the user's arrays as a tuple (``_stack(...,
rows=True)``: no copy when they are all C-contiguous, writeable and aligned;
compiled code indexes the tuple like the stack; up to ROWS_MAX = 64 layers: Numba
indexes a tuple by a switch over its items, so the forward's own first call costs
more, 0.36 -> 0.91 s for 50 16x16 layers, and 400 layers would take 11.7 s and run
slower).  ``steady W4 W4r W5`` (min, median
ratio rerolled/unrolled; before in parentheses, run on the same busy machine):
W4 vag 1.07 / 0.95 (0.92 / 0.95), fwd 0.94 / 0.98 (1.06 / 1.05); W4r vag 1.10 /
0.93 (0.90 / 0.87), fwd 1.00 / 1.00 (1.01 / 0.96); W5 vag 0.67 / 0.62, fwd 0.95 /
0.97.  The same kernels side by side in one process, 21 interleaved rounds
(ms, min / median): W4 vag 0.789 / 0.917 before, 0.801 / 0.923 after; W4r vag
1.41-1.56 / 1.61-1.86 before, 1.46-1.57 / 1.68-2.00 after, W4r fwd 0.74-0.77 /
0.80-0.89 before, 0.72-0.74 / 0.77-0.81 after.  W4r's vag looked 2-7 % slower in
three such runs, but the before module loaded twice under two names differed by
5 % in the same run (1.556 and 1.630), and reverting each change in turn (np.empty
in the kernel, the old _matmul, the C wrapper) did not bring the time back: busy
machine's noise, to be measured again on a quiet one.

Issue 10, third pass (December 2, 2026; 2 shared cores, load 1.0-1.3): before =
d99b1e8, after = 9814fd3, 5 fresh processes each, interleaved (``cd $tree &&
PYTHONPATH=$tree python -m benchmarks.scan_latency one W4 rerolled 0``, empty caches);
median (range), seconds:

| workload | wall before      | wall after       | CPU before       | CPU after        | lines before | after |
|----------|------------------|------------------|------------------|------------------|--------------|-------|
| W4       | 1.63 (1.50-1.89) | 1.16 (1.07-1.39) | 1.73 (1.60-1.99) | 1.26 (1.17-1.49) | 325          | 366   |
| W4r      | 1.70 (1.64-2.21) | 1.55 (1.26-1.80) | 1.80 (1.74-2.31) | 1.65 (1.36-1.89) | 362          | 403   |

W5 after: K=1000 0.72 s, K=10,000 1.17 s.  What changed: (1) Numba's BLAS is made
ready without ``import scipy.linalg`` (symback/backend/blas.py: 0.23 -> 0.04 s for
Numba's BLAS check; the package import pulled in LAPACK, numpy.f2py and numpy.testing);
(2) ``_matmul`` and the vectorisable math helpers (``_exp``, ``_tanh``, ``_log``,
``_sin``/``_cos``) are intrinsics, LLVM instructions, instead of njit functions, each of
which was a Numba compilation of its own on first call (~0.1 s each; the math helpers
are built once per process in a library of their own, so that the kernel's fastmath
flags do not reach them; bit-identical results).  Steady state after (``steady W4 W4r
W5``, min / median ratio rerolled/unrolled): W4 vag 0.98 / 1.04, fwd 1.04 / 1.03; W4r
vag 0.97 / 0.94, fwd 0.94 / 0.93; W5 vag 0.70 / 0.66, fwd 1.02 / 0.99.  The modules grew
by the intrinsics' code and their plain-Python fallbacks (NUMBA_DISABLE_JIT): the
kernel functions themselves are unchanged (W4r: _forward 34, _value_and_grad 94 lines,
the same at 10, 50 and 200 layers).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

from . import workloads


def build_W5_loop(K):
    import symback as sb
    x, a = sb.var("x"), sb.var("a")
    u = sb.fori_loop(K, lambda i, u: sb.sin(u) * u + sb.cos(a * u), x)
    return u, [x, a], []


def build_W4_scan(residual=False, n=64, layers=workloads.N_DEEP):
    """W4 (W4r) with one variable per layer, as WORKLOADS.md says, scanned over
    their stacks: the kernel's arguments are still W1, b1, ..."""
    import symback as sb
    X, target = sb.var("X", (n, 32)), sb.var("target", (n, 1))
    names = [("W", (32, 32)), ("c", (32,)), ("V", (32, 32)), ("b", (32,))] if residual else \
        [("W", (32, 32)), ("b", (32,))]
    per_layer = [[sb.var(f"{p}{i}", s) for p, s in names] for i in range(1, layers + 1)]
    params = [v for layer in per_layer for v in layer]
    stacks = tuple(sb.stack([layer[j] for layer in per_layer]) for j in range(len(names)))
    if residual:
        def step(o, p):
            W, c, V, b = p
            return o + sb.sigmoid(o @ W.T + c) @ V.T + b, None
    else:
        def step(o, p):
            W, b = p
            return sb.sigmoid(o @ W.T + b), None
    o, _ = sb.scan(step, X, stacks)
    W_out, b_out = sb.var("W_out", (1, 32)), sb.var("b_out", (1,))
    params += [W_out, b_out]
    return sb.mean((o @ W_out.T + b_out - target) ** 2), params, [X, target]


def _build(workload, variant, K):
    from . import sb_models
    if variant in ("unrolled", "rerolled"):
        return sb_models.BUILD[workload](*([K] if workload == "W5" else [64]))
    if workload == "W5":
        return build_W5_loop(K)
    return build_W4_scan(residual=workload == "W4r")


def _best_ms(f, args, rounds=7):
    f(*args)
    n = 1
    while True:   # calls per round: about 50 ms worth
        t = time.perf_counter()
        for _ in range(n):
            f(*args)
        if time.perf_counter() - t > 0.05 or n >= 1 << 14:
            break
        n *= 2
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(n):
            f(*args)
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e3


def one(workload, variant, K):
    params = {"K": K} if workload == "W5" else {}
    data = workloads.DATA[workload](**params)
    args = tuple(data[k] for k in workloads.PARAMS[workload] + workloads.INPUTS[workload] if k != "K")
    import symback as sb
    c0 = time.process_time()
    t0 = time.perf_counter()
    loss, wrt, inputs = _build(workload, variant, K)
    t1 = time.perf_counter()
    kernel = sb.value_and_grad(loss, wrt, wrt + inputs, name=f"lat_{workload}_{variant}_{K}",
                               reroll=variant != "unrolled")
    t2 = time.perf_counter()
    kernel(*args)
    t3 = time.perf_counter()
    c3 = time.process_time()
    source = kernel.source
    vag = source[source.index("def _value_and_grad("):]
    vag = vag[:vag.index("\ndef ")]
    return {"workload": workload, "variant": variant, "K": K if workload == "W5" else None,
            "build_s": t1 - t0, "grad_emit_s": t2 - t1, "jit_call_s": t3 - t2, "first_call_s": t3 - t0,
            "first_call_cpu_s": c3 - c0,
            "module_lines": source.count("\n"), "vag_function_lines": vag.count("\n"),
            "vag_ms": _best_ms(kernel, args), "forward_ms": _best_ms(kernel.forward, args)}


def measure(workload, variant, K):
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SYMBACK_CACHE_DIR": tmp, "NUMBA_CACHE_DIR": os.path.join(tmp, "numba")}
        out = subprocess.run([sys.executable, "-m", "benchmarks.scan_latency", "one", workload, variant, str(K)],
                             env=env, capture_output=True, text=True, timeout=1800)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


RUNS = [("W5", "rerolled", 1000), ("W5", "rerolled", 10000), ("W5", "loop", 1000), ("W5", "unrolled", 200),
        ("W4", "rerolled", 0), ("W4", "scan", 0), ("W4", "unrolled", 0),
        ("W4r", "rerolled", 0), ("W4r", "scan", 0)]
SLOW = [("W4r", "unrolled", 0), ("W5", "unrolled", 1000)]


def steady(workload, rounds=21):
    """Time per call of the rerolled and the unrolled kernel, measured in
    alternating rounds in one process (so that a busy machine slows both
    alike); min and median over the rounds, in ms."""
    import numpy as np

    import symback as sb
    params = {"K": 1000} if workload == "W5" else {}
    data = workloads.DATA[workload](**params)
    args = tuple(data[k] for k in workloads.PARAMS[workload] + workloads.INPUTS[workload] if k != "K")
    kernels = {}
    for variant in ("rerolled", "unrolled"):
        loss, wrt, inputs = _build(workload, variant, params.get("K", 0))
        kernels[variant] = sb.value_and_grad(loss, wrt, wrt + inputs, name=f"steady_{workload}_{variant}",
                                             reroll=variant == "rerolled")
    times = {(v, e): [] for v in kernels for e in ("vag", "fwd")}
    for _ in range(rounds):
        for v, k in kernels.items():
            times[v, "vag"].append(_best_ms(k, args, rounds=1))
            times[v, "fwd"].append(_best_ms(k.forward, args, rounds=1))
    out = {f"{v}_{e}_ms": {"min": min(t), "median": float(np.median(t))} for (v, e), t in times.items()}
    return {"workload": workload, **out}


def main(argv):
    if argv[:1] == ["one"]:
        print(json.dumps(one(argv[1], argv[2], int(argv[3]))))
        return
    if argv[:1] == ["steady"]:
        print(f"{'workload':<9} {'entry':<6} {'rerolled min':>12} {'unrolled min':>12} {'ratio':>6}   "
              f"{'rerolled med':>12} {'unrolled med':>12} {'ratio':>6}")
        for workload in argv[1:]:
            r = steady(workload)
            for e in ("vag", "fwd"):
                a, b = r[f"rerolled_{e}_ms"], r[f"unrolled_{e}_ms"]
                print(f"{workload:<9} {e:<6} {a['min']:>12.3f} {b['min']:>12.3f} {a['min'] / b['min']:>6.2f}   "
                      f"{a['median']:>12.3f} {b['median']:>12.3f} {a['median'] / b['median']:>6.2f}", flush=True)
        return
    runs = RUNS + (SLOW if "--all" in argv else [])
    head = f"{'workload':<10} {'variant':<9} {'first call s':>12} {'(build':>7} {'grad+emit':>9} {'jit+call)':>9} " \
           f"{'lines':>6} {'vag fn':>6} {'vag ms':>8} {'fwd ms':>8} {'vag/fwd':>7}"
    print(head)
    print("-" * len(head))
    for workload, variant, K in runs:
        r = measure(workload, variant, K)
        label = workload + (f" K={K}" if workload == "W5" else "")
        print(f"{label:<10} {variant:<9} {r['first_call_s']:>12.2f} {r['build_s']:>7.2f} {r['grad_emit_s']:>9.2f} "
              f"{r['jit_call_s']:>9.2f} {r['module_lines']:>6} {r['vag_function_lines']:>6} {r['vag_ms']:>8.3f} "
              f"{r['forward_ms']:>8.3f} {r['vag_ms'] / r['forward_ms']:>7.2f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
