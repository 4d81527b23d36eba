"""sb.data_parallel: the separability check, and the gradient summed over row chunks.

* the check (numpy interpreter, no Numba): separable losses give a per-chunk loss whose
  chunk values add up to the loss, for several layouts of the rows; losses that mix
  rows raise SeparabilityError naming the op (batch norm: 'sub' and "batch norm");
* one model compiled once (logistic regression with an L2 term counted once and an
  extra input): numpy chunks, the threaded Dask scheduler and a real LocalCluster
  (2 worker processes, started and closed here) all give the one-process kernel's
  value and gradient to 1e-12; a worker compiles from the shipped source into its
  own cache directory;
* scipy L-BFGS on the distributed gradient converges to the one-process optimum;
* sb.fit trains on dask arrays; the flat parameter helpers round trip;
* the example runs (small) in a fresh process with its own LocalCluster.
"""
import os

import numpy as np
import pytest

import symback as sb
from symback.passes.separable import separate

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

RTOL = 1e-12


def rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# --- the separability check (interpreter only) ------------------------------------------

X = sb.var("X", (None, 4))
y = sb.var("y", (None,))
labels = sb.var("labels", (None,), "int64")
W = sb.var("W", (3, 4))
w = sb.var("w", (4,))
b = sb.var("b")
gain, bias = sb.var("gain", (4,)), sb.var("bias", (4,))

SEPARABLE = {
    "bce mean + l2": (sb.nn.binary_cross_entropy(X @ w + b, y) + 0.01 * sb.sum(w * w), [X, y]),
    "sum, reg first": (sb.sum(w * w) - sb.sum(sb.log(sb.sigmoid(X @ w)) * y), [X, y]),
    "softmax cross entropy": (sb.mean(sb.softmax_cross_entropy(X @ W.T + b, labels)), [X, labels]),
    "rows on axis 1": (sb.mean(sb.sum(sb.tanh(W @ X.T), axis=0)) * 3.0, [X]),
    "mean over all axes": (sb.mean(sb.square(X * w - 1.0)), [X]),
    "whole-row reshape, slice": (sb.mean(sb.reshape(X * w, (-1, 2, 2))) + sb.mean(X[:, 1:3] @ w[:2]), [X]),
    "gram matrix, dot over rows": (sb.sum(X.T @ X * w) + (X @ w) @ y / 7.0 + sb.sum(W @ (X.T @ X)), [X, y]),
    "a parameter spread over the rows": (sb.sum(sb.dsl.broadcast_like(b, X @ w)) + sb.nn.mse(X @ W.T, X[:, :3]), [X]),
    "two means": (sb.mean(X @ w) * 2.0 + sb.mean(sb.logsumexp(X @ W.T, axis=1)) / 3.0, [X]),
}


@pytest.mark.parametrize("case", SEPARABLE)
def test_chunk_losses_add_up_to_the_loss(case):
    loss, batch = SEPARABLE[case]
    sep = separate(loss, batch)
    rng = np.random.default_rng(1)
    n = 23
    env = {"X": rng.normal(size=(n, 4)), "y": rng.random(n), "labels": rng.integers(0, 3, n),
           "W": rng.normal(size=(3, 4)), "w": rng.normal(size=4), "b": 0.3}
    env = {v.name: env[v.name] for v in sb.variables([loss])}
    want = float(sb.evaluate(loss, env))
    total = 0.0
    for k, (lo, hi) in enumerate([(0, 5), (5, 6), (6, 23)]):
        part = dict(env, n_rows=float(n), first=float(k == 0))
        for v in batch:
            part[v.name] = env[v.name][lo:hi]
        total += float(sb.evaluate(sep.chunk_loss, part))
    assert total == pytest.approx(want, rel=RTOL)


