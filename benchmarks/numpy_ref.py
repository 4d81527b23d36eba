"""Hand-written numpy references: forward-only loss and value_and_grad for every workload.

These are the "what a careful person writes by hand" baseline the generated kernels are
timed and checked against: classic backprop, layer by layer, no autodiff. Every function
takes the workload's parameters (in `PARAMS[w]` order) then its data inputs (`INPUTS[w]`),
see `benchmarks.workloads.args`. `value_and_grad_*` returns `(loss, (g_1, g_2, ...))` in
`PARAMS[w]` order. Functions are dtype-generic: float32 inputs give float32 work and
results (W3f); nothing here uses anything but numpy and `math`.

Conventions: relu'(0) = 0; softmax cross-entropy goes through a max-shifted logsumexp.
The scalar workloads (W1, W5) use `math`, not numpy ufuncs, because a numpy call on a
Python scalar costs about a microsecond of overhead: the fair scalar baseline is `math`.
"""
import math

import numpy as np

from .workloads import INPUTS, PARAMS  # noqa: F401  (re-exported: the gradient order)


# ---- W1: lecture scalar --------------------------------------------------------------

def loss_W1(x, z):
    """y = exp(x z) + x z / log x + sin(log x) / (x z)."""
    lx, xz = math.log(x), x * z
    return math.exp(xz) + xz / lx + math.sin(lx) / xz


def value_and_grad_W1(x, z):
    """y and its analytic partials:
    dy/dx = z e^{xz} + z (log x - 1) / log^2 x + (cos log x - sin log x) / (x^2 z)
    dy/dz = x e^{xz} + x / log x - sin(log x) / (x z^2)."""
    lx, xz = math.log(x), x * z
    e, s, c = math.exp(xz), math.sin(lx), math.cos(lx)
    y = e + xz / lx + s / xz
    gx = z * e + z * (lx - 1.0) / (lx * lx) + (c - s) / (x * xz)
    gz = x * e + x / lx - s / (xz * z)
    return y, (gx, gz)


# ---- W1v: the same formula over arrays -----------------------------------------------

def loss_W1v(x, z):
    """sum over points of the W1 formula."""
    lx, xz = np.log(x), x * z
    return np.sum(np.exp(xz) + xz / lx + np.sin(lx) / xz)


def value_and_grad_W1v(x, z):
    """sum(y) and the elementwise partials (the gradient of a sum is the partials)."""
    lx, xz = np.log(x), x * z
    e, s, c = np.exp(xz), np.sin(lx), np.cos(lx)
    y = np.sum(e + xz / lx + s / xz)
    gx = z * e + z * (lx - 1.0) / (lx * lx) + (c - s) / (x * xz)
    gz = x * e + x / lx - s / (xz * z)
    return y, (gx, gz)


# ---- shared pieces -------------------------------------------------------------------

def _sigmoid(a):
    # exp(-a) overflows to inf for a < -709 and gives the right limit 0; the workloads'
    # activations never get there, so the plain textbook form is the honest baseline.
    return 1.0 / (1.0 + np.exp(-a))


def _softmax_ce(logits, labels):
    """Mean softmax cross-entropy and its gradient w.r.t. the logits ((softmax - onehot)/N)."""
    n = logits.shape[0]
    rows = np.arange(n)
    m = logits.max(axis=1, keepdims=True)
    shifted = logits - m
    lse = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = np.mean(lse[:, 0] - shifted[rows, labels])
    g = np.exp(shifted - lse)                    # softmax
    g[rows, labels] -= 1
    g /= n
    return loss, g


def _ce_only(logits, labels):
    m = logits.max(axis=1, keepdims=True)
    shifted = logits - m
    lse = np.log(np.exp(shifted).sum(axis=1))
    return np.mean(lse - shifted[np.arange(logits.shape[0]), labels])


# ---- W2: sigmoid MLP, softmax CE -----------------------------------------------------

def loss_W2(V, b1, W, b2, X, labels):
    z = _sigmoid(X @ V.T + b1)
    return _ce_only(z @ W.T + b2, labels)


def value_and_grad_W2(V, b1, W, b2, X, labels):
    z = _sigmoid(X @ V.T + b1)
    loss, g_logits = _softmax_ce(z @ W.T + b2, labels)
    g_W = g_logits.T @ z
    g_b2 = g_logits.sum(axis=0)
    g_a = (g_logits @ W) * z * (1 - z)           # through the sigmoid: s' = s (1 - s)
    g_V = g_a.T @ X
    g_b1 = g_a.sum(axis=0)
    return loss, (g_V, g_b1, g_W, g_b2)


# ---- W3 / W3f: 784-256-256-10 ReLU MLP, softmax CE -----------------------------------

def loss_W3(W1, b1, W2, b2, W3, b3, X, labels):
    h1 = np.maximum(X @ W1.T + b1, 0)
    h2 = np.maximum(h1 @ W2.T + b2, 0)
    return _ce_only(h2 @ W3.T + b3, labels)


def value_and_grad_W3(W1, b1, W2, b2, W3, b3, X, labels):
    h1 = np.maximum(X @ W1.T + b1, 0)
    h2 = np.maximum(h1 @ W2.T + b2, 0)
    loss, g3 = _softmax_ce(h2 @ W3.T + b3, labels)
    g_W3, g_b3 = g3.T @ h2, g3.sum(axis=0)
    g2 = (g3 @ W3) * (h2 > 0)                    # relu'(a) = [a > 0], so relu'(0) = 0
    g_W2, g_b2 = g2.T @ h1, g2.sum(axis=0)
    g1 = (g2 @ W2) * (h1 > 0)
    g_W1, g_b1 = g1.T @ X, g1.sum(axis=0)
    return loss, (g_W1, g_b1, g_W2, g_b2, g_W3, g_b3)


