"""``sb.fit``: mini-batch training with a compiled ``value_and_grad`` kernel.

The loop is deliberately small: per batch, one call of the compiled kernel (value and
every gradient at once) and one call of the optimizer's compiled update.  Everything
else (shuffling, batching, bookkeeping) is numpy on whole arrays.

    kernel = sb.value_and_grad(loss, p.vars, p.vars + [X, labels])
    predict = sb.compile(logits, p.vars + [X])            # optional: for accuracy
    opt = sb.optim.Adam(p.values, lr=0.01)
    history = sb.fit(kernel, opt, (X_train, y_train), epochs=100, batch_size=16, predict=predict)
    history.loss[-1], history.accuracy[-1]                # trained parameters: opt.params

The kernel's arguments must be the parameters (in the optimizer's order), then the
data arrays (batched along their first axis), then any per-batch ``extras`` (e.g.
dropout masks).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from . import nn, optim  # noqa: F401  (re-exported by symback/__init__.py)


@dataclass
class History:
    """What happened, one entry per epoch: mean training loss over the epoch's batches
    (as the parameters moved), training accuracy at the end of the epoch (with
    ``predict``), validation loss and accuracy (with ``validation``), learning rate, and
    seconds.  ``stop_reason`` says why training ended."""

    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    stop_reason: str = ""

    @property
    def epochs(self):
        return len(self.loss)

    def as_dict(self):
        return {k: v for k, v in self.__dict__.items() if v != []}


def _progress(epochs, enabled):
    """A tqdm bar over the epochs when tqdm is installed and ``enabled``; else a plain range."""
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # tqdm is optional: train silently without it
            pass
        else:
            return tqdm(range(epochs), desc="epochs", unit="epoch", leave=False)
    return range(epochs)


def _as_tuple(data, what):
    from .data_parallel import is_dask
    if isinstance(data, np.ndarray) or is_dask(data):
        data = (data,)
    data = tuple(d if is_dask(d) else np.asarray(d) for d in data)
    if not data:
        raise ValueError(f"fit: {what} is empty")
    n = data[0].shape[0]
    if any(d.shape[0] != n for d in data):
        raise ValueError(f"fit: the arrays of {what} have different numbers of rows: "
                         f"{[d.shape[0] for d in data]}")
    return data, n


def _check_dask(kernel, data, validation, predict, extras):
    """True when training on dask arrays; refuse what cannot work there, by name."""
    from .data_parallel import DataParallel, is_dask
    arrays = list(data) + list(validation or ())
    if not any(is_dask(d) for d in arrays):
        return False
    if not isinstance(kernel, DataParallel):
        raise TypeError("fit: dask arrays need a data-parallel kernel, sb.data_parallel(loss, batch=[...]), "
                        f"got {type(kernel).__name__}")
    if predict is not None:
        raise ValueError("fit: predict= (accuracy) is not computed on dask arrays; leave it out")
    if extras is not None:
        raise ValueError("fit: extras= (per-batch arrays) are not supported with dask arrays")
    return True


def _logits(predict, params, X):
    out = predict(*params, X)
    return out[0] if isinstance(out, tuple) else out


def evaluate_loss(kernel, params, data, extras=None):
    """The loss on all of ``data`` at ``params`` (the kernel's forward entry, one call)."""
    data, n = _as_tuple(data, "data")
    more = tuple(extras(None, n, False)) if extras else ()
    forward = getattr(kernel, "forward", None) or (lambda *a: kernel(*a)[0])
    return float(forward(*params, *data, *more))


def fit(kernel, optimizer, data, *, epochs=100, batch_size=32, shuffle=True, seed=0,
        predict=None, validation=None, extras=None, early_stopping=None, tol=None,
        on_batch=None, progress=True):
    """Train the parameters of ``optimizer`` (in place) on ``data``; return a :class:`History`.

    kernel     a value_and_grad kernel called as ``kernel(*optimizer.params, *batch, *extras)``
               returning ``(loss, grads)``; its ``forward`` entry gives validation losses
    data       a tuple of arrays with one row per example (e.g. ``(X, labels)``); the last
               one is taken as the labels for accuracy
    batch_size examples per step (the last batch of an epoch may be smaller); ``None``: all
    shuffle    a fresh seeded permutation of the examples each epoch (with dask arrays: of
               the batches, since moving rows between workers costs more than it gives)
    seed       seeds shuffling and ``extras``: the same seed gives the same history
    predict    optional ``predict(*params, X) -> logits`` (e.g. ``sb.compile(logits, params + [X])``)
               for training/validation accuracy (argmax of rows; one column: logit > 0)
    validation optional tuple of arrays like ``data``: validation loss (and accuracy) per epoch
    extras     optional ``extras(rng, n, training) -> tuple of arrays`` appended to each call,
               e.g. dropout masks: drawn from ``rng`` when training; for evaluation
               (``training=False``, ``rng=None``) return what means "off" (masks of ones)
    early_stopping  an :class:`optim.EarlyStopping` on the validation loss (the training
               loss without ``validation``); restores the best parameters if it stops
    tol        stop when the epoch loss changes by less than ``tol`` from the previous epoch
    on_batch   optional ``on_batch(params, batch, more)`` after each step (e.g. to update
               batch-norm running statistics)
    progress   show a tqdm progress bar when tqdm is installed (silently none otherwise)

    With dask arrays as ``data`` (and ``validation``), ``kernel`` must be a
    :class:`~symback.data_parallel.DataParallel` (``sb.data_parallel(loss, batch=...)``):
    each step's gradient is then computed chunk by chunk where the chunks live
    (threads, or the workers of a ``dask.distributed`` Client) and summed; the
    optimizer steps in this process.
    """
    data, n = _as_tuple(data, "data")
    if validation is not None:
        validation, _ = _as_tuple(validation, "validation")
    on_dask = _check_dask(kernel, data, validation, predict, extras)
    batch_size = n if batch_size is None else int(batch_size)
    if batch_size < 1:
        raise ValueError(f"fit: batch_size must be positive, got {batch_size}")
    seeds = np.random.SeedSequence(seed).spawn(2)
    order_rng, extras_rng = np.random.default_rng(seeds[0]), np.random.default_rng(seeds[1])
    params = optimizer.params
    history = History()
    if early_stopping is not None:
        early_stopping.reset()
    bar = _progress(epochs, progress)
    history.stop_reason = f"{epochs} epochs"
    for epoch in bar:
        t0 = time.perf_counter()
        history.lr.append(optimizer.learning_rate())
        # one permuted copy of the data per epoch; its batches are contiguous slices
        starts = range(0, n, batch_size)
        if shuffle and on_dask:     # rows stay where they are: the batches come in a new order
            starts = order_rng.permutation(np.arange(0, n, batch_size))
            epoch_data = data
        elif shuffle:
            order = order_rng.permutation(n)
            epoch_data = tuple(d[order] for d in data)
        else:
            epoch_data = data
        total = 0.0
        for start in starts:
            batch = tuple(d[start:start + batch_size] for d in epoch_data)
            m = batch[0].shape[0]
            more = tuple(extras(extras_rng, m, True)) if extras else ()
            loss, grads = kernel(*params, *batch, *more)
            optimizer.step(grads)
            if on_batch is not None:
                on_batch(params, batch, more)
            total += float(loss) * m
        history.loss.append(total / n)
        if predict is not None:
            history.accuracy.append(nn.accuracy(_logits(predict, params, data[0]), data[-1]))
        monitored = history.loss[-1]
        if validation is not None:
            history.val_loss.append(evaluate_loss(kernel, params, validation, extras))
            monitored = history.val_loss[-1]
            if predict is not None:
                history.val_accuracy.append(nn.accuracy(_logits(predict, params, validation[0]), validation[-1]))
        history.seconds.append(time.perf_counter() - t0)
        if hasattr(bar, "set_postfix"):
            shown = {"loss": f"{history.loss[-1]:.4g}"}
            if history.accuracy:
                shown["acc"] = f"{history.accuracy[-1]:.3f}"
            if history.val_loss:
                shown["val_loss"] = f"{history.val_loss[-1]:.4g}"
            bar.set_postfix(shown, refresh=False)
        if not math.isfinite(history.loss[-1]):
            history.stop_reason = f"the loss is not finite at epoch {epoch + 1}"
            break
        if early_stopping is not None and early_stopping.update(monitored, [optimizer.flat.data]):
            if early_stopping.restore_best and early_stopping.best_params is not None:
                optimizer.flat.data[...] = early_stopping.best_params[0]
            what = "validation" if validation is not None else "training"
            history.stop_reason = (f"early stopping at epoch {epoch + 1}: no {what} improvement for "
                                   f"{early_stopping.patience} epochs (best at epoch {early_stopping.best_epoch + 1})")
            break
        if tol is not None and len(history.loss) > 1 and abs(history.loss[-2] - history.loss[-1]) < tol:
            history.stop_reason = f"the loss changed by less than {tol:g} at epoch {epoch + 1}"
            break
    if hasattr(bar, "close"):
        bar.close()
    return history
