"""Optimizers as compiled in-place update kernels over all parameters at once.

Why a flat buffer: a network has many parameter arrays (W4r has 202), and a Python
loop over them on every step costs more than the arithmetic for a small network.  So
an optimizer copies the initial values into ONE contiguous float buffer and hands out
per-parameter views of it (``opt.params``: pass them to the kernel).  A step gathers
the kernel's gradients with one ``np.concatenate`` and runs one ``@numba.njit(cache=True)``
loop over the flat arrays (parameters, gradient, optimizer state), updating the
parameters in place, so the views see the new values.

    opt = optim.Adam(p.values, lr=1e-3)
    loss, grads = kernel(*opt.params, X, labels)
    opt.step(grads)

The update rules are the lectures', with the step count t starting at 1:

    SGD        W <- W - eta G
    Momentum   D <- beta D + G,  W <- W - eta D    i.e. W <- W - eta (beta G_prev + G),
               G_prev being the previous step's direction D (so D = G at the first step)
    Momentum(average=True)   m <- beta m + (1 - beta) G,  W <- W - eta m
    RMSProp    s <- rho s + (1 - rho) G^2,  W <- W - eta G / (sqrt(s) + eps)
    Adam       m <- b1 m + (1 - b1) G,  v <- b2 v + (1 - b2) G^2,
               W <- W - eta m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)

``lr`` is a number or a schedule: a callable from the step index (0, 1, ...) to the
learning rate (see :func:`step_decay`, :func:`exponential_decay`, ...).
"""
from __future__ import annotations

import math

import numba
import numpy as np

# --- the update kernels: one loop over every parameter -----------------------------


@numba.njit(cache=True)
def _sgd(w, g, lr):
    for i in range(w.shape[0]):
        w[i] -= lr * g[i]


@numba.njit(cache=True)
def _momentum(w, g, d, lr, beta, scale):
    # scale = 1: D <- beta D + G (heavy ball); scale = 1 - beta: moving average of G
    for i in range(w.shape[0]):
        d[i] = beta * d[i] + scale * g[i]
        w[i] -= lr * d[i]


@numba.njit(cache=True)
def _rmsprop(w, g, s, lr, rho, eps):
    for i in range(w.shape[0]):
        s[i] = rho * s[i] + (1.0 - rho) * g[i] * g[i]
        w[i] -= lr * g[i] / (np.sqrt(s[i]) + eps)


@numba.njit(cache=True)
def _adam(w, g, m, v, lr, beta1, beta2, eps, correction1, correction2):
    for i in range(w.shape[0]):
        m[i] = beta1 * m[i] + (1.0 - beta1) * g[i]
        v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i]
        w[i] -= lr * (m[i] / correction1) / (np.sqrt(v[i] / correction2) + eps)


# --- parameters in one buffer ------------------------------------------------------------


class FlatParams:
    """Parameter arrays stored back to back in one contiguous buffer.

    ``data`` is the flat buffer, ``views`` are the arrays with their own shapes (each
    a C-contiguous view of ``data``): writing through either is writing the other."""

    def __init__(self, arrays, dtype=None):
        arrays = [np.asarray(a) for a in arrays]
        if not arrays:
            raise ValueError("FlatParams: no parameters")
        dtype = np.dtype(dtype or np.result_type(*arrays))
        if dtype.kind != "f":
            raise TypeError(f"FlatParams: parameters must be floating point, got {dtype}")
        self.shapes = [a.shape for a in arrays]
        sizes = [a.size for a in arrays]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.data = np.empty(int(self.offsets[-1]), dtype=dtype)
        self.views = [self.data[o:o + n].reshape(s)
                      for o, n, s in zip(self.offsets[:-1], sizes, self.shapes)]
        for view, a in zip(self.views, arrays):
            view[...] = a

    def gather(self, grads):
        """The gradients ``grads`` (one per parameter, in order) as one flat array."""
        flat = np.concatenate(grads, axis=None)
        if flat.shape != self.data.shape:
            raise ValueError(f"got gradients with {flat.size} numbers for {self.data.size} parameters")
        return flat if flat.dtype == self.data.dtype else flat.astype(self.data.dtype)

    def copy(self):
        """The parameter values as a list of fresh arrays."""
        return [v.copy() for v in self.views]

    def __len__(self):
        return len(self.views)


