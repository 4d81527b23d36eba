"""Layers, losses and initialisers for small neural networks, built from IR ops.

Every layer here is a plain function from expression nodes to an expression node,
written with the ordinary DSL (``@``, ``sb.sigmoid``, ``sb.mean``, ...).  Nothing is
hand-differentiated: the gradient of a network made of these pieces comes from
``sb.grad`` like any other model, so it can be compiled, printed and checked.

Conventions (those of ../shared/WORKLOADS.md): a batch is a matrix with one example
per row, weights are stored ``(out, in)`` and a dense layer is ``O @ W.T + b``.

Parameters are variables; :class:`Params` makes them together with their seeded
initial values, so that a model is declared once::

    p = nn.Params(seed=0)
    W1, b1 = p.dense(4, 16, init="xavier")          # variables W1 (16, 4), b1 (16,)
    W2, b2 = p.dense(16, 3, init="xavier")
    logits = nn.dense(nn.sigmoid(nn.dense(X, W1, b1)), W2, b2)
    loss = nn.softmax_cross_entropy(logits, labels)
    kernel = sb.value_and_grad(loss, p.vars, p.vars + [X, labels])
    # p.values: the initial arrays, in the order of p.vars
"""
from __future__ import annotations

import numba
import numpy as np

from .ops import build as F
from .ir import const, var

# --- activations -------------------------------------------------------------------

sigmoid, tanh, relu = F.sigmoid, F.tanh, F.relu


def identity(x):
    """No activation (the last layer of a regression net)."""
    return x


ACTIVATIONS = {"sigmoid": sigmoid, "tanh": tanh, "relu": relu, "identity": identity, None: identity}


def activation(act):
    """An activation function given by name ("sigmoid", "tanh", "relu", "identity") or as a callable."""
    if callable(act):
        return act
    try:
        return ACTIVATIONS[act]
    except KeyError:
        raise ValueError(f"unknown activation {act!r}; choose from sigmoid, tanh, relu, identity") from None


# --- layers ------------------------------------------------------------------------


def dense(o, W, b=None, name=None):
    """Affine layer of a row batch: ``o @ W.T + b`` with ``W`` stored (out, in).

    The result is named (``sb.name``) ``name`` or, for a weight variable
    ``W1``, ``W1_out``, so the generated code shows the layer it belongs to."""
    z = o @ W.T
    z = z if b is None else z + b
    # (inside a loop's step, W is a placeholder: its values are the layers', unnamed)
    name = name or (f"{W.name}_out" if W.op == "var" and not W.name.startswith("_") else None)
    return z.named(name) if name else z


def repeat(layer, o, layers):
    """``o = layer(o, *p)`` for each ``p`` of ``layers`` (per-layer tuples of
    variables, as :meth:`Params.dense` and :meth:`Params.residual` give them),
    as ONE loop over their stacks (``sb.scan``): the graph, its gradient and the
    generated code are the same size for any depth, and the kernel still takes
    and returns one array per variable::

        o = nn.repeat(lambda o, W, b: nn.sigmoid(nn.dense(o, W, b)), X,
                      [p.dense(32, 32) for _ in range(50)])
        o = nn.repeat(nn.residual, X, [p.residual(32) for _ in range(50)])

    (A Python loop over the layers compiles as a loop too, by automatic
    rerolling; this says so explicitly, and fails at build time, naming the
    layer, if the layers do not all have the same shapes.)"""
    from .control_flow import scan
    layers = [tuple(p) if isinstance(p, (tuple, list)) else (p,) for p in layers]
    if not layers:
        return o
    for i, p in enumerate(layers[1:], start=2):
        if len(p) != len(layers[0]) or any(a.shape != b.shape or a.dtype != b.dtype for a, b in zip(p, layers[0])):
            raise ValueError(f"repeat: layer {i} has parameters of shapes {[a.shape for a in p]}, "
                             f"layer 1 {[a.shape for a in layers[0]]}; repeated layers must be alike")
    stacks = tuple(F.stack(list(column)) for column in zip(*layers))
    out, _ = scan(lambda c, ps: (layer(c, *ps), None), o, stacks)
    return out


