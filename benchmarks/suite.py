"""The benchmark suite: every workload of WORKLOADS.md, symback against every peer.

For each workload instance (W5 once per K), in this order:
1. symback's latencies in fresh processes (cold first call, cached module, cached via the API);
2. every system is prepared in this process (its first call timed here: tracing and XLA
   compilation for JAX, diff + cse + lambdify for SymPy, nothing much for eager systems),
   and its value and gradient are checked against the hand-written numpy reference;
3. only the systems that passed are timed, forward-only and value_and_grad, all in one
   ``timing.compare`` so that rounds interleave every system, with a short sleep before
   each system's turn so that the thread pools of the one before stop spinning (``settle``);
4. extras: GFLOP/s (the W3 family: W3, W3f and their generic-loss forms W3g, W3fg),
   program sizes (W5), cores used (W1v).

Two floors are timed in the same interleaved rounds as the systems: for the W3 family, the
BLAS floor (the matrix products a value_and_grad must compute, numpy matmul alone, see
``blas_floor``); for W1, the hand-written Numba function of call_overhead.py.

``run(...)`` returns the results dict that report.py renders and results.json stores.
"""
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from importlib import metadata

import numpy as np

from symback.backend import heap

from . import numpy_ref, peers, timing, workloads

SYSTEMS = ("symback", "numpy", "jax", "torch", "torch.compile", "autograd", "sympy")

#: (instance id, workload, data parameters): full run and --quick smoke run
FULL = [("W1", "W1", {}), ("W1v", "W1v", {}), ("W2", "W2", {}), ("W3", "W3", {}),
        ("W3g", "W3g", {}), ("W3f", "W3f", {}), ("W3fg", "W3fg", {}), ("W4", "W4", {}),
        ("W4r", "W4r", {})] + \
       [(f"W5 K={K}", "W5", {"K": K}) for K in workloads.W5_SIZES]
QUICK = [("W1", "W1", {}), ("W1v", "W1v", {"n": 10_000}), ("W2", "W2", {}), ("W3", "W3", {}),
         ("W3g", "W3g", {}), ("W3f", "W3f", {}), ("W3fg", "W3fg", {}), ("W4", "W4", {}),
         ("W4r", "W4r", {}),
         ("W5 K=10", "W5", {"K": 10}), ("W5 K=50", "W5", {"K": 50})]

SETTINGS = {
    "full": {"rounds": 7, "number": 5, "warmup": 3, "min_sample": 2e-3, "settle": 0.15},
    "quick": {"rounds": 2, "number": 3, "warmup": 1, "min_sample": 5e-4},
}
MEASUREMENT_BUDGET = 600.0   # seconds: a measurement expected to take longer is skipped
LATENCY_TIMEOUT = 900.0      # seconds for one of symback's fresh-process latency runs
QUIET_CORES = 0.3           # timing starts when other processes use fewer cores than this
QUIET_MAX_WAIT = 300.0      # ... or after this many seconds of waiting
SWELL_KS = (1, 2, 3, 4, 5, 6, 8, 10)   # W5 program-size growth (SymPy's build stops at a timeout)
ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER", "NUMBA_CACHE_DIR",
            "XLA_FLAGS", "SYMBACK_CACHE_DIR")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- other processes' load ----------------------------------------------------------
# The machine may be shared: other processes' CPU use distorts every timing, and thread
# pools that spin at barriers (PyTorch's OpenMP, XLA, Numba's parallel loops) can lose
# milliseconds per call when a core they wait for is taken. So the suite waits for a
# quiet machine before timing each workload, and records the background load measured
# during the timing itself.

def _cpu_ticks():
    with open("/proc/stat") as f:
        vals = [int(v) for v in f.readline().split()[1:9]]
    return sum(vals), vals[3] + vals[4]            # all, idle + iowait