NOT_SEPARABLE = {
    "batch norm": (lambda: sb.mean(sb.nn.batch_norm(X, gain, bias) @ w), [X],
                   ["'sub'", "batch norm", "mean over the batch rows"]),
    "outer product over rows": (lambda: sb.sum((X @ W.T) @ (W @ X.T)), [X], ["'matmul'", "pairing different rows"]),
    "matmul with rows not in batch": (lambda: (X @ w) @ y, [X], ["'matmul'", "contracts the batch axis", "variable 'y'"]),
    "softmax over rows": (lambda: sb.sum(sb.softmax(X @ w, axis=0) * y), [X, y], ["'softmax'", "batch axis"]),
    "logsumexp over rows": (lambda: sb.logsumexp(X @ w, axis=0), [X], ["'logsumexp'"]),
    "log of a mean": (lambda: sb.log(sb.mean(sb.exp(X @ w))), [X], ["'log'", "mean over the batch rows"]),
    "square of a sum": (lambda: sb.sum(X @ w) * sb.sum(X @ w), [X], ["'mul'"]),
    "flattening reshape": (lambda: sb.sum(sb.reshape(X * w, (-1,))), [X], ["'reshape'", "across rows"]),
    "a mean spread over the rows": (lambda: sb.sum(sb.dsl.broadcast_like(sb.mean(X @ w), X @ w)), [X],
                                    ["'broadcast'", "spreads the mean over the batch rows"]),
    "rows not in batch": (lambda: sb.mean((X @ w - y) ** 2), [X], ["'sub'", "variable 'y'", "batch="]),
}


@pytest.mark.parametrize("case", NOT_SEPARABLE)
def test_row_mixing_is_refused_naming_the_op(case):
    build, batch, words = NOT_SEPARABLE[case]
    with pytest.raises(sb.SeparabilityError) as e:
        sb.data_parallel(build(), batch=batch)
    for word in words:
        assert word in str(e.value), (word, str(e.value))
    assert isinstance(e.value, ValueError) and isinstance(e.value, sb.errors.UserError)


def test_batch_inputs_must_have_free_rows_and_matter():
    Z = sb.var("Z", (10, 4))
    with pytest.raises(sb.SeparabilityError, match=r"'Z' has a fixed number of rows .*sb.var\('Z', \(None, 4\)\)"):
        sb.data_parallel(sb.mean(Z @ w), batch=[Z])
    with pytest.raises(sb.SeparabilityError, match="does not depend on the batch inputs"):
        sb.data_parallel(sb.sum(w * w), batch=[X])


def test_flat_helpers_round_trip():
    arrays = [np.arange(6.0).reshape(2, 3), np.float64(7.0), np.array([1.5, -2.0])]
    flat = sb.flatten_params(arrays)
    assert flat.shape == (9,) and flat.dtype == np.float64
    back = sb.unflatten_params(flat, [(2, 3), (), (2,)])
    for a, c in zip(arrays, back, strict=True):
        np.testing.assert_array_equal(a, c)
    assert np.shape(back[1]) == ()
    flat[0] = 99.0                     # fresh arrays, not views of the vector
    assert back[0][0, 0] == 0.0
    with pytest.raises(ValueError, match="9 numbers"):
        sb.unflatten_params(flat[:-1], [(2, 3), (), (2,)])


# --- one compiled model: numpy, threads, LocalCluster ------------------------------------

@pytest.fixture(scope="module")
def model():
    """Logistic regression with an L2 term (counted once) and its weight as an extra input."""
    Xm, ym = sb.var("X", (None, 4)), sb.var("y", (None,))
    wm, bm, lam = sb.var("w", (4,)), sb.var("b"), sb.var("lam")
    loss = sb.nn.binary_cross_entropy(Xm @ wm + bm, ym) + 0.5 * lam * sb.sum(wm * wm)
    dp = sb.data_parallel(loss, batch=[Xm, ym], params=[wm, bm], name="logreg")
    full = sb.value_and_grad(loss, [wm, bm], [wm, bm, Xm, ym, lam], name="logreg_full")
    rng = np.random.default_rng(0)
    n = 1000
    Xd = rng.normal(size=(n, 4))
    yd = (rng.random(n) < 1 / (1 + np.exp(-(Xd @ [1.0, -2.0, 0.5, 0.0] + 0.3)))).astype(float)
    params = [rng.normal(size=4), 0.1]
    value, grads = full(*params, Xd, yd, 0.01)
    return dict(dp=dp, full=full, X=Xd, y=yd, params=params, value=value, grads=grads)


