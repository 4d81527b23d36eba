"""First-call and cached fresh-process latency of symback kernels (WORKLOADS.md).

For the lecture kernel (W1) and the MNIST-size MLP (W3), each measured in fresh
processes with an empty temporary SYMBACK_CACHE_DIR:

* first call    -- a process that imports symback, builds the graph, differentiates,
                   emits and writes the module, imports it, and makes the first
                   value_and_grad call (Numba JIT);
* cached        -- a new process that imports the already-generated module file by
                   path (numpy + numba only, no symback) and makes the first call,
                   with Numba's on-disk cache warm (asserted: one cache hit, no miss);
* symback warm  -- a new process that rebuilds the model with symback (same text, so
                   the same module file and the same Numba cache) and makes the first call;
* `python -c "import numba"` (and numpy) alone, for reference.

"wall" is the whole process, interpreter start to exit, as the parent sees it; the
phases are timed inside the child.  Medians over --repeat runs (fresh directories).

Run:  python -m benchmarks.latency [--repeat 3] [--only W1,W3]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNELS = {"W1": "lecture", "W3": "MLP 784-256-256-10"}


# --- children ------------------------------------------------------------------------------

def _data(workload):
    from benchmarks import workloads
    return workloads.args(workload, workloads.DATA[workload]())


def _stats(fn):
    s = fn.stats
    return sum(s.cache_hits.values()), sum(s.cache_misses.values())


def child_symback(workload):
    """Build, differentiate, emit, import and call: prints the phases as JSON."""
    t0 = time.perf_counter()
    import symback as sb
    from benchmarks import sb_models
    t1 = time.perf_counter()
    loss, params, inputs = sb_models.BUILD[workload]()
    t2 = time.perf_counter()
    kernel = sb.value_and_grad(loss, params, params + inputs, name=f"latency_{workload}")
    t3 = time.perf_counter()
    args = _data(workload)
    t4 = time.perf_counter()
    kernel(*args)
    t5 = time.perf_counter()
    kernel(*args)
    t6 = time.perf_counter()
    hits, misses = _stats(kernel.module._value_and_grad)
    print(json.dumps({"import symback": t1 - t0, "build graph": t2 - t1,
                      "grad + emit + import module": t3 - t2, "first call": t5 - t4,
                      "second call": t6 - t5, "total": (t3 - t0) + (t5 - t4),
                      "path": str(kernel.path), "module": kernel.module.__name__,
                      "hits": hits, "misses": misses}))


def child_cached(workload, path, name):
    """Import the generated module by path (numpy + numba only) and call it.

    It is registered in sys.modules under the name it had when Numba compiled it:
    Numba's cache entries name the module (to rebuild the function's environment),
    and loading one under another name fails with ModuleNotFoundError."""
    sys.modules["symback"] = None                       # prove it is not needed
    import importlib.util
    t0 = time.perf_counter()
    import numpy  # noqa: F401
    t1 = time.perf_counter()
    args = _data(workload)
    t2 = time.perf_counter()
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module                          # Numba's cache finds the module by name
    spec.loader.exec_module(module)
    t3 = time.perf_counter()
    module.value_and_grad(*args)
    t4 = time.perf_counter()
    module.value_and_grad(*args)
    t5 = time.perf_counter()
    hits, misses = _stats(module._value_and_grad)
    print(json.dumps({"import numpy": t1 - t0, "import module (numba)": t3 - t2, "first call": t4 - t3,
                      "second call": t5 - t4, "total": (t1 - t0) + (t4 - t2),
                      "hits": hits, "misses": misses}))


# --- the parent ----------------------------------------------------------------------------

def _env(cache_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["SYMBACK_CACHE_DIR"] = cache_dir
    return env


def _run(args, env):
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stderr}")
    out = proc.stdout.strip().splitlines()
    result = json.loads(out[-1]) if out else {}
    result["wall"] = wall
    return result


def measure(workload, repeat):
    runs = {"first call": [], "cached": [], "symback warm": []}
    for _ in range(repeat):
        cache_dir = tempfile.mkdtemp(prefix="sb-latency-")
        try:
            env = _env(cache_dir)
            me = ["-m", "benchmarks.latency", "--child"]
            first = _run(me + ["symback", workload], env)
            assert (first["hits"], first["misses"]) == (0, 1), f"not a cold start: {first}"
            cached = _run(me + ["cached", workload, first["path"], first["module"]], env)
            assert (cached["hits"], cached["misses"]) == (1, 0), f"Numba cache not used: {cached}"
            warm = _run(me + ["symback", workload], env)
            assert (warm["hits"], warm["misses"]) == (1, 0), f"Numba cache not used: {warm}"
            runs["first call"].append(first)
            runs["cached"].append(cached)
            runs["symback warm"].append(warm)
        finally:
            shutil.rmtree(cache_dir, ignore_errors=True)
    return {k: {m: statistics.median(r[m] for r in v) for m in v[0] if isinstance(v[0][m], float)}
            for k, v in runs.items()}


def reference(repeat):
    env = _env(tempfile.gettempdir())
    out = {}
    for what in ("numpy", "numba"):
        out[what] = statistics.median(_run(["-c", f"import {what}"], env)["wall"] for _ in range(repeat))
    out["nothing"] = statistics.median(_run(["-c", "pass"], env)["wall"] for _ in range(repeat))
    return out


def _phases(r):
    skip = {"wall", "total", "second call"}
    return ", ".join(f"{k} {v:.3f}" for k, v in r.items() if k not in skip)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=3, help="fresh runs per measurement (median)")
    p.add_argument("--only", default="W1,W3", help="comma-separated workloads among W1, W3")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        kind, workload, *rest = args.child
        return child_symback(workload) if kind == "symback" else child_cached(workload, *rest)

    import numba
    import numpy
    print(f"python {sys.version.split()[0]}, numpy {numpy.__version__}, numba {numba.__version__}, "
          f"{os.cpu_count()} CPUs; median of {args.repeat} fresh runs, seconds\n")
    ref = reference(args.repeat)
    rows = []
    for workload in args.only.split(","):
        for scenario, r in measure(workload, args.repeat).items():
            rows.append((f"{workload} {KERNELS[workload]}", scenario, r))
    print(f"{'kernel':<22} {'scenario':<14} {'wall':>7} {'in-process':>10} {'2nd call':>9}   phases (in-process)")
    for kernel, scenario, r in rows:
        print(f"{kernel:<22} {scenario:<14} {r['wall']:7.2f} {r['total']:10.3f} {r['second call']:9.5f}   "
              f"{_phases(r)}")
    print(f"{'reference':<22} {'python -c pass':<14} {ref['nothing']:7.2f}")
    print(f"{'':<22} {'import numpy':<14} {ref['numpy']:7.2f}")
    print(f"{'':<22} {'import numba':<14} {ref['numba']:7.2f}")
    print("\nfirst call: import symback + build + grad/emit/write/import + first call (Numba JIT);\n"
          "cached: a new process importing the generated module file (no symback), Numba cache warm;\n"
          "symback warm: a new process rebuilding the model with symback, module and Numba cache found.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
