"""HIPS autograd: ``autograd.value_and_grad(loss, argnum=(0, 1, ...))`` on numpy arrays.

The losses are written with ``autograd.numpy``; forward-only calls the same loss
untraced (plain numpy underneath)."""
import autograd
import autograd.numpy as anp
from autograd.scipy.special import logsumexp

from ._common import System, as_numpy_result, n_params, numpy_args, split_deep

NAME = "autograd"
WORKLOADS = ("W1", "W1v", "W2", "W3", "W3f", "W3g", "W3fg", "W4", "W4r", "W5")


def versions():
    from importlib.metadata import version
    return {"autograd": version("autograd")}


def sigmoid(a):
    return 1.0 / (1.0 + anp.exp(-a))


def loss_W1(x, z):
    lx, xz = anp.log(x), x * z
    return anp.exp(xz) + xz / lx + anp.sin(lx) / xz


def loss_W1v(x, z):
    return anp.sum(loss_W1(x, z))


def mean_cross_entropy(logits, labels):
    picked = logits[anp.arange(logits.shape[0]), labels]
    return anp.mean(logsumexp(logits, axis=1) - picked)


def loss_W2(V, b1, W, b2, X, labels):
    z = sigmoid(anp.dot(X, V.T) + b1)
    return mean_cross_entropy(anp.dot(z, W.T) + b2, labels)


def loss_W3(W1, b1, W2, b2, W3, b3, X, labels):
    h1 = anp.maximum(anp.dot(X, W1.T) + b1, 0.0)
    h2 = anp.maximum(anp.dot(h1, W2.T) + b2, 0.0)
    return mean_cross_entropy(anp.dot(h2, W3.T) + b3, labels)


def loss_W4(*args):
    layers, W_out, b_out, X, target = split_deep(args, 2)
    o = X
    for W, b in layers:
        o = sigmoid(anp.dot(o, W.T) + b)
    return anp.mean((anp.dot(o, W_out.T) + b_out - target) ** 2)


def loss_W4r(*args):
    layers, W_out, b_out, X, target = split_deep(args, 4)
    o = X
    for W, c, V, b in layers:
        o = o + anp.dot(sigmoid(anp.dot(o, W.T) + c), V.T) + b
    return anp.mean((anp.dot(o, W_out.T) + b_out - target) ** 2)


def make_loss_W5(K):
    def loss_W5(x, a):
        u = x
        for _ in range(K):
            u = anp.sin(u) * u + anp.cos(a * u)
        return u
    return loss_W5


LOSS = {"W1": loss_W1, "W1v": loss_W1v, "W2": loss_W2, "W3": loss_W3, "W3f": loss_W3,
        "W3g": loss_W3, "W3fg": loss_W3,   # symback's generic-loss W3: peers keep their best form
        "W4": loss_W4, "W4r": loss_W4r}


def prepare(workload, data):
    loss = make_loss_W5(data["K"]) if workload == "W5" else LOSS[workload]
    vag = autograd.value_and_grad(loss, argnum=tuple(range(n_params(workload))))
    return System(vag, loss, numpy_args(workload, data), as_numpy_result, {})