def residual(o, W, c, V, b, act="sigmoid"):
    """Residual block ``o + V act(W o + c) + b`` (row batch: ``o + dense(act(dense(o, W, c)), V, b)``).

    The identity path gives every layer's adjoint a direct route back to the input,
    which is why a deep stack of these does not lose its gradient the way a stack of
    sigmoid layers does (see examples/vanishing_gradients)."""
    return o + dense(activation(act)(dense(o, W, c)), V, b)


def layer_norm(o, gain, bias, eps=1e-5):
    """Normalise each row (example) over its features, then scale by ``gain`` and shift by ``bias``.

    ``(o - mean) / sqrt(var + eps) * gain + bias`` with the mean and the biased variance
    of each row; ``eps`` keeps the division finite for a constant row.  Statistics are
    per example, so training and inference compute the same thing."""
    mu = F.mean(o, axis=-1, keepdims=True)
    centred = o - mu
    var_ = F.mean(centred * centred, axis=-1, keepdims=True)
    return centred / F.sqrt(var_ + eps) * gain + bias


def batch_stats(o):
    """The batch mean and (biased) batch variance of each feature: two nodes of shape ``(features,)``.

    The same nodes that :func:`batch_norm` uses in training mode (hash-consing makes
    them one), so ``sb.compile(list(nn.batch_stats(o)), inputs)`` computes the values
    that :func:`update_running_stats` needs."""
    mu = F.mean(o, axis=0)
    centred = o - mu
    return mu, F.mean(centred * centred, axis=0)


def batch_norm(o, gain, bias, eps=1e-5, running=None):
    """Batch normalisation of a row batch, feature by feature.

    Training mode (``running=None``): normalise with the statistics of the batch
    itself, so the gradient flows through the mean and variance too (that is what
    makes batch norm a different function from a fixed affine map).
    Inference mode (``running=(mean, var)``, two variables or arrays of shape
    ``(features,)``): normalise with running statistics gathered during training
    (see :func:`update_running_stats`); then each example is treated on its own."""
    if running is None:
        mu, var_ = batch_stats(o)
    else:
        mu, var_ = running
    return (o - mu) / F.sqrt(var_ + eps) * gain + bias


@numba.njit(cache=True)
def update_running_stats(running_mean, running_var, batch_mean, batch_var, n, momentum=0.1):
    """In place: ``running <- (1 - momentum) running + momentum batch`` for batch norm.

    The variance is stored unbiased (times ``n / (n - 1)`` for a batch of ``n``), as
    PyTorch does, because at inference it estimates the population variance."""
    correction = n / (n - 1.0) if n > 1 else 1.0
    for j in range(running_mean.shape[0]):
        running_mean[j] = (1.0 - momentum) * running_mean[j] + momentum * batch_mean[j]
        running_var[j] = (1.0 - momentum) * running_var[j] + momentum * batch_var[j] * correction


def dropout(o, mask):
    """Inverted dropout: ``o * mask``, with ``mask`` an input from :func:`dropout_mask`.

    The mask is data, not part of the graph, so the compiled kernel is deterministic
    and the randomness is the seeded generator's.  Its kept entries already hold
    ``1 / (1 - rate)`` (inverted-dropout scaling keeps the expected activation), so for
    evaluation one passes a mask of ones to the same kernel and nothing is rescaled."""
    return o * mask


