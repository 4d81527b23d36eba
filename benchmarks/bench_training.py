"""Training benchmark: seconds per epoch with Adam, symback (sb.fit) vs PyTorch eager.

Two problems, float64, the same initial weights, the same batches (the permutation
sb.fit draws for seed 0), the same Adam (lr, betas 0.9/0.999, eps 1e-8):

  Iris  the real data (examples/data/iris.csv, standardised), 4-16-3 MLP with
        sigmoid hidden units (W2's network), softmax cross-entropy, 150 examples,
        batches of 16 (10 steps per epoch), lr 0.01.
  W3    784-256-256-10 MLP with ReLU (W3's network, He weights, N(0, 0.1^2) biases),
        random data drawn as in WORKLOADS.md (X ~ U[0, 1), 10 classes) but
        ``--w3-batches`` batches of 256 per epoch (default 8: 2048 examples), lr 1e-3.

Rows: symback sb.fit (the whole loop: shuffling, batching, one compiled
value_and_grad call and one compiled Adam update per batch), the same steps as a bare
loop (kernel + optimizer, no fit bookkeeping), and PyTorch eager (model built from
torch.nn.functional, loss.backward(), torch.optim.Adam) when torch is importable; the ratio column is
PyTorch's time divided by each row's (> 1: faster than PyTorch).  ``--threads N`` gives
every system N threads (BLAS pools and torch); on a busy small machine multi-threaded
BLAS and torch can lose far more to waiting than they gain, so compare both settings.
Before timing, one epoch of each system is run from the same start and the
parameters are compared (they must agree to ~1e-9).  Timing: timing.compare
(interleaved rounds, best round median), one epoch per call.

Run:  python -m benchmarks.bench_training [--rounds 5] [--w3-batches 8] [--threads 1]
"""
import argparse
import os
import pathlib
import sys
import time

if "--threads" in sys.argv:   # BLAS thread pools are sized when numpy/scipy load: set it first
    _n = sys.argv[sys.argv.index("--threads") + 1]
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _n

import numpy as np  # noqa: E402

import symback as sb  # noqa: E402
from symback import nn, optim  # noqa: E402

from . import timing  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


# --- the two problems ---------------------------------------------------------------------


def iris_problem():
    raw = np.genfromtxt(ROOT / "examples" / "data" / "iris.csv", delimiter=",", dtype=str, skip_header=1)
    species = sorted(set(raw[:, 4]))
    X = raw[:, :4].astype(np.float64)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    labels = np.array([species.index(s) for s in raw[:, 4]], dtype=np.int64)
    p = nn.Params(seed=0)
    layers = [p.dense(4, 16, init="xavier"), p.dense(16, 3, init="xavier")]
    return dict(name="Iris", data=(X, labels), params=p, layers=layers, act="sigmoid",
                batch_size=16, lr=0.01)


def w3_problem(batches):
    rng = np.random.default_rng(0)
    n = 256 * batches
    X, labels = rng.random((n, 784)), rng.integers(0, 10, n).astype(np.int64)
    p = nn.Params(rng)
    layers = [p.dense(784, 256, init="he", bias=0.1), p.dense(256, 256, init="he", bias=0.1),
              p.dense(256, 10, init="he", bias=0.1)]
    return dict(name="W3", data=(X, labels), params=p, layers=layers, act="relu",
                batch_size=256, lr=1e-3)


def symback_kernel(problem):
    X = sb.var("X", (None, problem["data"][0].shape[1]))
    labels = sb.var("labels", (None,), "int64")
    o = X
    for i, (W, b) in enumerate(problem["layers"]):
        o = nn.dense(o, W, b)
        if i < len(problem["layers"]) - 1:
            o = nn.activation(problem["act"])(o)
    p = problem["params"]
    return sb.value_and_grad(nn.softmax_cross_entropy(o, labels), p.vars, p.vars + [X, labels],
                             name=f"bench_training_{problem['name']}")


