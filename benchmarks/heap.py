"""What the generated modules' malloc tuning (symback/backend/heap.py) saves.

    python -m benchmarks.heap [--rounds 3] [--workloads W1v,W3,W4r]

For each workload, symback's value_and_grad is timed in fresh processes, alternately
with the tuning (the default) and without it (SYMBACK_MALLOC_TUNING=0), ``--rounds``
processes each; each process reports the page faults of one call and its time per call
(``timing.time_call``: the best of 5 round medians).  The table shows the best process
of each kind.  The tuning is process-wide, hence one process per measurement.
"""
import argparse
import json
import os
import resource
import subprocess
import sys

_CHILD = "_child"


def child(workload):
    from . import sb_impl, timing, workloads
    data = workloads.DATA[workload]()
    system = sb_impl.prepare(workload, data, {})
    f, args = system.value_and_grad, system.args
    for _ in range(3):
        f(*args)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    f(*args)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    print(json.dumps({"faults": faults, "s": timing.time_call(f, *args)}))


def measure(workload, tuned):
    env = dict(os.environ, **({} if tuned else {"SYMBACK_MALLOC_TUNING": "0"}))
    out = subprocess.run([sys.executable, "-m", "benchmarks.heap", _CHILD, workload],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == [_CHILD]:
        return child(argv[1])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workloads", default="W1v,W3,W4r")
    a = ap.parse_args(argv)
    print(f"{'workload':9s} {'faults/call':>22s} {'value_and_grad us':>24s}  ratio")
    print(f"{'':9s} {'untuned':>11s} {'tuned':>10s} {'untuned':>12s} {'tuned':>11s}")
    for w in a.workloads.split(","):
        runs = {True: [], False: []}
        for _ in range(a.rounds):
            for tuned in (False, True):
                runs[tuned].append(measure(w, tuned))
        best = {k: min(v, key=lambda r: r["s"]) for k, v in runs.items()}
        u, t = best[False], best[True]
        print(f"{w:9s} {u['faults']:11d} {t['faults']:10d} {u['s'] * 1e6:12.1f} {t['s'] * 1e6:11.1f}"
              f"  {u['s'] / t['s']:5.2f}x")


if __name__ == "__main__":
    main()
