"""Huge non-repeating programs: is every stage linear in the size of the graph?

    python -m benchmarks.huge_graph                        # N = 1e3 ... 1e5, scalar graphs (hours)
    python -m benchmarks.huge_graph 1000 2000 4000         # these sizes only
    python -m benchmarks.huge_graph --array 1000 2000      # the small-array variant
    python -m benchmarks.huge_graph one 20000 [--array] [--events] [--profile] [--no-jit]   # one run, JSON

A seeded random DAG of about N nodes (the forward graph, counted after
hash-consing): a few input variables, then nodes each reading one or two random
earlier nodes through a mix of add/mul/sin/cos/tanh/exp/log-of-positive/sigmoid
(every step maps [-2, 2] into [-2, 2], so values stay finite however deep the
graph), and a loss that sums the last few nodes.  Nothing repeats, so rerolling
finds nothing and the kernel is one long straight-line program.

Each size runs in a fresh process whose SYMBACK_CACHE_DIR and NUMBA_CACHE_DIR
are a new empty directory.  Stages, timed separately: ``build`` (the DSL calls),
``grad`` (what ``sb.value_and_grad`` does to the graph: rerolling and reverse
mode), ``emit`` (schedule + source text of the module), ``numba`` (import the
module, JIT ``value_and_grad`` and call it once).  ``--events`` splits Numba's
time by its compile-time event API (``numba.core.event``: typing, lowering
(which includes LLVM's optimisation of each function) and the rest);
``--profile`` prints cProfile's top functions of the symback stages.

The aim (issue 10): at N = 1e5, build + grad + emit < 10 s, and doubling N at
most multiplies the Numba time by 2.3.

Measured 2026-12-02 (numba 0.68.1, 2 shared cores, CPU seconds; the kernel is
cut into parts above 3,000 lines, so N = 1000 is one flat function):

      N   nodes  build s  grad s  emit s  b+g+e s  numba cpu s  x2 cpu    lines  njit fns
   1000    1082     0.02    0.05    0.10     0.18         11.9             4068         2
   2000    2116     0.04    0.11    0.22     0.36         27.3    2.36     7957        17
   4000    4232     0.07    0.16    0.46     0.68         57.5    2.11    15919        42
   8000    8398     0.18    0.52    1.22     1.92        118.2    2.07    31602        80
 100000  104570     2.55    7.55   17.61    27.71   (not run: ~1,500 s by the rate above)

The symback stages alone after the constant-factor work of issue 10 (topological
walk, paused cyclic GC, cached number constants, rule templates in the printer,
reroll's early rejection, one walk per entry point, ...), ``one N --no-jit``,
measured 2026-12-02 03:14-03:16 UTC, load average 3.5-4 on the two shared cores,
base and new interleaved; the emitted text is unchanged:

      N   nodes   build s  grad s  emit s  b+g+e s   (base d53b245: b+g+e s)
  25000   26197      0.33    0.70    1.71     2.75      5.45
  50000   52338      0.96    1.67    4.38     7.01     11.33
 100000  104570      1.57    3.01    8.71    13.29     27.38

(the run before: 2.89 / 6.53 / 14.15 s against 6.40 / 12.88 / 29.11 s).  No stage
has a quadratic term (none was found), but the cost per node still grows with N:
from 25k to 100k nodes (4x) scheduling and segmenting take 5-6x, the emitter's
per-statement work 4.5x, for the same number of operations per node (most likely
lookups in ever bigger dicts and sets of names and ids missing the CPU caches).

Then (branch huge2): 0-d statements printed straight into their rule's template
(no Bound, no leaf objects), the emitter's names and labels and the scheduler's
places keyed by node rather than id (a node hashes by identity; ``id()`` makes
a new int per lookup), readers and places in one pass, fewer generator calls in
``apply`` and segmentation.  Measured 2026-12-02 03:38-03:40 UTC, load average
3.2-3.4 on the two shared cores, base 6cd1e2b and new interleaved; the emitted
text is unchanged:

      N   nodes   build s  grad s  emit s  b+g+e s   (base 6cd1e2b: b+g+e s)
  25000   26197      0.31    0.64    1.68     2.62      3.25
  50000   52338      0.77    1.46    3.30     5.53      7.02
 100000  104570      1.59    2.66    6.82    11.07     13.71

(another 1e5 pair: 11.83 against 13.72 s).  Still above the 10 s aim.  What
is left is spread thin: of emit, scheduling (about 2 s at 1e5, a third of it
run-time shapes), the statements (about 2.5 s: naming, labels, template
filling), segmenting the text (about 1.5 s, most of it the identifier regex),
the walk (0.45 s); and both entry points (``forward`` and ``value_and_grad``)
still schedule, name and print the forward graph (about a quarter of emit).

Then (branch huge3): ``value_and_grad`` shares ``forward``'s work on the
forward graph instead of redoing it -- its graph walk goes on from forward's
walk, its schedule takes over forward's placement when that is all 0-d
statements, its emitter takes over forward's leading run of plain statements
(lines, names, letters) when nothing it names from the start would change a name
in the run, and segmenting reuses the reads and writes of the parts both bodies
start with; besides, run-time shapes of an all-static graph in one
comprehension, no sinking pass without loops, a 0-d constant's literal printed
once, statement templates as ``str.format`` patterns, a faster identifier
pattern and fast path in segmenting, readers keyed by node, locals in the hot
loops.  Measured 2026-12-02 05:47-05:49 UTC with ``python -m benchmarks.huge_graph
one N --no-jit`` (CPU seconds), load average 3.6-4.1 on the two shared cores
(another job running), base b5cb961 and new interleaved; the emitted text is
unchanged:

      N   nodes   build s  grad s  emit s  b+g+e s   (base b5cb961: b+g+e s)
  25000   26197      0.31    0.56    1.05     1.92      2.21
  50000   52338      0.64    1.30    2.68     4.62      5.74
 100000  104570      1.58    2.70    5.04     9.32     12.34

(the other 1e5 pairs of that run: 9.57 / 12.69, 9.75 / 10.96 s; at 05:44-05:45,
load average 2.6-3.5, two commits earlier: 8.95 / 12.65, 7.76 / 10.62, 8.35 /
11.17 s; emit alone 4.3-5.5 s against 6.9-7.9 s).  Under the 10 s aim, by a
margin about as large as the noise of a loaded machine.  Left: the statements
of value_and_grad's backward part (naming, labels, comments, templates: the
biggest share of emit), scheduling it, finding the names its lines read when
segmenting, and build and grad (about 4 s together; the build's DSL calls run
with the cyclic collector on, which is about a third of that stage at 1e5).

Flat, as before segmentation, 2116 nodes took 30.7 s (2.84x the 1082-node kernel's
10.8 s), the excess in Numba's reconstruct_ssa and inline_closure_likes passes.
"""
import json
import os
import random
import subprocess
import sys
import tempfile
import time