def _own_cpu():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class LoadMeter:
    """Cores kept busy by other processes between start() and stop() (Linux /proc/stat)."""

    def start(self):
        try:
            self.ticks, self.own, self.t0 = _cpu_ticks(), _own_cpu(), time.perf_counter()
        except OSError:
            self.ticks = None
        return self

    def stop(self):
        if self.ticks is None:
            return None
        (total0, idle0), (total1, idle1) = self.ticks, _cpu_ticks()
        wall = time.perf_counter() - self.t0
        if total1 <= total0 or wall <= 0:
            return 0.0
        busy = (1 - (idle1 - idle0) / (total1 - total0)) * os.cpu_count()
        return max(0.0, busy - (_own_cpu() - self.own) / wall)


def wait_for_quiet(threshold, max_wait, probe=2.0):
    """Wait (at most max_wait s) until other processes use < threshold cores; returns
    (seconds waited, background cores at the last probe)."""
    if max_wait <= 0:
        return 0.0, None
    t0 = time.perf_counter()
    while True:
        meter = LoadMeter().start()
        time.sleep(probe)
        load = meter.stop()
        waited = time.perf_counter() - t0
        if load is None or load < threshold or waited >= max_wait:
            return waited, load
        if int(waited) % 60 < probe:
            log(f"  waiting for a quiet machine: other processes use {load:.1f} cores")


# ---- checking -------------------------------------------------------------------------

def tolerance(workload):
    return 1e-4 if workload in ("W3f", "W3fg") else 1e-9


def check(workload, value, grads, ref):
    """None if (value, grads) matches the reference, else what differs. Also returns the
    largest error relative to each array's own scale. W5's gradient w.r.t. x decays to
    (and underflows near) zero as K grows, so W5 compares with an absolute tolerance
    scaled by the largest gradient."""
    rtol = tolerance(workload)
    ref_value, ref_grads = ref
    names = workloads.PARAMS[workload]
    worst = float(abs(value - ref_value) / max(abs(ref_value), 1e-300))
    problems = []
    if not np.isclose(value, ref_value, rtol=rtol, atol=0.0):
        problems.append(f"value {value!r} != reference {ref_value!r}")
    if len(grads) != len(ref_grads):
        return f"{len(grads)} gradients, expected {len(ref_grads)}", worst
    w5_scale = max(float(np.max(np.abs(r))) for r in ref_grads)
    for name, g, r in zip(names, grads, ref_grads):
        g, r = np.asarray(g, dtype=np.float64), np.asarray(r, dtype=np.float64)
        if g.shape != r.shape:
            problems.append(f"g_{name} has shape {g.shape}, expected {r.shape}")
            continue
        scale = w5_scale if workload == "W5" else float(np.max(np.abs(r)))
        err = float(np.max(np.abs(g - r))) / scale if scale > 0 else float(np.max(np.abs(g)))
        worst = max(worst, err)
        if not np.all(np.isfinite(g)) or not np.allclose(g, r, rtol=rtol, atol=rtol * scale):
            problems.append(f"g_{name} differs (max error {err:.2e} of its scale)")
    return ("; ".join(problems) or None), worst


# ---- machine and versions -------------------------------------------------------------

def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _blas():
    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]
        b = deps.get("blas", {})
        return f"{b.get('name', '?')} {b.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - informational only
        return "unknown"


def _git(*args):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except Exception:  # noqa: BLE001
        return ""


