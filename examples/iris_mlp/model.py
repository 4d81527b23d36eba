"""W2 of WORKLOADS.md on the real Iris data: a 4-16-3 MLP with sigmoid hidden units.

    z      = sigmoid(X V^T + b1)          X: (N, 4) measurements, V: (16, 4)
    logits = z W^T + b2                   W: (3, 16)
    loss   = mean softmax cross-entropy(logits, labels)    labels: int64 in {0, 1, 2}

The batch size N is left to call time (``None``).  run.py standardises the 150
flowers of examples/data/iris.csv, trains with plain gradient descent using the
generated ``value_and_grad`` and prints the loss and the training accuracy.

    symback compile examples/iris_mlp/model.py     # -> generated/iris_mlp.py
    python examples/iris_mlp/run.py
    symback bench examples/iris_mlp/model.py       # microseconds per call
"""
import numpy as np

import symback as sb


def model():
    X, labels = sb.var("X", (None, 4)), sb.var("labels", (None,), "int64")
    V, b1 = sb.var("V", (16, 4)), sb.var("b1", (16,))
    W, b2 = sb.var("W", (3, 16)), sb.var("b2", (3,))
    z = sb.sigmoid(X @ V.T + b1).named("z")          # names carry into the generated code
    logits = (z @ W.T + b2).named("logits")
    loss = sb.mean(sb.softmax_cross_entropy(logits, labels))
    return sb.Model(name="iris_mlp", loss=loss, params=[V, b1, W, b2], inputs=[X, labels],
                    at={"labels": np.arange(150) % 3}, sizes={"X": 150, "labels": 150},
                    doc="Iris MLP (W2): 4-16-3, sigmoid hidden layer, mean softmax cross-entropy")
