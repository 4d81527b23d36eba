"""Render suite results: RESULTS.md (tables), results.json (everything), ratios.png (chart)."""
import json
import math

from .suite import SYSTEMS
from .workloads import W3_FAMILY

TITLES = {
    "W1": "lecture scalar (x=2, z=3)",
    "W1v": "lecture formula over arrays, loss = sum",
    "W2": "Iris-shaped MLP 4-16-3, sigmoid, softmax CE (150 rows)",
    "W3": "MLP 784-256-256-10, ReLU, softmax CE (256 rows), float64",
    "W3f": "the same MLP in float32",
    "W3g": "W3 with the loss in generic ops (one-hot, logsumexp, sum, mean), float64",
    "W3fg": "W3f with the loss in generic ops (one-hot, logsumexp, sum, mean), float32",
    "W4": "50 sigmoid layers of width 32 + linear, MSE (64 rows)",
    "W4r": "50 residual sigmoid blocks of width 32 + linear, MSE (64 rows)",
    "W5": "scalar recurrence u <- sin(u) u + cos(a u)",
}
PEERS_W1 = ("jax", "torch", "autograd")


def _us(seconds):
    if seconds is None:
        return "-"
    us = seconds * 1e6
    if us < 10:
        return f"{us:.2f}"
    if us < 1000:
        return f"{us:.1f}"
    return f"{us:,.0f}"


def _s(seconds):
    if seconds is None:
        return "-"
    return f"{seconds:.3f}" if seconds < 1 else f"{seconds:.2f}" if seconds < 10 else f"{seconds:.1f}"


def _x(ratio):
    if ratio is None:
        return "-"
    return f"{ratio:.3g}"


def _title(iid, entry):
    params = entry["params"]
    extra = f", n = {params['n']:,}" if "n" in params else ""
    return f"{iid}: {TITLES[entry['workload']]}{extra}"


def _sb(entry):
    r = entry["systems"].get("symback", {})
    return r if r.get("status") == "ok" else None


# ---- aims of issue 5 ------------------------------------------------------------------

