"""Timing helpers for noisy small (2-core) machines.

Why this shape: on a shared machine the noise is one-sided (other work only ever makes a
call slower), and it comes in bursts. So each round takes the median of several samples
(robust to single hiccups), and the best round is reported (the burst-free estimate).
Systems compared against each other are interleaved round by round, so a slow period hits
all of them instead of whichever happened to run then. Fast calls are batched: a sample
times `inner` back-to-back calls, chosen so one sample lasts at least `min_sample` seconds,
which keeps timer resolution and loop overhead out of microsecond figures.
"""
import gc
import statistics
import time


def _inner(fn, args, min_sample):
    """Calls per sample: double until one sample lasts min_sample seconds."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn(*args)
        if time.perf_counter() - t0 >= min_sample:
            return n
        n *= 2


def _round(fn, args, number, inner):
    """Median over `number` samples of the seconds per call."""
    samples = []
    for _ in range(number):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn(*args)
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)


def compare(fns, args=(), rounds=5, number=7, warmup=2, min_sample=2e-4, settle=0.0):
    """Seconds per call for each system: {name: best over rounds of the round median}.

    fns: {name: callable}. args: one tuple passed to every callable, or {name: tuple}
    when systems need their own argument objects (e.g. device tensors). Within each round
    every system is timed in turn; the starting system rotates from round to round so no
    one always runs first (or right after a particular neighbour). The garbage collector
    is off while timing, as in timeit.

    settle: seconds of sleep before each system's turn. Thread pools spin for a while
    after their work (OpenBLAS's workers about 0.1 s, OpenMP's and XLA's less), and on
    two cores the pool of the system timed before takes a core from the one timed now:
    numpy and SciPy each load their own OpenBLAS, so even two BLAS users collide.
    """
    names = list(fns)
    arg = {n: (args[n] if isinstance(args, dict) else tuple(args)) for n in names}
    for n in names:
        for _ in range(warmup):
            fns[n](*arg[n])
    inner = {n: _inner(fns[n], arg[n], min_sample) for n in names}
    best = {n: float("inf") for n in names}
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            for n in names[r % len(names):] + names[:r % len(names)]:
                if settle:
                    time.sleep(settle)
                best[n] = min(best[n], _round(fns[n], arg[n], number, inner[n]))
    finally:
        if gc_was_on:
            gc.enable()
    return best


def time_call(fn, *args, rounds=5, number=7, warmup=2, min_sample=2e-4):
    """Seconds per call of fn(*args): warm-up, then the best of `rounds` round medians."""
    return compare({"fn": fn}, args, rounds, number, warmup, min_sample)["fn"]