def permutations(n, seed=0):
    """The epoch permutations sb.fit draws for ``seed`` (so every system sees the same batches)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0])
    while True:
        yield rng.permutation(n)


# --- systems: each returns (one_epoch() -> None, params() -> list of arrays) ---------------


def symback_fit(problem, kernel):
    opt = optim.Adam(problem["params"].values, lr=problem["lr"])
    state = {"seed": 0}

    def epoch():
        sb.fit(kernel, opt, problem["data"], epochs=1, batch_size=problem["batch_size"],
               seed=state["seed"], progress=False)
        state["seed"] += 1

    return epoch, lambda: opt.params


def symback_loop(problem, kernel):
    opt = optim.Adam(problem["params"].values, lr=problem["lr"])
    X, labels = problem["data"]
    perms, bs = permutations(len(X)), problem["batch_size"]

    def epoch():
        order = next(perms)
        Xp, lp = X[order], labels[order]
        for s in range(0, len(X), bs):
            _, grads = kernel(*opt.params, Xp[s:s + bs], lp[s:s + bs])
            opt.step(grads)

    return epoch, lambda: opt.params


def torch_eager(problem):
    import torch
    import torch.nn.functional as F

    X, labels = (torch.from_numpy(a) for a in problem["data"])
    params = [torch.tensor(v, requires_grad=True) for v in problem["params"].values]
    opt = torch.optim.Adam(params, lr=problem["lr"], betas=(0.9, 0.999), eps=1e-8)
    act = {"sigmoid": torch.sigmoid, "relu": torch.relu}[problem["act"]]
    n_layers = len(params) // 2
    perms, bs = permutations(len(X)), problem["batch_size"]

    def epoch():
        order = torch.from_numpy(next(perms))
        Xp, lp = X[order], labels[order]
        for s in range(0, len(Xp), bs):
            o = Xp[s:s + bs]
            for i in range(n_layers):
                o = F.linear(o, params[2 * i], params[2 * i + 1])
                if i < n_layers - 1:
                    o = act(o)
            loss = F.cross_entropy(o, lp[s:s + bs])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return epoch, lambda: [p.detach().numpy() for p in params]


def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    return torch.__version__



def run(problem, rounds):
    t0 = time.perf_counter()
    kernel = symback_kernel(problem)
    systems = {"symback sb.fit": symback_fit(problem, kernel),
               "symback kernel+Adam loop": symback_loop(problem, kernel)}
    if torch_available():
        systems["PyTorch eager"] = torch_eager(problem)
    # one epoch each from the same start (compiles symback's kernels): they must agree
    for epoch, _ in systems.values():
        epoch()
    first = time.perf_counter() - t0
    ref = [np.array(a) for a in systems["symback sb.fit"][1]()]
    agree = {}
    for name, (_, params) in systems.items():
        agree[name] = max(float(np.max(np.abs(a - r)) / max(1.0, float(np.max(np.abs(r)))))
                          for a, r in zip(params(), ref))
    best = timing.compare({name: epoch for name, (epoch, _) in systems.items()}, (), rounds=rounds,
                          number=5, warmup=1, min_sample=0.05)
    steps = -(-len(problem["data"][0]) // problem["batch_size"])
    return best, agree, steps, first


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--w3-batches", type=int, default=8)
    parser.add_argument("--only", default="Iris,W3")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every system (BLAS pools and torch); default: each library's own")
    opts = parser.parse_args(argv)
    version = torch_available()
    if version and opts.threads:
        import torch
        torch.set_num_threads(opts.threads)
    threads = f"{opts.threads} threads for all" if opts.threads else "default threads"
    torch_threads = f", torch {__import__('torch').get_num_threads()} threads" if version else ""
    print(f"PyTorch: {version or 'not installed'}; {threads}{torch_threads}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    problems = {"Iris": iris_problem, "W3": lambda: w3_problem(opts.w3_batches)}
    rows = []
    for key in opts.only.split(","):
        problem = problems[key]()
        best, agree, steps, first = run(problem, opts.rounds)
        torch_s = best.get("PyTorch eager")
        for name, seconds in best.items():
            ratio = f"{torch_s / seconds:.2f}x" if torch_s else "-"
            rows.append((key, name, seconds, seconds / steps, ratio, agree[name]))
        n = len(problem["data"][0])
        print(f"{key}: {n} examples, {steps} Adam steps of {problem['batch_size']} per epoch; "
              f"first epoch incl. build and JIT {first:.1f} s")
    print()
    print(f"{'problem':<8}{'system':<27}{'s/epoch':>12}{'ms/step':>10}{'torch/this':>12}{'max rel diff':>14}")
    for key, name, s, per_step, ratio, diff in rows:
        print(f"{key:<8}{name:<27}{s:>12.3g}{per_step * 1e3:>10.3f}{ratio:>12}{diff:>14.1e}")
    if not version:
        print("PyTorch eager: not installed")


if __name__ == "__main__":
    main()
