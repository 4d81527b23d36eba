"""``sb.data_parallel``: one compiled value_and_grad summed over row chunks.

When the data outgrows one process, the gradient of a loss that is a sum or
mean of per-row terms is the sum of the gradients of row chunks.  The
compiler proves that property from the IR (:mod:`symback.passes.separable`)
and compiles a per-chunk kernel whose results simply add up: it takes the
row count of the whole data (so a mean divides by the full N inside the
kernel) and a 0/1 weight for the terms without the batch (regularisation is
counted once, not once per chunk).

    dp = sb.data_parallel(loss, batch=[X, labels])          # params: the other float vars
    value, grads = dp.value_and_grad(params, X_data, y_data)  # numpy or dask arrays
    params, result = dp.minimize(params0, X_data, y_data)     # scipy L-BFGS on the sum

With dask arrays the chunks are Dask's row chunks, computed by any scheduler
(threads, or a ``dask.distributed`` Client): see :mod:`symback.on_dask`, the
only module that imports dask.
"""
from __future__ import annotations

import numpy as np

from .ir import Node, variables
from .kernel import kernel_name, value_and_grad as compile_value_and_grad
from .passes.separable import SeparabilityError, separate

__all__ = ["DataParallel", "data_parallel", "flatten_params", "unflatten_params", "SeparabilityError"]


def flatten_params(arrays, dtype=np.float64):
    """The arrays, raveled and concatenated into one fresh 1-d vector (what
    scipy.optimize works on)."""
    arrays = [np.asarray(a) for a in arrays]
    if not arrays:
        return np.empty(0, dtype=dtype)
    return np.concatenate([a.ravel() for a in arrays]).astype(dtype, copy=False)


def unflatten_params(flat, shapes):
    """The inverse of :func:`flatten_params`: fresh arrays of ``shapes`` (a list of
    shapes, or of arrays whose shapes are taken) cut from ``flat`` in order."""
    flat = np.asarray(flat)
    shapes = [np.shape(s) if not isinstance(s, tuple) else s for s in shapes]
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
    if flat.ndim != 1 or flat.size != sum(sizes):
        raise ValueError(f"unflatten_params: got a vector of shape {flat.shape} for "
                         f"{sum(sizes)} numbers in shapes {shapes}")
    out, k = [], 0
    for s, n in zip(shapes, sizes):
        part = flat[k:k + n].reshape(s).copy()
        out.append(part[()] if s == () else part)   # a scalar parameter: a numpy scalar
        k += n
    return out


def is_dask(x):
    """A dask collection, told without importing dask."""
    return type(x).__module__.split(".")[0] == "dask" and hasattr(x, "__dask_graph__")