def dropout_mask(rng, shape, rate, dtype="float64"):
    """A dropout mask: 0 with probability ``rate``, else ``1 / (1 - rate)``; ``rng`` a numpy Generator."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout_mask: rate must lie in [0, 1), got {rate}")
    keep = rng.random(shape) >= rate
    return keep.astype(dtype) / (1.0 - rate)


# --- losses: one value per example, then the mean (or sum) over the batch ------------


def _reduce(per_example, reduction, what):
    if reduction == "mean":
        return F.mean(per_example)
    if reduction == "sum":
        return F.sum(per_example)
    if reduction == "none":
        return per_example
    raise ValueError(f"{what}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _per_example(elementwise, how):
    """Collapse the output axes of a per-element loss to one value per example (row)."""
    if elementwise.ndim <= 1:
        return elementwise
    axes = tuple(range(1, elementwise.ndim))
    return F.sum(elementwise, axes) if how == "sum" else F.mean(elementwise, axes)


def square(y, t, reduction="mean"):
    """The lecture's square loss ``1/2 (y - t)^2`` (summed over outputs), averaged over the batch.

    The 1/2 makes its derivative simply ``y - t``."""
    d = y - t
    return _reduce(_per_example(0.5 * (d * d), "sum"), reduction, "square")


def mse(y, t, reduction="mean"):
    """Mean squared error: ``mean((y - t)^2)`` over outputs, then over the batch (W4's loss)."""
    d = y - t
    return _reduce(_per_example(d * d, "mean"), reduction, "mse")


def binary_cross_entropy(logits, t, reduction="mean"):
    """Binary cross-entropy of targets ``t`` in [0, 1] given logits ``z`` (not probabilities).

    Written as ``max(z, 0) - z t + log(1 + exp(-|z|))``, which equals
    ``-t log sigmoid(z) - (1 - t) log(1 - sigmoid(z))`` but never overflows: ``exp`` only
    sees non-positive numbers, and a confident wrong prediction costs ~|z| instead of
    ``log(0)``.  At z = 0 the conventions (maximum splits 0.5/0.5, abs'(0) = 0) give the
    exact derivative ``sigmoid(0) - t``."""
    elementwise = F.maximum(logits, 0.0) - logits * t + F.log(1.0 + F.exp(-F.abs(logits)))
    return _reduce(_per_example(elementwise, "sum"), reduction, "binary_cross_entropy")


def softmax_cross_entropy(logits, labels, reduction="mean"):
    """Softmax cross-entropy of integer class ``labels`` (int64), via the stable op
    ``sb.softmax_cross_entropy`` (its adjoint is ``softmax - onehot``)."""
    return _reduce(F.softmax_cross_entropy(logits, labels), reduction, "softmax_cross_entropy")


def l2(weights, lam):
    """L2 regularisation ``lam/2 * sum ||W||^2`` over ``weights`` (usually weights, not biases).

    Added to the loss, its gradient ``lam W`` is "weight decay"; it comes from the compiler."""
    total = None
    for W in weights:
        term = F.sum(W * W)
        total = term if total is None else total + term
    return 0.5 * lam * total if total is not None else const(0.0)


# --- initialisers (numpy; every one takes a numpy Generator, so runs are seeded) ------


def _fans(shape):
    """(fan_in, fan_out) of a weight stored (out, in); a vector counts as (1, n)."""
    if len(shape) == 1:
        return 1, shape[0]
    return shape[1], shape[0]


def zeros(rng, shape):
    return np.zeros(shape)


def normal(rng, shape, std=0.1):
    """Small normal weights N(0, std^2); the lectures' N(0, 0.1^2) is the default."""
    return rng.normal(0.0, std, shape)


def uniform(rng, shape, scale=0.1):
    """Small uniform weights U(-scale, scale)."""
    return rng.uniform(-scale, scale, shape)


def xavier(rng, shape):
    """Glorot/Xavier normal: variance 2 / (fan_in + fan_out), keeps the variance of the
    activations and of the adjoints about constant through tanh/sigmoid-like layers."""
    fan_in, fan_out = _fans(shape)
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), shape)


def xavier_uniform(rng, shape):
    """Glorot/Xavier uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (same variance as :func:`xavier`)."""
    fan_in, fan_out = _fans(shape)
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, shape)


def he(rng, shape):
    """He/Kaiming normal: variance 2 / fan_in, since ReLU zeroes half of its inputs."""
    fan_in, _ = _fans(shape)
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)


def he_uniform(rng, shape):
    """He/Kaiming uniform: U(-a, a) with a = sqrt(6 / fan_in)."""
    fan_in, _ = _fans(shape)
    a = np.sqrt(6.0 / fan_in)
    return rng.uniform(-a, a, shape)


INITIALISERS = {"zeros": zeros, "normal": normal, "uniform": uniform, "xavier": xavier,
                "xavier_uniform": xavier_uniform, "he": he, "he_uniform": he_uniform}