SIZES = (1000, 2000, 4000, 8000, 16000, 32000, 100000)
N_INPUTS = 8
N_LOSS = 8


def build(n, seed=0, array=False):
    """The loss and its variables: a random DAG of about ``n`` forward nodes."""
    import symback as sb
    from symback.ir import topo_order
    rng = random.Random(seed)
    shape = (4,) if array else ()
    xs = [sb.var(f"x{i}", shape) for i in range(N_INPUTS)]
    values = [sb.tanh(x) for x in xs]    # every value in [-1, 1] from here on
    unread = list(range(len(values)))    # values nothing reads yet: read them soon, so all are live
    count = 2 * N_INPUTS

    def pick():   # mostly recent values, sometimes any earlier one: long and wide dependencies
        if rng.random() < 0.7:
            return values[-1 - min(int(rng.expovariate(1 / 8)), len(values) - 1)]
        return rng.choice(values)

    while count < n:
        a, b = pick(), pick()
        if len(unread) > 4 and rng.random() < 0.7:
            a = values[unread.pop(rng.randrange(len(unread) - 4))]
        kind = rng.randrange(9)
        if kind == 0:
            v, k = (a + b) * 0.5, 2
        elif kind == 1:
            v, k = a * b, 1
        elif kind == 2:
            v, k = sb.sin(a + b), 2
        elif kind == 3:
            v, k = sb.tanh(a - b), 2
        elif kind == 4:
            v, k = sb.exp(a * 0.5) - 1.0, 3
        elif kind == 5:
            v, k = sb.log(a * a + 1.0), 3
        elif kind == 6:
            v, k = sb.cos(a) * b, 2
        elif kind == 7:
            v, k = sb.sigmoid(a - b * 0.5), 3
        else:
            v, k = a / (b * b + 1.0), 4
        unread.append(len(values))
        values.append(v)
        count += k
    loss = values[-1]
    tail = sorted(set(range(len(values) - N_LOSS, len(values) - 1)) | set(unread))
    for i in tail:   # the last few, and whatever nothing read
        loss = loss + values[i]
    if array:
        loss = sb.sum(loss)
    return loss, xs, len(topo_order([loss]))