class DataParallel:
    """A loss proved separable over the rows of its batch inputs, with its
    per-chunk kernel.  Arguments of every call: the parameters (a list, in the
    order of ``params``), then one array per batch input, then one per other
    input (``others``, e.g. a regularisation weight), as ``sb.value_and_grad``
    orders them."""

    def __init__(self, loss, batch, params=None, name=None):
        if not isinstance(loss, Node):
            raise TypeError(f"data_parallel: loss must be a symback expression, got {type(loss).__name__}")
        self.loss = loss
        self.batch = list(batch)
        sep = separate(loss, self.batch)
        in_batch = {id(b) for b in self.batch}
        free = [v for v in variables([loss]) if id(v) not in in_batch]
        if params is None:
            params = [v for v in free if v.dtype in ("float64", "float32")]
        self.params = list(params)
        if not self.params:
            raise ValueError("data_parallel: no parameters to differentiate (every float variable outside "
                             "batch= is one by default)")
        for p in self.params:
            if id(p) in in_batch:
                raise ValueError(f"data_parallel: {p.name!r} is both a parameter and a batch input")
            if not p.shape or None not in p.shape:
                continue
            raise ValueError(f"data_parallel: parameter {p.name!r} has a size known only at call time {p.shape}")
        self.others = [v for v in free if all(v is not p for p in self.params)]
        self.name = kernel_name(name, "data_parallel")
        self.separable = sep
        inputs = self.params + self.batch + self.others + [sep.n_rows, sep.first]
        # parallel=False: the parallelism is over chunks; threads inside a kernel would oversubscribe
        self.chunk_kernel = compile_value_and_grad(sep.chunk_loss, self.params, inputs, name=f"{self.name}_chunk",
                                            entries=("value_and_grad",), parallel=False,
                                            doc="one row chunk of a data-parallel loss")
        self.shapes = [tuple(p.shape) for p in self.params]
        self.size = sum(int(np.prod(s, dtype=np.int64)) for s in self.shapes)

    # --- flat parameter vectors ---------------------------------------------------
    def flatten(self, params):
        """The parameters as one float64 vector (checked against their shapes)."""
        params = list(params)
        if len(params) != len(self.params):
            raise ValueError(f"{self.name}: expected {len(self.params)} parameters "
                             f"({', '.join(p.name for p in self.params)}), got {len(params)}")
        for p, a in zip(self.params, params):
            if np.shape(a) != tuple(p.shape):
                raise ValueError(f"{self.name}: parameter {p.name!r} has shape {tuple(p.shape)}, got {np.shape(a)}")
        return flatten_params(params)

    def unflatten(self, flat):
        """One array per parameter, cut from the flat vector."""
        return unflatten_params(flat, self.shapes)

    # --- the gradient ---------------------------------------------------------------
    def _split(self, args):
        nb, no = len(self.batch), len(self.others)
        if len(args) != nb + no:
            names = [v.name for v in self.batch + self.others]
            raise TypeError(f"{self.name}: expected {nb + no} data arguments ({', '.join(names)}), got {len(args)}")
        return list(args[:nb]), list(args[nb:])

    def chunk(self, params, batch, others, n_rows, first):
        """The per-chunk kernel on one chunk: a flat float64 vector [value, grads...]."""
        value, grads = self.chunk_kernel(*params, *batch, *others, float(n_rows), float(first))
        return np.concatenate([[float(value)]] + [np.ravel(g) for g in grads]).astype(np.float64, copy=False)

    def value_and_grad_flat(self, params, *data, chunk_rows=None, **dask_options):
        """The loss and its gradient as one flat vector ``[value, g...]`` (see :meth:`value_and_grad`)."""
        params = list(params)
        batch, others = self._split(data)
        if any(is_dask(b) for b in batch):
            from .on_dask import value_and_grad_flat
            return value_and_grad_flat(self, params, batch, others, **dask_options)
        if dask_options:
            raise TypeError(f"{self.name}: {', '.join(dask_options)} apply to dask arrays only")
        batch = [np.asarray(b) for b in batch]
        n = _rows(batch, [v.name for v in self.batch])
        step = n if not chunk_rows else int(chunk_rows)
        total = None
        for k, start in enumerate(range(0, max(n, 1), max(step, 1))):
            part = self.chunk(params, [b[start:start + step] for b in batch], others, n, k == 0)
            total = part if total is None else total + part
        return total

    def value_and_grad(self, params, *data, chunk_rows=None, **dask_options):
        """``(value, (g_1, ...))`` of the loss on all rows of ``data``.

        ``data``: one array per batch input, then the other inputs.  numpy arrays
        are cut into ``chunk_rows`` rows (None: one chunk); dask arrays by their own
        row chunks, with ``scheduler=`` (None: Dask's default, a Client if one is
        active) and ``split_every=`` (fan-in of the tree sum), see
        :func:`symback.on_dask.value_and_grad_flat`."""
        flat = self.value_and_grad_flat(params, *data, chunk_rows=chunk_rows, **dask_options)
        # chunks are added in float64; the results come back in the model's dtypes
        dtype = np.dtype(self.loss.dtype).type
        grads = [np.asarray(g).astype(p.dtype)[()] for g, p in zip(self.unflatten(flat[1:]), self.params)]
        return dtype(flat[0]), tuple(grads)

    def __call__(self, *args):
        """As a ``sb.value_and_grad`` kernel: ``dp(*params, *data) -> (value, grads)``
        (what ``sb.fit`` calls)."""
        k = len(self.params)
        return self.value_and_grad(args[:k], *args[k:])

    def forward(self, *args):
        """The loss alone, called like :meth:`__call__`."""
        return self(*args)[0]

    def fun_and_jac(self, *data, **options):
        """``f(flat_params) -> (value, flat_gradient)`` for ``scipy.optimize.minimize(jac=True)``."""
        def f(x):
            flat = self.value_and_grad_flat(self.unflatten(x), *data, **options)
            return float(flat[0]), np.array(flat[1:])
        return f

    def minimize(self, params, *data, method="L-BFGS-B", tol=None, options=None, callback=None, **vg_options):
        """Full-batch optimisation with ``scipy.optimize.minimize(jac=True)`` on the
        data-parallel gradient.  Returns ``(params, result)``: the optimum as one
        array per parameter, and scipy's ``OptimizeResult``.  ``callback(params)``
        receives the parameters (as arrays) after each iteration."""
        from scipy.optimize import minimize
        cb = None if callback is None else (lambda xk, *rest: callback(self.unflatten(xk)))
        result = minimize(self.fun_and_jac(*data, **vg_options), self.flatten(params), jac=True,
                          method=method, tol=tol, options=options, callback=cb)
        return self.unflatten(result.x), result

    def __repr__(self):
        return (f"<symback DataParallel {self.name!r}: params {', '.join(p.name for p in self.params)}; "
                f"batch {', '.join(b.name for b in self.batch)}>")


def _rows(arrays, names):
    for a, name in zip(arrays, names):
        if a.ndim == 0:
            raise ValueError(f"data_parallel: batch input {name!r} must have a row axis, got a scalar")
    n = arrays[0].shape[0]
    for a, name in zip(arrays, names):
        if a.shape[0] != n:
            raise ValueError(f"data_parallel: batch inputs {names[0]!r} and {name!r} have "
                             f"{n} and {a.shape[0]} rows; they must be equal")
    return n


def data_parallel(loss, batch, params=None, name=None):
    """Check that ``loss`` is a sum or mean over the rows of the ``batch`` variables
    of per-row terms (plus terms without the batch) and return a
    :class:`DataParallel` computing it chunk by chunk.  ``params`` (default:
    every float variable outside ``batch``) are differentiated.  A loss that
    mixes rows raises :class:`~symback.passes.separable.SeparabilityError`
    naming the op."""
    return DataParallel(loss, batch, params, name)