def assert_same(model, value, grads):
    assert rel(value, model["value"]) < RTOL
    for g, want in zip(grads, model["grads"], strict=True):
        assert np.shape(g) == np.shape(want)
        assert rel(g, want) < RTOL


def test_dp_has_separated_the_model(model):
    dp = model["dp"]
    assert [p.name for p in dp.params] == ["w", "b"] and [v.name for v in dp.others] == ["lam"]
    assert dp.separable.mean
    assert "nogil=True" in dp.chunk_kernel.source and "prange" not in dp.chunk_kernel.source


@pytest.mark.parametrize("chunk_rows", [None, 1, 333, 999])
def test_numpy_chunks_equal_one_process(model, chunk_rows):
    value, grads = model["dp"].value_and_grad(model["params"], model["X"], model["y"], 0.01, chunk_rows=chunk_rows)
    assert_same(model, value, grads)


@pytest.mark.parametrize("scheduler", ["threads", "sync"])
def test_dask_threads_equal_one_process(model, scheduler):
    Xa = da.from_array(model["X"], chunks=(128, 2))   # columns split too: rejoined per row block
    ya = da.from_array(model["y"], chunks=300)         # other row boundaries: aligned to X's
    value, grads = model["dp"].value_and_grad(model["params"], Xa, ya, 0.01, scheduler=scheduler, split_every=3)
    assert_same(model, value, grads)


def test_dask_rows_must_agree(model):
    Xa = da.from_array(model["X"], chunks=(128, 4))
    with pytest.raises(ValueError, match="'X' and 'y' have 1000 and 999 rows"):
        model["dp"].value_and_grad(model["params"], Xa, da.from_array(model["y"][:-1]), 0.01)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """A real LocalCluster: 2 worker processes with their own (unshared) kernel cache."""
    worker_cache = tmp_path_factory.mktemp("worker-cache")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", env={"SYMBACK_CACHE_DIR": str(worker_cache)})
    c = distributed.Client(cluster)
    c.worker_cache = worker_cache
    # the worker processes (multiprocessing's resource tracker, also a child, lives as long as
    # this process does, whatever the cluster does)
    started = [k for k in psutil.Process().children(recursive=True) if "spawn_main" in " ".join(k.cmdline())]
    assert len(started) == 2
    yield c
    c.close()
    cluster.close()
    assert cluster.status.name == "closed"
    _, alive = psutil.wait_procs(started, timeout=30)
    assert not alive, f"processes left running: {alive}"


def test_local_cluster_equals_one_process(model, client):
    Xa = da.from_array(model["X"], chunks=(100, 4))
    ya = da.from_array(model["y"], chunks=100)
    for _ in range(2):    # the second call finds the kernel loaded in each worker
        value, grads = model["dp"].value_and_grad(model["params"], Xa, ya, 0.01, scheduler=client)
        assert_same(model, value, grads)
    # both workers got tasks, and compiled from the shipped text in their own cache directory
    assert len(client.run(os.getpid)) == 2
    kernels = client.worker_cache / "kernels"
    assert sorted(p.name for p in kernels.glob("logreg_chunk_*.py")) == [model["dp"].chunk_kernel.path.name]
    assert list((kernels / "__pycache__").glob("*._value_and_grad-*.nbc"))
    assert model["dp"].chunk_kernel.path.parent != kernels


