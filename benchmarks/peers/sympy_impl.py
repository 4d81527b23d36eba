"""SymPy: ``diff`` + ``cse`` + ``lambdify(modules="numpy")``, for the formula workloads.

Only W1, W1v and W5 are formulas SymPy can hold (the networks are not). Building the
symbolic gradient can take arbitrarily long (W5 is the expression-swell workload), so
it runs in a subprocess with a deadline (BUDGET seconds): past it the build is killed
and the system is reported as "timeout". The subprocess sends back the lambdified
source, which this process executes in numpy's namespace, so what is timed is exactly
what lambdify generated.

Run one build by hand:  python -m benchmarks.peers.sympy_impl W5 50
"""
import json
import subprocess
import sys
import time

import numpy as np
import sympy

from ._common import System, as_numpy_result, numpy_args

NAME = "sympy"
WORKLOADS = ("W1", "W1v", "W5")
BUDGET = 60.0        # seconds for diff + cse + lambdify


def versions():
    return {"sympy": sympy.__version__}


def formula(workload, K=None):
    """(y, [wrt symbols]) for W1/W1v (elementwise formula) and W5 (K steps)."""
    if workload == "W5":
        x, a = sympy.symbols("x a")
        u = x
        for _ in range(K):
            u = sympy.sin(u) * u + sympy.cos(a * u)
        return u, [x, a]
    x, z = sympy.symbols("x z")
    return sympy.exp(x * z) + x * z / sympy.log(x) + sympy.sin(sympy.log(x)) / (x * z), [x, z]


def _body_assignments(source):
    """Assignment lines of a lambdified function (its cse'd intermediate values)."""
    return sum(1 for line in source.splitlines()[1:]
               if line.startswith("    ") and "=" in line and not line.strip().startswith("return"))


def build(workload, K=None, count_ops=False):
    """diff + cse + lambdify; returns the generated sources and the build time (and, with
    count_ops, the operations of the cse'd gradient program: lambdify prints whole
    subexpressions on one line, so its assignments undercount the work)."""
    import inspect
    t0 = time.perf_counter()
    y, wrt = formula(workload, K)
    grads = [sympy.diff(y, v) for v in wrt]
    vag = sympy.lambdify(wrt, [y] + grads, modules="numpy", cse=True)
    forward = sympy.lambdify(wrt, y, modules="numpy", cse=True)
    seconds = time.perf_counter() - t0
    vag_src, fwd_src = inspect.getsource(vag), inspect.getsource(forward)
    out = {"build_s": seconds, "vag_source": vag_src, "forward_source": fwd_src,
           "vag_assignments": _body_assignments(vag_src),
           "forward_assignments": _body_assignments(fwd_src)}
    if count_ops:
        for key, exprs in (("vag_ops", [y] + grads), ("forward_ops", [y])):
            replacements, reduced = sympy.cse(exprs)
            out[key] = sum(sympy.count_ops(e) for _, e in replacements) + \
                sum(sympy.count_ops(e) for e in reduced)
    return out


def build_in_subprocess(workload, K=None, budget=BUDGET, count_ops=False):
    cmd = [sys.executable, "-m", __name__, workload] + ([str(K)] if K is not None else [])
    cmd += ["--count-ops"] if count_ops else []
    # the deadline is for the build; the process also imports sympy (and may count ops)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=budget * (2 if count_ops else 1) + 10)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"diff + cse + lambdify did not finish in {budget:.0f} s") from None
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else
                           f"build exited with {done.returncode}")
    built = json.loads(done.stdout)
    if built["build_s"] > budget:
        raise TimeoutError(f"diff + cse + lambdify took {built['build_s']:.0f} s > {budget:.0f} s")
    return built


def _load(source):
    namespace = dict(vars(np))
    namespace["numpy"] = np
    exec(source, namespace)  # noqa: S102 - lambdify's own output, generated in the subprocess
    return namespace["_lambdifygenerated"]


def prepare(workload, data, budget=BUDGET):
    built = build_in_subprocess(workload, data.get("K"), budget)
    vag_all, forward = _load(built["vag_source"]), _load(built["forward_source"])
    if workload == "W1v":             # elementwise formula: the loss is its sum
        def value_and_grad(x, z):
            y, gx, gz = vag_all(x, z)
            return y.sum(), (gx, gz)

        def loss(x, z):
            return forward(x, z).sum()
    else:
        def value_and_grad(*args):
            y, *grads = vag_all(*args)
            return y, tuple(grads)
        loss = forward
    info = {k: built[k] for k in ("build_s", "vag_assignments", "forward_assignments")}
    return System(value_and_grad, loss, numpy_args(workload, data), as_numpy_result, info)


if __name__ == "__main__":
    sys.setrecursionlimit(100_000)
    argv = [a for a in sys.argv[1:] if a != "--count-ops"]
    w, k = argv[0], (int(argv[1]) if len(argv) > 1 else None)
    print(json.dumps(build(w, k, "--count-ops" in sys.argv)))
