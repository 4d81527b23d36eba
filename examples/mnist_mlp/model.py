"""W3 of WORKLOADS.md: an MNIST-size MLP, 784-256-256-10 with ReLU hidden layers.

    h1     = relu(X W1^T + b1)            X: (N, 784), W1: (256, 784)
    h2     = relu(h1 W2^T + b2)           W2: (256, 256)
    logits = h2 W3^T + b3                 W3: (10, 256)
    loss   = mean softmax cross-entropy(logits, labels)    labels: int64 in 0..9

The batch size N is left to call time.  No MNIST copy ships with symback, so
run.py trains on W3's random data (X uniform in [0, 1), random labels: a network
this size memorises them) with a few steps of SGD on mini-batches and prints the
loss going down.

    symback compile examples/mnist_mlp/model.py    # -> generated/mnist_mlp.py
    python examples/mnist_mlp/run.py
    symback bench examples/mnist_mlp/model.py      # microseconds per call, batch 256
"""
import numpy as np

import symback as sb


def model():
    X, labels = sb.var("X", (None, 784)), sb.var("labels", (None,), "int64")
    params, o = [], X
    for i, (n_out, n_in) in enumerate([(256, 784), (256, 256), (10, 256)], start=1):
        W, b = sb.var(f"W{i}", (n_out, n_in)), sb.var(f"b{i}", (n_out,))
        params += [W, b]
        o = o @ W.T + b
        if i < 3:
            o = sb.relu(o).named(f"h{i}")
    o = o.named("logits")
    loss = sb.mean(sb.softmax_cross_entropy(o, labels))
    return sb.Model(name="mnist_mlp", loss=loss, params=params, inputs=[X, labels],
                    at={"labels": np.arange(256) % 10}, sizes={"X": 256, "labels": 256},
                    doc="MNIST-size MLP (W3): 784-256-256-10, ReLU, mean softmax cross-entropy")
