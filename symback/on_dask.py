"""The data-parallel gradient on Dask: one task per row chunk, then a tree sum.

The only module of symback that imports dask, and only when a dask array is
handed to :class:`~symback.data_parallel.DataParallel`.  Any scheduler works:
the threaded one (the kernels release the GIL, so chunks run side by side) or
a ``dask.distributed`` Client.

What travels to a worker is the kernel's *source text* (a few KB, one key of
the graph, fetched once per worker), never a path: the worker writes it into
its own cache directory under a name made of its hash (atomically) and
imports it from there, once per process, so Numba compiles it once per
machine and reuses the machine code afterwards, whether or not the client's
cache directory is visible to the worker.  Workers need numpy, numba and
symback (the same environment as the client).

Each chunk task returns one flat float64 vector ``[value, gradients...]`` and
the vectors are added in a tree (``split_every`` at a time), so no worker ever
holds more than a chunk of the data plus a few gradient vectors.
"""
from __future__ import annotations

import contextlib
import hashlib
import threading

import numpy as np

_LOADED = {}                 # source hash -> value_and_grad function, per process
_LOCK = threading.Lock()


class ShippedKernel:
    """A per-chunk kernel as text: picklable, rebuilt on first use in each process."""

    def __init__(self, source, name, entry="value_and_grad"):
        self.source, self.name, self.entry = source, name, entry
        self.digest = hashlib.sha256(source.encode()).hexdigest()[:16]

    def __getstate__(self):
        return {"source": self.source, "name": self.name, "entry": self.entry, "digest": self.digest}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def function(self):
        fn = _LOADED.get(self.digest)
        if fn is None:
            with _LOCK:
                fn = _LOADED.get(self.digest)
                if fn is None:
                    from .kernel import load_source
                    module, _ = load_source(self.source, self.name)
                    fn = _LOADED[self.digest] = getattr(module, self.entry)
        return fn

    def __call__(self, *args):
        return self.function()(*args)

    def __dask_tokenize__(self):
        return ("symback-kernel", self.digest)


def _chunk(kernel, params, others, n_rows, first, *batch):
    """One chunk's flat ``[value, gradients...]`` (runs on a worker)."""
    value, grads = kernel(*params, *batch, *others, float(n_rows), float(first))
    return np.concatenate([[float(value)]] + [np.ravel(g) for g in grads]).astype(np.float64, copy=False)


def _add(*parts):
    total = parts[0].copy()
    for p in parts[1:]:
        total += p
    return total


def tree_sum(parts, split_every=8):
    """Delayed sum of delayed ``parts``, ``split_every`` at a time (a tree of depth log)."""
    from dask import delayed
    if not parts:
        raise ValueError("tree_sum: nothing to add")
    split_every = max(2, int(split_every))
    while len(parts) > 1:
        parts = [delayed(_add, pure=True)(*parts[i:i + split_every]) if len(parts[i:i + split_every]) > 1
                 else parts[i] for i in range(0, len(parts), split_every)]
    return parts[0]


def row_blocks(arrays, names):
    """The delayed row blocks of each dask array, aligned: every array is cut at
    the first one's row boundaries and kept whole along its other axes."""
    import dask.array as da
    arrays = [a if hasattr(a, "to_delayed") else da.from_array(np.asarray(a)) for a in arrays]
    n = arrays[0].shape[0]
    for a, name in zip(arrays, names):
        if a.ndim and any(c != c for c in a.chunks[0]):      # NaN: sizes unknown until computed
            raise ValueError(f"data_parallel: the row chunks of {name!r} have unknown sizes; "
                             "call .compute_chunk_sizes() on it first")
        if a.ndim == 0:
            raise ValueError(f"data_parallel: batch input {name!r} must have a row axis, got a scalar")
        if a.shape[0] != n:
            raise ValueError(f"data_parallel: batch inputs {names[0]!r} and {name!r} have "
                             f"{n} and {a.shape[0]} rows; they must be equal")
    rows = arrays[0].chunks[0]
    blocks = []
    for a in arrays:
        target = (rows,) + tuple((d,) for d in a.shape[1:])
        if a.chunks != target:
            a = a.rechunk(target)
        blocks.append(a.to_delayed().ravel().tolist())
    return n, rows, blocks


def graph(dp, params, batch, others, split_every=8):
    """The delayed flat ``[value, gradients...]`` of ``dp`` on dask arrays ``batch``."""
    from dask import delayed
    n, rows, blocks = row_blocks(batch, [v.name for v in dp.batch])
    kernel = delayed(ShippedKernel(dp.chunk_kernel.source, dp.chunk_kernel.name), pure=True)
    p = delayed(tuple(params), pure=True, traverse=False)
    o = delayed(tuple(others), pure=True, traverse=False)
    parts = [delayed(_chunk, pure=True)(kernel, p, o, n, k == 0, *(b[k] for b in blocks))
             for k in range(len(rows))]
    return tree_sum(parts, split_every)


def value_and_grad_flat(dp, params, batch, others, scheduler=None, split_every=8):
    """The flat ``[value, gradients...]`` of ``dp`` over dask arrays, computed by
    ``scheduler`` (None: Dask's default, which is the active distributed Client if
    there is one, else threads; or "threads", "sync", a Client...)."""
    import dask
    total = graph(dp, params, batch, others, split_every)
    with one_blas_thread():
        (flat,) = dask.compute(total, scheduler=scheduler)
    return flat


def one_blas_thread():
    """BLAS on one thread while chunks run side by side (threadpoolctl, if installed).

    The chunks are the parallelism: a BLAS call inside each of them that also
    starts threads oversubscribes the cores, and on a busy machine OpenBLAS's
    thread handoff then costs more than the product (measured: a 20000 x 32
    matrix-vector product, 0.3 ms on one thread, 11 ms on two busy cores).
    Dask's worker processes already start with one BLAS thread."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")