def initial_value(init, rng, shape):
    """Draw an initial value: ``init`` is a name of :data:`INITIALISERS`, a number ``s``
    (N(0, s^2); 0 means zeros), a callable ``(rng, shape) -> array`` or an array."""
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if isinstance(init, str):
        if init not in INITIALISERS:
            raise ValueError(f"unknown initialiser {init!r}; choose from {', '.join(INITIALISERS)}")
        value = INITIALISERS[init](rng, shape)
    elif isinstance(init, (int, float)):
        value = normal(rng, shape, float(init)) if init else np.zeros(shape)
    elif callable(init):
        value = init(rng, shape)
    else:
        value = np.array(init, dtype=np.float64)
    value = np.asarray(value, dtype=np.float64)
    if value.shape != shape:
        raise ValueError(f"initialiser gave shape {value.shape}, expected {shape}")
    return value


class Params:
    """The parameters of a model: variables, in order, with their initial values.

    ``Params(seed)`` (or ``Params(rng)`` to continue a generator, e.g. after drawing
    data, as WORKLOADS.md does) draws every initial value from one numpy Generator in
    the order the layers are declared, so the same declarations give the same numbers.
    ``vars`` is what ``sb.value_and_grad`` differentiates; ``values`` is what the
    optimizer starts from (``optim.SGD(p.values, ...)``)."""

    def __init__(self, seed=0, dtype="float64"):
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.dtype = np.dtype(dtype).name
        self.vars, self.values = [], []
        self._layers = 0

    def add(self, name, shape, init=0.0):
        """A parameter variable ``name`` of ``shape`` with a value drawn by ``init``."""
        value = initial_value(init, self.rng, shape).astype(self.dtype)
        v = var(name, tuple(shape), self.dtype)
        if any(v is u for u in self.vars):
            raise ValueError(f"Params: a parameter named {name!r} of that shape already exists")
        self.vars.append(v)
        self.values.append(value)
        return v

    def _suffix(self, name):
        self._layers += 1
        return str(self._layers) if name is None else str(name)

    def dense(self, n_in, n_out, init="xavier", bias=0.0, name=None):
        """Variables ``W<name>`` (n_out, n_in) and ``b<name>`` (n_out,); ``name`` defaults
        to the layer's number (1, 2, ...).  The weight is drawn before the bias."""
        s = self._suffix(name)
        return self.add(f"W{s}", (n_out, n_in), init), self.add(f"b{s}", (n_out,), bias)

    def residual(self, width, init=0.1, bias=0.1, name=None):
        """Variables ``W, c, V, b`` (suffixed) of a :func:`residual` block of ``width``, drawn in that order."""
        s = self._suffix(name)
        return (self.add(f"W{s}", (width, width), init), self.add(f"c{s}", (width,), bias),
                self.add(f"V{s}", (width, width), init), self.add(f"b{s}", (width,), bias))

    def norm(self, width, name=None, prefix="ln"):
        """Gain (ones) and bias (zeros) of a layer or batch norm over ``width`` features."""
        s = self._suffix(name)
        return (self.add(f"{prefix}_gain{s}", (width,), lambda rng, shape: np.ones(shape)),
                self.add(f"{prefix}_bias{s}", (width,), 0.0))

    def __len__(self):
        return len(self.vars)

    def __repr__(self):
        return f"Params({', '.join(f'{v.name}{tuple(v.shape)}' for v in self.vars)})"


# --- evaluation helpers (numpy) --------------------------------------------------------


def accuracy(outputs, labels):
    """Fraction of correct predictions: ``argmax`` of each row of logits or probabilities
    against integer ``labels``; for a single output column (or a vector) a logit > 0
    means class 1."""
    outputs = np.asarray(outputs)
    labels = np.asarray(labels).reshape(-1)
    if outputs.ndim == 1 or outputs.shape[1] == 1:
        predicted = (outputs.reshape(-1) > 0).astype(labels.dtype)
    else:
        predicted = np.argmax(outputs, axis=1)
    return float(np.mean(predicted == labels))