def aims(results):
    """[(aim, verdict, evidence)] where verdict is "met", "NOT met" or "not measured"."""
    W = results["workloads"]
    out = []

    def verdict(ok):
        return "met" if ok else "NOT met"

    e = W.get("W1")
    if e and _sb(e):
        peers = {n: e["systems"][n]["vag_s"] for n in PEERS_W1
                 if e["systems"][n].get("status") == "ok"}
        if peers:
            best = min(peers, key=peers.get)
            speed = peers[best] / _sb(e)["vag_s"]
            out.append(("W1: >= 10x faster than the fastest of JAX, PyTorch, autograd",
                        verdict(speed >= 10), f"{speed:.1f}x faster than {best}"))
    e = W.get("W1v")
    if e and _sb(e):
        np_rec = e["systems"].get("numpy", {})
        if np_rec.get("status") == "ok":
            speed = np_rec["vag_s"] / _sb(e)["vag_s"]
            cores = _sb(e).get("cores_used", 0)
            out.append(("W1v: >= 3x faster than numpy expressions, using both cores",
                        verdict(speed >= 3 and cores >= 1.5),
                        f"{speed:.2f}x numpy's speed; {cores:.2f} cores busy during calls"))
    for w in ("W2", "W4", "W4r"):
        e = W.get(w)
        if e and _sb(e) and "vs_fastest_peer" in _sb(e):
            r = _sb(e)["vs_fastest_peer"]
            out.append((f"{w}: faster than every peer", verdict(r < 1),
                        f"symback takes {r:.2f}x the time of {e['fastest_peer']}"))
    for w, (dtype, _) in W3_FAMILY.items():
        e = W.get(w)
        if e and _sb(e) and "vs_fastest_peer" in _sb(e):
            r = _sb(e)["vs_fastest_peer"]
            limit = results["numpy_matmul_gflops"][dtype]
            frac = _sb(e)["gflops_vag"] / limit
            real = frac * (1 - 2 * 256 * 784 * 256 / e["flops"]["value_and_grad"])
            out.append((f"{w}: at least as fast as the fastest peer, >= 70% of numpy matmul GFLOP/s",
                        verdict(r <= 1 and frac >= 0.7),
                        f"{r:.2f}x the time of {e['fastest_peer']}; {_sb(e)['gflops_vag']:.1f} "
                        f"GFLOP/s = {100 * frac:.0f}% of {limit:.1f} ({dtype}; "
                        f"{100 * real:.0f}% counting only the products computed)"))
    e = W.get("W5 K=1000")
    if e and e["systems"]["symback"].get("first_call_s") is not None:
        rec = e["systems"]["symback"]
        first = rec["first_call_s"]
        prog = rec.get("program", {})
        ratio = prog["value_and_grad"] / prog["forward"] if prog else math.nan
        out.append(("W5 K=1000: build + differentiate + emit + compile < 5 s",
                    verdict(first < 5), f"{first:.1f} s"))
        out.append(("W5 K=1000: gradient program <= 4x the forward's assignments",
                    verdict(ratio <= 4),
                    f"{prog.get('value_and_grad')} vs {prog.get('forward')} = {ratio:.2f}x"))
    over = [(iid, _sb(e)["vag_over_fwd"]) for iid, e in W.items() if _sb(e)]
    if over:
        bad = [f"{iid} {r:.2f}" for iid, r in over if r > 3]
        out.append(("value_and_grad / forward <= 3 on every workload", verdict(not bad),
                    ("over 3: " + ", ".join(bad)) if bad else
                    f"largest {max(r for _, r in over):.2f}"))
    cached = [(iid, e["systems"]["symback"]["cached_s"]) for iid, e in W.items()
              if e["systems"].get("symback", {}).get("cached_s") is not None]
    if cached:
        bad = [f"{iid} {c:.2f} s" for iid, c in cached if c > 0.5]
        out.append(("cached kernel: fresh-process import + first call within 0.5 s of "
                    "`import numba`", verdict(not bad),
                    ("over 0.5 s: " + ", ".join(bad)) if bad else
                    f"largest {max(c for _, c in cached):.2f} s"))
    return out


# ---- aims of issue 12 -----------------------------------------------------------------

def aims12(results):
    """[(aim, verdict, evidence)] for issue 12: "met", "NOT met" or "not measured"."""
    W = results["workloads"]
    out = []

    def verdict(ok):
        return "met" if ok else "NOT met"

    e = W.get("W1v")
    torch_compile = (e or {}).get("systems", {}).get("torch.compile", {})
    if e and _sb(e) and torch_compile.get("status") == "ok":
        r = _sb(e)["vag_s"] / torch_compile["vag_s"]
        out.append(("W1v: faster than torch.compile", verdict(r < 1),
                    f"symback takes {r:.2f}x the time of torch.compile"))
    else:
        out.append(("W1v: faster than torch.compile", "not measured",
                    "the suite has no torch.compile system (PyTorch is timed eager)"))
    e = W.get("W1")
    if e and _sb(e) and e.get("hand_numba_s"):
        r = _sb(e)["vag_s"] / e["hand_numba_s"]
        out.append(("W1: within 2x of a hand-written Numba function", verdict(r <= 2),
                    f"{_us(_sb(e)['vag_s'])} µs vs {_us(e['hand_numba_s'])} µs "
                    f"(call_overhead.hand, same rounds) = {r:.2f}x"))
    else:
        out.append(("W1: within 2x of a hand-written Numba function", "not measured",
                    "see `python -m benchmarks.call_overhead`"))
    for w in W3_FAMILY:
        e = W.get(w)
        if not e:
            continue
        rec = _sb(e)
        if not rec:
            out.append((f"{w}: value_and_grad within 1.15x of the BLAS floor, vag/fwd <= 3, "
                        "faster than PyTorch eager", "not measured",
                        f"symback {e['systems'].get('symback', {}).get('status', '-')}"))
            continue
        floor = e.get("blas_floor", {}).get("vag_s")
        if floor:
            r = rec["vag_s"] / floor
            out.append((f"{w}: value_and_grad within 1.15x of the BLAS floor", verdict(r <= 1.15),
                        f"{_us(rec['vag_s'])} µs vs floor {_us(floor)} µs = {r:.2f}x"))
        else:
            out.append((f"{w}: value_and_grad within 1.15x of the BLAS floor", "not measured",
                        "no BLAS floor in these results"))
        r = rec["vag_over_fwd"]
        out.append((f"{w}: vag/fwd <= 3", verdict(r <= 3), f"{r:.2f}"))
        torch_rec = e["systems"].get("torch", {})
        if torch_rec.get("status") == "ok":
            r = rec["vag_s"] / torch_rec["vag_s"]
            out.append((f"{w}: faster than PyTorch eager", verdict(r < 1),
                        f"{_us(rec['vag_s'])} µs vs {_us(torch_rec['vag_s'])} µs = {r:.2f}x"))
        else:
            out.append((f"{w}: faster than PyTorch eager", "not measured",
                        f"torch {torch_rec.get('status', '-')}"))
    out.append(("No workload slower than today", "not measured",
                "needs a comparison with an earlier run's results.json"))
    return out


