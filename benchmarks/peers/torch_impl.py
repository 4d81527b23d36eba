"""PyTorch eager on the CPU: build the loss, ``loss.backward()``, read ``.grad``.

Parameters are leaf tensors with requires_grad (float64, or float32 for W3f); labels are
int64 class indices for ``cross_entropy``. Each value_and_grad call clears the previous
gradients first (``p.grad = None``, as ``optimizer.zero_grad()`` does). forward runs under
``torch.no_grad()``, the way a forward-only evaluation is written in PyTorch.
"""
import torch
import torch.nn.functional as F

from ._common import System, n_params, numpy_args, split_deep

NAME = "torch"
WORKLOADS = ("W1", "W1v", "W2", "W3", "W3f", "W3g", "W3fg", "W4", "W4r", "W5")


def versions():
    return {"torch": torch.__version__, "torch threads": str(torch.get_num_threads())}


def loss_W1(x, z):
    lx, xz = torch.log(x), x * z
    return torch.exp(xz) + xz / lx + torch.sin(lx) / xz


def loss_W1v(x, z):
    return torch.sum(loss_W1(x, z))


def loss_W2(V, b1, W, b2, X, labels):
    z = torch.sigmoid(X @ V.T + b1)
    return F.cross_entropy(z @ W.T + b2, labels)


def loss_W3(W1, b1, W2, b2, W3, b3, X, labels):
    h1 = torch.relu(X @ W1.T + b1)
    h2 = torch.relu(h1 @ W2.T + b2)
    return F.cross_entropy(h2 @ W3.T + b3, labels)


def loss_W4(*args):
    layers, W_out, b_out, X, target = split_deep(args, 2)
    o = X
    for W, b in layers:
        o = torch.sigmoid(o @ W.T + b)
    return torch.mean((o @ W_out.T + b_out - target) ** 2)


def loss_W4r(*args):
    layers, W_out, b_out, X, target = split_deep(args, 4)
    o = X
    for W, c, V, b in layers:
        o = o + torch.sigmoid(o @ W.T + c) @ V.T + b
    return torch.mean((o @ W_out.T + b_out - target) ** 2)


def make_loss_W5(K):
    def loss_W5(x, a):
        u = x
        for _ in range(K):
            u = torch.sin(u) * u + torch.cos(a * u)
        return u
    return loss_W5


LOSS = {"W1": loss_W1, "W1v": loss_W1v, "W2": loss_W2, "W3": loss_W3, "W3f": loss_W3,
        "W3g": loss_W3, "W3fg": loss_W3,   # symback's generic-loss W3: peers keep their best form
        "W4": loss_W4, "W4r": loss_W4r}


def prepare(workload, data):
    loss = make_loss_W5(data["K"]) if workload == "W5" else LOSS[workload]
    n = n_params(workload)
    args = tuple(torch.tensor(a, dtype=torch.float64 if isinstance(a, float) else None,
                              requires_grad=i < n)
                 for i, a in enumerate(numpy_args(workload, data)))

    def value_and_grad(*args):
        params = args[:n]
        for p in params:
            p.grad = None
        y = loss(*args)
        y.backward()
        return y.detach(), tuple(p.grad for p in params)

    def forward(*args):
        with torch.no_grad():
            return loss(*args)

    def to_numpy(out):
        value, grads = out
        return float(value), [g.numpy() for g in grads]

    return System(value_and_grad, forward, args, to_numpy, {})