def machine():
    import numba
    commit = _git("rev-parse", "--short", "HEAD")
    if _git("status", "--porcelain", "symback"):
        commit += " (+ uncommitted changes in symback/)"
    return {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "blas": _blas(),
        "versions": {d: _version(d) for d in
                     ("symback", "numpy", "numba", "scipy", "jax", "jaxlib", "torch",
                      "autograd", "sympy", "matplotlib")},
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "symback_commit": commit,
        "env": {v: os.environ.get(v, "unset") for v in ENV_VARS},
        "loadavg_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def numpy_matmul_gflops(quick):
    """numpy's own 2048x2048 matmul, float64 and float32: the practical GFLOP/s limit."""
    n, out = 2048, {}
    rng = np.random.default_rng(1)
    for dtype in ("float64", "float32"):
        a = rng.random((n, n)).astype(dtype)
        b = rng.random((n, n)).astype(dtype)
        seconds = timing.time_call(np.matmul, a, b, rounds=2 if quick else 5, number=3,
                                   warmup=1, min_sample=0)
        out[dtype] = 2 * n ** 3 / seconds / 1e9
    return out


# ---- one workload instance ------------------------------------------------------------

def w3_flops():
    """Nominal matmul FLOPs of one W3 forward (2 m n k each) and one value_and_grad
    (forward 1x + backward 2x, the suite's stated convention)."""
    m = 256
    forward = sum(2 * m * n_in * n_out for n_in, n_out in [(784, 256), (256, 256), (256, 10)])
    return forward, 3 * forward


def blas_floor(data):
    """The BLAS floor of a W3-family value_and_grad: (floor, forward floor, shapes, outs).

    ``floor()`` computes, with numpy matmul into preallocated outputs, exactly the matrix
    products W3's value_and_grad must compute, with the same shapes, dtypes and transposes
    (batch 256): forward X@W1.T, h1@W2.T, h2@W3.T; backward g3@W3, g2@W2 (the input
    gradient of layer 1 is not needed), g3.T@h2, g2.T@h1, g1.T@X. ``forward_floor()`` the
    first three alone; ``outs`` are the products' results, in that order. The operands hold the workload's own numbers (h1, h2 after the ReLU,
    g the softmax-CE gradient back-propagated), so no product runs on zeros or denormals."""
    X, W1, W2, W3 = data["X"], data["W1"], data["W2"], data["W3"]
    h1 = np.maximum(X @ W1.T + data["b1"], 0)
    h2 = np.maximum(h1 @ W2.T + data["b2"], 0)
    o = h2 @ W3.T + data["b3"]
    g3 = np.exp(o - o.max(axis=1, keepdims=True))
    g3 /= g3.sum(axis=1, keepdims=True)
    g3[np.arange(len(g3)), data["labels"]] -= 1
    g3 /= len(g3)
    g2 = (g3 @ W3) * (h2 > 0)
    g1 = (g2 @ W2) * (h1 > 0)
    fwd = [(X, W1.T), (h1, W2.T), (h2, W3.T)]
    bwd = [(g3, W3), (g2, W2), (g3.T, h2), (g2.T, h1), (g1.T, X)]
    fwd = [(a, b, np.empty((a.shape[0], b.shape[1]), a.dtype)) for a, b in fwd]
    bwd = [(a, b, np.empty((a.shape[0], b.shape[1]), a.dtype)) for a, b in bwd]
    every = fwd + bwd
    matmul = np.matmul

    def floor():
        for a, b, out in every:
            matmul(a, b, out=out)

    def forward_floor():
        for a, b, out in fwd:
            matmul(a, b, out=out)

    shapes = [f"{a.shape}@{b.shape}" + ("" if a.flags.c_contiguous and b.flags.c_contiguous
                                        else " (transposed view)") for a, b, _ in every]
    return floor, forward_floor, shapes, [out for _, _, out in every]


def floor_flops():
    """FLOPs of the BLAS floor's products (2 m n k each): forward + the needed backward."""
    m = 256
    layers = [(784, 256), (256, 256), (256, 10)]
    forward = sum(2 * m * n_in * n_out for n_in, n_out in layers)
    return forward, 3 * forward - 2 * m * 784 * 256


def cores_used(fn, args, seconds=0.5):
    """CPU seconds per wall second while calling fn repeatedly (1.0 = one core busy)."""
    c0, t0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(*args)
    return (time.process_time() - c0) / (time.perf_counter() - t0)


def _error_text(e):
    return f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"


def prepare_symback(workload, data, params, record, cache_dir, latency):
    from . import sb_impl
    if latency:
        log("  symback: fresh-process latencies (cold, cached module, cached via API)")
        lat = sb_impl.latencies(workload, params, cache_dir, LATENCY_TIMEOUT)
        record["latency"] = lat
        record["first_call_s"] = lat["cold"]["first_call_s"]
        record["cached_s"] = lat["module"]["cached_s"]
        record["cached_api_s"] = lat["warm"]["first_call_s"]
    before = os.environ.get("SYMBACK_CACHE_DIR")
    os.environ["SYMBACK_CACHE_DIR"] = str(cache_dir)     # the cache the latency runs filled
    try:
        t0 = time.perf_counter()
        system = sb_impl.prepare(workload, data, params)
        out = system.value_and_grad(*system.args)
    finally:
        if before is None:
            del os.environ["SYMBACK_CACHE_DIR"]
        else:
            os.environ["SYMBACK_CACHE_DIR"] = before
    if not latency:
        record["first_call_s"] = time.perf_counter() - t0
    source = system.info.pop("kernel").source
    record["program"] = {"value_and_grad": sb_impl.assignments(source, "_value_and_grad"),
                         "forward": sb_impl.assignments(source, "_forward"),
                         "source_lines": source.count("\n")}
    return system, out


def run_instance(iid, workload, params, systems, settings, quick, latency=True,
                 quiet_wait=None):
    """Results of one workload instance: {"systems": {name: record}, ...}."""
    log(f"{iid}: data")
    data = workloads.DATA[workload](**params)
    ref = numpy_ref.VALUE_AND_GRAD[workload](*workloads.args(workload, data))
    entry = {"workload": workload, "params": params, "systems": {}}
    ready = {}
    cache_dir = tempfile.mkdtemp(prefix=f"symback_bench_{workload}_")
    for name in SYSTEMS:
        record = entry["systems"][name] = {}
        if name not in systems:
            record["status"] = "not selected"
            continue
        module = None
        if name != "symback":
            module = peers.load(name)
            if isinstance(module, str):
                record["status"] = module
                continue
            if workload not in module.WORKLOADS:
                record["status"] = "not applicable"
                continue
        log(f"  {name}: prepare, first call, check")
        try:
            if name == "symback":
                system, out = prepare_symback(workload, data, params, record, cache_dir, latency)
            else:
                t0 = time.perf_counter()
                system = module.prepare(workload, data)
                t1 = time.perf_counter()
                out = system.value_and_grad(*system.args)
                # prepare + first call (JAX: trace + XLA compile); SymPy: its build time
                # in the subprocess (diff + cse + lambdify) + the first call
                build = system.info.get("build_s", t1 - t0)
                record["first_call_s"] = build + time.perf_counter() - t1
                if "build_s" in system.info:
                    record["build_s"] = system.info["build_s"]
                    record["program"] = {"value_and_grad": system.info["vag_assignments"],
                                         "forward": system.info["forward_assignments"]}
        except subprocess.TimeoutExpired:
            record["status"] = "skipped (too slow)"
            continue
        except TimeoutError as e:
            record["status"], record["note"] = "timeout", str(e)
            continue
        except Exception as e:  # noqa: BLE001 - a crash is a result, reported as such
            record["status"], record["note"] = "error", _error_text(e)
            record["traceback"] = traceback.format_exc()[-4000:]
            log(f"  {name}: ERROR {record['note']}")
            continue
        try:
            value, grads = system.to_numpy(out)
            problem, err = check(workload, value, grads, ref)
            fwd_value = float(np.asarray(system.forward(*system.args)))
            if not np.isclose(fwd_value, ref[0], rtol=tolerance(workload), atol=0):
                problem = (problem + "; " if problem else "") + \
                    f"forward value {fwd_value!r} != reference {ref[0]!r}"
        except Exception as e:  # noqa: BLE001
            problem, err = _error_text(e), float("nan")
            record["traceback"] = traceback.format_exc()[-4000:]
        record["check_error"] = err
        if problem:
            record["status"], record["note"] = "wrong", problem
            log(f"  {name}: WRONG {problem}")
            continue
        # a budget guard: one more call of each to estimate the measurement's length
        t0 = time.perf_counter()
        system.value_and_grad(*system.args)
        system.forward(*system.args)
        per_pair = time.perf_counter() - t0
        calls = settings["warmup"] + settings["rounds"] * settings["number"] + 4
        if per_pair * calls > MEASUREMENT_BUDGET:
            record["status"] = "skipped (too slow)"
            record["note"] = f"one value_and_grad + forward takes {per_pair:.1f} s"
            continue
        record["status"] = "ok"
        ready[name] = system

    # floors timed in the same rounds as the systems (not systems: not in the rankings)
    floors = {}
    if workload in workloads.W3_FAMILY:
        floor, forward_floor, shapes, _ = blas_floor(data)
        floors[("blas floor", "vag")], floors[("blas floor", "fwd")] = floor, forward_floor
        entry["blas_floor"] = {"products": shapes}
    if workload == "W1" and "symback" in ready:
        from .call_overhead import hand
        hand(*ready["symback"].args)                 # compile (or load from Numba's cache)
        floors[("hand-written numba", "vag")] = hand
    if ready:
        fns, args = {}, {}
        for name, system in ready.items():
            fns[(name, "vag")], args[(name, "vag")] = system.value_and_grad, system.args
            fns[(name, "fwd")], args[(name, "fwd")] = system.forward, system.args
        for key, fn in floors.items():
            fns[key] = fn
            args[key] = ready["symback"].args if key[0] == "hand-written numba" else ()
        if quiet_wait is None:
            quiet_wait = 30 if quick else QUIET_MAX_WAIT
        waited, before = wait_for_quiet(QUIET_CORES, quiet_wait)
        log(f"  timing {', '.join(ready)} ({settings['rounds']} interleaved rounds; "
            f"waited {waited:.0f} s; other processes then used {before or 0:.2f} cores)")
        meter = LoadMeter().start()
        best = timing.compare(fns, args, **settings)
        entry["background_cores"] = meter.stop()
        entry["waited_for_quiet_s"] = waited
        for name in ready:
            record = entry["systems"][name]
            record["vag_s"], record["fwd_s"] = best[(name, "vag")], best[(name, "fwd")]
            record["vag_over_fwd"] = record["vag_s"] / record["fwd_s"]
        if ("hand-written numba", "vag") in best:
            entry["hand_numba_s"] = best[("hand-written numba", "vag")]
    elif floors.get(("blas floor", "vag")):          # no system ran: the floor alone
        best = timing.compare(floors, (), **settings)
    if "blas_floor" in entry:
        fl = entry["blas_floor"]
        fl["vag_s"], fl["fwd_s"] = best[("blas floor", "vag")], best[("blas floor", "fwd")]
        fwd_flops, vag_flops = floor_flops()
        fl["flops"] = {"forward": fwd_flops, "value_and_grad": vag_flops}
        fl["gflops_vag"] = vag_flops / fl["vag_s"] / 1e9
        for record in entry["systems"].values():
            if record.get("status") == "ok":
                record["x_blas_floor"] = record["vag_s"] / fl["vag_s"]
                record["fwd_x_blas_floor"] = record["fwd_s"] / fl["fwd_s"]
    _summarise(entry)
    shutil.rmtree(cache_dir, ignore_errors=True)     # the kernels are loaded; tidy /tmp
    if workload in workloads.W3_FAMILY:
        fwd_flops, vag_flops = w3_flops()
        entry["flops"] = {"forward": fwd_flops, "value_and_grad": vag_flops}
        for record in entry["systems"].values():
            if record.get("status") == "ok":
                record["gflops_vag"] = vag_flops / record["vag_s"] / 1e9
                record["gflops_fwd"] = fwd_flops / record["fwd_s"] / 1e9
    if workload == "W1v":
        for name, system in ready.items():
            entry["systems"][name]["cores_used"] = cores_used(system.value_and_grad, system.args)
    return entry


def _summarise(entry):
    ok = {n: r for n, r in entry["systems"].items() if r.get("status") == "ok"}
    peers_ok = {n: r for n, r in ok.items() if n != "symback"}
    if peers_ok:
        fastest = min(peers_ok, key=lambda n: peers_ok[n]["vag_s"])
        entry["fastest_peer"] = fastest
        for record in ok.values():
            record["vs_fastest_peer"] = record["vag_s"] / peers_ok[fastest]["vag_s"]
    if ok:
        entry["fastest"] = min(ok, key=lambda n: ok[n]["vag_s"])


def expression_swell(systems, budget):
    """W5 program sizes at small K: SymPy diff + cse (until its first timeout) vs symback."""
    rows = []
    sympy_mod = peers.load("sympy") if "sympy" in systems else "not selected"
    sympy_ok = not isinstance(sympy_mod, str)
    for K in SWELL_KS:
        row = {"K": K}
        if "symback" in systems:
            import symback as sb

            from . import sb_impl, sb_models
            loss, wrt, _ = sb_models.BUILD["W5"](K)
            source = sb.value_and_grad(loss, wrt, name=f"bench_swell_K{K}").source
            row["symback"] = {"value_and_grad": sb_impl.assignments(source, "_value_and_grad"),
                              "forward": sb_impl.assignments(source, "_forward")}
        if sympy_ok:
            try:
                built = sympy_mod.build_in_subprocess("W5", K, budget, count_ops=True)
                row["sympy"] = {"value_and_grad": built["vag_assignments"],
                                "forward": built["forward_assignments"],
                                "vag_ops": built["vag_ops"], "forward_ops": built["forward_ops"],
                                "build_s": built["build_s"]}
            except TimeoutError:
                row["sympy"] = "timeout"
                sympy_ok = False
        rows.append(row)
    return rows


def run(instances, systems, quick, latency=True):
    settings = SETTINGS["quick" if quick else "full"]
    # the malloc thresholds a generated module sets at import, set before any system runs:
    # every system then allocates under the same rules, whichever was imported first
    # (glibc's own thresholds drift as a process frees bigger blocks, and a freshly
    # page-faulted 8 MB gradient costs as much as the arithmetic of W1v)
    heap.keep_freed_memory()
    results = {"machine": machine(), "settings": dict(settings, quick=quick, malloc_tuned=True,
                                                      measurement_budget_s=MEASUREMENT_BUDGET),
               "systems": {}, "workloads": {}}
    for name in SYSTEMS:
        if name == "symback":
            results["systems"][name] = "installed"
        else:
            mod = peers.load(name)
            results["systems"][name] = mod if isinstance(mod, str) else "installed"
    log("numpy 2048x2048 matmul GFLOP/s")
    wait_for_quiet(QUIET_CORES, 30 if quick else QUIET_MAX_WAIT)
    results["numpy_matmul_gflops"] = numpy_matmul_gflops(quick)
    for iid, workload, params in instances:
        t0 = time.perf_counter()
        results["workloads"][iid] = run_instance(iid, workload, params, systems, settings,
                                                 quick, latency)
        results["workloads"][iid]["suite_seconds"] = time.perf_counter() - t0
        log(f"{iid}: done in {time.perf_counter() - t0:.0f} s")
    if any(w == "W5" for _, w, _ in instances):
        log("W5 expression swell at small K")
        from .peers import sympy_impl
        budget = 10.0 if quick else sympy_impl.BUDGET
        results["w5_swell"] = expression_swell(systems, budget)
    # the matmul limit again at the end: the better of the two (noise only slows it down)
    wait_for_quiet(QUIET_CORES, 30 if quick else QUIET_MAX_WAIT)
    again = numpy_matmul_gflops(quick)
    results["numpy_matmul_gflops_runs"] = [results["numpy_matmul_gflops"], again]
    results["numpy_matmul_gflops"] = {d: max(g, again[d])
                                      for d, g in results["numpy_matmul_gflops"].items()}
    results["machine"]["loadavg_end"] = os.getloadavg()
    results["machine"]["symback_commit_end"] = machine()["symback_commit"]
    return results
