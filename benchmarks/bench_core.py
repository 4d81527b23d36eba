"""First benchmark: W1, W1v, W2, W3 -- symback vs its own forward vs numpy backprop.

For each workload, timed side by side in one process (rounds interleaved, see
timing.py): symback's value_and_grad kernel, the same kernel's forward entry,
the hand-written numpy backprop (numpy_ref) and its forward.  Every system's
value and gradient are checked against numpy_ref before anything is timed.

Run:  python -m benchmarks.bench_core [--rounds 5] [--only W2,W3]
"""
import argparse
import time

import numpy as np

import symback as sb

from . import numpy_ref, sb_models, timing, workloads

WORKLOADS = ("W1", "W1v", "W2", "W3")


def _check(name, got, want, rtol=1e-9):
    value, grads = got
    ref_value, ref_grads = want
    if not np.allclose(value, ref_value, rtol=rtol):
        raise AssertionError(f"{name}: value {value} != reference {ref_value}")
    for g, r in zip(grads, ref_grads):
        if not np.allclose(g, r, rtol=rtol, atol=rtol * np.max(np.abs(r))):
            raise AssertionError(f"{name}: gradient differs from the reference")


def run(workload, rounds):
    data = workloads.DATA[workload]()
    args = workloads.args(workload, data)
    t0 = time.perf_counter()
    loss, params, inputs = sb_models.BUILD[workload]()
    kernel = sb.value_and_grad(loss, params, params + inputs, name=f"bench_{workload}")
    out = kernel(*args)
    first_call = time.perf_counter() - t0
    _check(workload, out, numpy_ref.VALUE_AND_GRAD[workload](*args))
    fns = {
        "symback value_and_grad": kernel,
        "symback forward": kernel.forward,
        "numpy value_and_grad": numpy_ref.VALUE_AND_GRAD[workload],
        "numpy forward": numpy_ref.LOSS[workload],
    }
    best = timing.compare(fns, args, rounds=rounds)
    return best, first_call


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default=",".join(WORKLOADS))
    opts = parser.parse_args(argv)
    print(f"{'workload':<8} {'system':<24} {'us/call':>12}")
    summary = []
    for w in opts.only.split(","):
        best, first = run(w, opts.rounds)
        for name, seconds in best.items():
            print(f"{w:<8} {name:<24} {seconds * 1e6:>12.2f}")
        sym, fwd = best["symback value_and_grad"], best["symback forward"]
        ref = best["numpy value_and_grad"]
        summary.append((w, sym / fwd, ref / sym, first))
    print()
    print(f"{'workload':<8} {'vag/forward':>12} {'numpy/symback':>14} {'first call (s)':>15}")
    for w, ratio, speedup, first in summary:
        print(f"{w:<8} {ratio:>12.2f} {speedup:>14.2f} {first:>15.2f}")


if __name__ == "__main__":
    main()
