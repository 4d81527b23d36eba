"""Logistic regression on 10 million rows, fitted on a Dask LocalCluster.

    pip install -e ".[dask]"
    python examples/data_parallel/run.py                 # 1e7 rows x 32 features, 2 workers
    python examples/data_parallel/run.py --rows 200000   # a quick run
    python examples/data_parallel/run.py --lazy          # draw the data in every pass: little memory

The loss is declared once; ``sb.data_parallel`` proves from the IR that it is a
mean of per-row terms plus an L2 term, and compiles the per-chunk kernel.  The
data are generated on the workers, chunk by chunk, and never gathered: every
L-BFGS iteration sends the parameters out, each worker computes the loss and
gradient of its chunks (the kernel's source travels with the graph and is
compiled once per worker), and the chunk results are summed in a tree.  Open
the dashboard address printed at the start to watch the tasks.
"""
import argparse
import time

import numpy as np

import symback as sb


def synthetic(rows, features, chunk_rows, seed=0):
    """Lazy data: X ~ N(0, 1) and labels drawn from a known logistic model,
    generated chunk by chunk wherever the chunk is computed (deterministic per chunk)."""
    import dask.array as da
    rng = np.random.default_rng(seed)
    w_true, b_true = rng.normal(0.0, 1.0 / np.sqrt(features), features), 0.25
    X = da.random.default_rng(seed).standard_normal((rows, features), chunks=(chunk_rows, features))

    def labels(x, block_info=None):
        k = block_info[0]["chunk-location"][0]
        u = np.random.default_rng([seed, k]).random(x.shape[0])
        return (u < 1.0 / (1.0 + np.exp(-(x @ w_true + b_true)))).astype(np.float64)

    y = X.map_blocks(labels, drop_axis=1, dtype=np.float64)
    return X, y, (w_true, b_true)


def model(features, lam=1e-4):
    X, y = sb.var("X", (None, features)), sb.var("y", (None,))
    w, b = sb.var("w", (features,)), sb.var("b")
    loss = sb.nn.binary_cross_entropy(X @ w + b, y) + 0.5 * lam * sb.sum(w * w)
    return sb.data_parallel(loss, batch=[X, y], params=[w, b], name="logistic_dp")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--chunk-rows", type=int, default=500_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=50, help="at most this many L-BFGS iterations")
    ap.add_argument("--lazy", action="store_true",
                    help="draw the data anew in every pass instead of keeping it in the workers' memory "
                         "(each worker then holds a few chunks at a time, never its share of the data)")
    args = ap.parse_args(argv)

    from dask.distributed import Client, LocalCluster
    try:
        from tqdm.auto import tqdm
    except ImportError:      # the progress bar is optional: pip install tqdm
        tqdm = None

    dp = model(args.features)
    print(dp)
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True) as cluster, \
            Client(cluster) as client:
        print(f"dashboard: {client.dashboard_link}")
        X, y, (w_true, b_true) = synthetic(args.rows, args.features, args.chunk_rows)
        print(f"data: {args.rows:,} rows x {args.features} features in {X.numblocks[0]} chunks of "
              f"{args.chunk_rows:,} rows ({X.nbytes / 2**30:.2f} GiB, generated on the workers"
              f"{', anew in every pass' if args.lazy else ''})")
        if not args.lazy:   # drawn once, kept on the workers (rows x features x 8 bytes in all)
            X, y = client.persist([X, y])
        params0 = [np.zeros(args.features), 0.0]
        bar = tqdm(total=args.iterations, desc="L-BFGS", unit="it") if tqdm else None
        seen = {"loss": None}
        fun = dp.fun_and_jac(X, y)

        def counted(x):          # every evaluation: one distributed pass over the data
            value, grad = fun(x)
            seen["loss"] = value
            return value, grad

        def step(xk):
            if bar is not None:
                bar.set_postfix(loss=f"{seen['loss']:.6f}")
                bar.update(1)

        from scipy.optimize import minimize
        t0 = time.perf_counter()
        result = minimize(counted, dp.flatten(params0), jac=True, method="L-BFGS-B", callback=step,
                          options={"maxiter": args.iterations, "gtol": 1e-6})
        seconds = time.perf_counter() - t0
        if bar is not None:
            bar.close()
        w, b = dp.unflatten(result.x)
        accuracy = float((((X @ w + b) > 0) == (y > 0.5)).mean().compute())
    print(f"{result.message} after {result.nit} iterations, {result.nfev} gradient passes, {seconds:.1f} s "
          f"({seconds / max(result.nfev, 1):.2f} s per pass)")
    print(f"loss {result.fun:.6f}; training accuracy {accuracy:.4f}")
    print(f"|w - w_true| / |w_true| = {np.linalg.norm(w - w_true) / np.linalg.norm(w_true):.4f}; "
          f"b = {float(b):.4f} (true {b_true})")


if __name__ == "__main__":
    main()