def test_local_cluster_lbfgs_converges_to_the_one_process_optimum(model, client):
    from scipy.optimize import minimize
    dp = model["dp"]
    Xa = da.from_array(model["X"], chunks=(250, 4))
    ya = da.from_array(model["y"], chunks=250)
    params, result = dp.minimize([np.zeros(4), 0.0], Xa, ya, 0.01, scheduler=client, options={"gtol": 1e-9})
    assert result.success, result.message
    full = model["full"]

    def f(x):
        v, g = full(x[:4], x[4], model["X"], model["y"], 0.01)
        return float(v), np.concatenate([g[0], [g[1]]])

    ref = minimize(f, np.zeros(5), jac=True, method="L-BFGS-B", options={"gtol": 1e-9})
    np.testing.assert_allclose(dp.flatten(params), ref.x, rtol=1e-6, atol=1e-8)
    assert np.max(np.abs(result.jac)) < 1e-6
    assert float(result.fun) == pytest.approx(float(ref.fun), rel=1e-10)


def test_fit_on_dask_arrays(model):
    dp = model["dp"]
    Xm, ym = sb.var("X", (None, 4)), sb.var("y", (None,))
    wm, bm = sb.var("w", (4,)), sb.var("b")
    dp_noreg = sb.data_parallel(sb.nn.binary_cross_entropy(Xm @ wm + bm, ym), batch=[Xm, ym], name="logreg_noreg")
    Xa = da.from_array(model["X"], chunks=(100, 4))
    ya = da.from_array(model["y"], chunks=100)
    histories = []
    for data in [(Xa, ya), (model["X"], model["y"])]:
        opt = sb.optim.SGD([np.zeros(4), np.float64(0.0)], lr=0.5)
        with dask.config.set(scheduler="threads"):
            h = sb.fit(dp_noreg, opt, data, epochs=3, batch_size=200, shuffle=False, progress=False,
                       validation=data)
        histories.append((h, opt.flat.data.copy()))
    (h_dask, p_dask), (h_np, p_np) = histories
    assert h_dask.loss[-1] < h_dask.loss[0] < np.log(2.0)
    np.testing.assert_allclose(h_dask.loss, h_np.loss, rtol=RTOL)
    np.testing.assert_allclose(h_dask.val_loss, h_np.val_loss, rtol=RTOL)
    np.testing.assert_allclose(p_dask, p_np, rtol=1e-10)
    opt = sb.optim.SGD([np.zeros(4), np.float64(0.0)], lr=0.5)
    h = sb.fit(dp_noreg, opt, (Xa, ya), epochs=2, batch_size=300, seed=3, progress=False)   # batches shuffled
    assert h.epochs == 2 and np.isfinite(h.loss).all()
    with pytest.raises(TypeError, match="data-parallel kernel"):
        sb.fit(model["full"], opt, (Xa, ya), epochs=1, progress=False)
    assert dp is model["dp"]


def test_example_runs_from_the_readme():
    """examples/data_parallel/run.py, small: its own LocalCluster, dashboard printed, L-BFGS done."""
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "examples/data_parallel/run.py", "--rows", "40000", "--chunk-rows",
                           "10000", "--features", "4", "--iterations", "30"],
                          cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "dashboard: http" in out and "4 chunks of 10,000 rows" in out
    assert "CONVERGENCE" in out and "training accuracy" in out


def test_float32_model_stays_float32():
    Xf, yf = sb.var("X", (None, 3), "float32"), sb.var("y", (None,), "float32")
    wf, bf = sb.var("w", (3,), "float32"), sb.var("b", (), "float32")
    loss = sb.mean((Xf @ wf + bf - yf) ** 2) + 0.1 * sb.sum(wf * wf)
    dp = sb.data_parallel(loss, batch=[Xf, yf], name="f32")
    rng = np.random.default_rng(0)
    env = {"X": rng.normal(size=(50, 3)).astype(np.float32), "y": rng.normal(size=50).astype(np.float32),
           "w": np.ones(3, np.float32), "b": np.float32(0.5)}
    value, (g_w, g_b) = dp.value_and_grad([env["w"], env["b"]], env["X"], env["y"], chunk_rows=7)
    assert value.dtype == g_w.dtype == g_b.dtype == np.float32
    want = sb.evaluate([loss] + sb.grad(loss, [wf, bf]), env)
    for got, ref in zip([value, g_w, g_b], want, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-5)