def one(n, array=False, events=False, profile=False, jit=True):
    import numpy as np

    import symback as sb
    from symback.backend.numba import emit_module
    from symback.kernel import gradient_entries, load_source
    prof = None
    if profile:
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
    c0, t0 = time.process_time(), time.perf_counter()
    loss, xs, nodes = build(n, array=array)
    c1, t1 = time.process_time(), time.perf_counter()
    entries = gradient_entries(loss, xs, xs)
    c2, t2 = time.process_time(), time.perf_counter()
    name = f"huge{'_array' if array else ''}_{n}"
    source = emit_module(entries, name)
    c3, t3 = time.process_time(), time.perf_counter()
    if prof is not None:
        prof.disable()
        import io
        import pstats
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(30)
        print(text.getvalue(), file=sys.stderr)
    if not jit:
        return {"n": n, "nodes": nodes, "build_s": t1 - t0, "grad_s": t2 - t1, "emit_s": t3 - t2,
                "cpu_build_s": c1 - c0, "cpu_grad_s": c2 - c1, "cpu_emit_s": c3 - c2, "module_lines": source.count("\n")}
    rng = np.random.default_rng(1)
    args = [rng.uniform(-1, 1, x.shape) if x.shape else float(rng.uniform(-1, 1)) for x in xs]
    listener = _Events() if events else None
    if listener is not None:
        from numba.core import event
        for kind in ("numba:compile", "numba:compiler_lock", "numba:llvm_lock", "numba:run_pass"):
            event.register(kind, listener)
    module, _ = load_source(source, name)
    value, _ = module.value_and_grad(*args)
    c4, t4 = time.process_time(), time.perf_counter()
    # the gradient is checked against the interpreter: a wrong kernel is no benchmark
    env = {x: a for x, a in zip(xs, args)}
    want = sb.evaluate([loss], env)[0]
    if not np.allclose(value, want, rtol=1e-9, atol=1e-12):
        raise AssertionError(f"value {value} != interpreter {want}")
    vag = source[source.index("def _value_and_grad("):]
    vag = vag[:vag.index("\ndef ")]
    out = {"n": n, "nodes": nodes, "array": array, "build_s": t1 - t0, "grad_s": t2 - t1, "emit_s": t3 - t2,
           "numba_s": t4 - t3, "cpu_build_s": c1 - c0, "cpu_grad_s": c2 - c1, "cpu_emit_s": c3 - c2,
           "cpu_numba_s": c4 - c3, "module_lines": source.count("\n"), "vag_lines": vag.count("\n"),
           "njit_functions": source.count("@numba.njit")}
    if listener is not None:
        out.update(listener.summary())
    return out