def _floor_x(e, name="symback"):
    r = e["systems"].get(name, {})
    return _x(r.get("x_blas_floor")) if r.get("status") == "ok" else "-"


# ---- RESULTS.md -----------------------------------------------------------------------

def markdown(results):
    m, st = results["machine"], results["settings"]
    v = m["versions"]
    L = ["# symback benchmark results", ""]
    kind = ("QUICK smoke run (`--quick`): few rounds, small sizes; not reference figures"
            if st["quick"] else "full run")
    L += [f"Written by `python -m benchmarks` ({kind}) on {m['date']}. Workloads: "
          "../shared/WORKLOADS.md. Raw figures: results.json; chart: ratios.png.", ""]
    L += ["## Machine", "",
          f"- CPU: {m['cpu']}, {m['cores']} cores; {m['platform']}",
          f"- Python {m['python']}; numpy {v['numpy']} (BLAS: {m['blas']}); numba {v['numba']} "
          f"({m['numba_threads']} threads); scipy {v['scipy']}",
          f"- peers: jax {v['jax']} (jaxlib {v['jaxlib']}), torch {v['torch']}, "
          f"autograd {v['autograd']}, sympy {v['sympy']}; matplotlib {v['matplotlib']}",
          f"- symback {v['symback']} at commit {m['symback_commit']}"
          + (f" at the start, {m['symback_commit_end']} at the end (symback is developed "
             "concurrently)" if m.get("symback_commit_end", m["symback_commit"])
             != m["symback_commit"] else ""),
          "- environment: " + ", ".join(f"{k}={val}" for k, val in m["env"].items()),
          f"- load average (1, 5, 15 min) at start {tuple(round(x, 2) for x in m['loadavg_start'])}"
          f", at end {tuple(round(x, 2) for x in m.get('loadavg_end', ()))}",
          "- numpy 2048x2048 matmul (the better of a measurement at the start and one at the end): "
          + ", ".join(f"{g:.1f} GFLOP/s {d}" for d, g in results["numpy_matmul_gflops"].items()),
          "- peers: " + ", ".join(f"{n} {s}" for n, s in results["systems"].items()), ""]
    L += ["## How to read", "",
          "- **value_and_grad µs / forward µs**: seconds per call, best over "
          f"{st['rounds']} rounds of the median of {st['number']} samples (each sample "
          f"at least {st['min_sample'] * 1e3:g} ms of back-to-back calls), after "
          f"{st['warmup']} warm-up calls; every system of a workload is timed in the same "
          "rounds, in rotating order (benchmarks/timing.py).",
          "- **vag/fwd**: value_and_grad time / forward-only time of the same system.",
          "- **x fastest peer**: value_and_grad time / that of the fastest peer (every system "
          "but symback, hand-written numpy included); below 1 means faster than every peer.",
          "- **W3g, W3fg**: W3 and W3f with symback's loss written in generic ops, as users write "
          "their own (`Y = astype(one_hot(labels, 10), dtype)`, `mean(logsumexp(o, axis=1) - "
          "sum(o * Y, axis=1))`), on the same data and parameters, giving the same numbers. "
          "Every peer (numpy, JAX, PyTorch, autograd) runs its own W3/W3f implementation, its "
          "best form (fused cross-entropy where it has one), so the comparison stays strict.",
          "- **x BLAS floor** (W3 family): value_and_grad time / the time of the matrix products "
          "it must compute, timed alone with numpy (matmul into preallocated outputs; forward "
          "X@W1.T, h1@W2.T, h2@W3.T; backward g3@W3, g2@W2, g3.T@h2, g2.T@h1, g1.T@X; same "
          "shapes, dtypes and transposes) in the same interleaved rounds as the systems.",
          "- **first call s**: symback: a fresh process with an empty kernel cache builds the "
          "graph, differentiates, emits, imports and calls (Numba JIT), `import symback` "
          "excluded; JAX: jit tracing + XLA compile + first call; SymPy: diff + cse + lambdify "
          "(in a subprocess) + first call; eager systems: their first call.",
          "- **cached s**: symback only: a fresh process that has imported numba imports the "
          "cached generated module and makes the first call (Numba loads the machine code); "
          "the issue's aim compares this to `import numba` alone. The JSON also has "
          "`cached_api_s`: a fresh process going through symback's API with a warm cache.",
          "- Every system's value and gradient were checked against the hand-written numpy "
          "reference before timing (rtol 1e-9 in float64, 1e-4 in float32; W5 gradients with "
          "an absolute tolerance scaled by the largest gradient); a system that fails is "
          "reported `wrong` and not timed.", ""]

    L += ["## Summary", "",
          "| workload | symback vag µs | fastest peer | peer vag µs | symback / fastest peer "
          "| vag/fwd | x BLAS floor | first call s | cached s | background cores |",
          "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for iid, e in results["workloads"].items():
        rec = e["systems"].get("symback", {})
        fp = e.get("fastest_peer")
        fp_rec = e["systems"][fp] if fp else {}
        status = rec.get("status", "-")
        L.append("| " + " | ".join([
            iid,
            _us(rec.get("vag_s")) if status == "ok" else status,
            fp or "-", _us(fp_rec.get("vag_s")),
            _x(rec.get("vs_fastest_peer")), _x(rec.get("vag_over_fwd")), _floor_x(e),
            _s(rec.get("first_call_s")), _s(rec.get("cached_s")),
            "-" if e.get("background_cores") is None else f"{e['background_cores']:.2f}"]) + " |")
    L += ["", "## Aims of issue 5", "", "| aim | verdict | measured |", "|---|---|---|"]
    L += [f"| {a} | {v} | {ev} |" for a, v, ev in aims(results)]
    L += ["", "## Aims of issue 12", "", "| aim | verdict | measured |", "|---|---|---|"]
    L += [f"| {a} | {v} | {ev} |" for a, v, ev in aims12(results)]
    L += [""]

    for iid, e in results["workloads"].items():
        L += [f"## {_title(iid, e)}", ""]
        gf = e["workload"] in W3_FAMILY
        head = ["system", "value_and_grad µs", "forward µs", "vag/fwd", "x fastest peer",
                "first call s", "cached s"] + (["vag GFLOP/s", "x BLAS floor"] if gf else []) \
            + ["check / note"]
        L += ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 2) + "---|"]
        for name in SYSTEMS:
            r = e["systems"][name]
            if r.get("status") in ("not selected", "not applicable"):
                continue
            ok = r.get("status") == "ok"
            note = (f"ok (max err {float(r['check_error']):.1e})" if ok else
                    f"**{r.get('status')}**" + (f": {r['note']}" if r.get("note") else ""))
            if ok and "cores_used" in r:
                note += f"; {r['cores_used']:.2f} cores busy"
            row = [name, _us(r.get("vag_s")), _us(r.get("fwd_s")), _x(r.get("vag_over_fwd")),
                   _x(r.get("vs_fastest_peer")), _s(r.get("first_call_s")), _s(r.get("cached_s"))]
            if gf:
                row += [f"{r['gflops_vag']:.1f}" if ok else "-", _floor_x(e, name)]
            L.append("| " + " | ".join(row + [note.replace("|", "/")]) + " |")
        L.append("")
        if e.get("background_cores") is not None:
            L += [f"Other processes kept {e['background_cores']:.2f} cores busy on average "
                  f"while this workload was timed (after waiting {e['waited_for_quiet_s']:.0f} s "
                  "for a quiet machine).", ""]
        lat = e["systems"].get("symback", {}).get("latency")
        if lat:
            c, mo, wa = lat["cold"], lat["module"], lat["warm"]
            L += [f"symback first call {c['first_call_s']:.2f} s = build {c['build_s']:.3f} + "
                  f"differentiate & emit {c['grad_emit_s']:.3f} + JIT & call "
                  f"{c['jit_and_call_s']:.2f} (`import symback` {c['import_symback_s']:.2f} s "
                  f"more); cached: `import numba` {mo['import_numba_s']:.2f} s, then module "
                  f"import {mo['import_module_s']:.3f} + first call {mo['call_s']:.3f} s; "
                  f"cached through symback's API {wa['first_call_s']:.2f} s.", ""]
        if e["workload"] == "W1" and e.get("hand_numba_s"):
            L += [f"Hand-written Numba function (benchmarks/call_overhead.py `hand`), timed in "
                  f"the same rounds: {_us(e['hand_numba_s'])} µs per value_and_grad call.", ""]
        if gf and e.get("blas_floor", {}).get("vag_s"):
            bf = e["blas_floor"]
            sbr = e["systems"].get("symback", {})
            L += [f"BLAS floor: the {len(bf['products'])} matrix products alone take "
                  f"{_us(bf['vag_s'])} µs ({bf['gflops_vag']:.1f} GFLOP/s; the 3 forward products "
                  f"{_us(bf['fwd_s'])} µs)"
                  + (f"; symback's value_and_grad is {sbr['x_blas_floor']:.2f}x the floor, its "
                     f"forward {sbr['fwd_x_blas_floor']:.2f}x the forward floor"
                     if sbr.get("status") == "ok" else "") + ". Products: "
                  + ", ".join(bf["products"]) + ".", ""]
        if gf:
            dtype = W3_FAMILY[e["workload"]][0]
            fl = e["flops"]
            needed = fl["value_and_grad"] - 2 * 256 * 784 * 256
            L += [f"GFLOP/s count {fl['value_and_grad'] / 1e6:.0f} MFLOP per value_and_grad "
                  f"(2 m n k per matmul, forward {fl['forward'] / 1e6:.0f} MFLOP counted 1x, "
                  "backward 2x, as the issue defines it). That count includes the first layer's "
                  "dL/dX product, which no system computes: the products actually needed are "
                  f"{needed / 1e6:.0f} MFLOP, so the rate of the arithmetic actually done is "
                  f"{needed / fl['value_and_grad']:.2f}x the GFLOP/s above. numpy's own "
                  "2048x2048 matmul: "
                  f"{results['numpy_matmul_gflops'][dtype]:.1f} GFLOP/s {dtype}.", ""]
        if e["workload"] == "W5":
            rows = []
            for name in ("symback", "sympy"):
                p = e["systems"].get(name, {}).get("program")
                if p:
                    rows.append(f"{name} {p['value_and_grad']} assignments in value_and_grad vs "
                                f"{p['forward']} in forward "
                                f"({p['value_and_grad'] / max(p['forward'], 1):.2f}x)")
                elif e["systems"].get(name, {}).get("status") in ("timeout",):
                    rows.append(f"{name}: build timed out")
            if rows:
                L += ["Program size: " + "; ".join(rows) + ".", ""]
    if results.get("w5_swell"):
        L += ["## W5 expression swell at small K", "",
              "Assignments in the generated programs (symback: its `_value_and_grad` / "
              "`_forward` Numba functions; SymPy: the lines of lambdify(cse=True)'s output for "
              "[y, dy/dx, dy/da] / y, whose lines hold whole subexpressions, so the operations "
              "of its cse'd program, `count_ops` of cse's output, are shown too; symback emits "
              "one operation per assignment). SymPy's `diff` does not share the repeated "
              "subtree u_k, so its build time grows exponentially with K.", "",
              "| K | symback vag | symback fwd | sympy vag | sympy fwd | sympy vag ops "
              "| sympy fwd ops | sympy build s |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in results["w5_swell"]:
            s, y = row.get("symback", {}), row.get("sympy")
            ycells = ([str(y["value_and_grad"]), str(y["forward"]), str(y["vag_ops"]),
                       str(y["forward_ops"]), _s(y["build_s"])]
                      if isinstance(y, dict) else [y or "-", "-", "-", "-", "-"])
            L.append("| " + " | ".join([str(row["K"]), str(s.get("value_and_grad", "-")),
                                        str(s.get("forward", "-"))] + ycells) + " |")
        L.append("")
    return "\n".join(L)


# ---- ratios.png -----------------------------------------------------------------------

COLORS = {"symback": "#d62728", "numpy": "#1f77b4", "jax": "#2ca02c", "torch": "#ff7f0e", "torch.compile": "#e377c2",
          "autograd": "#9467bd", "sympy": "#8c564b"}


def chart(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    W = results["workloads"]
    names = list(W)
    systems = [s for s in SYSTEMS if any(W[w]["systems"][s].get("status") == "ok" for w in W)]
    width = 0.8 / max(len(systems), 1)
    fig, ax = plt.subplots(figsize=(max(8, 1.25 * len(names) + 2), 5.2))
    for k, s in enumerate(systems):
        xs, ys = [], []
        for i, w in enumerate(names):
            rec = W[w]["systems"][s]
            if rec.get("status") == "ok" and W[w].get("fastest"):
                xs.append(i - 0.4 + width * (k + 0.5))
                ys.append(rec["vag_s"] / W[w]["systems"][W[w]["fastest"]]["vag_s"])
        ax.bar(xs, ys, width=width, label=s, color=COLORS.get(s), bottom=0)
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=0, fontsize=9)
    ax.set_ylabel("value_and_grad time / fastest system's (log)")
    kind = " (quick smoke run)" if results["settings"]["quick"] else ""
    ax.set_title(f"Time per value_and_grad call relative to the fastest system, per workload{kind}")
    ax.legend(ncol=len(systems), fontsize=9, loc="upper left")
    ax.grid(axis="y", which="both", alpha=0.3)
    top = max([b.get_height() for b in ax.patches] + [10])
    ax.set_ylim(0.5, top * 8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results, out_dir):
    import os
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
        f.write("\n")
    with open(os.path.join(out_dir, "RESULTS.md"), "w") as f:
        f.write(markdown(results) + "\n")
    try:
        chart(results, os.path.join(out_dir, "ratios.png"))
    except ImportError:
        print("matplotlib is not installed: no ratios.png", flush=True)