loss_W3f, value_and_grad_W3f = loss_W3, value_and_grad_W3
# W3g / W3fg (symback's loss in generic ops): the reference, like every peer, runs its own
# best W3 form; the numbers are the same.
loss_W3g, value_and_grad_W3g = loss_W3, value_and_grad_W3
loss_W3fg, value_and_grad_W3fg = loss_W3, value_and_grad_W3


# ---- W4: 50 sigmoid layers + linear, MSE ---------------------------------------------

def _split(args, n_per_layer, n_inputs=2):
    """(layers as tuples, W_out, b_out, data inputs) from the flat argument list."""
    params, inputs = args[:-n_inputs], args[-n_inputs:]
    k = len(params) - 2
    layers = [params[i:i + n_per_layer] for i in range(0, k, n_per_layer)]
    return layers, params[k], params[k + 1], inputs


def loss_W4(*args):
    """args: W1, b1, ..., W50, b50, W_out, b_out, X, target."""
    layers, W_out, b_out, (X, target) = _split(args, 2)
    o = X
    for W, b in layers:
        o = _sigmoid(o @ W.T + b)
    return np.mean((o @ W_out.T + b_out - target) ** 2)


def value_and_grad_W4(*args):
    layers, W_out, b_out, (X, target) = _split(args, 2)
    outs = [X]                                   # o_0 = X, o_l = sigmoid(o_{l-1} W_l^T + b_l)
    for W, b in layers:
        outs.append(_sigmoid(outs[-1] @ W.T + b))
    r = outs[-1] @ W_out.T + b_out - target
    loss = np.mean(r ** 2)
    g = 2 * r / r.size                           # d loss / d prediction
    g_out = (g.T @ outs[-1], g.sum(axis=0))      # W_out, b_out
    g = g @ W_out                                # d loss / d o_L
    per_layer = [None] * len(layers)
    for l in range(len(layers), 0, -1):
        W, _ = layers[l - 1]
        o = outs[l]
        g = g * o * (1 - o)                      # delta_l = g_o * s'(a_l)
        per_layer[l - 1] = (g.T @ outs[l - 1], g.sum(axis=0))   # W_l, b_l
        g = g @ W                                # d loss / d o_{l-1}
    return loss, tuple(x for pair in per_layer for x in pair) + g_out


# ---- W4r: 50 residual sigmoid blocks + linear, MSE -----------------------------------

def loss_W4r(*args):
    """args: W1, c1, V1, b1, ..., W50, c50, V50, b50, W_out, b_out, X, target."""
    layers, W_out, b_out, (X, target) = _split(args, 4)
    o = X
    for W, c, V, b in layers:
        o = o + _sigmoid(o @ W.T + c) @ V.T + b
    return np.mean((o @ W_out.T + b_out - target) ** 2)


def value_and_grad_W4r(*args):
    layers, W_out, b_out, (X, target) = _split(args, 4)
    outs, sigs = [X], []                         # o_l = o_{l-1} + s_l V_l^T + b_l
    for W, c, V, b in layers:
        s = _sigmoid(outs[-1] @ W.T + c)
        sigs.append(s)
        outs.append(outs[-1] + s @ V.T + b)
    r = outs[-1] @ W_out.T + b_out - target
    loss = np.mean(r ** 2)
    g = 2 * r / r.size
    g_out = (g.T @ outs[-1], g.sum(axis=0))      # W_out, b_out
    g = g @ W_out                                # d loss / d o_L
    per_layer = [None] * len(layers)
    for l in range(len(layers), 0, -1):
        W, _, V, _ = layers[l - 1]
        s = sigs[l - 1]
        g_a = (g @ V) * s * (1 - s)              # block path, through the sigmoid
        per_layer[l - 1] = (g_a.T @ outs[l - 1], g_a.sum(axis=0),   # W_l, c_l
                            g.T @ s, g.sum(axis=0))                  # V_l, b_l
        g = g + g_a @ W                          # skip path + block path
    return loss, tuple(x for group in per_layer for x in group) + g_out


# ---- W5: scalar recurrence (expression swell) ----------------------------------------

def loss_W5(x, a, K):
    u = x
    for _ in range(K):
        u = math.sin(u) * u + math.cos(a * u)
    return u


def value_and_grad_W5(x, a, K):
    """Forward keeps the tape u_0..u_{K-1}; reverse accumulation then walks it backwards:
    du'/du = cos(u) u + sin(u) - a sin(a u),  du'/da = -u sin(a u)."""
    us = [x]
    for _ in range(K):
        u = us[-1]
        us.append(math.sin(u) * u + math.cos(a * u))
    g_u, g_a = 1.0, 0.0
    for u in reversed(us[:-1]):
        sau = math.sin(a * u)
        g_a -= g_u * u * sau
        g_u *= math.cos(u) * u + math.sin(u) - a * sau
    return us[-1], (g_u, g_a)


LOSS = {w: globals()[f"loss_{w}"] for w in PARAMS}
VALUE_AND_GRAD = {w: globals()[f"value_and_grad_{w}"] for w in PARAMS}