def _listener_base():
    from numba.core.event import Listener
    return Listener


class _Events(_listener_base()):
    """Sums Numba's compile-time events: total compile, and the time in passes
    grouped as typing (type inference), lowering (LLVM IR + its optimisation:
    Numba runs LLVM inside its lowering pass) and other passes."""

    def __init__(self):
        self.start, self.total = {}, {}

    def on_start(self, ev):
        self.start.setdefault(self._key(ev), []).append(time.perf_counter())

    def on_end(self, ev):
        key = self._key(ev)
        t = time.perf_counter() - self.start[key].pop()
        self.total[key[0] if key[0] != "numba:run_pass" else key] = \
            self.total.get(key[0] if key[0] != "numba:run_pass" else key, 0.0) + t

    @staticmethod
    def _key(ev):
        if ev.kind == "numba:run_pass":
            return ("numba:run_pass", ev.data["name"])
        return (ev.kind,)

    def summary(self):
        # a function's type inference includes compiling the functions it calls:
        # those are counted where they run, not in the caller's pass
        passes = {}
        for k, v in self.total.items():
            if isinstance(k, tuple):
                passes[k[1]] = passes.get(k[1], 0.0) + v
        by_pass = {}
        for k, v in passes.items():
            kind = k.split(" [")[0]
            by_pass[kind] = by_pass.get(kind, 0.0) + v
        return {"compile_s": self.total.get("numba:compile", 0.0),
                "passes": sorted(((round(v, 3), k) for k, v in by_pass.items()), reverse=True)[:8],
                "top_functions": sorted(((round(v, 3), k) for k, v in passes.items()), reverse=True)[:4]}


def measure(n, array=False, events=False, timeout=3600):
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SYMBACK_CACHE_DIR": tmp, "NUMBA_CACHE_DIR": os.path.join(tmp, "numba")}
        argv = [sys.executable, "-m", "benchmarks.huge_graph", "one", str(n)] + ["--array"] * array \
            + ["--events"] * events
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv):
    flags = {a for a in argv if a.startswith("--")}
    argv = [a for a in argv if not a.startswith("--")]
    if argv[:1] == ["one"]:
        print(json.dumps(one(int(float(argv[1])), "--array" in flags, "--events" in flags, "--profile" in flags,
                         "--no-jit" not in flags)))
        return
    sizes = [int(float(a)) for a in argv] or SIZES
    head = f"{'N':>7} {'nodes':>7} {'build s':>8} {'grad s':>7} {'emit s':>7} {'b+g+e s':>8} {'numba s':>8} " \
           f"{'numba cpu s':>11} {'x2 cpu':>6} {'lines':>7} {'njit fns':>8}"
    print(("array (4,) " if "--array" in flags else "scalar ") + "graphs; seconds of CPU time (time.process_time: "
          "the machine may be shared), numba also wall-clock; x2 cpu: the numba CPU time's growth per doubling "
          "of the node count from the previous row")
    print(head)
    print("-" * len(head))
    prev = None
    for n in sizes:
        r = measure(n, "--array" in flags)
        ratio = ""
        if prev is not None:
            import math
            ratio = (r["cpu_numba_s"] / prev["cpu_numba_s"]) ** (math.log(2) / math.log(r["nodes"] / prev["nodes"]))
            ratio = f"{ratio:.2f}"
        bge = r["cpu_build_s"] + r["cpu_grad_s"] + r["cpu_emit_s"]
        print(f"{n:>7} {r['nodes']:>7} {r['cpu_build_s']:>8.2f} {r['cpu_grad_s']:>7.2f} {r['cpu_emit_s']:>7.2f} "
              f"{bge:>8.2f} {r['numba_s']:>8.1f} {r['cpu_numba_s']:>11.1f} {ratio:>6} "
              f"{r['module_lines']:>7} {r['njit_functions']:>8}", flush=True)
        prev = r

if __name__ == "__main__":
    main(sys.argv[1:])