class Optimizer:
    """Base class: holds the flat parameters, the step count and the learning rate.

    Subclasses set up their state in ``__init__`` and implement ``_update(g, lr)``."""

    def __init__(self, params, lr):
        self.flat = params if isinstance(params, FlatParams) else FlatParams(params)
        self.lr = lr
        self.t = 0          # steps taken

    @property
    def params(self):
        """The parameters (views of the flat buffer): what the kernel is called with."""
        return self.flat.views

    def _state(self):
        return np.zeros_like(self.flat.data)

    def learning_rate(self, t=None):
        """The learning rate of step ``t`` (default: the next step)."""
        t = self.t if t is None else t
        return float(self.lr(t)) if callable(self.lr) else float(self.lr)

    def step(self, grads):
        """One update with ``grads`` (a sequence, one array per parameter, as the kernel returns them)."""
        g = self.flat.gather(grads)
        lr = self.learning_rate()
        self.t += 1
        self._update(g, lr)

    def _update(self, g, lr):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr}, {self.flat.data.size} numbers in {len(self.flat)} arrays, t={self.t})"


class SGD(Optimizer):
    """Plain gradient descent: ``W <- W - eta G``."""

    def _update(self, g, lr):
        _sgd(self.flat.data, g, lr)


class Momentum(Optimizer):
    """Momentum, in either of the lectures' forms.

    ``average=False`` (heavy ball): ``W <- W - eta (beta G_prev + G)``, where ``G_prev`` is the
    previous step's direction, so directions accumulate: ``D <- beta D + G``, ``W <- W - eta D``.
    ``average=True``: a moving average of the gradients, ``m <- beta m + (1 - beta) G``,
    ``W <- W - eta m`` (the same path as the other form with eta scaled by 1 - beta)."""

    def __init__(self, params, lr=0.01, beta=0.9, average=False):
        super().__init__(params, lr)
        self.beta, self.average = float(beta), bool(average)
        self.direction = self._state()

    def _update(self, g, lr):
        _momentum(self.flat.data, g, self.direction, lr, self.beta, 1.0 - self.beta if self.average else 1.0)


class RMSProp(Optimizer):
    """RMSProp: ``s <- rho s + (1 - rho) G^2``, ``W <- W - eta G / (sqrt(s) + eps)``: each
    number's step is scaled by the recent size of its own gradient."""

    def __init__(self, params, lr=0.001, rho=0.9, eps=1e-8):
        super().__init__(params, lr)
        self.rho, self.eps = float(rho), float(eps)
        self.square_avg = self._state()

    def _update(self, g, lr):
        _rmsprop(self.flat.data, g, self.square_avg, lr, self.rho, self.eps)


class Adam(Optimizer):
    """Adam: momentum (``m``) and RMSProp (``v``) together, with bias correction
    ``m / (1 - b1^t)``, ``v / (1 - b2^t)`` (both start at zero, so early averages are too
    small without it) and ``eps`` in the denominator."""

    def __init__(self, params, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(params, lr)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.m, self.v = self._state(), self._state()

    def _update(self, g, lr):
        t = self.t
        _adam(self.flat.data, g, self.m, self.v, lr, self.beta1, self.beta2, self.eps,
              1.0 - self.beta1 ** t, 1.0 - self.beta2 ** t)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "rmsprop": RMSProp, "adam": Adam}

# --- learning-rate schedules: step index t = 0, 1, ... -> learning rate ------------------


def constant(lr):
    return lambda t: lr


def step_decay(lr, factor=0.5, every=100):
    """``lr * factor ** (t // every)``: drop by ``factor`` every ``every`` steps."""
    return lambda t: lr * factor ** (t // every)


def exponential_decay(lr, gamma=0.99):
    """``lr * gamma ** t``."""
    return lambda t: lr * gamma ** t


def inverse_time_decay(lr, k=0.01):
    """``lr / (1 + k t)``: the classic Robbins-Monro-style decay."""
    return lambda t: lr / (1.0 + k * t)


def cosine_decay(lr, total, lr_min=0.0):
    """Half a cosine from ``lr`` down to ``lr_min`` over ``total`` steps, then ``lr_min``."""
    return lambda t: lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * min(t, total) / total))


# --- early stopping ----------------------------------------------------------------------


class EarlyStopping:
    """Stop when the monitored loss (usually the validation loss) has not improved by
    more than ``min_delta`` for ``patience`` checks in a row.

    ``update(loss)`` records one check and returns True when training should stop;
    ``best``, ``best_epoch`` (0-based index of the best check) and ``best_params``
    (a copy of the parameters at the best check, when ``params`` are given to ``update``)
    let the caller go back to the best model (``restore_best`` in ``sb.fit``)."""

    def __init__(self, patience=10, min_delta=0.0, restore_best=True):
        self.patience, self.min_delta, self.restore_best = int(patience), float(min_delta), bool(restore_best)
        self.reset()

    def reset(self):
        self.best, self.best_epoch, self.best_params = math.inf, -1, None
        self.bad, self.checks = 0, 0

    def update(self, loss, params=None):
        loss = float(loss)
        if loss < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad = loss, self.checks, 0
            if params is not None and self.restore_best:
                self.best_params = [np.array(p, copy=True) for p in params]
        else:
            self.bad += 1
        self.checks += 1
        return self.bad >= self.patience
